"""Several occluders per clip (issue 27 on issue 25's stacks): each stacked occluder follows its own path; frame t is
the still painted with every occluder at frame t's params, in paint order; the instance map follows."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_generate import assert_same_store
from test_multi import check_stacked_labels, natocc

from occgen.compose import apply_composite
from occgen.core.imageio import write_png
from occgen.core.targets import AffineWarp, Target, Targets, apply_geometric
from occgen.recipes.clips import ClipRecipe, moved_params
from occgen.recipes.drawn import DrawnSample
from occgen.recipes.labels import build_labels
from occgen.recipes.motion import ClipConfig, OccluderPath, blur_occluder, frame_params
from occgen.recipes.multi import OccludersPerFace, combine_occluder_masks, stack_instances
from occgen.recipes.natocc import NatOccRecipe
from occgen.run.clips import clip_recipe
from occgen.run.generate import generate
from occgen.sources.faces import FaceFolder

FRAMES = 5
STILL_PATH = OccluderPath(path="fixed", entry_xy=(0.0, 0.0), exit_xy=(0.0, 0.0), arrive_frac=0.0, leave_frac=1.0,
                          fade=False)  # fmt: skip


@pytest.fixture
def stacked(tmp_path: Path, face_folder: Path) -> NatOccRecipe:
    """NatOcc with 2 or 3 occluders per face (hands and a hard-edged object) and another face on top of half."""
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[8:32, 8:32] = (30, 60, 200, 255)
    write_png(tmp_path / "objects" / "cup.png", rgba)
    stack = OccludersPerFace(counts=(2, 3), weights=(1.0, 1.0), objects_frac=0.5)
    return natocc(FaceFolder(face_folder), tmp_path / "objects", occluders_per_face=stack, face_occluder_frac=0.5)


def test_frame_is_the_still_painted_at_the_frame_params(stacked: NatOccRecipe) -> None:
    clips = ClipRecipe(stacked, ClipConfig(frames=FRAMES, fade_p=0.5))
    kinds = set()
    for clip_index in range(4):
        drawn, motion = clips.clip(clip_index)
        assert isinstance(drawn, DrawnSample) and drawn.stack is not None
        assert len(motion.extras) == len(drawn.stack.extras) == len(drawn.stack.kinds) >= 1
        kinds |= set(drawn.stack.kinds)
        for t in range(FRAMES):
            frame = clips.make(clip_index * FRAMES + t)
            # independently: the face warped by the head, then each occluder blurred, moved and composited in
            # paint order, each along its own path
            params = frame_params(motion, t)
            warp = AffineWarp.of(np.asarray(params.head_matrix))
            face = apply_geometric(Targets({"i": Target.image(drawn.face_image), "m": Target.mask(drawn.face_mask)}),
                                   warp)  # fmt: skip
            layers = [(drawn.occluder, drawn.params, params)]
            layers += [(extra.occluder, extra.params, frame_params(motion.extra(k), t))
                       for k, extra in enumerate(drawn.stack.extras)]  # fmt: skip
            image, visible = face.array("i"), face.array("m")
            occluder_mask, footprints = np.zeros((64, 64), np.uint8), []
            for occluder, still, frame_k in layers:
                blurred, placed = blur_occluder(occluder, still, frame_k.blur_xy)
                result = apply_composite(image, visible, blurred, moved_params(still, frame_k, placed))
                image, visible = result.image, result.face_mask
                occluder_mask = combine_occluder_masks(occluder_mask, result.occluder_mask)
                footprints.append(result.footprint)
            assert np.array_equal(frame.image, image), (clip_index, t)
            assert np.array_equal(frame.face_mask, visible) and np.array_equal(frame.occluder_mask, occluder_mask)
            labels = check_stacked_labels(frame)  # face = amodal minus the union; each instance carries its class
            instances = labels["occluder_instances"]
            assert np.array_equal(instances, stack_instances(footprints))  # the topmost occluder owns a pixel
            assert np.array_equal(instances > 0, np.logical_or.reduce(footprints))
            assert not (instances > 0)[occluder_mask == 0].any()  # every instance pixel is occluder
            record = frame.metadata["clip"]
            assert len(record["extra_frame_params"]) == len(motion.extras) and record["frame"] == t
            assert len(record["motion"]["extras"]) == len(motion.extras)
            assert [row["instance"] for row in frame.metadata["occluders"]] == list(range(1, len(layers) + 1))
    assert "face" in kinds


def test_a_clip_that_does_not_move_is_the_still(stacked: NatOccRecipe) -> None:
    clips = ClipRecipe(stacked, ClipConfig(frames=3))
    for clip_index in range(3):
        drawn, motion = clips.clip(clip_index)
        assert isinstance(drawn, DrawnSample)
        still_motion = replace(motion, head_keys=((0.0, 0.0, 1.0, 0.0),) * 3, path="fixed", entry_xy=(0.0, 0.0),
                               exit_xy=(0.0, 0.0), arrive_frac=0.0, leave_frac=1.0, fade=False,
                               extras=(STILL_PATH,) * len(motion.extras))  # fmt: skip
        from occgen.recipes.clips import render_frame

        still = stacked.make(clip_index)
        frame = render_frame(drawn, still_motion, 1, clip_index=clip_index, name="natocc")
        assert np.array_equal(frame.image, still.image) and np.array_equal(frame.face_mask, still.face_mask)
        assert np.array_equal(frame.occluder_mask, still.occluder_mask)
        both = [build_labels(s.labels, ("instances",))["occluder_instances"] for s in (frame, still)]
        assert np.array_equal(*both)
        assert frame.metadata["occluders"] == still.metadata["occluders"]


def test_each_occluder_enters_moves_continuously_and_leaves(stacked: NatOccRecipe) -> None:
    frames = 16
    clips = ClipRecipe(stacked, ClipConfig(frames=frames))
    for clip_index in range(3):
        drawn, motion = clips.clip(clip_index)
        assert isinstance(drawn, DrawnSample) and drawn.stack is not None
        made = [clips.make(clip_index * frames + t) for t in range(frames)]
        assert made[0].occluder_mask.max() == 0 and made[-1].occluder_mask.max() == 0  # every occluder off-frame
        counts = [int(build_labels(m.labels, ("instances",))["occluder_instances"].max()) for m in made]
        assert max(counts) >= 2  # a stacked occluder on the face in between
        paths = [(drawn.params, motion)] + [(e.params, motion.extra(k)) for k, e in enumerate(drawn.stack.extras)]
        entries = set()
        for still, clip in paths:
            centres = [moved_params(still, frame_params(clip, t)).center_xy for t in range(frames)]
            steps = [math.dist(a, b) for a, b in zip(centres, centres[1:], strict=False)]
            shortest_leg = min(clip.arrive_frac, 1 - clip.leave_frac) * (frames - 1)
            far = max(math.hypot(*clip.entry_xy), math.hypot(*clip.exit_xy))
            assert max(steps) <= 1.5 * far / shortest_leg + 4.0  # smoothstep's top speed, plus the head drift
            entries.add(clip.entry_xy)
        assert len(entries) == len(paths)  # each occluder its own path


def test_stacked_clips_are_the_same_with_one_or_two_workers(tmp_path: Path, stacked: NatOccRecipe) -> None:
    one, two = tmp_path / "one.zarr", tmp_path / "two.zarr"
    generate(clip_recipe(stacked, 3), one, n=3 * 3, shard_size=3, workers=1, labels=("instances",))
    generate(clip_recipe(stacked, 3), two, n=3 * 3, shard_size=3, workers=2, labels=("instances",))
    assert_same_store(one, two)
