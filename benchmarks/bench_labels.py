"""What the optional label arrays cost: bytes per sample per array and codec, and generation speed.

    python benchmarks/bench_labels.py [--recipe randocc|natocc] [--n 32] [--size 512] [--codecs jpegxl zstd jpeg:95]
        [--repeats 2] [--workers 1] [--shard-size N] [--speed-labels parsing,amodal,occluder-class]

For each image codec, the same samples are generated (``--workers 1``: in this process; more: a local dask
cluster, as ``occgen generate --workers N`` runs) into a default store and a store with every label
(``parsing,amodal,clean,occluder-class``). Reported per codec:
- bytes per sample of the default store, of each extra array, and the ratios
  ``(parsing + face_mask_amodal + occluder_class) / default`` (issue 15 target <= 0.15) and
  ``all labels / default`` (target <= 2.2; ``clean_image`` keeps only the box where the clean face differs
  from the image, occgen/store/clean.py);
- generation speed with all labels / without (target >= 0.85): best time over best time, alternating the
  two runs ``--repeats`` times so that load from other jobs hits both alike, and the range of the ratios of
  each alternating pair (how far to trust it); and the same ratio of CPU seconds (this process and its
  worker processes), which idle gaps and scheduling do not blur.
Not a test: absolute times drift between runs, compare the ratios.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from occgen.core.labels import LABEL_ARRAYS, parse_labels
from occgen.core.params import BaseConfig
from occgen.run.generate import generate
from occgen.settings import NatOccSettings, RandOccSettings, build_natocc_recipe, build_randocc_recipe

ALL_LABELS = tuple(LABEL_ARRAYS)


def array_bytes(store: Path) -> dict[str, int]:
    """Bytes on disk of each array folder of a store."""
    return {
        folder.name: sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        for folder in store.iterdir()
        if folder.is_dir()
    }


def cpu_seconds() -> float:
    """User + system time of this process and its reaped children (a local cluster's worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_generate(recipe, path: Path, n: int, codec: str, labels: tuple[str, ...], workers: int,
                   shard_size: int) -> tuple[float, float]:  # fmt: skip
    """(wall seconds, CPU seconds) of one generation; CPU time includes the cluster's start and stop."""
    if path.exists():
        shutil.rmtree(path)
    started, cpu = time.perf_counter(), cpu_seconds()
    generate(recipe, path, n=n, shard_size=shard_size, workers=workers, image_codec=codec, labels=labels)
    return time.perf_counter() - started, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=("randocc", "natocc"), default="randocc")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--codecs", nargs="+", default=["jpegxl", "zstd", "jpeg:95"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="1: in this process; more: a local dask cluster")
    parser.add_argument("--shard-size", type=int, default=0, help="samples per shard [default: n / workers]")
    parser.add_argument(
        "--speed-labels",
        default=",".join(ALL_LABELS),
        help="labels of the timed 'all' run (bytes always need every label)",
    )
    args = parser.parse_args()
    speed_labels = parse_labels(args.speed_labels)
    base = BaseConfig(seed=0, size=args.size)
    if args.recipe == "randocc":
        recipe = build_randocc_recipe(RandOccSettings(base=base))
    else:
        recipe = build_natocc_recipe(NatOccSettings(base=base))
    workdir = Path(tempfile.mkdtemp(prefix="occgen-labels-"))
    try:
        recipe.make(0)  # warm caches (hands, textures) before timing
        shard_size = args.shard_size or -(-args.n // args.workers)
        run = {"workers": args.workers, "shard_size": shard_size}
        print(f"{args.recipe} {args.size}px, {args.n} samples, {args.workers} worker(s), shards of {shard_size}")
        header = ("codec", "default KB", "parsing", "amodal", "occ_class", "clean KB", "masks/default",
                  "all/default", "speed all/none", "CPU all/none")  # fmt: skip
        print(" | ".join(header))
        print(" | ".join("---" for _ in header))
        for codec in args.codecs:
            plain, rich = workdir / "plain.zarr", workdir / "rich.zarr"
            seconds_plain, seconds_rich = [], []
            for _ in range(args.repeats):
                seconds_plain.append(timed_generate(recipe, plain, args.n, codec, (), **run))
                seconds_rich.append(timed_generate(recipe, rich, args.n, codec, speed_labels, **run))
            if speed_labels != ALL_LABELS:
                timed_generate(recipe, rich, args.n, codec, ALL_LABELS, **run)
            default = array_bytes(plain)
            extra = array_bytes(rich)
            default_total = sum(default.values()) / args.n
            per = {name: extra.get(name, 0) / args.n for name in LABEL_ARRAYS.values()}
            per["clean_image"] = (extra["clean_box"] + extra["clean_patch"]) / args.n  # how a store keeps it
            masks = per["parsing"] + per["face_mask_amodal"] + per["occluder_class"]
            all_total = sum(extra.values()) / args.n
            speed = min(s for s, _ in seconds_plain) / min(s for s, _ in seconds_rich)
            pairs = sorted(p[0] / r[0] for p, r in zip(seconds_plain, seconds_rich, strict=True))
            cpu = min(c for _, c in seconds_plain) / min(c for _, c in seconds_rich)
            print(
                f"{codec} | {default_total / 1024:.1f} | {per['parsing'] / 1024:.2f} | "
                f"{per['face_mask_amodal'] / 1024:.2f} | {per['occluder_class'] / 1024:.2f} | "
                f"{per['clean_image'] / 1024:.1f} | {masks / default_total:.3f} | {all_total / default_total:.2f} | "
                f"{speed:.2f} (pairs {pairs[0]:.2f}-{pairs[-1]:.2f}) | {cpu:.2f}"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
