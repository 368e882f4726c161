"""Training on clips (issue 27, ``occgen train --clips``): pairs of consecutive frames and a temporal loss.

Where it sits: beside :mod:`occgen.train.data` (the stills' dataset); :func:`occgen.train.trainer.train` uses it
when given a :class:`~occgen.train.config.ClipTrainConfig`. Clip stores are read through the dataset protocol and
:mod:`occgen.store.clips` (sample ``c * T + t`` is frame ``t`` of clip ``c``); the head motion between two frames
is the one :mod:`occgen.train.flicker` scores with (their recorded head matrices, :mod:`occgen.store.clips`).

- :class:`ClipPairDataset`: every pair of consecutive frames ``(t, t + 1)`` of every clip of one or several clip
  stores (or mixes of them), as ``(images uint8 (2, 3, S, S), face masks uint8 (2, S, S), motion float32 (2, 3))``:
  ``motion`` maps frame t's pixels to frame t+1's at the input size S. Both frames get one augmentation, drawn
  from ``default_rng([seed, TRAIN_CLIP_STREAM, epoch, index])``, and the motion is moved with them.
- :func:`temporal_consistency_loss`: the mean ``|P_{t+1} - warp(P_t)|`` of the predicted face probabilities, over
  the pixels whose true mask the warp explains (unchanged from frame t moved by the motion) and whose source lies
  inside frame t: where an occluder moves, or the face enters the frame, the masks may change and are not asked
  to stay.

Pairs made on the fly from a recipe (``train --online RECIPE --clips``) come from
:class:`occgen.train.online_clips.OnlineClipPairDataset`, as the same tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from occgen.core.errors import ConfigError, StoreError
from occgen.core.imageio import resize_image, resize_labels
from occgen.core.location import Location, parse_location
from occgen.core.params import to_plain
from occgen.core.targets import Target, Targets
from occgen.store import open_store
from occgen.store.clips import clip_frames, head_matrices, relative_motion, whole_clips
from occgen.store.dataset import Dataset as StoredDataset
from occgen.store.schema import FACE_MASK, IMAGE
from occgen.train.config import AugmentConfig, ClipTrainConfig, TrainConfig
from occgen.train.data import AugmentParams, StoreReaders, apply_augment, sample_augment

#: Stream id of a clip pair's augmentation draws (beside data.py's 101-102 and crops.py's 103).
TRAIN_CLIP_STREAM = 104


def _homogeneous(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]])


def resize_matrix(store_size: int, input_size: int) -> np.ndarray:
    """(2, 3) map of pixel centres from a store's side to the input side (what resizing does to coordinates)."""
    k = input_size / store_size
    return np.array([[k, 0.0, 0.5 * k - 0.5], [0.0, k, 0.5 * k - 0.5]])


def augment_matrix(params: AugmentParams, size: int) -> np.ndarray:
    """(2, 3) map of pixels that :func:`occgen.train.data.apply_augment` applies to an (S, S) sample: the flip,
    then the rotation about the centre (identity when neither is drawn)."""
    matrix = np.eye(3)
    if params.flip:
        matrix = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    if params.rotation_deg:
        centre = ((size - 1) / 2.0, (size - 1) / 2.0)
        matrix = _homogeneous(cv2.getRotationMatrix2D(centre, params.rotation_deg, 1.0)) @ matrix
    return matrix[:2]


def conjugate(motion: np.ndarray, change: np.ndarray) -> np.ndarray:
    """The motion between two frames (a (2, 3) pixel map) after both frames are moved by ``change`` (2, 3):
    ``change ∘ motion ∘ change⁻¹``."""
    full = _homogeneous(change)
    return (full @ _homogeneous(motion) @ np.linalg.inv(full))[:2]


