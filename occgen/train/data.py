"""Training data from one or several occgen zarr stores.

- :class:`StoreDataset` maps a global index over the concatenated stores to a sample, resized to the
  training input size and (optionally) augmented. Each process opens its own zarr handles lazily on
  first access, so the dataset is safe with multi-worker ``DataLoader``s (fork or spawn).
- :class:`ShardShuffleSampler` yields ``(epoch, index)`` pairs: shard order shuffled, then samples
  shuffled inside each shard, so consecutive reads stay within one zarr shard.
- Augmentation (NatOcc paper, section 4: random horizontal flip, rotation up to 30°, photometric
  distortion) is sampled from ``default_rng([seed, TRAIN_AUGMENT_STREAM, epoch, index])``: the same
  ``(epoch, index)`` always gives the same sample, whatever the worker count. It moves the sample as
  named targets (:mod:`occgen.core.targets`): with ``target`` parsing the label is a class map, so a flip
  swaps ``l_eye``/``r_eye``, ``l_brow``/``r_brow`` and ``l_ear``/``r_ear``.
- Template crops (issue 26, ``crops``: :mod:`occgen.train.crops`) come first: the sample, read at the store's
  size, is re-aligned by its ``landmarks`` to a drawn template and brought to the input size; then the
  augmentation above; the BGR channel order, if drawn, last. Their draws have their own stream, so a run
  without crops sees exactly the samples it saw before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from occgen.core.arrays import check_image
from occgen.core.errors import ConfigError
from occgen.core.imageio import resize_image, resize_labels
from occgen.core.labels import LABEL_ARRAYS, PARSING_FLIP_SWAP
from occgen.core.location import Location, parse_location
from occgen.core.targets import AffineWarp, HorizontalFlip, Target, Targets, apply_geometric, map_images
from occgen.store import open_store
from occgen.store.dataset import Dataset as StoredDataset
from occgen.store.group import open_group
from occgen.store.schema import FACE_MASK, IMAGE, shard_bounds, shard_count
from occgen.train.config import AugmentConfig, CropConfig  # noqa: F401 (re-exported)
from occgen.train.crops import (
    TRAIN_CROP_STREAM,
    apply_crop,
    count_without_points,
    sample_crop,
    sample_points,
)

LANDMARKS = LABEL_ARRAYS["landmarks"]  # the store array of the occgen-parsing-13 points
#: Stream ids of the trainer's generators (distinct from the recipe stream table in occgen/core/rng.py).
TRAIN_AUGMENT_STREAM = 101
TRAIN_SHUFFLE_STREAM = 102


@dataclass(frozen=True)
class AugmentParams:
    """One sample's augmentation; identity values (``False``, 0, 1) mean the op is skipped."""

    flip: bool = False
    rotation_deg: float = 0.0
    brightness_delta: float = 0.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue_delta_deg: float = 0.0
    contrast_first: bool = True


def sample_augment(*, rng: np.random.Generator, config: AugmentConfig) -> AugmentParams:
    """Draw one :class:`AugmentParams`; always the same number of draws, so params never shift."""
    draws = rng.random(7)
    u = rng.random(5)

    def pick(p_draw: float, p: float, value_range: tuple[float, float], unit: float, identity: float) -> float:
        return float(value_range[0] + unit * (value_range[1] - value_range[0])) if p_draw < p else identity

    if not config.enabled:
        return AugmentParams()
    return AugmentParams(
        flip=bool(draws[0] < config.flip_p),
        rotation_deg=pick(draws[1], config.rotate_p, config.rotation_range_deg, u[0], 0.0),
        brightness_delta=pick(draws[2], config.photometric_p, config.brightness_delta_range, u[1], 0.0),
        contrast=pick(draws[3], config.photometric_p, config.contrast_range, u[2], 1.0),
        saturation=pick(draws[4], config.photometric_p, config.saturation_range, u[3], 1.0),
        hue_delta_deg=pick(draws[5], config.photometric_p, config.hue_delta_range_deg, u[4], 0.0),
        contrast_first=bool(draws[6] < 0.5),
    )


