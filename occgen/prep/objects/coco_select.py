"""Reading a COCO annotation file and choosing which objects become occluders (the filters of
``occgen occluders coco``): :class:`CocoFilter`, :func:`read_coco`, :func:`select_candidates`.

Only annotations are read here (and each surviving mask decoded once for its solidity); the stage
:mod:`occgen.prep.objects.coco` cuts the chosen objects out.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occgen.core.errors import ConfigError, SourceError
from occgen.prep.objects.cutout import is_truncated, mask_solidity, segmentation_to_mask

#: Everyday COCO categories that plausibly cover part of a face (the NatOcc paper names food, bottles,
#: cellphones and cups among its 20 categories but does not list them; this 20-name list is our choice).
DEFAULT_CATEGORIES: tuple[str, ...] = (
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
    "banana", "apple", "sandwich", "orange", "hot dog", "pizza", "donut", "cake",
    "cell phone", "book", "remote", "toothbrush", "teddy bear",
)  # fmt: skip
#: Categories never extracted, whatever the allow-list: a person is not an object occluder.
FORBIDDEN_CATEGORIES = frozenset({"person"})


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


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")



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
