"""Face sources: an image plus its visible-face mask, resized to the dataset size.

Layouts read (their real on-disk formats):

- **CelebAMask-HQ**: ``CelebA-HQ-img/{i}.jpg`` (1024²) and
  ``CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png`` (512², one file per present part).
  Visible face = union of the face parts minus union of the occluding parts. The NatOcc paper (Table 1)
  counts face skin, eyes, brows, nose and mouth as face, and ears, hair, hats, glasses (even transparent
  ones) and clothes as background; its authors built the initial masks as skin minus glasses, neck and hat.
- **Face folder** (RealOcc / COFW style, users' own data): ``images/<stem>.{jpg,png}`` and
  ``masks/<stem>.png`` with 0/1 or 0/255 values; optionally ``parsing/<stem>.png`` (uint8 parsing ids of
  :mod:`occgen.core.labels`, written by ``occgen faces masks --method parser``).

``load_parsing(index, size)`` gives each face's part-label map (:mod:`occgen.core.labels` ids) at the same
size, agreeing with ``load``'s face mask: CelebAMask-HQ from its part files (precedence in
:func:`occgen.core.labels.parts_parsing`), folders from ``parsing/`` or, without it, one generic face class.
It is only called when a store asks for the ``parsing`` label, so the default path reads nothing more.
``load_landmarks(index, size)`` gives a folder face's own landmarks from its landmark file
(:mod:`occgen.sources.landmark_files`), or None.

Labels are resized with nearest neighbour only. Non-square faces are letterboxed (black image, label 0).

This module holds the face folder and store sources and :func:`open_faces`; CelebAMask-HQ is
:mod:`occgen.sources.celebamask`, and what all sources share (``Face``, ``FaceSource``, part names,
letterboxing) :mod:`occgen.sources.face_common`. Their public names import from here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.errors import ConfigError, SourceError
from occgen.core.files import DEMO_LICENCE, demo_root, is_url, list_images, require_dir
from occgen.core.fingerprint import fingerprint_files
from occgen.core.imageio import read_binary_mask, read_image, read_labels
from occgen.core.labels import (
    GENERIC_FACE,
    PARSING_CLASSES,
    face_class_ids,
    generic_parsing,
    reconcile_parsing,
)  # fmt: skip
from occgen.core.location import Location, parse_location
from occgen.sources.celebamask import CelebAMaskHQ
from occgen.sources.face_common import (
    CELEBAMASK_PARTS,
    DEFAULT_FACE_PARTS,
    DEFAULT_OCCLUDING_PARTS,
    Face,
    FaceMemo,
    FacesConfig,
    FaceSource,
    face_mask_from_parts,
    fit_square,
    fit_square_labels,
    read_id_list,
)
from occgen.sources.face_layouts import FACE_LAYOUTS, PUBLIC_LAYOUTS, detect_layout, open_layout
from occgen.sources.landmark_files import FaceLandmarks, landmark_file, landmarks_beside
from occgen.sources.remote import UrlRoot, local_path, open_root

__all__ = [  # the sources of this module, and what face_common and celebamask define (imported from here too)
    "CELEBAMASK_PARTS", "DEFAULT_FACE_PARTS", "DEFAULT_OCCLUDING_PARTS", "FACE_LAYOUTS", "CelebAMaskHQ", "Face",
    "FaceFolder", "FaceMemo", "FaceSource", "FacesConfig", "StoreFaces", "face_mask_from_parts", "fit_square",
    "fit_square_labels", "open_faces", "read_id_list",
]  # fmt: skip


@dataclass
class FaceFolder(UrlRoot):
    """A folder of ``images/<stem>.{jpg,png}`` with ``masks/<stem>.png`` (0/1 or 0/255)."""

    root: Path
    split: Path | None = None
    licence: str = "user-supplied"
    name: str = "folder"
    _pairs: list[tuple[Path, Path]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = require_dir(self._local_root(self.root), "face folder", "pass a folder holding images/ and masks/")
        images_dir = require_dir(self.root / "images", "face images folder", "a face folder needs images/<stem>.jpg")
        masks_dir = require_dir(self.root / "masks", "face masks folder", "a face folder needs masks/<stem>.png")
        images = list_images(images_dir)
        if self.split is not None:
            wanted = set(read_id_list(Path(self.split)))
            images = [p for p in images if p.stem in wanted]
        if not images:
            raise SourceError(f"no images (.jpg/.png) in {images_dir}")
        stems = [p.stem for p in images]
        if len(set(stems)) != len(stems):
            raise SourceError(f"{images_dir}: several images share a stem; keep one file per stem")
        missing = [p.name for p in images if not (masks_dir / f"{p.stem}.png").is_file()]
        if missing:
            raise SourceError(
                f"{len(missing)} image(s) in {images_dir} have no mask in {masks_dir} "
                f"(e.g. {missing[0]} needs masks/{Path(missing[0]).stem}.png)"
            )
        self._pairs = [(p, masks_dir / f"{p.stem}.png") for p in images]

    def __len__(self) -> int:
        return len(self._pairs)

    def face_id(self, index: int) -> str:
        return self._pairs[index][0].stem

    def paths(self, index: int) -> tuple[Path, Path]:
        """``(image file, mask file)`` of face ``index``, for readers that keep each image's own size."""
        return self._pairs[index]

    def load(self, index: int, size: int) -> Face:
        image_path, mask_path = self.paths(index)
        image = read_image(image_path)
        face_mask = read_binary_mask(mask_path)
        if image.shape[:2] != face_mask.shape:
            raise SourceError(
                f"mask {mask_path} is {face_mask.shape[1]}x{face_mask.shape[0]} but image {image_path} is "
                f"{image.shape[1]}x{image.shape[0]}: a mask must match its image"
            )
        image, face_mask = fit_square(image, face_mask, size)
        return Face(image_path.stem, image, face_mask)

    def load_parsing(self, index: int, size: int, face_mask: np.ndarray | None = None) -> np.ndarray:
        """``parsing/<stem>.png`` (parser-made ids, reconciled with the mask) or the generic face class;
        ``face_mask``: the mask as :meth:`load` gave it, which saves reading it again."""
        image_path, mask_path = self.paths(index)
        parsing_path = self.root / "parsing" / f"{image_path.stem}.png"
        if not parsing_path.is_file():
            if face_mask is None:
                face_mask = fit_square_labels(read_binary_mask(mask_path), size)
            return generic_parsing(face_mask)
        mask = read_binary_mask(mask_path)  # the parsing map is checked against the mask's own size
        face_mask = fit_square_labels(mask, size) if face_mask is None else face_mask
        labels = read_labels(parsing_path)
        if labels.shape != mask.shape or int(labels.max()) >= len(PARSING_CLASSES):
            raise SourceError(
                f"{parsing_path}: a parsing map must match its mask's size and hold ids < {len(PARSING_CLASSES)} "
                f"(got {labels.shape}, max {int(labels.max())}); re-run `occgen faces masks --method parser`"
            )
        return reconcile_parsing(fit_square_labels(labels, size), face_mask, face_class_ids(DEFAULT_FACE_PARTS))

    def load_landmarks(self, index: int, size: int) -> FaceLandmarks | None:
        """The face's own landmarks at ``size`` from its landmark file (:mod:`occgen.sources.landmark_files`);
        None when it has none."""
        return landmarks_beside(self.paths(index)[0], size)

    def files(self) -> list[Path]:
        """Every file that can feed a sample: each image, its mask, its ``parsing/`` map and its landmark file if
        present."""
        parsing_dir = self.root / "parsing"
        parsing = {p.name for p in parsing_dir.iterdir() if p.is_file()} if parsing_dir.is_dir() else set()
        maps = [parsing_dir / name for image, _ in self._pairs if (name := f"{image.stem}.png") in parsing]
        points = [path for image, _ in self._pairs if (path := landmark_file(image)) is not None]
        return [*(f for pair in self._pairs for f in pair), *maps, *points]

    def describe(self) -> dict[str, str | int]:
        return {
            "kind": self.name,
            "root": self.root_label(self.root),
            "count": len(self),
            "fingerprint": fingerprint_files(self.root, self.files()),
            "licence": self.licence,
        }


