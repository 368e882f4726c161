"""Contact sheets of a store: for k samples, the image, the image with its labels overlaid
(face green, occluder red), the occluder mask and, when the store holds a ``parsing`` array, the parsing
map in the fixed palette :data:`occgen.core.labels.PARSING_PALETTE`. Used by ``occgen preview`` and after
generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError
from occgen.core.imageio import write_png
from occgen.core.labels import colour_parsing
from occgen.store import open_store
from occgen.store.schema import ShardReader


def overlay_labels(image: np.ndarray, face_mask: np.ndarray, occluder_mask: np.ndarray) -> np.ndarray:
    """Tint the visible face green and the occluder red (by its alpha) on a copy of ``image``."""
    out = image.astype(np.float32)
    face = face_mask.astype(bool)
    out[face] = 0.55 * out[face] + 0.45 * np.array([0, 255, 0], np.float32)
    alpha = (occluder_mask.astype(np.float32) / 255.0)[:, :, None] * 0.5
    out = (1.0 - alpha) * out + alpha * np.array([255, 0, 0], np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def contact_sheet(reader: ShardReader | Any, indices: list[int], tile_px: int = 160) -> np.ndarray:
    """An RGB sheet with one column per sample and rows image | overlay | occluder mask [| parsing]."""
    columns = []
    with_parsing = "parsing" in getattr(reader, "label_names", ())
    for index in indices:
        sample = reader[index]
        tiles = [
            sample.image,
            overlay_labels(sample.image, sample.face_mask, sample.occluder_mask),
            np.repeat(sample.occluder_mask[:, :, None], 3, axis=2),
        ]
        resized = [cv2.resize(t, (tile_px, tile_px), interpolation=cv2.INTER_AREA) for t in tiles]
        if with_parsing:  # nearest: class colours must not blend into colours of other classes
            parsing = colour_parsing(reader.labels(index)["parsing"])
            resized.append(cv2.resize(parsing, (tile_px, tile_px), interpolation=cv2.INTER_NEAREST))
        columns.append(np.concatenate(resized, axis=0))
    return np.concatenate(columns, axis=1)


def write_preview(store: Path, out: Path, *, k: int = 8, tile_px: int = 160, allow_incomplete: bool = False) -> Path:
    """Write the contact sheet of the first ``k`` samples of ``store`` to ``out`` (PNG)."""
    if k < 1:
        raise ConfigError(f"--k must be at least 1, got {k}")
    reader = open_store(store, allow_incomplete=allow_incomplete)
    indices = list(range(min(k, len(reader))))
    write_png(Path(out), contact_sheet(reader, indices, tile_px))
    return Path(out)
