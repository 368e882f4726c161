"""Folder stages of ``occgen faces``: read a folder of faces, make masks or align, write a face folder.

Input: ``SRC/images/*`` (plus ``SRC/masks/<stem>.png`` for alignment) or a flat folder of images.
Output: the face-folder layout that :class:`occgen.sources.faces.FaceFolder` (and so ``occgen generate
randocc --faces OUT``) reads: ``OUT/images/<file>``, ``OUT/masks/<stem>.png`` (0/255), with the parser
also ``OUT/parsing/<stem>.png`` (its 19 classes as :mod:`occgen.core.labels` ids, for the ``parsing``
label), and ``OUT/failed.csv`` (``file,reason``: one row per input that gave no output, never silently dropped).

Landmark files (``--landmarks FILE``), keyed by image file name or stem:

- JSON: ``{"<file>": [[x, y], ...]}`` with 68 or 5 points per face;
- CSV: a header row ``file,x0,y0,x1,y1,...`` then one row per face.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from occgen.core.errors import ArrayContractError, ConfigError, ImageReadError, SourceError
from occgen.core.files import list_images, require_dir
from occgen.core.imageio import read_binary_mask, read_image, write_png
from occgen.prep.faces.align import TEMPLATES, AlignedFace
from occgen.prep.faces.landmarks import FOREHEAD_FRAC, DlibLandmarker, check_landmarks68, landmark_face_mask
from occgen.prep.faces.parsing import FaceParser, face_mask_from_labels, parsing_from_parser_labels

FAILED_FILE = "failed.csv"
LANDMARKS_FILE = "landmarks.json"
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Failure:
    file: str
    reason: str


@dataclass
class FacesReport:
    """What a stage did: faces written, inputs that failed (with reasons), and notes (counts)."""

    out: Path
    total: int
    written: int = 0
    failures: list[Failure] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed_path(self) -> Path:
        return self.out / FAILED_FILE

    def fail(self, path: Path, reason: str) -> None:
        """Record a failed input and remove what an earlier run may have written for it."""
        self.failures.append(Failure(path.name, reason))
        for stale in (self.out / "images" / path.name, self.out / "images" / f"{path.stem}.png"):
            stale.unlink(missing_ok=True)
        (self.out / "masks" / f"{path.stem}.png").unlink(missing_ok=True)
        (self.out / "parsing" / f"{path.stem}.png").unlink(missing_ok=True)


def source_images(src: Path) -> list[Path]:
    """Images of ``src/images/`` if it exists, else of ``src`` itself; stems must be unique."""
    src = require_dir(Path(src), "source folder", "pass a folder of images or one holding images/")
    folder = src / "images" if (src / "images").is_dir() else src
    images = list_images(folder)
    if not images:
        raise SourceError(f"no images (.jpg/.png/.bmp/.webp) in {folder}")
    stems: dict[str, str] = {}
    for path in images:
        if path.stem in stems:
            raise SourceError(f"{folder}: {stems[path.stem]} and {path.name} share a stem; keep one file per stem")
        stems[path.stem] = path.name
    return images


def _check_out(src: Path, out: Path) -> None:
    """Refuse an output that would overwrite (or, for failures, delete) the source files."""
    src, out = Path(src).resolve(), Path(out).resolve()
    folder = src / "images" if (src / "images").is_dir() else src
    if out == src or (out / "images") == folder or (out / "masks") == src / "masks":
        raise ConfigError(f"--out {out} is the source folder; write to a new folder")


def _write_failures(report: FacesReport) -> None:
    report.out.mkdir(parents=True, exist_ok=True)
    with report.failed_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "reason"])
        for failure in report.failures:
            writer.writerow([failure.file, failure.reason])


def _batches(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def read_landmark_file(path: Path) -> dict[str, np.ndarray]:
    """Read a JSON or CSV landmark file (see the module docstring) into ``{name: float64 (K, 2)}``."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"landmark file not found: {path}; pass a .json or .csv of landmarks")
    entries: dict[str, np.ndarray] = {}
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise SourceError(f"{path}: not valid JSON ({error})") from error
        if not isinstance(data, dict):
            raise SourceError(f'{path}: expected an object {{"<file>": [[x, y], ...]}}, got {type(data).__name__}')
        for name, points in data.items():
            entries[str(name)] = _points(points, path, str(name))
    elif path.suffix.lower() == ".csv":
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        if not rows or not rows[0] or rows[0][0].strip().lower() != "file":
            raise SourceError(f"{path}: the first row must be a header 'file,x0,y0,x1,y1,...'")
        for number, row in enumerate(rows[1:], start=2):
            if not row or not row[0].strip():
                continue
            try:
                values = [float(v) for v in row[1:] if v.strip()]
            except ValueError as error:
                raise SourceError(f"{path} line {number}: non-numeric coordinate ({error})") from error
            if len(values) % 2:
                raise SourceError(f"{path} line {number}: an odd number of coordinates ({len(values)})")
            entries[row[0].strip()] = _points(np.reshape(values, (-1, 2)), path, f"line {number}")
    else:
        raise SourceError(f"{path}: landmark files must be .json or .csv")
    return entries


