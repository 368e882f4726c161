"""Clip stores (issue 27): the frame axis over a store whose samples are clip frames.

Layout: ``occgen generate NAME --frames T`` writes frames as samples, clip-major (sample ``c * T + t`` is frame
``t`` of clip ``c``), whole clips per shard (the shard size is a multiple of ``T``), so codecs, label arrays,
digests, ``verify``, resume and every exporter work on frames unchanged; the card's ``frames`` key says ``T``.
:class:`ClipView` reads it back with a frame axis: ``image`` uint8 (T, S, S, 3), masks uint8 (T, S, S), every
label array stacked the same way, and the frames' metadata. A mix of clip stores (``occgen mix``) keeps clips
whole: it picks clips, not frames (:func:`clip_samples`), and its card says ``frames`` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import StoreError
from occgen.store.dataset import Dataset

Matrix = np.ndarray  # (2, 3) float64: face pixels of the still -> frame pixels


def clip_frames(dataset: Dataset) -> int | None:
    """Frames per clip of ``dataset`` (its card's ``frames``: a clip store or a mix of them), None for stills."""
    frames = getattr(dataset, "card", {}).get("frames")
    return int(frames) if frames else None


def clip_layout_problems(card: dict[str, Any]) -> list[str]:
    """What ``occgen verify`` says about a clip store's card: ``frames`` >= 2 dividing both ``n`` and
    ``shard_size`` (whole clips, one writer per clip); nothing for a store of stills."""
    frames = card.get("frames")
    if frames is None:
        return []
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 2:
        return [f"frames is {frames!r}, expected an integer >= 2 (a clip store) or no key (stills)"]
    return [f"{key} {card[key]} is not a whole number of {frames}-frame clips; regenerate the store"
            for key in ("n", "shard_size") if isinstance(card.get(key), int) and card[key] % frames]  # fmt: skip


def mixed_clip_frames(frames_by_store: dict[str, Any]) -> int | None:
    """The ``frames`` of a mix of stores whose cards say ``frames_by_store`` ({store: frames or None}): one T
    for clip stores, None for stills. Stills with clips, or clips of different lengths, are refused: a mix
    never splits a clip nor pads one."""
    kinds = set(frames_by_store.values())
    if len(kinds) <= 1:
        found = next(iter(kinds), None)
        return int(found) if found else None
    shown = ", ".join(f"{store}: {f'{frames}-frame clips' if frames else 'stills'}"
                      for store, frames in frames_by_store.items())  # fmt: skip
    raise StoreError(
        f"cannot mix {shown}: a mix holds stills, or clips of one length; mix them separately "
        "(or generate the clips with one --frames T)"
    )


def clip_samples(clips: np.ndarray, frames: int) -> np.ndarray:
    """The sample indices of ``clips`` (int (k,)) in a clip-major store: clip by clip, each clip's ``frames``
    frames in order, int64 (k * frames,)."""
    return (np.asarray(clips, np.int64)[:, None] * frames + np.arange(frames, dtype=np.int64)).reshape(-1)


def whole_clips(indices: np.ndarray, frames: int) -> bool:
    """True when ``indices`` (int (k,)) are whole clips: runs of ``frames`` consecutive indices, each starting at
    a multiple of ``frames`` (what :func:`clip_samples` gives)."""
    indices = np.asarray(indices, np.int64)
    if len(indices) % frames:
        return False
    runs = indices.reshape(-1, frames)
    return bool(np.all(runs[:, 0] % frames == 0) and np.all(runs == runs[:, :1] + np.arange(frames)))


def head_matrices(metadata: Sequence[dict[str, Any]]) -> list[Matrix] | None:
    """The frames' recorded head matrices (``clip.frame_params.head_matrix``); None if any frame lacks one."""
    matrices = []
    for record in metadata:
        matrix = record.get("clip", {}).get("frame_params", {}).get("head_matrix")
        if matrix is None:
            return None
        matrices.append(np.asarray(matrix, np.float64))
    return matrices


def relative_motion(previous: Matrix, current: Matrix) -> Matrix:
    """The (2, 3) map from frame t-1's pixels to frame t's: ``current ∘ previous⁻¹`` (head matrices)."""
    inverse = cv2.invertAffineTransform(np.asarray(previous, np.float64))
    return (np.vstack([current, [0, 0, 1]]) @ np.vstack([inverse, [0, 0, 1]]))[:2]


@dataclass(frozen=True)
class Clip:
    """One clip: ``image`` uint8 (T, S, S, 3), ``face_mask`` / ``occluder_mask`` uint8 (T, S, S), ``labels``
    {array name: (T, ...)} and ``metadata`` (one dict per frame)."""

    clip_id: str
    image: np.ndarray
    face_mask: np.ndarray
    occluder_mask: np.ndarray
    labels: dict[str, np.ndarray]
    metadata: list[dict[str, Any]]

    @property
    def frames(self) -> int:
        return int(self.image.shape[0])


class ClipView:
    """``len(view)`` clips of a clip store; ``view[c]`` -> :class:`Clip`; ``view.frame_index(c, t)``."""

    def __init__(self, dataset: Dataset, *, name: str = "dataset") -> None:
        frames = clip_frames(dataset)
        if frames is None:
            raise StoreError(
                f"{name} is not a clip store (its card has no 'frames'); make one with occgen generate NAME --frames T"
            )
        if len(dataset) % frames:
            raise StoreError(f"{name}: {len(dataset)} frames is not a whole number of {frames}-frame clips")
        self.dataset = dataset
        self.frames = frames

    def __len__(self) -> int:
        return len(self.dataset) // self.frames

    def frame_index(self, clip: int, t: int) -> int:
        if not 0 <= clip < len(self) or not 0 <= t < self.frames:
            raise IndexError(f"frame ({clip}, {t}) out of range for {len(self)} clips of {self.frames} frames")
        return clip * self.frames + t

    def __getitem__(self, clip: int) -> Clip:
        indices = [self.frame_index(clip, t) for t in range(self.frames)]
        samples = [self.dataset[i] for i in indices]
        names = self.dataset.label_names
        per_frame = [self.dataset.labels(i, sample.image) for i, sample in zip(indices, samples, strict=True)]
        labels = {name: np.stack([frame[name] for frame in per_frame]) for name in names}
        metadata = [sample.metadata for sample in samples]
        clip_id = str(metadata[0].get("clip", {}).get("clip_id", f"clip-{clip:08d}"))
        return Clip(
            clip_id, np.stack([s.image for s in samples]), np.stack([s.face_mask for s in samples]),
            np.stack([s.occluder_mask for s in samples]), labels, metadata,
        )  # fmt: skip
