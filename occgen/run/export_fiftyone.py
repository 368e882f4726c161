"""``occgen export --format fiftyone`` and the dataset ``occgen view`` opens: a FiftyOne dataset directory.

Where it sits: an :class:`occgen.run.export_base.ExportWriter` (one chunk = one store shard), run and resumed by
the one export framework; samples are encoded by :mod:`occgen.run.export_encode` (the keys of the sharded
exports: unique across mixes, never a sample id). Writing needs no FiftyOne; reading it back does
(``pip install 'occgen[view]'``, :func:`load_fiftyone`).

The layout is the one ``fo.Dataset.from_dir(DIR, dataset_type=fo.types.FiftyOneDataset)`` reads (facts from
FiftyOne's ``fiftyone/utils/data/importers.py``: a ``metadata.json`` without a ``version`` key is read by its
``LegacyFiftyOneDatasetImporter``, which needs no database dump, only JSON)::

    metadata.json                    {"name", "media_type": "image", "info": {...}} (info: the store, its
                                     recipe and content key, and ``mask_targets``, which FiftyOne applies)
    samples.json                     {"samples": [one dict per store sample, in store (or mix) order]}
    data/<key>.png|jpg               the image (PNG when the store is lossless)
    fields/face/<key>.png            visible face, 0/255            -> field ``face`` (Segmentation)
    fields/occluder/<key>.png        occluder alpha x 255           -> field ``occluder`` (Heatmap, range 0-255)
    fields/<label>/<key>.png         parsing, face_amodal, occluder_class, occluder_instances when the store
                                     has them                       -> Segmentation fields of those names

Each sample dict holds ``filepath`` (relative: the importer joins it to the directory), its label fields (as
``{"_cls": "Segmentation", "mask_path": ...}``) and the store's per-sample metadata as plain fields: ``sample_id``,
``recipe``, ``face_id``, ``occluder_types``, ``coverage`` (the share of the face the occluder covers, as
``occgen report`` computes it), ``face_px_before/after``, ``store``, ``store_index``, ``key`` and the sampled
parameters (nested keys joined with ``_``). FiftyOne's importer does not resolve a label's ``mask_path``
against the directory, so mask paths are absolute: a moved export is exported again (the output records
``--out``, which is part of its settings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occgen.core.errors import ConfigError, StoreError
from occgen.core.labels import OCCLUDER_CLASSES, PARSING_CLASSES
from occgen.core.location import parse_location
from occgen.run.export_base import Chunk, ChunkFiles, chunks_of, open_work, run_export, write_text_atomic
from occgen.run.export_encode import (
    SampleEncoder,
    ShardSpec,
    default_image_format,
    present_labels,
    store_tags,
)
from occgen.run.report_stats import coverage_of
from occgen.store import open_store
from occgen.store.lock import store_lock

#: Store label -> (FiftyOne field, label class). ``clean_image`` is an image, not a label: not exported here.
FIELDS = {
    "face_mask": ("face", "Segmentation"),
    "occluder_mask": ("occluder", "Heatmap"),
    "parsing": ("parsing", "Segmentation"),
    "face_mask_amodal": ("face_amodal", "Segmentation"),
    "occluder_class": ("occluder_class", "Segmentation"),
    "occluder_instances": ("occluder_instances", "Segmentation"),
}
#: Sample fields FiftyOne owns: store metadata of these names is kept as ``occgen_<name>``.
RESERVED = frozenset({"id", "filepath", "tags", "metadata", "media_type", "created_at", "last_modified_at",
                      "dataset_id", "frames", *(name for name, _ in FIELDS.values())})  # fmt: skip
FIELD_KEYS = frozenset({"tags", "metadata", "filepath", "coverage", *(name for name, _ in FIELDS.values())})
FIELD_NAME = re.compile(r"[^A-Za-z0-9_]+")
VIEW_EXTRA = "pip install 'occgen[view]'"


def field_name(key: str) -> str:
    """A FiftyOne field name for a metadata key: letters, digits and ``_`` only, not starting with ``_`` or a
    digit (FiftyOne keeps ``_`` names to itself), never one of :data:`RESERVED`."""
    name = FIELD_NAME.sub("_", key).strip("_") or "field"
    if name[0].isdigit() or name in RESERVED:
        name = f"occgen_{name}"
    return name


def metadata_fields(metadata: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The sample's metadata as flat FiftyOne fields: nested dicts joined with ``_``, other values as they are
    (:func:`consistent_fields` then gives each field one type across samples)."""
    fields: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, dict):
            fields.update(metadata_fields(value, f"{prefix}{key}_"))
        else:
            fields[field_name(f"{prefix}{key}")] = value
    return fields


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "strings"
    return "json"


