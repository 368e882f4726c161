"""Contact sheets of a store: for k samples, the image, the image with its labels overlaid
(face green, occluder red), the occluder mask and, when the store holds a ``parsing`` array, the parsing
map in the fixed palette :data:`occgen.core.labels.PARSING_PALETTE`. Used by ``occgen preview`` and after
generation."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from occgen.core.errors import ConfigError
from occgen.core.imageio import encode_png, write_png
from occgen.core.labels import colour_parsing
from occgen.core.location import Location, parse_location
from occgen.store import open_store
from occgen.store.dataset import Dataset


def overlay_labels(image: np.ndarray, face_mask: np.ndarray, occluder_mask: np.ndarray) -> np.ndarray:
    """Tint the visible face green and the occluder red (by its alpha) on a copy of ``image``."""
    out = image.astype(np.float32)
    face = face_mask.astype(bool)
    out[face] = 0.55 * out[face] + 0.45 * np.array([0, 255, 0], np.float32)
    alpha = (occluder_mask.astype(np.float32) / 255.0)[:, :, None] * 0.5
    out = (1.0 - alpha) * out + alpha * np.array([255, 0, 0], np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def contact_sheet(reader: Dataset, indices: list[int], tile_px: int = 160) -> np.ndarray:
    """An RGB sheet with one column per sample and rows image | overlay | occluder mask [| parsing]; tiles of
    at least 96 px carry the sample's id (qualified by its part in a mix) at the top left of the image."""
    columns = []
    with_parsing = "parsing" in reader.label_names
    for index in indices:
        sample = reader[index]
        tiles = [
            sample.image,
            overlay_labels(sample.image, sample.face_mask, sample.occluder_mask),
            np.repeat(sample.occluder_mask[:, :, None], 3, axis=2),
        ]
        resized = [cv2.resize(t, (tile_px, tile_px), interpolation=cv2.INTER_AREA) for t in tiles]
        if with_parsing:  # nearest: class colours must not blend into colours of other classes
            parsing = colour_parsing(reader.label("parsing", index))
            resized.append(cv2.resize(parsing, (tile_px, tile_px), interpolation=cv2.INTER_NEAREST))
        if tile_px >= 96:
            label = str(sample.metadata.get("sample_id", index))[: tile_px // 6]
            cv2.putText(resized[0], label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
        columns.append(np.concatenate(resized, axis=0))
    return np.concatenate(columns, axis=1)


def write_preview(
    store: Path | str | Location, out: Path | str | Location, *, k: int = 8, tile_px: int = 160,
    allow_incomplete: bool = False,
) -> Path | str:  # fmt: skip
    """Write the contact sheet of the first ``k`` samples of ``store`` to ``out`` (PNG; a path or URL)."""
    if k < 1:
        raise ConfigError(f"--k must be at least 1, got {k}")
    reader = open_store(store, allow_incomplete=allow_incomplete)
    indices = list(range(min(k, len(reader))))
    sheet = contact_sheet(reader, indices, tile_px)
    target = parse_location(out, reader.location.storage_options or None)
    if target.is_local:
        write_png(target.path, sheet)
        return target.path
    target.write_bytes(encode_png(sheet))
    return target.url
