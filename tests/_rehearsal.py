"""Rehearsal data (issue 12): full-size stand-ins of the four datasets the paper pipeline reads, in their
true on-disk layouts, made from the embedded demo assets (nothing is downloaded). Pixels are the demo's, so
quality figures mean nothing; sizes, file counts and layouts are the real datasets' (unless a size knob
shrinks them for a fast test), so speed and memory can be rehearsed. Used by tests/test_rehearsal.py,
tests/test_paper_pipeline.py and benchmarks/rehearsal.py.

- CelebAMask-HQ: ``CelebA-HQ-img/{i}.jpg`` 1024², ``CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png``
  512² (skin, nose, hair, cloth), and a split file ``splits/train.txt`` of every id;
- 11k Hands: ``Hands/Hand_{nnnnnnn}.jpg`` 1600x1200 and ``HandInfo.csv`` with its real columns;
- COCO: ``images/{id:012d}.jpg`` 640x480 and ``annotations/instances_rehearsal.json`` with polygon and
  compressed-RLE instances (categories from the paper's allow-list);
- DTD: ``dtd/images/<category>/<category>_<nnnn>.jpg`` for DTD's 47 categories and ``labels/train1.txt``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

from occgen.core.files import demo_root
from occgen.core.imageio import read_binary_mask, read_image, resize_image, resize_labels, write_png

#: DTD's 47 categories (Cimpoi et al. 2014).
DTD_CATEGORIES = (
    "banded blotchy braided bubbly bumpy chequered cobwebbed cracked crosshatched crystalline dotted fibrous "
    "flecked freckled frilly gauzy grid grooved honeycombed interlaced knitted lacelike lined marbled matted "
    "meshed paisley perforated pitted pleated polka-dotted porous potholed scaly smeared spiralled sprinkled "
    "stained stratified striped studded swirly veined waffled woven wrinkled zigzagged"
).split()
#: COCO ids and names of some categories in the paper's allow-list (params.yaml objects.coco.categories).
COCO_CATEGORIES = ((44, "bottle"), (47, "cup"), (50, "spoon"), (52, "banana"), (53, "apple"), (77, "cell phone"),
                   (84, "book"), (90, "toothbrush"))  # fmt: skip
HAND_COLUMNS = ("id", "age", "gender", "skinColor", "accessories", "nailPolish", "aspectOfHand", "imageName",
                "irregularities")  # fmt: skip


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(data.tobytes())


def celebamask_hq(out: Path, count: int, side: int = 1024) -> Path:
    """``count`` faces: ``side``² images (the release: 1024²), part PNGs at half that (512²)."""
    root = out / "CelebAMask-HQ"
    demo = demo_root() / "faces"
    stems = sorted(p.stem for p in (demo / "images").glob("*.jpg"))
    for i in range(count):
        stem = stems[i % len(stems)]
        image = resize_image(read_image(demo / "images" / f"{stem}.jpg"), (side, side))
        face = resize_labels(read_binary_mask(demo / "masks" / f"{stem}.png"), (side // 2, side // 2)).astype(bool)
        if (i // len(stems)) % 2:  # vary the copies a little
            image, face = image[:, ::-1].copy(), face[:, ::-1].copy()
        write_jpeg(root / "CelebA-HQ-img" / f"{i}.jpg", image)
        rows = np.nonzero(face.any(axis=1))[0]
        half = side // 2
        top, bottom = (int(rows[0]), int(rows[-1])) if len(rows) else (half // 4, 3 * half // 4)
        hair = np.zeros_like(face)
        hair[max(top - half * 60 // 512, 0) : top + half * 40 // 512] = True
        cloth = np.zeros_like(face)
        cloth[min(bottom + half * 40 // 512, half - 1) :] = True
        nose = np.zeros_like(face)
        cy, cx, ny, nx = (top + bottom) // 2, half // 2, max(half * 20 // 512, 1), max(half * 14 // 512, 1)
        nose[cy - ny : cy + ny, cx - nx : cx + nx] = True
        parts = {"skin": face, "nose": nose & face, "hair": hair & ~face, "cloth": cloth & ~face}
        for part, mask in parts.items():
            if mask.any():  # the dataset has a file per present part only
                write_png(root / "CelebAMask-HQ-mask-anno" / str(i // 2000) / f"{i:05d}_{part}.png",
                          mask.astype(np.uint8) * 255)  # fmt: skip
    (root / "splits").mkdir(parents=True, exist_ok=True)
    (root / "splits" / "train.txt").write_text("".join(f"{i}\n" for i in range(count)))
    return root


def eleven_k_hands(out: Path, count: int, size: tuple[int, int] = (1600, 1200)) -> Path:
    """``count`` photos of ``size`` (width, height; the release: 1600x1200) and their ``HandInfo.csv``."""
    root = out / "11k"
    demo = demo_root() / "11k"
    with open(demo / "HandInfo.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    records = []
    for i in range(count):
        row = rows[i % len(rows)]
        name = f"Hand_{i + 1:07d}.jpg"
        write_jpeg(root / "Hands" / name, resize_image(read_image(demo / "Hands" / row["imageName"]), size))
        records.append({**{k: row[k] for k in HAND_COLUMNS}, "id": f"{i // 4:07d}", "imageName": name})
    with open(root / "HandInfo.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HAND_COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    return root


def _blob(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A convex-ish polygon ``(K, 2)`` inside the image, away from its border."""
    cx, cy = rng.uniform(120, width - 120), rng.uniform(120, height - 120)
    angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(8, 16))))
    radii = rng.uniform(50, 100) * rng.uniform(0.75, 1.0, len(angles))
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def coco(out: Path, images: int, per_image: int, seed: int = 0) -> Path:
    from pycocotools import mask as mask_utils

    root = out / "coco"
    rng = np.random.default_rng(seed)
    demo = demo_root()
    pictures = [demo / "coco" / "images" / "coffee.jpg", *sorted((demo / "dtd" / "images").glob("*/*.jpg"))]
    entries, annotations = [], []
    for image_id in range(1, images + 1):
        rgb = resize_image(read_image(pictures[image_id % len(pictures)]), (640, 480))
        write_jpeg(root / "images" / f"{image_id:012d}.jpg", rgb, quality=90)
        entries.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": 640, "height": 480,
                        "license": 1})  # fmt: skip
        for _ in range(per_image):
            polygon = _blob(rng, 640, 480)
            category_id, _ = COCO_CATEGORIES[int(rng.integers(len(COCO_CATEGORIES)))]
            x0, y0 = polygon.min(axis=0)
            x1, y1 = polygon.max(axis=0)
            record = {"id": len(annotations) + 1, "image_id": image_id, "category_id": category_id, "iscrowd": 0,
                      "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]}  # fmt: skip
            mask = np.zeros((480, 640), np.uint8)
            cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
            record["area"] = float(mask.sum())
            if len(annotations) % 2:  # compressed RLE, as COCO stores some instances
                rle = mask_utils.encode(np.asfortranarray(mask))
                record["segmentation"] = {"size": [480, 640], "counts": rle["counts"].decode("ascii")}
            else:
                record["segmentation"] = [polygon.round(2).reshape(-1).tolist()]
            annotations.append(record)
    instances = {
        "info": {"description": "occgen rehearsal stand-in for COCO (demo pixels)"},
        "licenses": [{"id": 1, "name": "CC0 1.0 Universal", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "images": entries, "annotations": annotations,
        "categories": [{"id": i, "name": name, "supercategory": "object"} for i, name in COCO_CATEGORIES],
    }  # fmt: skip
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances_rehearsal.json").write_text(json.dumps(instances))
    return root


def dtd(out: Path, per_category: int) -> Path:
    root = out / "dtd"
    textures = sorted((demo_root() / "dtd" / "images").glob("*/*.jpg"))
    listed = []
    for c, category in enumerate(DTD_CATEGORIES):
        for k in range(per_category):
            source = read_image(textures[(c * per_category + k) % len(textures)])
            side = 300 + 40 * ((c + k) % 9)  # DTD images are 300..640 px
            name = f"{category}/{category}_{k + 1:04d}.jpg"
            write_jpeg(root / "images" / name, resize_image(source, (side, side)), quality=90)
            listed.append(name)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "train1.txt").write_text("".join(f"{name}\n" for name in listed))
    return root


def eval_set(out: Path, name: str, count: int, side: int = 256) -> Path:
    """An evaluation set as the paper pipeline expects it (RealOcc, RealOcc-Wild, COFW): ``images/{k}.jpg``
    and ``masks/{k}.png`` (0/255 visible face), from the demo faces."""
    root = out / name
    demo = demo_root() / "faces"
    stems = sorted(p.stem for p in (demo / "images").glob("*.jpg"))
    for k in range(count):
        stem = stems[k % len(stems)]
        write_jpeg(
            root / "images" / f"{k}.jpg", resize_image(read_image(demo / "images" / f"{stem}.jpg"), (side, side))
        )
        mask = resize_labels(read_binary_mask(demo / "masks" / f"{stem}.png"), (side, side)).astype(np.uint8)
        write_png(root / "masks" / f"{k}.png", mask * 255)
    return root
