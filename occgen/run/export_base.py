"""The one export framework: what every ``occgen export`` format shares (folder, mmseg, WebDataset, HF).

Where it sits: ``occgen export`` -> a format's driver (:mod:`occgen.run.export` for folder/mmseg,
:mod:`occgen.run.export_shards` for WebDataset/HF) -> :func:`open_work` and :func:`run_export` here. A format
is only a writer of one chunk plus its final step (:class:`ExportWriter`); a new format adds one of those.

One resume rule for every format, kept in ``<out>/.occgen-export/``:

1. ``settings.json`` records what determines the output; a re-run with other settings is refused with an
   error naming the keys that differ.
2. The unit of work is a :class:`Chunk` of samples. A chunk writes each file under a temporary name in
   ``.occgen-export/tmp/`` (or, for streamed shard parts, ``<part>.tmp``) and renames it into place, then
   the framework writes the chunk's marker ``NNNNNN.done.json`` (its facts, e.g. the parts it wrote).
3. A re-run skips chunks with a marker, first deleting the temporaries an interrupted run left in its own
   work folder (nothing else), redoes the others, then runs the format's final step (renames, lists,
   dataset card) and writes ``complete.json``. A complete export is only checked, not rewritten.

So an export killed at any point (``kill -9``) and re-run gives the same files as one uninterrupted run.
Sample ids and store names are input: :func:`check_sample_name` vets any that becomes a file name.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from occgen.core.errors import StoreError
from occgen.core.files import atomic_write_bytes, atomic_write_text
from occgen.core.location import Location, parse_location
from occgen.core.paths import unsafe_reason
from occgen.run.parallel import run_tasks
from occgen.store import open_store
from occgen.store.dataset import Dataset

WORK_DIR = ".occgen-export"


def check_sample_name(
    name: str, *, store: str, what: str = "sample id",
    fix: str = "the store's ids are input, not trusted: regenerate or fix that store",
) -> str:  # fmt: skip
    """``name`` if it is safe as one file name inside the output folder; else a StoreError naming it and the
    store. Refused: empty, leading dot (hidden, or ``..``), ``/`` or ``\\``, ``..``, NUL, a drive prefix."""
    problem: str | None
    if "/" in name:
        problem = "it holds a path separator"
    elif name.startswith("."):
        problem = "it starts with a dot"
    elif ".." in name:
        problem = "it holds '..'"
    else:
        problem = unsafe_reason(name)  # the rule every name from input meets (occgen/core/paths.py)
    if problem:
        raise StoreError(
            f"{store}: {what} {name!r} cannot be a file name inside --out ({problem}); {fix}"
        )
    return name


def write_json_atomic(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, sort_keys=True, indent=1))


def write_text_atomic(work: Path, path: Path, text: str) -> None:
    """Write an output file of the final step through a temporary in the work folder (no stray temporaries)."""
    atomic_write_text(path, text, temporary_dir=work / "tmp")


def work_dir(out: Path | str) -> Path:
    return Path(out) / WORK_DIR


def marker_path(work: Path, number: int) -> Path:
    return work / f"{number:06d}.done.json"


def open_work(out: Path, settings: dict[str, Any], folders: Sequence[Path] = ()) -> Path:
    """Create ``out``'s work folder (and ``folders``), check and record ``settings``, delete the temporaries an
    interrupted run of this export left in the work folder; returns the work folder."""
    work = work_dir(out)
    try:
        for folder in (work / "tmp", work / "parts", *folders):
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot write to {out}: {error.strerror or error}; choose a writable --out") from error
    settings_file = work / "settings.json"
    if settings_file.exists():
        try:
            recorded = json.loads(settings_file.read_text())
        except (ValueError, OSError) as error:
            raise StoreError(f"{settings_file} cannot be read ({error}); delete {out} and export again") from error
        if recorded != settings:
            keys = sorted(k for k in set(recorded) | set(settings) if recorded.get(k) != settings.get(k))
            raise StoreError(
                f"{out} holds an export with other settings ({', '.join(keys)} differ); choose another --out "
                "or delete it"
            )
    write_json_atomic(settings_file, settings)
    for temporary in [*(work / "tmp").glob("*.tmp"), *(work / "parts").glob("*.tmp"), *work.glob(".*.tmp")]:
        temporary.unlink()  # occgen's own, left by a killed run of this export (settings matched)
    return work


@dataclass(frozen=True)
class Chunk:
    """A unit of work: the dataset indices one task writes, for one split."""

    number: int
    indices: tuple[int, ...]
    split: str = "train"


def chunks_of(indices: Sequence[int] | np.ndarray, per_chunk: int, split: str = "train", first: int = 0) -> list[Chunk]:
    """``indices`` cut into chunks of ``per_chunk``, numbered from ``first``."""
    return [
        Chunk(first + k, tuple(int(i) for i in indices[start : start + per_chunk]), split)
        for k, start in enumerate(range(0, len(indices), per_chunk))
    ]


#: Datasets kept open in each worker process, by (store URL, run token): a mix opens its index and every
#: store of it (and checks their cards), which a chunk of a few samples would otherwise repeat (issue 29).
_OPENED: OrderedDict[tuple[str, str], Dataset] = OrderedDict()
OPENED_KEPT = 4  # a few runs' stores per process; older ones are closed (dropped) first


def opened_store(location: Location, run_token: str) -> Dataset:
    """The dataset at ``location``, opened once per worker process and export run (``run_token``; an empty
    token opens it afresh). A token is unique to one run, so a store rewritten between runs is reopened."""
    if not run_token:
        return open_store(location)
    key = (location.url, run_token)
    if key in _OPENED:
        _OPENED.move_to_end(key)
        return _OPENED[key]
    while len(_OPENED) >= OPENED_KEPT:
        _OPENED.popitem(last=False)
    _OPENED[key] = dataset = open_store(location)
    return dataset


class ChunkFiles:
    """How a chunk writes whole files: to a temporary name in the work folder, then renamed into place;
    ``reader`` gives the run's dataset, opened once per worker (``run_token``: see :func:`opened_store`)."""

    def __init__(self, work: Path, number: int, run_token: str = "") -> None:
        self.work = work
        self.number = number
        self.count = 0
        self.run_token = run_token

    def reader(self, location: Location) -> Dataset:
        return opened_store(location, self.run_token)

    def write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)  # a clip's frames go in a folder of their own (issue 27)
        atomic_write_bytes(path, data, temporary_dir=self.work / "tmp")
        self.count += 1


