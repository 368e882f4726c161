"""RandOcc against an I/O floor, and 1 -> 2 workers, measured in one run (issue 29).

    python -m benchmarks floor [--n 1024] [--size 512] [--workers 2] [--repeats 3] [--shard-size 64]
                               [--image-codec jpegxl] [--faces DIR]

Four whole commands per repeat, each in its own process (fresh caches, the same interpreter start-up and
worker pool start-up on both sides), alternated in order from one repeat to the next:

- **the I/O floor** with ``--workers`` and with 1 worker: this script in its ``--floor-only`` mode makes the
  same ``--n`` samples through occgen's own worker pool (``occgen.run.parallel.run_tasks``: in-process for 1
  worker, a LocalCluster otherwise, as ``generate`` does), but each sample is only a face decoded from the face
  source (no memo: a decode per sample), one fixed occluder blended over it (``cv2.blendLinear``) and the
  whole shard written with ``write_shard`` in a store with the same image codec and shard size;
- **``occgen generate randocc``** with the same ``--n``, ``--size``, ``--image-codec``, ``--shard-size`` (and
  ``--faces``), with ``--workers`` and with 1 worker.

Figures (samples/s from the wall time of each command; CPU % from its children's rusage): the samples/s of
each, ``randocc_vs_floor`` (RandOcc / floor, both with ``--workers``; target >= 0.8), ``randocc_scaling``
(RandOcc ``--workers`` / 1 worker; target >= 1.8 for 2) and ``floor_scaling`` (the same for the floor: how
much a second worker can give on this machine at all). Ratios are medians of the per-repeat ratios. Not a
test: run it on an idle machine and compare ratios.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from occgen.core.location import Location, parse_location
from occgen.run.parallel import run_tasks
from occgen.sources.faces import FaceSource, open_faces
from occgen.store.group import open_group
from occgen.store.schema import StoreLayout, create_store, shard_count, write_shard

HERE = Path(__file__).resolve()


@dataclass(frozen=True)
class FloorWork:
    """What every floor task needs: the face source, the store's location and layout, one fixed occluder
    (``occluder`` uint8 (H, W, 3), ``weights`` float32 (H, W) in [0, 1] and its mask uint8 (H, W))."""

    faces: FaceSource
    location: Location
    layout: StoreLayout
    occluder: np.ndarray
    weights: np.ndarray
    occluder_mask: np.ndarray


def floor_occluder(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed textured disc over the middle third of the frame, soft-edged: image, blend weight, mask."""
    rng = np.random.default_rng(0)
    occluder = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    weights = np.zeros((size, size), np.float32)
    cv2.circle(weights, (size // 2, size * 2 // 3), size // 5, 1.0, -1)
    weights = cv2.GaussianBlur(weights, (0, 0), max(size / 256, 0.5))
    return occluder, weights, (weights > 0.5).astype(np.uint8)


def floor_shard(work: FloorWork, shard_index: int) -> int:
    """Decode, blend and write one whole shard; returns its sample count."""
    start, stop = work.layout.bounds(shard_index)
    size = work.occluder.shape[0]
    count = stop - start
    images = np.empty((count, size, size, 3), np.uint8)
    face_masks = np.empty((count, size, size), np.uint8)
    occluder_masks = np.broadcast_to(work.occluder_mask, (count, size, size))
    inverse = 1.0 - work.weights
    metadata = []
    for offset, index in enumerate(range(start, stop)):
        face = work.faces.load(index % len(work.faces), size)
        images[offset] = cv2.blendLinear(face.image, work.occluder, inverse, work.weights)
        face_masks[offset] = face.face_mask * (1 - work.occluder_mask)
        metadata.append({"face_id": face.face_id, "floor": True})
    write_shard(open_group(work.location, "r+"), shard_index, images, face_masks, np.ascontiguousarray(occluder_masks),
                metadata, layout=work.layout)  # fmt: skip
    return count


def run_floor(out: Path, n: int, size: int, shard_size: int, workers: int, image_codec: str,
              faces: Path | None) -> None:  # fmt: skip
    """The floor as a whole command: create the store, then one task per shard through occgen's pool."""
    location = parse_location(out)
    create_store(location, n=n, size=size, shard_size=shard_size, card={"floor": True}, image_codec=image_codec)
    layout = StoreLayout(n=n, shard_size=shard_size, image_codec=image_codec)
    occluder, weights, mask = floor_occluder(size)
    work = FloorWork(open_faces(faces), location, layout, occluder, weights, mask)
    done: list[int] = []
    run_tasks(floor_shard, range(shard_count(n, shard_size)), shared=work, workers=workers, on_result=done.append)
    if sum(done) != n:
        raise RuntimeError(f"the floor wrote {sum(done)} samples, expected {n}")


def complete_samples(store: Path) -> int:
    """The store's sample count if every shard is flagged complete, else 0."""
    group = open_group(parse_location(store), "r")
    return int(group["image"].shape[0]) if np.asarray(group["shard_complete"][:]).all() else 0


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], store: Path, n: int) -> tuple[float, float]:
    """Run one whole command; its samples/s (wall) and CPU % (its process tree's user + system time)."""
    cpu, started = children_cpu_s(), time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - started, children_cpu_s() - cpu
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr[-2000:]}")
    written = complete_samples(store)
    if written != n:
        raise RuntimeError(f"{' '.join(command)} wrote {written} samples, expected {n}")
    shutil.rmtree(store)
    return n / seconds, 100.0 * cpu / seconds