class ClipPairDataset(StoreReaders):
    """Pairs of consecutive frames of the clips of clip stores or mixes of them (see the module docstring).

    ``dataset[i]`` is un-augmented; ``dataset[(epoch, i)]`` is augmented (``augment`` given and enabled). Pairs
    are numbered store by store, clip by clip; ``lengths``, ``offsets`` and ``shard_sizes`` (pairs of a shard's
    clips) are what :class:`occgen.train.data.ShardShuffleSampler` walks; ``paths``, ``cards`` describe the
    stores for the run's ``config.json`` as the stills' dataset does.
    """

    crops = None  # template crops are not applied to clip pairs
    without_points = 0

    def __init__(self, paths: Sequence[Path | str | Location], *, input_size: int,
                 augment: AugmentConfig | None = None, seed: int = 0) -> None:  # fmt: skip
        if not paths:
            raise ConfigError("--clips: no clip store given; pass --data CLIP_STORE[,CLIP_STORE...]")
        if input_size < 32 or input_size % 32:
            raise ConfigError(f"input_size must be a positive multiple of 32, got {input_size}")
        self.input_size = input_size
        self.augment = augment
        self.seed = seed
        self.paths: list[Location] = []
        self.cards: list[dict[str, Any]] = []
        self.firsts: list[np.ndarray] = []  # per store: the first frame (store index) of each pair
        self.shard_sizes: list[int] = []
        for path in paths:
            dataset = open_store(parse_location(path))
            frames = clip_frames(dataset)
            if frames is None:
                raise ConfigError(
                    f"--clips: {path} is not a clip store (its card has no 'frames'); train on it without --clips, "
                    "or make clips with occgen generate NAME --frames T"
                )
            for part in dataset.parts:  # a mix: each store with the clips it picks, whole and in order
                local = np.asarray(part.store_indices, np.int64)
                if not whole_clips(local, frames):
                    raise StoreError(f"{path}: its frames are not whole {frames}-frame clips; regenerate it")
                card = part.reader.card
                self.paths.append(part.location)
                self.cards.append(card)
                self.firsts.append(np.sort(local.reshape(-1, frames)[:, :-1].reshape(-1)))
                self.shard_sizes.append(max(1, int(card["shard_size"]) // frames) * (frames - 1))
        self.lengths = [len(firsts) for firsts in self.firsts]
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self._readers: list[StoredDataset] | None = None
        self._pid: int | None = None


    def pair(self, index: int) -> tuple[int, int]:
        """``(store number, first frame's index in that store)`` of pair ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"pair {index} out of range for {len(self)} pairs")
        store = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return store, int(self.firsts[store][index - int(self.offsets[store])])

    def load(self, index: int, augment: AugmentParams | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Images uint8 (2, S, S, 3), face masks uint8 (2, S, S) and motion float64 (2, 3) (frame t's pixels ->
        frame t+1's) of pair ``index`` at the input size S, moved by ``augment`` when given."""
        store, first = self.pair(index)
        reader = self._open()[store]
        matrices = head_matrices(reader.metadata([first, first + 1]))
        if matrices is None:
            raise StoreError(f"{self.paths[store]}: frames {first}-{first + 1} record no clip.frame_params."
                             "head_matrix; regenerate the clip store")  # fmt: skip
        store_size = int(reader.size)
        size = (self.input_size, self.input_size)
        images = [resize_image(reader.sample_array(IMAGE, f), size) for f in (first, first + 1)]
        masks = [resize_labels(reader.sample_array(FACE_MASK, f), size) for f in (first, first + 1)]
        motion = conjugate(relative_motion(*matrices), resize_matrix(store_size, self.input_size))
        if augment is not None:
            targets = Targets({"image": Target.image(images[0]), "label": Target.mask(masks[0]),
                               "next_image": Target.image(images[1]), "next_label": Target.mask(masks[1])})  # fmt: skip
            targets = apply_augment(targets, augment)
            images = [targets.array("image"), targets.array("next_image")]
            masks = [targets.array("label"), targets.array("next_label")]
            motion = conjugate(motion, augment_matrix(augment, self.input_size))
        return np.stack(images), np.stack(masks), motion

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (None, key)
        params = None
        if epoch is not None and self.augment is not None and self.augment.enabled:
            rng = np.random.default_rng([self.seed, TRAIN_CLIP_STREAM, int(epoch), int(index)])
            params = sample_augment(rng=rng, config=self.augment)
        images, masks, motion = self.load(int(index), params)
        return (torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))), torch.from_numpy(masks),
                torch.from_numpy(motion.astype(np.float32)))  # fmt: skip


