"""Array contracts, stated once (STYLE.md habit 7).

- image: ``uint8 (H, W, 3)`` RGB
- alpha: ``float32 (H, W)`` in [0, 1]
- labels / binary masks: ``uint8 (H, W)`` with values {0, 1}

Functions here only check; conversions happen at the edges (file I/O, torch).
"""

from __future__ import annotations

import numpy as np

from occgen.core.errors import ArrayContractError


def _describe(array: np.ndarray) -> str:
    return f"{array.shape} {array.dtype}"


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Raise unless ``image`` is ``uint8 (H, W, 3)``; return it unchanged."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = _describe(image) if isinstance(image, np.ndarray) else type(image).__name__
        raise ArrayContractError(f"{name}: expected (H, W, 3) uint8, got {got}")
    return image


def check_alpha(alpha: np.ndarray, name: str = "alpha") -> np.ndarray:
    """Raise unless ``alpha`` is ``float32 (H, W)`` with values in [0, 1]; return it unchanged."""
    if not isinstance(alpha, np.ndarray) or alpha.ndim != 2 or alpha.dtype != np.float32:
        got = _describe(alpha) if isinstance(alpha, np.ndarray) else type(alpha).__name__
        raise ArrayContractError(f"{name}: expected (H, W) float32 in [0, 1], got {got}")
    if alpha.size and (float(alpha.min()) < 0.0 or float(alpha.max()) > 1.0):
        raise ArrayContractError(
            f"{name}: expected values in [0, 1], got [{float(alpha.min()):.3g}, {float(alpha.max()):.3g}]"
        )
    return alpha


def check_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    """Raise unless ``mask`` is ``uint8 (H, W)`` with values in {0, 1}; return it unchanged."""
    if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != np.uint8:
        got = _describe(mask) if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ArrayContractError(f"{name}: expected (H, W) uint8 with values 0/1, got {got}")
    if mask.size and mask.max() > 1:
        raise ArrayContractError(f"{name}: expected values 0/1, got max {int(mask.max())}")
    return mask


def check_same_size(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> None:
    """Raise unless the first two dimensions of ``a`` and ``b`` agree."""
    if a.shape[:2] != b.shape[:2]:
        raise ArrayContractError(
            f"{a_name} is {a.shape[1]}x{a.shape[0]} but {b_name} is {b.shape[1]}x{b.shape[0]}: they must match"
        )
