"""Training samples made on the fly: any recipe (RandOcc, NatOcc, FaceOcc, any registered one: ``occgen train
--online NAME`` builds it through :mod:`occgen.recipes.registry`) behind a torch ``Dataset``.

The FaceOcc authors synthesise occlusions in ``__getitem__`` as training goes, instead of storing them
(face3d0725/FaceExtraction Dataset/dataset.py:96-137). :class:`OnlineDataset` does the same with any occgen
recipe, but deterministically: ``dataset[(epoch, i)]`` is ``recipe.make(epoch * length + i)``, which draws
only from ``sample_rng(seed, recipe, epoch * length + i)``. So

- every epoch sees fresh samples, and a rerun (or a resume) sees the same ones, whatever the DataLoader's
  worker count;
- the samples are exactly those a store of the same recipe and settings holds at those indices
  (``occgen generate <recipe> --n (epoch + 1) * length``): an online run can be replayed from a store.

:class:`MixedDataset` puts stores and an online recipe behind one index space, with the attributes
:class:`occgen.train.data.ShardShuffleSampler` walks (offsets, lengths, shard sizes); with ``--clips``, clip stores'
pairs and online clip pairs (:mod:`occgen.train.online_clips`).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from occgen.core.errors import ConfigError
from occgen.core.targets import Resize, apply_geometric
from occgen.recipes.base import Recipe
from occgen.recipes.labels import build_labels
from occgen.train.clip_pairs import ClipPairDataset
from occgen.train.config import CropConfig
from occgen.train.crops import TRAIN_CROP_STREAM, apply_crop, sample_crop, sample_points
from occgen.train.data import StoreDataset, training_targets

#: Samples per "shard" of the online part, for the shard-wise shuffling sampler (any value works: the
#: online samples have no storage order to respect).
ONLINE_BLOCK = 64


class OnlineDataset(Dataset):
    """``length`` samples per epoch of ``recipe``, made at ``__getitem__`` as ``(image uint8 (3, S, S),
    label uint8 (S, S))`` tensors at ``input_size`` S: the visible-face mask (``target`` face) or the parsing
    map (``target`` parsing, the recipe's ``parsing`` label, :mod:`occgen.recipes.labels`).

    ``dataset[(epoch, i)]`` is recipe sample ``epoch * length + i``; ``dataset[i]`` is epoch 0. ``crops``
    (template crops, :mod:`occgen.train.crops`): each sample is re-framed by the landmarks of its face
    (:func:`occgen.recipes.labels.build_labels`) with the draws of ``default_rng([seed, TRAIN_CROP_STREAM,
    epoch, i])``; a sample without five points is used as it is (not counted: workers make them).
    """

    def __init__(self, recipe: Recipe, length: int, *, input_size: int, target: str = "face",
                 crops: CropConfig | None = None, seed: int = 0) -> None:  # fmt: skip
        if length < 1:
            raise ConfigError(f"online samples per epoch must be >= 1, got {length}")
        if input_size < 32 or input_size % 32:
            raise ConfigError(f"input_size must be a positive multiple of 32, got {input_size}")
        if target not in ("face", "parsing"):
            raise ConfigError(f"online target must be face or parsing, got {target!r}")
        check_labels = getattr(recipe, "check_labels", None)
        if target == "parsing" and check_labels is not None:
            check_labels(("parsing",))  # e.g. FaceOcc's real samples have no parsing under the occluder
        self.recipe = recipe
        self.length = length
        self.input_size = input_size
        self.target = target
        self.crops = crops if crops is not None and crops.enabled else None
        self.seed = seed

    def __len__(self) -> int:
        return self.length

    def sample_index(self, epoch: int, index: int) -> int:
        """The recipe sample behind ``(epoch, index)``."""
        if epoch < 0 or not 0 <= index < self.length:
            raise IndexError(f"online sample (epoch {epoch}, index {index}) out of range for {self.length} per epoch")
        return epoch * self.length + index

    def load(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Image uint8 (S, S, 3) and label uint8 (S, S) (face mask, or parsing ids) of ``(epoch, index)``."""
        sample = self.recipe.make(self.sample_index(epoch, index))
        size = (self.input_size, self.input_size)
        if self.target == "face":
            label = sample.face_mask
        elif sample.labels is None:
            raise ConfigError(f"recipe {self.recipe.name} gives no label sources: it cannot train --target parsing")
        else:
            label = build_labels(sample.labels, ("parsing",))["parsing"]
        targets = training_targets(sample.image, label, self.target)
        if self.crops is None:
            targets = apply_geometric(targets, Resize(*size))
            return targets.array("image"), targets.array("label")
        points = None
        if self.crops.templates and sample.labels is not None:
            found = build_labels(sample.labels, ("landmarks",), occluder_mask=sample.occluder_mask)
            points = sample_points(found["landmarks"])
        rng = np.random.default_rng([self.seed, TRAIN_CROP_STREAM, int(epoch), int(index)])
        params = sample_crop(rng=rng, config=self.crops, input_size=self.input_size)
        targets = apply_crop(targets, points, params, input_size=self.input_size)
        image = targets.array("image")
        return (image[:, :, ::-1].copy() if params.channel_swap else image), targets.array("label")

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        image, face_mask = self.load(int(epoch), int(index))
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), torch.from_numpy(face_mask)

    def describe(self) -> dict[str, Any]:
        """What determines the samples, shaped like a store's entry (``path``, ``n``, ``generation``) so the
        trainer records it in config.json and checks it on resume."""
        return online_description(self.recipe, self.length)


