"""The faces without occlusion (C-WO) as a recipe, so they can be stored once and reused as a face source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from occgen.core.landmark_schemes import LandmarkScheme
from occgen.recipes.base import Sample
from occgen.recipes.labels import LabelSources, face_parsing_loader
from occgen.recipes.landmark_label import check_scheme_choice, source_scheme, with_source_landmarks
from occgen.sources.faces import FaceSource

#: How the faces recipe's ``landmark_scheme`` is set (it has no params section: a ``generate faces`` option).
LANDMARK_OPTION = "--landmark-scheme"


@dataclass(frozen=True, kw_only=True)
class FacesOptions:
    """What ``occgen generate faces`` takes beyond the face source and the run keys: ``landmark_scheme``, the
    points its ``landmarks`` label holds (``derived``: 13 from the parsing map; ``source``: each face's own 68
    or 5 points from its landmark file, e.g. for ``train --crops`` and ``evaluate --crops`` on a face set whose
    parsing has no eyes, as LFW Part Labels)."""

    landmark_scheme: str = "derived"

    def __post_init__(self) -> None:
        check_scheme_choice(self.landmark_scheme, LANDMARK_OPTION)


@dataclass
class FacesRecipe:
    """The faces without occlusion (the NatOcc paper's C-WO as a store): sample ``i`` is face ``i mod F``
    at the dataset size, with its visible-face mask and an empty occluder mask. Prepared once, such a
    store is also a face source for the other recipes (``--faces faces.zarr``)."""

    faces: FaceSource
    seed: int
    size: int
    name: str = "faces"
    options: FacesOptions = field(default_factory=FacesOptions)
    landmark_scheme: LandmarkScheme | None = field(init=False, default=None)  # None: derived (the card's scheme)

    def __post_init__(self) -> None:
        if self.options.landmark_scheme == "source":  # every face checked once, before the store exists
            self.landmark_scheme = source_scheme(self.faces, self.size, LANDMARK_OPTION)

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
        sample = Sample(face.image, face.face_mask, np.zeros_like(face.face_mask), metadata, labels)
        if self.landmark_scheme is not None:
            sample = with_source_landmarks(sample, self.faces, face_index, self.size)
        return sample

    def params(self) -> dict[str, Any]:
        """The card's params: none at the default (the bytes of faces stores made before the option)."""
        return {} if self.landmark_scheme is None else {"landmark_scheme": "source"}

    def sources(self) -> dict[str, Any]:
        return {"faces": self.faces.describe()}
