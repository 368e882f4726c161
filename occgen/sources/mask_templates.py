"""Photographed face masks: the ``photo`` style of the ``face-masks`` source (real fabric texture and shading).

The photographs are MaskTheFace's mask templates (github.com/aqeelanwar/MaskTheFace, MIT licence, Copyright (c)
2020 Aqeel Anwar), front views, embedded in ``assets/demo/face_mask_templates/`` with the licence text
(``assets/build_demo_mask_templates.py``). Sample, then apply: :func:`sample_template_mask` picks a template and
a width; :func:`render_template_mask` scales it for eyes ``iod_px`` apart and returns the mouth's place in the
cut-out as ``anchor_xy``, like the drawn masks (:mod:`occgen.sources.face_masks`): the mask spans the face
``width_iod`` eye distances wide, and the mouth sits :data:`MOUTH_FROM_TOP` of the way down the mask (the
drawn masks' top edge is 0.4 below the eye line, their bottom 1.85, the mouth 1.1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError, SourceError
from occgen.core.files import demo_root
from occgen.core.imageio import read_rgba
from occgen.sources.occluder import Occluder, crop_to_alpha

TEMPLATES_DIR = "face_mask_templates"
MASK_TEMPLATES = ("surgical", "surgical_blue", "surgical_green", "cloth", "n95", "kn95")
MASK_TEMPLATE_LICENCE = "MaskTheFace mask templates: MIT, Copyright (c) 2020 Aqeel Anwar (see their LICENSE)"
WIDTH_IOD_RANGE = (1.9, 2.3)  # the drawn masks' width
MOUTH_FROM_TOP = (1.1 - 0.4) / (1.85 - 0.4)


@dataclass(frozen=True, kw_only=True)
class TemplateMaskParams:
    """One photographed mask: which template, the eye distance it is drawn for, its width in eye distances."""

    template: str
    iod_px: int
    width_iod: float


def sample_template_mask(*, rng: np.random.Generator, iod_px: int = 128) -> TemplateMaskParams:
    template = MASK_TEMPLATES[int(rng.integers(len(MASK_TEMPLATES)))]
    return TemplateMaskParams(template=template, iod_px=int(iod_px), width_iod=float(rng.uniform(*WIDTH_IOD_RANGE)))


@lru_cache(maxsize=len(MASK_TEMPLATES))
def load_template(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The template ``name`` as ``uint8 (H, W, 3)`` RGB and ``float32 (H, W)`` alpha, cropped to its alpha."""
    if name not in MASK_TEMPLATES:
        raise ConfigError(f"face mask template must be one of {', '.join(MASK_TEMPLATES)}, got {name!r}")
    path = demo_root() / TEMPLATES_DIR / f"{name}.png"
    if not path.is_file():
        raise SourceError(f"{path} is missing; rebuild it with `python assets/build_demo_mask_templates.py`")
    return crop_to_alpha(*read_rgba(path))


def render_template_mask(params: TemplateMaskParams) -> tuple[Occluder, dict[str, Any]]:
    """``params`` -> an :class:`Occluder` (kind ``face-mask``) and the draw params (every field, ``style``
    ``photo`` and ``anchor_xy``, the mouth's place in the cut-out's pixels)."""
    rgb, alpha = load_template(params.template)
    width = max(int(round(params.width_iod * params.iod_px)), 2)
    height = max(int(round(alpha.shape[0] * width / alpha.shape[1])), 2)
    small_alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_AREA)
    premultiplied = cv2.resize(rgb.astype(np.float32) * alpha[..., None], (width, height), interpolation=cv2.INTER_AREA)
    small_rgb = premultiplied / np.maximum(small_alpha, 1e-6)[..., None]
    out_rgb = np.ascontiguousarray(np.clip(small_rgb + 0.5, 0, 255).astype(np.uint8))
    out_alpha = np.ascontiguousarray(np.clip(small_alpha, 0.0, 1.0), dtype=np.float32)
    anchor = [(width - 1) / 2.0, MOUTH_FROM_TOP * (height - 1)]
    occluder = Occluder(f"face-mask:photo-{params.template}", "face-mask", out_rgb, out_alpha)
    return occluder, {**asdict(params), "style": "photo", "anchor_xy": anchor}
