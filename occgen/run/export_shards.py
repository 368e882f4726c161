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

Re-running the same command resumes (tasks with markers are skipped) and gives byte-identical files;
other settings are refused. Sample keys are unique across mixes (:func:`store_tags`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from occgen.core.errors import ConfigError, StoreError
from occgen.run.export import IMAGE_FORMATS, val_mask
from occgen.run.parallel import run_tasks
from occgen.store import open_store
from occgen.store.codecs import parse_image_codec
from occgen.store.lock import store_lock
from occgen.store.schema import ShardReader

SPLITS = ("train", "validation")
# Label arrays another part of occgen may add to a store (issue 15); exported when every store has them.
# (store array, field name in the exports, kind): kind "rgb" follows --image-format, "binary" is a {0, 1}
# mask written as 0/255 PNG, "labels" is a PNG of the stored values.
LABELS = (
    ("face_mask", "face", "binary"),
    ("occluder_mask", "occluder", "labels"),
    ("parsing", "parsing", "labels"),
    ("face_mask_amodal", "face_amodal", "binary"),
    ("clean_image", "clean", "rgb"),
    ("occluder_class", "occluder_class", "labels"),
)
BASE_ARRAYS = ("face_mask", "occluder_mask")
PROBE_SAMPLES = 4  # encoded once more to size the tasks: a fixed cost, small beside any real export
SAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, kw_only=True)
class ShardSpec:
    """What determines the exported bytes (compared on resume), plus where they go."""

    store: str
    out: str
    format: str
    image_format: str
    jpeg_quality: int
    shard_bytes: int
    val_frac: float
    seed: int
    shuffle: bool = False  # samples of each split in a seeded random order (stream 97), not store order
    labels: tuple[str, ...] = ()  # the optional label arrays the store has (names from LABELS)

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "out"} | {"labels": list(self.labels)}

    @property
    def work_dir(self) -> Path:
        return Path(self.out) / ".occgen-export"


@dataclass(frozen=True)
class Task:
    split: str
    number: int
    indices: tuple[int, ...]


@dataclass(frozen=True)
class EncodedSample:
    """One sample ready to write: ``files`` are (field, extension, bytes) in a fixed order."""

    key: str
    files: list[tuple[str, str, bytes]]
    metadata: dict[str, Any]


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

    def write_card(self, spec: ShardSpec, reader: Any, manifest: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Job:
    spec: ShardSpec
    format: Any  # a Format (module-level object, pickled by reference for dask)
    tags: tuple[str, ...] = field(default=())


# --- keys ----------------------------------------------------------------------------------------------


def store_tags(reader: Any) -> tuple[str, ...]:
    """One tag per store of a store or mix: ``<name>-<digest>``, e.g. ``randocc-3f9a1c2e``.

    The digest (:func:`occgen.store.card_digest`, what determines the store's content) makes keys unique across
    mixes and exports; a store listed twice in one mix gets ``-p<position>`` on its later tags. Keys are
    ``<tag>-<index in that store, 8 digits>``: only ``[A-Za-z0-9_-]``, never a dot (WebDataset and DALI
    split the key from the extension at the first dot, formats.md §1).
    """
    from occgen.store import card_digest

    if reader.card.get("kind") == "mix":
        parts = [(Path(s["path"]).name, s["digest"]) for s in reader.card["sources"]]
    else:
        parts = [(Path(str(reader.path)).name, card_digest(reader.card))]  # reader.path: a Path, or a URL
    tags: list[str] = []
    for position, (name, digest) in enumerate(parts):
        stem = SAFE.sub("-", name.removesuffix(".zarr")).strip("-")[:32] or "store"
        tag = f"{stem}-{digest[:8]}"
        tags.append(tag if tag not in tags else f"{tag}-p{position}")
    return tuple(tags)


def sample_key(tags: tuple[str, ...], part: int, index: int) -> str:
    return f"{tags[part]}-{index:08d}"


def locate(reader: Any, index: int) -> tuple[ShardReader, int, int]:
    """The store reader, its position in the mix (0 for a store) and the sample's index in that store."""
    if isinstance(reader, ShardReader):
        return reader, 0, index
    part = int(reader.store_index[index])
    return reader.readers[part], part, int(reader.sample_index[index])


def present_labels(reader: Any) -> tuple[str, ...]:
    """Optional label arrays (beyond face and occluder masks) that every store behind ``reader`` has."""
    stores = [reader] if isinstance(reader, ShardReader) else reader.readers
    return tuple(
        name for name, _, _ in LABELS if name not in BASE_ARRAYS and all(name in store.label_names for store in stores)
    )


# --- encoding ------------------------------------------------------------------------------------------


def encode_png(array: np.ndarray) -> bytes:
    """Lossless PNG of ``(H, W)`` uint8 or ``(H, W, 3)`` uint8 RGB."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise StoreError(f"cannot encode a {array.shape} array as PNG")
    return encoded.tobytes()


def encode_rgb(rgb: np.ndarray, image_format: str, jpeg_quality: int) -> bytes:
    if image_format == "png":
        return encode_png(rgb)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise StoreError(f"cannot encode a {rgb.shape} image as JPEG")
    return encoded.tobytes()


class SampleEncoder:
    """Reads sample ``i`` of a store or mix and encodes it (images, masks, labels, metadata)."""

    def __init__(self, spec: ShardSpec, tags: tuple[str, ...]) -> None:
        self.spec = spec
        self.tags = tags
        self.reader = open_store(Path(spec.store))

    def encode(self, index: int, split: str) -> EncodedSample:
        spec = self.spec
        sample = self.reader[index]
        store, part, local = locate(self.reader, index)
        key = sample_key(self.tags, part, local)
        image_ext = spec.image_format
        files = [("image", image_ext, encode_rgb(sample.image, image_ext, spec.jpeg_quality))]
        arrays = {"face_mask": sample.face_mask, "occluder_mask": sample.occluder_mask}
        for name, field_name, kind in LABELS:
            if name not in arrays and name not in spec.labels:
                continue
            array = arrays[name] if name in arrays else store.label(name, local, sample.image)
            if kind == "rgb":
                files.append((field_name, f"{field_name}.{image_ext}", encode_rgb(array, image_ext, spec.jpeg_quality)))
            else:
                values = array * np.uint8(255) if kind == "binary" else array
                files.append((field_name, f"{field_name}.png", encode_png(values)))
        # The store's folder name, or for a mix the store's path relative to the mix (as its card has it).
        is_mix = not isinstance(self.reader, ShardReader)
        store_name = self.reader.card["sources"][part]["path"] if is_mix else Path(spec.store).name
        metadata = {**sample.metadata, "key": key, "store": store_name, "store_index": local, "split": split}
        return EncodedSample(key, files, metadata)


def metadata_json(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()


# --- options and plan ----------------------------------------------------------------------------------


def default_image_format(reader: Any) -> str:
    """png when every store's image codec is lossless (the export stays exact), else jpg."""
    if reader.card.get("kind") == "mix":
        codecs = [s.get("image_codec") or "zstd" for s in reader.card["sources"]]
    else:
        codecs = [reader.card.get("image_codec", "zstd")]
    return "png" if all(parse_image_codec(c).lossless for c in codecs) else "jpg"


def write_json_atomic(path: Path, value: Any) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(value, sort_keys=True, indent=1))
    os.replace(temporary, path)


