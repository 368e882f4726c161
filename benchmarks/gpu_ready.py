"""Is this machine ready to run occgen on a GPU? Every ``--device cuda`` path, exercised on the GPU (issue 29).

    python benchmarks/gpu_ready.py [--device cuda] [--only CHECK,...] [--keep DIR] [--record FILE]

Checks, in order (one line each: ``ok``, ``FAIL`` with what to do, or ``skip`` with why):

- ``torch``: the torch build (its CUDA and cuDNN versions, or that it is a CPU-only build);
- ``onnxruntime``: its version and execution providers;
- ``options``: ``train``, ``evaluate``, ``predict``, ``export-model`` and ``generate natocc`` accept ``--device cuda``
  (read from the command tree, nothing run);
- ``device``: the GPU (name, compute capability, memory) and a matrix product on it;
- ``forward``: a forward and backward pass of occgen's default model (unet-resnet18, batch 2 at 64²) on the
  device, fp32 and (on a GPU with bf16) bf16 autocast: finite gradients, an optimizer step that changes the
  weights, ms per step;
- ``pinned``: a training store read through ``StoreDataset`` and a DataLoader with ``pin_memory`` (as ``train``
  does on CUDA): batches in pinned memory, copied with ``non_blocking``; pinned vs pageable copy GB/s;
- ``onnx``: a session on a one-node ONNX graph runs on onnxruntime's CUDA provider (it silently falls back to
  the CPU when CUDA or cuDNN libraries are missing: the check asks the session which provider it got);
- ``commands``: whole commands with ``--device cuda`` on a tiny store (RandOcc, 64², made on the CPU):
  ``generate natocc`` (SOT fit and RainNet batches on the GPU, with random-init RainNet weights), ``train`` (2
  steps), ``evaluate``, ``export-model`` (ONNX checked on the CUDA provider), ``predict`` with the checkpoint and
  with the ONNX file.

Exit code 0: every check passed; 1: a check failed; **77: no CUDA device** (the first three checks ran; the line
``no CUDA device: ...`` says why; 77 is the "skipped" code of automake's and meson's test harnesses).
``--device cpu`` rehearses every check on the CPU (the CUDA provider and pinned memory excepted): what the GPU
run does, on any machine. ``--record FILE`` appends the timings as JSON lines, as ``python -m benchmarks``
does. No network: everything is made from the embedded demo assets and random weights.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_NO_CUDA = 0, 1, 77
#: Commands that must accept ``--device cuda`` (the command path in occgen's CLI).
DEVICE_COMMANDS = (("train",), ("evaluate",), ("predict",), ("export-model",), ("generate", "natocc"))
HOST_CHECKS = ("torch", "onnxruntime", "options")  # run without a device
DEVICE_CHECKS = ("device", "forward", "pinned", "onnx", "commands")


class CheckFailed(Exception):
    """A check's failure: the message says what is wrong and what to do."""


class Skipped(Exception):
    """A check that does not apply here: the message says why."""


@dataclass
class Context:
    device: str
    work: Path
    figures: list[tuple[str, float, str]] = field(default_factory=list)
    store: Path | None = None


def torch_build(context: Context) -> str:
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__}, a CPU-only build (torch.version.cuda is None)"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, cuDNN {cudnn}"


def onnxruntime_providers(context: Context) -> str:
    if importlib.util.find_spec("onnxruntime") is None:
        raise Skipped("onnxruntime is not installed (pip install 'occgen[onnx]'; onnxruntime-gpu for CUDA)")
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}, providers {', '.join(onnxruntime.get_available_providers())}"


def command_options(context: Context) -> str:
    import typer

    from occgen.cli.main import app

    refused = []
    for path in DEVICE_COMMANDS:
        command: Any = typer.main.get_command(app)
        for name in path:
            command = command.get_command(command.context_class(command), name)
        option = next((p for p in command.params if "--device" in p.opts), None)
        try:
            if option is None:
                raise ValueError("no --device option")
            option.process_value(command.context_class(command), "cuda")  # type conversion, as parsing does
        except Exception as error:  # noqa: BLE001 - click raises its own BadParameter; reported as a failure
            refused.append(f"occgen {' '.join(path)} ({error})")
    if refused:
        raise CheckFailed(f"not accepting --device cuda: {'; '.join(refused)}")
    return f"--device cuda accepted by {', '.join('occgen ' + ' '.join(p) for p in DEVICE_COMMANDS)}"


