"""A face's own landmarks, read from the files its dataset ships beside the image, in the face's dataset-size
frame (the letterbox and resize :func:`occgen.sources.face_common.fit_square` applies to the image).

Where it sits: the sources layer. A face source with landmark files answers ``load_landmarks(index, size)``
with a :class:`FaceLandmarks` (the scheme and its points); anchored placement (:mod:`occgen.recipes.natocc`)
takes the eyes and the mouth from it through :meth:`occgen.core.landmark_schemes.LandmarkScheme.as_parsing13`,
and falls back to the parsing-derived points when a face has no file.

Where the file is, for image ``<dir>/<stem>.<ext>`` in a face folder ``<root>/images/`` (first found wins):

1. ``<root>/landmarks/<stem>.txt`` or ``.pts`` (the layout ``occgen evaluate --crops`` reads, and LaPa's);
2. ``<dir>/<stem>.pts`` (iBUG / 300-W: the ``.pts`` beside the image);
3. ``<dir>/<stem>_landmark.txt`` (iBugMask's release; read as lines ``x y``).

File formats and schemes: :mod:`occgen.core.landmark_schemes`. A file whose point count is no scheme occgen
reads (LaPa's 106 points) counts as no file: the face keeps its parsing-derived points.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from occgen.core.geometry import Letterbox
from occgen.core.landmark_schemes import SCHEME_BY_COUNT, LandmarkScheme, read_landmark_file, scheme_of_file


@dataclass(frozen=True)
class FaceLandmarks:
    """``points`` float32 (K, 2) x, y in the dataset-size frame, in ``scheme``'s order."""

    scheme: LandmarkScheme
    points: np.ndarray


def landmark_file(image_path: Path) -> Path | None:
    """The landmark file of ``image_path`` (the module docstring's search order), or None."""
    image_path = Path(image_path)
    stem, folder = image_path.stem, image_path.parent
    candidates = [folder.parent / "landmarks" / f"{stem}{suffix}" for suffix in (".txt", ".pts")]
    candidates += [folder / f"{stem}.pts", folder / f"{stem}_landmark.txt"]
    return next((path for path in candidates if path.is_file()), None)


def fit_square_points(points: np.ndarray, shape: tuple[int, int], size: int) -> np.ndarray:
    """float32 (K, 2): ``points`` (x, y pixels of an (H, W) image, pixel centre at ``x = col``) moved as
    :func:`~occgen.core.geometry.letterbox` moves the image: onto the centred square, then resized to ``size``
    (``x' = (x + 0.5) x size / side - 0.5``)."""
    box = Letterbox.of(shape)
    square = np.asarray(points, np.float64) + np.array([box.left, box.top], np.float64)
    return ((square + 0.5) * (size / box.side) - 0.5).astype(np.float32)


def read_face_landmarks(image_path: Path, shape: tuple[int, int], size: int) -> FaceLandmarks | None:
    """The landmarks of the image at ``image_path`` (of ``shape`` (H, W)) at the dataset ``size``; None when it
    has no landmark file, or one of a point count no scheme has (LaPa's 106)."""
    path = landmark_file(image_path)
    if path is None:
        return None
    points = read_landmark_file(path)
    if len(points) not in SCHEME_BY_COUNT:
        return None
    return FaceLandmarks(scheme_of_file(path, points), fit_square_points(points, shape, size))


def landmarks_beside(image_path: Path, size: int) -> FaceLandmarks | None:
    """The face's own points from the landmark file beside ``image_path`` (:func:`landmark_file`), moved into the
    ``size`` x ``size`` letterboxed frame; None without a file. Reads only the image's header for its size."""
    from PIL import Image

    if landmark_file(image_path) is None:
        return None
    with Image.open(image_path) as image:
        width, height = image.size
    return read_face_landmarks(image_path, (height, width), size)
