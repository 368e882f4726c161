"""COCO occluder extraction (NatOcc paper, section 3.1: "128 common objects across 20 categories (e.g.
food, bottles, cellphones, and cups) from ... COCO with COCOAPI").

Data flow: ``instances_*.json`` + image folder -> :func:`select_candidates` (filters on the annotations:
crowd, category, area, truncation, then mask solidity) -> :func:`extract_coco` cuts each kept object out
as an RGBA PNG with a soft alpha edge (:func:`cut_out`) and records it in ``manifest.json``. The output
folder is what the ``coco-objects`` occluder source (:mod:`occgen.sources.objects`) reads, and what
``occgen occluders upscale`` takes.

The module is the stage (I/O, resume, workers); the annotation filters live in
:mod:`occgen.prep.objects.coco_select` and the pure mask operations in :mod:`occgen.prep.objects.cutout`
(their public names are importable from here too).

Resumable: finished crops are appended to ``progress.jsonl`` as they are written; a rerun with the same
settings skips them. Parallel: ``workers`` processes; each task gets only its annotation and image record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occgen import __version__
from occgen.core.errors import ConfigError, SourceError, StoreError
from occgen.core.files import atomic_write_bytes, atomic_write_text
from occgen.core.imageio import encode_png, read_image
from occgen.core.params import to_plain
from occgen.prep.objects.coco_select import (
    DEFAULT_CATEGORIES,
    FORBIDDEN_CATEGORIES,
    Candidate,
    CocoFilter,
    CocoIndex,
    Selection,
    read_coco,
    select_candidates,
    slug,
)
from occgen.prep.objects.cutout import (
    CutOutConfig,
    cut_out,
    is_truncated,
    mask_solidity,
    segmentation_to_mask,
    soft_alpha,
)
from occgen.sources.objects import MANIFEST, MANIFEST_VERSION

__all__ = [  # the stage, and the filters and mask operations of its two sibling modules
    "DEFAULT_CATEGORIES", "FORBIDDEN_CATEGORIES", "Candidate", "CocoFilter", "CocoIndex", "CutOutConfig",
    "ExtractReport", "Selection", "cut_out", "extract_coco", "is_truncated", "mask_solidity", "read_coco",
    "segmentation_to_mask", "select_candidates", "slug", "soft_alpha",
]  # fmt: skip

PROGRESS = "progress.jsonl"
SETTINGS = "settings.json"

ProgressCallback = Callable[[int], None]


# --------------------------------------------------------------------------------------------------
# Extraction (I/O)
# --------------------------------------------------------------------------------------------------


def _licence(index: CocoIndex, image: dict[str, Any]) -> dict[str, Any]:
    licence_id = image.get("license")
    info = index.licences.get(int(licence_id)) if licence_id is not None else None
    return {
        "licence_id": licence_id,
        "licence_name": info.get("name") if info else None,
        "licence_url": info.get("url") if info else None,
    }


@dataclass(frozen=True)
class _Task:
    candidate: Candidate
    image_path: Path
    out_path: Path
    cutout: CutOutConfig


def _extract_one(task: _Task) -> dict[str, Any]:
    """Worker: read the image, decode the mask, cut out, write the PNG atomically; return its record."""
    cand = task.candidate
    image = read_image(task.image_path)
    height, width = int(cand.image["height"]), int(cand.image["width"])
    if image.shape[:2] != (height, width):
        raise SourceError(
            f"{task.image_path} is {image.shape[1]}x{image.shape[0]} but the annotations say {width}x{height}; "
            "is --src the folder of this annotation file's split?"
        )
    mask = segmentation_to_mask(cand.annotation["segmentation"], height, width)
    rgba, box = cut_out(image, mask, task.cutout)
    data = encode_png(rgba, str(task.out_path))
    try:
        atomic_write_bytes(task.out_path, data)
    except OSError as error:
        raise StoreError(f"cannot write {task.out_path}: {error.strerror}; choose a writable --out") from error
    return {
        "file": task.out_path.name,
        "annotation_id": cand.annotation_id,
        "image_id": int(cand.annotation["image_id"]),
        "category": cand.category,
        "category_id": int(cand.annotation["category_id"]),
        "image_file": cand.image.get("file_name"),
        "image_url": cand.image.get("coco_url") or cand.image.get("flickr_url"),
        "flickr_url": cand.image.get("flickr_url"),
        "bbox": [float(v) for v in cand.annotation["bbox"]],
        "area": float(cand.annotation.get("area", 0.0)),
        "solidity": cand.solidity,
        "crop_box": list(box),
        "width": int(rgba.shape[1]),
        "height": int(rgba.shape[0]),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _read_progress(path: Path) -> dict[int, dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    if not path.is_file():
        return done
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by an interrupted run: that crop is redone
            continue
        done[int(record["annotation_id"])] = record
    return done


@dataclass(frozen=True)
class ExtractReport:
    out: Path
    candidates: int
    written: int
    skipped_existing: int
    rejected: dict[str, int]
    unknown_categories: list[str]
    per_category: dict[str, int]
    seconds: float
    #: Requested categories that gave no object (absent from a COCO subset, or every instance filtered out).
    empty_categories: list[str] = field(default_factory=list)

    @property
    def objects_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


@contextlib.contextmanager
def _mapper(workers: int) -> Iterator[Callable[..., Iterable[Any]]]:
    if workers <= 1:
        yield map
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield lambda fn, items: pool.map(fn, items, chunksize=16)


def extract_coco(
    annotations: Path,
    images: Path,
    out: Path,
    *,
    filters: CocoFilter | None = None,
    cutout: CutOutConfig | None = None,
    workers: int = 1,
    overwrite: bool = False,
    on_progress: ProgressCallback | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ExtractReport:
    """Extract the objects of ``annotations`` that pass ``filters`` into ``out`` (RGBA PNGs + manifest).

    A rerun with the same settings resumes (crops already listed in ``progress.jsonl`` with their file
    present are kept); other settings need ``overwrite=True``. ``on_total`` gets the number of objects to
    cut out once they are known; ``on_progress`` is called with 1 per finished crop.
    """
    filters = filters or CocoFilter()
    cutout = cutout or CutOutConfig()
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise SourceError(f"COCO image folder not found: {images}; pass the folder holding e.g. val2017/*.jpg")
    start = time.perf_counter()
    index = read_coco(annotations)
    settings = {
        "manifest_version": MANIFEST_VERSION,
        "annotations_sha256": index.sha256,
        "filters": to_plain(filters),
        "cutout": to_plain(cutout),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create {out}: {error.strerror}; choose a writable --out") from error
    settings_path = out / SETTINGS
    if settings_path.is_file():
        previous = json.loads(settings_path.read_text())
        if previous != settings and not overwrite:
            changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            raise ConfigError(
                f"{out} was extracted with other settings (changed: {', '.join(changed)}); "
                "pass --overwrite to replace it or choose another --out"
            )
        if previous != settings:
            for path in out.glob("coco_*.png"):
                path.unlink()
            (out / PROGRESS).unlink(missing_ok=True)
            (out / MANIFEST).unlink(missing_ok=True)
    settings_path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")

    with _mapper(workers) as map_fn:
        selection = select_candidates(index, filters, map_fn=map_fn)
        done = {ann_id: rec for ann_id, rec in _read_progress(out / PROGRESS).items() if (out / rec["file"]).is_file()}
        todo = [c for c in selection.candidates if c.annotation_id not in done]
        if on_total is not None:
            on_total(len(selection.candidates))
        if on_progress is not None and done:
            on_progress(len([c for c in selection.candidates if c.annotation_id in done]))
        tasks = []
        for cand in todo:
            image_path = images / str(cand.image["file_name"])
            if not image_path.is_file():
                raise SourceError(
                    f"image {cand.image['file_name']} of annotation {cand.annotation_id} not found in {images}; "
                    "--src must be the folder of this annotation file's split (e.g. val2017/)"
                )
            tasks.append(_Task(cand, image_path, out / cand.file_name, cutout))
        with (out / PROGRESS).open("a") as progress:
            for record in map_fn(_extract_one, tasks):
                progress.write(json.dumps(record, sort_keys=True) + "\n")
                progress.flush()
                done[int(record["annotation_id"])] = record
                if on_progress is not None:
                    on_progress(1)

    chosen = {c.annotation_id for c in selection.candidates}
    items = []
    for cand in selection.candidates:
        record = {**done[cand.annotation_id], **_licence(index, cand.image)}
        items.append(dict(sorted(record.items())))  # the same bytes whether fresh or resumed
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "kind": "coco-objects",
        "occgen_version": __version__,
        "annotations": index.path.name,
        **settings,
        "count": len(items),
        "items": items,
    }
    _write_json(out / MANIFEST, manifest)
    per_category = Counter(item["category"] for item in items)
    skipped = len(chosen) - len(todo)
    return ExtractReport(
        out=out,
        candidates=len(selection.candidates),
        written=len(todo),
        skipped_existing=skipped,
        rejected=dict(selection.rejected),
        unknown_categories=selection.unknown_categories,
        per_category=dict(sorted(per_category.items())),
        seconds=time.perf_counter() - start,
        empty_categories=[name for name in filters.categories if name not in per_category],
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")