def no_cuda_reason() -> str | None:
    """Why torch sees no CUDA device, or None when it sees one."""
    import torch

    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return (f"torch {torch.__version__} is a CPU-only build; install the CUDA build of the same version "
                "(README.md, \"A GPU\") and re-run")  # fmt: skip
    return (f"torch {torch.__version__} is built for CUDA {torch.version.cuda} but torch.cuda.is_available() is "
            "False: no GPU, no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides it (check nvidia-smi)")  # fmt: skip


def synchronise(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def device_info(context: Context) -> str:
    import torch

    if not context.device.startswith("cuda"):
        return "cpu (rehearsal)"
    properties = torch.cuda.get_device_properties(0)
    a = torch.randn(512, 512, device=context.device, generator=torch.Generator(context.device).manual_seed(0))
    product = (a @ a.T).diagonal().min().item()
    if not product > 0:
        raise CheckFailed(f"a matrix product on {properties.name} gave a non-positive diagonal ({product})")
    return (f"{torch.cuda.device_count()} device(s); cuda:0 {properties.name}, compute capability "
            f"{properties.major}.{properties.minor}, {properties.total_memory / 2**30:.1f} GiB")  # fmt: skip


def forward_backward(context: Context) -> str:
    import torch

    from occgen.train.architectures import build_model

    device = torch.device(context.device)
    model = build_model("unet-resnet18", seed=0).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 64, 64, generator=generator).to(device)
    targets = (torch.rand(2, 1, 64, 64, generator=generator) > 0.5).float().to(device)
    timings = []
    # bf16 autocast on the GPU only: on a CPU without bf16 instructions it is many times slower than fp32
    bf16_runs = context.device.startswith("cuda") and torch.cuda.is_bf16_supported()
    for bf16 in (False, True) if bf16_runs else (False,):
        for step in range(3):  # the first step of each mode warms up (cuDNN autotuning, allocations)
            before = next(model.parameters()).detach().clone()
            started = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(images)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), targets)
            optimizer.zero_grad()
            loss.backward()
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            if not grads or not all(bool(torch.isfinite(g).all()) for g in grads):
                raise CheckFailed(f"non-finite gradients on {device} (bf16 {bf16})")
            optimizer.step()
            synchronise(context.device)
            if step:
                timings.append(((time.perf_counter() - started) * 1000, bf16))
            if torch.equal(before, next(model.parameters()).detach()):
                raise CheckFailed(f"an optimizer step on {device} left the weights unchanged (bf16 {bf16})")
    fp32 = min(ms for ms, bf16 in timings if not bf16)  # the faster of 2 timed steps
    context.figures.append(("train_step_fp32_ms", fp32, "ms"))
    if not bf16_runs:
        bf16_note = "this GPU has no bf16: keep bf16 off" if device.type == "cuda" else "bf16 checked on a GPU only"
        return f"unet-resnet18, batch 2 at 64²: {fp32:.0f} ms per step fp32; {bf16_note}"
    bf16_ms = min(ms for ms, bf16 in timings if bf16)
    context.figures.append(("train_step_bf16_ms", bf16_ms, "ms"))
    return f"unet-resnet18, batch 2 at 64²: {fp32:.0f} ms per step fp32, {bf16_ms:.0f} ms bf16 autocast"


def tiny_store(context: Context) -> Path:
    """A 32-sample RandOcc store at 64², made once on the CPU."""
    if context.store is None:
        from occgen.core.params import BaseConfig
        from occgen.run.generate import generate
        from occgen.settings import RandOccSettings, build_randocc_recipe

        context.store = context.work / "randocc.zarr"
        recipe = build_randocc_recipe(RandOccSettings(base=BaseConfig(seed=0, size=64)))
        generate(recipe, context.store, n=32, shard_size=16, workers=1)
    return context.store


