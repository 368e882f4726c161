"""Where `occgen generate natocc` spends its time: one worker's per-sample CPU, split by stage.

Two parts, both in this process (one worker's work, OpenCV single-threaded as in a dask worker):

1. the recipe (``make_shard_arrays`` of whole shards) under cProfile, after a warm-up on other indices (the
   cut-out caches and the face memo full, a worker's steady state): face decoding, SOT colour transfer (its base
   layer, fit, table, lookup and shift smoothing), cut-out shrinking, the compositor (warps, photometric, alpha
   filters, blend and seam), harmonising, metadata, stacking;
2. the shard write (``write_shard``, which runs zarr's codecs on its I/O threads, out of cProfile's sight),
   timed as CPU seconds of the process, next to each of its parts timed alone on the same samples: the image
   codec, the masks' zstd, the metadata JSON, the sha256 of the written bytes.

Runs the default (paired) job on the demo, or on rehearsal data (benchmarks/rehearsal.py) with --faces.

    python benchmarks/bench_natocc_stages.py --n 256 --size 512 [--faces /tmp/rehearsal/CelebAMask-HQ]
    python -m benchmarks natocc_stages --n 256
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.params import BaseConfig
from occgen.settings import NatOccSettings, build_natocc_recipe

Figure = tuple[str, float, str]
#: stage -> (file suffix, function name): cumulative time of that Python function (recipe part).
FUNCTIONS = {
    "face decoding": ("faces.py", "load"),
    "SOT total": ("sot.py", "transfer_colours"),
    "  SOT base layer (full-res Gaussian)": ("sot.py", "base_layer"),
    "  SOT preprocess": ("sot.py", "preprocess_source"),
    "  SOT fit (15x5 rounds)": ("sot.py", "fit_sot"),
    "  SOT table nodes through the map": ("sot.py", "apply"),
    "  SOT lookup (trilinear)": ("sot.py", "_lut_apply"),
    "  SOT shift smoothing": ("sot.py", "smooth_shift"),
    "cut-out shrink": ("natocc.py", "shrink_to_placement"),
    "compositor total": ("compose.py", "apply_composite"),
    "  photometric (JPEG, blur, LUT)": ("compose.py", "apply_photometric"),
    "  alpha erode + blur": ("compose.py", "soften_alpha"),
    "harmonising (lab-stats)": ("harmonise.py", "apply_batch"),
    "metadata (records)": ("drawn.py", "drawn_metadata"),
    "placement draws": ("compose.py", "sample_composite"),
}
#: stage -> (C function name, caller file suffix): time of a builtin called from that file.
BUILTINS = {
    "  warps (2 x warpAffine, whole frame)": ("warpAffine", "compose.py"),
    "  seam blur (GaussianBlur)": ("GaussianBlur", "compose.py"),
}


#: The coarse stages of :func:`profile_stages` (benchmarks/bench_paper_stages.py uses them).
STAGES = {
    "face decoding": ("faces.py", "load"),
    "cut-out decoding": ("imageio.py", "read_rgba"),
    "SOT colour transfer": ("sot.py", "transfer_colours"),
    "compositing": ("compose.py", "apply_composite"),
    "harmonising": ("harmonise.py", "apply_batch"),
    "shard encoding + write": ("schema.py", "write_shard"),
}


def profile_stages(recipe: object, n: int, shard_size: int = 64) -> tuple[float, dict[str, float]]:
    """Generate ``n`` samples of ``recipe`` in one worker under cProfile: total seconds and seconds per
    coarse stage (:data:`STAGES`; zarr's codecs run on its I/O threads, outside the shard write's figure)."""
    from occgen.run.generate import generate

    with tempfile.TemporaryDirectory() as tmp:
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        generate(recipe, Path(tmp) / "natocc.zarr", n=n, shard_size=shard_size, workers=1)
        profile.disable()
        total = time.perf_counter() - started
    stats = pstats.Stats(profile).stats
    return total, {stage: _cumulative(stats, file, name) for stage, (file, name) in STAGES.items()}


def print_shares(total: float, seconds: dict[str, float]) -> None:
    print("| stage | seconds | share |\n|---|---|---|")
    for stage, value in seconds.items():
        print(f"| {stage} | {value:.2f} | {value / total:.0%} |")


def _cumulative(stats: dict[Any, Any], file: str, name: str) -> float:
    return sum(v[3] for k, v in stats.items() if k[0].endswith(file) and k[2] == name)


def _builtin_from(stats: dict[Any, Any], name: str, caller_file: str) -> float:
    total = 0.0
    for key, value in stats.items():
        if key[0] == "~" and name in key[2]:
            total += sum(c[3] for caller, c in value[4].items() if caller[0].endswith(caller_file))
    return total


def recipe_split(recipe: Any, n: int, shard_size: int) -> tuple[float, dict[str, float], list[Any]]:
    """Seconds per sample of making ``n`` samples (whole shards), by stage, and the shards' arrays."""
    from occgen.run.generate import make_shard_arrays

    make_shard_arrays(recipe, 10 * n, 10 * n + shard_size)  # warm the cut-out caches and the face memo
    profile = cProfile.Profile()
    shards = []
    started = time.process_time()
    profile.enable()
    for first in range(0, n, shard_size):
        shards.append(make_shard_arrays(recipe, first, min(first + shard_size, n)))
    profile.disable()
    total = time.process_time() - started
    stats = pstats.Stats(profile).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    seconds = {stage: _cumulative(stats, file, name) for stage, (file, name) in FUNCTIONS.items()}
    seconds |= {stage: _builtin_from(stats, name, caller) for stage, (name, caller) in BUILTINS.items()}
    # cProfile's own overhead inflates Python-heavy stages: scale the split to the unprofiled CPU time.
    profiled = sum(v[2] for v in stats.values())
    return total / n, {k: v / profiled * total / n for k, v in seconds.items()}, shards


