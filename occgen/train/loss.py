"""Binary cross-entropy with online hard example mining (OHEM), as in the FaceOcc and NatOcc papers.

A pixel is *hard* when the predicted probability of its true class is below ``threshold`` (0.7 by
default, MMSegmentation's ``OHEMPixelSampler`` default), i.e. when its BCE exceeds ``-ln(threshold)``.
The loss is the mean BCE over the hard pixels; when fewer than ``min_kept`` pixels of the batch are
hard, the ``min_kept`` pixels with the largest loss are kept instead (all pixels if the batch is smaller).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from occgen.core.errors import ConfigError


def ohem_keep_mask(pixel_loss: torch.Tensor, *, threshold: float, min_kept: int) -> torch.Tensor:
    """Boolean mask (same shape as ``pixel_loss``) of the pixels OHEM keeps, over the whole batch."""
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"ohem_threshold must be in (0, 1], got {threshold}")
    if min_kept < 0:
        raise ConfigError(f"min_kept must be >= 0, got {min_kept}")
    flat = pixel_loss.detach().reshape(-1)
    keep = flat > -math.log(threshold)
    if int(keep.sum()) < min_kept:
        keep = torch.zeros_like(keep)
        keep[torch.topk(flat, min(min_kept, flat.numel()), sorted=False).indices] = True
    return keep.view_as(pixel_loss)


def ohem_bce_loss(
    logits: torch.Tensor, target: torch.Tensor, *, threshold: float = 0.7, min_kept: int = 100_000
) -> torch.Tensor:
    """Mean BCE over the OHEM-kept pixels. ``logits`` and ``target`` (0/1) share the shape ``(N, 1, H, W)``."""
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must have the same shape")
    pixel_loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    keep = ohem_keep_mask(pixel_loss, threshold=threshold, min_kept=min_kept)
    if not bool(keep.any()):  # every pixel already confident and min_kept = 0
        return pixel_loss.sum() * 0.0
    return pixel_loss[keep].mean()