def _photometric(image: np.ndarray, params: AugmentParams) -> np.ndarray:
    out = image.astype(np.float32)
    if params.brightness_delta:
        out += params.brightness_delta

    def contrast(x: np.ndarray) -> np.ndarray:
        return x * params.contrast if params.contrast != 1.0 else x

    if params.contrast_first:
        out = contrast(out)
    if params.saturation != 1.0 or params.hue_delta_deg:
        hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)  # H in [0, 360)
        hsv[:, :, 1] = np.clip(hsv[:, :, 1] * params.saturation, 0.0, 1.0)
        hsv[:, :, 0] = np.mod(hsv[:, :, 0] + params.hue_delta_deg, 360.0)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
    if not params.contrast_first:
        out = contrast(out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def apply_augment(targets: Targets, params: AugmentParams) -> Targets:
    """Apply ``params`` to a sample's targets (image uint8 (S, S, 3) and its label: a face mask, or a parsing
    class map whose left/right classes swap on a flip); inputs are not mutated.

    Rotation is about the centre; pixels rotated in from outside are black and background (0). Photometric
    changes touch the image targets only.
    """
    if params.flip:
        targets = apply_geometric(targets, HorizontalFlip())
    if params.rotation_deg:
        height, width = targets.canvas
        matrix = cv2.getRotationMatrix2D(((width - 1) / 2.0, (height - 1) / 2.0), params.rotation_deg, 1.0)
        targets = apply_geometric(targets, AffineWarp.of(matrix))
    photometric = (params.brightness_delta, params.contrast, params.saturation, params.hue_delta_deg) != (0, 1, 1, 0)
    if photometric:
        targets = map_images(targets, lambda image: _photometric(image, params))
    return targets


def training_targets(image: np.ndarray, label: np.ndarray, target: str) -> Targets:
    """``image`` (uint8 (S, S, 3)) and the training label as targets: ``face`` a mask, ``parsing`` a class map
    with the parsing classes' left/right swap table."""
    check_image(image)
    kind = Target.mask(label) if target == "face" else Target.class_map(label, swap=PARSING_FLIP_SWAP)
    return Targets({"image": Target.image(image), "label": kind})


def _expand_mix(path: Location) -> list[tuple[Location, np.ndarray | None]]:
    """``[(store, None)]`` for a store; for a mix index, each source store with the sample indices it
    contributes (ascending, so reads stay shard-friendly). Read through the dataset protocol's ``parts``."""
    dataset = open_store(path)
    entries: list[tuple[Location, np.ndarray | None]] = []
    for part in dataset.parts:
        chosen = np.sort(part.store_indices)
        every = len(chosen) == len(part.reader) and bool(np.array_equal(chosen, np.arange(len(chosen))))
        entries.append((part.location, None if every else chosen))  # None: the whole store
    return entries


class StoreReaders(Dataset):
    """A dataset over the stores ``paths`` (``offsets``: where each store's items start) whose zarr handles are
    opened lazily, once per process: a DataLoader worker opens its own (handles are not pickled)."""

    paths: list[Location]
    offsets: np.ndarray
    _readers: list[StoredDataset] | None = None
    _pid: int | None = None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_readers"], state["_pid"] = None, None  # every process opens its own zarr handles
        return state

    def _open(self) -> list[StoredDataset]:
        if self._readers is None or self._pid != os.getpid():
            self._readers = [open_store(p) for p in self.paths]  # mixes were expanded into their stores
            self._pid = os.getpid()
        return self._readers


class StoreDataset(StoreReaders):
    """Samples of one or several occgen stores or mix indexes as ``(image uint8 (3, S, S), face_mask uint8
    (S, S))`` tensors.

    ``dataset[i]`` is un-augmented; ``dataset[(epoch, i)]`` is augmented with the params of ``(epoch, i)``
    (when ``augment`` is given and enabled; ``crops``: re-framed first). ``S`` is ``input_size``; stores of
    another size are resized (area / cubic for images, nearest for masks). ``without_points``: how many
    samples ``crops`` cannot re-frame (no ``landmarks`` label, or a missing eye, nose or mouth corner); they
    are used as they are.
    """

    def __init__(self, paths: Sequence[Path | str | Location], *, input_size: int,
                 augment: AugmentConfig | None = None, seed: int = 0, target: str = "face",
                 crops: CropConfig | None = None) -> None:  # fmt: skip
        if not paths:
            raise ConfigError("no training store given; pass --data STORE[,STORE...]")
        if input_size < 32 or input_size % 32:
            raise ConfigError(f"input_size must be a positive multiple of 32, got {input_size}")
        self.inputs = [parse_location(p) for p in paths]  # paths or URLs (s3://...), absolute for the workers
        self.input_size = input_size
        self.augment = augment
        self.seed = seed
        # A mix index stands for the samples it selects from its stores (no pixels were copied).
        entries = [entry for p in self.inputs for entry in _expand_mix(p)]
        self.paths = [path for path, _ in entries]
        self.selections = [selection for _, selection in entries]
        cards = [open_store(p).card for p in self.paths]  # checks every store now; handles are not kept
        self.cards = cards
        self.lengths = [
            int(card["n"]) if selection is None else len(selection)
            for card, selection in zip(cards, self.selections, strict=True)
        ]
        self.shard_sizes = [int(card["shard_size"]) for card in cards]
        # target "parsing": the label is each store's `parsing` array (class ids) instead of face_mask.
        self.target = target
        self.label_array = FACE_MASK if target == "face" else "parsing"
        if target != "face":
            for path in self.paths:
                if self.label_array not in open_group(path, "r"):
                    raise ConfigError(f"{path} holds no {self.label_array} label; generate it with --labels parsing")
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self._readers: list[StoredDataset] | None = None
        self._pid: int | None = None
        self.crops = crops if crops is not None and crops.enabled else None
        self.has_points = [self.crops is not None and LANDMARKS in open_group(path, "r") for path in self.paths]
        self.without_points = 0
        if self.crops is not None and self.crops.templates:
            for path, selection, n, has in zip(self.paths, self.selections, self.lengths, self.has_points,
                                               strict=True):  # fmt: skip
                stored: Any = open_group(path, "r")[LANDMARKS] if has else None  # (N, K, 2): a few bytes per sample
                points = np.asarray(stored[...]) if has else None
                if points is not None and selection is not None:
                    points = points[selection]
                self.without_points += count_without_points(points, n)


    def locate(self, index: int) -> tuple[int, int]:
        """``(store number, index inside that store)`` of global ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        store = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return store, index - int(self.offsets[store])

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Image uint8 (S, S, 3) and face mask uint8 (S, S) of ``index`` at the input size, un-augmented."""
        store, local = self.locate(index)
        reader = self._open()[store]
        selection = self.selections[store]
        local = local if selection is None else int(selection[local])
        image = reader.sample_array(IMAGE, local)  # whole-shard reads on object storage (store/blocks.py)
        face_mask = reader.sample_array(self.label_array, local)
        size = (self.input_size, self.input_size)
        return resize_image(image, size), resize_labels(face_mask, size)

    def load_framed(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """Image and label of ``index`` read at the store's size, re-framed by the crop params of ``(epoch,
        index)`` and brought to the input size, and whether the image is to be given as BGR."""
        assert self.crops is not None
        store, local = self.locate(index)
        reader = self._open()[store]
        selection = self.selections[store]
        local = local if selection is None else int(selection[local])
        image = reader.sample_array(IMAGE, local)
        label = reader.sample_array(self.label_array, local)
        points = sample_points(reader.label(LANDMARKS, local)) if self.has_points[store] else None
        rng = np.random.default_rng([self.seed, TRAIN_CROP_STREAM, int(epoch), int(index)])
        params = sample_crop(rng=rng, config=self.crops, input_size=self.input_size)
        targets = apply_crop(training_targets(image, label, self.target), points, params, input_size=self.input_size)
        return targets.array("image"), targets.array("label"), params.channel_swap

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (None, key)
        swap = False
        if epoch is not None and self.crops is not None:
            image, face_mask, swap = self.load_framed(int(epoch), int(index))
        else:
            image, face_mask = self.load(int(index))
        if epoch is not None and self.augment is not None and self.augment.enabled:
            rng = np.random.default_rng([self.seed, TRAIN_AUGMENT_STREAM, int(epoch), int(index)])
            targets = training_targets(image, face_mask, self.target)
            targets = apply_augment(targets, sample_augment(rng=rng, config=self.augment))
            image, face_mask = targets.array("image"), targets.array("label")
        if swap:
            image = np.ascontiguousarray(image[:, :, ::-1])  # RGB -> BGR, after the RGB photometric ops
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), torch.from_numpy(face_mask)


class ShardShuffleSampler(Sampler):
    """Yields ``(epoch, index)`` for every sample once per epoch, in a shard-friendly shuffled order.

    The shards of all stores are shuffled, then the samples inside each shard, from
    ``default_rng([seed, TRAIN_SHUFFLE_STREAM, epoch])``. Call :meth:`set_epoch` before each epoch.
    """

    def __init__(self, dataset: StoreDataset, *, seed: int, shuffle: bool = True) -> None:
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.shards: list[tuple[int, int]] = []  # global [start, stop) of every shard
        for offset, n, shard_size in zip(dataset.offsets[:-1], dataset.lengths, dataset.shard_sizes, strict=True):
            for shard in range(shard_count(n, shard_size)):
                start, stop = shard_bounds(shard, n, shard_size)
                self.shards.append((int(offset) + start, int(offset) + stop))
        self.total = len(dataset)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.total))
        rng = np.random.default_rng([self.seed, TRAIN_SHUFFLE_STREAM, self.epoch])
        indices: list[int] = []
        for shard in rng.permutation(len(self.shards)):
            start, stop = self.shards[int(shard)]
            indices.extend(int(start + i) for i in rng.permutation(stop - start))
        return indices

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self.order()])

    def __len__(self) -> int:
        return self.total
