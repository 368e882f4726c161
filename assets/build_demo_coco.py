"""Rebuild the embedded COCO-format demo in ``assets/demo/coco/`` (developer tool, not run time).

Needs scikit-image (the ``assets`` extra) and pycocotools; nothing is downloaded.

    python assets/build_demo_coco.py             # rewrites assets/demo/coco
    python assets/build_demo_coco.py --out DIR   # writes DIR/coco instead

Output, in the true COCO on-disk layout so ``occgen occluders coco`` runs on it unchanged:

- ``images/coffee.jpg``: ``skimage.data.coffee()`` (600x400, CC0), JPEG quality 90, no metadata;
- ``annotations/instances_demo.json``: a COCO instances file with the cup as a polygon and the spoon as a
  compressed RLE (both outlines hand-placed below, in image pixels), COCO's own category ids
  (cup 47, spoon 50), and a CC0 licence entry.

Deterministic: no randomness; the same library versions give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent / "demo"
JPEG_QUALITY = 90

# Visible outline of the cup (rim, body, handle), clockwise from the top of the rim; the spoon in front
# of its lower right is left out, as COCO annotates only the visible part of an object.
CUP = [
    (300, 17), (340, 20), (375, 35), (398, 60), (408, 90), (407, 120), (400, 160), (392, 190), (388, 200),
    (375, 215), (365, 235), (345, 245), (325, 250), (315, 262), (300, 270), (280, 272), (262, 272),
    (262, 280), (262, 292), (250, 303), (235, 309), (215, 306), (200, 296), (195, 275), (197, 250),
    (202, 232), (193, 205), (185, 180), (178, 150), (174, 120), (176, 95), (190, 65), (215, 40), (250, 24),
]  # fmt: skip
# The spoon: handle tip at the top right, the handle beside the cup, the bowl at the bottom.
SPOON = [
    (412, 66), (422, 72), (423, 85), (415, 110), (408, 135), (398, 175), (390, 205), (385, 235), (395, 250),
    (404, 268), (407, 290), (400, 310), (385, 322), (365, 325), (345, 318), (330, 300), (327, 280),
    (333, 260), (348, 246), (368, 240), (377, 232), (380, 205), (390, 170), (398, 135), (404, 105), (405, 80),
]  # fmt: skip


def polygon_area_bbox(points: list[tuple[int, int]], height: int, width: int) -> tuple[float, list[float], dict]:
    from pycocotools import mask as mask_utils

    flat = [float(v) for point in points for v in point]
    rle = mask_utils.merge(mask_utils.frPyObjects([flat], height, width))
    return float(mask_utils.area(rle)), [float(v) for v in mask_utils.toBbox(rle)], rle


def build(out: Path) -> Path:
    import skimage.data
    from pycocotools import mask as mask_utils

    root = out / "coco"
    if root.exists():
        shutil.rmtree(root)
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    image = skimage.data.coffee()
    height, width = image.shape[:2]
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok
    encoded.tofile(root / "images" / "coffee.jpg")

    cup_area, cup_bbox, _ = polygon_area_bbox(CUP, height, width)
    spoon_mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(spoon_mask, [np.array(SPOON, np.int32)], 1)
    spoon_rle = mask_utils.encode(np.asfortranarray(spoon_mask))
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 47, "iscrowd": 0, "area": cup_area, "bbox": cup_bbox,
         "segmentation": [[float(v) for point in CUP for v in point]]},
        {"id": 2, "image_id": 1, "category_id": 50, "iscrowd": 0, "area": float(mask_utils.area(spoon_rle)),
         "bbox": [float(v) for v in mask_utils.toBbox(spoon_rle)],
         "segmentation": {"size": [height, width], "counts": spoon_rle["counts"].decode("ascii")}},
    ]  # fmt: skip
    data = {
        "info": {
            "description": "occgen demo: COCO-format annotations over a CC0 photo shipped by scikit-image",
            "version": "1.0",
            "contributor": "occgen (annotations, CC0); photo by Rachel Michetti (CC0)",
        },
        "licenses": [
            {"id": 1, "name": "CC0 1.0 Universal", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}
        ],
        "images": [
            {
                "id": 1,
                "file_name": "coffee.jpg",
                "width": width,
                "height": height,
                "license": 1,
                "coco_url": "",
                "flickr_url": "",
                "source": "scikit-image skimage.data.coffee()",
            },
        ],  # fmt: skip
        "categories": [
            {"id": 1, "name": "person", "supercategory": "person"},
            {"id": 44, "name": "bottle", "supercategory": "kitchen"},
            {"id": 47, "name": "cup", "supercategory": "kitchen"},
            {"id": 50, "name": "spoon", "supercategory": "kitchen"},
            {"id": 77, "name": "cell phone", "supercategory": "electronic"},
        ],
        "annotations": annotations,
    }
    (root / "annotations" / "instances_demo.json").write_text(json.dumps(data, indent=1) + "\n")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    print(build(parser.parse_args().out))


if __name__ == "__main__":
    main()
