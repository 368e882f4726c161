"""Clip pairs made on the fly (issue 27): ``occgen train --online RECIPE --clips``.

Where it sits: beside :mod:`occgen.train.online` (stills made on the fly) and :mod:`occgen.train.clip_pairs`
(pairs of consecutive frames read from clip stores, and the temporal loss). :class:`OnlineClipPairDataset` returns
what :class:`~occgen.train.clip_pairs.ClipPairDataset` returns, so the trainer's clip loss is unchanged:

- item ``(epoch, i)`` is clip ``c = epoch * length + i`` of the recipe's clips
  (:class:`occgen.recipes.clips.ClipRecipe`: the still drawing ``c`` and its motion from
  ``sample_rng(seed, "clip_motion", c)``): the clip that ``occgen generate RECIPE --frames T`` stores as clip ``c``;
- its first frame ``t`` (0 <= t < T - 1) is drawn from ``default_rng([train.seed, TRAIN_ONLINE_CLIP_STREAM, c])``;
  only frames ``t`` and ``t + 1`` are rendered (the clip is drawn once, not rendered whole);
- so every item depends only on its own seeds: the same whatever the DataLoader's worker count, a rerun or a
  resume sees the same pairs, and a pair can be replayed from a clip store of the same recipe and settings.

Like online stills, online pairs get no training augmentation (the recipe draws fresh scenes every epoch);
pairs from clip stores given beside them (``--data``) are augmented as ``train --clips`` augments them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import Dataset

from occgen.core.errors import ConfigError
from occgen.core.imageio import resize_image, resize_labels
from occgen.recipes.base import Recipe
from occgen.recipes.clips import ClipRecipe, DrawingRecipe
from occgen.recipes.motion import ClipConfig
from occgen.store.clips import head_matrices, relative_motion
from occgen.train.clip_pairs import ClipPairDataset, check_clip_training, clip_pair_dataset, conjugate, resize_matrix
from occgen.train.config import TrainConfig
from occgen.train.online import MixedDataset, OnlineDataset, OnlinePart, online_description

#: Stream id of the frame an online clip pair starts at (beside data.py's 101-102, crops.py's 103, clip_pairs' 104).
TRAIN_ONLINE_CLIP_STREAM = 105

#: Frames per online clip unless ``--frames`` says otherwise (``generate --frames``' motion defaults otherwise).
DEFAULT_FRAMES = ClipConfig().frames


class OnlineClipPairDataset(Dataset):
    """``length`` pairs of consecutive frames per epoch, one per clip of ``recipe`` (clips of ``frames``
    frames), made at ``__getitem__`` as ``(images uint8 (2, 3, S, S), face masks uint8 (2, S, S), motion float32
    (2, 3))`` at ``input_size`` S: ``motion`` maps frame t's pixels to frame t+1's (the module docstring says which
    clip and frame). ``dataset[i]`` is epoch 0."""

    target = "face"  # the temporal loss scores the face mask
    clip_pairs = True  # items are pairs of frames (MixedDataset mixes them only with stored pairs)

    def __init__(self, recipe: Recipe, length: int, *, input_size: int, frames: int = DEFAULT_FRAMES,
                 seed: int = 0) -> None:  # fmt: skip
        if getattr(recipe, "draw", None) is None:
            raise ConfigError(
                f"--online {recipe.name} --clips: recipe {recipe.name} cannot make clips (natocc, randocc and "
                f"faceocc can); train on its stills without --clips, or pass --online natocc|randocc|faceocc"
            )
        if length < 1:
            raise ConfigError(f"online clip pairs per epoch must be >= 1, got {length}")
        if input_size < 32 or input_size % 32:
            raise ConfigError(f"input_size must be a positive multiple of 32, got {input_size}")
        self.clips = ClipRecipe(cast(DrawingRecipe, recipe), ClipConfig(frames=frames))
        self.length = length
        self.input_size = input_size
        self.seed = seed

    @property
    def frames(self) -> int:
        return self.clips.frames

    def __len__(self) -> int:
        return self.length

    def pair(self, epoch: int, index: int) -> tuple[int, int]:
        """``(clip, t)`` of item ``(epoch, index)``: the clip's index and the first frame of its pair."""
        if epoch < 0 or not 0 <= index < self.length:
            raise IndexError(f"online clip pair (epoch {epoch}, index {index}) out of range: {self.length} per epoch")
        clip = epoch * self.length + index
        rng = np.random.default_rng([self.seed, TRAIN_ONLINE_CLIP_STREAM, clip])
        return clip, int(rng.integers(0, self.frames - 1))

    def load(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Images uint8 (2, S, S, 3), face masks uint8 (2, S, S) and motion float64 (2, 3) (frame t's pixels ->
        frame t+1's) of item ``(epoch, index)`` at the input size S, as :meth:`ClipPairDataset.load` gives a
        stored pair."""
        clip, t = self.pair(epoch, index)
        first = clip * self.frames + t
        frames = self.clips.make_batch([first, first + 1])  # draws the clip once, renders these two frames
        matrices = head_matrices([frame.metadata for frame in frames])
        if matrices is None:  # every ClipRecipe frame records one; a recipe's own FrameDrawing must too
            raise ConfigError(f"recipe {self.clips.name}: clip frames record no clip.frame_params.head_matrix")
        size = (self.input_size, self.input_size)
        images = np.stack([resize_image(frame.image, size) for frame in frames])
        masks = np.stack([resize_labels(frame.face_mask, size) for frame in frames])
        motion = conjugate(relative_motion(*matrices), resize_matrix(self.clips.size, self.input_size))
        return images, masks, motion

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        images, masks, motion = self.load(int(epoch), int(index))
        return (torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))), torch.from_numpy(masks),
                torch.from_numpy(motion.astype(np.float32)))  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """As :meth:`OnlineDataset.describe`, of the clips (their params hold the ``clip`` motion settings, among
        them ``frames``), so a resume with other ``--frames`` is refused."""
        return {**online_description(self.clips, self.length), "frames": self.frames}


def online_dataset(recipe: Recipe, length: int, config: TrainConfig, *, clips: bool,
                   frames: int | None = None) -> OnlineDataset | OnlineClipPairDataset:  # fmt: skip
    """The ``--online`` part of the training data: stills, or with ``clips`` (``--clips``) pairs of clip frames
    (clips of ``frames``, ``--frames``, default :data:`DEFAULT_FRAMES`)."""
    if not clips:
        if frames is not None:
            raise ConfigError("--frames sets the length of online clips: pass --clips too, or drop --frames")
        return OnlineDataset(recipe, length, input_size=config.input_size, target=config.target, crops=config.crops,
                             seed=config.seed)  # fmt: skip
    check_clip_training(config)
    return OnlineClipPairDataset(recipe, length, input_size=config.input_size, seed=config.seed,
                                 frames=DEFAULT_FRAMES if frames is None else frames)  # fmt: skip


def clip_training_data(config: TrainConfig, data: Sequence[Path | str],
                       online: OnlinePart | None) -> ClipPairDataset | MixedDataset:  # fmt: skip
    """The ``--clips`` training data: pairs from the clip stores ``data``, then the ``online`` pairs (if any)."""
    if online is not None and not isinstance(online, OnlineClipPairDataset):
        raise ConfigError("--clips needs online clip pairs, but this --online makes stills (an OnlineDataset): "
                          "build it with occgen.train.online_clips.online_dataset(..., clips=True)")  # fmt: skip
    stores = clip_pair_dataset(config, data, online=online is not None)
    if online is None:
        assert stores is not None  # clip_pair_dataset builds it (or refuses empty data) without online pairs
        return stores
    return MixedDataset(stores, online)
