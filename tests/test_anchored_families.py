"""Issue 25's anchored placement, family by family (occgen/recipes/placement.py): each family meets the face where
the issue says (written out here, not taken from ``FAMILIES``), at the documented size in inter-ocular distances;
the placement moves with the face (scale with the eye distance, rotation with the roll); spoons and microphones
of a cut-out folder sit at the mouth through NatOcc; anchored stores are the same for any worker count."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from occgen.compose import CompositeParams, occluder_matrix
from occgen.core.imageio import write_png
from occgen.core.labels import LANDMARK_NAMES
from occgen.core.landmarks import landmarks_from_parsing
from occgen.recipes.placement import FaceFrame, apply_anchored, face_frame, sample_anchored
from occgen.run.generate import generate
from occgen.sources.cutouts import RGBAFolder
from occgen.sources.eyewear import render_eyewear, sample_eyewear
from occgen.sources.face_masks import render_face_mask, sample_face_mask
from tests import test_placement
from tests.test_placement import alpha_centroid, face_parsing, natocc

parsed_faces = test_placement.parsed_faces  # the face folder with parsing/ (a fixture)
MOUTH_ENTRIES = {"below", "side"}
#: family -> (the anchors the issue names for it, the entries it may come from, size range (longest side, IOD)
#: from docs/natocc.md's table; None for worn occluders, which are drawn for a known eye distance)
ISSUE = {
    "drink": ({"mouth", "chin"}, MOUTH_ENTRIES, (0.9, 1.5)),
    "food": ({"mouth", "chin"}, MOUTH_ENTRIES, (0.7, 1.4)),
    "utensil": ({"mouth"}, MOUTH_ENTRIES, (1.2, 2.0)),
    "phone": ({"mouth", "chin"}, MOUTH_ENTRIES, (1.0, 1.6)),
    "microphone": ({"mouth", "chin"}, MOUTH_ENTRIES, (1.2, 2.0)),
    "hand": ({"mouth", "left_cheek", "right_cheek", "chin", "left_eye", "right_eye"},
             {"below", "side", "outside"}, (2.3, 3.0)),
    "eyewear": ({"eyes"}, {"front"}, None),
    "face_mask": ({"mouth"}, {"front"}, None),
    "hat": ({"brow"}, {"above"}, (2.5, 3.5)),
    "hair": ({"brow"}, {"front"}, None),
}  # fmt: skip
CUTOUT = np.zeros((50, 20), np.float32)
CUTOUT[2:48, 4:16] = 1.0


def frame_of(points: np.ndarray) -> FaceFrame:
    frame = face_frame(points.astype(np.float32))
    assert frame is not None
    return frame


def worn_draw(family: str, seed: int) -> tuple[np.ndarray, dict]:
    """A procedural occluder's alpha and draw params (eyes 64 px apart), or the plain cut-out."""
    if family == "eyewear":
        occluder, draw = render_eyewear(sample_eyewear(rng=np.random.default_rng(seed), iod_px=64))
    elif family == "face_mask":
        occluder, draw = render_face_mask(sample_face_mask(rng=np.random.default_rng(seed), iod_px=64))
    elif family == "hair":
        from occgen.sources.hair import render_fringe, sample_fringe

        occluder, draw = render_fringe(sample_fringe(rng=np.random.default_rng(seed), iod_px=64))
    else:
        return CUTOUT, {"finger_angle_deg": -90.0}
    return occluder.alpha, draw


@pytest.mark.parametrize("family", sorted(ISSUE))
def test_each_family_meets_the_face_where_the_issue_says(family: str) -> None:
    anchors, entries, size_range = ISSUE[family]
    frame = frame_of(landmarks_from_parsing(face_parsing()))
    d = np.array(frame.d)
    alpha, draw = worn_draw(family, 0)
    seen_anchors, seen_entries = set(), set()
    for seed in range(400):
        placement = sample_anchored(rng=np.random.default_rng(seed), frame=frame, family=family, alpha=alpha,
                                    draw_params=draw)  # fmt: skip
        seen_anchors.add(placement.anchor)
        seen_entries.add(placement.entry)
        offset = (np.array(placement.target_xy) - np.array(frame.anchors[placement.anchor])) / frame.iod_px
        assert np.hypot(*offset) <= 1.0, (seed, placement)  # never far from its anchor (the hat's 0.9 + jitter)
        if placement.entry == "above":  # a hat sits above the brows, whatever the jitter
            assert offset @ d < -0.4
        if placement.entry == "below" and placement.anchor == "chin":
            assert offset @ d >= 0.1 - 0.08  # below the chin by its reach, less the jitter
        params = apply_anchored(CompositeParams(), placement, alpha.shape)
        matrix = occluder_matrix(alpha.shape, params)
        scale = math.sqrt(abs(np.linalg.det(matrix[:2, :2])))
        if size_range is None:  # worn: drawn for eyes 64 px apart, scaled to this face's eye distance
            assert 0.85 <= scale * 64 / frame.iod_px <= 1.15
        else:
            longest = scale * max(alpha.shape) / frame.iod_px
            assert size_range[0] - 1e-6 <= longest <= size_range[1] + 1e-6, (seed, longest)
    assert seen_anchors == anchors and seen_entries == entries


