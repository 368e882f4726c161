"""Image codecs for stores: bytes per sample, write/read time, and for lossy codecs the damage.

    python benchmarks/bench_codecs.py [--n 32] [--sizes 512 1024]

Samples are real RandOcc composites of the embedded demo faces. Each codec writes them through the
store's own path (create_store + write_shard, one whole shard) and reads them back sample by sample.
Reported per sample: size, write ms (wall and CPU), read ms, and for lossy codecs the PSNR and the
share of pixels in the 8 px band around occluder edges that moved by more than 8 grey levels (how far
the artefacts reach along the edges a segmentation model has to learn). Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from occgen.core.params import BaseConfig
from occgen.run.generate import make_shard_arrays
from occgen.settings import RandOccSettings, build_randocc_recipe
from occgen.store.schema import ShardReader, create_store, write_shard

CODECS = ["zstd", "zstd:9", "jpegxl", "webp", "jpeg:95", "jpeg:90", "jpegxl:90", "webp:90"]


def edge_band(occluder_masks: np.ndarray, width: int = 8) -> np.ndarray:
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    bands = []
    for mask in occluder_masks:
        solid = (mask > 127).astype(np.uint8)
        bands.append((cv2.dilate(solid, kernel) - cv2.erode(solid, kernel)).astype(bool))
    return np.stack(bands)


def measure(codec: str, arrays: tuple, workdir: Path) -> dict[str, float]:
    images, face_masks, occluder_masks, metadata = arrays[:4]
    n, size = images.shape[:2]
    path = workdir / f"{codec.replace(':', '_')}-{size}.zarr"
    group = create_store(path, n=n, size=size, shard_size=n, card={"recipe": "randocc", "seed": 0}, image_codec=codec)
    wall, cpu = time.perf_counter(), time.process_time()
    write_shard(group, 0, images, face_masks, occluder_masks, metadata)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    group.attrs["occgen"] = {**group.attrs["occgen"], "complete": True}
    image_bytes = sum(f.stat().st_size for f in (path / "image").rglob("*") if f.is_file())
    reader = ShardReader(path)
    started = time.perf_counter()
    decoded = np.stack([reader[i].image for i in range(n)])
    read = time.perf_counter() - started
    mse = np.mean((decoded.astype(np.float64) - images) ** 2)
    band = edge_band(occluder_masks)
    moved = (np.abs(decoded.astype(np.int16) - images).max(axis=3) > 8) & band
    shutil.rmtree(path)
    return {
        "kb": image_bytes / n / 1024,
        "write_ms": 1000 * wall / n,
        "write_cpu_ms": 1000 * cpu / n,
        "read_ms": 1000 * read / n,
        "psnr": float("inf") if mse == 0 else 10 * np.log10(255**2 / mse),
        "edge_moved": moved.sum() / max(band.sum(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="occgen-codecs-"))
    try:
        for size in args.sizes:
            recipe = build_randocc_recipe(RandOccSettings(base=BaseConfig(seed=0, size=size)))
            arrays = make_shard_arrays(recipe, 0, args.n)
            results = {codec: measure(codec, arrays, workdir) for codec in CODECS}
            base = results["zstd"]["kb"]
            print(f"\n{size}px, {args.n} samples")
            print(
                "| codec | KB/sample | x smaller than zstd | write ms (CPU ms) | read ms | PSNR dB | edge px moved >8 |"
            )
            print("|---|---|---|---|---|---|---|")
            for codec, r in results.items():
                psnr = "lossless" if r["psnr"] == float("inf") else f"{r['psnr']:.1f}"
                write = f"{r['write_ms']:.1f} ({r['write_cpu_ms']:.1f})"
                print(f"| {codec} | {r['kb']:.0f} | {base / r['kb']:.1f} | {write} "
                      f"| {r['read_ms']:.1f} | {psnr} | {100 * r['edge_moved']:.2f} % |")  # fmt: skip
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
