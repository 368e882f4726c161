"""Clips (issue 27): frame t equals the still made with frame t's params; smooth, continuous motion."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from occgen.compose import CompositeParams, apply_composite
from occgen.core.errors import ConfigError
from occgen.core.targets import AffineWarp, Target, Targets, apply_geometric
from occgen.recipes.clips import ClipRecipe, frame_composite_params, render_frame
from occgen.recipes.drawn import render_still
from occgen.recipes.motion import (
    ClipConfig,
    FrameParams,
    blur_occluder,
    frame_params,
    line_blur,
    sample_clip,
)
from occgen.recipes.motion_blur import _warp_inside
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.recipes.randocc import RandOccRecipe
from occgen.sources.faces import open_faces
from occgen.sources.hands import MattedHands
from occgen.sources.occluder import Occluder

IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))


@pytest.fixture(scope="module")
def natocc() -> NatOccRecipe:
    config = NatOccConfig(hand_max_side_px=96, objects_frac=0.0)
    return NatOccRecipe(open_faces(None), MattedHands(None, max_side_px=96), config, seed=3, size=64)


def test_identity_frame_is_the_still(small_recipe: RandOccRecipe) -> None:
    drawn = small_recipe.draw(2)
    still = small_recipe.make(2)
    identity = FrameParams(frame=0, head_matrix=IDENTITY, offset_xy=(0.0, 0.0), opacity_frac=1.0, blur_xy=(0.0, 0.0))
    params = frame_composite_params(drawn, identity)
    assert params == drawn.params
    unblurred = blur_occluder(drawn.occluder, drawn.params, (0.2, 0.3))  # under a pixel: no blur
    assert unblurred[0] is drawn.occluder and unblurred[1] is drawn.params
    again = render_still(drawn)
    assert np.array_equal(again.image, still.image) and again.metadata == still.metadata


@pytest.mark.parametrize("which", ["randocc", "natocc"])
def test_frame_equals_still_made_with_frame_params(which: str, small_recipe: RandOccRecipe, natocc) -> None:
    inner = small_recipe if which == "randocc" else natocc
    clips = ClipRecipe(inner, ClipConfig(frames=6, fade_p=1.0))
    drawn, motion = clips.clip(1)
    for t in range(6):
        frame = clips.make(1 * 6 + t)
        params = frame_params(motion, t)
        # independently: warp the still's face with the frame's matrix, composite the blurred cut-out there
        warp = AffineWarp.of(np.asarray(params.head_matrix))
        face = apply_geometric(Targets({"i": Target.image(drawn.face_image), "m": Target.mask(drawn.face_mask)}), warp)
        m = np.asarray(params.head_matrix)
        centre = m @ np.array([*drawn.params.center_xy, 1.0]) + np.asarray(params.offset_xy)
        blurred, placed = blur_occluder(drawn.occluder, drawn.params, params.blur_xy)
        moved = replace(placed, center_xy=(float(centre[0]), float(centre[1])),
                        opacity=drawn.params.opacity * params.opacity_frac)  # fmt: skip
        expected = apply_composite(face.array("i"), face.array("m"), blurred, moved)
        assert np.array_equal(frame.image, expected.image), t
        assert np.array_equal(frame.face_mask, expected.face_mask)
        assert np.array_equal(frame.occluder_mask, expected.occluder_mask)
        assert frame.metadata["clip"]["frame"] == t and frame.metadata["sample_index"] == 6 + t
        assert frame.image.shape == (64, 64, 3) and frame.image.dtype == np.uint8
        # replay from the metadata alone
        replay = render_frame(drawn, motion, t, clip_index=1, name=inner.name)
        assert np.array_equal(replay.image, frame.image)


def test_occluder_enters_and_leaves_and_moves_continuously(small_recipe: RandOccRecipe) -> None:
    frames = 24
    clips = ClipRecipe(small_recipe, ClipConfig(frames=frames))
    for clip_index in range(4):
        drawn, motion = clips.clip(clip_index)
        alphas = [clips.make(clip_index * frames + t).occluder_mask for t in range(frames)]
        assert alphas[0].max() == 0 and alphas[-1].max() == 0  # outside the frame at both ends
        assert max(a.max() for a in alphas) > 0  # on the face in between
        centres = [frame_composite_params(drawn, frame_params(motion, t)).center_xy for t in range(frames)]
        steps = [math.dist(a, b) for a, b in zip(centres, centres[1:], strict=False)]
        longest_leg = min(motion.arrive_frac, 1 - motion.leave_frac) * (frames - 1)
        far = max(math.hypot(*motion.entry_xy), math.hypot(*motion.exit_xy))
        bound = 1.5 * far / longest_leg + 4.0  # smoothstep's top speed, plus the head drift
        assert max(steps) <= bound


def test_short_clips_start_and_end_off_the_canvas(small_recipe: RandOccRecipe, natocc) -> None:
    for recipe in (small_recipe, natocc):
        clips = ClipRecipe(recipe, ClipConfig(frames=4))  # long steps: the blur must not reach in at the ends
        for clip_index in range(6):
            assert clips.make(clip_index * 4).occluder_mask.max() == 0
            assert clips.make(clip_index * 4 + 3).occluder_mask.max() == 0


def test_sampled_clip_is_reproducible_and_checked(small_recipe: RandOccRecipe) -> None:
    drawn = small_recipe.draw(0)

    def clip(seed: int):
        return sample_clip(rng=np.random.default_rng(seed), config=ClipConfig(), size=64, params=drawn.params,
                           occluder_shape=drawn.occluder.alpha.shape)  # fmt: skip

    assert clip(5) == clip(5) and clip(5) != clip(6)
    with pytest.raises(ConfigError, match="--frames must be at least 2"):
        ClipConfig(frames=1)
    with pytest.raises(ConfigError, match="frame 16 is outside"):
        frame_params(clip(5), 16)


def test_motion_blur_spreads_along_the_motion() -> None:
    impulse = np.zeros((31, 31, 1), np.float32)
    impulse[15, 15] = 1.0
    horizontal = line_blur(impulse, (7.0, 0.0))
    assert horizontal.shape == impulse.shape and horizontal.dtype == np.float32
    assert np.allclose(horizontal[15, 12:19], 1 / 7, atol=1e-5) and horizontal.sum() == pytest.approx(1.0, abs=1e-4)
    diagonal = line_blur(impulse, (5.0, 5.0))  # spreads along the diagonal, not across it
    assert diagonal[17, 17] > 0.1 and diagonal[13, 13] > 0.1 and diagonal[12, 18] < 0.01 and diagonal[18, 12] < 0.01
    assert line_blur(impulse, (0.5, 0.3)) is impulse
    edge = np.zeros((31, 31, 1), np.float32)
    edge[15, 28:] = 1.0  # at the right border: padding gives the blur room to spread past it
    padded = line_blur(edge, (7.0, 0.0), (4, 1))
    assert padded.shape == (33, 39, 1)
    assert np.allclose(padded[16, 29:39, 0], np.array([1, 2, 3, 3, 3, 3, 3, 2, 1, 0]) / 7, atol=1e-5)
    assert padded.sum() == pytest.approx(3.0, abs=1e-4) and line_blur(edge, (7.0, 0.0)).sum() < 3.0
    alpha = np.zeros((21, 21), np.float32)
    alpha[8:13, 8:13] = 1.0
    occluder = Occluder("o", "shape", np.full((21, 21, 3), 200, np.uint8), alpha)
    blurred, placed = blur_occluder(occluder, CompositeParams(), (8.0, 0.0))
    assert placed == CompositeParams()  # placed at its own size: not shrunk
    assert blurred.alpha.shape[0] > 21  # padded so the blur is not cut
    cols = (blurred.alpha > 0.01).any(axis=0).sum()
    rows_on = (blurred.alpha > 0.01).any(axis=1).sum()
    assert cols > rows_on  # spread horizontally only
    assert math.isclose(float(blurred.alpha.sum()), float(alpha.sum()), rel_tol=1e-3)  # mass kept
    assert np.all(blurred.rgb[blurred.alpha > 0.01] == 200)  # premultiplied: no dark fringe


@pytest.mark.parametrize("angle_deg", [0.0, 17.0, 45.0, 90.0, 133.0, 200.0, 271.0])
def test_motion_blur_keeps_its_mass_at_any_angle(angle_deg: float) -> None:
    """The rotated canvas (the image's rotated bounding box) cuts nothing the blur keeps inside the image."""
    theta = math.radians(angle_deg)
    motion = (14.0 * math.cos(theta), 14.0 * math.sin(theta))
    blob = np.zeros((41, 29), np.float32)
    blob[18:23, 12:17] = 1.0
    blob = cv2.GaussianBlur(blob, (5, 5), 0)[:, :, None]  # smooth: bilinear rotations keep its mass
    blurred_blob = line_blur(blob, motion)
    assert blurred_blob.shape == blob.shape and blurred_blob.sum() == pytest.approx(blob.sum(), rel=1e-2)
    impulse = np.zeros((41, 29, 1), np.float32)
    impulse[20, 14] = 1.0
    blurred = line_blur(impulse, motion)
    ys, xs = np.nonzero(blurred[:, :, 0] > 1e-3)
    along = (xs - 14) * math.cos(theta) + (ys - 20) * math.sin(theta)
    across = -(xs - 14) * math.sin(theta) + (ys - 20) * math.cos(theta)
    assert along.max() - along.min() >= 12 and np.abs(across).max() <= 2.0
    alpha = np.zeros((23, 17), np.float32)
    alpha[4:19, 3:14] = 1.0
    occluder = Occluder("o", "shape", np.full((23, 17, 3), 90, np.uint8), alpha)
    blurred_occluder, _ = blur_occluder(occluder, CompositeParams(), motion)
    pad_x, pad_y = math.ceil(abs(motion[0]) / 2) + 2, math.ceil(abs(motion[1]) / 2) + 2
    assert blurred_occluder.alpha.shape == (23 + 2 * pad_y, 17 + 2 * pad_x)  # room per axis, centre kept
    mass = float(blurred_occluder.alpha.sum())
    assert mass == pytest.approx(float(alpha.sum()), rel=2e-2)  # bilinear rotations of hard edges
    edge = blurred_occluder.alpha
    assert edge[0].max() < 1e-3 and edge[-1].max() < 1e-3 and edge[:, 0].max() < 1e-3 and edge[:, -1].max() < 1e-3


def test_blur_warps_skip_the_border_path_exactly() -> None:
    """On an image whose outermost pixels are 0, the transparent-border warp line_blur uses equals OpenCV's
    constant-0 border bit for bit (forward onto a larger rotated canvas, and back with an inverse map)."""
    rng = np.random.default_rng(27)
    for _ in range(60):
        height, width = (int(v) for v in rng.integers(4, 90, 2))
        image = rng.random((height, width, int(rng.choice([1, 3, 4])))).astype(np.float32)
        image[[0, -1]] = 0.0
        image[:, [0, -1]] = 0.0
        theta = float(rng.uniform(0.0, 2.0 * math.pi))
        c, s = math.cos(theta), math.sin(theta)
        matrix = np.array([[c, s, float(rng.uniform(0, 40))], [-s, c, float(rng.uniform(0, 40))]])
        size = (int(rng.integers(4, 140)), int(rng.integers(4, 140)))
        for inverse in (False, True):
            got = _warp_inside(image, matrix, size, inverse=inverse)
            flags = cv2.INTER_LINEAR | (cv2.WARP_INVERSE_MAP if inverse else 0)
            want = cv2.warpAffine(image, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            assert np.array_equal(got.reshape(want.shape), want)


def test_clips_carry_the_recipes_card_facts(natocc) -> None:
    clips = ClipRecipe(natocc, ClipConfig(frames=3))
    assert clips.models() == natocc.models() and clips.sources() == natocc.sources()
    assert clips.params()["clip"]["frames"] == 3 and clips.name == "natocc" and clips.size == 64


def test_clips_take_extra_occluders_through_the_cli(tmp_path) -> None:
    """Several occluders per face (and another face) move in clips too: --frames with them makes a clip store whose
    frames have an occluders table and an instance map (tests/test_clips_multi.py checks the frames)."""
    from typer.testing import CliRunner

    from occgen.cli.main import app
    from occgen.store import open_store
    from occgen.store.clips import ClipView

    for number, flags in enumerate((["--occluders-per-face", "2"], ["--face-occluder-frac", "1"])):
        out = tmp_path / f"c{number}.zarr"
        result = CliRunner().invoke(app, ["generate", "natocc", "--frames", "3", "--n", "1", "--size", "64",
                                          "--workers", "1", "--no-preview", "--labels", "instances", "--out",
                                          str(out), *flags])  # fmt: skip
        assert result.exit_code == 0, result.output
        clip = ClipView(open_store(out))[0]
        assert all(len(meta["occluders"]) == 2 for meta in clip.metadata)
        assert clip.labels["occluder_instances"].shape == (3, 64, 64)
        assert int(clip.labels["occluder_instances"].max()) == 2  # both occluders on the face in the middle frame


def test_inner_mouth_occluder_applies_to_clip_face_masks(face_folder) -> None:
    from occgen.core.imageio import write_png
    from occgen.core.labels import PART_ID
    from occgen.recipes.motion import move_parsing
    from occgen.sources.faces import FaceFolder

    for i in range(3):  # an open mouth inside each fixture face (its parsing class `mouth`)
        mask = (np.asarray(FaceFolder(face_folder).load(i, 96).face_mask) > 0).astype(np.uint8)
        mask[62:68, 40:56] = PART_ID["mouth"]  # at 96² (the fixture's size)
        write_png(face_folder / "parsing" / f"face{i}.png", mask)
    faces, hands = FaceFolder(face_folder), MattedHands(None, max_side_px=96)
    made = {}
    for policy in ("face", "occluder"):
        config = NatOccConfig(hand_max_side_px=96, objects_frac=0.0, inner_mouth=policy)
        made[policy] = ClipRecipe(NatOccRecipe(faces, hands, config, seed=3, size=64), ClipConfig(frames=5))
    assert "mouth" not in made["occluder"].face_parts and "mouth" in made["face"].face_parts
    mouth_kept = 0
    for clip_index in range(3):
        drawn, motion = made["occluder"].clip(clip_index)
        for t in range(5):
            mouth = move_parsing(drawn.face_parsing(), frame_params(motion, t)) == PART_ID["mouth"]
            assert mouth.any()
            frame = made["occluder"].make(clip_index * 5 + t)
            assert not (frame.face_mask.astype(bool) & mouth).any(), (clip_index, t)
            mouth_kept += int((made["face"].make(clip_index * 5 + t).face_mask.astype(bool) & mouth).sum())
    assert mouth_kept > 0  # the face policy keeps those pixels: the check above can fail
