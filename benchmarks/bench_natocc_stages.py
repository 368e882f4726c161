"""Where `occgen generate natocc` spends its time: one worker, cProfile, cumulative seconds of the
functions that make up a sample (face decoding, SOT, compositing, harmonising, cut-out decoding, shard
encoding), as shares of the whole run. Runs the default (paired) job on the demo, or on rehearsal data
(benchmarks/rehearsal.py) with --faces.

    python benchmarks/bench_natocc_stages.py --n 64 --size 512 [--faces /tmp/rehearsal/CelebAMask-HQ]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from occgen.core.params import BaseConfig
from occgen.settings import NatOccSettings, build_natocc_recipe

STAGES = {
    "face decoding": ("faces.py", "load"),
    "cut-out decoding": ("imageio.py", "read_rgba"),
    "SOT colour transfer": ("sot.py", "transfer_colours"),
    "compositing": ("compose.py", "apply_composite"),
    "harmonising": ("harmonise.py", "apply_batch"),
    "shard encoding + write": ("schema.py", "write_shard"),
}


def profile_stages(recipe: object, n: int, shard_size: int = 64) -> tuple[float, dict[str, float]]:
    """Generate ``n`` samples of ``recipe`` in one worker under cProfile: total seconds and seconds per stage."""
    from occgen.run.generate import generate

    with tempfile.TemporaryDirectory() as tmp:
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        generate(recipe, Path(tmp) / "natocc.zarr", n=n, shard_size=shard_size, workers=1)
        profile.disable()
        total = time.perf_counter() - started
    stats = pstats.Stats(profile).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    seconds = {stage: sum(v[3] for k, v in stats.items() if k[0].endswith(file) and k[2] == name)
               for stage, (file, name) in STAGES.items()}  # fmt: skip
    return total, seconds


def print_shares(total: float, seconds: dict[str, float]) -> None:
    print("| stage | seconds | share |\n|---|---|---|")
    for stage, value in seconds.items():
        print(f"| {stage} | {value:.2f} | {value / total:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--faces", type=Path, default=None)
    args = parser.parse_args()
    from dataclasses import replace

    from occgen.sources.faces import FacesConfig

    settings = NatOccSettings(base=BaseConfig(seed=0, size=args.size))
    if args.faces is not None:
        settings = replace(settings, faces=FacesConfig(path=args.faces))
    total, seconds = profile_stages(build_natocc_recipe(settings), args.n)
    print(f"{args.n} samples at {args.size}² in {total:.1f} s ({args.n / total:.1f} samples/s, 1 worker, profiled)")
    print_shares(total, seconds)


if __name__ == "__main__":
    main()