class DescribedRecipe(Protocol):
    """What :func:`online_description` reads of a recipe (a :class:`Recipe`, or the clips of one)."""

    @property
    def name(self) -> str: ...

    @property
    def seed(self) -> int: ...

    @property
    def size(self) -> int: ...

    def params(self) -> dict[str, Any]: ...

    def sources(self) -> dict[str, Any]: ...


def online_description(recipe: DescribedRecipe, length: int) -> dict[str, Any]:
    """An online part of the training data as config.json records it (see :meth:`OnlineDataset.describe`)."""
    sources = {name: info.get("fingerprint") for name, info in recipe.sources().items()}
    generation = {"recipe": recipe.name, "seed": recipe.seed, "size": recipe.size, "params": recipe.params(),
                  "sources": sources}  # fmt: skip
    # (the target is train.target, recorded in the run's config already)
    return {"path": f"online:{recipe.name}", "online": recipe.name, "n": length, "generation": generation}


class OnlinePart(Protocol):
    """What :class:`MixedDataset` needs of its online part: :class:`OnlineDataset` (stills) or
    :class:`occgen.train.online_clips.OnlineClipPairDataset` (pairs of clip frames)."""

    input_size: int

    def __len__(self) -> int: ...

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, ...]: ...

    def describe(self) -> dict[str, Any]: ...


class MixedDataset(Dataset):
    """Stores (a :class:`StoreDataset`, or None) followed by an :class:`OnlineDataset` in one index space; or,
    for ``--clips``, clip stores (a :class:`ClipPairDataset`, or None) followed by online clip pairs.

    Keys are ``(epoch, i)`` as :class:`ShardShuffleSampler` yields them; store samples get the store
    dataset's augmentation, online samples are returned as the recipe made them (its own augmentation).
    """

    def __init__(self, stores: StoreDataset | ClipPairDataset | None, online: OnlinePart) -> None:
        self.stores = stores
        self.online = online
        self.input_size = online.input_size
        if stores is not None and stores.input_size != online.input_size:
            raise ConfigError("stores and the online recipe must share one input_size")
        if stores is not None and isinstance(stores, ClipPairDataset) != getattr(online, "clip_pairs", False):
            raise ConfigError("stores and the online recipe must both give clip pairs (--clips) or both stills")
        self.lengths = [*(stores.lengths if stores else []), len(online)]
        self.shard_sizes = [*(stores.shard_sizes if stores else []), ONLINE_BLOCK]
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self.store_total = len(stores) if stores is not None else 0

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, ...]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        if index < self.store_total:
            assert self.stores is not None
            return self.stores[(epoch, index)] if isinstance(key, tuple) else self.stores[index]
        return self.online[(int(epoch), int(index) - self.store_total)]

    def describe(self) -> list[dict[str, Any]]:
        stores = []
        if self.stores is not None:
            stores = [
                {"path": str(path), "n": n, "generation": card.get("generation", {})}
                for path, n, card in zip(self.stores.paths, self.stores.lengths, self.stores.cards, strict=True)
            ]
        return [*stores, self.online.describe()]
