"""COCO occluder extraction (NatOcc paper, section 3.1: "128 common objects across 20 categories (e.g.
food, bottles, cellphones, and cups) from ... COCO with COCOAPI").

Data flow: ``instances_*.json`` + image folder -> :func:`select_candidates` (filters on the annotations:
crowd, category, area, truncation, then mask solidity) -> :func:`extract_coco` cuts each kept object out
as an RGBA PNG with a soft alpha edge (:func:`cut_out`) and records it in ``manifest.json``. The output
folder is what the ``coco-objects`` occluder source (:mod:`occgen.sources.objects`) reads, and what
``occgen occluders upscale`` takes.

Resumable: finished crops are appended to ``progress.jsonl`` as they are written; a rerun with the same
settings skips them. Parallel: ``workers`` processes; each task gets only its annotation and image record.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen import __version__
from occgen.core.arrays import check_image, check_mask, check_same_size
from occgen.core.errors import ConfigError, SourceError, StoreError
from occgen.core.files import atomic_write_bytes, atomic_write_text
from occgen.core.geometry import grow_box, mask_bbox
from occgen.core.imageio import read_image
from occgen.core.params import to_plain
from occgen.sources.objects import MANIFEST, MANIFEST_VERSION

#: Everyday COCO categories that plausibly cover part of a face (the NatOcc paper names food, bottles,
#: cellphones and cups among its 20 categories but does not list them; this 20-name list is our choice).
DEFAULT_CATEGORIES: tuple[str, ...] = (
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
    "banana", "apple", "sandwich", "orange", "hot dog", "pizza", "donut", "cake",
    "cell phone", "book", "remote", "toothbrush", "teddy bear",
)  # fmt: skip
#: Categories never extracted, whatever the allow-list: a person is not an object occluder.
FORBIDDEN_CATEGORIES = frozenset({"person"})

PROGRESS = "progress.jsonl"
SETTINGS = "settings.json"

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, kw_only=True)
class CocoFilter:
    """Which annotations become occluders (the ``occgen occluders coco`` options).

    - ``categories``: allow-list of COCO category names (default :data:`DEFAULT_CATEGORIES`); ``person``
      is refused.
    - ``include_crowd``: keep ``iscrowd == 1`` regions (default False: crowd RLEs cover several objects).
    - ``min_area_px``: minimum COCO mask area in pixels (default 2500, about 50x50: smaller objects are too
      blurry even after x4 super-resolution).
    - ``border_margin_px``: an object whose box comes within this many pixels of the image border is
      truncated and dropped (default 2).
    - ``min_solidity``: minimum mask area / convex hull area (default 0.5): drops masks fragmented by
      other objects; thin utensils score low (a spoon about 0.55, a cup about 0.95).
    - ``max_per_category``: keep at most this many per category, the largest first (default None: all).
    """

    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    include_crowd: bool = False
    min_area_px: float = 2500.0
    border_margin_px: int = 2
    min_solidity: float = 0.5
    max_per_category: int | None = None

    def __post_init__(self) -> None:
        forbidden = sorted(FORBIDDEN_CATEGORIES & set(self.categories))
        if forbidden:
            raise ConfigError(f"objects.coco.categories must not include {forbidden}: people are not object occluders")
        if not self.categories:
            raise ConfigError("objects.coco.categories is empty: name at least one COCO category")
        if self.min_area_px < 0 or self.border_margin_px < 0:
            raise ConfigError("objects.coco.min_area_px and border_margin_px must be >= 0")
        if not 0.0 <= self.min_solidity <= 1.0:
            raise ConfigError(f"objects.coco.min_solidity must be in [0, 1], got {self.min_solidity}")
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ConfigError(f"objects.coco.max_per_category must be >= 1 or null, got {self.max_per_category}")


@dataclass(frozen=True, kw_only=True)
class CutOutConfig:
    """How a kept object becomes an RGBA crop (``--edge-sigma`` sets ``edge_sigma_px``).

    ``pad_px`` transparent margin around the mask box (so the soft edge is not clipped); the alpha edge is
    the binary mask eroded by ``edge_erode_px`` then Gaussian-blurred with ``edge_sigma_px`` (a COCO polygon
    edge is coarse: a hard edge shows a halo of background once composited).
    """

    pad_px: int = 4
    edge_erode_px: int = 1
    edge_sigma_px: float = 1.0

    def __post_init__(self) -> None:
        if self.pad_px < 0 or self.edge_erode_px < 0 or self.edge_sigma_px < 0:
            raise ConfigError("objects.cutout: pad_px, edge_erode_px and edge_sigma_px must be >= 0")


# --------------------------------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------------------------------


def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Decode a COCO segmentation (polygons, uncompressed or compressed RLE) to ``uint8 (H, W)`` in {0, 1}."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):  # polygons: merge the parts into one RLE
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(segmentation, height, width)
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), str | bytes):
        rle = segmentation
    else:
        raise SourceError(f"unknown COCO segmentation format: {type(segmentation).__name__}")
    return np.ascontiguousarray(mask_utils.decode(rle), dtype=np.uint8)


def mask_solidity(mask: np.ndarray) -> float:
    """Mask area / area of the convex hull of all its pixels (1.0 for a convex shape, 0.0 if empty)."""
    check_mask(mask)
    area = int(mask.sum())
    if area == 0:
        return 0.0
    points = cv2.findNonZero(mask)
    # Pixel centres: the hull of a w x h box of pixels has area (w-1)(h-1); add back the half-pixel rim
    # (perimeter / 2 + 1) so a filled rectangle scores exactly 1.
    hull = cv2.convexHull(points)
    hull_area = cv2.contourArea(hull) + cv2.arcLength(hull, True) / 2.0 + 1.0
    return min(area / hull_area, 1.0)


def is_truncated(bbox: Iterable[float], width: int, height: int, margin_px: int) -> bool:
    """True if the COCO box ``[x, y, w, h]`` comes within ``margin_px`` of the image border."""
    x, y, w, h = bbox
    return x <= margin_px or y <= margin_px or x + w >= width - margin_px or y + h >= height - margin_px


def soft_alpha(mask: np.ndarray, erode_px: int, sigma_px: float) -> np.ndarray:
    """``float32 (H, W)`` alpha in [0, 1]: ``mask`` eroded by ``erode_px``, then Gaussian-blurred."""
    check_mask(mask)
    alpha: np.ndarray = mask.astype(np.float32)
    if erode_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1))
        alpha = cv2.erode(alpha, kernel)
    if sigma_px > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=sigma_px, borderType=cv2.BORDER_CONSTANT)
    return np.clip(alpha, 0.0, 1.0)


def cut_out(image: np.ndarray, mask: np.ndarray, config: CutOutConfig) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Cut the object ``mask`` selects out of ``image``: ``(uint8 (h, w, 4) RGBA, (x0, y0, x1, y1))``.

    The crop is the mask's box plus ``pad_px`` (clipped to the image); pixels outside the object keep
    their colour with alpha 0.
    """
    check_image(image)
    check_mask(mask)
    check_same_size(image, mask, "image", "mask")
    found = mask_bbox(mask)
    if found is None:
        raise SourceError("the object's mask is empty")
    y0, x0, y1, x1 = grow_box(found, config.pad_px, mask.shape)
    alpha = soft_alpha(np.ascontiguousarray(mask[y0:y1, x0:x1]), config.edge_erode_px, config.edge_sigma_px)
    rgba = np.dstack([image[y0:y1, x0:x1], np.round(alpha * 255.0).astype(np.uint8)])
    return rgba, (x0, y0, x1, y1)


