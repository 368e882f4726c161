"""Inference speed per architecture on CPU: torch fp32 eager vs onnxruntime (the native ONNX export).

    python benchmarks/bench_models.py [--arch unet-resnet18,segformer-b0,...] [--size 256] [--batch 8]
                                      [--iterations 4] [--threads 1] [--out bench_models.json]

For each architecture: a seeded random model, exported with `occgen export-model`'s code path
(:func:`occgen.train.export_model.export_onnx`, native contract, traced at ``--size``), then one warm-up and
the median of ``--iterations`` timed batches of ``--batch`` random images, torch under
``inference_mode`` with ``torch.set_num_threads(threads)`` and onnxruntime with ``intra_op_num_threads =
threads``, in the same process. Issue #16 target: onnxruntime >= 1.5x torch for unet-resnet18 at 256²,
batch 8. Not a test: on a shared machine absolute times drift; the ratio is what to compare. One thread is
the default because on the shared 2-core box two threads were slower than one for both runtimes
(/work/notes/models.md section 4).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from occgen.train.architectures import build_model, count_parameters
from occgen.train.export_model import export_onnx, onnx_session

DEFAULT_ARCHES = "unet-resnet18,segformer-b0,segformer-b2,upernet-resnet50"


def median_seconds(run, iterations: int) -> float:  # noqa: ANN001 - any zero-argument callable
    run()  # warm-up
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench(arch: str, *, size: int, batch: int, iterations: int, threads: int, folder: Path) -> dict[str, object]:
    torch.set_num_threads(threads)
    model = build_model(arch, seed=0).eval()
    path = folder / f"{arch}.onnx"
    started = time.perf_counter()
    record = export_onnx(model, arch, path, contract="native", input_size=size)
    export_s = time.perf_counter() - started
    session = onnx_session(path, threads=threads)
    inputs = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    array = inputs.numpy()

    def run_torch() -> None:
        with torch.inference_mode():
            model(inputs)

    def run_onnx() -> None:
        session.run(None, {"input": array})

    torch_s = median_seconds(run_torch, iterations)
    onnx_s = median_seconds(run_onnx, iterations)
    with torch.inference_mode():
        difference = float(np.abs(session.run(None, {"input": array})[0] - model(inputs).numpy()).max())
    row = {
        "arch": arch, "parameters": count_parameters(model), "onnx_mb": round(path.stat().st_size / 2**20, 1),
        "exporter": record["exporter"], "export_s": round(export_s, 1), "torch_img_s": round(batch / torch_s, 2),
        "onnxruntime_img_s": round(batch / onnx_s, 2), "ratio": round(torch_s / onnx_s, 2),
        "max_abs_diff": difference, "size": size, "batch": batch, "threads": threads,
    }  # fmt: skip
    path.unlink()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=DEFAULT_ARCHES, help="comma-separated architectures")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="occgen-bench-") as tmp:
        for arch in [a.strip() for a in args.arch.split(",") if a.strip()]:
            row = bench(arch, size=args.size, batch=args.batch, iterations=args.iterations, threads=args.threads,
                        folder=Path(tmp))  # fmt: skip
            rows.append(row)
            print(f"{arch:18s} torch {row['torch_img_s']:7.2f} img/s  onnxruntime {row['onnxruntime_img_s']:7.2f} "
                  f"img/s  ratio {row['ratio']:.2f}x  ({row['parameters']:,} params, {row['onnx_mb']} MB, "
                  f"{row['exporter']}, max diff {row['max_abs_diff']:.1e})", flush=True)  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
