"""A face's own landmarks (issue 25): the schemes (occgen/core/landmark_schemes.py), the files beside a face image
in their true formats (occgen/sources/landmark_files.py), and anchored placement from a 68-point face
(occgen/recipes/natocc.py takes the eyes and mouth from the file)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from occgen.core.errors import ConfigError, SourceError
from occgen.core.imageio import write_png
from occgen.core.labels import LANDMARK_FLIP_PERM, LANDMARK_NAMES
from occgen.core.landmark_schemes import SCHEMES, get_scheme, read_landmark_file, scheme_of_file
from occgen.core.targets import HorizontalFlip, Target, Targets, apply_geometric
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.recipes.placement import face_frame
from occgen.sources.faces import FaceFolder
from occgen.sources.hands import MattedHands
from occgen.sources.landmark_files import fit_square_points, landmark_file, read_face_landmarks
from occgen.sources.objects import CocoObjects
from occgen.train.crops import read_points_file

AT = {name: i for i, name in enumerate(LANDMARK_NAMES)}
CX = 127.5  # the face's axis in a 256-px image: mirroring is x -> 255 - x


def ellipse_points(centre: tuple[float, float], radii: tuple[float, float], angles: list[float]) -> list[list[float]]:
    """Points at ``angles`` (radians, counter-clockwise on screen: y up) on an ellipse."""
    return [[centre[0] + radii[0] * math.cos(a), centre[1] - radii[1] * math.sin(a)] for a in angles]


def ibug68_face() -> np.ndarray:
    """float64 (68, 2): a symmetric frontal face in a 256² image, each group laid out as the 300-W markup says
    (written from the markup's description, not from the flip permutation under test)."""
    jaw = [[CX + 96 * math.cos(math.pi - math.pi * k / 16), 128 + 120 * math.sin(math.pi - math.pi * k / 16)]
           for k in range(17)]  # fmt: skip  # image-left ear, down through the chin (8), to the image-right ear
    right_brow = [[68.0 + 10 * k, 84.0 - 4 * math.sin(math.pi * k / 4)] for k in range(5)]
    left_brow = [[2 * CX - 108.0 + 10 * k, 84.0 - 4 * math.sin(math.pi * k / 4)] for k in range(5)]
    bridge = [[CX, 100.0 + 12 * k] for k in range(4)]
    base = [[CX - 16 + 8 * k, 144.0] for k in range(5)]
    eye_angles = [math.pi, 2 * math.pi / 3, math.pi / 3, 0.0, -math.pi / 3, -2 * math.pi / 3]
    right_eye = ellipse_points((88.0, 104.0), (12.0, 5.0), eye_angles)  # 36 outer corner .. 39 inner corner
    left_eye = ellipse_points((2 * CX - 88.0, 104.0), (12.0, 5.0), eye_angles)  # 42 inner .. 45 outer corner
    outer = ellipse_points((CX, 190.0), (30.0, 12.0), [math.pi - k * math.pi / 6 for k in range(12)])
    inner = ellipse_points((CX, 190.0), (20.0, 5.0), [math.pi - k * math.pi / 4 for k in range(8)])
    points = np.array(jaw + right_brow + left_brow + bridge + base + right_eye + left_eye + outer + inner)
    assert points.shape == (68, 2)
    return points


def write_pts(path: Path, points: np.ndarray) -> None:
    """The iBUG / 300-W ``.pts`` layout."""
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in points)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"version: 1\nn_points: {len(points)}\n{{\n{body}\n}}\n")


def test_schemes_name_every_point_and_mirror_consistently() -> None:
    assert set(SCHEMES) == {"occgen-parsing-13", "ibug-68", "five-point"}
    ibug = get_scheme("ibug-68")
    assert len(ibug.names) == len(set(ibug.names)) == 68
    assert ibug.names[8] == "jaw_9" and ibug.names[36] == "right_eye_1" and ibug.names[48] == "outer_lip_1"
    for scheme in SCHEMES.values():  # a mirror twice is the identity
        assert [scheme.flip_perm[j] for j in scheme.flip_perm] == list(range(len(scheme.names)))
    with pytest.raises(ConfigError, match="unknown landmark scheme 'dlib-81'; valid: occgen-parsing-13, ibug-68"):
        get_scheme("dlib-81")


def test_ibug68_flip_permutation_maps_a_mirrored_face_onto_itself() -> None:
    points = ibug68_face()
    ibug = get_scheme("ibug-68")
    targets = Targets({"p": Target.keypoints(points.astype(np.float32), flip_perm=ibug.flip_perm)}, canvas=(256, 256))
    flipped = apply_geometric(targets, HorizontalFlip()).array("p")
    assert np.allclose(flipped, points, atol=1e-3)  # the face is symmetric: its mirror, re-labelled, is itself
    # ... and the derived parsing-13 points move as the parsing scheme's own flip says.
    direct = ibug.as_parsing13(flipped)
    mirrored = ibug.as_parsing13(points)[list(LANDMARK_FLIP_PERM)]
    mirrored[:, 0] = 255 - mirrored[:, 0]
    assert np.allclose(direct, mirrored, atol=1e-3)


