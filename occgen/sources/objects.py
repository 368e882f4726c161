"""The ``coco-objects`` occluder source: draws RGBA cut-outs from a folder written by
``occgen occluders coco`` (optionally super-resolved by ``occgen occluders upscale``), using its
``manifest.json`` for ids, categories and provenance.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.errors import EmptyOccluderError, SourceError
from occgen.core.files import demo_root, list_images, require_dir
from occgen.core.fingerprint import fingerprint_files
from occgen.core.imageio import read_rgba
from occgen.sources.cache import CutoutCache
from occgen.sources.occluder import Occluder, crop_to_alpha, limit_side
from occgen.sources.remote import UrlRoot

#: The folder layout `occgen occluders coco` (and `occluders upscale`) writes and this source reads.
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
#: Up to this many objects (the embedded demo has 15) the card lists each photo's attribution (its Flickr URL);
#: a larger folder's card points to its manifest instead, which always holds them.
ATTRIBUTION_MAX_OBJECTS = 50


def category_from_file_name(name: str) -> str:
    """``"cell-phone_03.png"`` -> ``"cell phone"``: the name without its suffix and trailing number."""
    stem = Path(name).stem.lower().replace("_", " ").replace("-", " ")
    return re.sub(r"[\s\d]+$", "", stem).strip() or "other"


def manifest_of_cutouts(root: Path) -> dict[str, Any]:
    """A manifest for a plain folder of RGBA ``.png`` cut-outs (your own objects, no ``manifest.json``): one item
    per file in name order, ``annotation_id`` its position, the category from its name
    (:func:`category_from_file_name`), no image and no licence record."""
    files = [p.name for p in list_images(root) if p.suffix.lower() == ".png"]
    if not files:
        raise SourceError(
            f"no {MANIFEST} in {root} and no .png cut-outs; make the folder with `occgen occluders coco` "
            "(or `occluders upscale`), or fill it with RGBA .png cut-outs"
        )
    items = [{"file": name, "annotation_id": i, "image_id": -1, "category": category_from_file_name(name)}
             for i, name in enumerate(files)]  # fmt: skip
    return {"manifest_version": MANIFEST_VERSION, "kind": "rgba-cutouts", "items": items}


def read_manifest(root: Path) -> dict[str, Any]:
    """Read ``root/manifest.json`` (written by :func:`extract_coco` or the upscaler); a folder without one but
    with ``.png`` cut-outs gets :func:`manifest_of_cutouts`."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return manifest_of_cutouts(Path(root))
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SourceError(f"{path} is not valid JSON ({error}); rerun `occgen occluders coco`") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("items"), list):
        raise SourceError(f"{path}: expected an object with an 'items' list")
    return manifest


def licence_summary(items: list[dict[str, Any]]) -> str:
    """The photos' licences as the manifest records them, with counts: ``"Attribution License
    (http://creativecommons.org/licenses/by/2.0/) x15"``; objects without a licence record count as unknown."""
    counts: dict[str, int] = {}
    for item in items:
        name = item.get("licence_name") or "unknown licence"
        key = f"{name} ({item['licence_url']})" if item.get("licence_url") else name
        counts[key] = counts.get(key, 0) + 1
    listed = "; ".join(f"{key} x{count}" for key, count in sorted(counts.items()))
    if all(item.get("image_id", 0) < 0 for item in items):
        return f"your cut-outs: no {MANIFEST}, so no licence recorded ({listed})"
    return f"COCO photos: {listed}; per object the photo (flickr_url) and licence in {MANIFEST}"


