"""Landmark schemes: each set of points a face can come with, its point names, its mirror permutation, and how
its points give the ``occgen-parsing-13`` anchors (eyes, brows, nose, mouth, chin) that anchored placement and
the five-point crops read; and the landmark files beside a face image.

Where it sits: the bottom layer (numpy and file reads only). :mod:`occgen.sources.landmark_files` finds a face's
file and scales its points to the dataset size; :mod:`occgen.core.landmarks` derives ``occgen-parsing-13`` from
a parsing map when a face has no file.

Schemes (:data:`SCHEMES`). ``left``/``right`` in point names are the *subject's* sides (CelebAMask-HQ's
``l_``/``r_``: ``left_eye`` is on the image right of an upright, unmirrored face), except the five-point
scheme, whose names say the image side (the order facefusion and InsightFace use):

- ``occgen-parsing-13``: :data:`occgen.core.labels.LANDMARK_NAMES`, derived from a parsing map.
- ``ibug-68``: the iBUG 300-W markup (0-based rows): jaw 0-16 (``jaw_1`` .. ``jaw_17`` from the image left; 8 is
  the chin), right brow 17-21, left brow 22-26, nose bridge 27-30, nose base 31-35, right eye 36-41, left eye
  42-47, outer lip 48-59 (48 the image-left corner), inner lip 60-67. Anchors: eye centres = means of the six
  eye points, brows = means of the five, ``nose_center`` = 30 (the tip), ``mouth_center`` = mean of the outer
  lip, corners 54 (left) and 48 (right), ``upper_lip`` = mean of 50-52 and 61-63, ``lower_lip`` = mean of 56-58
  and 65-67, ``chin`` = 8, ``jaw_left`` / ``jaw_right`` = 12 / 4 (the jaw near the mouth's height: an
  approximation of the parsing scheme's skin extremes at the mouth line).
- ``five-point``: :data:`occgen.core.alignment.FIVE_POINT_NAMES` (eye image-left, eye image-right, nose tip,
  mouth corner image-left, mouth corner image-right). Anchors: ``left_eye`` = the image-right eye,
  ``mouth_center`` = the corners' midpoint.

Landmark files (:func:`read_landmark_file`): ``.txt`` lines ``x y`` (commas allowed), optionally after one line
holding the point count (LaPa's ``landmarks/<stem>.txt`` starts so); ``.pts`` the iBUG / 300-W file
(``version: 1``, ``n_points: 68``, ``{``, lines ``x y``, ``}``; 300-W's coordinates are 1-based, used as given).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from occgen.core.alignment import FIVE_POINT_NAMES
from occgen.core.errors import ConfigError, SourceError
from occgen.core.labels import LANDMARK_FLIP_PERM, LANDMARK_NAMES, LANDMARK_SCHEME

FIVE_POINT_SCHEME = "five-point"
IBUG68_SCHEME = "ibug-68"


@dataclass(frozen=True, kw_only=True)
class LandmarkScheme:
    """A named set of ``names`` points (stored in this order as float32 (K, 2) x, y); after a mirroring op point
    ``i`` is the old point ``flip_perm[i]``; ``parsing13[j]``: the point indices whose mean gives
    ``LANDMARK_NAMES[j]`` (empty: this scheme has no such point)."""

    name: str
    names: tuple[str, ...]
    flip_perm: tuple[int, ...]
    parsing13: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        count = len(self.names)
        if sorted(self.flip_perm) != list(range(count)) or len(self.parsing13) != len(LANDMARK_NAMES):
            raise ConfigError(f"landmark scheme {self.name}: flip_perm or parsing13 does not fit {count} points")

    def as_parsing13(self, points: np.ndarray) -> np.ndarray:
        """float32 (13, 2): the ``occgen-parsing-13`` points this scheme's ``points`` (K, 2) give; NaN where it
        has none (or a source point is NaN)."""
        array = np.asarray(points, np.float64)
        if array.shape != (len(self.names), 2):
            raise SourceError(f"{self.name} landmarks: expected ({len(self.names)}, 2) x, y points, got {array.shape}")
        out = np.full((len(LANDMARK_NAMES), 2), np.nan)
        for j, rows in enumerate(self.parsing13):
            if rows:
                out[j] = array[list(rows)].mean(axis=0)
        return out.astype(np.float32)


def _at(**rows: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    unknown = set(rows) - set(LANDMARK_NAMES)
    if unknown:
        raise ConfigError(f"not occgen-parsing-13 points: {sorted(unknown)}")
    return tuple(rows.get(name, ()) for name in LANDMARK_NAMES)


def _ibug68() -> LandmarkScheme:
    names = (
        [f"jaw_{i + 1}" for i in range(17)] + [f"right_brow_{i + 1}" for i in range(5)]
        + [f"left_brow_{i + 1}" for i in range(5)] + [f"nose_bridge_{i + 1}" for i in range(4)]
        + [f"nose_base_{i + 1}" for i in range(5)] + [f"right_eye_{i + 1}" for i in range(6)]
        + [f"left_eye_{i + 1}" for i in range(6)] + [f"outer_lip_{i + 1}" for i in range(12)]
        + [f"inner_lip_{i + 1}" for i in range(8)]
    )  # fmt: skip
    # Mirror pairs of the 300-W markup (0-based); unlisted points map to themselves.
    pairs = [(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)] + [(31, 35), (32, 34)]
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]
    perm = list(range(68))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    parsing13 = _at(
        left_eye=tuple(range(42, 48)), right_eye=tuple(range(36, 42)), left_brow=tuple(range(22, 27)),
        right_brow=tuple(range(17, 22)), nose_center=(30,), mouth_center=tuple(range(48, 60)), mouth_left=(54,),
        mouth_right=(48,), upper_lip=(50, 51, 52, 61, 62, 63), lower_lip=(56, 57, 58, 65, 66, 67), chin=(8,),
        jaw_left=(12,), jaw_right=(4,),
    )  # fmt: skip
    return LandmarkScheme(name=IBUG68_SCHEME, names=tuple(names), flip_perm=tuple(perm), parsing13=parsing13)


SCHEMES: dict[str, LandmarkScheme] = {
    scheme.name: scheme
    for scheme in (
        LandmarkScheme(
            name=LANDMARK_SCHEME, names=LANDMARK_NAMES, flip_perm=LANDMARK_FLIP_PERM,
            parsing13=tuple((j,) for j in range(len(LANDMARK_NAMES))),
        ),
        _ibug68(),
        LandmarkScheme(
            name=FIVE_POINT_SCHEME, names=FIVE_POINT_NAMES, flip_perm=(1, 0, 2, 4, 3),
            parsing13=_at(left_eye=(1,), right_eye=(0,), nose_center=(2,), mouth_center=(3, 4), mouth_left=(4,),
                          mouth_right=(3,)),
        ),
    )
}  # fmt: skip
#: A file's point count -> its scheme.
SCHEME_BY_COUNT = {68: IBUG68_SCHEME, 5: FIVE_POINT_SCHEME}


def get_scheme(name: str) -> LandmarkScheme:
    """The scheme called ``name``; an unknown name lists the valid ones."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise ConfigError(f"unknown landmark scheme {name!r}; valid: {', '.join(SCHEMES)}") from None


