"""The occluder type every source yields, and the protocol sources implement (STYLE.md habit 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from occgen.core.arrays import check_alpha, check_image, check_same_size
from occgen.core.errors import EmptyOccluderError
from occgen.core.geometry import box_slices, mask_bbox
from occgen.core.imageio import resize_image


@dataclass(frozen=True)
class Occluder:
    """An RGBA cut-out: ``rgb`` uint8 (h, w, 3), ``alpha`` float32 (h, w) in [0, 1]."""

    occluder_id: str
    kind: str
    rgb: np.ndarray
    alpha: np.ndarray

    def __post_init__(self) -> None:
        check_image(self.rgb, f"occluder {self.occluder_id} rgb")
        check_alpha(self.alpha, f"occluder {self.occluder_id} alpha")
        check_same_size(self.rgb, self.alpha, "occluder rgb", "occluder alpha")


class OccluderSource(Protocol):
    name: str

    def __len__(self) -> int: ...

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]: ...

    def describe(self) -> dict[str, str | int]: ...


def crop_to_alpha(rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop an RGBA pair to the bounding box of ``alpha > 0``; raise if the alpha is empty."""
    found = mask_bbox(alpha)
    if found is None:
        raise EmptyOccluderError("occluder alpha is empty: nothing to composite")
    window = box_slices(found)
    return np.ascontiguousarray(rgb[window]), np.ascontiguousarray(alpha[window])


def limit_side(occluder: Occluder, max_side_px: int | None) -> Occluder:
    """``occluder`` shrunk (area filter) so that its longest side is at most ``max_side_px`` (None: as is).
    A cut-out is never placed larger than the output image, so a cap at the image size loses nothing."""
    height, width = occluder.alpha.shape
    if max_side_px is None or max(height, width) <= max_side_px:
        return occluder
    scale = max_side_px / max(height, width)
    size = (max(round(width * scale), 1), max(round(height * scale), 1))
    rgb = resize_image(occluder.rgb, size)
    alpha = np.clip(resize_image(occluder.alpha, size), 0.0, 1.0).astype(np.float32)
    return Occluder(occluder.occluder_id, occluder.kind, rgb, alpha)
