"""Draw docs/natocc-multi-preview.jpg: NatOcc with several occluders per face (``natocc.occluders_per_face``) and
another person's face on top (``natocc.face_occluder_frac``), ``placement: anchored``, on the two demo faces with
the rough hand-drawn parsing maps of ``build_anchored_preview.py``. Each column is ``occgen preview --draw
instances,anchors`` of one sample: the image, then the overlay with each occluder instance's outline in its own
colour and a blue cross where anchored placement put each occluder (another face is placed beside the face, not
anchored: no cross). Nothing here is used at run time (deterministic, seed 5).

    python assets/build_multi_preview.py [--out docs/natocc-multi-preview.jpg]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_anchored_preview import scratch_faces  # noqa: E402

from occgen.recipes.multi import OccludersPerFace  # noqa: E402
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe  # noqa: E402
from occgen.run.generate import generate  # noqa: E402
from occgen.run.preview import contact_sheet  # noqa: E402
from occgen.sources.faces import FaceFolder  # noqa: E402
from occgen.sources.hands import MattedHands  # noqa: E402
from occgen.sources.objects import CocoObjects  # noqa: E402
from occgen.store import open_store  # noqa: E402

SAMPLES, TILE, SIZE = 6, 192, 384


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "natocc-multi-preview.jpg"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        faces = FaceFolder(scratch_faces(Path(scratch) / "faces"))
        stack = OccludersPerFace(counts=(2, 3), weights=(0.5, 0.5), objects_frac=0.5)
        config = NatOccConfig(placement="anchored", objects_frac=0.5, face_order="random", occluders_per_face=stack,
                              face_occluder_frac=0.5)  # fmt: skip
        recipe = NatOccRecipe(faces, MattedHands(None, max_side_px=SIZE), config, seed=5, size=SIZE,
                              objects=CocoObjects(None, max_side_px=SIZE))  # fmt: skip
        store = Path(scratch) / "multi.zarr"
        generate(recipe, store, n=SAMPLES, shard_size=SAMPLES, workers=1, labels=("instances",))
        sheet = contact_sheet(open_store(store), list(range(SAMPLES)), TILE, draw=("instances", "anchors"))
    sheet = sheet[: 2 * TILE]  # the image and overlay rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(np.ascontiguousarray(sheet), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 82])  # fmt: skip
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