def _points(points: object, path: Path, where: str) -> np.ndarray:
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise SourceError(f"{path} ({where}): landmarks must be a list of [x, y] pairs") from error
    if array.ndim != 2 or array.shape[1] != 2 or len(array) not in (5, 68) or not np.all(np.isfinite(array)):
        raise SourceError(f"{path} ({where}): expected 68 or 5 finite [x, y] points, got shape {array.shape}")
    return array


def _lookup(landmarks: dict[str, np.ndarray], image: Path) -> np.ndarray | None:
    return landmarks.get(image.name, landmarks.get(image.stem))


def _write_face(out: Path, image_path: Path, mask: np.ndarray, parsing: np.ndarray | None = None) -> None:
    """Copy the image file unchanged (no re-encoding) and write its 0/255 mask (and its parsing map:
    :mod:`occgen.core.labels` ids, which a face folder reads for the ``parsing`` label)."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(image_path, out / "images" / image_path.name)
    write_png(out / "masks" / f"{image_path.stem}.png", mask * np.uint8(255))
    if parsing is not None:
        write_png(out / "parsing" / f"{image_path.stem}.png", parsing)


def _face_fraction_ok(mask: np.ndarray, min_face_frac: float) -> bool:
    return float(mask.mean()) >= min_face_frac if mask.size else False


def masks_with_parser(
    src: Path,
    out: Path,
    parser: FaceParser,
    *,
    batch_size: int = 4,
    min_face_frac: float = 0.01,
    on_progress: Progress | None = None,
) -> FacesReport:
    """Face masks by face parsing; faces whose visible face covers < ``min_face_frac`` of the image fail."""
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    images = source_images(src)
    _check_out(src, out)
    report = FacesReport(Path(out), len(images))
    start = time.perf_counter()
    for batch in _batches(images, batch_size):
        readable: list[tuple[Path, np.ndarray]] = []
        for path in batch:
            try:
                readable.append((path, read_image(path)))
            except ImageReadError as error:
                report.fail(path, f"unreadable: {error}")
        for (path, _), labels in zip(readable, parser.parse([im for _, im in readable]), strict=True):
            mask = face_mask_from_labels(labels)
            if not _face_fraction_ok(mask, min_face_frac):
                report.fail(path, f"no face: parsed face covers {mask.mean():.4f} < {min_face_frac} of the image")
                continue
            _write_face(report.out, path, mask, parsing_from_parser_labels(labels))
            report.written += 1
        if on_progress is not None:
            on_progress(len(batch))
    report.seconds = time.perf_counter() - start
    _write_failures(report)
    return report


def masks_with_landmarks(
    src: Path,
    out: Path,
    *,
    landmarks: dict[str, np.ndarray] | None = None,
    landmarker: DlibLandmarker | None = None,
    forehead_frac: float = FOREHEAD_FRAC,
    min_face_frac: float = 0.01,
    on_progress: Progress | None = None,
) -> FacesReport:
    """Face masks from 68 landmarks: given per file (``landmarks``) or detected (``landmarker``)."""
    if (landmarks is None) == (landmarker is None):
        raise ConfigError("give either a landmark file or a landmark detector")
    images = source_images(src)
    _check_out(src, out)
    report = FacesReport(Path(out), len(images), notes={"several_faces": 0})
    start = time.perf_counter()
    for path in images:
        mask = _landmark_mask(path, report, landmarks, landmarker, forehead_frac)
        if mask is not None:
            if _face_fraction_ok(mask, min_face_frac):
                _write_face(report.out, path, mask)
                report.written += 1
            else:
                report.fail(path, f"no face: polygon covers {mask.mean():.4f} < {min_face_frac} of the image")
        if on_progress is not None:
            on_progress(1)
    report.seconds = time.perf_counter() - start
    _write_failures(report)
    return report


def _face_landmarks(
    path: Path,
    image: np.ndarray,
    report: FacesReport,
    landmarks: dict[str, np.ndarray] | None,
    landmarker: DlibLandmarker | None,
) -> np.ndarray | None:
    """The face's landmarks from the landmark file or the detector; ``None`` (recorded as a failure) if none."""
    if landmarks is not None:
        points = _lookup(landmarks, path)
        if points is None:
            report.fail(path, "no landmarks for this file in the landmark file")
        return points
    if landmarker is None:
        raise ConfigError("give either a landmark file or a landmark detector")
    detection = landmarker.detect(image)
    if detection is None:
        report.fail(path, "no face detected")
        return None
    if detection.n_faces > 1:
        report.notes["several_faces"] += 1
    return detection.landmarks