def cpu_per(work: Callable[[], Any], count: int, repeats: int = 3) -> float:
    """Median CPU seconds (all threads of this process) of ``work``, divided by ``count``."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        times.append((time.process_time() - started) / count)
    return sorted(times)[len(times) // 2]


def write_split(shards: list[Any], size: int, shard_size: int, image_codec: str) -> dict[str, float]:
    """CPU seconds per sample of writing the shards (``write_shard``), and of each of its parts alone."""
    import numcodecs

    from occgen.store.codecs import parse_image_codec
    from occgen.store.schema import create_store, write_shard

    n = sum(len(shard[0]) for shard in shards)
    root = Path(tempfile.mkdtemp())
    runs = iter(range(100))

    def write_all() -> None:
        group = create_store(root / f"s{next(runs)}.zarr", n=n, size=size, shard_size=shard_size,
                             card={"recipe": "natocc"}, image_codec=image_codec)  # fmt: skip
        for number, arrays in enumerate(shards):
            write_shard(group, number, *arrays)

    codec = parse_image_codec(image_codec)
    images = [image for shard in shards for image in shard[0]]
    masks = [mask for shard in shards for array in shard[1:3] for mask in array]
    encoded = [codec.encode_image(image) for image in images]
    zstd = numcodecs.Zstd(level=3)
    try:
        return {
            "shard write total (write_shard)": cpu_per(write_all, n),
            f"  image encode ({image_codec})": cpu_per(lambda: [codec.encode_image(i) for i in images], n),
            "  masks zstd (2 per sample)": cpu_per(lambda: [zstd.encode(m) for m in masks], n),
            "  metadata JSON": cpu_per(lambda: [json.dumps(m, sort_keys=True) for s in shards for m in s[3]], n),
            "  sha256 of the written bytes": cpu_per(lambda: [hashlib.sha256(b).hexdigest() for b in encoded], n),
            "image bytes per sample": sum(len(b) for b in encoded) / n / 1e6,  # MB, not seconds
        }
    finally:
        shutil.rmtree(root)


def run(argv: list[str]) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks natocc_stages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--image-codec", default="jpegxl")
    parser.add_argument("--faces", type=Path, default=None)
    args = parser.parse_args(argv)
    from occgen.sources.faces import FacesConfig

    cv2.setNumThreads(1)  # as in a dask worker (occgen/run/parallel.py)
    settings = NatOccSettings(base=BaseConfig(seed=0, size=args.size))
    if args.faces is not None:
        settings = replace(settings, faces=FacesConfig(path=args.faces))
    recipe = build_natocc_recipe(settings)
    per_sample, stages, shards = recipe_split(recipe, args.n, args.shard_size)
    writes = write_split(shards, args.size, args.shard_size, args.image_codec)
    megabytes = writes.pop("image bytes per sample")
    total = per_sample + writes["shard write total (write_shard)"]
    print(f"{args.n} samples at {args.size}², one process: {1000 * total:.1f} ms CPU per sample "
          f"(recipe {1000 * per_sample:.1f}, shard write {1000 * writes['shard write total (write_shard)']:.1f}); "
          f"image {megabytes * 1000:.0f} KB per sample")  # fmt: skip
    print("| stage | CPU ms per sample | share |\n|---|---|---|")
    figures: list[Figure] = [("total_ms", 1000 * total, "ms"), ("recipe_ms", 1000 * per_sample, "ms")]
    for stage, value in {**stages, **writes}.items():
        print(f"| {stage} | {1000 * value:.2f} | {value / total:.0%} |")
        figures.append((stage.strip().split(" (")[0].replace(" ", "_") + "_ms", 1000 * value, "ms"))
    figures.append(("image_kb", megabytes * 1000, "KB"))
    return figures


if __name__ == "__main__":
    import sys

    np.set_printoptions(precision=3)
    run(sys.argv[1:])
