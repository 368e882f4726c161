"""ResNet-18 U-Net speed on CPU: training images/s and inference FPS, fp32 vs bf16 autocast, channels_last.

    python benchmarks/bench_train.py [--size 256] [--batch 8] [--iterations 10] [--threads N]
    python benchmarks/bench_train.py --data A.zarr[,B.zarr] --size 128 --batch 16 --steps 6 \\
        [--workers 0,2] [--variants fp32,fp32-cl,bf16-cl] [--repeats 2] [--parts]

Without ``--data`` (random inputs): the model alone. Inference: the model on a random batch (what `occgen
evaluate` records as FPS). Training: one optimiser step of BCE + OHEM on a random batch. Each in fp32
(contiguous and channels_last) and bf16 autocast with channels_last. Issue #6 target on the 2-core machine:
>= 15 images/s bf16 inference at 256², batch 8.

With ``--data`` (issue 24: the real loop): ``occgen.train.trainer.train`` itself on those stores or mixes with a
step budget, for every ``--workers`` x ``--variants`` combination (``fp32``, ``fp32-cl`` channels_last,
``bf16-cl`` bf16 autocast + channels_last), repeated ``--repeats`` times in alternating order; images/s is
timed from the end of the first step to the end of the last (the first step holds the DataLoader start and the
warm-up). ``--parts`` first splits one sample's loading (zarr read + decode, resize, augmentation) and one
step (input conversion, forward, loss, backward, optimizer, per-step metrics) in this process.

Every run prints the torch threads, the CPU's bf16 support and the load average before and after: the
machine may be shared. Not a test: absolute times drift between runs; compare the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from occgen.train.config import TrainConfig
from occgen.train.data import (
    TRAIN_AUGMENT_STREAM,
    ShardShuffleSampler,
    StoreDataset,
    apply_augment,
    sample_augment,
    training_targets,
)
from occgen.train.evaluate import measure_fps
from occgen.train.loss import ohem_bce_loss
from occgen.train.metrics import confusion
from occgen.train.model import build_model
from occgen.train.speed import cpu_bf16_note
from occgen.train.trainer import train

VARIANTS = {"fp32": (False, False), "fp32-cl": (False, True), "bf16-cl": (True, True)}  # (bf16, channels_last)


def load_text() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def train_images_per_s(size: int, batch: int, iterations: int, bf16: bool, channels_last: bool) -> float:
    model = build_model(seed=0).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(batch, 3, size, size, generator=generator)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    target = (torch.rand(batch, 1, size, size, generator=generator) > 0.5).float()

    def step() -> None:
        context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
        with context:
            logits = model(inputs)
        loss = ohem_bce_loss(logits.float(), target, min_kept=100_000)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    started = time.perf_counter()
    for _ in range(iterations):
        step()
    return batch * iterations / (time.perf_counter() - started)


def synthetic(args: argparse.Namespace) -> None:
    device = torch.device("cpu")
    model = build_model(seed=0)
    rows = []
    for dtype, channels_last in (("fp32", False), ("fp32", True), ("bf16", True)):
        speed = measure_fps(model, input_size=args.size, batch_size=args.batch, device=device, dtype=dtype,
                            channels_last=channels_last, iterations=args.iterations)  # fmt: skip
        rows.append((f"inference {dtype}{' channels_last' if channels_last else ''}", speed["fps"]))
    for bf16, channels_last in ((False, False), (False, True), (True, True)):
        images_per_s = train_images_per_s(args.size, args.batch, max(args.iterations // 2, 2), bf16, channels_last)
        rows.append((f"training step {'bf16' if bf16 else 'fp32'}{' channels_last' if channels_last else ''}",
                     images_per_s))  # fmt: skip
    base = rows[0][1]
    print(f"{'':38s} images/s  ratio to fp32 inference")
    for name, value in rows:
        print(f"{name:38s} {value:8.1f}  {value / base:5.2f}")
    target = rows[2][1]
    print(f"target >= 15 images/s bf16 inference: {'met' if target >= 15 else 'NOT met'} ({target:.1f})")


Marks = list[tuple[float, float]]  # (wall, CPU) seconds at each boundary between parts


def mark(marks: Marks) -> None:
    marks.append((time.perf_counter(), time.process_time()))


def add_parts(totals: dict[str, list[float]], marks: Marks) -> None:
    """Add the wall and CPU seconds between consecutive marks to ``totals[part] = [wall, cpu]``."""
    for name, start, stop in zip(totals, marks[:-1], marks[1:], strict=True):
        totals[name][0] += stop[0] - start[0]
        totals[name][1] += stop[1] - start[1]


def parts_text(totals: dict[str, list[float]], count: int) -> str:
    wall, cpu = (sum(v[i] for v in totals.values()) * 1000 / count for i in (0, 1))
    shown = ", ".join(f"{k} {v[0] * 1000 / count:.1f} / {v[1] * 1000 / count:.1f}" for k, v in totals.items())
    return f"{shown}; total {wall:.1f} / {cpu:.1f} (wall / CPU ms)"


def sample_parts(dataset: StoreDataset, indices: list[int]) -> str:
    """Wall and CPU ms per sample of each part of ``dataset[(1, i)]``, timed separately (un-cropped face stores)."""
    from occgen.core.imageio import resize_image, resize_labels
    from occgen.store.schema import IMAGE

    totals = {k: [0.0, 0.0] for k in ("read + decode image", "read + decode label", "resize", "augment", "to tensor")}
    readers = dataset._open()
    for index in indices:
        store, local = dataset.locate(index)
        selection = dataset.selections[store]
        local = local if selection is None else int(selection[local])
        marks: Marks = []
        mark(marks)
        image = readers[store].sample_array(IMAGE, local)
        mark(marks)
        label = readers[store].sample_array(dataset.label_array, local)
        mark(marks)
        side = (dataset.input_size, dataset.input_size)
        image, label = resize_image(image, side), resize_labels(label, side)
        mark(marks)
        assert dataset.augment is not None
        rng = np.random.default_rng([dataset.seed, TRAIN_AUGMENT_STREAM, 1, index])
        targets = apply_augment(training_targets(image, label, "face"), sample_augment(rng=rng, config=dataset.augment))
        mark(marks)
        torch.from_numpy(np.ascontiguousarray(targets.array("image").transpose(2, 0, 1)))
        mark(marks)
        add_parts(totals, marks)
    return parts_text(totals, len(indices))


def step_parts(batch: tuple[torch.Tensor, torch.Tensor], bf16: bool, channels_last: bool, iterations: int,
               adam: dict[str, bool]) -> str:  # fmt: skip
    """Wall and CPU ms of each part of one training step as ``_train_epoch`` runs it (first step not counted)."""
    model = build_model(seed=0).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, **adam)
    totals = {k: [0.0, 0.0] for k in ("input", "forward", "OHEM loss", "backward", "optimizer", "metrics")}
    images, masks = batch
    for iteration in range(iterations + 1):
        marks: Marks = []
        mark(marks)
        target = masks.unsqueeze(1).float()
        inputs = images.float().div_(255.0)
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        mark(marks)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(inputs)
        logits = logits.float()
        mark(marks)
        loss = ohem_bce_loss(logits, target, threshold=0.7, min_kept=100_000)
        mark(marks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        mark(marks)
        optimizer.step()
        mark(marks)
        float(loss.detach())
        float(F.binary_cross_entropy_with_logits(logits.detach(), target))
        confusion((logits.detach()[:, 0] > 0).numpy(), masks.numpy().astype(bool))
        mark(marks)
        if iteration:
            add_parts(totals, marks)
    return parts_text(totals, iterations)


def loop_images_per_s(config: TrainConfig, data: list[Path], scratch: Path) -> float:
    """``train`` on ``data`` for ``config.steps`` steps; images/s from the end of step 1 to the end of the last."""
    stamps: list[float] = []
    out = Path(tempfile.mkdtemp(dir=scratch))
    try:
        train(config, data, out, on_batch=lambda epoch, step, steps, loss: stamps.append(time.perf_counter()))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return config.batch_size * (len(stamps) - 1) / (stamps[-1] - stamps[0])


def real_loop(args: argparse.Namespace) -> None:
    data = [Path(p) for p in args.data.split(",") if p]
    config = TrainConfig(input_size=args.size, batch_size=args.batch, steps=args.steps, epochs=1_000_000,
                         checkpoint_every=1_000_000, seed=0)  # fmt: skip
    if args.parts:
        dataset = StoreDataset(data, input_size=args.size, augment=config.augment, seed=0)
        sampler = ShardShuffleSampler(dataset, seed=0)
        sampler.set_epoch(1)
        order = sampler.order()
        sample_parts(dataset, order[:4])  # warm-up: store handles, codec set-up
        print(f"one sample: {sample_parts(dataset, order[4 : 4 + args.batch * 2])}; {load_text()}", flush=True)
        items = [dataset[(1, i)] for i in order[: args.batch]]
        batch = (torch.stack([image for image, _ in items]), torch.stack([mask for _, mask in items]))
        for variant in args.variants.split(","):
            bf16, channels_last = VARIANTS[variant]
            for adam in ({}, {"foreach": True}, {"fused": True})[: 3 if args.adam else 1]:
                text = step_parts(batch, bf16, channels_last, args.iterations, adam)
                print(f"one step {variant} {adam or ''}: {text}; {load_text()}", flush=True)
    combos = [(int(w), v) for w in args.workers.split(",") for v in args.variants.split(",")]
    results: dict[tuple[int, str], list[float]] = {combo: [] for combo in combos}
    scratch = Path(tempfile.mkdtemp(prefix="bench_train_"))
    try:
        for repeat in range(args.repeats):
            for workers, variant in combos if repeat % 2 == 0 else combos[::-1]:
                bf16, channels_last = VARIANTS[variant]
                run = replace(config, workers=workers, bf16=bf16, channels_last=channels_last)
                value = loop_images_per_s(run, data, scratch)
                results[(workers, variant)].append(value)
                print(f"train() workers {workers} {variant}: {value:.2f} images/s ({load_text()})", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not args.repeats:
        return
    base = statistics.median(results[combos[0]])
    print(f"\n{args.size}², batch {args.batch}, {args.steps} steps, median of {args.repeats}:")
    print(f"{'workers':>8s} {'variant':8s} images/s  ratio")
    for (workers, variant), values in results.items():
        value = statistics.median(values)
        print(f"{workers:8d} {variant:8s} {value:8.2f}  {value / base:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--data", help="stores or mixes: time the real training loop on them")
    parser.add_argument("--steps", type=int, default=6, help="--data: steps per run")
    parser.add_argument("--workers", default="0,2", help="--data: DataLoader workers to compare")
    parser.add_argument("--variants", default="fp32,fp32-cl,bf16-cl", help=f"--data: of {', '.join(VARIANTS)}")
    parser.add_argument("--repeats", type=int, default=1, help="--data: runs of each combination, alternating")
    parser.add_argument("--parts", action="store_true", help="--data: also time the parts of a sample and a step")
    parser.add_argument("--adam", action="store_true", help="--parts: also Adam with foreach=True and fused=True")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size}², batch {args.batch}; "
          f"{cpu_bf16_note() or 'the CPU has bf16 units'}; {load_text()}")  # fmt: skip
    if args.data:
        real_loop(args)
    else:
        synthetic(args)
    print(load_text())


if __name__ == "__main__":
    main()
