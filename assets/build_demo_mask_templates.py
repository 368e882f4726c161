"""Rebuild ``assets/demo/face_mask_templates/`` from MaskTheFace's mask photographs (developer tool).

MaskTheFace (github.com/aqeelanwar/MaskTheFace, MIT licence, Copyright (c) 2020 Aqeel Anwar) ships RGBA
photographs of face masks in ``masks/templates/``. The front views of six of them are copied here, shrunk to
:data:`WIDTH_PX` wide (INTER_AREA on premultiplied colour), with the licence text beside them; the
``face-masks`` source draws them as its ``photo`` style (:mod:`occgen.sources.mask_templates`).

    python assets/build_demo_mask_templates.py --src /path/to/MaskTheFace   # a checkout of the repository

Deterministic: no randomness; the same library versions give byte-identical files.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent / "demo" / "face_mask_templates"
TEMPLATES = ("surgical", "surgical_blue", "surgical_green", "cloth", "N95", "KN95")
WIDTH_PX = 320


def build(src: Path, out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in TEMPLATES:
        bgra = cv2.imread(str(src / "masks" / "templates" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        if bgra is None or bgra.ndim != 3 or bgra.shape[2] != 4:
            raise SystemExit(f"{src}/masks/templates/{name}.png: not an RGBA PNG; is --src a MaskTheFace checkout?")
        alpha = bgra[..., 3:].astype(np.float32) / 255.0
        height = round(bgra.shape[0] * WIDTH_PX / bgra.shape[1])
        small_alpha = cv2.resize(alpha, (WIDTH_PX, height), interpolation=cv2.INTER_AREA)[..., None]
        small = cv2.resize(bgra[..., :3] * alpha, (WIDTH_PX, height), interpolation=cv2.INTER_AREA)
        colour = np.clip(small / np.maximum(small_alpha, 1e-6) + 0.5, 0, 255).astype(np.uint8)
        out_alpha = np.clip(small_alpha * 255 + 0.5, 0, 255).astype(np.uint8)
        cv2.imwrite(str(out / f"{name.lower()}.png"), np.concatenate([colour, out_alpha], axis=2))
    shutil.copyfile(src / "LICENSE", out / "LICENSE")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, required=True, help="a checkout of github.com/aqeelanwar/MaskTheFace")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    print(build(args.src, args.out))


if __name__ == "__main__":
    main()
