"""Online clip pairs (issue 27, ``train --online RECIPE --clips``): CPU ms per pair against two online stills.

    python benchmarks/bench_online_clips.py [--recipes randocc natocc faceocc] [--n 16] [--frames 16] [--repeats 3]

Per recipe (its params.yaml defaults, the embedded demo sources, its default size, OpenCV and torch on one thread):
``two stills`` is the CPU ms (user + system) of two ``OnlineDataset.load`` calls (what the trainer pays for the two
frames of a pair made as stills), ``one pair`` of one ``OnlineClipPairDataset.load`` (one clip drawn, frames t and
t+1 rendered), ``whole clip`` of rendering all ``--frames`` frames of a clip (what rendering the whole clip would
cost). Items 0..n-1 (2n for stills), best of ``--repeats`` runs made alternately after a warm-up. Absolute figures
drift with the machine's load: compare the ratios of runs made back to back.
"""

from __future__ import annotations

import argparse
import resource
from collections.abc import Callable

import cv2
import torch

from occgen.settings import build_named_recipe
from occgen.train.online import OnlineDataset
from occgen.train.online_clips import OnlineClipPairDataset


def cpu_ms(work: Callable[[], object]) -> float:
    """User + system CPU ms of ``work()`` in this process."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    work()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000.0


def measure(name: str, n: int, frames: int, repeats: int) -> str:
    recipe, _ = build_named_recipe(name, None)
    stills = OnlineDataset(recipe, 2 * n, input_size=recipe.size)
    pairs = OnlineClipPairDataset(recipe, n, input_size=recipe.size, frames=frames)
    stills.load(1, 0), pairs.load(1, 0)  # warm the caches (faces, textures, cut-outs) on other items
    works = {
        "two stills": lambda: [stills.load(0, i) for i in range(2 * n)],
        "one pair": lambda: [pairs.load(0, i) for i in range(n)],
        "whole clip": lambda: [pairs.clips.make_batch(range(c * frames, (c + 1) * frames)) for c in range(n)],
    }
    best = dict.fromkeys(works, float("inf"))
    for _ in range(repeats):
        for label, work in works.items():
            best[label] = min(best[label], cpu_ms(work) / n)
    ratio = best["one pair"] / best["two stills"]
    return (f"{name} {recipe.size} px: two stills {best['two stills']:.1f} ms, one pair {best['one pair']:.1f} ms "
            f"(x{ratio:.2f}), whole {frames}-frame clip {best['whole clip']:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["randocc", "natocc", "faceocc"])
    parser.add_argument("--n", type=int, default=16, help="pairs per run (stills: twice as many)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # as in generate's workers and a DataLoader worker's share of a busy machine
    torch.set_num_threads(1)
    for name in args.recipes:
        print(measure(name, args.n, args.frames, args.repeats), flush=True)


if __name__ == "__main__":
    main()
