"""A FaceOcc sample as drawn, before the paste and the whole-sample affine: what a still and every frame of a
FaceOcc clip share (issue 27).

Where it sits: :meth:`occgen.recipes.faceocc.FaceOccRecipe.draw` makes every random choice of a sample (the base
face after its colour jitter, the transplanted occluder after its jitter, texture swap and colour jitter, the
whole-sample affine) into a :class:`FaceOccDrawing`; :meth:`FaceOccDrawing.render` pastes and moves it (the still,
byte for byte what the recipe always made). As a clip (:class:`occgen.recipes.clips.ClipRecipe`), the drawing
draws its own motion (:meth:`~FaceOccDrawing.sample_motion`: the head motion of the other recipes, and a path for
the occluder in FaceOcc's aligned frame, where it was labelled) and renders frame ``t``
(:meth:`~FaceOccDrawing.render_frame`) as the still with that frame's params:

1. the occluder layer (the whole aligned frame, RGB + alpha) moved by the frame's offset and blurred along its
   displacement (:func:`occgen.recipes.motion.move_layer`), faded by the frame's opacity;
2. pasted on the clean face as the still is (:func:`occgen.recipes.faceocc_transforms.paste`); a hard matte blurred
   by the motion counts as occluder where it reaches 0.5, the binarisation's cut;
3. every target (image, masks, clean face, parsing, landmarks) moved by the whole-sample affine followed by the
   frame's head matrix, one warp.

The occluder is pasted in the aligned frame, so it enters and leaves at that frame's border: where the
whole-sample affine leaves black corners, it appears at their edge. FaceOcc's real images (``real_frac``) have
their occlusion in the photo: their clips move the head only (a ``fixed`` path).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from occgen.core.geometry import mask_bbox
from occgen.core.labels import LANDMARK_FLIP_PERM, PARSING_FLIP_SWAP
from occgen.core.landmarks import landmarks_from_parsing
from occgen.core.targets import AffineWarp, Target, Targets, apply_geometric
from occgen.recipes.base import Sample
from occgen.recipes.clips import clip_frame_record, frame_header
from occgen.recipes.faceocc_transforms import SampleAffineParams, apply_sample_affine, paste, sample_affine_inverse
from occgen.recipes.labels import LabelSources
from occgen.recipes.motion import (
    FIXED_PATH,
    ClipConfig,
    ClipParams,
    FrameParams,
    clip_params,
    frame_params,
    is_identity,
    move_layer,
    sample_head,
    sample_path,
)

Move = Callable[[Targets], Targets]


@dataclass(frozen=True)
class FaceOccDrawing:
    """One FaceOcc sample's draws (S = the aligned frame's side).

    ``header``: its metadata up to ``occluder_types``; ``params``: its recorded params (``sample_affine`` included);
    ``whole``: the whole-sample affine. Synthetic: ``image`` the clean face uint8 (S, S, 3) after its colour
    jitter, ``face_mask`` its mask uint8 (S, S) {0, 1}, ``occluder_rgb`` uint8 (S, S, 3) and ``alpha`` float32
    (S, S) the occluder layer as pasted (binarised when ``hard_alpha``), ``face_parsing`` a deferred read of the
    face's parsing map. Real (``occluder_rgb`` None): ``image`` the FaceOcc image, ``face_mask`` its true face,
    ``alpha`` its occluder matte. ``footprint_threshold``: the alpha from which a pixel is occluder (0.5 for a hard
    matte, 1.0 for the authors' soft one)."""

    header: dict[str, Any]
    params: dict[str, Any]
    whole: SampleAffineParams
    face_px_before: int
    image: np.ndarray
    face_mask: np.ndarray
    alpha: np.ndarray
    footprint_threshold: float
    occluder_rgb: np.ndarray | None = None
    occluder_class: int = 0
    face_parsing: Callable[[], np.ndarray] | None = None

    @property
    def size(self) -> int:
        return int(self.face_mask.shape[0])

    @property
    def real(self) -> bool:
        return self.occluder_rgb is None

    def render(self) -> Sample:
        """The still sample: pasted as drawn, moved by the whole-sample affine."""
        return self._render(None, self.header, {})

    def sample_motion(self, *, rng: np.random.Generator, config: ClipConfig) -> ClipParams:
        """The clip's head motion and the occluder's path in the aligned frame, around the centre of its alpha's
        box (a real image's occlusion, or an occluder jittered off the frame, stays put)."""
        keys = sample_head(rng=rng, config=config)
        box = None if self.real else mask_bbox(self.alpha)
        path = FIXED_PATH
        if box is not None:
            top, left, bottom, right = box
            centre = ((left + right - 1) / 2.0, (top + bottom - 1) / 2.0)
            reach = 0.5 * math.hypot(right - left, bottom - top)
            path = sample_path(rng=rng, config=config, size=self.size, center_xy=centre, reach=reach)
        return clip_params(config, self.size, keys, path)

    def render_frame(self, clip: ClipParams, t: int, *, clip_index: int, name: str) -> Sample:
        """Frame ``t`` of ``clip`` (pure); its metadata's ``clip`` record replays it."""
        frame = frame_params(clip, t)
        header = frame_header(self.header, clip, t, clip_index=clip_index, name=name)
        return self._render(frame, header, {"clip": clip_frame_record(clip, frame, clip_index=clip_index, name=name)})

    def _render(self, frame: FrameParams | None, header: dict[str, Any], extra: dict[str, Any]) -> Sample:
        move = self._mover(frame)
        alpha = self.alpha
        if self.occluder_rgb is None:  # real: the occlusion is in the photo
            visible = (self.face_mask.astype(bool) & (alpha < 1.0)).astype(np.uint8)
            targets = {"image": Target.image(self.image), "face_mask": Target.mask(visible),
                       "occluder_mask": Target.mask((alpha * 255.0 + 0.5).astype(np.uint8))}  # fmt: skip
        else:
            rgb, opacity = self.occluder_rgb, 1.0
            if frame is not None:
                rgb, alpha = move_layer(rgb, alpha, frame.offset_xy, frame.blur_xy)
                opacity = frame.opacity_frac
            image, visible, occluder_mask = paste(self.image, self.face_mask, rgb, alpha, opacity=opacity,
                                                  footprint_threshold=self.footprint_threshold)  # fmt: skip
            # what the optional label arrays are made of (occgen/recipes/labels.py); the footprint is what
            # ``paste`` removes from the face
            footprint = (alpha >= self.footprint_threshold).astype(np.uint8)
            targets = {"image": Target.image(image), "face_mask": Target.mask(visible),
                       "occluder_mask": Target.mask(occluder_mask), "clean_image": Target.image(self.image),
                       "face_mask_amodal": Target.mask(self.face_mask),
                       "footprint": Target.mask(footprint)}  # fmt: skip
        moved = move(Targets(targets))
        image, visible, occluder_mask = moved.array("image"), moved.array("face_mask"), moved.array("occluder_mask")
        label_sources = None if self.real else self._label_sources(moved, move)
        metadata = {**header, "face_px_before": self.face_px_before, "face_px_after": int(visible.sum()),
                    "params": self.params, **extra}  # fmt: skip
        return Sample(np.ascontiguousarray(image), np.ascontiguousarray(visible), occluder_mask, metadata,
                      label_sources)  # fmt: skip

    def _mover(self, frame: FrameParams | None) -> Move:
        """How this sample's targets move: the whole-sample affine (the still's, and a frame's whose head is still),
        else that affine followed by the frame's head matrix, as one warp."""
        whole = self.whole
        if frame is None or is_identity(frame.head_matrix):
            return lambda targets: apply_sample_affine(targets, whole)
        op = AffineWarp.of(frame_inverse(whole, frame.head_matrix, self.size), inverse=True)
        return lambda targets: apply_geometric(targets, op)

    def _label_sources(self, moved: Targets, move: Move) -> LabelSources:
        """The label sources of a synthetic sample from its moved targets (clean face, amodal mask, footprint); the
        face's parsing map is read only when asked for and moved as the sample was, as a class map (a flip swaps
        its left/right parts: PARSING_FLIP_SWAP); its landmarks are derived from the face as loaded and moved as
        keypoints (a flip permutes left and right)."""
        parsing = self.face_parsing
        assert parsing is not None  # synthetic samples have a face
        size = self.size

        def warped_parsing() -> np.ndarray:
            return move(Targets({"parsing": Target.class_map(parsing(), swap=PARSING_FLIP_SWAP)})).array("parsing")

        def moved_landmarks() -> np.ndarray:
            points = Target.keypoints(landmarks_from_parsing(parsing()), flip_perm=LANDMARK_FLIP_PERM)
            return move(Targets({"landmarks": points}, canvas=(size, size))).array("landmarks")

        return LabelSources(
            np.ascontiguousarray(moved.array("clean_image")), np.ascontiguousarray(moved.array("face_mask_amodal")),
            moved.array("footprint").astype(bool), self.occluder_class, warped_parsing, moved_landmarks,
        )  # fmt: skip


def frame_inverse(whole: SampleAffineParams, head_matrix: tuple[tuple[float, ...], ...], size: int) -> np.ndarray:
    """The (2, 3) matrix from a frame's pixels to the aligned frame's: the head matrix undone, then the
    whole-sample affine's output -> input map."""
    head = np.vstack([cv2.invertAffineTransform(np.asarray(head_matrix, np.float64)), [0.0, 0.0, 1.0]])
    sample = np.eye(3) if whole.identity else np.vstack([sample_affine_inverse(whole, size), [0.0, 0.0, 1.0]])
    return (sample @ head)[:2]
