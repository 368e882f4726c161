"""``occgen train --clips`` (issue 27): pairs of consecutive clip frames, their motion, the temporal loss."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.core.imageio import resize_labels
from occgen.core.targets import Target, Targets
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.clips import clip_recipe
from occgen.run.generate import generate
from occgen.store import open_store
from occgen.store.clips import head_matrices, relative_motion
from occgen.store.mix import MixPart, build_mix
from occgen.train.clip_pairs import (
    ClipPairDataset,
    augment_matrix,
    conjugate,
    resize_matrix,
    temporal_consistency_loss,
    warp_to_next,
)
from occgen.train.config import ClipTrainConfig, TrainConfig
from occgen.train.data import AugmentConfig, AugmentParams, apply_augment
from occgen.train.flicker import moved
from occgen.train.trainer import train

runner = CliRunner()
FRAMES = 4


@pytest.fixture
def clip_store(tmp_path: Path, small_recipe: RandOccRecipe) -> Path:
    """3 clips of 4 frames at 64 px."""
    out = tmp_path / "clips.zarr"
    generate(clip_recipe(small_recipe, FRAMES), out, n=3 * FRAMES, shard_size=2 * FRAMES)
    return out


def blob(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (((xx - 30) / 14.0) ** 2 + ((yy - 26) / 9.0) ** 2 < 1) | ((xx > 36) & (xx < 46) & (yy > 30) & (yy < 50))


def motion_of(degrees: float, dx: float, dy: float, size: int = 64) -> np.ndarray:
    matrix = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), degrees, 1.02)
    return matrix + np.array([[0, 0, dx], [0, 0, dy]])


def as_logits(*masks: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.stack(masks)[:, None].astype(np.float32) * 20.0 - 10.0)


def test_temporal_loss_is_zero_for_identical_predictions_of_an_unmoving_clip() -> None:
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(size=(1, 1, 32, 32)), dtype=torch.float32)
    truth = torch.tensor((rng.random((1, 1, 32, 32)) < 0.5).astype(np.float32))
    still = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    same = temporal_consistency_loss(logits.repeat(2, 1, 1, 1), truth.repeat(2, 1, 1, 1), still)
    assert float(same) < 1e-6
    other = temporal_consistency_loss(torch.cat([logits, -logits]), truth.repeat(2, 1, 1, 1), still)
    assert float(other) > 0.1
    changed = torch.cat([truth, 1 - truth])  # where the true mask changes, the predictions may change too
    assert float(temporal_consistency_loss(torch.cat([logits, -logits]), changed, still)) == 0.0


def test_temporal_loss_follows_the_head_motion() -> None:
    before = blob()
    motion = motion_of(3.0, 2.5, -1.5)
    after = moved(before, motion)  # OpenCV's warp: an independent implementation of the motion
    face = torch.ones(2, 1, 64, 64)  # a true mask that stays: every pixel inside the frame is steady
    flow = torch.tensor(motion[None], dtype=torch.float32)
    backwards = torch.tensor(cv2.invertAffineTransform(motion)[None], dtype=torch.float32)
    followed = float(temporal_consistency_loss(as_logits(before, after), face, flow))
    reversed_motion = float(temporal_consistency_loss(as_logits(before, after), face, backwards))
    frozen = float(temporal_consistency_loss(as_logits(before, before), face, flow))  # ignores the motion
    assert followed < 0.02 and reversed_motion > 0.05 and frozen > 0.05
    truth = torch.tensor(np.stack([before, after])[:, None].astype(np.float32))
    assert float(temporal_consistency_loss(as_logits(before, after), truth, flow)) < 0.02  # the true masks
    warped, inside = warp_to_next(torch.tensor(before[None, None].astype(np.float32)), flow, mode="nearest")
    assert np.mean(warped[0, 0].numpy().astype(bool) == after) > 0.995 and bool(inside.all()) is False


def test_pair_motion_follows_the_resize_and_the_augmentation() -> None:
    motion = motion_of(-4.0, 3.0, 2.0)
    first, second = blob(), moved(blob(), motion)
    params = AugmentParams(flip=True, rotation_deg=20.0)
    small = [resize_labels(m.astype(np.uint8), (32, 32)) for m in (first, second)]
    targets = apply_augment(Targets({"a": Target.mask(small[0]), "b": Target.mask(small[1])}), params)
    a, b = targets.array("a").astype(bool), targets.array("b").astype(bool)
    resized = conjugate(motion, resize_matrix(64, 32))
    right = np.mean(moved(a, conjugate(resized, augment_matrix(params, 32))) == b)
    wrong = np.mean(moved(a, resized) == b)  # the motion not moved with the flip and rotation
    assert right > 0.97 and wrong < right - 0.02


def test_pairs_are_consecutive_frames_of_one_clip(tmp_path: Path, clip_store: Path) -> None:
    pairs = ClipPairDataset([clip_store], input_size=32)
    assert len(pairs) == 3 * (FRAMES - 1) and pairs.lengths == [9]
    assert [pairs.pair(i)[1] for i in range(len(pairs))] == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    images, masks, motion = pairs[4]  # clip 1, frames 1 and 2
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.uint8
    assert masks.shape == (2, 32, 32) and motion.shape == (2, 3) and motion.dtype == torch.float32
    store = open_store(clip_store)
    assert np.array_equal(masks[1].numpy(), resize_labels(store[6].face_mask, (32, 32)))
    head = head_matrices(store.metadata([5, 6]))
    assert head is not None
    expected = conjugate(relative_motion(*head), resize_matrix(64, 32))
    assert np.allclose(motion.numpy(), expected, atol=1e-5)
    mix = build_mix([MixPart(clip_store, count=2)], tmp_path / "m.zarr", seed=1)  # a mix picks whole clips
    assert len(ClipPairDataset([mix], input_size=32)) == 2 * (FRAMES - 1)


def test_one_clip_training_step_writes_its_loss_column(tmp_path: Path, clip_store: Path) -> None:
    out = tmp_path / "run"
    options = ["--clips", "--clip-weight", "2", "--steps", "1", "--batch-size", "2", "--input-size", "32"]
    result = runner.invoke(app, ["train", "--data", str(clip_store), *options, "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with (out / "metrics.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    temporal = float(row["temporal_loss"])  # one step: loss = OHEM BCE (>= 0) + 2 x temporal
    assert temporal > 0 and float(row["loss"]) >= 2 * temporal - 1e-6
    assert json.loads((out / "config.json").read_text())["clips"] == {"weight": 2.0}
    assert torch.load(out / "last.pt", weights_only=False)["clips"] == {"weight": 2.0}
    config = TrainConfig(batch_size=2, input_size=32, workers=0, steps=2, augment=AugmentConfig(enabled=False))
    with pytest.raises(ConfigError, match="it was trained --clips"):
        train(config, [clip_store], out, resume=True)  # the same run without --clips


def test_clips_are_refused_on_stills_and_options_need_clips(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    stills = tmp_path / "stills.zarr"
    generate(small_recipe, stills, n=2, shard_size=2)
    result = runner.invoke(app, ["train", "--data", str(stills), "--clips", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "is not a clip store (its card has no 'frames'); train on it without --clips" in result.output
    result = runner.invoke(app, ["train", "--data", str(stills), "--clip-weight", "2", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "--clip-weight weighs the --clips loss" in result.output
    with pytest.raises(ConfigError, match="--clip-weight must be a finite number >= 0"):
        ClipTrainConfig(weight=-1.0)
    with pytest.raises(ConfigError, match="--online makes stills"):
        online = SimpleNamespace(target="face")  # refused before it is used
        train(TrainConfig(input_size=32), [stills], tmp_path / "r", clips=ClipTrainConfig(), online=online)  # type: ignore[arg-type]
