"""Inference speed per export contract on CPU: torch eager vs onnxruntime (and the TorchScript module).

    python benchmarks/bench_contracts.py [--arch unet-resnet18,segformer-b0] [--iterations 5] [--threads 1]
                                         [--out bench_contracts.json]

For each architecture, a seeded random model is exported with every contract of `occgen export-model`
(:func:`occgen.train.export_model.export_onnx`; the tools' contracts are one 256-px image, so every
contract is timed at batch 1, 256²) and as TorchScript (:func:`occgen.train.model_contracts.export_torchscript`).
The torch side is the same graph eager (:class:`occgen.train.model_contracts.ContractGraph` around the
model, or the model itself for native), under ``inference_mode`` with ``torch.set_num_threads(threads)``;
onnxruntime has ``intra_op_num_threads = threads``. Each figure is the median of ``--iterations`` runs timed
alternately with the other runtime's, after a warm-up, all in one process. Issue 26 target: onnxruntime
>= 1.5x torch for every contract. Not a test: on a shared machine absolute times drift; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from occgen.train.architectures import build_model
from occgen.train.export_model import export_onnx, onnx_session
from occgen.train.model_contracts import SPECS, TOOL_SIZE, ContractGraph, export_torchscript


def paired_medians(first, second, iterations: int) -> tuple[float, float]:  # noqa: ANN001 - callables
    """Median seconds of two zero-argument callables timed alternately (after a warm-up of each), so that the
    shared machine's load drifts over both alike."""
    first()
    second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(iterations):
        for run, bucket in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            run()
            bucket.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def bench(arch: str, *, iterations: int, threads: int, folder: Path) -> list[dict[str, object]]:
    torch.set_num_threads(threads)
    model = build_model(arch, seed=0).eval()
    generator = torch.Generator().manual_seed(0)
    rows = []
    for name, spec in SPECS.items():
        graph = model if spec.size is None else ContractGraph(model, spec).eval()
        inputs = torch.rand(*spec.input_shape(1, TOOL_SIZE), generator=generator)  # type: ignore[arg-type]
        path = folder / f"{arch}.{name}.onnx"
        export_onnx(model, arch, path, contract=name, input_size=TOOL_SIZE)
        session = onnx_session(path, threads=threads)
        array = inputs.numpy()

        def run_torch(graph: torch.nn.Module = graph, inputs: torch.Tensor = inputs) -> None:
            with torch.inference_mode():
                graph(inputs)

        def run_onnx(session=session, name: str = spec.input_name, array=array) -> None:  # noqa: ANN001
            session.run(None, {name: array})

        torch_s, onnx_s = paired_medians(run_torch, run_onnx, iterations)
        rows.append({"arch": arch, "contract": name, "runtime": "onnxruntime", "torch_ms": round(torch_s * 1e3, 1),
                     "other_ms": round(onnx_s * 1e3, 1), "ratio": round(torch_s / onnx_s, 2)})  # fmt: skip
        path.unlink()
    path = folder / f"{arch}.torchscript.pt"
    export_torchscript(model, path, input_size=TOOL_SIZE, metadata={})
    scripted = torch.jit.load(str(path))
    inputs = torch.rand(1, 3, TOOL_SIZE, TOOL_SIZE, generator=generator)

    def run_eager() -> None:
        with torch.inference_mode():
            model(inputs)

    def run_scripted() -> None:
        with torch.inference_mode():
            scripted(inputs)

    torch_s, other_s = paired_medians(run_eager, run_scripted, iterations)
    rows.append({"arch": arch, "contract": "native", "runtime": "torchscript", "torch_ms": round(torch_s * 1e3, 1),
                 "other_ms": round(other_s * 1e3, 1), "ratio": round(torch_s / other_s, 2)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="unet-resnet18,segformer-b0", help="comma-separated architectures")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="occgen-bench-") as tmp:
        for arch in [a.strip() for a in args.arch.split(",") if a.strip()]:
            for row in bench(arch, iterations=args.iterations, threads=args.threads, folder=Path(tmp)):
                rows.append(row)
                print(f"{row['arch']:15s} {row['contract']:11s} torch {row['torch_ms']:8.1f} ms  {row['runtime']:12s} "
                      f"{row['other_ms']:8.1f} ms  ratio {row['ratio']:.2f}x", flush=True)  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
