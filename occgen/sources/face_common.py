"""What every face source shares: the :class:`Face` sample, the :class:`FaceSource` protocol, the face
config, CelebAMask-HQ's part names and the face/occluding split, the letterboxing and part-mask helpers, and
:class:`FaceMemo`, the per-process LRU of decoded faces that recipes load faces through (a face used by
several samples of a task is decoded once).

The sources themselves: :mod:`occgen.sources.celebamask` (CelebAMask-HQ) and :mod:`occgen.sources.faces`
(face folders, stores, and :func:`~occgen.sources.faces.open_faces`, which picks one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from occgen.core.arrays import check_image, check_mask
from occgen.core.errors import ConfigError, SourceError
from occgen.core.geometry import letterbox
from occgen.core.labels import generic_parsing
from occgen.sources.cache import CutoutCache
from occgen.sources.landmark_files import FaceLandmarks

#: All 18 part names of CelebAMask-HQ's annotation files.
CELEBAMASK_PARTS = (
    "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
    "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)  # fmt: skip
DEFAULT_FACE_PARTS = ("skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "mouth", "u_lip", "l_lip")
DEFAULT_OCCLUDING_PARTS = ("eye_g", "hair", "hat", "cloth", "ear_r", "neck_l")


@dataclass(frozen=True, kw_only=True)
class FacesConfig:
    """Where the faces come from (``params.yaml`` section ``faces``)."""

    path: Path | None = None  # None: the embedded demo faces
    layout: str = "auto"  # auto, or a name of occgen.sources.face_layouts.FACE_LAYOUTS (--faces-format)
    split: Path | None = None
    corrected_masks: Path | None = None
    face_parts: tuple[str, ...] = DEFAULT_FACE_PARTS
    occluding_parts: tuple[str, ...] = DEFAULT_OCCLUDING_PARTS


@dataclass(frozen=True)
class Face:
    """One face at the dataset size: ``image`` uint8 (S, S, 3), ``face_mask`` uint8 (S, S) in {0, 1}."""

    face_id: str
    image: np.ndarray
    face_mask: np.ndarray

    def __post_init__(self) -> None:
        check_image(self.image, f"face {self.face_id} image")
        check_mask(self.face_mask, f"face {self.face_id} face_mask")


class FaceSource(Protocol):
    """What the generators need from a face dataset."""

    name: str

    def __len__(self) -> int: ...

    def face_id(self, index: int) -> str: ...

    def load(self, index: int, size: int) -> Face: ...

    def load_parsing(self, index: int, size: int, face_mask: np.ndarray | None = None) -> np.ndarray: ...

    def describe(self) -> dict[str, str | int]: ...


#: Decoded faces kept per process by :class:`FaceMemo`: a 512² face (image, mask and parsing) is about
#: 1.3 MB, so a shard's faces fit many times over; the paired NatOcc default needs only the last one.
FACE_MEMO_MB = 64.0


def _frozen(array: np.ndarray) -> np.ndarray:
    """``array`` made read-only: a cached face is shared by several samples, none may write into it."""
    array.flags.writeable = False
    return array


class FaceMemo:
    """A face source (itself one) that keeps the decoded faces and parsing maps of ``faces`` per process
    (least recently used first out, bounded by ``budget_mb`` of array bytes; 0 keeps nothing), keyed by
    ``(face index, size)``.

    Recipes load faces through it: NatOcc's paired samples ``2k`` and ``2k + 1`` use the same face, and a
    shard task makes its samples in index order, so the second one finds it decoded. The arrays it returns
    are read-only (shared by samples); results equal the source's own. Pickling keeps the budget and drops
    the entries (a dask worker starts empty)."""

    def __init__(self, faces: FaceSource, budget_mb: float = FACE_MEMO_MB) -> None:
        self.faces = faces
        self.name = faces.name
        self._cache = CutoutCache(budget_mb)

    def __len__(self) -> int:
        return len(self.faces)

    def face_id(self, index: int) -> str:
        return self.faces.face_id(index)

    def describe(self) -> dict[str, str | int]:
        return self.faces.describe()

    def load(self, index: int, size: int) -> Face:
        key = ("face", index, size)
        face = self._cache.get(key)
        if face is None:
            loaded = self.faces.load(index, size)
            face = Face(loaded.face_id, _frozen(loaded.image), _frozen(loaded.face_mask))
            self._cache.put(key, face)
        return face

    def load_landmarks(self, index: int, size: int) -> FaceLandmarks | None:
        """The source's ``load_landmarks`` (:mod:`occgen.sources.landmark_files`), or None when it has none."""
        loader = getattr(self.faces, "load_landmarks", None)
        return None if loader is None else loader(index, size)

    def load_parsing(self, index: int, size: int, face_mask: np.ndarray | None = None) -> np.ndarray:
        """The source's ``load_parsing`` (read-only, callers copy before writing), decoded once per face."""
        key = ("parsing", index, size)
        parsing = self._cache.get(key)
        if parsing is None:
            loader = getattr(self.faces, "load_parsing", None)
            if loader is None:  # a source without parsing maps: the generic face class, as face_parsing_loader
                return generic_parsing(self.load(index, size).face_mask if face_mask is None else face_mask)
            parsing = self._cache.put(key, _frozen(loader(index, size, face_mask)))
        return parsing


def fit_square_labels(labels: np.ndarray, size: int) -> np.ndarray:
    """Letterbox a label map like :func:`fit_square` does its mask (0 in the padding), resize nearest."""
    return letterbox(np.asarray(labels, np.uint8), size, labels=True)[0]


def fit_square(image: np.ndarray, face_mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Letterbox to a square (image black, label 0 in the padding), then resize to ``size``²."""
    return letterbox(np.asarray(image, np.uint8), size)[0], fit_square_labels(face_mask, size)


def face_mask_from_parts(
    parts: dict[str, np.ndarray], face_parts: tuple[str, ...], occluding_parts: tuple[str, ...]
) -> np.ndarray:
    """Visible face = union of ``face_parts`` minus union of ``occluding_parts`` (uint8 {0, 1}).

    ``parts`` maps part name to a {0, 1} mask; absent parts are simply missing (as in CelebAMask-HQ).
    """
    if not parts:
        raise SourceError("no part masks given")
    shape = next(iter(parts.values())).shape
    face = np.zeros(shape, bool)
    for name in face_parts:
        if name in parts:
            face |= parts[name].astype(bool)
    for name in occluding_parts:
        if name in parts:
            face &= ~parts[name].astype(bool)
    return face.astype(np.uint8)


def check_part_names(names: tuple[str, ...], param: str) -> None:
    unknown = [name for name in names if name not in CELEBAMASK_PARTS]
    if unknown:
        raise ConfigError(f"{param}: unknown CelebAMask-HQ part(s) {unknown}; valid: {', '.join(CELEBAMASK_PARTS)}")


def read_id_list(path: Path) -> list[str]:
    """Read a split file: one id per line (``123`` or ``123.jpg``); blank lines and ``#`` comments skipped."""
    if not Path(path).is_file():
        raise SourceError(f"split file not found: {path}; pass an existing text file of ids, one per line")
    ids = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.append(Path(line).stem)
    if not ids:
        raise SourceError(f"split file {path} lists no ids")
    return ids
