"""GPU readiness (issue 29): ``benchmarks/gpu_ready.py`` on a machine without CUDA says so and exits 77, its
checks rehearse on the CPU, a command without ``--device cuda`` fails the check; ``export-model --device cuda``
refuses an onnxruntime without the CUDA provider before exporting."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.train.architectures import build_model
from occgen.train.export_model import export_onnx

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_ready.py"
needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")


def gpu_ready() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_ready", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves its annotations through its module
    spec.loader.exec_module(module)
    return module


@needs_no_cuda
def test_without_cuda_it_says_why_and_exits_77() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600)
    lines = result.stdout.splitlines()
    assert result.returncode == 77, result.stdout + result.stderr
    assert lines[-1].startswith("no CUDA device: torch ") and "CPU-only build" in lines[-1]
    assert any(line.startswith("ok    options ") and "occgen export-model" in line for line in lines)
    assert any(line.startswith("ok    torch ") and "CPU-only build" in line for line in lines)
    for check in ("device", "forward", "pinned", "onnx", "commands"):
        assert f"skip  {check:12s} needs a CUDA device" in lines


def test_checks_rehearse_on_the_cpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figures = tmp_path / "figures.jsonl"
    code = gpu_ready().main(["--device", "cpu", "--only", "forward,pinned,onnx", "--record", str(figures)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out
    assert out[-1] == "ready: every check passed on cpu"
    assert out[0].startswith("ok    forward ") and "ms per step fp32" in out[0]
    assert out[1].startswith("ok    pinned ") and "4 batches loaded" in out[1]
    assert out[2] == "ok    onnx         a session runs on CPUExecutionProvider"
    names = [line.split('"figure": "')[1].split('"')[0] for line in figures.read_text().splitlines()]
    assert names == ["train_step_fp32_ms"]  # bf16 is timed on a GPU only


def test_a_command_without_device_cuda_fails_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    module = gpu_ready()
    module.DEVICE_COMMANDS = (*module.DEVICE_COMMANDS, ("info",))
    code = module.main(["--device", "cpu", "--only", "options"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == "FAIL  options      not accepting --device cuda: occgen info (no --device option)"
    assert out[-1] == "not ready: options failed (see the FAIL lines)"


def test_unknown_check_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        gpu_ready().main(["--only", "forward,gpu"])
    assert stopped.value.code == 2
    assert "unknown check(s) gpu; valid: torch, onnxruntime, options" in capsys.readouterr().err


@pytest.mark.slow
def test_whole_commands_rehearse_on_the_cpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = gpu_ready().main(["--device", "cpu", "--only", "commands", "--keep", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out
    assert out[0].startswith("ok    commands     generate natocc ") and "predict .onnx" in out[0]
    assert sorted(p.name for p in (tmp_path / "pred_onnx").glob("*.png")) == ["astronaut.png", "grace_hopper.png"]


def test_export_records_its_provider_and_refuses_cuda_without_it(tmp_path: Path) -> None:
    model = build_model("segformer-tiny", seed=1).eval()
    record = export_onnx(model, "segformer-tiny", tmp_path / "cpu.onnx", input_size=64)
    assert record["check"]["provider"] == "CPUExecutionProvider" and record["check"]["max_abs_diff_vs_torch"] < 1e-4
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with pytest.raises(ConfigError, match=r"--device cuda: this onnxruntime has no CUDA provider \(pip install"):
        export_onnx(model, "segformer-tiny", tmp_path / "cuda.onnx", input_size=64, device="cuda")
    assert not (tmp_path / "cuda.onnx").exists()  # refused before exporting


def test_export_model_device_cuda_only_for_onnx(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export-model", str(tmp_path / "any.pt"), "--format", "pt", "--device", "cuda"])
    assert result.exit_code == 1
    assert "--device cuda checks an ONNX export; --format pt runs nothing: drop --device" in result.output
