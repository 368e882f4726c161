"""Export a store (or a mix) to image folders for trainers that read files (``occgen export``).

Formats:

- ``folder``: ``images/<sample_id>.png`` (exact; or ``.jpg``), ``masks/<sample_id>.png`` with 0/255 so
  a person can look at them, and ``metadata.csv`` (ids, occluder types, occluded face fraction). It is
  the face-folder layout, so ``occgen generate --faces`` and ``occgen evaluate`` read it back.
- ``mmseg``: MMSegmentation's ``FaceOccludedDataset`` layout (classes background, face; images
  ``.jpg``, label maps ``.png`` with ids 0/1): ``<name>/img/``, ``<name>/mask/``, and split files
  ``<name>/train.txt`` (+ ``val.txt`` with ``--val-frac``) listing file stems. With
  ``mmseg_labels="parsing"`` (``--mmseg-labels parsing``, for a store holding the ``parsing`` label) the
  label maps hold the parsing ids instead and ``<name>/classes.json`` lists the classes in id order.

A store with optional label arrays (:mod:`occgen.core.labels`) exports them too, in the ``folder``
format: ``parsing/<id>.png`` (class ids), ``amodal/<id>.png`` (0/255 like ``masks/``),
``clean/<id>.<png|jpg>`` (the clean face) and ``occluder_class/<id>.png`` (0-3), plus ``labels.json``
(the store card's label maps). A face folder with ``parsing/`` is read back with its parsing map.

Export runs one task per store shard (parallel with dask like generation), writes each file
atomically, and marks finished shards in ``<out>/.occgen-export/``, so an interrupted export resumes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError, StoreError
from occgen.core.labels import PARSING_CLASSES
from occgen.run.parallel import run_tasks
from occgen.store import open_store
from occgen.store.location import Location, parse_location
from occgen.store.lock import store_lock
from occgen.store.schema import METADATA, card_digest

FORMATS = ("folder", "mmseg")
IMAGE_FORMATS = ("png", "jpg")
MMSEG_LABELS = ("face", "parsing")
#: Optional label array -> folder it is exported to (folder format).
EXTRA_DIRS = {"parsing": "parsing", "face_mask_amodal": "amodal", "clean_image": "clean",
              "occluder_class": "occluder_class"}  # fmt: skip


@dataclass(frozen=True)
class ExportSpec:
    store: str  # absolute path or URL: tasks never depend on the client's working directory
    out: str
    format: str
    image_format: str
    jpeg_quality: int
    name: str
    chunk: int
    extras: tuple[str, ...] = ()  # optional label arrays written (folder format)
    mmseg_labels: str = "face"
    storage_options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)  # kept out of files

    @property
    def image_dir(self) -> Path:
        return Path(self.out) / (f"{self.name}/img" if self.format == "mmseg" else "images")

    @property
    def mask_dir(self) -> Path:
        return Path(self.out) / (f"{self.name}/mask" if self.format == "mmseg" else "masks")

    @property
    def marker_dir(self) -> Path:
        return Path(self.out) / ".occgen-export"


def _write_atomic(path: Path, suffix: str, array: np.ndarray, params: list[int]) -> None:
    ok, encoded = cv2.imencode(suffix, array, params)
    if not ok:
        raise StoreError(f"cannot encode {path}")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: no two tasks share one
    encoded.tofile(temporary)
    os.replace(temporary, path)


def sample_stem(metadata: dict[str, Any], index: int) -> str:
    """The file stem of a sample: its id (qualified by the mix part in a mix, so unique in any dataset)."""
    return str(metadata.get("sample_id") or f"{index:08d}")


def check_unique(stems: list[str], store: str) -> None:
    """Refuse ids that two samples share: their files would overwrite each other and samples be lost."""
    repeated = [stem for stem, count in Counter(stems).items() if count > 1]
    if repeated:
        raise StoreError(
            f"{store}: {len(repeated)} sample id(s) repeat (e.g. {repeated[0]!r}); exporting would "
            "overwrite files. Mix stores with `occgen mix` (it qualifies ids by store) instead of merging them"
        )


def export_chunk(spec: ExportSpec, chunk_index: int) -> int:
    """Write the samples of one chunk of the store; returns how many were written (checked against the chunk)."""
    marker = spec.marker_dir / f"{chunk_index:06d}.done"
    reader = open_store(parse_location(spec.store, spec.storage_options or None))
    start = chunk_index * spec.chunk
    stop = min(start + spec.chunk, len(reader))
    if marker.exists():
        return stop - start
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality]
    written = 0
    for index in range(start, stop):
        sample = reader[index]
        stem = sample_stem(sample.metadata, index)
        bgr = cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR)
        suffix = f".{spec.image_format}"
        _write_atomic(spec.image_dir / f"{stem}{suffix}", suffix, bgr, jpeg if spec.image_format == "jpg" else [])
        extra = reader.labels(index, sample.image) if spec.extras or spec.mmseg_labels == "parsing" else {}
        if spec.format == "mmseg":
            labels = extra["parsing"] if spec.mmseg_labels == "parsing" else sample.face_mask
        else:
            labels = sample.face_mask * np.uint8(255)
        _write_atomic(spec.mask_dir / f"{stem}.png", ".png", labels, [])
        for name in spec.extras:
            folder = Path(spec.out) / EXTRA_DIRS[name]
            if name == "clean_image":
                clean = cv2.cvtColor(extra[name], cv2.COLOR_RGB2BGR)
                _write_atomic(folder / f"{stem}{suffix}", suffix, clean, jpeg if spec.image_format == "jpg" else [])
            else:
                scale = np.uint8(255) if name == "face_mask_amodal" else np.uint8(1)
                _write_atomic(folder / f"{stem}.png", ".png", extra[name] * scale, [])
        written += 1
    if written != stop - start:
        raise StoreError(f"export chunk {chunk_index}: wrote {written} samples of {stop - start}")
    marker.touch()
    return written


@dataclass(frozen=True)
class ExportReport:
    out: Path
    samples: int
    chunks_written: int


def export_store(
    store: Path | str | Location,
    out: Path,
    *,
    format: str = "folder",
    image_format: str | None = None,
    jpeg_quality: int = 95,
    name: str | None = None,
    val_frac: float = 0.0,
    mmseg_labels: str = "face",
    seed: int = 0,
    workers: int = 1,
    scheduler: str | None = None,
    on_progress: Any = None,
) -> ExportReport:
    """Export every sample of ``store`` to ``out`` in ``format``; resumes an interrupted export."""
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; valid: {', '.join(FORMATS)}")
    image_format = image_format or ("jpg" if format == "mmseg" else "png")
    if image_format not in IMAGE_FORMATS:
        raise ConfigError(f"unknown image format {image_format!r}; valid: {', '.join(IMAGE_FORMATS)}")
    if format == "mmseg" and image_format != "jpg":
        raise ConfigError("MMSegmentation's FaceOccludedDataset reads .jpg images: use --image-format jpg")
    if not 1 <= jpeg_quality <= 100:
        raise ConfigError(f"--jpeg-quality must be in [1, 100], got {jpeg_quality}")
    if not 0.0 <= val_frac < 1.0:
        raise ConfigError(f"--val-frac must be in [0, 1), got {val_frac}")
    if mmseg_labels not in MMSEG_LABELS:
        raise ConfigError(f"unknown --mmseg-labels {mmseg_labels!r}; valid: {', '.join(MMSEG_LABELS)}")
    location = parse_location(store)
    if not parse_location(out).is_local:
        raise ConfigError(f"export writes image files to a local folder; --out {out} must be a path, not a URL")
    out = Path(out).resolve()
    with store_lock(out, "export"):  # one writer per output folder (issue 13)
        return _export_locked(location, out, format, image_format, jpeg_quality, name, val_frac, mmseg_labels, seed,
                              workers, scheduler, on_progress)  # fmt: skip


def _export_locked(
    store: Location, out: Path, format: str, image_format: str, jpeg_quality: int, name: str | None, val_frac: float,
    mmseg_labels: str, seed: int, workers: int, scheduler: str | None, on_progress: Any,
) -> ExportReport:  # fmt: skip
    reader = open_store(store)
    metadata = _all_metadata(reader)
    stems = [sample_stem(m, i) for i, m in enumerate(metadata)]
    check_unique(stems, str(store))
    card = reader.card
    label_names = tuple(getattr(reader, "label_names", ()))
    if mmseg_labels == "parsing" and (format != "mmseg" or "parsing" not in label_names):
        raise ConfigError(
            f"--mmseg-labels parsing needs --format mmseg and a store with the parsing label; {store} holds "
            f"{', '.join(label_names) or 'no extra labels'} (generate it with --labels parsing)"
        )
    spec = ExportSpec(
        store=store.url, out=str(out), format=format, image_format=image_format, jpeg_quality=jpeg_quality,
        name=name or Path(store.name).stem, chunk=int(card.get("shard_size", 64)),
        extras=label_names if format == "folder" else (), mmseg_labels=mmseg_labels,
        storage_options=store.storage_options,
    )  # fmt: skip
    settings_file = Path(out) / ".occgen-export" / "settings.json"
    # Keyed on the dataset's content, not where it or the export is, so moved ones still resume (issue 13).
    # The label settings enter only when used, so exports of default stores resume across versions.
    # Storage options (credentials) never enter a file.
    defaults = {"out": None, "store": None, "storage_options": None, "extras": (), "mmseg_labels": "face"}
    unrecorded = ("out", "store", "storage_options")
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in spec.__dict__.items()
                if k not in defaults or (k not in unrecorded and v != defaults[k])}  # fmt: skip
    settings["dataset"] = _content_key(card)
    extra_dirs = [Path(out) / EXTRA_DIRS[e] for e in spec.extras]
    try:
        for folder in (spec.image_dir, spec.mask_dir, spec.marker_dir, *extra_dirs):
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot write to {out}: {error.strerror or error}; choose a writable --out") from error
    if settings_file.exists() and json.loads(settings_file.read_text()) != settings:
        raise StoreError(f"{out} holds an export with other settings; choose another --out or delete it")
    settings_file.write_text(json.dumps(settings, sort_keys=True))

    n = len(reader)
    chunks = range(-(-n // spec.chunk))
    todo = [c for c in chunks if not (spec.marker_dir / f"{c:06d}.done").exists()]
    if on_progress and len(todo) < len(chunks):
        done = [c for c in chunks if c not in set(todo)]
        on_progress(sum(min((c + 1) * spec.chunk, n) - c * spec.chunk for c in done))
    run_tasks(export_chunk, todo, shared=spec, workers=workers, scheduler=scheduler, on_result=on_progress)
    _check_written(spec, stems)
    if format == "folder":
        _write_metadata_csv(Path(out) / "metadata.csv", stems, metadata)
        if spec.extras:
            label_maps = {array: entry for array, entry in card.get("labels", {}).items() if array in spec.extras}
            (Path(out) / "labels.json").write_text(json.dumps(label_maps, indent=2) + "\n")
    else:
        if mmseg_labels == "parsing":
            classes = json.dumps({"classes": list(PARSING_CLASSES)}, indent=2)
            (Path(out) / spec.name / "classes.json").write_text(classes + "\n")
        is_val = val_mask(n, val_frac, seed)
        root = Path(out) / spec.name
        (root / "train.txt").write_text("".join(f"{s}\n" for s, v in zip(stems, is_val, strict=True) if not v))
        if val_frac:
            (root / "val.txt").write_text("".join(f"{s}\n" for s, v in zip(stems, is_val, strict=True) if v))
    return ExportReport(Path(out), n, len(todo))


def val_mask(n: int, val_frac: float, seed: int) -> np.ndarray:
    """(n,) bool: True for the ``round(val_frac * n)`` samples of the validation split (seeded, stream 98)."""
    rng = np.random.default_rng([seed, 98])  # stream 98: export splits
    is_val = np.zeros(n, bool)
    is_val[rng.choice(n, int(round(val_frac * n)), replace=False)] = True
    return is_val


def _content_key(card: dict[str, Any]) -> str:
    """What a store or mix holds: its generation spec's digest, or for a mix its stores' digests and picks."""
    if card.get("kind") != "mix":
        return card_digest(card)
    parts = [{k: v for k, v in source.items() if k != "path"} for source in card["sources"]]
    text = json.dumps({"parts": parts, "seed": card.get("seed"), "pick": card.get("pick")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _all_metadata(reader: Any) -> list[dict[str, Any]]:
    if reader.card.get("kind") == "mix":
        return [reader.sample_metadata(i) for i in range(len(reader))]
    return [json.loads(str(text)) for text in reader.arrays(METADATA)[:]]


def _check_written(spec: ExportSpec, stems: list[str]) -> None:
    """Every sample read has exactly one image and one mask file: count them on disk."""
    for folder, suffix in ((spec.image_dir, f".{spec.image_format}"), (spec.mask_dir, ".png")):
        on_disk = {p.stem for p in folder.iterdir() if p.suffix == suffix and not p.name.startswith(".")}
        missing = [s for s in stems if s not in on_disk]
        if missing or len(on_disk) != len(stems):
            raise StoreError(
                f"export to {spec.out}: {folder.name}/ holds {len(on_disk)} files for {len(stems)} samples "
                f"({len(missing)} missing, e.g. {missing[:1]}); delete {spec.marker_dir} and re-run"
            )


def _write_metadata_csv(path: Path, stems: list[str], metadata: list[dict[str, Any]]) -> None:
    columns = ["sample_id", "face_id", "occluder_types", "occluder_ids", "translucent", "occluded_face_fraction"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for stem, m in zip(stems, metadata, strict=True):
            before, after = m.get("face_px_before", 0), m.get("face_px_after", 0)
            fraction = (before - after) / before if before else 0.0
            writer.writerow([
                stem, m.get("face_id", ""), ";".join(m.get("occluder_types", [])),
                ";".join(m.get("occluder_ids", [])), m.get("translucent", ""), f"{fraction:.4f}",
            ])  # fmt: skip