def consistent_fields(records: list[dict[str, Any]], fields: Sequence[str]) -> None:
    """Give each metadata field one type in every record, in place, as FiftyOne's schema needs (it types a field
    from the first sample that has it): a field whose values are all bool, all numbers (floats if any is), all
    str or all lists of str (filterable in the app) keeps them; any other field's values become their JSON
    text (lists of numbers, of points, of dicts, or mixed kinds). None stays None."""
    for name in fields:
        values = [record[name] for record in records if record.get(name) is not None]
        kinds = {_kind(value) for value in values}
        if kinds == {"number"} and any(isinstance(value, float) for value in values):
            for record in records:
                if record.get(name) is not None:
                    record[name] = float(record[name])
        elif len(kinds) > 1 or kinds == {"json"}:
            for record in records:
                if record.get(name) is not None:
                    record[name] = json.dumps(record[name], sort_keys=True)


def mask_targets(labels: Sequence[str]) -> dict[str, dict[str, str]]:
    """FiftyOne ``mask_targets`` (field -> {pixel value: class name}) for the Segmentation fields."""
    targets = {"face": {"255": "face"}}
    if "face_mask_amodal" in labels:
        targets["face_amodal"] = {"255": "face"}
    if "parsing" in labels:
        targets["parsing"] = {str(value): name for value, name in enumerate(PARSING_CLASSES) if value}
    if "occluder_class" in labels:
        targets["occluder_class"] = {str(value): name for value, name in enumerate(OCCLUDER_CLASSES) if value}
    return targets


@dataclass(frozen=True)
class FiftyOneWriter:
    """The FiftyOne dataset directory as an :class:`occgen.run.export_base.ExportWriter`."""

    spec: ShardSpec
    tags: tuple[str, ...]
    name: str
    info: dict[str, Any] = field(default_factory=dict)
    count: int = 0

    def write_chunk(self, chunk: Chunk, files: ChunkFiles) -> dict[str, Any]:
        out = Path(self.spec.out)
        encoder = SampleEncoder(self.spec, self.tags)
        records = []
        metadata = encoder.reader.metadata(list(chunk.indices))  # one batched read per store
        for index, sample_metadata in zip(chunk.indices, metadata, strict=True):
            sample = encoder.encode(index, chunk.split, sample_metadata)
            record: dict[str, Any] = {"tags": [], "metadata": None}
            for label, extension, data in sample.files:
                if label == "image":
                    record["filepath"] = f"data/{sample.key}.{extension}"
                    files.write(out / record["filepath"], data)
                    continue
                store_name = next((k for k, (f, _) in FIELDS.items() if f == label), None)
                if store_name is None:
                    continue  # clean_image: not a label
                path = out / "fields" / label / f"{sample.key}.png"
                files.write(path, data)
                fo_field, kind = FIELDS[store_name]
                record[fo_field] = ({"_cls": "Heatmap", "map_path": str(path), "range": [0, 255]} if kind == "Heatmap"
                                    else {"_cls": "Segmentation", "mask_path": str(path)})  # fmt: skip
            fields = metadata_fields({k: v for k, v in sample.metadata.items() if k != "split"})
            record.update({k: v for k, v in fields.items() if k not in record})
            record["occgen_metadata_fields"] = sorted(k for k in fields if k not in FIELD_KEYS)
            record["coverage"] = coverage_of(sample.metadata)
            records.append(record)
        return {"samples": records}

    def finish(self, chunks: Sequence[Chunk], markers: list[dict[str, Any]]) -> dict[str, Any]:
        out = Path(self.spec.out)
        work = self.spec.work_dir
        records = [record for marker in markers for record in marker["samples"]]
        self._check(len(records))
        names = sorted({name for record in records for name in record.pop("occgen_metadata_fields")})
        consistent_fields(records, names)
        write_text_atomic(work, out / "samples.json", json.dumps({"samples": records}, sort_keys=True))
        metadata = {"name": self.name, "media_type": "image", "info": self.info}  # no "version": read as JSON
        write_text_atomic(work, out / "metadata.json", json.dumps(metadata, sort_keys=True, indent=1))
        return {"samples": len(records), "format": "fiftyone"}

    def check_finished(self, manifest: dict[str, Any]) -> None:
        self._check(int(manifest["samples"]))
        try:
            samples = json.loads((Path(self.spec.out) / "samples.json").read_text())["samples"]
        except (OSError, ValueError, KeyError) as error:
            raise StoreError(f"{self.spec.out}/samples.json cannot be read ({error}); delete "
                             f"{self.spec.work_dir} and re-run the export") from error  # fmt: skip
        if len(samples) != self.count:
            raise StoreError(f"{self.spec.out}/samples.json lists {len(samples)} samples for {self.count}; delete "
                             f"{self.spec.work_dir} and re-run the export")  # fmt: skip

    def _check(self, records: int) -> None:
        images = len(list((Path(self.spec.out) / "data").glob("*")))
        if not records == images == self.count:
            raise StoreError(f"export to {self.spec.out}: {images} images on disk and {records} samples recorded for "
                             f"{self.count} store samples; delete {self.spec.work_dir} and re-run")  # fmt: skip


