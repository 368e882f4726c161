"""What every recipe shares: the :class:`Sample` it makes and the :class:`Recipe` protocol.

A recipe holds its sources and config and is picklable, so dask workers can rebuild any sample
``index`` on their own: ``make(index)`` draws only from ``sample_rng(seed, recipe, index)`` (STYLE.md
habit 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from occgen.recipes.labels import LabelSources

FACE_ORDERS = ("cycle", "random")

#: The version of the code paths that determine a sample's pixels and labels (recipes, sources, compositing,
#: codecs). It is part of every store's generation spec, so a resume across a change of it is refused while
#: unrelated occgen releases still resume. Bump it in any change that alters samples, i.e. whenever the
#: pinned digests of tests/test_store_digest.py change.
SAMPLE_CODE_VERSION = 2  # 2: edge and blur values relative to the image size (issue 30)


@dataclass(frozen=True)
class Sample:
    """One generated sample: ``image`` uint8 (S, S, 3), ``face_mask`` uint8 (S, S) in {0, 1},
    ``occluder_mask`` uint8 (S, S) (alpha x 255) and JSON-ready ``metadata``; ``labels`` holds what the
    optional label arrays are built from (:mod:`occgen.recipes.labels`)."""

    image: np.ndarray
    face_mask: np.ndarray
    occluder_mask: np.ndarray
    metadata: dict[str, Any]
    labels: LabelSources | dict[str, np.ndarray] | None = None


class Recipe(Protocol):
    """What the shard writer needs: a name (the RNG stream), a size and ``make(index)``."""

    name: str
    seed: int

    @property
    def size(self) -> int: ...  # read-only: a field, or derived from the config (FaceOcc's size_px)

    def make(self, index: int) -> Sample: ...

    def params(self) -> dict[str, Any]: ...

    def sources(self) -> dict[str, Any]: ...


def pick_face(index: int, face_count: int, order: str, rng: np.random.Generator) -> int:
    """The face used by sample ``index``: cycling through the faces, or uniformly at random."""
    return index % face_count if order == "cycle" else int(rng.integers(face_count))


def sample_header(recipe: str, index: int, face_index: int, face_id: str) -> dict[str, Any]:
    """The metadata fields that open every sample's record, whatever the recipe."""
    return {"sample_index": index, "sample_id": f"{recipe}-{index:08d}", "recipe": recipe,
            "face_index": face_index, "face_id": face_id}  # fmt: skip