@pytest.mark.parametrize("family", sorted(ISSUE))
def test_placement_moves_with_the_face_scale_and_roll(family: str) -> None:
    """The same draws on the face moved by a similarity (x 1.7, turned by 30 degrees, shifted): the target moves
    with the face, the scale follows the eye distance and the rotation the roll."""
    points = landmarks_from_parsing(face_parsing()).astype(np.float64)
    turn = math.radians(30.0)
    similarity = 1.7 * np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    shift = np.array([40.0, -12.0])
    moved = points @ similarity.T + shift
    alpha, draw = worn_draw(family, 1)
    base, turned = frame_of(points), frame_of(moved)
    assert turned.iod_px == pytest.approx(1.7 * base.iod_px, rel=1e-4)
    assert turned.roll_deg == pytest.approx(base.roll_deg + 30.0, abs=1e-3)
    for seed in range(40):
        a = sample_anchored(rng=np.random.default_rng(seed), frame=base, family=family, alpha=alpha, draw_params=draw)
        b = sample_anchored(rng=np.random.default_rng(seed), frame=turned, family=family, alpha=alpha,
                            draw_params=draw)  # fmt: skip
        assert (a.anchor, a.entry) == (b.anchor, b.entry)
        assert np.allclose(b.target_xy, similarity @ np.array(a.target_xy) + shift, atol=1e-3)
        assert b.fit_scale == pytest.approx(1.7 * a.fit_scale, rel=1e-4)
        assert (b.rotation_deg - a.rotation_deg - 30.0 + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("name", ["spoon", "fork", "microphone"])
def test_spoons_forks_and_microphones_of_a_folder_sit_at_the_mouth(parsed_faces: Path, tmp_path: Path,
                                                                   name: str) -> None:  # fmt: skip
    """The issue's bound for the long-axis families, through NatOcc and the compositor: the placed alpha's
    centroid within 0.3 x IOD of the mouth landmark in >= 95 % of mouth-anchored samples."""
    rgba = np.zeros((64, 16, 4), np.uint8)
    rgba[4:60, 5:11] = (180, 180, 190, 255)  # a handle
    rgba[4:18, 2:14, 3] = 255  # a head at one end: the centroid is off the middle
    write_png(tmp_path / "cutouts" / f"{name}_01.png", rgba)
    recipe = replace(natocc(parsed_faces, objects_frac=1.0), objects=RGBAFolder(tmp_path / "cutouts"))
    mouth = landmarks_from_parsing(face_parsing())[LANDMARK_NAMES.index("mouth_center")]
    near, total = 0, 0
    for index in range(40):
        sample = recipe.make(index)
        placement = sample.metadata["placement"]
        assert placement["family"] == ("microphone" if name == "microphone" else "utensil")
        if placement["anchor"] != "mouth":
            continue
        total += 1
        near += np.hypot(*(alpha_centroid(sample.occluder_mask) - mouth)) <= 0.3 * placement["iod_px"]
    assert total >= 15 and near >= 0.95 * total


def spoon_alpha(head_at_top: bool = True) -> np.ndarray:
    """A spoon-like cut-out, 64 x 16: a thin handle and a wide bowl at one end (top or bottom)."""
    alpha = np.zeros((64, 16), np.float32)
    alpha[4:60, 6:10] = 1.0
    alpha[4:20, 2:14] = 1.0
    return alpha if head_at_top else alpha[::-1].copy()


def head_up_of_below_entries(family: str, alpha: np.ndarray, top: tuple[float, float],
                             bottom: tuple[float, float]) -> list[bool]:  # fmt: skip
    """For each of 80 draws entering from below: whether the cut-out's ``top`` point lands above its ``bottom``
    point (along the face's down direction)."""
    frame = frame_of(landmarks_from_parsing(face_parsing()))
    d = np.array(frame.d)
    up = []
    for seed in range(80):
        placement = sample_anchored(rng=np.random.default_rng(seed), frame=frame, family=family, alpha=alpha,
                                    draw_params={})  # fmt: skip
        if placement.entry != "below":
            continue
        matrix = occluder_matrix(alpha.shape, apply_anchored(CompositeParams(), placement, alpha.shape))
        up.append(bool((matrix @ np.array([*top, 1.0]) - matrix @ np.array([*bottom, 1.0])) @ d < 0))
    assert len(up) >= 20
    return up


@pytest.mark.parametrize("family", ["utensil", "microphone"])
def test_long_objects_point_their_head_at_the_face(family: str) -> None:
    """Entering from below, a spoon's bowl (a microphone's head) is above its handle, at whichever end of the
    cut-out it is drawn; a cut-out with no wider end is laid either way round."""
    spoon = np.zeros((64, 16), np.float32)
    spoon[4:60, 6:10] = 1.0  # the handle
    spoon[4:20, 2:14] = 1.0  # the bowl, at the top
    assert all(head_up_of_below_entries(family, spoon, (8.0, 11.5), (8.0, 55.0)))
    assert all(head_up_of_below_entries(family, spoon[::-1].copy(), (8.0, 51.5), (8.0, 8.0)))
    bar = np.zeros((64, 16), np.float32)
    bar[4:60, 5:11] = 1.0
    assert set(head_up_of_below_entries(family, bar, (8.0, 4.0), (8.0, 59.0))) == {True, False}


def test_anchored_stores_are_the_same_for_any_worker_count(parsed_faces: Path, tmp_path: Path) -> None:
    from tests.test_generate import assert_same_store

    recipe = natocc(parsed_faces, objects_frac=0.5, wearables_frac=0.5)
    labels = ("landmarks", "instances")
    generate(recipe, tmp_path / "one.zarr", n=6, shard_size=3, workers=1, labels=labels)
    generate(recipe, tmp_path / "two.zarr", n=6, shard_size=3, workers=2, labels=labels)
    assert_same_store(tmp_path / "one.zarr", tmp_path / "two.zarr")
    for name in ("landmarks", "landmark_visible", "occluder_instances"):
        a = sorted(p for p in (tmp_path / "one.zarr" / name).rglob("*") if p.is_file())
        b = sorted(p for p in (tmp_path / "two.zarr" / name).rglob("*") if p.is_file())
        assert a and [p.name for p in a] == [p.name for p in b]
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True)), name
