"""The 11k Hands dataset on disk (Afifi, 2019): ``Hands/Hand_0000002.jpg`` ... (1600x1200, hands on a
near-white background) beside ``HandInfo.csv`` (columns id, age, gender, skinColor, accessories,
nailPolish, aspectOfHand, imageName, irregularities).

A plain folder of hand photos without the CSV also works (no attributes, no filters except the list).
Feeds :mod:`occgen.prep.hands.stage` (matting).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from occgen.core.errors import ConfigError, SourceError
from occgen.core.files import list_images, require_dir

CSV_NAME = "HandInfo.csv"
IMAGES_DIR = "Hands"
CSV_COLUMNS = (
    "id", "age", "gender", "skinColor", "accessories", "nailPolish", "aspectOfHand", "imageName", "irregularities",
)  # fmt: skip
ASPECTS = ("dorsal right", "dorsal left", "palmar right", "palmar left")


@dataclass(frozen=True)
class HandPhoto:
    """One photo to matte: its path, a stable id (the file stem) and the CSV attributes (strings)."""

    hand_id: str
    path: Path
    attributes: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class HandFilter:
    """Which photos to use: aspects (e.g. ``dorsal right``), no accessories / irregularities, a list file
    of image names (the NatOcc paper used 200 hands), and a cap on the count."""

    aspects: tuple[str, ...] = ()
    no_accessories: bool = False
    no_irregularities: bool = False
    names_file: Path | None = None
    limit: int = 0  # 0 = all

    def __post_init__(self) -> None:
        bad = [a for a in self.aspects if a not in ASPECTS]
        if bad:
            raise ConfigError(f"unknown hand aspect {bad[0]!r}; valid: {', '.join(ASPECTS)}")
        if self.limit < 0:
            raise ConfigError(f"hand limit must be >= 0, got {self.limit}")


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise SourceError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected 11k Hands' {', '.join(CSV_COLUMNS)}"
                )
            return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except UnicodeDecodeError as error:
        raise SourceError(f"{path}: not a UTF-8 CSV file ({error})") from None


def _read_names(path: Path) -> list[str]:
    if not path.is_file():
        raise SourceError(f"hand list file not found: {path}; pass a text file with one image name per line")
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def open_hand_photos(root: Path, hand_filter: HandFilter | None = None) -> tuple[list[HandPhoto], list[dict]]:
    """The photos under ``root`` that pass ``hand_filter``, plus the skipped CSV rows with reasons.

    ``root`` is the 11k Hands root (``Hands/`` + ``HandInfo.csv``) or a plain folder of images. A CSV
    row whose image file is missing is reported as skipped, never dropped silently.
    """
    hand_filter = hand_filter or HandFilter()
    root = require_dir(Path(root), "hands folder", "pass the 11k Hands root (Hands/ + HandInfo.csv) or a folder")
    skipped: list[dict] = []
    csv_path = root / CSV_NAME
    images_dir = root / IMAGES_DIR if (root / IMAGES_DIR).is_dir() else root
    if csv_path.is_file():
        photos = []
        for row in _read_csv(csv_path):
            path = images_dir / row["imageName"]
            if not path.is_file():
                skipped.append({"source": row["imageName"], "reason": f"listed in {CSV_NAME} but not found"})
                continue
            photos.append(HandPhoto(path.stem, path, row))
    else:
        if hand_filter.aspects or hand_filter.no_accessories or hand_filter.no_irregularities:
            raise SourceError(f"{root}: filters by aspect/accessories/irregularities need {CSV_NAME}; none found")
        photos = [HandPhoto(p.stem, p, {}) for p in list_images(images_dir)]
    if hand_filter.aspects:
        photos = [p for p in photos if p.attributes.get("aspectOfHand") in hand_filter.aspects]
    if hand_filter.no_accessories:
        photos = [p for p in photos if p.attributes.get("accessories") == "0"]
    if hand_filter.no_irregularities:
        photos = [p for p in photos if p.attributes.get("irregularities") == "0"]
    if hand_filter.names_file is not None:
        wanted = _read_names(hand_filter.names_file)
        by_name = {p.path.name: p for p in photos}
        missing = [n for n in wanted if n not in by_name]
        skipped.extend({"source": n, "reason": f"in {hand_filter.names_file.name} but not available"} for n in missing)
        photos = [by_name[n] for n in wanted if n in by_name]
    if hand_filter.limit:
        photos = photos[: hand_filter.limit]
    if not photos:
        raise SourceError(f"no hand photos to matte in {root} (after filters); check the folder and the filters")
    return photos, skipped
