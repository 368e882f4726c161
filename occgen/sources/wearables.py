"""The ``wearables`` occluder source: procedural eyewear (:mod:`occgen.sources.eyewear`) and face masks
(:mod:`occgen.sources.face_masks`) behind one draw, for recipes that take a single occluder source (NatOcc's
``natocc.wearables_frac``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from occgen.core.errors import ConfigError
from occgen.sources.eyewear import ProceduralEyewear
from occgen.sources.face_masks import FACE_MASK_STYLES, ProceduralFaceMasks
from occgen.sources.occluder import Occluder


@dataclass
class Wearables:
    """Eyewear with probability ``eyewear_frac``, else a face mask; both drawn for eyes ``iod_px`` apart."""

    eyewear_frac: float = 0.5
    iod_px: int = 128
    face_mask_styles: tuple[str, ...] = FACE_MASK_STYLES  # add "photo" for MaskTheFace's photographed masks
    name: str = "wearables"
    _eyewear: ProceduralEyewear = field(init=False, repr=False)
    _masks: ProceduralFaceMasks = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.eyewear_frac <= 1.0:
            raise ConfigError(f"wearables eyewear_frac must be in [0, 1], got {self.eyewear_frac}")
        self._eyewear = ProceduralEyewear(iod_px=self.iod_px)
        self._masks = ProceduralFaceMasks(styles=tuple(self.face_mask_styles), iod_px=self.iod_px)

    def __len__(self) -> int:
        return len(self._eyewear) + len(self._masks)

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]:
        source = self._eyewear if rng.random() < self.eyewear_frac else self._masks
        return source.draw(rng=rng)

    def describe(self) -> dict[str, str | int]:
        described: dict[str, str | int] = {
            "kind": self.name, "root": "procedural", "count": len(self), "eyewear_frac": str(self.eyewear_frac)
        }  # fmt: skip
        if tuple(self.face_mask_styles) != FACE_MASK_STYLES:  # the default card stays as it was
            described.update({k: v for k, v in self._masks.describe().items() if k in ("styles", "licence")})
        return described
