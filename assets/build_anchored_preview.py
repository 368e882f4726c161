"""Draw docs/natocc-anchored-preview.jpg: NatOcc samples with ``placement: anchored`` on the two demo faces.

The demo faces have no parsing maps, so this script draws rough ones by hand (ellipses at the eyes, brows, nose
and lips placed by eye on the 512² demo images; skin = the convex hull of the demo face mask) into a scratch
face folder, then makes hands, COCO demo objects (cups and bowls, food, a phone) and procedural eyewear / face
masks with anchored placement. Each tile shows the sample, the face's landmarks (green), and the anchor target
(red cross) with the family and anchor name. Nothing here is used at run time; it only makes the picture
(deterministic, seed 5).

    python assets/build_anchored_preview.py [--out docs/natocc-anchored-preview.jpg]
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from occgen.core.files import demo_root
from occgen.core.imageio import read_binary_mask, read_image, write_png
from occgen.core.landmarks import landmarks_from_parsing
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.sources.faces import FaceFolder
from occgen.sources.hands import MattedHands
from occgen.sources.objects import CocoObjects
from occgen.sources.occluder import OccluderSource

#: Hand-placed parts on the 512² demo faces: (parsing id, centre x, y, half-axes x, y). ids: nose 2, l_eye 4,
#: r_eye 5, l_brow 6, r_brow 7, mouth 10, u_lip 11, l_lip 12 (the subject's left on the image's right).
PARTS = {
    "astronaut": [(2, 258, 272, 20, 26), (4, 316, 232, 20, 8), (5, 204, 229, 20, 8), (6, 318, 210, 28, 6),
                  (7, 202, 206, 28, 6), (11, 258, 333, 46, 7), (10, 258, 342, 40, 4), (12, 258, 352, 42, 8)],
    "grace_hopper": [(2, 262, 270, 22, 30), (4, 312, 214, 20, 9), (5, 200, 216, 20, 9), (6, 316, 190, 30, 6),
                     (7, 196, 192, 30, 6), (11, 258, 330, 40, 6), (10, 258, 337, 36, 3), (12, 258, 344, 38, 7)],
}  # fmt: skip
TILE = 192
COLUMNS = 4
#: Tiles per family (12 in all); each eyewear / face-mask style at most once.
PER_FAMILY = {"hand": 3, "drink": 2, "food": 1, "phone": 1, "eyewear": 2, "face_mask": 3}


def scratch_faces(root: Path) -> Path:
    """The demo faces with hand-drawn parsing maps, in the face-folder layout (images/, masks/, parsing/)."""
    for stem, parts in PARTS.items():
        image = read_image(demo_root() / "faces" / "images" / f"{stem}.jpg")
        mask = read_binary_mask(demo_root() / "faces" / "masks" / f"{stem}.png").astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull = cv2.convexHull(np.concatenate(contours))  # Grace Hopper's cut-out glasses filled in
        mask = cv2.fillConvexPoly(np.zeros_like(mask), hull, 1)
        parsing = np.where(mask > 0, 1, 0).astype(np.uint8)
        for part, x, y, rx, ry in parts:
            cv2.ellipse(parsing, (x, y), (rx, ry), 0, 0, 360, part, -1)
        write_png(root / "images" / f"{stem}.png", image)
        write_png(root / "masks" / f"{stem}.png", mask * 255)
        write_png(root / "parsing" / f"{stem}.png", parsing)
    return root


def tile(sample_image: np.ndarray, points: np.ndarray, placement: dict, size: int) -> np.ndarray:
    scale = TILE / size
    out = cv2.resize(sample_image, (TILE, TILE), interpolation=cv2.INTER_AREA)
    for x, y in points:
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(out, (int(x * scale), int(y * scale)), 2, (40, 230, 40), -1, cv2.LINE_AA)
    label = placement.get("mode", "random")
    if label == "anchored":
        tx, ty = placement["target_xy"]
        cv2.drawMarker(out, (int(tx * scale), int(ty * scale)), (255, 40, 40), cv2.MARKER_CROSS, 12, 2)
        label = f"{placement['family']} @ {placement['anchor']} ({placement['entry']})"
    cv2.rectangle(out, (0, TILE - 16), (TILE, TILE), (0, 0, 0), -1)
    cv2.putText(out, label, (3, TILE - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _family_tiles(recipe: NatOccRecipe, faces: FaceFolder, size: int) -> list[np.ndarray]:
    """The first samples of each family, PER_FAMILY of each, each eyewear / face-mask style at most once."""
    tiles: list[np.ndarray] = []
    shown: Counter[str] = Counter()
    for index in range(400):
        sample = recipe.make(index)
        placement = sample.metadata["placement"]
        style = sample.metadata["params"]["occluder"].get("style", "")
        if shown[placement["family"]] >= PER_FAMILY.get(placement["family"], 0) or shown[style] >= 1 and style:
            continue
        shown.update([placement["family"], style] if style else [placement["family"]])
        parsing = faces.load_parsing(sample.metadata["face_index"], size)
        tiles.append(tile(sample.image, landmarks_from_parsing(parsing), placement, size))
        if len(tiles) == sum(PER_FAMILY.values()):
            break
    return tiles


def preview_main(
    doc: str, out_name: str, config: NatOccConfig,
    pick_tiles: Callable[[NatOccRecipe, FaceFolder, int], list[np.ndarray]],
    objects: Callable[[Path, int], OccluderSource] | None = None,
) -> None:  # fmt: skip
    """The preview scripts' command line: anchored NatOcc (seed 5, 384 px) on the scratch demo faces, the tiles
    ``pick_tiles`` chooses, COLUMNS to a row, written as a JPEG to ``--out`` (default docs/``out_name``).
    ``objects(scratch, size)`` gives the object source (default: the demo's COCO cut-outs)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / out_name)
    args = parser.parse_args()
    size = 384
    with tempfile.TemporaryDirectory() as scratch:
        faces = FaceFolder(scratch_faces(Path(scratch) / "faces"))
        source = objects(Path(scratch), size) if objects else CocoObjects(None, max_side_px=size)
        recipe = NatOccRecipe(faces, MattedHands(None, max_side_px=size), config, seed=5, size=size, objects=source)
        tiles = pick_tiles(recipe, faces, size)
    rows = [np.concatenate(tiles[i : i + COLUMNS], axis=1) for i in range(0, len(tiles), COLUMNS)]
    sheet = np.concatenate(rows, axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")


def main() -> None:
    config = NatOccConfig(placement="anchored", objects_frac=0.7, wearables_frac=0.5, face_order="random")
    preview_main(__doc__ or "", "natocc-anchored-preview.jpg", config, _family_tiles)


if __name__ == "__main__":
    main()
