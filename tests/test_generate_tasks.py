"""Generation tasks carry what a worker needs (occgen/run/generate.py ShardTask): the store's layout and
labels are read once by the client, never by the task."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import zarr

from occgen.core.location import parse_location
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.generate import ShardTask, prepare_store, run_shard, shard_tasks
from occgen.store.codecs import DEFAULT_IMAGE_CODEC, parse_image_codec
from occgen.store.schema import ATTRS_KEY, StoreLayout


def test_tasks_carry_layout_and_labels_and_a_worker_never_reads_the_card(
    tmp_path: Path, small_recipe: RandOccRecipe
) -> None:
    location = parse_location(tmp_path / "s.zarr")
    todo = prepare_store(small_recipe, location, n=5, shard_size=2, overwrite=False, labels=("amodal",))
    tasks = shard_tasks(location, todo, "run-1")
    assert [task.shard_index for task in tasks] == [0, 1, 2]
    assert tasks[0].layout == StoreLayout(n=5, shard_size=2, image_codec=parse_image_codec(DEFAULT_IMAGE_CODEC).spec)
    assert [task.bounds for task in tasks] == [(0, 2), (2, 4), (4, 5)]
    assert all(task.labels == ("amodal",) for task in tasks)
    assert pickle.loads(pickle.dumps(tasks[2])) == tasks[2]  # sent to dask workers as is
    group = zarr.open_group(location.path, mode="r+")
    group.attrs[ATTRS_KEY] = {"n": "not a number", "shard_size": None}  # a worker that read the card would fail
    assert [run_shard(small_recipe, task) for task in tasks] == [2, 2, 1]
    for index in (0, 4):
        sample = small_recipe.make(index)
        assert np.array_equal(np.asarray(group["image"][index]), sample.image)
        assert np.array_equal(np.asarray(group["face_mask_amodal"][index]), sample.labels.face_mask_amodal)
    assert np.asarray(group["shard_complete"][:]).tolist() == [1, 1, 1]


def test_a_task_is_a_frozen_value() -> None:
    task = ShardTask(parse_location("/tmp/x.zarr"), 2, "t", StoreLayout(10, 4))
    assert task.bounds == (8, 10) and task.labels == ()
    try:
        task.shard_index = 4  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("ShardTask is mutable")