@dataclass
class StoreFaces:
    """Faces read from an occgen store (e.g. one written by ``occgen generate faces``): image and visible
    face mask of each sample. Picklable: the store is reopened lazily in each worker. ``root`` may be a
    store at a URL (a :class:`~occgen.core.location.Location`), read in place."""

    root: Path | Location
    name: str = "store"

    def __post_init__(self) -> None:
        from occgen.store.schema import METADATA, ShardReader

        self.root = self.root if isinstance(self.root, Location) else Path(self.root)
        reader = ShardReader(self.root)
        self._card = reader.card
        metadata = np.asarray(reader.arrays(METADATA)[:])
        self._ids = [json.loads(str(text)).get("face_id", str(i)) for i, text in enumerate(metadata)]
        self._reader: Any = reader

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_reader": None}

    def __len__(self) -> int:
        return len(self._ids)

    def face_id(self, index: int) -> str:
        return self._ids[index]

    def load(self, index: int, size: int) -> Face:
        if self._reader is None:
            from occgen.store.schema import ShardReader

            self._reader = ShardReader(self.root)
        sample = self._reader[index]
        image, face_mask = fit_square(sample.image, sample.face_mask, size)
        return Face(self._ids[index], image, face_mask)

    def load_parsing(self, index: int, size: int, face_mask: np.ndarray | None = None) -> np.ndarray:
        """The store's ``parsing`` array (occluder classes, if any, become background), else generic;
        ``face_mask``: the mask as :meth:`load` gave it, which saves reading the sample again."""
        if self._reader is None:
            from occgen.store.schema import ShardReader

            self._reader = ShardReader(self.root)
        if face_mask is None:
            face_mask = fit_square_labels(self._reader[index].face_mask, size)
        if "parsing" not in self._reader.group:
            return generic_parsing(face_mask)
        parsing = fit_square_labels(np.asarray(self._reader.arrays("parsing")[index]), size)
        parsing[parsing > GENERIC_FACE] = 0
        stored_classes = self._card.get("labels", {}).get("parsing", {}).get("face_classes")
        classes = tuple(stored_classes) if stored_classes else face_class_ids(DEFAULT_FACE_PARTS)
        return reconcile_parsing(parsing, face_mask, classes)

    def describe(self) -> dict[str, str | int]:
        from occgen.store.schema import card_digest

        licence = self._card.get("sources", {}).get("faces", {}).get("licence", "see the store's card")
        return {"kind": self.name, "root": str(self.root), "count": len(self),
                "fingerprint": card_digest(self._card), "licence": licence}  # fmt: skip


