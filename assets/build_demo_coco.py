"""Rebuild the embedded COCO demo in ``assets/demo/coco/`` from real COCO 2017 images (developer tool).

The demo holds 15 real COCO 2017 objects (cups, bowls, bananas, sandwiches, an apple, a phone, a pizza, a
book) from 8 photos whose own per-image ``license`` is COCO licence 4, "Attribution License" (CC BY 2.0).
The photos are not downloaded: point ``--source`` at COCO roots on this machine that hold them in COCO's own
layout (``annotations/instances_<split>.json`` + ``<split>/<file_name>``), e.g. full COCO 2017 or the small
public subsets ``zzowenzz/COCO_Tiny`` and ``Obmutescence/COCO-MINI``:

    python assets/build_demo_coco.py --source /data/coco2017                       # rewrites assets/demo/coco
    python assets/build_demo_coco.py --source /tmp/coco_tiny --source /tmp/coco_mini --out DIR

Output, in the true COCO on-disk layout so ``occgen occluders coco`` runs on it unchanged:

- ``images/<COCO file_name>``: each photo cropped to its chosen objects (plus :data:`PAD_PX`), JPEG quality
  :data:`JPEG_QUALITY`, no metadata; the crop box is recorded in the image entry as ``occgen_crop``;
- ``annotations/instances_demo.json``: COCO's licences table and categories, the image entries as COCO
  gives them (licence, ``coco_url``, ``flickr_url``) with the cropped size, and only the chosen annotations,
  their polygons moved into the crop (``bbox`` moved, ``area`` kept).

Every chosen image must carry licence 4; anything else is refused. Deterministic: no randomness; the same
library versions give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import cv2

DEFAULT_OUT = Path(__file__).resolve().parent / "demo"
JPEG_QUALITY = 90
PAD_PX = 12
CC_BY_LICENCE_ID = 4  # COCO's licences table: {"id": 4, "name": "Attribution License", ".../by/2.0/"}

# The chosen COCO 2017 annotation ids (every one passes `occgen occluders coco`'s default filters). Picked by
# eye from all CC BY objects of the default categories in COCO_Tiny + COCO-MINI; left out: a plant labelled
# banana, a cake labelled banana, two shelves of books (spines with printed text) and an open notebook.
ANNOTATION_IDS = (
    310509, 327720, 670367, 712616, 713619, 714928, 1038066, 1041551, 1043720, 1045721, 1048457, 1071860,
    1141632, 1876833, 2218058,
)  # fmt: skip


def load_sources(roots: list[Path]) -> tuple[dict[str, Any], dict[int, dict], dict[int, dict], dict[int, Path]]:
    """COCO's licences/categories, the chosen annotations, their images, and each image's file on disk."""
    annotations: dict[int, dict] = {}
    images: dict[int, dict] = {}
    paths: dict[int, Path] = {}
    tables: dict[str, Any] = {}
    for root in roots:
        for annotation_file in sorted((root / "annotations").glob("instances_*.json")):
            split = annotation_file.stem.removeprefix("instances_")
            data = json.loads(annotation_file.read_text())
            tables.setdefault("categories", data["categories"])
            if data.get("licenses"):
                tables.setdefault("licenses", data["licenses"])
            for ann in data["annotations"]:
                if ann["id"] in ANNOTATION_IDS:
                    annotations[ann["id"]] = ann
            wanted = {ann["image_id"] for ann in annotations.values()}
            for image in data["images"]:
                path = root / split / image["file_name"]
                if image["id"] in wanted and image["id"] not in paths and path.is_file():
                    images[image["id"]], paths[image["id"]] = image, path
    missing = sorted(set(ANNOTATION_IDS) - set(annotations))
    if missing or "licenses" not in tables:
        raise SystemExit(f"--source holds no annotations {missing} or no licences table; give COCO 2017 roots")
    return tables, annotations, images, paths


def crop_box(anns: list[dict], width: int, height: int) -> tuple[int, int, int, int]:
    x0 = min(a["bbox"][0] for a in anns) - PAD_PX
    y0 = min(a["bbox"][1] for a in anns) - PAD_PX
    x1 = max(a["bbox"][0] + a["bbox"][2] for a in anns) + PAD_PX
    y1 = max(a["bbox"][1] + a["bbox"][3] for a in anns) + PAD_PX
    return max(0, int(x0)), max(0, int(y0)), min(width, int(x1) + 1), min(height, int(y1) + 1)


def build(out: Path, sources: list[Path]) -> Path:
    tables, annotations, images, paths = load_sources(sources)
    root = out / "coco"
    if root.exists():
        shutil.rmtree(root)
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    out_images, out_annotations = [], []
    for image_id in sorted(images):
        image = images[image_id]
        if image.get("license") != CC_BY_LICENCE_ID:
            raise SystemExit(f"image {image_id} has licence {image.get('license')}, not CC BY ({CC_BY_LICENCE_ID})")
        anns = sorted((a for a in annotations.values() if a["image_id"] == image_id), key=lambda a: a["id"])
        x0, y0, x1, y1 = crop_box(anns, image["width"], image["height"])
        pixels = cv2.imread(str(paths[image_id]), cv2.IMREAD_COLOR)[y0:y1, x0:x1]
        ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        assert ok
        encoded.tofile(root / "images" / image["file_name"])
        out_images.append({**image, "width": x1 - x0, "height": y1 - y0, "occgen_crop": [x0, y0, x1, y1]})
        for ann in anns:
            if not isinstance(ann["segmentation"], list):
                raise SystemExit(f"annotation {ann['id']} is not a polygon; only polygons are moved into the crop")
            polygons = [[round(v - (x0, y0)[i % 2], 2) for i, v in enumerate(poly)] for poly in ann["segmentation"]]
            bx, by, bw, bh = ann["bbox"]
            bbox = [round(bx - x0, 2), round(by - y0, 2), bw, bh]
            out_annotations.append({**ann, "segmentation": polygons, "bbox": bbox})
    data = {
        "info": {
            "description": "occgen demo: 15 COCO 2017 objects from CC BY 2.0 photos, each photo cropped to them",
            "version": "2.0",
            "contributor": "COCO Consortium (annotations, CC BY 4.0); photos by their Flickr authors (CC BY 2.0)",
            "url": "https://cocodataset.org",
        },
        "licenses": tables["licenses"],
        "images": out_images,
        "categories": tables["categories"],
        "annotations": out_annotations,
    }
    (root / "annotations" / "instances_demo.json").write_text(json.dumps(data, indent=1) + "\n")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, action="append", required=True, help="a COCO 2017 root (repeat)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    print(build(args.out, args.source))


if __name__ == "__main__":
    main()
