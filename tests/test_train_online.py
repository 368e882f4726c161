"""Recipes made on the fly for training: determinism per (seed, epoch, index), equality with stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.run.generate import generate
from occgen.settings import build_named_recipe
from occgen.store import open_store
from occgen.train.data import ShardShuffleSampler
from occgen.train.online import MixedDataset, OnlineDataset

PARAMS = """
base: {seed: 5, size: 64}
faceocc: {n: 6, size_px: 64}
randocc: {n: 6}
train: {epochs: 1, batch_size: 2, input_size: 32, min_kept: 100, workers: 0, augment: {enabled: false}}
"""


@pytest.fixture
def params(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    return path


def _batches(dataset: MixedDataset, epoch: int, workers: int) -> list[torch.Tensor]:
    sampler = ShardShuffleSampler(dataset, seed=1)  # type: ignore[arg-type]
    sampler.set_epoch(epoch)
    loader = DataLoader(dataset, batch_size=3, sampler=sampler, num_workers=workers)
    return [torch.cat([images.flatten(), masks.flatten()]) for images, masks in loader]


def test_same_epoch_same_batches_other_epoch_other_samples(params: Path) -> None:
    recipe, n = build_named_recipe("faceocc", params)
    dataset = MixedDataset(None, OnlineDataset(recipe, n, input_size=64))
    first = _batches(dataset, 1, workers=0)
    assert len(first) == 2
    again = _batches(dataset, 1, workers=2)  # worker processes make the same samples
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    other = _batches(dataset, 2, workers=0)
    assert not any(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_online_samples_equal_the_stored_recipe(tmp_path: Path, params: Path) -> None:
    for name in ("faceocc", "randocc"):
        recipe, _ = build_named_recipe(name, params)
        recipe_size = recipe.size
        online = OnlineDataset(recipe, 3, input_size=recipe_size if recipe_size % 32 == 0 else 64)
        store = tmp_path / f"{name}.zarr"
        generate(recipe, store, n=6, shard_size=3)
        reader = open_store(store)
        for epoch, index in ((0, 1), (1, 2)):
            image, mask = online[(epoch, index)]
            stored = epoch * 3 + index
            if online.input_size == recipe_size:
                assert np.array_equal(image.numpy().transpose(1, 2, 0), reader.arrays("image")[stored]), name
                assert np.array_equal(mask.numpy(), reader.arrays("face_mask")[stored]), name
            assert image.dtype == torch.uint8 and image.shape == (3, online.input_size, online.input_size)


def test_online_rejects_bad_arguments(params: Path) -> None:
    recipe, _ = build_named_recipe("faceocc", params)
    with pytest.raises(ConfigError, match="per epoch"):
        OnlineDataset(recipe, 0, input_size=64)
    with pytest.raises(IndexError):
        OnlineDataset(recipe, 2, input_size=64)[(0, 2)]
    with pytest.raises(ConfigError, match="valid: randocc, natocc, faceocc"):
        build_named_recipe("bogus", params)


def test_train_online_cli(tmp_path: Path, params: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["train", "--online", "faceocc", "--online-n", "2", "--out", str(out), "--params", str(params)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "last.pt").is_file()
    config = (out / "config.json").read_text()
    assert '"online": "faceocc"' in config
    other = CliRunner().invoke(app, ["train", "--online", "faceocc", "--online-n", "3", "--out", str(out),
                                     "--params", str(params), "--resume", "--epochs", "2"])  # fmt: skip
    assert other.exit_code == 1 and "cannot resume" in other.output and "online:faceocc" in other.output
    nothing = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "r2")])
    assert nothing.exit_code == 1 and "nothing to train on" in nothing.output


def test_online_parsing_target_equals_the_stored_parsing_label(tmp_path: Path, params: Path) -> None:
    """--online RECIPE --target parsing: the labels are the recipe's parsing maps, as a store holds them."""
    recipe, _ = build_named_recipe("randocc", params)
    online = OnlineDataset(recipe, 3, input_size=64, target="parsing")
    store = tmp_path / "randocc.zarr"
    generate(recipe, store, n=6, shard_size=3, labels=("parsing",))
    reader = open_store(store)
    for epoch, index in ((0, 0), (1, 2)):
        _, labels = online[(epoch, index)]
        assert np.array_equal(labels.numpy(), reader.labels(epoch * 3 + index)["parsing"])
    faceocc, _ = build_named_recipe("faceocc", params)  # real_frac 0.3: real images have no parsing under occluders
    with pytest.raises(ConfigError, match="needs faceocc.real_frac 0"):
        OnlineDataset(faceocc, 3, input_size=64, target="parsing")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--online", "randocc", "--online-n", "2", "--target", "parsing",
                                      "--out", str(out), "--params", str(params)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert '"target": "parsing"' in (out / "config.json").read_text()
