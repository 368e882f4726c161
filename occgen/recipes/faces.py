"""The faces without occlusion (C-WO) as a recipe, so they can be stored once and reused as a face source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from occgen.recipes.base import Sample
from occgen.recipes.labels import LabelSources, face_parsing_loader
from occgen.sources.faces import FaceSource


@dataclass
class FacesRecipe:
    """The faces without occlusion (the NatOcc paper's C-WO as a store): sample ``i`` is face ``i mod F``
    at the dataset size, with its visible-face mask and an empty occluder mask. Prepared once, such a
    store is also a face source for the other recipes (``--faces faces.zarr``)."""

    faces: FaceSource
    seed: int
    size: int
    name: str = "faces"

    def make(self, index: int) -> Sample:
        face_index = index % len(self.faces)
        face = self.faces.load(face_index, self.size)
        pixels = int(face.face_mask.sum())
        metadata = {
            "sample_index": index, "sample_id": f"{self.name}-{index:08d}", "recipe": self.name,
            "face_index": face_index, "face_id": face.face_id, "occluder_ids": [], "occluder_types": [],
            "translucent": False, "attempts": 1, "face_px_before": pixels, "face_px_after": pixels, "params": {},
        }  # fmt: skip
        labels = LabelSources(face.image, face.face_mask, np.zeros(face.face_mask.shape, bool), 0,
                              face_parsing_loader(self.faces, face_index, self.size, face.face_mask))  # fmt: skip
        return Sample(face.image, face.face_mask, np.zeros_like(face.face_mask), metadata, labels)

    def params(self) -> dict[str, Any]:
        return {}

    def sources(self) -> dict[str, Any]:
        return {"faces": self.faces.describe()}
