"""RandOcc generation speed at 512² against the I/O floor, reported as ratios.

    python benchmarks/bench_generate.py [--n 256] [--size 512]

Measures (on the embedded demo assets):
- samples/s of `generate` with 1 worker (in-process) and 2 workers (dask LocalCluster), end to end
  including cluster start-up;
- the I/O floor per sample: decode one face JPEG + its PNG mask, one alpha blend of a full-size
  occluder, and the amortised cost of writing it in a whole zarr shard.
Targets (issue #2, 2-core machine): >= 20 samples/s with 2 workers, >= 0.6 x the floor, 2 workers
>= 1.8 x 1 worker. Not a test: absolute times drift between runs, compare the ratios.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import zarr

from occgen.core.files import demo_root
from occgen.core.imageio import read_binary_mask, read_image
from occgen.core.params import BaseConfig
from occgen.run.generate import generate
from occgen.settings import RandOccSettings, build_randocc_recipe
from occgen.store.schema import create_store, write_shard


def floor_seconds_per_sample(size: int, shard: int, workdir: Path) -> float:
    """Decode a face, blend one occluder over it, and write it as part of a whole shard."""
    faces = demo_root() / "faces"
    image_path, mask_path = faces / "images" / "astronaut.jpg", faces / "masks" / "astronaut.png"
    rng = np.random.default_rng(0)
    occluder = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    alpha = np.zeros((size, size), np.float32)
    cv2.circle(alpha, (size // 2, size // 2), size // 4, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (5, 5), 0)[:, :, None]
    group = create_store(workdir / "floor.zarr", n=shard, size=size, shard_size=shard, card={})
    images = np.empty((shard, size, size, 3), np.uint8)
    masks = np.empty((shard, size, size), np.uint8)
    started = time.perf_counter()
    for i in range(shard):
        face = cv2.resize(read_image(image_path), (size, size))
        mask = cv2.resize(read_binary_mask(mask_path), (size, size), interpolation=cv2.INTER_NEAREST)
        images[i] = (alpha * occluder + (1 - alpha) * face).astype(np.uint8)
        masks[i] = mask
    write_shard(group, 0, images, masks, masks, [{}] * shard)
    return (time.perf_counter() - started) / shard


def generate_rate(n: int, size: int, workers: int, workdir: Path) -> float:
    recipe = build_randocc_recipe(RandOccSettings(base=BaseConfig(seed=0, size=size)))
    out = workdir / f"w{workers}.zarr"
    started = time.perf_counter()
    generate(recipe, out, n=n, shard_size=64, workers=workers)
    seconds = time.perf_counter() - started
    assert zarr.open_group(str(out), mode="r")["image"].shape[0] == n
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="occgen-bench-"))
    try:
        floor = 1.0 / floor_seconds_per_sample(args.size, 64, workdir)
        one = generate_rate(args.n, args.size, 1, workdir)
        two = generate_rate(args.n, args.size, 2, workdir)
    finally:
        shutil.rmtree(workdir)
    print(f"size {args.size}px, n {args.n}")
    print(f"I/O floor (1 core)        : {floor:7.1f} samples/s")
    print(f"randocc, 1 worker         : {one:7.1f} samples/s  ({one / floor:.2f} x floor)")
    print(f"randocc, 2 workers (dask) : {two:7.1f} samples/s  ({two / floor:.2f} x floor, {two / one:.2f} x 1 worker)")


if __name__ == "__main__":
    main()
