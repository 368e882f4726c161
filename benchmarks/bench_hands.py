"""NatOcc hands: SOT colour transfer, matting and generation speed (and quality), on drawn hands.

    python benchmarks/bench_hands.py [--n 256] [--size 512] [--only sot|matting|generate]

Measures:
- SOT per hand at 512² on one core (median of 20): the default (fit on 4096 pixels, 17³ lookup table)
  against an iterative SOT on every pixel (20 rounds of 3 orthonormal directions), with POT's sliced
  Wasserstein distance of the hand's colours to the face's before / after;
- matting seconds per 11k-Hands-sized photo (1600x1200, drawn hand on near-white), and its alpha error;
- NatOcc hands samples/s at ``--size`` with 1 and 2 workers (dask), demo faces and demo hands.
Targets (issue #3, 2-core machine): SOT <= 30 ms, NatOcc >= 15 samples/s with 2 workers. Not a test:
absolute times drift between runs (and with other load on the machine), compare ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import ot

from occgen.appearance.sot import SOTConfig, SOTParams, transfer_colours
from occgen.core.files import demo_root
from occgen.core.imageio import read_binary_mask, read_image
from occgen.core.params import BaseConfig
from occgen.prep.hands.matting import MattingConfig, auto_trimap, matte
from occgen.prep.hands.synthetic import on_background, render_hand, sample_hand_shape
from occgen.recipes.natocc import NatOccConfig
from occgen.run.generate import generate
from occgen.settings import NatOccSettings, build_natocc_recipe


def sliced(a: np.ndarray, b: np.ndarray) -> float:
    pick = np.random.default_rng(0)
    a = a[pick.choice(len(a), min(len(a), 16000), replace=False)].astype(np.float64)
    b = b[pick.choice(len(b), min(len(b), 16000), replace=False)].astype(np.float64)
    return float(ot.sliced.sliced_wasserstein_distance(a, b, n_projections=100, seed=0))


def full_sot(target: np.ndarray, source: np.ndarray, rounds: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    moving = target.astype(np.float64).copy()
    quantiles = (np.arange(len(moving)) + 0.5) / len(moving)
    for _ in range(rounds):
        basis, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        for direction in basis.T:
            proj = moving @ direction
            order = np.argsort(proj)
            ranks = quantiles * (len(source) - 1)
            matched = np.interp(ranks, np.arange(len(source)), np.sort(source @ direction))
            moving[order] += np.outer(matched - proj[order], direction)
    return moving


def median_ms(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def bench_sot() -> None:
    faces = demo_root() / "faces"
    face = read_image(faces / "images" / "astronaut.jpg")
    mask = read_binary_mask(faces / "masks" / "astronaut.png")
    rng = np.random.default_rng(0)
    shape = replace(sample_hand_shape(rng=rng, rot90=0), skin_rgb=(120, 82, 62))
    rgb, alpha = render_hand(shape, 512, 512, rng=rng)
    solid = alpha >= 0.5
    face_colours = face[mask.astype(bool)]
    start = sliced(rgb[solid], face_colours)
    print(f"SOT at 512² ({int(solid.sum())} hand px, {len(face_colours)} face px); sliced W2 before: {start:.1f}")
    for name, config in (
        ("default 15x5, fit 4096, LUT 17", SOTConfig()),
        ("  without preprocess", SOTConfig(preprocess=False)),
        ("  fit 2048, LUT 13", SOTConfig(fit_pixels=2048, lut_size=13)),
        ("  LUT 33", SOTConfig(lut_size=33)),
    ):
        params = SOTParams(direction_seed=1)
        ms = median_ms(lambda c=config, p=params: transfer_colours(rgb, alpha, face, mask, c, p), 20)
        out = transfer_colours(rgb, alpha, face, mask, config, params)
        print(f"{name:34s}: {ms:6.1f} ms   sliced W2 after: {sliced(out[solid], face_colours):.2f}")
    started = time.perf_counter()
    reference = full_sot(rgb[solid], face_colours.astype(np.float64), 20)
    seconds = time.perf_counter() - started
    print(f"{'full-res iterative SOT, 20x3':34s}: {1000 * seconds:6.0f} ms   sliced W2 after: "
          f"{sliced(np.clip(reference, 0, 255), face_colours):.2f}")  # fmt: skip


def bench_matting() -> None:
    rng = np.random.default_rng(1)
    fg, alpha = render_hand(sample_hand_shape(rng=rng, rot90=0), 1200, 1600, rng=rng)
    image = on_background(fg, alpha, rng=rng)
    import pymatting  # noqa: F401  (compile / load from numba's cache outside the timing)

    for solver in ("cf", "lkm"):
        config = MattingConfig(solver=solver)
        started = time.perf_counter()
        trimap = auto_trimap(image, config)
        result = matte(image, trimap, config)
        seconds = time.perf_counter() - started
        edge = (alpha > 0.02) & (alpha < 0.98)
        error = np.abs(result.alpha - alpha)
        print(
            f"matting 1600x1200, {solver:3s}: {seconds:5.2f} s per photo; alpha MAE {error.mean():.4f}"
            f" (edge {error[edge].mean():.3f}), unknown {result.unknown_frac:.1%} of the box"
        )


def bench_generate(n: int, size: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="occgen-bench-hands-"))
    try:
        for transfer in ("sot", "none"):
            natocc = NatOccConfig(color_transfer=transfer, objects_frac=0.0)  # hands only
            settings = NatOccSettings(base=BaseConfig(seed=0, size=size), natocc=natocc)
            recipe = build_natocc_recipe(settings)
            for workers in (1, 2):
                out = workdir / f"{transfer}{workers}.zarr"
                started = time.perf_counter()
                generate(recipe, out, n=n, shard_size=64, workers=workers)
                rate = n / (time.perf_counter() - started)
                print(f"natocc hands ({transfer:4s}), {workers} worker(s): {rate:6.1f} samples/s at {size}²")
    finally:
        shutil.rmtree(workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--only", choices=("sot", "matting", "generate"), default=None)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    if args.only in (None, "sot"):
        bench_sot()
    if args.only in (None, "matting"):
        bench_matting()
    if args.only in (None, "generate"):
        bench_generate(args.n, args.size)


if __name__ == "__main__":
    main()