def commands(args: argparse.Namespace, work: Path) -> dict[str, tuple[list[str], Path]]:
    """The four whole commands, by name: (argv, its store)."""
    shared = ["--n", str(args.n), "--size", str(args.size), "--shard-size", str(args.shard_size),
              "--image-codec", args.image_codec, *(["--faces", str(args.faces)] if args.faces else [])]  # fmt: skip
    found = {}
    for workers, tag in ((args.workers, f"{args.workers}w"), (1, "1w")):
        floor_store, randocc_store = work / f"floor-{tag}.zarr", work / f"randocc-{tag}.zarr"
        found[f"floor_{tag}"] = ([sys.executable, str(HERE), "--floor-only", "--out", str(floor_store), *shared,
                                  "--workers", str(workers)], floor_store)  # fmt: skip
        found[f"randocc_{tag}"] = ([sys.executable, "-m", "occgen", "generate", "randocc", "--out",
                                    str(randocc_store), *shared, "--workers", str(workers), "--no-preview"],
                                   randocc_store)  # fmt: skip
    return found


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel runs (compared with 1)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--image-codec", default="jpegxl")
    parser.add_argument("--faces", type=Path, help="a face dataset for both (default: the embedded demo faces)")
    parser.add_argument("--floor-only", action="store_true", help=argparse.SUPPRESS)  # one floor command
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.workers < 2 and not args.floor_only:
        parser.error("--workers must be at least 2 (it is compared with 1 worker)")
    return args


def run(argv: list[str]) -> list[tuple[str, float, str]]:
    args = parse(argv)
    if args.floor_only:
        run_floor(args.out, args.n, args.size, args.shard_size, args.workers, args.image_codec, args.faces)
        return []
    work = Path(tempfile.mkdtemp(prefix="occgen-bench-floor-"))
    rates: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    try:
        runs = commands(args, work)
        for repeat in range(args.repeats):
            order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
            for name in order:
                rate, percent = timed(*runs[name], args.n)
                rates.setdefault(name, []).append(rate)
                cpu.setdefault(name, []).append(percent)
                print(f"repeat {repeat + 1}: {name:12s} {rate:7.1f} samples/s  {percent:5.0f} % CPU", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tag = f"{args.workers}w"

    def ratio(top: str, bottom: str) -> float:
        return float(np.median([a / b for a, b in zip(rates[top], rates[bottom], strict=True)]))

    figures: list[tuple[str, float, str]] = []
    for name in runs:
        figures.append((f"{name}_samples_s", float(np.median(rates[name])), "samples/s"))
        figures.append((f"{name}_cpu_pct", float(np.median(cpu[name])), "%"))
    figures += [
        ("randocc_vs_floor", ratio(f"randocc_{tag}", f"floor_{tag}"), "ratio"),
        ("randocc_scaling", ratio(f"randocc_{tag}", "randocc_1w"), "ratio"),
        ("floor_scaling", ratio(f"floor_{tag}", "floor_1w"), "ratio"),
    ]
    for name, value, unit in figures:
        print(f"{name:24s} {value:9.2f} {unit}")
    return figures


if __name__ == "__main__":
    run(sys.argv[1:])
