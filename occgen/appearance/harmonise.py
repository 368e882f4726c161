"""Harmonisation of a composited object occluder with the face around it (NatOcc paper, section 3.2:
"we applied RainNet to harmonize the foreground (occluder) to match the background (face image)";
objects only, never hands, whose colour transfer it would undo).

Data flow: the NatOcc recipe composites an object onto a face, then calls
``harmoniser.apply(composite, occluder_alpha)``; only pixels with ``occluder_alpha > 0`` change (weighted
by alpha), and the recipe records ``harmoniser.name`` per sample. :func:`make_harmoniser` picks:

- ``rainnet`` (a checkpoint is given, e.g. the official ``net_G_last.pth``): a square crop around the
  occluder with context, resized to 256² (RainNet's training size), harmonised, and the *change* the
  network made (a low-frequency colour/illumination shift) resized back and added to the full-resolution
  crop inside the occluder: full-resolution detail is kept. Batched; ``bfloat16`` autocast and
  ``channels_last`` options on CPU.
- ``lab-stats`` (no checkpoint): a statistical fallback, not RainNet: the occluder's Lab mean and std are
  moved part of the way (``strength``) toward those of a ring of surrounding pixels.

A harmoniser that runs a model says which weights (:func:`harmoniser_weights`: file name, sha256, torch
version); the recipe puts them in the generation spec, so a resume with other weights is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from occgen.core.arrays import check_alpha, check_image, check_same_size
from occgen.core.checkpoint import CheckpointError, check_device, weights_identity
from occgen.core.errors import ConfigError
from occgen.core.files import sha256_file
from occgen.core.geometry import mask_bbox
from occgen.core.numeric import column_mean_std


class Harmoniser(Protocol):
    @property
    def name(self) -> str: ...

    def apply(self, image: np.ndarray, occluder_alpha: np.ndarray) -> np.ndarray: ...

    def apply_batch(self, images: Sequence[np.ndarray], alphas: Sequence[np.ndarray]) -> list[np.ndarray]: ...

    def describe(self) -> dict[str, Any]: ...


def harmoniser_weights(harmoniser: Harmoniser) -> dict[str, str] | None:
    """The identity of the model weights a harmoniser runs (its ``weights()``: file name, sha256, torch
    version), or None for one that runs no model (``lab-stats``)."""
    weights = getattr(harmoniser, "weights", None)
    return weights() if callable(weights) else None


def _check_pair(image: np.ndarray, alpha: np.ndarray) -> None:
    check_image(image)
    check_alpha(alpha, "occluder_alpha")
    check_same_size(image, alpha, "image", "occluder_alpha")


def alpha_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of ``alpha > 0``, or None if the alpha is empty."""
    found = mask_bbox(alpha)
    if found is None:
        return None
    top, left, bottom, right = found
    return left, top, right, bottom


def context_square(box: tuple[int, int, int, int], shape: tuple[int, int], context_frac: float) -> tuple[int, ...]:
    """A square around ``box`` with ``context_frac`` of its long side added on each side, shifted to fit
    the image (``shape`` = (H, W)) and clipped when larger than it: ``(x0, y0, x1, y1)``."""
    height, width = shape
    x0, y0, x1, y1 = box
    side = int(round(max(x1 - x0, y1 - y0) * (1.0 + 2.0 * context_frac)))
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0

    def span(centre: float, limit: int) -> tuple[int, int]:
        length = min(side, limit)
        start = int(round(centre - length / 2.0))
        start = min(max(start, 0), limit - length)
        return start, start + length

    sx0, sx1 = span(cx, width)
    sy0, sy1 = span(cy, height)
    return sx0, sy0, sx1, sy1


