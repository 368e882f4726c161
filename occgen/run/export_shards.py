"""Sharded exports for streaming trainers: what the WebDataset and Hugging Face exports share.

Where it sits: ``occgen export --format webdataset|hf`` (:mod:`occgen.run.export_webdataset`,
:mod:`occgen.run.export_hf`) reads a store or a mix and writes shard files of a bounded size.

The plan, chosen once and kept in ``<out>/.occgen-export/plan.json`` so that a resume uses the same one:

1. Samples go in store (or mix) order, or a seeded random order with ``shuffle``, split into ``train``
   and ``validation`` with the mmseg export's seeded split (:func:`occgen.run.export.val_mask`).
2. Each split is cut into tasks of ``samples_per_task`` samples, estimated from the encoded size of the
   first samples so that one task fills about 90 % of one shard.
3. A task (one dask task, like the other exports) encodes its samples and streams them into part files
   of at most ``shard_bytes`` each (a second part when its samples were larger than estimated), then
   writes a marker listing its parts. Nothing is held in memory but the sample being written (and, for
   Parquet, one row group).
4. When every task has its marker, the parts are renamed in order to the final shard names (a rename
   plan on disk makes this step restartable) and the dataset card is written.

Steps 3 and 4 run through the one export framework (:mod:`occgen.run.export_base`: a task is a chunk whose
marker lists its parts): re-running the same command resumes (chunks with markers are skipped) and gives
byte-identical files; other settings are refused. Samples are encoded by :mod:`occgen.run.export_encode`
(keys unique across mixes: :func:`occgen.run.export_encode.store_tags`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from occgen.core.errors import ConfigError, StoreError
from occgen.core.location import parse_location
from occgen.run.export import IMAGE_FORMATS, val_mask
from occgen.run.export_base import Chunk, ChunkFiles, chunks_of, open_work, run_export, write_json_atomic
from occgen.run.export_encode import (
    LABELS,
    PROBE_SAMPLES,
    EncodedSample,
    SampleEncoder,
    ShardSpec,
    default_image_format,
    locate,
    metadata_json,
    present_labels,
    sample_key,
    store_tags,
)
from occgen.store import open_store
from occgen.store.dataset import Dataset
from occgen.store.lock import store_lock

__all__ = [  # what the formats and the tests take from here
    "LABELS", "EncodedSample", "Format", "Job", "PartWriter", "ShardReport", "ShardSpec", "export_shards", "locate",
    "metadata_json", "sample_key", "store_tags", "write_json_atomic",
]  # fmt: skip


class PartWriter(Protocol):
    """Writes one part file (a future shard); each format implements it."""

    suffix: str
    count: int

    def size_with(self, sample: EncodedSample) -> int: ...  # file size if ``sample`` were added

    def add(self, sample: EncodedSample) -> None: ...

    def close(self) -> dict[str, Any]: ...  # finishes the file; returns its facts for the marker


class Format(Protocol):
    """A sharded output format: its part writer, the bytes one sample adds, and how shards are named."""

    name: str

    def check(self) -> None: ...  # raises ConfigError naming the pip extra when a library is missing

    def open_part(self, spec: ShardSpec, path: Path) -> PartWriter: ...

    def sample_bytes(self, sample: EncodedSample) -> int: ...

    def part_overhead(self, shard_bytes: int) -> int: ...  # bytes of a part that no sample accounts for

    def shard_files(self, split: str, index: int, total: int) -> dict[str, str]: ...  # part suffix -> out path

    def write_card(self, spec: ShardSpec, dataset: Dataset, manifest: dict[str, Any]) -> None: ...


def part_path(spec: ShardSpec, chunk: Chunk, part: int) -> Path:
    """Where part ``part`` of ``chunk`` is written (each format adds its suffixes) until assembly."""
    return spec.work_dir / "parts" / f"{chunk.split}-{chunk.number:06d}-{part:03d}"


@dataclass(frozen=True)
class Job:
    """A sharded format as an :class:`occgen.run.export_base.ExportWriter`: a chunk streams its samples into
    part files (the marker lists them); the final step renames the parts to shard names and writes the card."""

    spec: ShardSpec
    format: Any  # a Format (module-level object, pickled by reference for dask)
    tags: tuple[str, ...] = field(default=())

    def write_chunk(self, chunk: Chunk, files: ChunkFiles) -> dict[str, Any]:
        encoder = SampleEncoder(self.spec, self.tags, files.reader(parse_location(Path(self.spec.store))))
        parts: list[dict[str, Any]] = []
        writer: PartWriter | None = None
        metadata = encoder.reader.metadata(list(chunk.indices))  # one batched read per store, not one per sample
        for index, sample_metadata in zip(chunk.indices, metadata, strict=True):
            sample = encoder.encode(index, chunk.split, sample_metadata)
            if writer is not None and writer.size_with(sample) > self.spec.shard_bytes:
                parts.append(writer.close())
                writer = None
            if writer is None:
                writer = self.format.open_part(self.spec, part_path(self.spec, chunk, len(parts)))
            writer.add(sample)
        if writer is not None:
            parts.append(writer.close())
        return {"split": chunk.split, "parts": parts}

    def finish(self, chunks: Sequence[Chunk], markers: list[dict[str, Any]]) -> dict[str, Any]:
        manifest = _assemble(self.spec, self.format, markers)
        self.format.write_card(self.spec, open_store(Path(self.spec.store)), manifest)
        return manifest

    def check_finished(self, manifest: dict[str, Any]) -> None:
        _check_shards(Path(self.spec.out), manifest)


def plan_chunks(indices_by_split: dict[str, np.ndarray], per_chunk: int) -> list[Chunk]:
    """Each split cut into chunks of ``per_chunk`` samples, numbered on across the splits."""
    chunks: list[Chunk] = []
    for split, indices in indices_by_split.items():
        chunks += chunks_of(indices, per_chunk, split, first=len(chunks))
    return chunks


@dataclass(frozen=True)
class ShardReport:
    out: Path
    samples: int
    tasks_written: int
    shards: dict[str, int]


def export_shards(store: Path, out: Path, **options: Any) -> ShardReport:
    """Export ``store`` (a store or mix) to ``out`` as shards of ``format``; resumes an interrupted export.
    One writer per ``out`` (:func:`occgen.store.lock.store_lock`); options as :func:`_export_shards`."""
    with store_lock(Path(out), "export"):
        return _export_shards(store, out, **options)


def _export_shards(
    store: Path,
    out: Path,
    *,
    format: Any,
    image_format: str | None = None,
    jpeg_quality: int = 95,
    shard_mb: float = 1000.0,
    val_frac: float = 0.0,
    seed: int = 0,
    shuffle: bool = False,
    workers: int = 1,
    scheduler: str | None = None,
    on_progress: Any = None,
) -> ShardReport:
    format.check()
    reader = open_store(Path(store))
    image_format = image_format or default_image_format(reader)
    if image_format not in IMAGE_FORMATS:
        raise ConfigError(f"unknown image format {image_format!r}; valid: {', '.join(IMAGE_FORMATS)}")
    if not 1 <= jpeg_quality <= 100:
        raise ConfigError(f"--jpeg-quality must be in [1, 100], got {jpeg_quality}")
    if not 0.0 <= val_frac < 1.0:
        raise ConfigError(f"--val-frac must be in [0, 1), got {val_frac}")
    shard_bytes = int(shard_mb * 1e6)
    if shard_bytes < 50_000:
        raise ConfigError(f"--shard-mb must be at least 0.05 (50 kB), got {shard_mb}")
    spec = ShardSpec(
        store=str(store), out=str(out), format=format.name, image_format=image_format, jpeg_quality=jpeg_quality,
        shard_bytes=shard_bytes, val_frac=val_frac, seed=seed, shuffle=shuffle, labels=present_labels(reader),
    )  # fmt: skip
    tags = store_tags(reader)
    n = len(reader)
    is_val = val_mask(n, val_frac, seed)
    indices_by_split = {"train": np.flatnonzero(~is_val)}
    if not len(indices_by_split["train"]):
        raise ConfigError(f"--val-frac {val_frac} leaves no training sample of {n}; choose a smaller one")
    if val_frac:
        indices_by_split["validation"] = np.flatnonzero(is_val)
    if shuffle:  # a mix lists its stores one after the other: streaming readers want them interleaved
        rng = np.random.default_rng([seed, 97])  # stream 97: export order
        indices_by_split = {split: rng.permutation(indices) for split, indices in indices_by_split.items()}
    work = open_work(Path(out), spec.settings())
    job = Job(spec, format, tags)

    plan_file = work / "plan.json"
    if plan_file.exists():
        per_task = int(json.loads(plan_file.read_text())["samples_per_task"])
    else:
        per_task = _samples_per_task(job, indices_by_split["train"])
        write_json_atomic(plan_file, {"samples_per_task": per_task})
    chunks = plan_chunks(indices_by_split, per_task)
    written, manifest = run_export(work, job, chunks, workers=workers, scheduler=scheduler, on_progress=on_progress)
    return ShardReport(Path(out), n, written, {s: len(v) for s, v in manifest["shards"].items()})


def _check_shards(out: Path, manifest: dict[str, Any]) -> None:
    """A finished export is only reported as such while its shard files are all there, at their sizes."""
    for shards in manifest["shards"].values():
        for shard in shards:
            main = next(out / name for name in shard["files"] if name.endswith((".tar", ".parquet")))
            if not main.exists() or main.stat().st_size != shard["bytes"]:
                raise StoreError(f"{main} is missing or changed since the export; delete {out} and export again")


def _samples_per_task(job: Job, train: np.ndarray) -> int:
    """Samples that fill about 90 % of a shard, from the encoded size of the first few samples."""
    encoder = SampleEncoder(job.spec, job.tags)
    probe = [job.format.sample_bytes(encoder.encode(int(i), "train")) for i in train[:PROBE_SAMPLES]]
    mean = max(sum(probe) / max(len(probe), 1), 1.0)
    room = job.spec.shard_bytes - job.format.part_overhead(job.spec.shard_bytes)
    return max(1, int(0.9 * room // mean))


def _assemble(spec: ShardSpec, format: Any, markers: list[dict[str, Any]]) -> dict[str, Any]:
    """Rename every chunk's parts, in chunk order, to the final shard names; returns the manifest."""
    parts_by_split: dict[str, list[dict[str, Any]]] = {}
    for marker in markers:
        parts_by_split.setdefault(marker["split"], []).extend(marker["parts"])
    plan_file = spec.work_dir / "renames.json"
    if plan_file.exists():
        plan = json.loads(plan_file.read_text())
    else:
        plan = {"renames": [], "shards": {}}
        for split, parts in parts_by_split.items():
            shards = []
            for index, part in enumerate(parts):
                targets = format.shard_files(split, index, len(parts))
                for suffix, target in targets.items():
                    plan["renames"].append([part["path"] + suffix, target])
                shards.append({**{k: v for k, v in part.items() if k != "path"}, "files": sorted(targets.values())})
            plan["shards"][split] = shards
        write_json_atomic(plan_file, plan)
    for source, target in plan["renames"]:
        source_path, target_path = spec.work_dir / "parts" / source, Path(spec.out) / target
        if source_path.exists():
            target_path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source_path, target_path)
        elif not target_path.exists():
            raise StoreError(f"export part {source_path} is missing; delete {spec.out} and export again")
    return {"shards": plan["shards"]}
