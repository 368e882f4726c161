"""FaceOcc clips (issue 27): frame t is the still pasted and moved with frame t's params, pixel for pixel; the
transplanted occluder enters, moves continuously and leaves; the same clips with 1 or 2 workers."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from _faceocc_fixture import faceocc_recipe as _recipe
from test_generate import assert_same_store
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.geometry import mask_bbox
from occgen.recipes.clips import ClipRecipe
from occgen.recipes.faceocc_drawn import FaceOccDrawing
from occgen.recipes.faceocc_transforms import paste, sample_affine_inverse
from occgen.recipes.motion import FIXED_PATH, ClipConfig, ClipParams, frame_params, move_layer
from occgen.run.clips import clip_recipe
from occgen.run.generate import generate
from occgen.store import open_store
from occgen.store.clips import ClipView

FRAMES = 6


def _frame_matrix(drawing: FaceOccDrawing, head_matrix: tuple[tuple[float, ...], ...]) -> np.ndarray:
    """Frame pixels -> aligned-frame pixels, written out here: the head's inverse, then the whole affine's."""
    head = np.vstack([np.asarray(head_matrix, np.float64), [0.0, 0.0, 1.0]])
    whole = np.vstack([sample_affine_inverse(drawing.whole, drawing.size), [0.0, 0.0, 1.0]])
    if drawing.whole.identity:
        whole = np.eye(3)
    head_inverse = np.vstack([cv2.invertAffineTransform(head[:2]), [0.0, 0.0, 1.0]])
    return (whole @ head_inverse)[:2]


def test_the_drawing_renders_the_still(tmp_path: Path, face_folder: Path) -> None:
    """make(i) is draw(i) rendered: real and synthetic samples, every array and the metadata."""
    recipe = _recipe(tmp_path, face_folder)
    reals = set()
    for index in range(10):
        still, drawing = recipe.make(index), recipe.draw(index)
        again = drawing.render()
        assert np.array_equal(still.image, again.image) and np.array_equal(still.face_mask, again.face_mask)
        assert np.array_equal(still.occluder_mask, again.occluder_mask) and still.metadata == again.metadata
        reals.add(drawing.real)
    assert reals == {True, False}


def test_frame_equals_the_still_pasted_with_the_frame_params(tmp_path: Path, face_folder: Path) -> None:
    recipe = _recipe(tmp_path, face_folder, real_frac=0.0)
    clips = ClipRecipe(recipe, ClipConfig(frames=FRAMES, fade_p=1.0))
    moved_somewhere = 0
    for clip_index in range(3):
        drawing, motion = clips.clip(clip_index)
        assert isinstance(drawing, FaceOccDrawing) and drawing.occluder_rgb is not None
        for t in range(FRAMES):
            frame = clips.make(clip_index * FRAMES + t)
            params = frame_params(motion, t)
            # independently: the layer moved, pasted, faded, then one warp by whole-affine-then-head
            rgb, alpha = move_layer(drawing.occluder_rgb, drawing.alpha, params.offset_xy, params.blur_xy)
            image, visible, occluder = paste(drawing.image, drawing.face_mask, rgb, alpha,
                                             opacity=params.opacity_frac, footprint_threshold=0.5)  # fmt: skip
            matrix = _frame_matrix(drawing, params.head_matrix)

            def warp(array: np.ndarray, flags: int, matrix: np.ndarray = matrix) -> np.ndarray:
                return cv2.warpAffine(array, matrix, (64, 64), flags=flags | cv2.WARP_INVERSE_MAP,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip

            assert np.array_equal(frame.image, warp(image, cv2.INTER_LINEAR)), (clip_index, t)
            assert np.array_equal(frame.face_mask, warp(visible, cv2.INTER_NEAREST)), (clip_index, t)
            assert np.array_equal(frame.occluder_mask, warp(occluder, cv2.INTER_NEAREST)), (clip_index, t)
            assert frame.image.shape == (64, 64, 3) and frame.image.dtype == np.uint8
            record = frame.metadata["clip"]
            assert record["frame"] == t and record["clip_id"] == f"faceocc-{clip_index:08d}"
            assert frame.metadata["sample_index"] == clip_index * FRAMES + t
            assert ClipParams(**{**record["motion"], "head_keys": tuple(map(tuple, record["motion"]["head_keys"])),
                                 "entry_xy": tuple(record["motion"]["entry_xy"]),
                                 "exit_xy": tuple(record["motion"]["exit_xy"])}) == motion  # fmt: skip
            replay = drawing.render_frame(motion, t, clip_index=clip_index, name="faceocc")
            assert np.array_equal(replay.image, frame.image)
            moved_somewhere += params.offset_xy != (0.0, 0.0)
    assert moved_somewhere > 0


def test_a_clip_that_does_not_move_is_the_still(tmp_path: Path, face_folder: Path) -> None:
    """No head motion and a fixed path: every frame is the still, with the same labels."""
    recipe = _recipe(tmp_path, face_folder)
    clips = ClipRecipe(recipe, ClipConfig(frames=3))
    for clip_index in range(6):
        drawing, motion = clips.clip(clip_index)
        still_motion = replace(motion, head_keys=((0.0, 0.0, 1.0, 0.0),) * 3, path="fixed",
                               entry_xy=FIXED_PATH.entry_xy, exit_xy=FIXED_PATH.exit_xy, arrive_frac=0.0,
                               leave_frac=1.0, fade=False)  # fmt: skip
        still = recipe.make(clip_index)
        for t in range(3):
            frame = drawing.render_frame(still_motion, t, clip_index=clip_index, name="faceocc")
            assert np.array_equal(frame.image, still.image) and np.array_equal(frame.face_mask, still.face_mask)
            assert np.array_equal(frame.occluder_mask, still.occluder_mask)
            if still.labels is not None:
                assert np.array_equal(frame.labels.footprint, still.labels.footprint)
                assert np.array_equal(frame.labels.face_parsing(), still.labels.face_parsing())
        if drawing.real:  # a real image's occlusion is in the photo: its clip moves the head only
            assert motion.path == "fixed" and motion.entry_xy == (0.0, 0.0)


def test_the_occluder_enters_moves_continuously_and_leaves(tmp_path: Path, face_folder: Path) -> None:
    frames = 16
    recipe = _recipe(tmp_path, face_folder, real_frac=0.0)
    clips = ClipRecipe(recipe, ClipConfig(frames=frames, fade_p=0.0))
    for clip_index in range(4):
        drawing, motion = clips.clip(clip_index)
        assert isinstance(drawing, FaceOccDrawing)
        made = [clips.make(clip_index * frames + t) for t in range(frames)]
        assert made[0].occluder_mask.max() == 0 and made[-1].occluder_mask.max() == 0  # off the frame at both ends
        assert max(int(m.occluder_mask.max()) for m in made) == 255  # on the face in between
        box = mask_bbox(drawing.alpha)
        assert box is not None
        centre = np.array([(box[1] + box[3] - 1) / 2.0, (box[0] + box[2] - 1) / 2.0, 1.0])
        # the occluder's centre in each frame: its aligned position plus the path offset, through the frame's warp
        points, norms = [], []
        for t in range(frames):
            params = frame_params(motion, t)
            forward = cv2.invertAffineTransform(_frame_matrix(drawing, params.head_matrix))
            points.append(forward @ (centre + np.array([*params.offset_xy, 0.0])))
            norms.append(np.linalg.norm(forward[:, :2], 2))
        steps = [math.dist(a, b) for a, b in zip(points, points[1:], strict=False)]
        shortest_leg = min(motion.arrive_frac, 1 - motion.leave_frac) * (frames - 1)
        far = max(math.hypot(*motion.entry_xy), math.hypot(*motion.exit_xy))
        # smoothstep's top speed through the warp, plus the head's own change, which here carries the path's offset too
        bound = (1.5 * far / shortest_leg) * max(norms) + 8.0
        assert max(steps) <= bound, (clip_index, max(steps), bound)
        # the occluder mask's centroid follows it while the whole occluder is on the frame
        mass = [float(m.occluder_mask.sum()) for m in made]
        whole = [t for t in range(frames) if mass[t] > 0.9 * max(mass) and not _touches_border(made[t].occluder_mask)]
        for t in whole:
            ys, xs = np.nonzero(made[t].occluder_mask)
            weights = made[t].occluder_mask[ys, xs].astype(np.float64)
            centroid = (np.average(xs, weights=weights), np.average(ys, weights=weights))
            assert math.dist(centroid, points[t]) < 0.25 * 64, (clip_index, t)


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def test_frames_keep_every_faceocc_label(tmp_path: Path, face_folder: Path) -> None:
    from test_labels import check_invariants

    from occgen.recipes.faceocc import faceocc_occluder_class

    recipe = _recipe(tmp_path, face_folder, real_frac=0.0)
    clips = ClipRecipe(recipe, ClipConfig(frames=9, fade_p=1.0))
    blurred = 0
    for index in range(2 * 9):
        frame = clips.make(index)
        if not frame.labels.footprint.any():
            continue  # entering or gone: nothing to check against the clean face
        kind = frame.metadata["occluder_types"][0]
        check_invariants(frame, seam_width_px=2, occluder_class=faceocc_occluder_class(kind))
        blurred += bool(((frame.occluder_mask > 0) & (frame.occluder_mask < 255)).any())
    assert blurred > 0  # some frames carry motion blur or fade, and still keep the invariants


def test_move_layer_shifts_and_blurs_the_layer() -> None:
    rgb = np.zeros((32, 32, 3), np.uint8)
    alpha = np.zeros((32, 32), np.float32)
    rgb[10:14, 8:12], alpha[10:14, 8:12] = 180, 1.0
    same = move_layer(rgb, alpha, (0.0, 0.0), (0.4, 0.0))
    assert same[0] is rgb and same[1] is alpha
    moved_rgb, moved_alpha = move_layer(rgb, alpha, (5.0, -3.0), (0.0, 0.0))
    assert np.array_equal(moved_alpha[7:11, 13:17], np.ones((4, 4), np.float32)) and moved_alpha.sum() == 16.0
    assert (moved_rgb[7:11, 13:17] == 180).all() and moved_rgb.dtype == np.uint8
    half_rgb, half = move_layer(rgb, alpha, (0.5, 0.0), (0.0, 0.0))  # subpixel: split between two columns
    assert half[11, 8] == pytest.approx(0.5) and half[11, 12] == pytest.approx(0.5)
    assert half_rgb[11, 8].tolist() == [180] * 3  # premultiplied: the edge keeps its colour
    _, smeared = move_layer(rgb, alpha, (0.0, 0.0), (6.0, 0.0))
    assert smeared.sum() == pytest.approx(16.0, rel=1e-3) and (smeared[10:14].sum(axis=0) > 0).sum() > 4
    assert not (smeared[:9].any() or smeared[15:].any())  # along the motion only


def test_generate_faceocc_clips_with_one_or_two_workers(tmp_path: Path, face_folder: Path) -> None:
    recipe = _recipe(tmp_path, face_folder)
    one, two = tmp_path / "one.zarr", tmp_path / "two.zarr"
    generate(clip_recipe(recipe, 3), one, n=4 * 3, shard_size=2 * 3, workers=1)
    generate(clip_recipe(recipe, 3), two, n=4 * 3, shard_size=2 * 3, workers=2)
    assert_same_store(one, two)
    view = ClipView(open_store(one))
    assert len(view) == 4 and view[3].image.shape == (3, 64, 64, 3)
    expected = clip_recipe(recipe, 3).make(3 * 3 + 2)
    assert np.array_equal(view[3].image[2], expected.image)


def test_cli_makes_faceocc_clips(tmp_path: Path) -> None:
    out = tmp_path / "fo.zarr"
    result = CliRunner().invoke(app, ["generate", "faceocc", "--frames", "3", "--n", "2", "--size", "64", "--real-frac",
                                      "0", "--labels", "parsing,landmarks", "--workers", "1", "--no-preview",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    dataset = open_store(out)
    assert dataset.card["frames"] == 3 and len(dataset) == 6
    clip = ClipView(dataset)[1]
    assert clip.labels["parsing"].shape == (3, 64, 64) and clip.labels["landmarks"].shape[0] == 3
    assert [m["clip"]["frame"] for m in clip.metadata] == [0, 1, 2]
