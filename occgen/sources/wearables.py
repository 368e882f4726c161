"""The ``wearables`` occluder source: procedural eyewear (:mod:`occgen.sources.eyewear`), face masks
(:mod:`occgen.sources.face_masks`) and, with ``hair_frac`` above 0, fringes of hair (:mod:`occgen.sources.hair`)
behind one draw, for recipes that take a single occluder source (NatOcc's ``natocc.wearables_frac``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from occgen.core.errors import ConfigError
from occgen.sources.eyewear import ProceduralEyewear
from occgen.sources.face_masks import FACE_MASK_STYLES, ProceduralFaceMasks
from occgen.sources.hair import ProceduralHair
from occgen.sources.occluder import Occluder


@dataclass
class Wearables:
    """A fringe of hair with probability ``hair_frac`` (0: never, and no draw spent on it), else eyewear with
    probability ``eyewear_frac``, else a face mask; all drawn for eyes ``iod_px`` apart."""

    eyewear_frac: float = 0.5
    iod_px: int = 128
    face_mask_styles: tuple[str, ...] = FACE_MASK_STYLES  # add "photo" for MaskTheFace's photographed masks
    hair_frac: float = 0.0
    name: str = "wearables"
    _eyewear: ProceduralEyewear = field(init=False, repr=False)
    _masks: ProceduralFaceMasks = field(init=False, repr=False)
    _hair: ProceduralHair = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for key in ("eyewear_frac", "hair_frac"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"wearables {key} must be in [0, 1], got {getattr(self, key)}")
        self._hair = ProceduralHair(iod_px=self.iod_px)
        self._eyewear = ProceduralEyewear(iod_px=self.iod_px)
        self._masks = ProceduralFaceMasks(styles=tuple(self.face_mask_styles), iod_px=self.iod_px)

    def __len__(self) -> int:
        return len(self._eyewear) + len(self._masks)

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]:
        if self.hair_frac > 0 and rng.random() < self.hair_frac:
            return self._hair.draw(rng=rng)
        source = self._eyewear if rng.random() < self.eyewear_frac else self._masks
        return source.draw(rng=rng)

    def describe(self) -> dict[str, str | int]:
        described: dict[str, str | int] = {
            "kind": self.name, "root": "procedural", "count": len(self), "eyewear_frac": str(self.eyewear_frac)
        }  # fmt: skip
        if self.hair_frac > 0:  # the default card stays as it was
            described["hair_frac"] = str(self.hair_frac)
        if tuple(self.face_mask_styles) != FACE_MASK_STYLES:  # the default card stays as it was
            described.update({k: v for k, v in self._masks.describe().items() if k in ("styles", "licence")})
        return described
