"""Training that fits a comparison (issue 24): step and sample budgets, step checkpoints, progress lines for a
log file, mixes of equal size (--repeat), and encoder weights in torchvision, timm and Hugging Face layouts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.store import open_store
from occgen.store.mix import MixPart, build_mix
from occgen.train.config import TrainConfig
from occgen.train.data import AugmentConfig
from occgen.train.model import ResNet18Encoder, build_model, load_encoder_weights
from occgen.train.progress import ProgressLines
from occgen.train.trainer import train
from tests.test_train_run import demo_store

runner = CliRunner()


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def budget_config(**changes: object) -> TrainConfig:
    base = TrainConfig(epochs=100, batch_size=2, lr=1e-3, input_size=32, min_kept=100, workers=0, checkpoint_every=100,
                       augment=AugmentConfig(enabled=False))  # fmt: skip
    return TrainConfig(**{**base.__dict__, **changes})


def test_step_budget_stops_inside_an_epoch_and_resumes_to_a_larger_one(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "s.zarr", n=4)  # 2 batches of 2 per epoch
    out = tmp_path / "run"
    report = train(budget_config(steps=3, checkpoint_every_steps=2), [store], out)
    assert report.steps == 3 and report.last_epoch == 2  # epoch 1: 2 steps, epoch 2: 1 step
    assert [int(r["step"]) for r in read_rows(out / "metrics.csv")] == [2, 3]
    assert [int(r["step"]) for r in read_rows(out / "steps.csv")] == [1, 2, 3]
    assert sorted(p.name for p in out.glob("*.pt")) == ["epoch_002.pt", "last.pt", "step_000002.pt"]
    assert torch.load(out / "step_000002.pt", weights_only=True)["step"] == 2
    again = train(budget_config(steps=3), [store], out, resume=True)  # the budget is spent: nothing to do
    assert again.rows == [] and again.steps == 3
    more = train(budget_config(steps=5), [store], out, resume=True)  # a larger budget continues after epoch 2
    assert [r["epoch"] for r in more.rows] == [3] and more.steps == 5
    assert [int(r["step"]) for r in read_rows(out / "steps.csv")] == [1, 2, 3, 4, 5]


def test_sample_budget_is_whole_batches_and_one_budget_only() -> None:
    assert budget_config(max_samples=5).step_budget == 3  # 5 samples in batches of 2: 3 steps
    assert budget_config().step_budget is None
    with pytest.raises(ConfigError, match="train.steps and train.max_samples"):
        budget_config(steps=2, max_samples=4)
    with pytest.raises(ConfigError, match="train.steps must be >= 1"):
        budget_config(steps=0)


def test_progress_lines_reach_a_file_that_is_not_a_terminal(tmp_path: Path) -> None:
    stream = io.StringIO()
    lines = ProgressLines(stream, every=2, budget=3)
    for step in (1, 2):
        lines.on_batch(1, step, 2, 0.5)
    lines.on_batch(2, 1, 1, 0.25)
    written = stream.getvalue().splitlines()
    heads = [line.split(":")[0] for line in written]
    assert heads == ["step 2/3 (epoch 1, batch 2/2)", "step 3/3 (epoch 2, batch 1/1)"]
    # `occgen train` under a runner (stderr not a terminal): plain step lines and epoch lines, no live bar.
    store = demo_store(tmp_path / "s.zarr", n=4)
    args = ["train", "--data", str(store), "--out", str(tmp_path / "run"), "--steps", "3", "--batch-size", "2",
            "--input-size", "32", "--workers", "1", "--no-augment", "--log-every", "1"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "step 1/3 (epoch 1, batch 1/2): loss" in result.output
    assert "epoch 2 (step 3): loss" in result.output
    assert "trained epochs 1-2 (3 steps in all)" in result.output


def test_mix_repeat_gives_equal_sizes_and_plain_mixes_keep_their_index(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "s.zarr", n=4)
    with pytest.raises(ConfigError, match="has 4 samples; cannot take 10 \\(pass --repeat"):
        build_mix([MixPart(store, count=10)], tmp_path / "m.zarr")
    build_mix([MixPart(store, count=10)], tmp_path / "m.zarr", repeat=True, seed=3)
    mix = open_store(tmp_path / "m.zarr")
    counts = np.bincount([mix.locate(i)[1] for i in range(len(mix))], minlength=4)
    assert len(mix) == 10 and sorted(counts.tolist()) == [2, 2, 3, 3]  # two whole passes, then 2 of 4 once more
    assert mix.card["repeat"] is True
    build_mix([MixPart(store, count=3)], tmp_path / "a.zarr", seed=3)
    build_mix([MixPart(store, count=3)], tmp_path / "b.zarr", seed=3, repeat=True)  # not needed: same index
    a, b = open_store(tmp_path / "a.zarr"), open_store(tmp_path / "b.zarr")
    assert [a.locate(i)[1] for i in range(3)] == [b.locate(i)[1] for i in range(3)]
    assert "repeat" not in a.card


def torchvision_state(seed: int) -> dict[str, torch.Tensor]:
    """A random ResNet-18 classification state dict under torchvision's names (what timm also uses)."""
    generator = torch.Generator().manual_seed(seed)
    state = {k: torch.rand(v.shape, generator=generator) if v.is_floating_point() else v
             for k, v in ResNet18Encoder().state_dict().items()}  # fmt: skip
    state["fc.weight"], state["fc.bias"] = torch.rand(1000, 512, generator=generator), torch.rand(1000)
    return state


