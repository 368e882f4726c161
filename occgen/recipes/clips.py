"""Clips from a still recipe (issue 27): occlusion in motion, frame by frame through the still's compositor.

Where it sits: :class:`ClipRecipe` wraps a recipe that can ``draw(index)`` a still
(:class:`~occgen.recipes.drawn.DrawnSample`: NatOcc, RandOcc). Clip ``c`` is the still sample ``c`` drawn once,
plus a motion drawn once from ``sample_rng(seed, "clip_motion", c)`` (:func:`occgen.recipes.motion.sample_clip`);
frame ``t`` is :func:`render_frame`: the face moved by the frame's head matrix, the cut-out blurred along its
displacement, the still's params with the frame's centre and opacity, then the same ``apply_composite`` and
labels as the still (:func:`occgen.recipes.drawn.render_drawn`). So frame ``t`` equals the still made with
frame ``t``'s params, pixel for pixel, and any frame replays from its metadata's ``clip`` record.

Storage: the generate stage writes frames as samples, clip-major (sample ``c * T + t`` is frame ``t`` of clip
``c``), with whole clips per shard; the card records ``frames``. :mod:`occgen.store.clips` reads them back with a
frame axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from occgen.compose import CompositeParams, occluder_box, occluder_matrix
from occgen.core.errors import ConfigError
from occgen.core.params import to_plain
from occgen.core.rng import register_stream, sample_rng
from occgen.core.targets import Target, Targets
from occgen.recipes.base import Sample
from occgen.recipes.drawn import DrawnSample, render_drawn
from occgen.recipes.motion import (
    ClipConfig,
    ClipParams,
    FrameParams,
    blur_occluder,
    frame_center,
    frame_params,
    move_face,
    move_parsing,
    sample_clip,
)

CLIP_STREAM = "clip_motion"
register_stream(CLIP_STREAM, 27)  # append-only stream table (core/rng.py); 27: the number


class DrawingRecipe(Protocol):
    """A recipe whose samples split into draw and render (:mod:`occgen.recipes.drawn`)."""

    name: str
    seed: int

    @property
    def size(self) -> int: ...

    def draw(self, index: int) -> DrawnSample: ...

    def params(self) -> dict[str, Any]: ...

    def sources(self) -> dict[str, Any]: ...


def frame_composite_params(drawn: DrawnSample, frame: FrameParams, params: CompositeParams | None = None
                           ) -> CompositeParams:  # fmt: skip
    """The compositor params of ``frame``: the still's (or ``params``, the blurred cut-out's), moved along the
    path and faded."""
    base = params or drawn.params
    centre = frame_center(frame, drawn.params.center_xy)
    return replace(base, center_xy=centre, opacity=drawn.params.opacity * frame.opacity_frac)


def render_frame(drawn: DrawnSample, clip: ClipParams, t: int, *, clip_index: int, name: str) -> Sample:
    """Frame ``t`` of the clip of ``drawn`` (pure: no randomness). Its metadata's ``clip`` record holds the
    clip params and the frame's, enough to replay it."""
    frame = frame_params(clip, t)
    moved = move_face(Targets({"image": Target.image(drawn.face_image), "mask": Target.mask(drawn.face_mask)}), frame)
    parsing = drawn.face_parsing
    unblurred = frame_composite_params(drawn, frame)
    reach = math.ceil(math.hypot(*frame.blur_xy)) + 1  # how far the blur can spread the cut-out
    box = occluder_box(drawn.occluder.alpha.shape, occluder_matrix(drawn.occluder.alpha.shape, unblurred), reach,
                       drawn.face_mask.shape)  # fmt: skip
    off_canvas = box[0] >= box[2] or box[1] >= box[3]  # entering or gone: no blur to compute
    occluder, placed = blur_occluder(drawn.occluder, drawn.params, frame.blur_xy, off_canvas=off_canvas)

    def moved_parsing() -> Any:
        return move_parsing(parsing(), frame)

    sample = render_drawn(
        replace(drawn, header={**drawn.header, "sample_index": clip_index * clip.frames + t,
                               "sample_id": f"{name}-{clip_index:08d}-{t:03d}"}),
        face_image=moved.array("image"), face_mask=moved.array("mask"), face_parsing=moved_parsing,
        occluder=occluder, params=frame_composite_params(drawn, frame, placed),
        extra={"clip": {"clip_index": clip_index, "clip_id": f"{name}-{clip_index:08d}", "frame": t,
                        "frames": clip.frames, "motion": to_plain(clip), "frame_params": to_plain(frame)}},
    )  # fmt: skip
    return sample


@dataclass
class ClipRecipe:
    """Clips of ``recipe``: sample ``c * frames + t`` is frame ``t`` of clip ``c`` (a recipe to the generate
    stage like any other: determinism and resume come from it)."""

    recipe: DrawingRecipe
    config: ClipConfig
    # A shard renders its clips frame by frame: the clip being rendered is drawn once.
    _current: tuple[int, DrawnSample, ClipParams] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Extra occluders (natocc.occluders_per_face, face_occluder_frac) are painted on stills only.
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

    def clip(self, clip_index: int) -> tuple[DrawnSample, ClipParams]:
        """The still drawing and the motion of clip ``clip_index``."""
        if self._current is not None and self._current[0] == clip_index:
            return self._current[1], self._current[2]
        drawn = self.recipe.draw(clip_index)
        motion = sample_clip(rng=sample_rng(self.seed, CLIP_STREAM, clip_index), config=self.config, size=self.size,
                             params=drawn.params, occluder_shape=drawn.occluder.alpha.shape)  # fmt: skip
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
            frames.append(render_frame(drawn, motion, t, clip_index=clip_index, name=self.name))
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
