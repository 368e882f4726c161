"""SOT grain on the demo: the hand's high-frequency energy with colour transfer vs without (issue 12).

For each sample the same hand, placement and augmentation are made twice (``color_transfer`` sot and
none share every random draw); the grain of a region is mean |I - 3x3 box blur of I| on grey
(:func:`occgen.appearance.sot.grain`). Prints the median and max ratio (transfer / none), how often the
hand is grainier than the visible face, and the sliced-Wasserstein colour distance hand -> face.

    python benchmarks/bench_sot_grain.py --n 48 --seed 5 --size 512
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from occgen.appearance.sot import SOTConfig, grain
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.sources.faces import open_faces
from occgen.sources.hands import MattedHands


def sliced_distance(a: np.ndarray, b: np.ndarray, projections: int = 64) -> float:
    """Sliced Wasserstein-1 between colour sets ``(N, 3)`` and ``(M, 3)`` (fixed directions)."""
    dirs = np.random.default_rng(0).normal(size=(projections, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    quantiles = np.linspace(0.005, 0.995, 199)
    pa = np.quantile(a.astype(np.float64) @ dirs.T, quantiles, axis=0)
    pb = np.quantile(b.astype(np.float64) @ dirs.T, quantiles, axis=0)
    return float(np.abs(pa - pb).mean())


def measure(n: int, seed: int, size: int, sot: SOTConfig) -> dict[str, float]:
    faces = open_faces(None)
    hands = MattedHands(None, max_side_px=max(512, size))
    config = NatOccConfig(objects_frac=0.0, sot=sot)
    with_sot = NatOccRecipe(faces, hands, config, seed=seed, size=size)
    without = NatOccRecipe(faces, hands, replace(config, color_transfer="none"), seed=seed, size=size)
    ratios, above_face, sw_sot, sw_none = [], 0, [], []
    for index in range(n):
        a, b = with_sot.make(index), without.make(index)
        hand = a.occluder_mask >= 250  # opaque hand pixels
        face = a.face_mask.astype(bool)
        if hand.sum() < 64 or face.sum() < 64:
            continue
        g_sot, g_none, g_face = grain(a.image, hand), grain(b.image, hand), grain(a.image, face)
        ratios.append(g_sot / max(g_none, 1e-6))
        above_face += g_sot > g_face
        face_colours = faces.load(a.metadata["face_index"], size)
        source = face_colours.image[face_colours.face_mask.astype(bool)]
        sw_sot.append(sliced_distance(a.image[hand], source))
        sw_none.append(sliced_distance(b.image[hand], source))
    return {
        "samples": len(ratios), "median_ratio": float(np.median(ratios)), "max_ratio": float(np.max(ratios)),
        "grainier_than_face": above_face, "sw_sot": float(np.median(sw_sot)), "sw_none": float(np.median(sw_none)),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    default = SOTConfig()
    parser.add_argument("--settings", nargs="*", metavar="BASE,SHIFT",
                        default=["0,0", "0,0.05", f"{default.base_sigma_frac},{default.shift_sigma_frac}"],
                        help="base_sigma_frac,shift_sigma_frac pairs to compare")  # fmt: skip
    args = parser.parse_args()
    print("base,shift sigma frac | samples | median ratio | max ratio | hand grainier than face | SW sot / none")
    for setting in args.settings:
        base, shift = (float(value) for value in setting.split(","))
        row = measure(args.n, args.seed, args.size, SOTConfig(base_sigma_frac=base, shift_sigma_frac=shift))
        print(f"{setting:>21} | {row['samples']:7d} | {row['median_ratio']:12.2f} | {row['max_ratio']:9.2f} | "
              f"{row['grainier_than_face']:23d} | {row['sw_sot']:.1f} / {row['sw_none']:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