def test_schemes_give_the_parsing13_anchors() -> None:
    anchors = get_scheme("ibug-68").as_parsing13(ibug68_face())
    assert anchors.dtype == np.float32 and anchors.shape == (13, 2) and np.isfinite(anchors).all()
    assert np.allclose(anchors[AT["left_eye"]], (167.0, 104.0), atol=1e-3)  # the subject's left: image right
    assert np.allclose(anchors[AT["right_eye"]], (88.0, 104.0), atol=1e-3)
    assert np.allclose(anchors[AT["mouth_center"]], (CX, 190.0), atol=1e-3)
    assert np.allclose(anchors[AT["chin"]], (CX, 248.0), atol=1e-3)
    five = np.array([[90, 100], [160, 101], [125, 140], [100, 180], [150, 181]], np.float64)
    anchors = get_scheme("five-point").as_parsing13(five)
    assert np.allclose(anchors[AT["left_eye"]], (160, 101)) and np.allclose(anchors[AT["mouth_center"]], (125, 180.5))
    assert np.isnan(anchors[AT["chin"]]).all() and np.isnan(anchors[AT["left_brow"]]).all()
    with pytest.raises(SourceError, match=r"five-point landmarks: expected \(5, 2\) x, y points, got \(4, 2\)"):
        get_scheme("five-point").as_parsing13(five[:4])


def test_landmark_files_in_their_released_formats(tmp_path: Path) -> None:
    points = ibug68_face()
    write_pts(tmp_path / "a.pts", points)
    assert np.allclose(read_landmark_file(tmp_path / "a.pts"), points, atol=1e-3)
    assert scheme_of_file(tmp_path / "a.pts", points).name == "ibug-68"
    # iBugMask: <stem>_landmark.txt, lines "x y"
    (tmp_path / "b_landmark.txt").write_text("".join(f"{x} {y}\n" for x, y in points))
    assert np.allclose(read_landmark_file(tmp_path / "b_landmark.txt"), points)
    # five points, commas allowed; the evaluation reader gives the same five
    (tmp_path / "c.txt").write_text("90,100\n160,101\n125,140\n100,180\n150,181\n")
    five = read_landmark_file(tmp_path / "c.txt")
    assert scheme_of_file(tmp_path / "c.txt", five).name == "five-point"
    assert np.allclose(read_points_file(tmp_path / "c.txt"), five)
    # LaPa: the count, then 106 lines; read, but no scheme occgen knows
    lapa = np.arange(212, dtype=np.float64).reshape(106, 2)
    (tmp_path / "d.txt").write_text("106\n" + "".join(f"{x} {y}\n" for x, y in lapa))
    assert np.array_equal(read_landmark_file(tmp_path / "d.txt"), lapa)
    no_scheme = "106 points is no scheme occgen reads; expected 68 .ibug-68., 5 .five-point."
    with pytest.raises(SourceError, match=no_scheme):
        scheme_of_file(tmp_path / "d.txt", lapa)
    (tmp_path / "e.txt").write_text("3\n1 2\n")
    with pytest.raises(SourceError, match="e.txt: the first line says 3 points but 1 follow"):
        read_landmark_file(tmp_path / "e.txt")
    (tmp_path / "f.pts").write_text("version: 1\n1 2\n")
    with pytest.raises(SourceError, match="not an iBUG .pts file"):
        read_landmark_file(tmp_path / "f.pts")


def test_landmark_file_search_order_and_the_letterbox(tmp_path: Path) -> None:
    image = tmp_path / "faces" / "images" / "x.jpg"
    assert landmark_file(image) is None
    write_pts(tmp_path / "faces" / "images" / "x.pts", ibug68_face())
    assert landmark_file(image) == tmp_path / "faces" / "images" / "x.pts"
    write_pts(tmp_path / "faces" / "landmarks" / "x.pts", ibug68_face())
    assert landmark_file(image) == tmp_path / "faces" / "landmarks" / "x.pts"  # landmarks/ first
    # a 40 x 20 (H x W) image is padded 10 px left and right to 40², then halved: x' = (x + 10 + 0.5) / 2 - 0.5
    moved = fit_square_points(np.array([[5.0, 10.0], [0.0, 0.0]]), (40, 20), 20)
    assert moved.dtype == np.float32 and np.allclose(moved, [[7.25, 4.75], [4.75, -0.25]])
    # the same rule as the image: a single lit pixel lands where the moved point says
    picture = np.zeros((40, 20), np.uint8)
    picture[10:12, 4:6] = 255  # centre (4.5, 10.5)
    square = cv2.resize(np.pad(picture, ((0, 0), (10, 10))), (20, 20), interpolation=cv2.INTER_AREA)
    rows, cols = np.nonzero(square)
    assert np.allclose(fit_square_points(np.array([[4.5, 10.5]]), (40, 20), 20)[0], (cols.mean(), rows.mean()))
    found = read_face_landmarks(image, (256, 256), 128)
    assert found is not None and found.scheme.name == "ibug-68" and found.points.shape == (68, 2)


