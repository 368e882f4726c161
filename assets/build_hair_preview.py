"""Draw docs/natocc-hair-preview.jpg: NatOcc's ``hair`` family (procedural fringes, ``natocc.hair_frac``) with
``placement: anchored`` on the two demo faces, their rough hand-drawn parsing maps made as
``build_anchored_preview.py`` makes them. Each tile shows the sample, the face's landmarks (green) and the anchor
target (red cross: the brows' midpoint). Nothing here is used at run time (deterministic, seed 5).

    python assets/build_hair_preview.py [--out docs/natocc-hair-preview.jpg]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_anchored_preview import COLUMNS, scratch_faces, tile  # noqa: E402

from occgen.core.landmarks import landmarks_from_parsing  # noqa: E402
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe  # noqa: E402
from occgen.sources.faces import FaceFolder  # noqa: E402
from occgen.sources.hands import MattedHands  # noqa: E402
from occgen.sources.objects import CocoObjects  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "natocc-hair-preview.jpg"
    )
    args = parser.parse_args()
    size = 384
    with tempfile.TemporaryDirectory() as scratch:
        faces = FaceFolder(scratch_faces(Path(scratch) / "faces"))
        config = NatOccConfig(placement="anchored", objects_frac=1.0, wearables_frac=1.0, hair_frac=1.0,
                              face_order="random")  # fmt: skip
        recipe = NatOccRecipe(faces, MattedHands(None, max_side_px=size), config, seed=5, size=size,
                              objects=CocoObjects(None, max_side_px=size))  # fmt: skip
        tiles = []
        for index in range(2 * COLUMNS):
            sample = recipe.make(index)
            parsing = faces.load_parsing(sample.metadata["face_index"], size)
            tiles.append(tile(sample.image, landmarks_from_parsing(parsing), sample.metadata["placement"], size))
    rows = [np.concatenate(tiles[i : i + COLUMNS], axis=1) for i in range(0, len(tiles), COLUMNS)]
    sheet = np.concatenate(rows, axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
