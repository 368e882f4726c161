"""The sheet of ``occgen audit``: the worst samples of each measure, one row per measure, each tile labelled.

Where it sits: :func:`occgen.run.audit.run_audit` picks the worst samples (:class:`WorstSample`) and calls
:func:`audit_sheet`, which reads just those samples through the dataset protocol. A row is a header (the measure,
its threshold and how many samples are beyond it) over ``worst`` tiles, worst first; a tile is the image beside
the occluder's alpha in grey with its holes (:func:`occgen.run.audit_measures.hole_pixels`) in red, over two
lines: the sample id and the value (red when beyond the threshold). A measure without values says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from occgen.run.audit_measures import hole_pixels
from occgen.store.dataset import Dataset
from occgen.store.schema import IMAGE, OCCLUDER_MASK

HEADER_PX = 18
LABEL_PX = 28
BACKGROUND = (32, 32, 32)
TEXT, ALERT, HOLE = (235, 235, 235), (255, 80, 80), (255, 0, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class WorstSample:
    """One tile: the dataset index, the sample id, the measure's value and whether it is beyond the threshold."""

    index: int
    sample_id: str
    value: float
    beyond: bool


@dataclass(frozen=True)
class SheetRow:
    """One measure's row: ``title`` is its header text; ``samples`` worst first (maybe none)."""

    title: str
    samples: tuple[WorstSample, ...]


def sheet_shape(rows: int, worst: int, tile_px: int) -> tuple[int, int, int]:
    """(height, width, 3) of a sheet of ``rows`` measures and ``worst`` tiles per row."""
    return rows * (HEADER_PX + tile_px + LABEL_PX), worst * 2 * tile_px, 3


def _text(canvas: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int]) -> None:
    cv2.putText(canvas, text, origin, _FONT, 0.38, colour, 1, cv2.LINE_AA)


def sample_tile(image: np.ndarray, occluder_mask: np.ndarray, tile_px: int) -> np.ndarray:
    """uint8 (tile_px, 2 tile_px, 3): the image beside the occluder alpha in grey, its holes in red."""
    alpha = np.repeat(occluder_mask[:, :, None], 3, axis=2)
    alpha[hole_pixels(occluder_mask)] = HOLE
    panels = [cv2.resize(panel, (tile_px, tile_px), interpolation=cv2.INTER_AREA) for panel in (image, alpha)]
    return np.concatenate(panels, axis=1)


def audit_sheet(dataset: Dataset, rows: Sequence[SheetRow], worst: int, tile_px: int) -> np.ndarray:
    """The RGB sheet (:func:`sheet_shape`) of ``rows``; each sample is read once, whatever rows it is in."""
    height, width, _ = sheet_shape(len(rows), worst, tile_px)
    sheet = np.empty((height, width, 3), np.uint8)
    sheet[:] = BACKGROUND
    tiles: Mapping[int, np.ndarray] = {
        index: sample_tile(dataset.sample_array(IMAGE, index), dataset.sample_array(OCCLUDER_MASK, index), tile_px)
        for index in sorted({s.index for row in rows for s in row.samples})
    }
    chars = max(4, (2 * tile_px) // 7)  # what fits on a tile's label line
    for number, row in enumerate(rows):
        top = number * (HEADER_PX + tile_px + LABEL_PX)
        _text(sheet, row.title, (4, top + 13), TEXT)
        for column, sample in enumerate(row.samples[:worst]):
            left, tile_top = column * 2 * tile_px, top + HEADER_PX
            sheet[tile_top : tile_top + tile_px, left : left + 2 * tile_px] = tiles[sample.index]
            _text(sheet, sample.sample_id[-chars:], (left + 3, tile_top + tile_px + 11), TEXT)
            _text(sheet, f"{sample.value:.4g}", (left + 3, tile_top + tile_px + 24), ALERT if sample.beyond else TEXT)
    return sheet
