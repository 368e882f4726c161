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
``clean/<id>.<png|jpg>`` (the clean face), ``occluder_class/<id>.png`` (0-3), ``soft_face/<id>.png`` (0-255)
and ``landmarks/<id>.json``
(``{"landmarks": [[x, y] or null, ...], "landmark_visible": [0/1, ...]}``), plus ``labels.json``
(the store card's label maps, with the landmark names). A face folder with ``parsing/`` is read back with its
parsing map.

Export runs one task per store shard (parallel with dask like generation) through the one export framework
(:mod:`occgen.run.export_base`: each file written under a temporary name and renamed, a marker per chunk in
``<out>/.occgen-export/``), so an interrupted export resumes. Sample ids become file names only after
:func:`occgen.run.export_base.check_sample_name`.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError, StoreError
from occgen.core.labels import PARSING_CLASSES
from occgen.core.location import Location, parse_location
from occgen.run.export_base import (
    Chunk,
    ChunkFiles,
    check_sample_name,
    chunks_of,
    open_work,
    run_export,
    work_dir,
    write_text_atomic,
)
from occgen.run.export_encode import POINT_LABELS, point_label_json
from occgen.store import open_store
from occgen.store.lock import store_lock
from occgen.store.schema import FACE_MASK, IMAGE

FORMATS = ("folder", "mmseg")
IMAGE_FORMATS = ("png", "jpg")
MMSEG_LABELS = ("face", "parsing")
#: Optional label array -> folder it is exported to (folder format).
EXTRA_DIRS = {"parsing": "parsing", "face_mask_amodal": "amodal", "clean_image": "clean",
              "occluder_class": "occluder_class", "landmarks": "landmarks",
              "landmark_visible": "landmarks", "occluder_instances": "occluder_instances",
              "face_mask_soft": "soft_face"}  # fmt: skip


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


def _encode(suffix: str, array: np.ndarray, params: list[int]) -> bytes:
    ok, encoded = cv2.imencode(suffix, array, params)
    if not ok:
        raise StoreError(f"cannot encode a {array.shape} array as {suffix}")
    return encoded.tobytes()


def sample_stem(metadata: dict[str, Any], index: int) -> str:
    """The file stem of a sample: its id (qualified by the mix part in a mix, so unique in any dataset)."""
    return str(metadata.get("sample_id") or f"{index:08d}")


def checked_stem(metadata: dict[str, Any], index: int, store: str) -> str:
    """The sample's file stem, vetted: its id, or ``<clip_id>/<frame>`` for a clip frame (issue 27: a clip's
    frames in a folder of their own, numbered 000, 001...)."""
    clip = metadata.get("clip")
    if isinstance(clip, dict) and "clip_id" in clip:
        frame = clip.get("frame")
        if not isinstance(frame, int) or frame < 0:
            raise StoreError(f"{store}: sample {index}'s clip frame {frame!r} is not a frame number; regenerate it")
        return f"{check_sample_name(str(clip['clip_id']), store=store, what='clip id')}/{frame:03d}"
    return check_sample_name(sample_stem(metadata, index), store=store)


def check_unique(stems: list[str], store: str) -> None:
    """Refuse ids that two samples share: their files would overwrite each other and samples be lost."""
    repeated = [stem for stem, count in Counter(stems).items() if count > 1]
    if repeated:
        raise StoreError(
            f"{store}: {len(repeated)} sample id(s) repeat (e.g. {repeated[0]!r}); exporting would "
            "overwrite files. Mix stores with `occgen mix` (it qualifies ids by store) instead of merging them"
        )


@dataclass(frozen=True)
class FolderWriter:
    """The folder and mmseg formats as an :class:`occgen.run.export_base.ExportWriter`: a chunk is one store
    shard's samples, each written as image, label map and extra label files."""

    spec: ExportSpec
    stems: tuple[str, ...] = field(default=(), compare=False, repr=False)  # client side only (the final step)
    metadata: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)
    card: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    val_frac: float = 0.0
    seed: int = 0

    def __getstate__(self) -> dict[str, Any]:  # the workers need only the spec
        return {**self.__dict__, "stems": (), "metadata": (), "card": {}}

    def write_chunk(self, chunk: Chunk, files: ChunkFiles) -> dict[str, Any]:
        spec = self.spec
        reader = files.reader(parse_location(spec.store, spec.storage_options or None))  # open once per worker
        jpeg = [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality] if spec.image_format == "jpg" else []
        suffix = f".{spec.image_format}"
        # The chunk's metadata in one batched read (per store of a mix), then each sample's pixels alone.
        for index, metadata in zip(chunk.indices, reader.metadata(list(chunk.indices)), strict=True):
            image, face_mask = reader.sample_array(IMAGE, index), reader.sample_array(FACE_MASK, index)
            stem = checked_stem(metadata, index, spec.store)
            files.write(spec.image_dir / f"{stem}{suffix}",
                        _encode(suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), jpeg))  # fmt: skip
            extra = reader.labels(index, image) if spec.extras or spec.mmseg_labels == "parsing" else {}
            if spec.format == "mmseg":
                labels = extra["parsing"] if spec.mmseg_labels == "parsing" else face_mask
            else:
                labels = face_mask * np.uint8(255)
            files.write(spec.mask_dir / f"{stem}.png", _encode(".png", labels, []))
            for name in spec.extras:
                folder = Path(spec.out) / EXTRA_DIRS[name]
                if name in POINT_LABELS:  # one landmarks/<id>.json holds the points and their visibility
                    if name == "landmarks":
                        points = {n: point_label_json(n, extra[n]) for n in POINT_LABELS if n in extra}
                        files.write(folder / f"{stem}.json", (json.dumps(points) + "\n").encode())
                elif name == "clean_image":
                    clean = cv2.cvtColor(extra[name], cv2.COLOR_RGB2BGR)
                    files.write(folder / f"{stem}{suffix}", _encode(suffix, clean, jpeg))
                else:
                    scale = np.uint8(255) if name == "face_mask_amodal" else np.uint8(1)
                    files.write(folder / f"{stem}.png", _encode(".png", extra[name] * scale, []))
        return {"samples": len(chunk.indices)}

    def finish(self, chunks: Sequence[Chunk], markers: list[dict[str, Any]]) -> dict[str, Any]:
        """Check every file is there, then write the lists: metadata.csv (+ labels.json), or mmseg's splits."""
        spec, stems, out = self.spec, list(self.stems), Path(self.spec.out)
        work = work_dir(out)
        _check_written(spec, stems)
        if spec.format == "folder":
            write_text_atomic(work, out / "metadata.csv", _metadata_csv(stems, list(self.metadata)))
            if spec.extras:
                label_maps = {k: v for k, v in self.card.get("labels", {}).items() if k in spec.extras}
                write_text_atomic(work, out / "labels.json", json.dumps(label_maps, indent=2) + "\n")
        else:
            root = out / spec.name
            if spec.mmseg_labels == "parsing":
                classes = json.dumps({"classes": list(PARSING_CLASSES)}, indent=2)
                write_text_atomic(work, root / "classes.json", classes + "\n")
            is_val = val_mask(len(stems), self.val_frac, self.seed)
            pairs = list(zip(stems, is_val, strict=True))
            write_text_atomic(work, root / "train.txt", "".join(f"{s}\n" for s, v in pairs if not v))
            if self.val_frac:
                write_text_atomic(work, root / "val.txt", "".join(f"{s}\n" for s, v in pairs if v))
        return {"samples": len(stems)}

    def check_finished(self, manifest: dict[str, Any]) -> None:
        _check_written(self.spec, list(self.stems))


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
    metadata = reader.metadata(range(len(reader)))
    stems = [checked_stem(m, i, str(store)) for i, m in enumerate(metadata)]
    check_unique(stems, str(store))
    card = reader.card
    label_names = reader.label_names
    if mmseg_labels == "parsing" and (format != "mmseg" or "parsing" not in label_names):
        raise ConfigError(
            f"--mmseg-labels parsing needs --format mmseg and a store with the parsing label; {store} holds "
            f"{', '.join(label_names) or 'no extra labels'} (generate it with --labels parsing)"
        )
    name = check_sample_name(name or Path(store.name).stem, store=str(store), what="dataset name",
                             fix="choose another --name")  # fmt: skip
    spec = ExportSpec(
        store=store.url, out=str(out), format=format, image_format=image_format, jpeg_quality=jpeg_quality,
        name=name, chunk=int(card.get("shard_size", 64)),
        extras=label_names if format == "folder" else (), mmseg_labels=mmseg_labels,
        storage_options=store.storage_options,
    )  # fmt: skip
    # Keyed on the dataset's content, not where it or the export is, so moved ones still resume (issue 13).
    # The label settings enter only when used, so exports of default stores resume across versions.
    # Storage options (credentials) never enter a file.
    defaults = {"out": None, "store": None, "storage_options": None, "extras": (), "mmseg_labels": "face"}
    unrecorded = ("out", "store", "storage_options")
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in spec.__dict__.items()
                if k not in defaults or (k not in unrecorded and v != defaults[k])}  # fmt: skip
    settings["dataset"] = reader.content_key
    extra_dirs = list(dict.fromkeys(Path(out) / EXTRA_DIRS[e] for e in spec.extras))
    work = open_work(out, settings, (spec.image_dir, spec.mask_dir, *extra_dirs))
    writer = FolderWriter(spec, tuple(stems), tuple(metadata), card, val_frac, seed)
    chunks = chunks_of(range(len(reader)), spec.chunk)
    written, _ = run_export(work, writer, chunks, workers=workers, scheduler=scheduler, on_progress=on_progress)
    return ExportReport(Path(out), len(reader), written)


