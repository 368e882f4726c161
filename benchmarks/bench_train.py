"""ResNet-18 U-Net speed on CPU: training images/s and inference FPS, fp32 vs bf16 autocast, channels_last.

    python benchmarks/bench_train.py [--size 256] [--batch 8] [--iterations 10]

Inference: the model alone on a random batch (what `occgen evaluate` records as FPS). Training: one
optimiser step of BCE + OHEM on a random batch. Each in fp32 (contiguous and channels_last) and bf16
autocast with channels_last. Issue #6 target on the 2-core machine: >= 15 images/s bf16 inference at
256², batch 8. Not a test: absolute times drift between runs; compare the ratios.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch

from occgen.train.evaluate import measure_fps
from occgen.train.loss import ohem_bce_loss
from occgen.train.model import build_model


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    device = torch.device("cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size}², batch {args.batch}")
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


if __name__ == "__main__":
    main()