def encode_png_rgba(rgba: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    if not ok:
        raise StoreError("cannot encode an RGBA PNG")
    return encoded.tobytes()


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# --------------------------------------------------------------------------------------------------
# Reading the annotation file and choosing candidates
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CocoIndex:
    """What extraction needs from an annotation file: images, categories, licences, annotations by id."""

    path: Path
    images: dict[int, dict[str, Any]]
    categories: dict[int, str]
    licences: dict[int, dict[str, Any]]
    annotations: list[dict[str, Any]]
    sha256: str


def read_coco(path: Path) -> CocoIndex:
    """Read a COCO ``instances_*.json`` with pycocotools; a missing or malformed file is a SourceError."""
    from pycocotools.coco import COCO

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"COCO annotation file not found: {path}; pass annotations/instances_<split>.json")
    raw = path.read_bytes()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress to stdout
            coco = COCO(str(path))
    except (ValueError, KeyError, TypeError, AssertionError) as error:
        raise SourceError(f"{path} is not a COCO annotation file: {error!r}") from error
    dataset = coco.dataset
    missing = [k for k in ("images", "annotations", "categories") if k not in dataset]
    if missing:
        raise SourceError(f"{path} is not a COCO instances file: no {', '.join(missing)} section")
    return CocoIndex(
        path=path,
        images=dict(coco.imgs),
        categories={int(c["id"]): str(c["name"]) for c in coco.cats.values()},
        licences={int(lic["id"]): dict(lic) for lic in dataset.get("licenses", [])},
        annotations=sorted(coco.anns.values(), key=lambda a: int(a["id"])),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


@dataclass(frozen=True)
class Candidate:
    """One annotation that passed every filter, with what a worker needs to cut it out."""

    annotation: dict[str, Any]
    image: dict[str, Any]
    category: str
    solidity: float

    @property
    def annotation_id(self) -> int:
        return int(self.annotation["id"])

    @property
    def file_name(self) -> str:
        return f"coco_{self.annotation_id}_{slug(self.category)}.png"


@dataclass
class Selection:
    candidates: list[Candidate]
    rejected: Counter[str] = field(default_factory=Counter)
    unknown_categories: list[str] = field(default_factory=list)


def _solidity_task(args: tuple[dict[str, Any], int, int]) -> float:
    annotation, height, width = args
    return mask_solidity(segmentation_to_mask(annotation["segmentation"], height, width))


def select_candidates(
    index: CocoIndex, filters: CocoFilter, *, map_fn: Callable[..., Iterable[Any]] = map
) -> Selection:
    """Apply ``filters`` in order (crowd, category, area, truncated, solidity, max per category).

    Cheap filters use only the annotation fields; solidity decodes each remaining mask (through
    ``map_fn``, e.g. a process pool's ``map``). Every rejection is counted by reason. The result is in
    annotation-id order; ``max_per_category`` keeps the largest objects (ties: lower id).
    """
    wanted = {name: cid for cid, name in index.categories.items() if name in set(filters.categories)}
    unknown = sorted(set(filters.categories) - set(wanted))
    if not wanted:
        raise ConfigError(
            f"none of the categories {list(filters.categories)} is in {index.path}; "
            f"its categories: {', '.join(sorted(index.categories.values()))}"
        )
    wanted_ids = set(wanted.values())
    rejected: Counter[str] = Counter()
    survivors: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for ann in index.annotations:
        if ann.get("iscrowd", 0) and not filters.include_crowd:
            rejected["crowd"] += 1
            continue
        if int(ann["category_id"]) not in wanted_ids:
            rejected["category"] += 1
            continue
        if float(ann.get("area", 0.0)) < filters.min_area_px:
            rejected["area"] += 1
            continue
        image = index.images.get(int(ann["image_id"]))
        if image is None:
            raise SourceError(f"{index.path}: annotation {ann['id']} refers to unknown image id {ann['image_id']}")
        if is_truncated(ann["bbox"], int(image["width"]), int(image["height"]), filters.border_margin_px):
            rejected["truncated"] += 1
            continue
        survivors.append((ann, image))
    solidities = list(
        map_fn(_solidity_task, [(a, int(i["height"]), int(i["width"])) for a, i in survivors])
    )  # fmt: skip
    kept: list[Candidate] = []
    for (ann, image), solidity in zip(survivors, solidities, strict=True):
        if solidity < filters.min_solidity:
            rejected["solidity"] += 1
            continue
        kept.append(Candidate(ann, image, index.categories[int(ann["category_id"])], round(float(solidity), 4)))
    if filters.max_per_category is not None:
        by_category: dict[str, list[Candidate]] = {}
        for cand in kept:
            by_category.setdefault(cand.category, []).append(cand)
        chosen: set[int] = set()
        for group in by_category.values():
            group.sort(key=lambda c: (-float(c.annotation.get("area", 0.0)), c.annotation_id))
            chosen.update(c.annotation_id for c in group[: filters.max_per_category])
        rejected["max_per_category"] += len(kept) - len(chosen)
        kept = [c for c in kept if c.annotation_id in chosen]
    return Selection(kept, rejected, unknown)


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
            "is --images the folder of this annotation file's split?"
        )
    mask = segmentation_to_mask(cand.annotation["segmentation"], height, width)
    rgba, box = cut_out(image, mask, task.cutout)
    data = encode_png_rgba(rgba)
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
                    "--images must be the folder of this annotation file's split (e.g. val2017/)"
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
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")