def pinned_loading(context: Context) -> str:
    import torch
    from torch.utils.data import DataLoader

    from occgen.train.data import StoreDataset

    cuda = context.device.startswith("cuda")
    dataset = StoreDataset([tiny_store(context)], input_size=64)
    loader = DataLoader(dataset, batch_size=8, num_workers=1, pin_memory=cuda)
    batches = 0
    for images, masks in loader:
        if cuda and not (images.is_pinned() and masks.is_pinned()):
            raise CheckFailed("DataLoader(pin_memory=True) gave batches outside pinned memory")
        moved = images.to(context.device, non_blocking=True)
        synchronise(context.device)
        if not torch.equal(moved.cpu(), images) or images.shape != (8, 3, 64, 64) or images.dtype != torch.uint8:
            raise CheckFailed(f"a batch copied to {context.device} differs: {tuple(images.shape)} {images.dtype}")
        batches += 1
    if not cuda:
        return f"{batches} batches loaded (pinned memory needs a CUDA device: not checked on cpu)"
    rates = {}
    for pinned in (True, False):
        block = torch.empty(64 * 2**20, dtype=torch.uint8, pin_memory=pinned)
        block.to(context.device)  # warm-up
        synchronise(context.device)
        started = time.perf_counter()
        for _ in range(5):
            block.to(context.device, non_blocking=pinned)
        synchronise(context.device)
        rates[pinned] = 5 * 64 * 2**20 / (time.perf_counter() - started) / 1e9
    context.figures += [("h2d_pinned_gb_s", rates[True], "GB/s"), ("h2d_pageable_gb_s", rates[False], "GB/s")]
    return (f"{batches} batches in pinned memory; host -> device {rates[True]:.1f} GB/s pinned, "
            f"{rates[False]:.1f} pageable")  # fmt: skip


def onnx_provider(context: Context) -> str:
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        raise Skipped("onnx / onnxruntime not installed (pip install 'occgen[onnx]'; onnxruntime-gpu for CUDA)")
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper

    from occgen.train.export_model import onnx_session

    graph = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["y"])], "square",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])  # fmt: skip
    path = context.work / "square.onnx"
    # IR version 8 with opset 17: read by every onnxruntime occgen supports (a new onnx writes a newer IR)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    try:
        session = onnx_session(path, device=context.device)
    except Exception as error:  # noqa: BLE001 - occgen's ConfigError says what to install
        raise CheckFailed(str(error)) from error
    wanted = "CUDAExecutionProvider" if context.device.startswith("cuda") else "CPUExecutionProvider"
    got = session.get_providers()[0]
    if got != wanted:
        raise CheckFailed(f"onnxruntime {onnxruntime.__version__} ran on {got}, not {wanted}: the CUDA or cuDNN "
                          "libraries onnxruntime-gpu needs were not found (see its install page)")  # fmt: skip
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    if not np.array_equal(session.run(None, {"x": x})[0], x * x):
        raise CheckFailed(f"onnxruntime on {got} computed a wrong square")
    return f"a session runs on {got}"