def test_torchvision_file_changes_the_first_conv_and_timm_safetensors_load(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = torchvision_state(seed=4)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    model = build_model(seed=0)
    before = model.encoder.conv1.weight.detach().clone()
    load_encoder_weights(model, path)
    assert not torch.equal(model.encoder.conv1.weight, before)
    assert torch.equal(model.encoder.conv1.weight, state["conv1.weight"])
    timm = tmp_path / "timm_resnet18.safetensors"  # timm keeps torchvision's names; safetensors is its format
    save_file({k: v.contiguous() for k, v in torchvision_state(seed=5).items()}, str(timm))
    load_encoder_weights(model, timm)
    assert torch.equal(model.encoder.layer3[0].downsample[1].running_var,
                       torchvision_state(seed=5)["layer3.0.downsample.1.running_var"])  # fmt: skip


def test_hugging_face_resnet18_gives_the_same_features(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    from safetensors.torch import save_file

    config = transformers.ResNetConfig(layer_type="basic", embedding_size=64, hidden_sizes=[64, 128, 256, 512],
                                       depths=[2, 2, 2, 2], downsample_in_first_stage=False, num_labels=10)  # fmt: skip
    torch.manual_seed(0)
    hf = transformers.ResNetForImageClassification(config).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so a swapped bn would show
        for name, buffer in hf.named_buffers():
            if name.endswith(("running_mean", "running_var")):
                buffer.uniform_(0.5, 1.5)
    folder = tmp_path / "resnet-18"  # the model folder as `save_pretrained` writes it
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, str(folder / "model.safetensors"))
    model = build_model(seed=0).eval()
    load_encoder_weights(model, folder)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ours = model.encoder(x)[-1]
        theirs = hf.resnet(pixel_values=x).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_a_bad_weights_file_is_a_one_line_error_naming_keys(tmp_path: Path) -> None:
    state = torchvision_state(seed=1)
    del state["layer1.0.bn2.bias"]
    state["head.weight"] = torch.zeros(3)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    store = demo_store(tmp_path / "s.zarr", n=2)
    args = ["train", "--data", str(store), "--out", str(tmp_path / "run"), "--steps", "1", "--batch-size", "2",
            "--input-size", "32", "--workers", "1", "--encoder-weights", str(bad)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error")]
    assert len(errors) == 1, result.output
    assert "missing keys: layer1.0.bn2.bias" in errors[0] and "unexpected keys: head.weight" in errors[0]
    assert str(bad) in errors[0]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds none of model.safetensors, pytorch_model.bin"):
        load_encoder_weights(build_model(seed=0), tmp_path / "empty")