def named_samples(
    chunk: Chunk, files: ChunkFiles, store: str, storage_options: dict[str, Any] | None = None
) -> Iterator[tuple[Dataset, int, str]]:
    """Each sample of ``chunk`` as (the store, opened once per worker; the index; its checked file stem: the
    sample's ``sample_id``, else the 8-digit index), the metadata read in one batch."""
    reader = files.reader(parse_location(store, storage_options or None))
    for index, metadata in zip(chunk.indices, reader.metadata(list(chunk.indices)), strict=True):
        yield reader, int(index), check_sample_name(str(metadata.get("sample_id") or f"{index:08d}"), store=store)


class ExportWriter(Protocol):
    """A format: writes one chunk (in a worker), then finishes the export (in the client)."""

    def write_chunk(self, chunk: Chunk, files: ChunkFiles) -> dict[str, Any]: ...  # facts kept in the marker

    def finish(self, chunks: Sequence[Chunk], markers: list[dict[str, Any]]) -> dict[str, Any]: ...  # -> manifest

    def check_finished(self, manifest: dict[str, Any]) -> None: ...  # raises if a finished export's files changed


@dataclass(frozen=True)
class ChunkJob:
    work: str
    writer: Any  # an ExportWriter (picklable: it travels to the dask workers)
    run_token: str = ""  # unique to one run_export call: its workers keep the dataset open across chunks


def run_chunk(job: ChunkJob, chunk: Chunk) -> int:
    """Write ``chunk`` unless its marker exists, then its marker; returns its sample count."""
    work = Path(job.work)
    marker = marker_path(work, chunk.number)
    if not marker.exists():
        facts = job.writer.write_chunk(chunk, ChunkFiles(work, chunk.number, job.run_token))
        write_json_atomic(marker, facts)
    return len(chunk.indices)


def run_export(
    work: Path, writer: ExportWriter, chunks: Sequence[Chunk], *, workers: int = 1, scheduler: str | None = None,
    on_progress: Callable[[int], Any] | None = None,
) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """Write the chunks that have no marker, then finish; returns (chunks written, manifest)."""
    complete = work / "complete.json"
    todo = [c for c in chunks if not marker_path(work, c.number).exists()]
    if not todo and complete.exists():
        manifest = json.loads(complete.read_text())
        writer.check_finished(manifest)
        if on_progress:
            on_progress(sum(len(c.indices) for c in chunks))
        return 0, manifest
    complete.unlink(missing_ok=True)  # chunks to redo: the export is not finished any more
    resumed = sum(len(c.indices) for c in chunks) - sum(len(c.indices) for c in todo)
    if on_progress and resumed:
        on_progress(resumed)
    job = ChunkJob(str(work), writer, uuid.uuid4().hex)  # a fresh token: workers reopen the store for this run
    run_tasks(run_chunk, todo, shared=job, workers=workers, scheduler=scheduler, on_result=on_progress)
    markers = [json.loads(marker_path(work, c.number).read_text()) for c in chunks]
    manifest = writer.finish(chunks, markers)
    write_json_atomic(complete, manifest)
    return len(todo), manifest