def occgen_command(context: Context, *argv: str) -> None:
    result = subprocess.run([sys.executable, "-m", "occgen", *argv], capture_output=True, text=True,
                            cwd=context.work, env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    if result.returncode != 0:
        tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
        raise CheckFailed(f"occgen {' '.join(argv)} exited {result.returncode}: {' | '.join(tail)}")


def whole_commands(context: Context) -> str:
    import torch

    from occgen.appearance.rainnet import RainNet

    device, work, store = context.device, context.work, tiny_store(context)
    rainnet = work / "rainnet_random.pt"
    torch.save(RainNet().state_dict(), rainnet)
    timings = {}

    def timed(name: str, *argv: str) -> None:
        started = time.perf_counter()
        occgen_command(context, *argv)
        timings[name] = time.perf_counter() - started

    timed("generate natocc", "generate", "natocc", "--out", str(work / "natocc.zarr"), "--n", "8", "--size", "64",
          "--shard-size", "8", "--workers", "1", "--device", device, "--harmoniser-checkpoint", str(rainnet),
          "--no-preview")  # fmt: skip
    timed("train", "train", "--data", str(store), "--out", str(work / "run"), "--steps", "2", "--epochs", "1",
          "--batch-size", "4", "--input-size", "64", "--workers", "1", "--device", device)  # fmt: skip
    checkpoint = work / "run" / "last.pt"
    timed("evaluate", "evaluate", "--model", str(checkpoint), "--data", str(store), "--out", str(work / "eval"),
          "--device", device, "--input-size", "64", "--fps-iterations", "1", "--worst", "0")  # fmt: skip
    faces = work / "faces"
    faces.mkdir(exist_ok=True)
    from occgen.core.files import demo_root

    for image in sorted((demo_root() / "faces" / "images").iterdir())[:2]:
        (faces / image.name).write_bytes(image.read_bytes())
    timed("predict .pt", "predict", "--model", str(checkpoint), "--src", str(faces), "--out", str(work / "pred_pt"),
          "--device", device)  # fmt: skip
    done = ["generate natocc", "train", "evaluate", "predict .pt"]
    if importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None:
        onnx_path = work / "model.onnx"
        timed("export-model", "export-model", str(checkpoint), "--out", str(onnx_path), "--device", device)
        timed("predict .onnx", "predict", "--model", str(onnx_path), "--src", str(faces), "--out",
              str(work / "pred_onnx"), "--device", device)  # fmt: skip
        done += ["export-model", "predict .onnx"]
    masks = sorted(p.name for p in (work / "pred_pt").glob("*.png"))
    if len(masks) != 2 or not (work / "eval" / "summary.json").is_file():
        raise CheckFailed(f"the commands ran but wrote {masks} and no eval/summary.json")
    context.figures += [(f"command_{name.replace(' ', '_').replace('.', '')}_s", s, "s") for name, s in timings.items()]
    return "; ".join(f"{name} {timings[name]:.0f} s" for name in done) + f" (--device {device})"


CHECKS: dict[str, Callable[[Context], str]] = {
    "torch": torch_build, "onnxruntime": onnxruntime_providers, "options": command_options, "device": device_info,
    "forward": forward_backward, "pinned": pinned_loading, "onnx": onnx_provider, "commands": whole_commands,
}  # fmt: skip


def run_check(name: str, context: Context) -> bool:
    """Run one check and print its line; False if it failed."""
    try:
        print(f"ok    {name:12s} {CHECKS[name](context)}", flush=True)
    except Skipped as reason:
        print(f"skip  {name:12s} {reason}", flush=True)
    except CheckFailed as failure:
        print(f"FAIL  {name:12s} {failure}", flush=True)
        return False
    return True


def record(path: Path, figures: list[tuple[str, float, str]], argv: list[str]) -> None:
    """Append the figures as ``python -m benchmarks`` does (its machine, versions and commit with each line)."""
    spec = importlib.util.spec_from_file_location("benchmarks_entry", Path(__file__).with_name("__main__.py"))
    assert spec is not None and spec.loader is not None
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    entry.record(path, "gpu_ready", argv, figures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: rehearse on the CPU")
    parser.add_argument("--only", help=f"comma-separated checks (default all): {', '.join(CHECKS)}")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--record", type=Path, help="append the timings as JSON lines to this file")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(CHECKS)
    unknown = sorted(set(chosen) - set(CHECKS))
    if unknown:
        parser.error(f"unknown check(s) {', '.join(unknown)}; valid: {', '.join(CHECKS)}")
    with tempfile.TemporaryDirectory(prefix="occgen-gpu-ready-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        context = Context(args.device, work.resolve())
        failed = [name for name in HOST_CHECKS if name in chosen and not run_check(name, context)]
        reason = no_cuda_reason() if args.device == "cuda" else None
        device_checks = [name for name in DEVICE_CHECKS if name in chosen]
        if reason is not None:
            for name in device_checks:
                print(f"skip  {name:12s} needs a CUDA device", flush=True)
        else:
            failed += [name for name in device_checks if not run_check(name, context)]
        if args.record and context.figures:
            record(args.record, context.figures, sys.argv[1:] if argv is None else argv)
    if failed:
        print(f"not ready: {', '.join(failed)} failed (see the FAIL lines)")
        return EXIT_FAILED
    if reason is not None:
        print(f"no CUDA device: {reason}")
        return EXIT_NO_CUDA
    print(f"ready: every check passed on {args.device}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
