"""Contact sheets of a store: for k samples, the image, the image with its labels overlaid
(face green, occluder red), the occluder mask and, when the store holds a ``parsing`` array, the parsing
map in the fixed palette :data:`occgen.core.labels.PARSING_PALETTE`. Used by ``occgen preview`` and after
generation.

Drawings (``occgen preview --draw landmarks,instances``), on the overlay tile, at the tile's scale:

- ``landmarks``: each finite point of the ``landmarks`` label as a 3 x 3 dot centred on the tile pixel the point
  falls in (x, y scaled by tile / size, rounded half up): cyan where ``landmark_visible`` is 1, magenta where it
  is 0, yellow when the store has no visibility array.
- ``instances``: the outline of each instance of ``occluder_instances`` (a pixel of instance i whose 4-neighbour
  is another id or the border), in the colour :data:`INSTANCE_COLOURS` ``[(i - 1) % 8]``.
- ``anchors``: where anchored placement (``--placement anchored``) put each occluder's own anchor point (the
  ``target_xy`` of the sample's ``placement`` and of its ``occluders`` rows' placements) as a 5 x 5 cross in
  :data:`ANCHOR_RGB`, centred as a landmark dot is; samples placed at random draw none.

A drawing whose label the store lacks is an error naming the ``--labels`` value that makes it; ``anchors`` on
samples none of which was anchored is an error naming ``--placement anchored``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError
from occgen.core.imageio import encode_png, write_png
from occgen.core.labels import colour_parsing
from occgen.core.landmarks import landmark_pixels
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


#: What ``--draw`` may name -> (the label array it reads, the ``--labels`` value that stores it); ``anchors``
#: reads the samples' metadata.
DRAWINGS = {"landmarks": ("landmarks", "landmarks"), "instances": ("occluder_instances", "instances"),
            "anchors": (None, None)}  # fmt: skip
VISIBLE_RGB, COVERED_RGB, UNKNOWN_RGB, ANCHOR_RGB = (0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 0, 255)
INSTANCE_COLOURS: tuple[tuple[int, int, int], ...] = (
    (255, 128, 0), (0, 128, 255), (255, 255, 255), (128, 255, 0), (255, 0, 128), (0, 255, 128), (128, 0, 255),
    (255, 220, 120),
)  # fmt: skip


def draw_landmarks(tile: np.ndarray, landmarks: np.ndarray, visible: np.ndarray | None, scale: float) -> None:
    """Draw ``landmarks`` float32 (K, 2) (store pixels) on ``tile`` uint8 (T, T, 3) in place, as dots coloured by
    ``visible`` uint8 (K,) (None: unknown); ``scale`` = tile px / store px (module docstring)."""
    finite = np.isfinite(landmarks).all(axis=1)
    pixels = landmark_pixels(np.where(finite[:, None], landmarks.astype(np.float64) * scale, np.nan))
    for k, (col, row) in enumerate(pixels.tolist()):
        if not finite[k]:
            continue
        colour = UNKNOWN_RGB if visible is None else VISIBLE_RGB if visible[k] else COVERED_RGB
        # The dot clipped to the tile: slices clip at the far edges, max(..., 0) at the near ones.
        tile[max(row - 1, 0) : max(row + 2, 0), max(col - 1, 0) : max(col + 2, 0)] = colour


def anchor_targets(metadata: dict[str, Any]) -> list[tuple[float, float]]:
    """The ``target_xy`` (store pixels) of every anchored placement a sample's metadata records, in paint order."""
    rows = metadata.get("occluders") or []
    # Row 1 of the table repeats the sample's own placement (stores before it did not: read the top level).
    first = [] if rows and "placement" in rows[0] else [metadata.get("placement")]
    records = [*first, *(row.get("placement") for row in rows)]
    return [(float(r["target_xy"][0]), float(r["target_xy"][1])) for r in records
            if isinstance(r, dict) and r.get("mode") == "anchored"]  # fmt: skip


def draw_anchors(tile: np.ndarray, targets: list[tuple[float, float]], scale: float) -> None:
    """Draw each of ``targets`` (store pixels) on ``tile`` uint8 (T, T, 3) in place as a 5 x 5 cross."""
    if not targets:
        return
    pixels = landmark_pixels(np.array(targets, np.float64) * scale)
    height, width = tile.shape[:2]
    for col, row in pixels.tolist():
        if 0 <= row < height:
            tile[row, max(col - 2, 0) : max(col + 3, 0)] = ANCHOR_RGB
        if 0 <= col < width:
            tile[max(row - 2, 0) : max(row + 3, 0), col] = ANCHOR_RGB


