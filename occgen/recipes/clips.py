"""Clips from a still recipe (issue 27): occlusion in motion, frame by frame through the still's compositor.

Where it sits: :class:`ClipRecipe` wraps a recipe that can ``draw(index)`` a still
(:class:`~occgen.recipes.drawn.DrawnSample`: NatOcc, RandOcc; or a :class:`FrameDrawing` that moves itself:
FaceOcc's). Clip ``c`` is the still sample ``c`` drawn once, plus a motion drawn once from
``sample_rng(seed, "clip_motion", c)`` (:func:`occgen.recipes.motion.sample_clip`); frame ``t`` is
:func:`render_frame`: the face moved by the frame's head matrix, the cut-out blurred along its displacement, the
still's params with the frame's centre and opacity, then the same ``apply_composite`` and labels as the still
(:func:`occgen.recipes.drawn.render_drawn`); occluders stacked on the first (``natocc.occluders_per_face``) are
moved the same way along their own paths and repainted in order (:func:`occgen.recipes.drawn.restack`). So frame
``t`` equals the still made with frame ``t``'s params, pixel for pixel, and any frame replays from its metadata's
``clip`` record.

Storage: the generate stage writes frames as samples, clip-major (sample ``c * T + t`` is frame ``t`` of clip
``c``), with whole clips per shard; the card records ``frames``. :mod:`occgen.store.clips` reads them back with a
frame axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from occgen.compose import CompositeParams, occluder_box, occluder_matrix
from occgen.core.errors import ConfigError
from occgen.core.params import to_plain
from occgen.core.rng import register_stream, sample_rng
from occgen.core.targets import Target, Targets
from occgen.recipes.base import Sample
from occgen.recipes.drawn import DrawnSample, render_drawn, restack
from occgen.recipes.motion import (
    ClipConfig,
    ClipParams,
    FrameParams,
    blur_occluder,
    clip_record,
    frame_center,
    frame_params,
    move_face,
    move_parsing,
    sample_clip,
)
from occgen.sources.occluder import Occluder

CLIP_STREAM = "clip_motion"
register_stream(CLIP_STREAM, 27)  # append-only stream table (core/rng.py); 27: the number


class FrameDrawing(Protocol):
    """A recipe's drawing that draws its own clip motion and renders its own frames (FaceOcc's, whose occluder is
    a layer on its aligned frame rather than a cut-out for the compositor)."""

    def sample_motion(self, *, rng: np.random.Generator, config: ClipConfig) -> ClipParams: ...

    def render_frame(self, clip: ClipParams, t: int, *, clip_index: int, name: str) -> Sample: ...


class DrawingRecipe(Protocol):
    """A recipe whose samples split into draw and render (:mod:`occgen.recipes.drawn`)."""

    name: str
    seed: int

    @property
    def size(self) -> int: ...

    def draw(self, index: int) -> DrawnSample | FrameDrawing: ...

    def params(self) -> dict[str, Any]: ...

    def sources(self) -> dict[str, Any]: ...


def frame_composite_params(drawn: DrawnSample, frame: FrameParams, params: CompositeParams | None = None
                           ) -> CompositeParams:  # fmt: skip
    """The compositor params of ``frame``: the still's (or ``params``, the blurred cut-out's), moved along the
    path and faded."""
    return moved_params(drawn.params, frame, params)


def moved_params(still: CompositeParams, frame: FrameParams, params: CompositeParams | None = None) -> CompositeParams:
    """``still`` (or ``params``: the blurred cut-out's) with the centre and opacity of ``frame``."""
    centre = frame_center(frame, still.center_xy)
    return replace(params or still, center_xy=centre, opacity=still.opacity * frame.opacity_frac)


def moved_occluder(occluder: Occluder, still: CompositeParams, frame: FrameParams, shape: tuple[int, int]
                   ) -> tuple[Occluder, CompositeParams]:  # fmt: skip
    """The cut-out and compositor params of an occluder placed by ``still`` in ``frame`` (on a ``shape`` canvas):
    blurred along its displacement unless it is off the canvas, moved and faded."""
    unblurred = moved_params(still, frame)
    reach = math.ceil(math.hypot(*frame.blur_xy)) + 1  # how far the blur can spread the cut-out
    box = occluder_box(occluder.alpha.shape, occluder_matrix(occluder.alpha.shape, unblurred), reach, shape)
    off_canvas = box[0] >= box[2] or box[1] >= box[3]  # entering or gone: no blur to compute
    blurred, placed = blur_occluder(occluder, still, frame.blur_xy, off_canvas=off_canvas)
    return blurred, moved_params(still, frame, placed)


def render_frame(drawn: DrawnSample, clip: ClipParams, t: int, *, clip_index: int, name: str) -> Sample:
    """Frame ``t`` of the clip of ``drawn`` (pure: no randomness). Its metadata's ``clip`` record holds the
    clip params and the frame's (and each stacked occluder's, ``extra_frame_params``), enough to replay it."""
    frame = frame_params(clip, t)
    moved = move_face(Targets({"image": Target.image(drawn.face_image), "mask": Target.mask(drawn.face_mask)}), frame)
    parsing = drawn.face_parsing
    occluder, params = moved_occluder(drawn.occluder, drawn.params, frame, drawn.face_mask.shape)

    def moved_parsing() -> Any:
        return move_parsing(parsing(), frame)

    record = clip_frame_record(clip, frame, clip_index=clip_index, name=name)
    extras = [frame_params(clip.extra(k), t) for k in range(len(clip.extras))]
    if extras:
        record["extra_frame_params"] = [to_plain(extra) for extra in extras]
    sample = render_drawn(
        replace(drawn, header=frame_header(drawn.header, clip, t, clip_index=clip_index, name=name)),
        face_image=moved.array("image"), face_mask=moved.array("mask"), face_parsing=moved_parsing,
        occluder=occluder, params=params, extra={"clip": record},
    )  # fmt: skip
    if drawn.stack is None:
        return sample
    placed = [moved_occluder(extra.occluder, extra.params, frame_k, drawn.face_mask.shape)
              for extra, frame_k in zip(drawn.stack.extras, extras, strict=True)]  # fmt: skip
    return restack(sample, drawn.stack, placed)


def frame_header(header: dict[str, Any], clip: ClipParams, t: int, *, clip_index: int, name: str) -> dict[str, Any]:
    """A still's metadata header as frame ``t`` of clip ``clip_index`` has it (its own sample index and id)."""
    return {**header, "sample_index": clip_index * clip.frames + t, "sample_id": f"{name}-{clip_index:08d}-{t:03d}"}


def clip_frame_record(clip: ClipParams, frame: FrameParams, *, clip_index: int, name: str) -> dict[str, Any]:
    """The ``clip`` record of a frame's metadata: which clip and frame, the clip's motion and the frame's params."""
    return {"clip_index": clip_index, "clip_id": f"{name}-{clip_index:08d}", "frame": frame.frame,
            "frames": clip.frames, "motion": clip_record(clip), "frame_params": to_plain(frame)}  # fmt: skip


@dataclass
class ClipRecipe:
    """Clips of ``recipe``: sample ``c * frames + t`` is frame ``t`` of clip ``c`` (a recipe to the generate
    stage like any other: determinism and resume come from it)."""

    recipe: DrawingRecipe
    config: ClipConfig
    # A shard renders its clips frame by frame: the clip being rendered is drawn once.
    _current: tuple[int, DrawnSample | FrameDrawing, ClipParams] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # A recipe may refuse settings it cannot make clips of (none does today).
        support = getattr(self.recipe, "clip_support", None)
        reason = support() if support is not None else None
        if reason is not None:
            raise ConfigError(reason)

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def seed(self) -> int:
        return self.recipe.seed

    @property
    def size(self) -> int:
        return self.recipe.size

    @property
    def frames(self) -> int:
        return self.config.frames

    @property
    def faces(self) -> Any:  # the card's label table asks the recipe for its faces
        return getattr(self.recipe, "faces", None)

    @property
    def face_parts(self) -> Any:  # the recipe's own face classes (natocc.inner_mouth), else None: the faces'
        return getattr(self.recipe, "face_parts", None)

    def resolved_px(self) -> Any:
        """The wrapped recipe's size-resolved pixel values (the store card's ``resolved_px``), or None."""
        resolved = getattr(self.recipe, "resolved_px", None)
        return resolved() if resolved is not None else None

    def clip(self, clip_index: int) -> tuple[DrawnSample | FrameDrawing, ClipParams]:
        """The still drawing and the motion of clip ``clip_index``."""
        if self._current is not None and self._current[0] == clip_index:
            return self._current[1], self._current[2]
        drawn = self.recipe.draw(clip_index)
        rng = sample_rng(self.seed, CLIP_STREAM, clip_index)
        if isinstance(drawn, DrawnSample):
            extras = [(extra.params, extra.occluder.alpha.shape) for extra in drawn.stack.extras] if drawn.stack else []
            motion = sample_clip(rng=rng, config=self.config, size=self.size, params=drawn.params,
                                 occluder_shape=drawn.occluder.alpha.shape, extras=extras)  # fmt: skip
        else:
            motion = drawn.sample_motion(rng=rng, config=self.config)
        self._current = (clip_index, drawn, motion)
        return drawn, motion

    def make(self, index: int) -> Sample:
        return self.make_batch([index])[0]

    def make_batch(self, indices: Sequence[int]) -> list[Sample]:
        """Frames ``indices`` (flat: ``clip * frames + t``); harmonised as the recipe harmonises stills."""
        frames = []
        for index in indices:
            clip_index, t = divmod(index, self.frames)
            drawn, motion = self.clip(clip_index)
            if isinstance(drawn, DrawnSample):
                frames.append(render_frame(drawn, motion, t, clip_index=clip_index, name=self.name))
            else:
                frames.append(drawn.render_frame(motion, t, clip_index=clip_index, name=self.name))
        harmonise = getattr(self.recipe, "harmonise", None)
        return harmonise(frames) if harmonise is not None else frames

    def params(self) -> dict[str, Any]:
        return {**self.recipe.params(), "clip": to_plain(self.config)}

    def sources(self) -> dict[str, Any]:
        return self.recipe.sources()

    def models(self) -> dict[str, Any]:
        """The wrapped recipe's models (RainNet weights...): the generation spec keys a resume on them."""
        models = getattr(self.recipe, "models", None)
        return dict(models()) if callable(models) else {}

    def check_labels(self, labels: tuple[str, ...]) -> None:
        check = getattr(self.recipe, "check_labels", None)
        if check is not None:
            check(labels)
