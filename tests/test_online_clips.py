"""``occgen train --online RECIPE --clips`` (issue 27): clip pairs made on the fly equal the stored clips' pairs."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.recipes.base import Sample, sample_header
from occgen.run.clips import clip_recipe
from occgen.run.generate import generate
from occgen.settings import build_named_recipe
from occgen.store import open_store
from occgen.train.clip_pairs import ClipPairDataset
from occgen.train.config import AugmentConfig, TrainConfig
from occgen.train.data import ShardShuffleSampler, StoreDataset
from occgen.train.online import MixedDataset
from occgen.train.online_clips import OnlineClipPairDataset, clip_training_data, online_dataset

FRAMES = 4
PARAMS = """
base: {seed: 5, size: 64}
natocc: {n: 4, hand_max_side_px: 96, objects_frac: 0.0}
randocc: {n: 4}
faceocc: {n: 4, size_px: 64, real_frac: 0.0}
train: {epochs: 1, batch_size: 2, input_size: 32, min_kept: 100, workers: 0, augment: {enabled: false}}
"""


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text(PARAMS)
    return path


def pair_index(clip: int, t: int) -> int:
    """The number :class:`ClipPairDataset` gives the pair (t, t + 1) of clip ``clip`` of a store."""
    return clip * (FRAMES - 1) + t


@pytest.mark.parametrize("name", ["natocc", "randocc", "faceocc"])
def test_online_pairs_equal_the_stored_clips_pairs(tmp_path: Path, params: Path, name: str) -> None:
    recipe, _ = build_named_recipe(name, params)
    store = tmp_path / f"{name}.zarr"
    generate(clip_recipe(recipe, FRAMES), store, n=4 * FRAMES, shard_size=2 * FRAMES)  # generate --frames 4 --n 4
    reader = open_store(store)
    online = OnlineClipPairDataset(recipe, 2, input_size=64, frames=FRAMES, seed=11)
    stored = ClipPairDataset([store], input_size=64)  # un-augmented: dataset[i]
    small = OnlineClipPairDataset(recipe, 2, input_size=32, frames=FRAMES, seed=11)  # resized as stored pairs are
    stored_small = ClipPairDataset([store], input_size=32)
    starts = set()
    for epoch, index in ((0, 0), (0, 1), (1, 0), (1, 1)):
        clip, t = online.pair(epoch, index)
        assert clip == epoch * 2 + index and 0 <= t < FRAMES - 1
        starts.add(t)
        images, masks, motion = online[(epoch, index)]
        first = clip * FRAMES + t  # the store's frames t and t+1 of that clip, pixel for pixel
        assert np.array_equal(images.numpy().transpose(0, 2, 3, 1), reader.arrays("image")[first : first + 2]), name
        assert np.array_equal(masks.numpy(), reader.arrays("face_mask")[first : first + 2]), name
        assert images.dtype == torch.uint8 and masks.dtype == torch.uint8 and motion.dtype == torch.float32
        assert images.shape == (2, 3, 64, 64) and masks.shape == (2, 64, 64) and motion.shape == (2, 3)
        for ours, theirs in ((online[(epoch, index)], stored[pair_index(clip, t)]),
                             (small[(epoch, index)], stored_small[pair_index(clip, t)])):  # fmt: skip
            assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True)), name
    assert not np.allclose(motion.numpy(), [[1, 0, 0], [0, 1, 0]])  # the head moves between the frames
    assert len(starts) > 1  # each item draws its own first frame


def test_the_same_item_gives_the_same_tensors(params: Path) -> None:
    recipe, _ = build_named_recipe("randocc", params)
    online = OnlineClipPairDataset(recipe, 3, input_size=32, frames=FRAMES, seed=2)
    again = OnlineClipPairDataset(build_named_recipe("randocc", params)[0], 3, input_size=32, frames=FRAMES, seed=2)
    for key in ((0, 2), (1, 0)):
        first, second, fresh = online[key], online[key], again[key]
        assert all(torch.equal(a, b) and torch.equal(a, c) for a, b, c in zip(first, second, fresh, strict=True))
    assert not torch.equal(online[(0, 2)][0], online[(1, 2)][0])  # another epoch: another clip
    with pytest.raises(IndexError, match="out of range"):
        online[(0, 3)]


def _batches(dataset: MixedDataset, workers: int) -> list[torch.Tensor]:
    sampler = ShardShuffleSampler(dataset, seed=1)  # type: ignore[arg-type]  # MixedDataset: same fields
    sampler.set_epoch(1)
    loader = DataLoader(dataset, batch_size=2, sampler=sampler, num_workers=workers)
    return [torch.cat([images.flatten(), masks.flatten(), motion.flatten().view(torch.uint8)])
            for images, masks, motion in loader]  # fmt: skip


def test_workers_do_not_change_the_batches(params: Path) -> None:
    recipe, _ = build_named_recipe("randocc", params)
    config = TrainConfig(input_size=32, augment=AugmentConfig(enabled=False))
    online = online_dataset(recipe, 4, config, clips=True, frames=FRAMES)
    dataset = clip_training_data(config, [], online)
    assert isinstance(dataset, MixedDataset) and len(dataset) == 4
    alone = _batches(dataset, workers=0)
    assert len(alone) == 2
    assert all(torch.equal(a, b) for a, b in zip(alone, _batches(dataset, workers=2), strict=True))


def test_stored_and_online_pairs_mix(tmp_path: Path, params: Path) -> None:
    recipe, _ = build_named_recipe("randocc", params)
    store = tmp_path / "clips.zarr"
    generate(clip_recipe(recipe, FRAMES), store, n=2 * FRAMES, shard_size=FRAMES)
    config = TrainConfig(input_size=32, augment=AugmentConfig(enabled=False))
    online = online_dataset(recipe, 2, config, clips=True, frames=FRAMES)
    dataset = clip_training_data(config, [store], online)
    assert isinstance(dataset, MixedDataset) and dataset.lengths == [2 * (FRAMES - 1), 2]
    stored, made = dataset[(0, 1)], dataset[(0, 2 * (FRAMES - 1) + 1)]
    assert all(torch.equal(a, b) for a, b in zip(stored, ClipPairDataset([store], input_size=32)[1], strict=True))
    assert all(torch.equal(a, b) for a, b in zip(made, online[(0, 1)], strict=True))
    with pytest.raises(ConfigError, match="must both give clip pairs"):
        MixedDataset(StoreDataset([store], input_size=32), online)  # stills beside pairs: no batch holds both
    described = dataset.describe()
    assert [d["path"] for d in described] == [str(store), "online:randocc"] and described[1]["frames"] == FRAMES


def test_one_online_clip_step_writes_its_loss_columns(tmp_path: Path, params: Path) -> None:
    out = tmp_path / "run"
    options = ["--online", "natocc", "--clips", "--frames", str(FRAMES), "--online-n", "2", "--steps", "1",
               "--batch-size", "2", "--params", str(params), "--workers", "1"]  # fmt: skip
    result = CliRunner().invoke(app, ["train", *options, "--out", str(out)])
    assert result.exit_code == 0, result.output
    with (out / "metrics.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    temporal = float(row["temporal_loss"])  # one step on 2 pairs: loss = OHEM BCE + 1.0 x temporal
    assert temporal > 0 and float(row["loss"]) >= temporal - 1e-6 and float(row["bce"]) > 0
    config = json.loads((out / "config.json").read_text())
    assert config["clips"] == {"weight": 1.0}
    (online,) = config["data"]
    assert online["path"] == "online:natocc" and online["frames"] == FRAMES and online["n"] == 2
    assert online["generation"]["params"]["clip"]["frames"] == FRAMES
    other = CliRunner().invoke(app, ["train", *options[:3], "--frames", "5", *options[5:], "--out", str(out),
                                     "--resume"])  # fmt: skip
    assert other.exit_code == 1 and "cannot resume" in other.output


@dataclass
class PlainRecipe:
    """A recipe with ``make`` only (no ``draw``): it makes stills, not clips."""

    name: str = "plain"
    seed: int = 0
    size: int = 32

    def make(self, index: int) -> Sample:
        image = np.zeros((self.size, self.size, 3), np.uint8)
        mask = np.ones((self.size, self.size), np.uint8)
        return Sample(image, mask, np.zeros_like(mask), sample_header(self.name, index, 0, "face"))

    def params(self) -> dict[str, Any]:
        return {}

    def sources(self) -> dict[str, Any]:
        return {}


def test_what_cannot_make_online_clips_is_refused_in_one_line(tmp_path: Path, params: Path) -> None:
    config = TrainConfig(input_size=32)
    with pytest.raises(ConfigError) as refused:
        online_dataset(PlainRecipe(), 2, config, clips=True)
    assert str(refused.value) == (
        "--online plain --clips: recipe plain cannot make clips (natocc, randocc and faceocc can); "
        "train on its stills without --clips, or pass --online natocc|randocc|faceocc"
    )
    assert online_dataset(PlainRecipe(), 2, config, clips=False).load(0, 1)[0].shape == (32, 32, 3)  # stills work
    recipe, _ = build_named_recipe("randocc", params)
    with pytest.raises(ConfigError, match="--clips scores the face mask's temporal consistency"):
        online_dataset(recipe, 2, TrainConfig(input_size=32, target="parsing"), clips=True)
    with pytest.raises(ConfigError, match="--frames must be at least 2"):
        online_dataset(recipe, 2, config, clips=True, frames=1)
    with pytest.raises(ConfigError, match="--frames sets the length of online clips: pass --clips too"):
        online_dataset(recipe, 2, config, clips=False, frames=4)
    result = CliRunner().invoke(app, ["train", "--data", "x.zarr", "--frames", "4", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "--frames sets the length of --online clips" in result.output