def export_fiftyone(
    store: Path | str, out: Path | str, *, image_format: str | None = None, jpeg_quality: int = 95, workers: int = 1,
    scheduler: str | None = None, on_progress: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """Export ``store`` (a store or mix) to ``out`` as a FiftyOne dataset directory (module doc); resumes.
    Returns the manifest (``samples``)."""
    if not parse_location(out).is_local:
        raise ConfigError(f"export writes image files to a local folder; --out {out} must be a path, not a URL")
    out = Path(out).resolve()
    with store_lock(out, "export"):
        reader = open_store(parse_location(store))
        image_format = image_format or default_image_format(reader)
        if image_format not in ("png", "jpg"):
            raise ConfigError(f"unknown image format {image_format!r}; valid: png, jpg")
        if not 1 <= jpeg_quality <= 100:
            raise ConfigError(f"--jpeg-quality must be in [1, 100], got {jpeg_quality}")
        labels = tuple(name for name in present_labels(reader) if name in FIELDS)
        spec = ShardSpec(store=str(store), out=str(out), format="fiftyone", image_format=image_format,
                         jpeg_quality=jpeg_quality, shard_bytes=0, val_frac=0.0, seed=0, labels=labels)  # fmt: skip
        settings = {**spec.settings(), "out": str(out), "dataset": reader.content_key}  # paths inside: --out counts
        fields = [out / "fields" / FIELDS[name][0] for name in ("face_mask", "occluder_mask", *labels)]
        work = open_work(out, settings, folders=[out / "data", *fields])
        name = Path(str(store).rstrip("/")).name.removesuffix(".zarr") or "occgen"
        info = {"occgen_store": str(store), "occgen_recipe": reader.card.get("recipe"),
                "occgen_content_key": reader.content_key, "mask_targets": mask_targets(labels)}  # fmt: skip
        writer = FiftyOneWriter(spec, store_tags(reader), name, info, len(reader))  # keys checked per sample
        chunks = chunks_of(range(len(reader)), int(reader.card.get("shard_size", 64)))
        _, manifest = run_export(work, writer, chunks, workers=workers, scheduler=scheduler, on_progress=on_progress)
    return manifest


def require_fiftyone() -> Any:
    """The ``fiftyone`` module, or a ConfigError naming the extra that installs it."""
    try:
        import fiftyone
    except ImportError as error:
        raise ConfigError(f"occgen view needs FiftyOne ({error}); install it with {VIEW_EXTRA}") from None
    return fiftyone


def load_fiftyone(directory: Path | str, *, name: str | None = None) -> Any:
    """The ``fiftyone.Dataset`` read from an exported directory (a new, non-persistent dataset; ``name`` is made
    unique by FiftyOne when omitted)."""
    fo = require_fiftyone()
    directory = Path(directory)
    if not (directory / "samples.json").is_file():
        raise ConfigError(f"{directory} holds no samples.json: export it first (occgen export STORE --format "
                          "fiftyone --out DIR) or pass the store")  # fmt: skip
    return fo.Dataset.from_dir(dataset_dir=str(directory), dataset_type=fo.types.FiftyOneDataset, name=name)


def is_fiftyone_export(path: Path | str) -> bool:
    """True when ``path`` is a folder this module wrote (its ``samples.json`` and ``metadata.json``)."""
    return (Path(path) / "samples.json").is_file() and (Path(path) / "metadata.json").is_file()


def fiftyone_dataset(source: Path | str, *, out: Path | str, workers: int = 1, on_progress: Any = None) -> Any:
    """The ``fiftyone.Dataset`` ``occgen view`` opens: ``source`` an exported folder (read as is), or a store or
    mix (exported to ``out`` first; an earlier export there is resumed or checked, not rewritten)."""
    require_fiftyone()  # before any export: without FiftyOne, one line naming the extra
    if not is_fiftyone_export(source):
        export_fiftyone(source, out, workers=workers, on_progress=on_progress)
        source = out
    return load_fiftyone(source)
