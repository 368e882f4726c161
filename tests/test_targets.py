"""Named targets (occgen/core/targets.py): each geometric op maps every kind consistently, mirroring ops swap
left/right classes and permute keypoints, photometric ops touch images only; contracts fail loudly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _sided_parsing import mirrored_reference, sided_parsing
from hypothesis import given, settings
from hypothesis import strategies as st

from occgen.core.errors import ArrayContractError
from occgen.core.labels import PARSING_CLASSES, PARSING_FLIP_SWAP
from occgen.core.targets import (
    AffineWarp,
    Crop,
    HorizontalFlip,
    Resize,
    Target,
    Targets,
    apply_geometric,
    map_images,
    swap_table,
)

PROPERTY = settings(max_examples=30, deadline=None)


def test_parsing_swap_table_names_the_left_right_pairs() -> None:
    names = {(PARSING_CLASSES[a], PARSING_CLASSES[b]) for a, b in PARSING_FLIP_SWAP}
    assert names == {("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")}
    table = swap_table(PARSING_FLIP_SWAP)
    assert table[4] == 5 and table[5] == 4 and table[8] == 9 and table[PARSING_CLASSES.index("ear_r")] == 15
    assert np.array_equal(table[table], np.arange(256))  # swapping twice changes nothing


def test_flipped_parsing_has_the_left_parts_where_the_right_ones_were() -> None:
    mask = np.zeros((96, 96), np.uint8)
    cv2.ellipse(mask, (48, 50), (26, 34), 0, 0, 360, 1, -1)
    parsing = sided_parsing(mask)
    targets = Targets({"parsing": Target.class_map(parsing, swap=PARSING_FLIP_SWAP), "mask": Target.mask(mask)})
    flipped = apply_geometric(targets, HorizontalFlip())
    out = flipped.array("parsing")
    assert np.array_equal(out, mirrored_reference(parsing))  # pixel by pixel
    for left, right in (("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")):
        a, b = PARSING_CLASSES.index(left), PARSING_CLASSES.index(right)
        assert np.array_equal(out == a, (parsing == b)[:, ::-1]) and (out == a).any()
        assert np.array_equal(out == b, (parsing == a)[:, ::-1])
    assert np.array_equal(flipped.array("mask"), mask[:, ::-1])  # masks have no sides: only mirrored
    plain = apply_geometric(Targets({"p": Target.class_map(parsing)}), HorizontalFlip())  # no swap table
    assert np.array_equal(plain.array("p"), parsing[:, ::-1])


def test_keypoints_flip_with_their_permutation() -> None:
    # left eye, right eye, nose tip, mouth: the eyes trade indices, the others keep theirs
    points = np.array([[60.0, 40.0], [30.0, 41.0], [45.5, 55.0], [45.0, 70.25]], np.float32)
    targets = Targets({"landmarks": Target.keypoints(points, flip_perm=(1, 0, 2, 3))}, canvas=(96, 90))
    out = apply_geometric(targets, HorizontalFlip()).array("landmarks")
    expected = np.array([[89 - 30.0, 41.0], [89 - 60.0, 40.0], [89 - 45.5, 55.0], [89 - 45.0, 70.25]], np.float32)
    assert out.dtype == np.float32 and np.array_equal(out, expected)
    assert np.array_equal(targets.array("landmarks"), points)  # input kept


def test_a_reflecting_affine_mirrors_and_a_rotation_does_not() -> None:
    size = 33
    reflect = AffineWarp.of(np.array([[-1.0, 0.0, size - 1], [0.0, 1.0, 0.0]]))
    turn = AffineWarp.of(cv2.getRotationMatrix2D((16.0, 16.0), 90.0, 1.0))
    assert reflect.mirrors and not turn.mirrors and HorizontalFlip.mirrors
    parsing = np.zeros((size, size), np.uint8)
    parsing[5:9, 2:6], parsing[5:9, 20:24], parsing[20:25, 10:14] = 4, 5, 2  # l_eye, r_eye, nose
    targets = Targets({"parsing": Target.class_map(parsing, swap=PARSING_FLIP_SWAP)})
    assert np.array_equal(apply_geometric(targets, reflect).array("parsing"), mirrored_reference(parsing))
    turned = apply_geometric(targets, turn).array("parsing")
    assert np.array_equal(turned, np.rot90(parsing))  # turned, never swapped
    # The inverse-map flag: the same reflection given output -> input is the same op.
    inverse = AffineWarp.of(np.array([[-1.0, 0.0, size - 1], [0.0, 1.0, 0.0]]), inverse=True)
    assert inverse.mirrors and np.array_equal(apply_geometric(targets, inverse).array("parsing"),
                                              mirrored_reference(parsing))  # fmt: skip


def test_resize_and_crop_reference_values() -> None:
    image = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)
    mask = np.zeros((8, 6), np.uint8)
    mask[2:4, 1:3] = 1
    targets = Targets({
        "image": Target.image(image), "mask": Target.mask(mask),
        "points": Target.keypoints(np.array([[1.0, 2.0]], np.float32)),
        "boxes": Target.boxes(np.array([[1.0, 2.0, 3.0, 4.0]])),
    })  # fmt: skip
    big = apply_geometric(targets, Resize(16, 12))
    assert big.canvas == (16, 12) and big.array("image").shape == (16, 12, 3)
    assert np.array_equal(big.array("mask"), np.kron(mask, np.ones((2, 2), np.uint8)))
    assert np.allclose(big.array("points"), [[2.5, 4.5]]) and np.allclose(big.array("boxes"), [[2, 4, 6, 8]])
    cropped = apply_geometric(targets, Crop(1, 1, 7, 5))
    assert np.array_equal(cropped.array("image"), image[1:7, 1:5]) and cropped.canvas == (6, 4)
    assert np.allclose(cropped.array("points"), [[0.0, 1.0]]) and np.allclose(cropped.array("boxes"), [[0, 1, 2, 3]])
    with pytest.raises(ArrayContractError, match="not a non-empty box inside the 6x8 canvas"):
        apply_geometric(targets, Crop(0, 0, 9, 2))


def test_photometric_ops_touch_images_only() -> None:
    image = np.full((4, 4, 3), 100, np.uint8)
    mask = np.ones((4, 4), np.uint8)
    targets = Targets({"image": Target.image(image), "clean": Target.image(image), "mask": Target.mask(mask)})
    out = map_images(targets, lambda rgb: rgb + np.uint8(5))
    assert (out.array("image") == 105).all() and (out.array("clean") == 105).all()
    assert out.array("mask") is mask and (image == 100).all()
    with pytest.raises(ArrayContractError, match="photometric op on 'image': expected"):
        map_images(targets, lambda rgb: rgb[..., 0])


def test_contracts_fail_with_useful_messages() -> None:
    with pytest.raises(ArrayContractError, match=r"image target: expected \(H, W, 3\) uint8, got \(4, 4\) uint8"):
        Target.image(np.zeros((4, 4), np.uint8))
    with pytest.raises(ArrayContractError, match=r"keypoints target: expected \(K, 2\) float32, got \(3, 2\) float64"):
        Target.keypoints(np.zeros((3, 2)))
    with pytest.raises(ArrayContractError, match="unknown target kind 'depth'; valid: image, mask"):
        Target("depth", np.zeros((4, 4), np.uint8))
    with pytest.raises(ArrayContractError, match="a swap table is for class_map targets, not mask"):
        Target("mask", np.zeros((4, 4), np.uint8), swap=((4, 5),))
    with pytest.raises(ArrayContractError, match="expected distinct"):
        Target.class_map(np.zeros((4, 4), np.uint8), swap=((4, 5), (5, 6)))
    with pytest.raises(ArrayContractError, match="its own inverse"):
        Target.keypoints(np.zeros((3, 2), np.float32), flip_perm=(1, 2, 0))
    with pytest.raises(ArrayContractError, match="target 'mask' is 5x4 but the canvas is 4x4"):
        Targets({"image": Target.image(np.zeros((4, 4, 3), np.uint8)), "mask": Target.mask(np.zeros((4, 5), np.uint8))})
    with pytest.raises(ArrayContractError, match="need canvas"):
        Targets({"points": Target.keypoints(np.zeros((1, 2), np.float32))})
    with pytest.raises(ArrayContractError, match="singular"):
        AffineWarp.of(np.zeros((2, 3)))


# --- properties: every op maps every kind consistently ---------------------------------------------------------


@st.composite
def samples(draw: st.DrawFn) -> tuple[Targets, list[tuple[int, int]], list[tuple[int, int, int, int]]]:
    """A sample of every kind on an H x W canvas. Instance i + 1 is a 5x5 blob centred on keypoint i; box j is
    drawn into the ``box<j>`` masks. Blobs and boxes keep 8 px from the border, so moderate ops keep them."""
    height, width = draw(st.integers(32, 56)), draw(st.integers(32, 56))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    centres: list[tuple[int, int]] = []
    for _ in range(draw(st.integers(1, 3)) * 10):  # up to 3 blobs 7 px apart (bounded tries)
        x, y = int(rng.integers(10, width - 10)), int(rng.integers(10, height - 10))
        if len(centres) < 3 and all(max(abs(x - a), abs(y - b)) >= 7 for a, b in centres):
            centres.append((x, y))
    count = len(centres)
    instances = np.zeros((height, width), np.uint8)
    for i, (x, y) in enumerate(centres):
        instances[y - 2 : y + 3, x - 2 : x + 3] = i + 1
    boxes = []
    items = {
        "image": Target.image(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)),
        "alpha": Target.soft_mask(rng.random((height, width), dtype=np.float32)),
        "alpha8": Target.soft_mask(rng.integers(0, 256, (height, width), dtype=np.uint8)),
        "parsing": Target.class_map(
            rng.choice(np.array([0, 1, 4, 5, 8, 9, 13], np.uint8), (height, width)), swap=PARSING_FLIP_SWAP
        ),  # fmt: skip
        "instances": Target.instances(instances),
        "points": Target.keypoints(np.array(centres, np.float32), flip_perm=tuple(range(count))[::-1]),
    }
    for j in range(2):
        x0, y0 = int(rng.integers(8, width - 14)), int(rng.integers(8, height - 14))
        x1, y1 = x0 + int(rng.integers(3, width - 8 - x0)), y0 + int(rng.integers(3, height - 8 - y0))
        box_mask = np.zeros((height, width), np.uint8)
        box_mask[y0:y1, x0:x1] = 1
        items[f"box{j}"] = Target.mask(box_mask)
        boxes.append((x0, y0, x1, y1))
    items["boxes"] = Target.boxes(np.array(boxes, np.float64))
    return Targets(items), centres, boxes


@st.composite
def ops(draw: st.DrawFn, canvas: tuple[int, int]) -> AffineWarp | HorizontalFlip | Resize | Crop:
    height, width = canvas
    kind = draw(st.sampled_from(["flip", "affine", "resize", "crop"]))
    if kind == "flip":
        return HorizontalFlip()
    if kind == "resize":
        return Resize(draw(st.integers(height - 4, height + 16)), draw(st.integers(width - 4, width + 16)))
    if kind == "crop":
        top, left = draw(st.integers(0, 4)), draw(st.integers(0, 4))
        return Crop(top, left, height - draw(st.integers(0, 4)), width - draw(st.integers(0, 4)))
    angle, scale = draw(st.floats(-20, 20)), draw(st.floats(0.9, 1.15))
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, scale)
    if draw(st.booleans()):  # a reflection inside the matrix
        matrix = np.array([[-1.0, 0.0, width - 1], [0.0, 1.0, 0.0]]) @ np.vstack([matrix, [0, 0, 1]])
    inverse = draw(st.booleans())
    return AffineWarp.of(cv2.invertAffineTransform(matrix) if inverse else matrix, inverse=inverse)


@PROPERTY
@given(data=st.data())
def test_every_op_keeps_kinds_dtypes_shapes_and_inputs(data: st.DataObject) -> None:
    targets, _, _ = data.draw(samples())
    op = data.draw(ops(targets.canvas))
    before = {name: t.data.copy() for name, t in targets.items()}
    out = apply_geometric(targets, op)
    height, width = out.canvas
    for name, target in targets.items():
        moved = out[name]
        assert moved.kind == target.kind and moved.data.dtype == target.data.dtype
        if target.kind in ("keypoints", "boxes"):
            assert moved.data.shape == target.data.shape
        else:
            assert moved.data.shape == (height, width, *target.data.shape[2:])
        assert np.array_equal(target.data, before[name])  # the input is not mutated
    ids, new_ids = set(np.unique(before["parsing"]).tolist()), set(np.unique(out.array("parsing")).tolist())
    partners = {dict(PARSING_FLIP_SWAP + tuple((b, a) for a, b in PARSING_FLIP_SWAP)).get(i, i) for i in ids}
    assert new_ids <= (partners if op.mirrors else ids) | {0}  # no new class ids, only swapped pairs (and 0 fill)


@PROPERTY
@given(data=st.data())
def test_keypoints_land_where_their_rasterised_blobs_land(data: st.DataObject) -> None:
    targets, centres, _ = data.draw(samples())
    op = data.draw(ops(targets.canvas))
    out = apply_geometric(targets, op)
    points, instances = out.array("points"), out.array("instances")
    perm = targets["points"].flip_perm
    assert perm is not None
    for i in range(len(centres)):
        # point index of instance i + 1 after the op: a mirroring op reorders by the (self-inverse) permutation
        index = perm[i] if op.mirrors else i
        rows, cols = np.nonzero(instances == i + 1)
        assert rows.size > 0
        assert abs(cols.mean() - points[index, 0]) <= 1.0 and abs(rows.mean() - points[index, 1]) <= 1.0


@PROPERTY
@given(data=st.data())
def test_boxes_hold_their_rasterised_masks(data: st.DataObject) -> None:
    targets, _, _ = data.draw(samples())
    op = data.draw(ops(targets.canvas))
    out = apply_geometric(targets, op)
    for j, (x0, y0, x1, y1) in enumerate(out.array("boxes")):
        rows, cols = np.nonzero(out.array(f"box{j}"))
        hull = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)  # pixel edges, half-open
        if isinstance(op, HorizontalFlip | Crop):  # exact ops: the box is the rasterised box
            assert np.allclose((x0, y0, x1, y1), hull)
        else:  # the moved box holds every moved pixel (1 px of resampling slack)
            assert x0 - 1 <= hull[0] and y0 - 1 <= hull[1] and hull[2] <= x1 + 1 and hull[3] <= y1 + 1
        if isinstance(op, Resize):  # and, when the op keeps boxes axis-aligned, hugs them
            assert np.allclose((x0, y0, x1, y1), hull, atol=1.0)


@PROPERTY
@given(data=st.data())
def test_flip_twice_and_identity_affine_change_nothing(data: st.DataObject) -> None:
    targets, _, _ = data.draw(samples())
    twice = apply_geometric(apply_geometric(targets, HorizontalFlip()), HorizontalFlip())
    same = apply_geometric(targets, AffineWarp.of(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])))
    for name, target in targets.items():
        assert np.array_equal(twice.array(name), target.data), name
        assert np.array_equal(same.array(name), target.data), name