def plan_tasks(indices_by_split: dict[str, np.ndarray], per_task: int) -> list[Task]:
    tasks: list[Task] = []
    for split, indices in indices_by_split.items():
        for start in range(0, len(indices), per_task):
            tasks.append(Task(split, len(tasks), tuple(int(i) for i in indices[start : start + per_task])))
    return tasks


def part_path(spec: ShardSpec, task: Task, part: int) -> Path:
    """Where part ``part`` of ``task`` is written (each format adds its suffixes) until assembly."""
    return spec.work_dir / "parts" / f"{task.split}-{task.number:06d}-{part:03d}"


def marker_path(spec: ShardSpec, number: int) -> Path:
    return spec.work_dir / f"{number:06d}.done.json"


def run_task(job: Job, task: Task) -> int:
    """Encode and write one task's samples into part files; returns how many samples were written."""
    marker = marker_path(job.spec, task.number)
    if marker.exists():
        return len(task.indices)
    encoder = SampleEncoder(job.spec, job.tags)
    parts: list[dict[str, Any]] = []
    writer: PartWriter | None = None
    for index in task.indices:
        sample = encoder.encode(index, task.split)
        if writer is not None and writer.size_with(sample) > job.spec.shard_bytes:
            parts.append(writer.close())
            writer = None
        if writer is None:
            writer = job.format.open_part(job.spec, part_path(job.spec, task, len(parts)))
        writer.add(sample)
    if writer is not None:
        parts.append(writer.close())
    write_json_atomic(marker, {"split": task.split, "parts": parts})
    return len(task.indices)


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
    work = spec.work_dir
    try:
        (work / "parts").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot write to {out}: {error.strerror or error}; choose a writable --out") from error
    settings_file = work / "settings.json"
    if settings_file.exists() and json.loads(settings_file.read_text()) != spec.settings():
        raise StoreError(f"{out} holds an export with other settings; choose another --out or delete it")
    write_json_atomic(settings_file, spec.settings())
    job = Job(spec, format, tags)

    plan_file = work / "plan.json"
    if plan_file.exists():
        per_task = int(json.loads(plan_file.read_text())["samples_per_task"])
    else:
        per_task = _samples_per_task(job, indices_by_split["train"])
        write_json_atomic(plan_file, {"samples_per_task": per_task})
    tasks = plan_tasks(indices_by_split, per_task)

    complete = work / "complete.json"
    if complete.exists():
        manifest = json.loads(complete.read_text())
        _check_shards(Path(out), manifest)
        if on_progress:
            on_progress(n)
        return ShardReport(Path(out), n, 0, {s: len(v) for s, v in manifest["shards"].items()})
    todo = [t for t in tasks if not marker_path(spec, t.number).exists()]
    resumed = sum(len(t.indices) for t in tasks) - sum(len(t.indices) for t in todo)
    if on_progress and resumed:
        on_progress(resumed)
    run_tasks(run_task, todo, shared=job, workers=workers, scheduler=scheduler, on_result=on_progress)
    manifest = _assemble(spec, format, tasks)
    format.write_card(spec, reader, manifest)
    write_json_atomic(complete, manifest)
    return ShardReport(Path(out), n, len(todo), {s: len(v) for s, v in manifest["shards"].items()})


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


def _assemble(spec: ShardSpec, format: Any, tasks: list[Task]) -> dict[str, Any]:
    """Rename every task's parts, in task order, to the final shard names; returns the manifest."""
    parts_by_split: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        marker = json.loads(marker_path(spec, task.number).read_text())
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
