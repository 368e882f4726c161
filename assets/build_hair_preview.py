"""Draw docs/natocc-hair-preview.jpg: NatOcc's ``hair`` family (procedural fringes, ``natocc.hair_frac``) with
``placement: anchored`` on the two demo faces, their rough hand-drawn parsing maps made as
``build_anchored_preview.py`` makes them. Each tile shows the sample, the face's landmarks (green) and the anchor
target (red cross: the brows' midpoint). Nothing here is used at run time (deterministic, seed 5).

    python assets/build_hair_preview.py [--out docs/natocc-hair-preview.jpg]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_anchored_preview import COLUMNS, preview_main, tile  # noqa: E402

from occgen.core.landmarks import landmarks_from_parsing  # noqa: E402
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe  # noqa: E402
from occgen.sources.faces import FaceFolder  # noqa: E402


def _first_tiles(recipe: NatOccRecipe, faces: FaceFolder, size: int) -> list[np.ndarray]:
    """The first two rows of samples."""
    tiles = []
    for index in range(2 * COLUMNS):
        sample = recipe.make(index)
        parsing = faces.load_parsing(sample.metadata["face_index"], size)
        tiles.append(tile(sample.image, landmarks_from_parsing(parsing), sample.metadata["placement"], size))
    return tiles


def main() -> None:
    config = NatOccConfig(placement="anchored", objects_frac=1.0, wearables_frac=1.0, hair_frac=1.0,
                          face_order="random")  # fmt: skip
    preview_main(__doc__ or "", "natocc-hair-preview.jpg", config, _first_tiles)


if __name__ == "__main__":
    main()
