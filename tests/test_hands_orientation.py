"""Finger direction from a matte (occgen/sources/hand_orientation.py) and the toward-the-face rotation."""

from __future__ import annotations

import numpy as np
import pytest

from occgen.core.errors import ArrayContractError, EmptyOccluderError
from occgen.prep.hands.synthetic import finger_angle_deg, render_hand, sample_hand_shape
from occgen.recipes.placement import toward_face_rotation_deg
from occgen.sources.hand_orientation import angle_difference_deg, finger_direction
from occgen.sources.occluder import crop_to_alpha

WRIST_SIDE = {0: "bottom", 1: "right", 2: "top", 3: "left"}


@pytest.mark.parametrize("rot90", [0, 1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_border_cue_finds_the_known_direction(rot90: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    _, alpha = render_hand(sample_hand_shape(rng=rng, rot90=rot90), 160, 128, rng=rng)
    found = finger_direction(alpha)
    assert found.method == "border" and found.wrist_side == WRIST_SIDE[rot90]
    assert abs(angle_difference_deg(found.angle_deg, finger_angle_deg(rot90))) < 15


@pytest.mark.parametrize("rot90", [0, 1, 2, 3])
def test_profile_cue_on_a_cut_out_touching_no_border(rot90: int) -> None:
    rng = np.random.default_rng(3)
    rgb, alpha = render_hand(sample_hand_shape(rng=rng, rot90=rot90), 160, 128, rng=rng)
    _, cropped = crop_to_alpha(rgb, alpha)
    found = finger_direction(np.pad(cropped, 12))
    assert found.method == "profile" and found.wrist_side == "none"
    assert abs(angle_difference_deg(found.angle_deg, finger_angle_deg(rot90))) < 20


def test_empty_and_bad_mattes_raise() -> None:
    with pytest.raises(EmptyOccluderError, match="empty"):
        finger_direction(np.zeros((20, 20), np.float32))
    with pytest.raises(ArrayContractError, match="hand alpha"):
        finger_direction(np.zeros((20, 20), np.float64))


@pytest.mark.parametrize("finger", [-90.0, 0.0, 90.0, 180.0, 37.0])
def test_toward_face_rotation_turns_fingers_onto_the_face(finger: float) -> None:
    occluder, face = (30.0, 80.0), (60.0, 40.0)
    rotation = toward_face_rotation_deg(finger, occluder, face, jitter_deg=0.0)
    expected = np.degrees(np.arctan2(face[1] - occluder[1], face[0] - occluder[0]))
    assert abs(angle_difference_deg(finger + rotation, expected)) < 1e-9
    jittered = toward_face_rotation_deg(finger, occluder, face, jitter_deg=12.0)
    assert abs(angle_difference_deg(jittered, rotation) - 12.0) < 1e-9
    # Coincident centres: fingers point up.
    assert abs(angle_difference_deg(finger + toward_face_rotation_deg(finger, face, face, 0.0), -90.0)) < 1e-9
