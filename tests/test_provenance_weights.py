"""Model weights are part of what a store records (issue 23): RainNet's sha256 and the torch version are in
the generation spec and the card, so other weights under the same file name refuse a resume, and a worker
that reloads changed weights stops instead of mixing them into the store."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from occgen.appearance.harmonise import RainNetHarmoniser
from occgen.appearance.rainnet import RainNet
from occgen.appearance.sot import SOTConfig
from occgen.core.checkpoint import CheckpointError
from occgen.core.errors import StoreError
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.run.generate import generate
from occgen.run.spec import generation_spec
from occgen.run.verify import repair_store
from occgen.sources.faces import open_faces
from occgen.sources.hands import MattedHands
from occgen.sources.objects import CocoObjects
from occgen.store.schema import ShardReader


def write_rainnet(path: Path, seed: int) -> str:
    """A small random RainNet (ngf 8) drawn from a numpy Generator; returns the file's sha256."""
    rng = np.random.default_rng(seed)
    model = RainNet(ngf=8)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.from_numpy(rng.normal(0.0, 0.05, tuple(param.shape)).astype(np.float32)))
    torch.save(model.state_dict(), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def natocc(harmoniser: RainNetHarmoniser | None) -> NatOccRecipe:
    hands, objects = MattedHands(None, max_side_px=96), CocoObjects(None, max_side_px=96)
    config = NatOccConfig(color_transfer="none")
    return NatOccRecipe(open_faces(None), hands, config, seed=2, size=96, objects=objects, harmoniser=harmoniser)


def test_other_weights_under_the_same_name_refuse_the_resume(tmp_path: Path) -> None:
    checkpoint = tmp_path / "net_G_last.pth"
    first = write_rainnet(checkpoint, seed=0)
    store = tmp_path / "natocc.zarr"
    generate(natocc(RainNetHarmoniser(checkpoint, ngf=8)), store, n=4, shard_size=2)
    card = ShardReader(store).card
    recorded = {"file": "net_G_last.pth", "sha256": first, "torch": torch.__version__}
    assert card["generation"]["models"] == {"harmoniser": recorded}
    assert sum(ShardReader(store)[i].metadata["harmonised"] == "rainnet" for i in range(4)) == 2

    size = checkpoint.stat().st_size
    second = write_rainnet(checkpoint, seed=1)  # swapped in place: same name, same size, other weights
    assert second != first and checkpoint.stat().st_size == size
    swapped = rf"models\.harmoniser\.sha256: '{first}' -> '{second}'"
    with pytest.raises(StoreError, match=swapped):
        generate(natocc(RainNetHarmoniser(checkpoint, ngf=8)), store, n=4, shard_size=2)
    with pytest.raises(StoreError, match=swapped + ".*repair it with the settings that made it"):
        repair_store(natocc(RainNetHarmoniser(checkpoint, ngf=8)), store)
    write_rainnet(checkpoint, seed=0)  # the original weights back: the store is whole, nothing to redo
    assert generate(natocc(RainNetHarmoniser(checkpoint, ngf=8)), store, n=4, shard_size=2).shards_written == 0


def test_a_recipe_without_a_model_records_none() -> None:
    """No ``models`` key at all: the specs of stores made without weights are unchanged (they still resume)."""
    assert "models" not in generation_spec(natocc(None), 4, 2, "zstd")


def test_sot_on_torch_records_the_torch_version() -> None:
    """SOT run in torch makes pixels that depend on torch's numerics: its version is in the spec."""
    hands, objects = MattedHands(None, max_side_px=96), CocoObjects(None, max_side_px=96)
    config = NatOccConfig(sot=SOTConfig(device="torch"))
    recipe = NatOccRecipe(open_faces(None), hands, config, seed=2, size=96, objects=objects)
    assert generation_spec(recipe, 4, 2, "zstd")["models"] == {"sot": {"torch": torch.__version__}}


def test_a_worker_reloading_changed_weights_stops(tmp_path: Path) -> None:
    checkpoint = tmp_path / "net_G_last.pth"
    first = write_rainnet(checkpoint, seed=0)
    harmoniser = RainNetHarmoniser(checkpoint, ngf=8)
    assert harmoniser.weights()["sha256"] == first
    shipped = pickle.dumps(harmoniser)  # what a dask worker receives: no model, reloaded from the path
    write_rainnet(checkpoint, seed=1)
    worker = pickle.loads(shipped)
    image = np.full((64, 64, 3), 128, np.uint8)
    alpha = np.zeros((64, 64), np.float32)
    alpha[20:40, 20:40] = 1.0
    with pytest.raises(CheckpointError, match=rf"{checkpoint.name} changed while in use \(sha256 {first[:16]}"):
        worker.apply(image, alpha)