def clip_pair_dataset(config: TrainConfig, data: Sequence[Path | str], *, online: bool) -> ClipPairDataset | None:
    """The ``--clips`` pairs of the clip stores ``data`` for ``config``, after the checks of what it cannot combine
    with; None when there are no stores and ``online`` clip pairs are the whole data
    (:func:`occgen.train.online_clips.clip_training_data` adds them)."""
    check_clip_training(config)
    if online and not data:
        return None
    return ClipPairDataset(data, input_size=config.input_size, augment=config.augment, seed=config.seed)


def check_clip_training(config: TrainConfig) -> None:
    """Refuse the training settings clip pairs (stored or online) cannot combine with."""
    if config.target != "face":
        raise ConfigError(f"--clips scores the face mask's temporal consistency; train.target is {config.target!r}")
    if config.crops.enabled:
        raise ConfigError("--clips does not re-frame clip pairs: drop --crops / --channel-swap-p (train.crops)")


def clip_record(clips: ClipTrainConfig | None) -> dict[str, Any]:
    """What a run's ``config.json`` and checkpoints say about ``--clips``: nothing without it."""
    return {} if clips is None else {"clips": to_plain(clips)}


def check_clip_resume(checkpoint: dict[str, Any], clips: ClipTrainConfig | None, path: Path) -> None:
    """Refuse to resume a run with other ``--clips`` settings than it was trained with."""
    before, now = checkpoint.get("clips"), clip_record(clips).get("clips")
    if before != now:
        said = f"--clips {before}" if before else "without --clips"
        raise ConfigError(f"cannot resume {path}: it was trained {said}; pass the same --clips settings or "
                          "another --out")


def frame_batch(batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A loader batch as frames: stills ``(images, masks)`` pass with no motion; clip pairs ``(images (B, 2, 3, S,
    S), masks (B, 2, S, S), motion (B, 2, 3))`` become 2B frames, frame t and t+1 of each pair side by side."""
    if len(batch) == 2:
        return batch[0], batch[1], None
    images, masks, motion = batch
    return images.flatten(0, 1), masks.flatten(0, 1), motion


def warp_to_next(
    values: torch.Tensor, motion: torch.Tensor, *, mode: str = "bilinear"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``values`` (N, C, H, W) of frame t moved into frame t+1 by ``motion`` (N, 2, 3), pixel maps from frame t
    to frame t+1 (OpenCV's convention: pixel centres at integers); outside frame t: 0. Also returns ``inside``
    bool (N, 1, H, W): the pixels whose source lies inside frame t."""
    n, _, height, width = values.shape
    full = torch.cat([motion.double(), motion.new_tensor([0.0, 0.0, 1.0]).double().expand(n, 1, 3)], dim=1)
    to_unit = torch.tensor([[2.0 / (width - 1), 0.0, -1.0], [0.0, 2.0 / (height - 1), -1.0], [0.0, 0.0, 1.0]],
                           dtype=torch.float64, device=motion.device)  # fmt: skip
    theta = (to_unit @ torch.linalg.inv(full) @ torch.linalg.inv(to_unit))[:, :2]  # frame t+1 -> frame t
    grid = F.affine_grid(theta.to(values.dtype), [n, 1, height, width], align_corners=True)
    warped = F.grid_sample(values, grid, mode=mode, padding_mode="zeros", align_corners=True)
    inside = (grid.abs() <= 1.0 + 1e-4).all(dim=-1).unsqueeze(1)
    return warped, inside


def temporal_consistency_loss(logits: torch.Tensor, target: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Mean ``|P_{t+1} - warp(P_t)|`` of face probabilities over the pixels where the true mask stays (see the
    module docstring). ``logits`` and ``target`` (0/1) are (2B, 1, H, W) with frames t at even and t+1 at odd
    rows (:func:`frame_batch`); ``motion`` (B, 2, 3). 0 when nothing is steady."""
    if logits.shape != target.shape or logits.shape[0] != 2 * motion.shape[0]:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must be (2B, 1, H, W) for "
                         f"motion {tuple(motion.shape)} (B, 2, 3)")  # fmt: skip
    probabilities = torch.sigmoid(logits.float())
    warped, inside = warp_to_next(probabilities[0::2], motion)
    true_warped, _ = warp_to_next(target[0::2].float(), motion, mode="nearest")
    steady = (inside & (true_warped == target[1::2].float())).float()
    return ((probabilities[1::2] - warped).abs() * steady).sum() / steady.sum().clamp(min=1.0)