def _landmark_mask(
    path: Path,
    report: FacesReport,
    landmarks: dict[str, np.ndarray] | None,
    landmarker: DlibLandmarker | None,
    forehead_frac: float,
) -> np.ndarray | None:
    try:
        image = read_image(path)
    except ImageReadError as error:
        report.fail(path, f"unreadable: {error}")
        return None
    points = _face_landmarks(path, image, report, landmarks, landmarker)
    if points is None:
        return None
    if len(points) != 68:
        report.fail(path, f"the face polygon needs 68 landmarks, got {len(points)}")
        return None
    try:
        return landmark_face_mask(check_landmarks68(points), image.shape[:2], forehead_frac)
    except ArrayContractError as error:
        report.fail(path, f"bad landmarks: {error}")
        return None


def align_folder(
    src: Path,
    out: Path,
    size: int,
    *,
    landmarks: dict[str, np.ndarray] | None = None,
    landmarker: DlibLandmarker | None = None,
    on_progress: Progress | None = None,
    template: str = "ffhq",
) -> FacesReport:
    """FFHQ-align (``template="faceocc"``: the FaceOcc frame) every image (and ``src/masks/<stem>.png``
    when ``src/masks/`` exists) to ``size``².

    Writes ``OUT/images/<stem>.png``, ``OUT/masks/<stem>.png`` (0/255) when masks exist,
    ``OUT/landmarks.json`` (the landmarks in the aligned frame) and ``OUT/failed.csv``.
    """
    if (landmarks is None) == (landmarker is None):
        raise ConfigError("give either a landmark file or a landmark detector")
    if size < 8:
        raise ConfigError(f"--size must be at least 8 px, got {size}")
    if template not in TEMPLATES:
        raise ConfigError(f"unknown --template {template!r}; valid: {', '.join(TEMPLATES)}")
    images = source_images(src)
    _check_out(src, out)
    masks_dir = Path(src) / "masks"
    with_masks = masks_dir.is_dir()
    report = FacesReport(Path(out), len(images), notes={"several_faces": 0})
    aligned_landmarks: dict[str, list[list[float]]] = {}
    start = time.perf_counter()
    for path in images:
        result = _align_one(path, masks_dir if with_masks else None, size, report, landmarks, landmarker, template)
        if result is not None:
            aligned, has_mask = result
            write_png(report.out / "images" / f"{path.stem}.png", aligned.image)
            if has_mask and aligned.mask is not None:
                write_png(report.out / "masks" / f"{path.stem}.png", aligned.mask * np.uint8(255))
            aligned_landmarks[f"{path.stem}.png"] = np.round(aligned.landmarks, 3).tolist()
            report.written += 1
        if on_progress is not None:
            on_progress(1)
    report.seconds = time.perf_counter() - start
    report.out.mkdir(parents=True, exist_ok=True)
    (report.out / LANDMARKS_FILE).write_text(json.dumps(aligned_landmarks) + "\n")
    _write_failures(report)
    return report


def _align_one(
    path: Path,
    masks_dir: Path | None,
    size: int,
    report: FacesReport,
    landmarks: dict[str, np.ndarray] | None,
    landmarker: DlibLandmarker | None,
    template: str = "ffhq",
) -> tuple[AlignedFace, bool] | None:
    try:
        image = read_image(path)
        mask = None
        if masks_dir is not None:
            mask_path = masks_dir / f"{path.stem}.png"
            if not mask_path.is_file():
                report.fail(path, f"no mask {mask_path} (the source has a masks/ folder)")
                return None
            mask = read_binary_mask(mask_path)
            if mask.shape != image.shape[:2]:
                report.fail(path, f"mask {mask_path.name} is {mask.shape}, image {image.shape[:2]}")
                return None
    except ImageReadError as error:
        report.fail(path, f"unreadable: {error}")
        return None
    points = _face_landmarks(path, image, report, landmarks, landmarker)
    if points is None:
        return None
    try:
        return TEMPLATES[template](image, points, size, mask), mask is not None
    except ArrayContractError as error:
        report.fail(path, f"bad landmarks: {error}")
        return None
