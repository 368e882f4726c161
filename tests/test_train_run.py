"""`occgen train`: a short run learns its training samples; resume; config and error handling."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.recipes.randocc import RandOccConfig, RandOccRecipe
from occgen.run.generate import generate
from occgen.settings import load_evaluate_config, load_train_config
from occgen.sources.faces import open_faces
from occgen.sources.shapes import RandomShapes
from occgen.sources.textures import open_textures
from occgen.train.data import AugmentConfig
from occgen.train.evaluate import EvaluateConfig
from occgen.train.trainer import TrainConfig, load_checkpoint, train

runner = CliRunner()


def demo_store(path: Path, n: int) -> Path:
    """RandOcc on the embedded demo faces and textures at 64²."""
    occluders = RandomShapes(open_textures(None), canvas_px=64)
    recipe = RandOccRecipe(open_faces(None), occluders, RandOccConfig(canvas_px=64), seed=1, size=64)
    generate(recipe, path, n=n, shard_size=4)
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_short_run_learns_its_training_samples(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "train.zarr", n=8)
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  min_kept: 1000\n  lr_drop_epoch: 100\n  checkpoint_every: 100\n")
    out = tmp_path / "run"
    # The store twice: every sample is seen twice per epoch, so 8 epochs make 64 steps with half the
    # checkpoint writes (last.pt with the Adam state is 173 MB); it also exercises several --data stores.
    args = ["train", "--data", f"{store},{store}", "--out", str(out), "--params", str(params), "--epochs", "8",
            "--batch-size", "2", "--lr", "1e-3", "--input-size", "64", "--workers", "1", "--no-augment"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_rows(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    assert float(rows[-1]["bce"]) < 0.5 * float(rows[0]["bce"])
    assert sorted(p.name for p in out.glob("*.pt")) == ["epoch_008.pt", "last.pt"]
    assert json.loads((out / "metrics.json").read_text())["epoch"] == 8

    report = tmp_path / "eval"
    args = ["evaluate", "--model", str(out / "last.pt"), "--data", str(store), "--out", str(report),
            "--batch-size", "4", "--fps-iterations", "1", "--worst", "3"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((report / "summary.json").read_text())
    assert summary["images"] == 8 and summary["checkpoint_epoch"] == 8 and summary["input_size"] == 64
    assert summary["face_iou"] > 0.8 and summary["pixel_accuracy"] > 0.95
    assert summary["speed"]["batch"] == 4 and summary["speed"]["dtype"] == "fp32" and summary["speed"]["fps"] > 0


def tiny_config(**changes: object) -> TrainConfig:
    base = TrainConfig(epochs=2, batch_size=4, lr=1e-3, input_size=32, min_kept=100, workers=0, checkpoint_every=100,
                       augment=AugmentConfig(rotate_p=1.0))  # fmt: skip
    return TrainConfig(**{**base.__dict__, **changes})


def test_resume_continues_from_the_saved_epoch(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "s.zarr", n=4)
    straight = train(tiny_config(epochs=3), [store], tmp_path / "straight")
    assert [r["epoch"] for r in straight.rows] == [1, 2, 3]

    first = train(tiny_config(epochs=2), [store], tmp_path / "resumed")
    assert first.last_epoch == 2
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(tiny_config(epochs=3), [store], tmp_path / "resumed")
    with pytest.raises(ConfigError, match="config differs in lr"):
        train(tiny_config(epochs=3, lr=5e-4), [store], tmp_path / "resumed", resume=True)
    # workers may change on resume; two DataLoader workers must feed exactly the same batches.
    second = train(tiny_config(epochs=3, workers=2), [store], tmp_path / "resumed", resume=True)
    assert second.first_epoch == 3 and [r["epoch"] for r in second.rows] == [3]
    assert [int(r["epoch"]) for r in read_rows(tmp_path / "resumed" / "metrics.csv")] == [1, 2, 3]
    _, info = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert info["epoch"] == 3
    # Same seed, data order and augmentation, optimizer state restored: the same weights as a straight run.
    resumed = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["model"]
    direct = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model"]
    for key in ("head.weight", "encoder.conv1.weight", "decoder.4.conv2.1.running_mean"):
        torch.testing.assert_close(resumed[key], direct[key], rtol=1e-4, atol=1e-6)


def test_bf16_channels_last_training_runs(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "s.zarr", n=4)
    report = train(tiny_config(epochs=1, bf16=True, channels_last=True), [store], tmp_path / "run")
    row = report.rows[0]
    assert 0.0 < row["loss"] < 10.0 and 0.0 < row["bce"] < 10.0
    model, info = load_checkpoint(tmp_path / "run" / "last.pt")
    assert info["config"]["bf16"] and all(p.dtype == torch.float32 for p in model.parameters())


def test_resume_needs_the_same_data(tmp_path: Path) -> None:
    store, other = demo_store(tmp_path / "s.zarr", n=4), demo_store(tmp_path / "o.zarr", n=4)
    report = train(tiny_config(epochs=1), [store], tmp_path / "run", val=[other])
    row = read_rows(tmp_path / "run" / "metrics.csv")[0]
    assert 0.0 <= float(row["val_face_iou"]) <= 1.0 and float(row["val_miou"]) == pytest.approx(
        report.rows[0]["val_miou"]
    )
    assert float(row["val_face_boundary_iou"]) == pytest.approx(report.rows[0]["val_face_boundary_iou"])
    with pytest.raises(ConfigError, match="it was trained on"):
        train(tiny_config(epochs=2), [other], tmp_path / "run", resume=True)
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(tiny_config(epochs=2), [store], tmp_path / "fresh", resume=True)


def test_config_from_params_file(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("base: {seed: 4}\ntrain:\n  epochs: 5\n  encoder_weights: w/resnet18.pth\n"
                      "  augment: {rotation_range_deg: [-10, 10]}\n")  # fmt: skip
    config = load_train_config(params)
    assert config.epochs == 5 and config.seed == 4 and config.augment.rotation_range_deg == (-10.0, 10.0)
    assert config.encoder_weights == tmp_path / "w" / "resnet18.pth"
    assert config.lr_at(20) == 1e-4 and config.lr_at(21) == 1e-5  # FaceOcc paper schedule by default
    params.write_text("train: {epoch: 5}\n")
    with pytest.raises(ConfigError, match="unknown parameter train.epoch"):
        load_train_config(params)
    with pytest.raises(ConfigError, match="multiple of 32"):
        TrainConfig(input_size=100)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "s.zarr", n=4)
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "none.zarr"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "store not found" in result.output and "Traceback" not in result.output
    if not torch.cuda.is_available():
        result = runner.invoke(app, ["train", "--data", str(store), "--out", str(tmp_path / "r"), "--device", "cuda"])
        assert result.exit_code == 1 and "no CUDA device" in result.output
    result = runner.invoke(app, ["train", "--data", str(store), "--out", str(tmp_path / "r"), "--encoder-weights",
                                 str(tmp_path / "missing.pth"), "--input-size", "32", "--epochs", "1"])  # fmt: skip
    assert result.exit_code == 1 and "encoder weights not found" in result.output


def test_repository_params_yaml_states_the_defaults() -> None:
    root = Path(__file__).resolve().parents[1]
    paper = root / "pipelines" / "paper" / "params.yaml"
    assert load_train_config(paper) == TrainConfig()  # the FaceOcc paper's settings are the defaults
    assert load_evaluate_config(paper) == EvaluateConfig()
    demo = load_train_config(root / "params.yaml")  # the demo pipeline trains briefly on CPU
    assert demo.epochs == 1 and demo.input_size == 64 and demo.device == "cpu"
    assert load_evaluate_config(root / "params.yaml") == EvaluateConfig()


def test_validation_boundary_counts_are_per_image(tmp_path: Path) -> None:
    # A model that calls every pixel face: its boundary counts are each image's own (summed), not one band
    # around the whole batch.
    import numpy as np

    from occgen.train.data import StoreDataset
    from occgen.train.metrics import BoundaryCounts, boundary_counts
    from occgen.train.trainer import evaluate_counts

    class AllFace(torch.nn.Module):
        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return torch.ones(inputs.shape[0], 1, *inputs.shape[2:])

    dataset = StoreDataset([demo_store(tmp_path / "s.zarr", n=3)], input_size=32)
    counts, edges = evaluate_counts(AllFace(), dataset, batch_size=2, device=torch.device("cpu"))
    truths = [dataset[i][1].numpy().astype(bool) for i in range(3)]
    expected = sum((boundary_counts(np.ones_like(t), t) for t in truths), BoundaryCounts())
    assert edges == expected and counts.fn == 0 and counts.tp == sum(int(t.sum()) for t in truths)
