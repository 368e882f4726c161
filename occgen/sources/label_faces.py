"""What the public face-parsing layouts share: a face source over ``(image, label map)`` file pairs whose
label classes are mapped onto occgen's parsing ids (:mod:`occgen.core.labels`), and the decoders of their
label files (index PNGs, palette PNGs, colour-coded images snapped to their class colours).

Where it sits: under :mod:`occgen.sources.faces` (``open_faces`` picks a layout through
:mod:`occgen.sources.face_layouts`); each layout family is one module (:mod:`occgen.sources.lfw_parts`,
:mod:`occgen.sources.fasseg`, :mod:`occgen.sources.parsing_sets`) holding a :class:`LabelMapFaces` subclass
that says where its files are and what its classes mean.

The visible-face rule is the one of CelebAMask-HQ (:mod:`occgen.sources.faces`): a pixel is face where its
mapped parsing id is one of the face parts (``faces.face_parts``, default skin, brows, eyes, nose, mouth,
lips) or :data:`~occgen.core.labels.GENERIC_FACE`. A native class that has no CelebAMask-HQ part of the same
extent maps to ``GENERIC_FACE`` (face) or to background; what each layout cannot express is its
``limits`` text, written into the store card by :meth:`LabelMapFaces.describe`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from occgen.core.errors import ConfigError, SourceError
from occgen.core.files import require_dir
from occgen.core.fingerprint import fingerprint_files
from occgen.core.imageio import read_image
from occgen.core.labels import PARSING_CLASSES, face_class_ids, reconcile_parsing
from occgen.sources.face_common import (
    DEFAULT_FACE_PARTS,
    Face,
    check_part_names,
    fit_square,
    fit_square_labels,
    read_id_list,
)
from occgen.sources.landmark_files import FaceLandmarks, landmark_file, landmarks_beside
from occgen.sources.remote import UrlRoot

#: Pixels of a colour-coded label further than this (RGB Euclidean distance) from every class colour mean
#: the file is not a label image of that layout (anti-aliased edges blend two neighbouring colours and stay
#: well inside: half the distance between red and dark red is 64).
COLOUR_TOLERANCE = 160.0


@dataclass(frozen=True)
class LabelledFace:
    """One face of a layout: its id (unique in the source, ``<split>/<stem>`` where the layout has splits),
    its image file and its label file."""

    face_id: str
    image: Path
    labels: Path
    split: str = ""


def read_index_map(path: Path) -> np.ndarray:
    """A label file holding class ids -> ``uint8 (H, W)``: a palette PNG's indices (not its colours), a grey
    image's values, or an RGB image whose three channels agree. Anything else names the file."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"label file not found: {path}; restore it or remove its image from the folder")
    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.asarray(image)
    except (OSError, ValueError, SyntaxError) as error:
        raise SourceError(f"cannot decode label file {path} ({error}); replace or remove it") from None
    if mode in ("P", "L") and array.dtype == np.uint8 and array.ndim == 2:
        return array
    if mode == "RGB" and bool((array[..., 0] == array[..., 1]).all() and (array[..., 0] == array[..., 2]).all()):
        return np.ascontiguousarray(array[..., 0])
    raise SourceError(
        f"{path}: a label map must be an 8-bit palette or grey PNG of class ids, got mode {mode} {array.shape}"
    )


def snap_to_colours(
    rgb: np.ndarray, colours: np.ndarray, path: Path, tolerance: float | None = COLOUR_TOLERANCE
) -> np.ndarray:
    """Each pixel of ``rgb`` (uint8 (H, W, 3)) -> the index of the nearest of ``colours`` (uint8 (K, 3)),
    as ``uint8 (H, W)``: anti-aliased edges (blends of two class colours) go to the nearer class. A pixel
    further than ``tolerance`` from every class colour raises, naming ``path`` (None: every pixel snaps)."""
    flat = rgb.reshape(-1, 3)
    table = colours.astype(np.int32)
    # Most pixels carry a class colour exactly: match those by a packed 24-bit key (one compare per class),
    # measure distances only for the rest (the anti-aliased edges).
    keys = (flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8) | flat[:, 2]
    nearest = np.zeros(len(flat), np.uint8)
    exact = np.zeros(len(flat), bool)
    for index, (r, g, b) in enumerate(table.tolist()):
        hit = keys == ((r << 16) | (g << 8) | b)
        nearest[hit] = index
        exact |= hit
    rest = np.flatnonzero(~exact)
    pixels = flat[rest].astype(np.int32)
    best = np.full(len(rest), np.iinfo(np.int32).max, np.int32)
    for index, colour in enumerate(table):  # K passes of integer maths over the blended pixels only
        distance = ((pixels - colour) ** 2).sum(axis=1, dtype=np.int32)
        closer = distance < best
        best[closer] = distance[closer]
        nearest[rest[closer]] = index
    if tolerance is None:
        return nearest.reshape(rgb.shape[:2])
    worst = float(np.sqrt(best.max(initial=0)))
    if worst > tolerance:
        raise SourceError(
            f"{path}: a pixel's colour is {worst:.0f} away from every class colour "
            f"({', '.join(map(str, map(tuple, colours.tolist())))}); not a label image of this layout"
        )
    return nearest.reshape(rgb.shape[:2])


