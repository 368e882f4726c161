"""FaceOcc speed: `occgen generate faceocc` samples/s, and whether the online dataset keeps training fed.

    python benchmarks/bench_faceocc.py [--n 256] [--size 256] [--steps 6] [--batch 16]

1. Generation on the drawn demo (assets/demo/faceocc, demo faces): ``recipe.make`` alone in this process,
   then whole stores (jpegxl, the default codec) with 1 and 2 workers. Issue 18 target: >= 150 samples/s
   with 2 workers at 256².
2. Online training: an OnlineDataset of the FaceOcc recipe behind a 2-worker DataLoader feeding the
   ResNet-18 U-Net (bf16 autocast, channels_last, BCE + OHEM) for ``--steps`` steps; reports the time the
   loop waited for data against the time of a training step. Data keeps up when wait / step is near 0.

Not a test: absolute times drift on a shared machine; compare the ratios.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from occgen.run.generate import generate, make_shard_arrays
from occgen.settings import FaceOccSettings, build_faceocc_recipe
from occgen.store.schema import create_store, write_shard
from occgen.train.loss import ohem_bce_loss
from occgen.train.model import build_model
from occgen.train.online import OnlineDataset


def make_rate(recipe: object, n: int) -> float:
    started = time.perf_counter()
    for index in range(n):
        recipe.make(index)  # type: ignore[attr-defined]
    return n / (time.perf_counter() - started)


def cpu_ms_per_sample(recipe: object, n: int, codec: str, workdir: Path) -> tuple[float, float]:
    """CPU ms per sample of making and of writing (``codec``): stable on a loaded machine, unlike wall time."""
    started = time.process_time()
    arrays = make_shard_arrays(recipe, 0, n)  # type: ignore[arg-type]
    make = time.process_time() - started
    group = create_store(workdir / "cpu.zarr", n=n, size=arrays[0].shape[1], shard_size=n,
                         card={"recipe": "faceocc", "seed": 0}, image_codec=codec)  # fmt: skip
    started = time.process_time()
    write_shard(group, 0, *arrays)
    write = time.process_time() - started
    shutil.rmtree(workdir / "cpu.zarr")
    return make / n * 1000, write / n * 1000


def store_rate(recipe: object, n: int, workers: int, workdir: Path) -> float:
    out = workdir / f"w{workers}.zarr"
    report = generate(recipe, out, n=n, shard_size=32, workers=workers)  # type: ignore[arg-type]
    shutil.rmtree(out)
    return report.samples_per_second


def online_feed(recipe: object, steps: int, batch: int, size: int, workers: int) -> tuple[float, float]:
    """Mean seconds waiting for a batch and mean seconds of a training step."""
    dataset = OnlineDataset(recipe, steps * batch, input_size=size)  # type: ignore[arg-type]
    loader = DataLoader(dataset, batch_size=batch, num_workers=workers, persistent_workers=False)
    model = build_model(seed=0).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    waits, steps_s = [], []
    mark = time.perf_counter()
    for images, masks in loader:
        got = time.perf_counter()
        waits.append(got - mark)
        inputs = images.float().div_(255.0).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(inputs)
        loss = ohem_bce_loss(logits.float(), masks.unsqueeze(1).float(), min_kept=size * size - 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        mark = time.perf_counter()
        steps_s.append(mark - got)
    # The first batch includes the workers' start-up; leave it out when there are others.
    waits = waits[1:] or waits
    steps_s = steps_s[1:] or steps_s
    return sum(waits) / len(waits), sum(steps_s) / len(steps_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()
    settings = FaceOccSettings()
    settings = replace(settings, faceocc=replace(settings.faceocc, size_px=args.size))
    recipe = build_faceocc_recipe(settings)
    recipe.make(0)  # warm caches (imports, first decode)
    print(f"recipe.make, 1 process: {make_rate(recipe, min(args.n, 128)):.1f} samples/s at {args.size}²")
    with tempfile.TemporaryDirectory() as tmp:
        make_ms, write_ms = cpu_ms_per_sample(recipe, min(args.n, 64), "jpegxl", Path(tmp))
        print(f"CPU per sample: make {make_ms:.1f} ms + write (jpegxl) {write_ms:.1f} ms = "
              f"{1000 / (make_ms + write_ms):.0f} samples/s per core")  # fmt: skip
        one = store_rate(recipe, args.n, 1, Path(tmp))
        two = store_rate(recipe, args.n, 2, Path(tmp))
    print(f"generate, 1 worker: {one:.1f} samples/s; 2 workers: {two:.1f} samples/s (x{two / one:.2f})")
    if not args.skip_train:
        wait, step = online_feed(recipe, args.steps, args.batch, args.size, workers=2)
        print(f"online, 2 DataLoader workers, batch {args.batch}: data wait {wait * 1000:.0f} ms, "
              f"step {step * 1000:.0f} ms, wait/step {wait / step:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
