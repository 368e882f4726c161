"""Training speed (issue 24): the loader's workers live across epochs without changing a single batch, and the
bf16 note says when bf16 autocast has no hardware behind it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from occgen.train import speed
from occgen.train.data import AugmentConfig
from occgen.train.trainer import TrainConfig, train
from tests.test_train_run import demo_store


def speed_config(**changes: object) -> TrainConfig:
    base = TrainConfig(epochs=2, batch_size=2, lr=1e-3, input_size=32, min_kept=100, workers=0, checkpoint_every=100,
                       augment=AugmentConfig(rotate_p=1.0))  # fmt: skip
    return TrainConfig(**{**base.__dict__, **changes})


def test_persistent_workers_feed_every_epoch_the_same_batches_as_the_training_process(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "s.zarr", n=4)  # 2 batches per epoch, 2 epochs: each epoch its own order
    alone = train(speed_config(), [store], tmp_path / "alone")
    workers = train(speed_config(workers=2), [store], tmp_path / "workers")
    assert [r["loss"] for r in workers.rows] == [r["loss"] for r in alone.rows]
    a = torch.load(tmp_path / "alone" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "workers" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_bf16_note_names_the_missing_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    note = speed.cpu_bf16_note()
    assert note is not None and "this CPU (AVX2) has no bf16 units" in note and "--channels-last" in note
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert speed.cpu_has_bf16() and speed.cpu_bf16_note() is None


def test_train_with_bf16_on_a_cpu_without_bf16_units_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from occgen.cli.main import app

    monkeypatch.setattr(speed, "cpu_has_bf16", lambda: False)
    store = demo_store(tmp_path / "s.zarr", n=2)
    args = ["train", "--data", str(store), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "2",
            "--input-size", "32", "--workers", "1", "--bf16", "--no-augment"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "has no bf16 units: bf16 autocast is emulated and slower than fp32 here" in " ".join(result.output.split())
