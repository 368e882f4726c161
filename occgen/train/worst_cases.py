"""The samples of a store a model gets most wrong (``occgen evaluate --model CKPT --data STORE --worst K``): each
kept with its image, true mask and predicted mask, and drawn side by side, so that "does the label disagree with
what is visible?" can be answered by looking (issue 30).

Where it sits: :class:`occgen.train.evaluate.EvalResult` keeps a :class:`WorstCase` for each of its ``worst_k``
lowest-IoU items that come from a store (an item with an ``index``); :func:`worst_cases_sheet` draws them. The
CSV beside the sheet, which puts each case's audit measures (:mod:`occgen.run.audit`) next to its IoU, is written
by the command (:mod:`occgen.cli.evaluate_reports`), the one layer that sees both training and the audit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

WORST_SAMPLES_PNG = "worst_samples.png"
WORST_SAMPLES_CSV = "worst_samples.csv"
PANELS = ("image", "true face", "predicted face")
LABEL_PX = 18


@dataclass(frozen=True)
class WorstCase:
    """One store sample among the worst: its id and index in the store, its pixel counts (``tp``: face in both
    masks, ``fp``: predicted face the label calls not-face, ``fn``: labelled face the model missed), the image
    (uint8 (H, W, 3) RGB) and both masks (bool (H, W))."""

    item_id: str
    index: int
    tp: int
    fp: int
    fn: int
    image: np.ndarray
    truth: np.ndarray
    pred: np.ndarray

    @property
    def face_iou(self) -> float:
        union = self.tp + self.fp + self.fn
        return self.tp / union if union else math.nan

    @property
    def face_recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def face_precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan


def _label(strip: np.ndarray, text: str, left: int) -> None:
    cv2.putText(strip, text, (left + 4, LABEL_PX - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)


def case_strip(case: WorstCase, tile_px: int) -> np.ndarray:
    """uint8 (LABEL_PX + tile_px, 3 tile_px, 3): the image, the true face mask and the predicted face mask (face
    white, not-face black), each ``tile_px`` square, under a line with the sample id, its IoU and the panel names."""
    masks = [np.repeat((m.astype(np.uint8) * 255)[:, :, None], 3, axis=2) for m in (case.truth, case.pred)]
    panels = [cv2.resize(case.image, (tile_px, tile_px), interpolation=cv2.INTER_AREA)]
    panels += [cv2.resize(m, (tile_px, tile_px), interpolation=cv2.INTER_NEAREST) for m in masks]
    strip = np.zeros((LABEL_PX + tile_px, 3 * tile_px, 3), np.uint8)
    strip[LABEL_PX:] = np.concatenate(panels, axis=1)
    iou = "n/a" if math.isnan(case.face_iou) else f"{case.face_iou:.3f}"
    _label(strip, f"{case.item_id} IoU {iou}"[: max(8, tile_px // 7)], 0)
    for k, name in enumerate(PANELS[1:], start=1):
        _label(strip, name, k * tile_px)
    return strip


def worst_cases_sheet(cases: list[WorstCase], tile_px: int = 160) -> np.ndarray:
    """The strips (:func:`case_strip`) of ``cases`` stacked, in the given order (worst first)."""
    return np.concatenate([case_strip(case, tile_px) for case in cases], axis=0)