def instance_outlines(instances: np.ndarray) -> np.ndarray:
    """uint8 (H, W): the id of each instance pixel on its outline (a 4-neighbour holds another id, or the pixel
    is on the border), 0 elsewhere."""
    padded = np.pad(instances, 1, mode="constant", constant_values=0)
    centre = padded[1:-1, 1:-1]
    edge = (
        (padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
        | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre)
    )  # fmt: skip
    return np.where(edge & (centre > 0), centre, 0).astype(np.uint8)


def draw_instances(tile: np.ndarray, instances: np.ndarray) -> None:
    """Draw the outlines of ``instances`` uint8 (H, W) (resized to the tile, nearest) on ``tile`` in place."""
    size = tile.shape[1], tile.shape[0]
    outline = instance_outlines(cv2.resize(instances, size, interpolation=cv2.INTER_NEAREST))
    ids = outline[outline > 0].astype(np.int64)
    tile[outline > 0] = np.array(INSTANCE_COLOURS, np.uint8)[(ids - 1) % len(INSTANCE_COLOURS)]


def check_drawings(reader: Dataset, draw: tuple[str, ...]) -> None:
    """Raise naming the ``--draw`` value that is unknown, or whose label the store does not hold."""
    for name in draw:
        if name not in DRAWINGS:
            raise ConfigError(f"--draw {name}: unknown drawing; choose from {', '.join(DRAWINGS)}")
        array, label = DRAWINGS[name]
        if array is not None and array not in reader.label_names:
            raise ConfigError(
                f"--draw {name}: {reader.location} has no {array} array; generate it with --labels {label}"
            )


def contact_sheet(reader: Dataset, indices: list[int], tile_px: int = 160, draw: tuple[str, ...] = ()) -> np.ndarray:
    """An RGB sheet with one column per sample and rows image | overlay | occluder mask [| parsing]; tiles of
    at least 96 px carry the sample's id (qualified by its part in a mix) at the top left of the image. ``draw``:
    ``landmarks`` and/or ``instances`` drawn on the overlay (module docstring)."""
    check_drawings(reader, draw)
    columns, anchored = [], False
    with_parsing = "parsing" in reader.label_names
    for index in indices:
        sample = reader[index]
        tiles = [
            sample.image,
            overlay_labels(sample.image, sample.face_mask, sample.occluder_mask),
            np.repeat(sample.occluder_mask[:, :, None], 3, axis=2),
        ]
        resized = [cv2.resize(t, (tile_px, tile_px), interpolation=cv2.INTER_AREA) for t in tiles]
        if "instances" in draw:
            draw_instances(resized[1], reader.label("occluder_instances", index))
        if "landmarks" in draw:
            has_visible = "landmark_visible" in reader.label_names
            visible = reader.label("landmark_visible", index) if has_visible else None
            scale = tile_px / sample.image.shape[0]
            draw_landmarks(resized[1], reader.label("landmarks", index), visible, scale)
        if "anchors" in draw:
            targets = anchor_targets(sample.metadata)
            anchored = anchored or bool(targets)
            draw_anchors(resized[1], targets, tile_px / sample.image.shape[0])
        if with_parsing:  # nearest: class colours must not blend into colours of other classes
            parsing = colour_parsing(reader.label("parsing", index))
            resized.append(cv2.resize(parsing, (tile_px, tile_px), interpolation=cv2.INTER_NEAREST))
        if tile_px >= 96:
            label = str(sample.metadata.get("sample_id", index))[: tile_px // 6]
            cv2.putText(resized[0], label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
        columns.append(np.concatenate(resized, axis=0))
    if "anchors" in draw and not anchored:
        raise ConfigError(f"--draw anchors: no sample shown of {reader.location} was anchored; generate it with "
                          "--placement anchored (on faces with eye landmarks)")  # fmt: skip
    return np.concatenate(columns, axis=1)


def write_preview(
    store: Path | str | Location, out: Path | str | Location, *, k: int = 8, tile_px: int = 160,
    allow_incomplete: bool = False, draw: tuple[str, ...] = (),
) -> Path | str:  # fmt: skip
    """Write the contact sheet of the first ``k`` samples of ``store`` to ``out`` (PNG; a path or URL), with the
    ``draw`` drawings on the overlay."""
    if k < 1:
        raise ConfigError(f"--k must be at least 1, got {k}")
    reader = open_store(store, allow_incomplete=allow_incomplete)
    indices = list(range(min(k, len(reader))))
    return write_sheet(contact_sheet(reader, indices, tile_px, draw), out, reader)


def write_sheet(sheet: np.ndarray, out: Path | str | Location, reader: Dataset) -> Path | str:
    """Write ``sheet`` as PNG at ``out`` (a path, or a URL opened with ``reader``'s storage options); returns
    the path or URL written."""
    target = parse_location(out, reader.location.storage_options or None)
    if target.is_local:
        write_png(target.path, sheet)
        return target.path
    target.write_bytes(encode_png(sheet))
    return target.url