def read_landmark_file(path: Path) -> np.ndarray:
    """float64 (K, 2) x, y points of a ``.txt`` or iBUG ``.pts`` file (module docstring), as written."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise SourceError(f"cannot read landmarks file {path}: {error.strerror or error}") from error
    if Path(path).suffix == ".pts":
        try:
            lines = lines[lines.index("{") + 1 : lines.index("}")]
        except ValueError:
            raise SourceError(f"{path}: not an iBUG .pts file (no '{{' ... '}}' block of points)") from None
    rows = [line.replace(",", " ").split() for line in lines if line.strip()]
    if rows and len(rows[0]) == 1 and rows[0][0].isdigit():  # LaPa: the count first
        count, rows = int(rows[0][0]), rows[1:]
        if count != len(rows):
            raise SourceError(f"{path}: the first line says {count} points but {len(rows)} follow")
    try:
        points = np.array([[float(row[0]), float(row[1])] for row in rows], dtype=np.float64).reshape(-1, 2)
    except (ValueError, IndexError):
        raise SourceError(f"{path}: expected lines of 'x y' numbers") from None
    if not np.isfinite(points).all():
        raise SourceError(f"{path}: a point is not a finite number")
    return points


def scheme_of_file(path: Path, points: np.ndarray) -> LandmarkScheme:
    """The scheme of a file's ``points`` by their count (68: ``ibug-68``, 5: ``five-point``); others raise."""
    name = SCHEME_BY_COUNT.get(len(points))
    if name is None:
        known = ", ".join(f"{count} ({scheme})" for count, scheme in SCHEME_BY_COUNT.items())
        raise SourceError(f"{path}: {len(points)} points is no scheme occgen reads; expected {known}")
    return SCHEMES[name]


#: Stored landmarks' point count -> scheme (a store's ``K`` names its scheme: 13, 68 or 5).
SCHEME_BY_STORED_COUNT = {len(scheme.names): scheme for scheme in SCHEMES.values()}


def scheme_of_points(points: np.ndarray) -> LandmarkScheme:
    """The scheme of stored landmarks (K, 2) by their count ``K`` (13, 68 or 5); another count raises."""
    count = int(np.asarray(points).shape[0])
    if count not in SCHEME_BY_STORED_COUNT:
        known = ", ".join(f"{k} ({scheme.name})" for k, scheme in SCHEME_BY_STORED_COUNT.items())
        raise SourceError(f"{count} landmarks per sample is no scheme occgen stores; expected {known}")
    return SCHEME_BY_STORED_COUNT[count]


def parsing13_of(points: np.ndarray) -> np.ndarray:
    """float32 (13, 2) ``occgen-parsing-13`` points of stored landmarks of any scheme (:func:`scheme_of_points`):
    what readers that need the eyes, nose and mouth corners take (five-point crops, DeepFaceLab alignment)."""
    return scheme_of_points(points).as_parsing13(points)