def open_faces(
    path: Path | None,
    *,
    layout: str = "auto",
    split: Path | None = None,
    corrected_masks: Path | None = None,
    face_parts: tuple[str, ...] = DEFAULT_FACE_PARTS,
    occluding_parts: tuple[str, ...] = DEFAULT_OCCLUDING_PARTS,
) -> FaceSource:
    """Open a face dataset; ``path=None`` opens the embedded demo faces.

    ``layout="auto"`` recognises an occgen store, CelebAMask-HQ by its ``CelebA-HQ-img`` folder, the public
    parsing layouts of :mod:`occgen.sources.face_layouts` (LFW Part Labels, FASSEG, LaPa, HELEN (two layouts), iBugMask,
    the CelebAMask-HQ challenge layout), else expects a face folder; a folder that looks like two layouts is
    refused with their names (pass ``layout``, ``--faces-format``). For the public layouts ``split`` is a
    file of face ids or the name of an official split (``train``, ``test``...). ``path`` may be a URL
    (``s3://bucket/faces``): the folder is copied into the local cache once (:mod:`occgen.sources.folder_cache`)
    and recorded by its URL.
    """
    if path is None:
        return FaceFolder(demo_root() / "faces", licence=DEMO_LICENCE)
    if layout in ("auto", "store") and (isinstance(path, Location) or is_url(path)):
        from occgen.store.schema import is_store

        location = parse_location(path)
        if not location.is_local and is_store(location):
            return StoreFaces(location)  # a store at a URL is read in place, not copied
    root = open_root(path)
    path = local_path(root)
    if layout == "auto":
        from occgen.store.schema import is_store

        layout = "store" if is_store(path) else detect_layout(path)
    if layout in PUBLIC_LAYOUTS:
        if corrected_masks is not None:
            raise ConfigError(f"corrected_masks applies to CelebAMask-HQ only; {layout} faces come with their labels")
        return open_layout(layout, root, split, tuple(face_parts))
    if layout == "store":
        return StoreFaces(path)
    if layout == "celebamask-hq":
        return CelebAMaskHQ(root, split, corrected_masks, tuple(face_parts), tuple(occluding_parts))  # type: ignore[arg-type]
    if layout == "folder":
        if corrected_masks is not None:
            raise ConfigError("corrected_masks applies to CelebAMask-HQ only; a face folder's masks are its own")
        return FaceFolder(root, split)  # type: ignore[arg-type]
    raise ConfigError(f"unknown face layout {layout!r}; valid: auto, {', '.join(FACE_LAYOUTS)}")