@pytest.fixture
def faces_with_pts(tmp_path: Path) -> Path:
    """A face folder (no parsing maps) whose faces each have ``landmarks/<stem>.pts`` (68 points, 256²)."""
    rng = np.random.default_rng(3)
    root = tmp_path / "faces"
    mask = np.zeros((256, 256), np.uint8)
    cv2.ellipse(mask, (128, 140), (96, 120), 0, 0, 360, 255, -1)
    for i in range(3):
        write_png(root / "images" / f"face{i}.png", rng.integers(60, 200, (256, 256, 3), dtype=np.uint8))
        write_png(root / "masks" / f"face{i}.png", mask)
        write_pts(root / "landmarks" / f"face{i}.pts", ibug68_face())
    return root


def test_anchored_placement_from_a_68_point_face_puts_mouth_objects_at_the_mouth(faces_with_pts: Path) -> None:
    faces = FaceFolder(faces_with_pts)
    assert any(path.suffix == ".pts" for path in faces.files())  # the points are part of the face set's fingerprint
    config = replace(NatOccConfig(hand_max_side_px=128, placement="anchored"), objects_frac=1.0)
    recipe = NatOccRecipe(faces, MattedHands(None, max_side_px=128), config, seed=11, size=128,
                          objects=CocoObjects(None, max_side_px=128))  # fmt: skip
    mouth = (np.array([CX, 190.0]) + 0.5) * 0.5 - 0.5  # the 68 points' mouth at 128²
    own = faces.load_landmarks(0, 128)
    assert own is not None and own.scheme.name == "ibug-68"
    frame = face_frame(own.scheme.as_parsing13(own.points))
    assert frame is not None and frame.iod_px == pytest.approx(39.5, abs=0.01)
    near, total = 0, 0
    for index in range(40):
        sample = recipe.make(index)
        placement = sample.metadata["placement"]
        assert placement["mode"] == "anchored"  # without the file the face has no eyes (no parsing map): random
        if placement["anchor"] != "mouth":
            continue
        weights = sample.occluder_mask.astype(np.float64)
        rows, cols = np.mgrid[0:128, 0:128]
        centroid = np.array([(cols * weights).sum(), (rows * weights).sum()]) / weights.sum()
        total += 1
        near += np.hypot(*(centroid - mouth)) <= 0.3 * placement["iod_px"]
    assert total >= 10 and near >= 0.95 * total


def test_parsing_sets_give_their_shipped_landmarks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """iBugMask's ``<stem>_landmark.txt`` (68 lines ``x y``) is read at the dataset size; LaPa's 106 points have
    no scheme, so its faces keep their parsing-derived points (None here)."""
    from occgen.sources.parsing_sets import IBugMask, LaPa
    from tests.test_sources_layouts import make_ibugmask, make_lapa

    root = make_ibugmask(tmp_path / "ibug")
    ibug = IBugMask(root)
    index = next(i for i in range(len(ibug)) if ibug.labelled_face(i).split == "train")
    image = ibug.labelled_face(index).image
    height, width = cv2.imread(str(image)).shape[:2]
    points = ibug68_face() * np.array([width / 256, height / 256])
    (image.parent / f"{image.stem}_landmark.txt").write_text("".join(f"{x} {y}\n" for x, y in points))
    found = ibug.load_landmarks(index, 64)
    assert found is not None and found.scheme.name == "ibug-68"
    monkeypatch.setenv("OCCGEN_FINGERPRINT_CACHE", str(tmp_path / "fingerprints"))
    before = IBugMask(root).describe()["fingerprint"]  # its points feed samples: part of the set's fingerprint
    landmark_path = image.parent / f"{image.stem}_landmark.txt"
    landmark_path.write_text("".join(f"{x + 1} {y}\n" for x, y in points))
    assert landmark_path in IBugMask(root).files() and IBugMask(root).describe()["fingerprint"] != before
    assert np.allclose(found.points, fit_square_points(points, (height, width), 64), atol=1e-4)
    other = next(i for i in range(len(ibug)) if i != index)
    assert ibug.load_landmarks(other, 64) is None  # the fixture's one-point file: no scheme
    lapa = LaPa(make_lapa(tmp_path / "lapa"))
    assert landmark_file(lapa.labelled_face(0).image) is not None and lapa.load_landmarks(0, 64) is None
