"""Build docs/natocc-sizes.jpg: one NatOcc hand (same seed and sample) at 256², 512² and 1024², with the
compositor's edge and blur values in fixed pixels (before issue 30) and relative to the size (now).

Top row: each whole sample, shown at the same display size. Lower rows: the same window of the face (a
fixed share of the frame, on the hand's outline) enlarged without interpolation, so the soft edge can be
compared in face units: with fixed pixels it is twice as wide at 256² and half at 1024²; relative, it keeps
its width. Run from the repository root: ``python assets/build_size_sheet.py [--out docs/natocc-sizes.jpg]``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from occgen.compose import CompositeConfig
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.sources.faces import open_faces
from occgen.sources.hands import MattedHands

SIZES = (256, 512, 1024)
TILE = 300  # display side of each tile
WINDOW_FRAC = 0.16  # the enlarged window's side, as a share of the frame


def make(size: int, reference: int | None, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``index`` (a hand) at ``size``²: its image and occluder mask."""
    config = NatOccConfig(objects_frac=0.0, composite=replace(CompositeConfig(), reference_size_px=reference))
    recipe = NatOccRecipe(open_faces(None), MattedHands(None, max_side_px=max(512, size)), config, seed=seed,
                          size=size)  # fmt: skip
    sample = recipe.make(index)
    return sample.image, sample.occluder_mask


def edge_point(occluder_mask: np.ndarray) -> tuple[float, float]:
    """A point of the hand's outline (as shares of the frame): the outline point nearest the face centre."""
    contours, _ = cv2.findContours((occluder_mask >= 128).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    points = np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float64)
    side = occluder_mask.shape[0]
    nearest = points[np.argmin(np.hypot(points[:, 0] - side / 2, points[:, 1] - side / 2))]
    return nearest[0] / side, nearest[1] / side


def window(image: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    side = image.shape[0]
    half = int(round(WINDOW_FRAC * side / 2))
    cx, cy = (int(round(c * side)) for c in centre)
    cx, cy = min(max(cx, half), side - half), min(max(cy, half), side - half)
    crop = image[cy - half : cy + half, cx - half : cx + half]
    return cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_NEAREST)


def label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (TILE, 22), (255, 255, 255), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/natocc-sizes.jpg"))
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args()
    rows = []
    relative = {size: make(size, 512, args.seed, args.index) for size in SIZES}
    fixed = {size: make(size, None, args.seed, args.index) for size in SIZES}
    centre = edge_point(relative[512][1])
    rows.append([label(cv2.resize(relative[s][0], (TILE, TILE), interpolation=cv2.INTER_AREA), f"{s}x{s}, now")
                 for s in SIZES])  # fmt: skip
    rows.append([label(window(fixed[s][0], centre), f"{s}: fixed px (before)") for s in SIZES])
    rows.append([label(window(relative[s][0], centre), f"{s}: relative to size (now)") for s in SIZES])
    rows.append([label(cv2.cvtColor(window(relative[s][1], centre), cv2.COLOR_GRAY2RGB), f"{s}: occluder mask (now)")
                 for s in SIZES])  # fmt: skip
    sheet = np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
