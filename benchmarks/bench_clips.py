"""Clips (issue 27): CPU ms per clip frame against per still, in one process, and bytes per frame against
bytes per still through ``occgen generate`` (the default codec). Targets: frames >= 0.8x the still's speed,
bytes per frame within +-10 % of a still's.

    python -m benchmarks clips [--recipes randocc natocc] [--sizes 256 512] [--n 64] [--frames 16]
                               [--repeats 3] [--bytes-size 512] [--bytes-n 1024 4096] [--workers 2]

- ``<recipe>_still_ms_<size>`` / ``<recipe>_frame_ms_<size>``: CPU ms (user + system) of ``make`` per still
  (samples 0..n-1) and per frame (``make_batch`` of the first n / frames clips), the embedded demo sources,
  OpenCV on one thread (as in ``generate``'s workers),
  best of ``--repeats`` runs made alternately (still, frames, still, frames...) after a warm-up on other
  indices; ``<recipe>_frame_speed_<size>`` = still ms / frame ms (the target: >= 0.8);
- ``<recipe>_still_kb_<size>_<n>`` / ``<recipe>_frame_kb_<size>_<n>``: store bytes (every file of the store,
  card and shard indexes included) per sample of ``occgen generate RECIPE --n N`` against ``--frames T --n N/T``
  (the same number of frames), ``--workers`` workers, ``--bytes-size`` px; ``<recipe>_frame_bytes_<size>_<n>``
  is their ratio and ``<recipe>_still_s_<n>`` / ``<recipe>_frame_s_<n>`` the commands' wall seconds. Each frame
  is its own chunk (inside shards of whole clips), so bytes per frame do not depend on the count: two counts
  check it.

Absolute figures drift with the machine's load: compare the ratios of runs made back to back.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2

from occgen.core.params import BaseConfig
from occgen.run.clips import clip_recipe
from occgen.settings import NatOccSettings, RandOccSettings, build_natocc_recipe, build_randocc_recipe

Figure = tuple[str, float, str]  # name, value, unit


def cpu_seconds() -> float:
    """User + system seconds of this process."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def build(recipe: str, size: int) -> Any:
    base = BaseConfig(seed=0, size=size)
    if recipe == "randocc":
        return build_randocc_recipe(RandOccSettings(base=base))
    return build_natocc_recipe(NatOccSettings(base=base))


def speed_figures(name: str, size: int, n: int, frames: int, repeats: int) -> list[Figure]:
    """CPU ms per still and per clip frame of ``name`` at ``size``, best of ``repeats`` alternated runs."""
    cv2.setNumThreads(1)  # as in generate's workers (occgen/run/parallel.py)
    recipe = build(name, size)
    clips = clip_recipe(recipe, frames)
    clip_count = max(1, n // frames)

    def stills() -> None:
        for index in range(n):
            recipe.make(index)

    def clip_frames() -> None:
        for clip_index in range(clip_count):
            clips.make_batch(range(clip_index * frames, (clip_index + 1) * frames))

    for index in range(1000, 1000 + min(n, 8)):  # warm the caches (faces, textures, cut-outs) elsewhere
        recipe.make(index)
    clips.make_batch(range(1000 * frames, 1001 * frames))
    best: dict[str, float] = {}
    for _ in range(repeats):
        for label, work, count in (("still", stills, n), ("frame", clip_frames, clip_count * frames)):
            started = cpu_seconds()
            work()
            ms = (cpu_seconds() - started) * 1000.0 / count
            best[label] = min(best.get(label, ms), ms)
    return [
        (f"{name}_still_ms_{size}", best["still"], "ms"),
        (f"{name}_frame_ms_{size}", best["frame"], "ms"),
        (f"{name}_frame_speed_{size}", best["still"] / best["frame"], "x"),
    ]


def store_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def generate(name: str, out: Path, size: int, n: int, workers: int, frames: int | None) -> float:
    """Run ``occgen generate`` (its own process, the default codec, no preview); its wall seconds."""
    command = [sys.executable, "-m", "occgen", "generate", name, "--out", str(out), "--size", str(size), "--n",
               str(n), "--workers", str(workers), "--seed", "0", "--no-preview"]  # fmt: skip
    if frames is not None:
        command += ["--frames", str(frames)]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def bytes_figures(name: str, size: int, counts: list[int], frames: int, workers: int, root: Path) -> list[Figure]:
    """Bytes per still and per frame of stores of ``count`` samples (``count // frames`` clips)."""
    figures: list[Figure] = []
    for count in counts:
        clips = max(1, count // frames)
        runs: list[tuple[str, int, int | None]] = [("still", count, None), ("frame", clips, frames)]
        kb: dict[str, float] = {}
        for label, n, clip_frames in runs:
            out = root / f"{name}-{label}-{count}.zarr"
            seconds = generate(name, out, size, n, workers, clip_frames)
            samples = n * (clip_frames or 1)
            kb[label] = store_bytes(out) / samples / 1000.0
            figures += [(f"{name}_{label}_kb_{size}_{count}", kb[label], "KB"),
                        (f"{name}_{label}_s_{count}", seconds, "s")]  # fmt: skip
            shutil.rmtree(out)
        figures.append((f"{name}_frame_bytes_{size}_{count}", kb["frame"] / kb["still"], "x"))
        report(figures[-5:])
    return figures


def report(found: list[Figure]) -> None:
    for name, value, unit in found:
        print(f"{name:32s} {value:10.3f} {unit}", flush=True)


def run(argv: list[str]) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks clips")
    parser.add_argument("--recipes", nargs="+", default=["randocc", "natocc"], choices=["randocc", "natocc"])
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512], help="speed runs' sizes (none: skip)")
    parser.add_argument("--n", type=int, default=64, help="stills (and frames) per timed run")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bytes-size", type=int, default=512)
    parser.add_argument("--bytes-n", type=int, nargs="*", default=[1024, 4096],
                        help="frame counts of the byte runs (none: skip them)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="workers of the byte runs")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    for name in args.recipes:
        for size in args.sizes:
            found = speed_figures(name, size, args.n, args.frames, args.repeats)
            report(found)
            figures += found
    if args.bytes_n:
        root = Path(tempfile.mkdtemp())
        try:
            for name in args.recipes:
                figures += bytes_figures(name, args.bytes_size, args.bytes_n, args.frames, args.workers, root)
        finally:
            shutil.rmtree(root)
    return figures


if __name__ == "__main__":
    run(sys.argv[1:])