def split_dirs(root: Path, splits: tuple[str, ...], wanted: str | None) -> list[tuple[str, Path]]:
    """``(split, folder)`` of the official splits present under ``root`` (only ``wanted`` if given); a
    root that is itself one split's folder is ``[("", root)]``."""
    present = [(name, root / name) for name in splits if (root / name).is_dir()]
    if not present:
        if wanted is not None:
            raise SourceError(f"{root} holds no split folders ({', '.join(splits)}), so split {wanted!r} cannot "
                              "be chosen; pass the dataset's root or drop --split")  # fmt: skip
        return [("", root)]
    if wanted is None:
        return present
    chosen = [(name, folder) for name, folder in present if name == wanted]
    if not chosen:
        raise SourceError(f"split {wanted!r} not found under {root}: present are {', '.join(n for n, _ in present)}")
    return chosen


def face_id(split: str, stem: str) -> str:
    return f"{split}/{stem}" if split else stem


@dataclass
class LabelMapFaces(UrlRoot, ABC):
    """A face source over a layout's ``(image, label map)`` pairs (see the module docstring).

    ``split``: an official split name of the layout (its ``splits``), None for every face; ``id_file``: a
    text file of face ids (or stems) to keep, one a line; ``face_parts``: the CelebAMask-HQ part names that
    count as face. Subclasses set the class attributes and implement :meth:`find_faces` (and
    :meth:`native_labels` unless their label files are index PNGs)."""

    root: Path
    split: str | None = None
    id_file: Path | None = None
    face_parts: tuple[str, ...] = DEFAULT_FACE_PARTS
    name: str = ""
    _faces: list[LabelledFace] = field(init=False, repr=False)

    #: The layout's name (``--faces-format``), a title for messages, its official splits.
    layout: ClassVar[str] = ""
    title: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ()
    #: Native class names in id order, and the occgen parsing id each maps to.
    native_classes: ClassVar[tuple[str, ...]] = ()
    parsing_ids: ClassVar[tuple[int, ...]] = ()
    #: What the layout cannot express about occgen's face definition (docs/faces.md says it too).
    limits: ClassVar[str] = ""
    licence: ClassVar[str] = ""
    #: Where the layout facts come from.
    reference: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.layout
        self.root = require_dir(self._local_root(self.root), f"{self.title} folder", f"pass the {self.title} root")
        check_part_names(tuple(self.face_parts), "face_parts")
        if self.split is not None and self.split not in self.splits:
            raise ConfigError(f"--split {self.split}: {self.title} splits are {', '.join(self.splits)}")
        faces = self.find_faces(self.split)
        if self.id_file is not None:
            faces = self._listed_faces(faces, Path(self.id_file))
        if not faces:
            raise SourceError(f"no labelled faces found in {self.root} ({self.title} layout"
                              + (f", split {self.split}" if self.split else "") + ")")  # fmt: skip
        self._faces = faces
        lut = np.full(256, 255, np.uint8)
        lut[: len(self.parsing_ids)] = self.parsing_ids
        self._lut = lut
        self._face_classes = face_class_ids(tuple(self.face_parts))

    def _listed_faces(self, faces: list[LabelledFace], id_file: Path) -> list[LabelledFace]:
        """The faces ``id_file`` lists; an id that names no face is an error (never a silently smaller set)."""
        ids = read_id_list(id_file)
        known = {f.face_id for f in faces} | {Path(f.face_id).name for f in faces}
        unknown = [i for i in ids if i not in known]
        if unknown and faces:
            raise SourceError(
                f"split file {id_file}: {len(unknown)} of {len(ids)} ids name no {self.title} face"
                + (f" of split {self.split}" if self.split else "")
                + f" (e.g. {unknown[0]!r}); write ids as the layout names its faces (e.g. {faces[0].face_id!r})"
            )
        wanted = set(ids)
        return [f for f in faces if f.face_id in wanted or Path(f.face_id).name in wanted]

    @abstractmethod
    def find_faces(self, split: str | None) -> list[LabelledFace]:
        """Every labelled face of ``split`` (None: of every split), in a stable order; a missing partner
        file raises, naming it."""

    def native_labels(self, face: LabelledFace) -> np.ndarray:
        """The label file as native class ids, ``uint8 (H, W)`` (here: an index or palette PNG)."""
        return read_index_map(face.labels)

    def __len__(self) -> int:
        return len(self._faces)

    def face_id(self, index: int) -> str:
        return self._faces[index].face_id

    def labelled_face(self, index: int) -> LabelledFace:
        return self._faces[index]

    def parsing_native_size(self, index: int) -> np.ndarray:
        """Face ``index``'s label map as occgen parsing ids at the file's own size (uint8 (H, W))."""
        face = self._faces[index]
        native = self.native_labels(face)
        top = int(native.max(initial=0))
        if top >= len(self.parsing_ids):
            raise SourceError(
                f"{face.labels}: class id {top} is not a {self.title} class (ids 0..{len(self.parsing_ids) - 1}: "
                f"{', '.join(self.native_classes)}); check --faces-format or replace the file"
            )
        return self._lut[native]

    def load(self, index: int, size: int) -> Face:
        face = self._faces[index]
        image = read_image(face.image)
        parsing = self.parsing_native_size(index)
        if image.shape[:2] != parsing.shape:
            raise SourceError(
                f"label file {face.labels} is {parsing.shape[1]}x{parsing.shape[0]} but image {face.image} is "
                f"{image.shape[1]}x{image.shape[0]}: a label map must match its image"
            )
        face_mask = np.isin(parsing, self._face_classes).astype(np.uint8)
        image, face_mask = fit_square(image, face_mask, size)
        return Face(face.face_id, image, face_mask)

    def load_parsing(self, index: int, size: int, face_mask: np.ndarray | None = None) -> np.ndarray:
        """The mapped parsing map at ``size``² (letterboxed like :meth:`load`); it agrees with the face mask
        by construction (both come from the same label file); a ``face_mask`` given wins (as in every source)."""
        parsing = fit_square_labels(self.parsing_native_size(index), size)
        return parsing if face_mask is None else reconcile_parsing(parsing, face_mask, self._face_classes)

    def load_landmarks(self, index: int, size: int) -> FaceLandmarks | None:
        """The face's shipped landmarks at ``size`` (:mod:`occgen.sources.landmark_files`: iBugMask's
        ``<stem>_landmark.txt``; LaPa's 106 points have no scheme yet), or None."""
        return landmarks_beside(self._faces[index].image, size)

    def files(self) -> list[Path]:
        """Every file that can feed a sample: each image, its label file and its landmark file if present (its
        points place anchored occluders and fill the ``landmarks`` label)."""
        points = [path for face in self._faces if (path := landmark_file(face.image)) is not None]
        return [*(path for face in self._faces for path in (face.image, face.labels)), *points]

    def class_map(self) -> dict[str, str]:
        """Native class name -> occgen parsing class name (what the card records)."""
        return {native: PARSING_CLASSES[pid] for native, pid in zip(self.native_classes, self.parsing_ids, strict=True)}

    def describe(self) -> dict[str, Any]:
        face = [n for n, pid in zip(self.native_classes, self.parsing_ids, strict=True) if pid in self._face_classes]
        return {
            "kind": self.name,
            "root": self.root_label(self.root),
            "count": len(self),
            "split": self.split or "all",
            "fingerprint": fingerprint_files(self.root, self.files()),
            "face_parts": list(self.face_parts),
            "face_classes": face,
            "class_map": self.class_map(),
            "cannot_express": self.limits,
            "layout_reference": self.reference,
            "licence": self.licence,
        }