def blend_by_alpha(image: np.ndarray, changed: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha * changed + (1 - alpha) * image`` as uint8; pixels with alpha 0 are bit-identical to ``image``."""
    out = image.astype(np.float32) + alpha[..., None] * (changed.astype(np.float32) - image.astype(np.float32))
    result = np.clip(np.round(out), 0, 255).astype(np.uint8)
    result[alpha <= 0.0] = image[alpha <= 0.0]
    return result


# --------------------------------------------------------------------------------------------------
# Statistical fallback
# --------------------------------------------------------------------------------------------------


def lab_stats(lab: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per Lab channel over the boolean ``region`` of float32 Lab (H, W, 3): ``lab[region].mean(axis=0)``
    and ``.std(axis=0)``, bit for bit, by faster routes (:mod:`occgen.core.numeric`)."""
    pixels = np.ascontiguousarray(lab).reshape(-1, lab.shape[-1])[np.flatnonzero(region)]
    return column_mean_std(pixels)


#: Column alignment of a crop's left edge that keeps OpenCV's float Lab -> RGB conversion bit-identical: it
#: converts row by row, vector lanes from the row's start and a scalar tail at its end, whose results differ in the
#: last bits; a crop that keeps the row's end and starts a multiple of this many pixels in puts every pixel in the
#: same role (checked in tests/test_objects_harmonise.py).
LAB_ROW_ALIGN_PX = 64


@dataclass(frozen=True)
class LabStatsHarmoniser:
    """Not RainNet: moves the occluder's Lab statistics toward its surroundings (Reinhard-style transfer).

    ``strength`` in [0, 1] (0: unchanged, 1: the occluder takes the surroundings' mean and std: too strong
    for a coloured object, hence 0.5); the surroundings are a ring ``ring_frac`` of the occluder's long
    side wide (at least 3 px) around its footprint (``alpha >= footprint_threshold``); the std ratio is
    clipped to ``std_ratio_range``.
    """

    strength: float = 0.5
    ring_frac: float = 0.25
    footprint_threshold: float = 0.5
    std_ratio_range: tuple[float, float] = (0.5, 2.0)
    name: str = "lab-stats"

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"harmonise.strength must be in [0, 1], got {self.strength}")
        if self.ring_frac <= 0:
            raise ConfigError(f"harmonise.ring_frac must be > 0, got {self.ring_frac}")

    def apply(self, image: np.ndarray, occluder_alpha: np.ndarray) -> np.ndarray:
        """Return a harmonised copy of ``image`` (uint8 (H, W, 3)); pixels with alpha 0 are untouched."""
        _check_pair(image, occluder_alpha)
        box = alpha_box(occluder_alpha)
        if box is None or self.strength == 0.0:
            return image.copy()
        ring_px = max(int(round(self.ring_frac * max(box[2] - box[0], box[3] - box[1]))), 3)
        height, width = image.shape[:2]
        x0, y0 = max(box[0] - ring_px, 0), max(box[1] - ring_px, 0)
        x1, y1 = min(box[2] + ring_px, width), min(box[3] + ring_px, height)
        crop, alpha = image[y0:y1, x0:x1], occluder_alpha[y0:y1, x0:x1]
        footprint = alpha >= self.footprint_threshold
        touched = (alpha > 0).astype(np.uint8)
        # The ring: pixels within ring_px (Euclidean) of the occluder. A distance transform is linear in the
        # pixels; dilating by a disc of that radius cost about 50 ms for a 300 px object (half of a sample).
        distance = cv2.distanceTransform(1 - touched, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        ring = (distance <= ring_px) & (touched == 0)
        if not footprint.any() or not ring.any():
            return image.copy()  # nothing opaque to move, or no surroundings to move it toward
        lab = cv2.cvtColor(crop.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        mean_fg, std_fg = lab_stats(lab, footprint)
        mean_bg, std_bg = lab_stats(lab, ring)
        ratio = np.clip((std_bg + 1e-3) / (std_fg + 1e-3), *self.std_ratio_range) ** self.strength
        target_mean = mean_fg + self.strength * (mean_bg - mean_fg)
        # Only the occluder's box changes (blend_by_alpha keeps alpha-0 pixels): the colours are moved in its rows,
        # from an aligned column to the crop's end (LAB_ROW_ALIGN_PX), the same pixels as on the whole crop.
        top, bottom = box[1] - y0, box[3] - y0
        left = (box[0] - x0) // LAB_ROW_ALIGN_PX * LAB_ROW_ALIGN_PX
        moved = (lab[top:bottom, left:] - mean_fg) * ratio + target_mean
        moved[..., 0] = np.clip(moved[..., 0], 0.0, 100.0)
        rgb = cv2.cvtColor(moved.astype(np.float32), cv2.COLOR_LAB2RGB)
        changed = np.clip(np.round(rgb[:, box[0] - x0 - left : box[2] - x0 - left] * 255.0), 0, 255).astype(np.uint8)
        out = image.copy()
        out[box[1] : box[3], box[0] : box[2]] = blend_by_alpha(
            image[box[1] : box[3], box[0] : box[2]], changed, occluder_alpha[box[1] : box[3], box[0] : box[2]]
        )
        return out

    def apply_batch(self, images: Sequence[np.ndarray], alphas: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self.apply(image, alpha) for image, alpha in zip(images, alphas, strict=True)]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "strength": self.strength, "ring_frac": self.ring_frac}


# --------------------------------------------------------------------------------------------------
# RainNet
# --------------------------------------------------------------------------------------------------

DTYPES = ("float32", "bfloat16")


@dataclass
class RainNetHarmoniser:
    """RainNet on a ``size_px``² crop around each occluder (``context_frac`` of its long side added on each
    side); the network's change is pasted back at full resolution inside the occluder only. The network's
    mask is the occluder's alpha >= ``mask_threshold`` x its peak (binary, as in RainNet's training data).

    The model is loaded strictly at construction (a bad checkpoint fails before any work) and reloaded
    lazily after pickling, so dask workers do not receive the weights through the scheduler.
    """

    checkpoint: Path
    device: str = "cpu"
    ngf: int = 64
    size_px: int = 256
    context_frac: float = 0.5
    mask_threshold: float = 0.5
    batch_size: int = 8
    dtype: str = "float32"
    channels_last: bool = False
    name: str = "rainnet"
    _model: Any = field(default=None, init=False, repr=False)
    _sha256: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        from occgen.appearance.rainnet import RAINNET_STRIDE

        self.checkpoint = Path(self.checkpoint)
        if self.size_px < RAINNET_STRIDE or self.size_px % RAINNET_STRIDE:
            raise ConfigError(f"harmonise.size_px must be a multiple of {RAINNET_STRIDE}, got {self.size_px}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"harmonise.dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.batch_size < 1:
            raise ConfigError(f"harmonise.batch_size must be >= 1, got {self.batch_size}")
        if self.context_frac < 0:
            raise ConfigError(f"harmonise.context_frac must be >= 0, got {self.context_frac}")
        check_device(self.device)
        if not self.checkpoint.is_file():
            raise CheckpointError(
                f"checkpoint not found: {self.checkpoint}; pass the path of a .pth file you downloaded"
            )
        self._sha256 = sha256_file(self.checkpoint)
        self._load()  # held to that digest, here and when a worker reloads it

    def _load(self) -> Any:
        if self._model is None:
            import torch

            from occgen.appearance.rainnet import load_rainnet

            model = load_rainnet(self.checkpoint, ngf=self.ngf, device=self.device, sha256=self._sha256 or None)
            if self.channels_last:
                model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stubs
            self._model = model.eval()
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    def _harmonise_crops(self, crops: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """``crops`` uint8 (N, S, S, 3), ``masks`` float32 (N, S, S) in {0, 1} -> float32 RGB (N, S, S, 3) 0-255."""
        import torch

        model = self._load()
        x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        mask = torch.from_numpy(masks)[:, None]
        x = torch.cat([x, mask], dim=1).to(self.device)
        mask = mask.to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.inference_mode(), torch.autocast(device_type, torch.bfloat16, enabled=self.dtype == "bfloat16"):
            pred = model(x, mask)
        pred = pred.float().add(1.0).mul(127.5).clamp(0.0, 255.0)
        return pred.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def apply(self, image: np.ndarray, occluder_alpha: np.ndarray) -> np.ndarray:
        """Return a harmonised copy of ``image`` (uint8 (H, W, 3)); pixels with alpha 0 are untouched."""
        return self.apply_batch([image], [occluder_alpha])[0]

    def apply_batch(self, images: Sequence[np.ndarray], alphas: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Harmonise several composites, running the network ``batch_size`` crops at a time."""
        size = self.size_px
        outputs = [image.copy() for image in images]
        jobs: list[tuple[int, tuple[int, ...]]] = []
        crops, masks = [], []
        for i, (image, alpha) in enumerate(zip(images, alphas, strict=True)):
            _check_pair(image, alpha)
            box = alpha_box(alpha)
            if box is None:
                continue
            square = context_square(box, image.shape[:2], self.context_frac)
            x0, y0, x1, y1 = square
            crop = cv2.resize(image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
            small_alpha = cv2.resize(alpha[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
            # Relative to the peak: a translucent occluder (alpha <= opacity < 1) still gets its region.
            mask = small_alpha >= self.mask_threshold * float(alpha.max())
            if not mask.any():
                continue  # too small to show at the network's size: left as it is
            jobs.append((i, square))
            crops.append(crop)
            masks.append(mask.astype(np.float32))
        for start in range(0, len(jobs), self.batch_size):
            stop = start + self.batch_size
            harmonised = self._harmonise_crops(np.stack(crops[start:stop]), np.stack(masks[start:stop]))
            for (i, (x0, y0, x1, y1)), crop, pred in zip(jobs[start:stop], crops[start:stop], harmonised, strict=True):
                # Paste back the network's change, not its 256² output: full-resolution detail survives.
                delta = cv2.resize(pred - crop.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
                region = images[i][y0:y1, x0:x1]
                changed = np.clip(np.round(region.astype(np.float32) + delta), 0, 255).astype(np.uint8)
                outputs[i][y0:y1, x0:x1] = blend_by_alpha(region, changed, alphas[i][y0:y1, x0:x1])
        return outputs

    def weights(self) -> dict[str, str]:
        """The weights this harmoniser runs: file name, sha256 and torch version (in the generation spec)."""
        return weights_identity(self.checkpoint, self._sha256)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "checkpoint": self.checkpoint.name, "checkpoint_sha256": self._sha256,
                "size_px": self.size_px, "context_frac": self.context_frac, "dtype": self.dtype}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class HarmoniseConfig:
    """Harmoniser settings, e.g. the ``harmonise`` mapping inside ``params.yaml``'s ``natocc`` section
    (build with :func:`occgen.core.params.build_config`). ``checkpoint: null`` selects ``lab-stats``."""

    checkpoint: Path | None = None
    device: str = "cpu"
    ngf: int = 64
    size_px: int = 256
    context_frac: float = 0.5
    batch_size: int = 8
    dtype: str = "float32"
    channels_last: bool = False
    strength: float = 0.5  # lab-stats only


def make_harmoniser(
    checkpoint: Path | None,
    device: str = "cpu",
    *,
    ngf: int = 64,
    size_px: int = 256,
    context_frac: float = 0.5,
    batch_size: int = 8,
    dtype: str = "float32",
    channels_last: bool = False,
    strength: float = 0.5,
) -> Harmoniser:
    """RainNet when ``checkpoint`` is given (loaded strictly), else the ``lab-stats`` fallback."""
    if checkpoint is None:
        return LabStatsHarmoniser(strength=strength)
    return RainNetHarmoniser(
        Path(checkpoint), device=device, ngf=ngf, size_px=size_px, context_frac=context_frac,
        batch_size=batch_size, dtype=dtype, channels_last=channels_last,
    )  # fmt: skip


def harmoniser_from_config(config: HarmoniseConfig) -> Harmoniser:
    """:func:`make_harmoniser` with the fields of ``config``."""
    fields = {f: getattr(config, f) for f in config.__dataclass_fields__ if f not in ("checkpoint", "device")}
    return make_harmoniser(config.checkpoint, config.device, **fields)