def val_mask(n: int, val_frac: float, seed: int) -> np.ndarray:
    """(n,) bool: True for the ``round(val_frac * n)`` samples of the validation split (seeded, stream 98)."""
    rng = np.random.default_rng([seed, 98])  # stream 98: export splits
    is_val = np.zeros(n, bool)
    is_val[rng.choice(n, int(round(val_frac * n)), replace=False)] = True
    return is_val


def _check_written(spec: ExportSpec, stems: list[str]) -> None:
    """Every sample read has exactly one image and one mask file: count them on disk."""
    for folder, suffix in ((spec.image_dir, f".{spec.image_format}"), (spec.mask_dir, ".png")):
        on_disk = {
            p.relative_to(folder).with_suffix("").as_posix()  # clip frames: <clip_id>/<frame>
            for p in (folder.rglob(f"*{suffix}") if any("/" in s for s in stems) else folder.iterdir())
            if p.suffix == suffix and not p.name.startswith(".")
        }
        missing = [s for s in stems if s not in on_disk]
        if missing or len(on_disk) != len(stems):
            raise StoreError(
                f"export to {spec.out}: {folder.name}/ holds {len(on_disk)} files for {len(stems)} samples "
                f"({len(missing)} missing, e.g. {missing[:1]}); delete {spec.marker_dir} and re-run"
            )


def _metadata_csv(stems: list[str], metadata: list[dict[str, Any]]) -> str:
    columns = ["sample_id", "face_id", "occluder_types", "occluder_ids", "translucent", "occluded_face_fraction"]
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(columns)
    for stem, m in zip(stems, metadata, strict=True):
        before, after = m.get("face_px_before", 0), m.get("face_px_after", 0)
        fraction = (before - after) / before if before else 0.0
        writer.writerow([
            stem, m.get("face_id", ""), ";".join(m.get("occluder_types", [])),
            ";".join(m.get("occluder_ids", [])), m.get("translucent", ""), f"{fraction:.4f}",
        ])  # fmt: skip
    return handle.getvalue()
