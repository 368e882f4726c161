"""Training data: augmentation (sample/apply), the store Dataset, the shard-friendly sampler, workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _sided_parsing import LEFT_RIGHT, mirrored_reference, sided_parsing, write_sided_parsing
from torch.utils.data import DataLoader

from occgen.core.errors import ConfigError, StoreError
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.generate import generate
from occgen.store import open_store
from occgen.train.data import (
    AugmentConfig,
    AugmentParams,
    ShardShuffleSampler,
    StoreDataset,
    apply_augment,
    sample_augment,
    training_targets,
)


def augment(image: np.ndarray, mask: np.ndarray, params: AugmentParams) -> tuple[np.ndarray, np.ndarray]:
    """apply_augment on an image and its face mask as targets."""
    out = apply_augment(training_targets(image, mask, "face"), params)
    return out.array("image"), out.array("label")


@pytest.fixture
def stores(tmp_path: Path, small_recipe: RandOccRecipe) -> list[Path]:
    """Two 64² stores: 10 samples in shards of 4 (4, 4, 2) and 3 samples in one shard."""
    first, second = tmp_path / "a.zarr", tmp_path / "b.zarr"
    generate(small_recipe, first, n=10, shard_size=4)
    generate(small_recipe, second, n=3, shard_size=4)
    return [first, second]


def random_image(seed: int = 0, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    mask[8:20, 4:12] = 1
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8), mask


def test_identity_params_change_nothing_and_inputs_are_not_mutated() -> None:
    image, mask = random_image()
    image_copy, mask_copy = image.copy(), mask.copy()
    out_image, out_mask = augment(image, mask, AugmentParams())
    assert np.array_equal(out_image, image) and np.array_equal(out_mask, mask)
    augment(image, mask, AugmentParams(flip=True, rotation_deg=20.0, brightness_delta=10.0, saturation=1.3))
    assert np.array_equal(image, image_copy) and np.array_equal(mask, mask_copy)


def test_flip_and_rotation_move_image_and_mask_together() -> None:
    image, mask = random_image()
    flipped_image, flipped_mask = augment(image, mask, AugmentParams(flip=True))
    assert np.array_equal(flipped_image, image[:, ::-1]) and np.array_equal(flipped_mask, mask[:, ::-1])
    square = np.zeros((33, 33), np.uint8)
    square[4:10, 14:19] = 1  # above the centre (16, 16)
    image = np.repeat(square[:, :, None] * 200, 3, axis=2).astype(np.uint8)
    rotated_image, rotated_mask = augment(image, square, AugmentParams(rotation_deg=90.0))
    assert np.array_equal(rotated_mask, np.rot90(square))  # OpenCV: positive angle = counter-clockwise
    assert np.array_equal(rotated_image[:, :, 0] > 100, rotated_mask.astype(bool))
    assert rotated_mask.dtype == np.uint8 and set(np.unique(rotated_mask)) <= {0, 1}


def test_photometric_changes_only_colours() -> None:
    image, mask = random_image(1)
    brighter, same_mask = augment(image, mask, AugmentParams(brightness_delta=20.0))
    expected = np.clip(image.astype(np.int16) + 20, 0, 255).astype(np.uint8)
    assert np.array_equal(brighter, expected) and np.array_equal(same_mask, mask)
    grey, _ = augment(image, mask, AugmentParams(saturation=0.0))
    assert np.abs(grey.astype(int).max(axis=2) - grey.astype(int).min(axis=2)).max() <= 1


def test_sample_augment_is_deterministic_and_respects_ranges() -> None:
    config = AugmentConfig()
    params = [sample_augment(rng=np.random.default_rng([0, i]), config=config) for i in range(400)]
    again = [sample_augment(rng=np.random.default_rng([0, i]), config=config) for i in range(400)]
    assert params == again
    assert 0.4 < np.mean([p.flip for p in params]) < 0.6
    angles = [p.rotation_deg for p in params if p.rotation_deg]
    assert 0.4 < len(angles) / 400 < 0.6 and max(np.abs(angles)) <= 30.0
    assert all(0.5 <= p.contrast <= 1.5 for p in params)
    off = sample_augment(rng=np.random.default_rng(0), config=AugmentConfig(enabled=False))
    assert off == AugmentParams()
    with pytest.raises(ConfigError, match="flip_p must be in \\[0, 1\\]"):
        AugmentConfig(flip_p=2.0)


def test_dataset_indexes_several_stores_and_resizes(stores: list[Path]) -> None:
    dataset = StoreDataset(stores, input_size=32)
    assert len(dataset) == 13 and dataset.locate(9) == (0, 9) and dataset.locate(10) == (1, 0)
    image, mask = dataset[11]
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8
    assert mask.shape == (32, 32) and mask.dtype == torch.uint8 and int(mask.max()) <= 1
    full = StoreDataset(stores, input_size=64)
    image, mask = full[11]
    stored = open_store(stores[1])[1]
    assert np.array_equal(image.numpy().transpose(1, 2, 0), stored.image)
    assert np.array_equal(mask.numpy(), stored.face_mask)
    with pytest.raises(IndexError):
        dataset[13]


def test_dataset_errors(tmp_path: Path, stores: list[Path]) -> None:
    with pytest.raises(ConfigError, match="multiple of 32"):
        StoreDataset(stores, input_size=48)
    with pytest.raises(StoreError, match="store not found"):
        StoreDataset([tmp_path / "none.zarr"], input_size=32)
    with pytest.raises(ConfigError, match="no training store"):
        StoreDataset([], input_size=32)


def test_augmented_samples_depend_on_epoch_and_index_only(stores: list[Path]) -> None:
    dataset = StoreDataset(stores, input_size=64, augment=AugmentConfig(flip_p=1.0, rotate_p=1.0), seed=3)
    first, again = dataset[(2, 5)], dataset[(2, 5)]
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(dataset[(3, 5)][0], first[0])
    assert not torch.equal(dataset[5][0], first[0])  # a plain index is not augmented


def test_sampler_is_a_shard_friendly_permutation(stores: list[Path]) -> None:
    dataset = StoreDataset(stores, input_size=32)
    sampler = ShardShuffleSampler(dataset, seed=0)
    assert sampler.shards == [(0, 4), (4, 8), (8, 10), (10, 13)]
    sampler.set_epoch(1)
    keys = list(sampler)
    assert len(keys) == len(sampler) == 13 and {epoch for epoch, _ in keys} == {1}
    order = [index for _, index in keys]
    assert sorted(order) == list(range(13))
    shard_of = [next(s for s, (a, b) in enumerate(sampler.shards) if a <= i < b) for i in order]
    assert sum(a != b for a, b in zip(shard_of, shard_of[1:], strict=False)) == 3  # each shard read in one run
    assert order == [i for _, i in sampler]  # same epoch, same order
    sampler.set_epoch(2)
    assert [i for _, i in sampler] != order
    assert ShardShuffleSampler(dataset, seed=0, shuffle=False).order() == list(range(13))


def test_identical_batches_with_0_and_2_workers(stores: list[Path]) -> None:
    dataset = StoreDataset(stores, input_size=64, augment=AugmentConfig(), seed=1)
    dataset[0]  # open handles in this process first: the workers must open their own

    def batches(workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        sampler = ShardShuffleSampler(dataset, seed=1)
        sampler.set_epoch(4)
        loader = DataLoader(dataset, batch_size=4, sampler=sampler, num_workers=workers)
        return list(loader)

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 4
    for (image_a, mask_a), (image_b, mask_b) in zip(serial, parallel, strict=True):
        assert torch.equal(image_a, image_b) and torch.equal(mask_a, mask_b)


def test_flip_swaps_left_and_right_parsing_classes_in_training(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    """--target parsing: a flipped training sample has l_eye where the unflipped one had r_eye (brows, ears
    too), pixel by pixel against a mirrored, swapped reference; face masks are only mirrored."""
    write_sided_parsing(Path(small_recipe.faces.root))
    store = tmp_path / "parsing.zarr"
    generate(small_recipe, store, n=3, shard_size=4, labels=("parsing",))
    flip_only = AugmentConfig(flip_p=1.0, rotate_p=0.0, photometric_p=0.0)
    parsing = StoreDataset([store], input_size=64, augment=flip_only, target="parsing")
    faces = StoreDataset([store], input_size=64, augment=flip_only, target="face")
    seen: set[int] = set()
    for i in range(3):
        (image, plain), (flipped_image, flipped) = parsing[i], parsing[(0, i)]
        assert np.array_equal(flipped.numpy(), mirrored_reference(plain.numpy()))
        assert torch.equal(flipped_image, image.flip(-1))
        assert torch.equal(faces[(0, i)][1], faces[i][1].flip(-1))
        seen |= set(np.unique(plain.numpy()).tolist())
    assert set(LEFT_RIGHT) <= seen  # every left/right class was there to be swapped
    # Flip and rotation together: the rotation of the mirrored, swapped map.
    square = sided_parsing(np.ones((96, 96), np.uint8))[15:84, 10:79]  # 69², centre pixel (34, 34)
    image = np.zeros((69, 69, 3), np.uint8)
    out = apply_augment(training_targets(image, square, "parsing"), AugmentParams(flip=True, rotation_deg=90.0))
    assert np.array_equal(out.array("label"), np.rot90(mirrored_reference(square)))