@dataclass
class CocoObjects(UrlRoot):
    """COCO object cut-outs, drawn uniformly (or from ``categories`` only); or any folder of RGBA ``.png``
    cut-outs without a manifest (ids ``file:<stem>``, categories from the file names, e.g. ``cup_01.png``).

    ``draw(rng=...)`` returns an :class:`Occluder` with id ``coco:<annotation id>`` and kind
    ``coco-object``, cropped to its alpha and shrunk (area filter) to at most ``max_side_px`` (None: as
    stored; a x4-upscaled cut-out of several megapixels is decoded and shrunk once per process, then
    kept in ``cache``), and the params ``{"file", "annotation_id", "image_id",
    "category"}`` that replay the draw.
    """

    root: Path | None = None  # None: the embedded demo cut-outs (assets/demo/objects)
    categories: tuple[str, ...] | None = None
    max_side_px: int | None = None
    cache: CutoutCache = field(default_factory=CutoutCache)  # per process; may be shared with other sources
    name: str = "coco-objects"
    _items: list[dict[str, Any]] = field(init=False, repr=False)
    _manifest_digest: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = require_dir(
            demo_root() / "objects" if self.root is None else self._local_root(self.root), "COCO objects folder",
            "make it with `occgen occluders coco`",
        )  # fmt: skip
        manifest = read_manifest(self.root)
        items = sorted(manifest["items"], key=lambda item: int(item["annotation_id"]))
        if self.categories is not None:
            self.categories = tuple(self.categories)
            present = {item["category"] for item in items}
            unknown = sorted(set(self.categories) - present)
            if unknown:
                raise SourceError(
                    f"{self.root}: no objects of categories {unknown}; present: {', '.join(sorted(present))}"
                )
            items = [item for item in items if item["category"] in self.categories]
        if not items:
            raise SourceError(f"{self.root}/{MANIFEST} lists no objects; relax the extraction filters")
        missing = [item["file"] for item in items if not (self.root / item["file"]).is_file()]
        if missing:
            raise SourceError(
                f"{self.root}: {len(missing)} file(s) listed in {MANIFEST} are missing (e.g. {missing[0]}); "
                "rerun `occgen occluders coco` to resume"
            )
        self._items = items
        # What the objects are, not which occgen release extracted them (a release bump must not refuse a resume)
        content = {k: v for k, v in manifest.items() if k != "occgen_version"}
        self._manifest_digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self._items)

    def load(self, index: int) -> Occluder:
        key = (self.name, str(self.root), index)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        item = self._items[index]
        path = self.root / item["file"]
        rgb, alpha = read_rgba(path)
        try:
            rgb, alpha = crop_to_alpha(rgb, alpha)
        except EmptyOccluderError:
            raise SourceError(f"{path}: alpha channel is fully transparent; rerun the extraction") from None
        occluder_id = f"coco:{item['annotation_id']}" if item["image_id"] >= 0 else f"file:{Path(item['file']).stem}"
        occluder = limit_side(Occluder(occluder_id, "coco-object", rgb, alpha), self.max_side_px)
        return self.cache.put(key, occluder)

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]:
        index = int(rng.integers(len(self._items)))
        item = self._items[index]
        params = {k: item[k] for k in ("file", "annotation_id", "image_id", "category")}
        return self.load(index), params

    def describe(self) -> dict[str, str | int]:
        """Where the objects are and what they are: the manifest's content (not the release that wrote it)
        and every listed cut-out's bytes; the photos' licences, and for a small folder (the embedded demo) each
        photo's attribution (its Flickr URL), which the store card then carries."""
        assert self.root is not None  # set in __post_init__
        files = [self.root / item["file"] for item in self._items]
        described: dict[str, str | int] = {
            "kind": self.name, "root": self.root_label(self.root), "count": len(self),
            "fingerprint": fingerprint_files(self.root, files, extra=self._manifest_digest),
            "licence": licence_summary(self._items),
        }  # fmt: skip
        if len(self._items) <= ATTRIBUTION_MAX_OBJECTS and all(i.get("flickr_url") for i in self._items):
            described["attribution"] = "; ".join(f"coco:{i['annotation_id']} {i['flickr_url']}" for i in self._items)
        return described
