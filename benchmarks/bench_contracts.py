"""Inference speed per export contract on CPU: torch eager vs onnxruntime (and the TorchScript module).

    python benchmarks/bench_contracts.py [--arch unet-resnet18,segformer-b0] [--iterations 5] [--threads 1]
                                         [--repeat 1] [--profile] [--quantize int8] [--out bench_contracts.json]

For each architecture, a seeded random model is exported with every contract of `occgen export-model`
(:func:`occgen.train.export_model.export_onnx`; the tools' contracts are one 256-px image, so every
contract is timed at batch 1, 256²) and as TorchScript (:func:`occgen.train.model_contracts.export_torchscript`).
The torch side is the same graph eager (:class:`occgen.train.model_contracts.ContractGraph` around the
model, or the model itself for native), under ``inference_mode`` with ``torch.set_num_threads(threads)``;
onnxruntime has ``intra_op_num_threads = threads``. Each figure is the median of ``--iterations`` runs timed
alternately with the other runtime's, after a warm-up, all in one process. Issue 26 target: onnxruntime
>= 1.5x torch for every contract. Not a test: on a shared machine absolute times drift; compare the ratios.

``--repeat N`` times every pair N times (fresh medians each) and prints the spread of the ratio (min, median,
max over the repeats). ``--profile`` also runs each onnxruntime session with ``enable_profiling`` and prints
the share of its kernel time per op type (after onnxruntime's graph optimisation: e.g. ``Upsample`` for
``Resize``, BatchNorm already folded into ``Conv``), which says where an export could still gain.

``--quantize int8`` also quantizes each contract's export (:func:`occgen.train.quantize.quantize_export`,
calibrated on 8 seeded synthetic smooth images: a random model has no real calibration store) and times
the int8 session against the same torch eager graph (runtime ``onnxruntime-int8``, with its mask agreement).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from occgen.train.architectures import build_model
from occgen.train.export_model import export_onnx, onnx_session
from occgen.train.model_contracts import SPECS, TOOL_SIZE, ContractGraph, export_torchscript
from occgen.train.quantize import CalibrationSet, quantize_export

PROFILE_RUNS = 3


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


def op_time_shares(path: Path, feed: dict[str, object], threads: int, folder: Path) -> dict[str, float]:
    """The share of onnxruntime's kernel time per op type (of its optimised graph) over a few profiled runs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.enable_profiling, options.profile_file_prefix = True, str(folder / f"{path.stem}.profile")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(PROFILE_RUNS):
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    totals: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"]
    whole = sum(totals.values()) or 1
    return {op: round(time / whole, 3) for op, time in totals.most_common()}


def synthetic_calibration(count: int = 8, seed: int = 0) -> CalibrationSet:
    """Smooth seeded RGB images (gradients plus blurred colour noise) at the tools' side, as calibration."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:TOOL_SIZE, 0:TOOL_SIZE] / TOOL_SIZE
    crops = []
    for _ in range(count):
        noise = cv2.GaussianBlur(rng.random((TOOL_SIZE, TOOL_SIZE, 3)).astype(np.float32), (0, 0), 8)
        base = np.stack([x, y, 1 - x * y], axis=-1) * rng.uniform(0.3, 1.0, 3)
        crops.append(np.clip((base * 0.6 + noise * 4 - 1.5) * 255, 0, 255).astype(np.uint8))
    return CalibrationSet(store="synthetic", digest="none", seed=seed, indices=tuple(range(count)),
                          crops=np.stack(crops))  # fmt: skip


def bench(arch: str, *, iterations: int, threads: int, folder: Path, repeat: int = 1,
          profile: bool = False, quantize: str = "none") -> list[dict[str, object]]:  # fmt: skip
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

        rows.append(paired_row(arch, name, "onnxruntime", run_torch, run_onnx, iterations, repeat))
        if profile:
            rows[-1]["op_time_shares"] = op_time_shares(path, {spec.input_name: array}, threads, folder)
        if quantize == "int8":
            int8_path = folder / f"{arch}.{name}.int8.onnx"
            record = quantize_export(path, int8_path, contract=name, calibration=synthetic_calibration(), force=True)
            int8 = onnx_session(int8_path, threads=threads)

            def run_int8(session=int8, name: str = spec.input_name, array=array) -> None:  # noqa: ANN001
                session.run(None, {name: array})

            rows.append(paired_row(arch, name, "onnxruntime-int8", run_torch, run_int8, iterations, repeat))
            rows[-1]["agreement"] = round(record["agreement"]["mask_pixels_vs_fp32"], 4)
            int8_path.unlink()
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

    rows.append(paired_row(arch, "native", "torchscript", run_eager, run_scripted, iterations, repeat))
    return rows


def paired_row(arch: str, contract: str, runtime: str, first, second, iterations: int,  # noqa: ANN001 - callables
               repeat: int) -> dict[str, object]:  # fmt: skip
    """One benchmark row: the medians of the repeat whose ratio is the median one, and every repeat's ratio."""
    pairs = [paired_medians(first, second, iterations) for _ in range(max(1, repeat))]
    ratios = [torch_s / other_s for torch_s, other_s in pairs]
    torch_s, other_s = pairs[ratios.index(statistics.median_low(ratios))]
    return {"arch": arch, "contract": contract, "runtime": runtime, "torch_ms": round(torch_s * 1e3, 1),
            "other_ms": round(other_s * 1e3, 1), "ratio": round(torch_s / other_s, 2),
            "ratios": [round(r, 2) for r in ratios]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="unet-resnet18,segformer-b0", help="comma-separated architectures")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="time every pair this many times; print the spread")
    parser.add_argument("--profile", action="store_true", help="print onnxruntime's kernel time per op type")
    parser.add_argument("--quantize", default="none", choices=["none", "int8"], help="also time an int8 export")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="occgen-bench-") as tmp:
        for arch in [a.strip() for a in args.arch.split(",") if a.strip()]:
            for row in bench(arch, iterations=args.iterations, threads=args.threads, folder=Path(tmp),
                             repeat=args.repeat, profile=args.profile, quantize=args.quantize):  # fmt: skip
                rows.append(row)
                ratios = row["ratios"]
                spread = f"  (min {min(ratios):.2f}, max {max(ratios):.2f} of {len(ratios)})" if len(ratios) > 1 else ""
                print(f"{row['arch']:15s} {row['contract']:11s} torch {row['torch_ms']:8.1f} ms  {row['runtime']:12s} "
                      f"{row['other_ms']:8.1f} ms  ratio {row['ratio']:.2f}x{spread}"
                      + (f"  agreement {row['agreement']:.2%}" if "agreement" in row else ""), flush=True)  # fmt: skip
                if "op_time_shares" in row:
                    print("    onnxruntime kernel time: " + ", ".join(
                        f"{op} {share:.1%}" for op, share in row["op_time_shares"].items()), flush=True)  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
