"""Template crops (issue 26): alignment templates and the similarity fit (occgen/core/alignment.py), the training
crop augmentation and the per-template evaluation (occgen/train/crops.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import write_gray, write_rgb
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.alignment import (
    TEMPLATES,
    alignment_matrix,
    five_points,
    five_points_from_ibug68,
    get_template,
    similarity_matrix,
)
from occgen.core.errors import ConfigError, SourceError
from occgen.core.labels import LANDMARK_NAMES
from occgen.core.targets import Target, Targets, apply_geometric
from occgen.train.config import CropConfig
from occgen.train.crops import (
    CropParams,
    align_op,
    apply_crop,
    crop_item,
    evaluate_crops,
    parse_crop_spec,
    read_points_file,
    sample_crop,
)
from occgen.train.evaluate import evaluate_model, open_eval_data
from occgen.train.model import build_model
from occgen.train.trainer import ARCH

runner = CliRunner()
FACEFUSION_NAMES = ("arcface_112_v1", "arcface_128", "ffhq_512", "mtcnn_512", "dfl_whole_face")


def rotate_scale_shift(points: np.ndarray, angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """Points under a similarity written out by hand (x right, y down), for the fit to undo."""
    a = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return points @ (scale * rotation).T + np.asarray(shift)


def test_templates_are_the_cited_numbers() -> None:
    assert set(FACEFUSION_NAMES) <= set(TEMPLATES)
    for template in TEMPLATES.values():
        points = np.asarray(template.points_frac)
        assert points.shape == (5, 2) and template.size_px > 0 and template.source
        assert points[0, 0] < points[1, 0] and points[3, 0] < points[4, 0]  # image-left first
        assert points[0, 1] < points[2, 1] < points[3, 1]  # eyes above the nose above the mouth
    # insightface's arcface_dst (px in 112) equals facefusion's arcface_112_v2 (fractions): two sources agree
    assert np.allclose(get_template("insightface_arcface_112").points_px(112)[0], [38.2946, 51.6963])
    assert np.allclose(np.asarray(get_template("insightface_arcface_112").points_frac)[0], [0.34191607, 0.46157411])
    assert np.allclose(get_template("uniface_256").points_px(256)[0], [38.2946 * 2 + 16, 51.6963 * 2])
    assert get_template("ffhq_512").points_frac[2] == (0.50123859, 0.61331904)
    with pytest.raises(ConfigError, match="unknown alignment template 'ffhq'; valid: arcface_112_v1"):
        get_template("ffhq")


def test_similarity_fit_recovers_a_known_transform() -> None:
    source = np.array([[10.0, 20.0], [50.0, 22.0], [30.0, 40.0], [15.0, 60.0], [48.0, 58.0]])
    moved = rotate_scale_shift(source, 17.0, 1.7, (5.0, -3.0))
    matrix = similarity_matrix(source, moved)
    a = np.deg2rad(17.0)
    assert np.allclose(matrix[:, :2], 1.7 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]))
    assert np.allclose(matrix[:, 2], [5.0, -3.0])
    # a mirrored pattern cannot be matched by reflection: the fit stays a rotation (positive determinant)
    assert np.linalg.det(similarity_matrix(source, source * [-1, 1])[:, :2]) > 0
    with pytest.raises(Exception, match="coincide"):
        similarity_matrix(np.zeros((5, 2)), moved)


@pytest.mark.parametrize("name", [*FACEFUSION_NAMES, "insightface_arcface_112", "uniface_256"])
def test_five_points_land_on_the_template_and_labels_follow(name: str) -> None:
    template = get_template(name)
    side = 96
    # a face on a 160² canvas: the template's points turned 25°, scaled and moved, with a marker disk at each
    face = rotate_scale_shift(template.points_px(side), 25.0, 0.9, (40.0, 20.0))
    image = np.zeros((160, 160, 3), np.uint8)
    mask = np.zeros((160, 160), np.uint8)
    for k, (x, y) in enumerate(face):
        cv2.circle(mask, (int(round(x)), int(round(y))), 3, k + 1, -1)
        cv2.circle(image, (int(round(x)), int(round(y))), 3, (255, 255, 255), -1)
    targets = Targets({"image": Target.image(image), "mask": Target.mask(mask),
                       "points": Target.keypoints(face.astype(np.float32))})  # fmt: skip
    moved = apply_geometric(targets, align_op(face, name, side))
    expected = template.points_px(side)
    assert moved.canvas == (side, side)
    assert np.abs(moved.array("points") - expected).max() < 1.0
    for k, (x, y) in enumerate(expected):  # each marker's pixels are around its template point
        rows, cols = np.nonzero(moved.array("mask") == k + 1)
        assert len(rows) > 0 and abs(cols.mean() - x) < 1.0 and abs(rows.mean() - y) < 1.0
        assert moved.array("image")[int(round(y)), int(round(x))].min() > 200


def test_five_points_from_parsing_landmarks_and_ibug68(tmp_path: Path) -> None:
    index = {n: i for i, n in enumerate(LANDMARK_NAMES)}
    landmarks = np.full((len(LANDMARK_NAMES), 2), np.nan, np.float32)
    # CelebAMask-HQ's l_eye drawn on the image right: the five points still start with the image-left eye
    for name, xy in {"left_eye": (40, 20), "right_eye": (20, 20), "nose_center": (30, 30),
                     "mouth_left": (38, 42), "mouth_right": (22, 42)}.items():  # fmt: skip
        landmarks[index[name]] = xy
    assert np.array_equal(five_points(landmarks), [[20, 20], [40, 20], [30, 30], [22, 42], [38, 42]])
    landmarks[index["mouth_left"]] = np.nan
    assert five_points(landmarks) is None
    # iBUG 68: eye centres are the means of points 37-42 / 43-48 (1-based), nose 31, mouth corners 49 and 55
    points68 = np.zeros((68, 2))
    points68[36:42] = [[10, 10], [12, 9], [14, 10], [12, 11], [11, 10], [13, 10]]
    points68[42:48] = points68[36:42] + [20, 0]
    points68[30], points68[48], points68[54] = (22, 20), (14, 30), (30, 30)
    assert np.allclose(five_points_from_ibug68(points68), [[12, 10], [32, 10], [22, 20], [14, 30], [30, 30]])
    pts = tmp_path / "a.pts"
    pts.write_text("version: 1\nn_points: 68\n{\n" + "".join(f"{x} {y}\n" for x, y in points68) + "}\n")
    assert np.allclose(read_points_file(pts), five_points_from_ibug68(points68))
    txt = tmp_path / "b.txt"
    txt.write_text("1 2\n3 4\n")
    with pytest.raises(SourceError, match="b.txt: expected 5 or 68 points"):
        read_points_file(txt)


def test_crop_spec_and_sampling() -> None:
    assert parse_crop_spec("ffhq_512:2, arcface_128") == (("ffhq_512", "arcface_128"), (2.0, 1.0))
    assert parse_crop_spec("ffhq_512,arcface_128") == (("ffhq_512", "arcface_128"), ())
    with pytest.raises(ConfigError, match="weights apply to training only"):
        parse_crop_spec("ffhq_512:2", weights=False)
    with pytest.raises(ConfigError, match="unknown alignment template 'ffhq_51'"):
        parse_crop_spec("ffhq_51")
    with pytest.raises(ConfigError, match="one non-negative weight per template"):
        CropConfig(templates=("ffhq_512",), weights=(1.0, 2.0))
    config = CropConfig(templates=("ffhq_512", "arcface_128", "mtcnn_512"), weights=(1.0, 0.0, 3.0),
                        pixel_boost_p=0.5, channel_swap_p=0.25)  # fmt: skip
    draws = [sample_crop(rng=np.random.default_rng([4, i]), config=config, input_size=64) for i in range(400)]
    assert draws == [sample_crop(rng=np.random.default_rng([4, i]), config=config, input_size=64) for i in range(400)]
    names = [d.template for d in draws]
    assert "arcface_128" not in names and 0.65 < names.count("mtcnn_512") / 400 < 0.85
    sides = {d.side_px for d in draws}
    assert 64 in sides and all(s == 64 or 512 <= s <= 1024 for s in sides) and len(sides) > 50
    assert 0.15 < np.mean([d.channel_swap for d in draws]) < 0.35


def test_pixel_boost_crop_is_resized_to_the_input() -> None:
    template = get_template("ffhq_512")
    face = rotate_scale_shift(template.points_px(64), 0.0, 1.0, (0.0, 0.0))
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(noise, (0, 0), 4)  # smooth: a sub-pixel shift changes it little
    targets = Targets({"image": Target.image(image), "label": Target.mask((image[:, :, 0] > 128).view(np.uint8)),
                       "points": Target.keypoints(face.astype(np.float32))})  # fmt: skip
    boosted = apply_crop(targets, face, CropParams("ffhq_512", 600), input_size=64)
    direct = apply_crop(targets, face, CropParams("ffhq_512", 64), input_size=64)
    assert boosted.canvas == direct.canvas == (64, 64)
    # the identity framing: the direct crop is the image itself; the boosted one is close to it
    assert np.array_equal(direct.array("image"), image)
    assert np.abs(boosted.array("image").astype(int) - image).mean() < 3
    # pixel centres at x = col: a 600-px crop resized to 64 sits 0.45 px up-left of the 64-px crop (facefusion's
    # pixel boost does the same); the points stay within 1 px of the template's
    assert np.abs(boosted.array("points") - template.points_px(64)).max() < 1.0
    plain = apply_crop(targets, None, CropParams("ffhq_512", 600), input_size=32)  # no points: only resized
    assert plain.canvas == (32, 32)


# --- training -------------------------------------------------------------------------------------------------


@pytest.fixture
def landmark_store(tmp_path: Path, face_folder: Path) -> Path:
    from test_landmarks import write_full_parsing

    write_full_parsing(face_folder)
    out = tmp_path / "points.zarr"
    result = runner.invoke(app, ["generate", "randocc", "--n", "6", "--size", "64", "--seed", "5", "--faces",
                                 str(face_folder), "--labels", "landmarks", "--out", str(out), "--shard-size", "3",
                                 "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_store_dataset_crops_change_what_the_model_sees(tmp_path: Path, landmark_store: Path,
                                                        small_recipe: object) -> None:  # fmt: skip
    from occgen.run.generate import generate
    from occgen.store import open_store
    from occgen.train.crops import TRAIN_CROP_STREAM, sample_points
    from occgen.train.data import AugmentConfig, StoreDataset, training_targets

    off = AugmentConfig(enabled=False)
    crops = CropConfig(templates=("arcface_128", "dfl_whole_face"))
    plain = StoreDataset([landmark_store], input_size=64, augment=off)
    cropped = StoreDataset([landmark_store], input_size=64, augment=off, seed=3, crops=crops)
    assert cropped.without_points == 0
    image, label = cropped[(1, 2)]
    assert image.shape == (3, 64, 64) and image.dtype == torch.uint8 and label.shape == (64, 64)
    again = StoreDataset([landmark_store], input_size=64, augment=off, seed=3, crops=crops)[(1, 2)]
    assert torch.equal(image, again[0]) and torch.equal(label, again[1])
    assert not torch.equal(image, plain[(1, 2)][0])
    assert torch.equal(cropped[2][0], plain[2][0])  # no epoch: un-augmented, un-cropped
    # reference: the same draw applied by hand to the stored sample
    reader = open_store(landmark_store)
    params = sample_crop(rng=np.random.default_rng([3, TRAIN_CROP_STREAM, 1, 2]), config=crops, input_size=64)
    sample = reader[2]
    targets = training_targets(sample.image, sample.face_mask, "face")
    expected = apply_crop(targets, sample_points(reader.label("landmarks", 2)), params, input_size=64)
    assert np.array_equal(image.numpy().transpose(1, 2, 0), expected.array("image"))
    assert np.array_equal(label.numpy(), expected.array("label"))
    # BGR: the same framing, channels reversed
    swapped = StoreDataset([landmark_store], input_size=64, augment=off, seed=3,
                           crops=CropConfig(templates=crops.templates, channel_swap_p=1.0))[(1, 2)]  # fmt: skip
    assert torch.equal(swapped[0], image.flip(0)) and torch.equal(swapped[1], label)
    # samples without points are used as they are, and counted
    bare = tmp_path / "bare.zarr"
    generate(small_recipe, bare, n=4, shard_size=4)  # type: ignore[arg-type]
    mixed = StoreDataset([landmark_store, bare], input_size=64, augment=off, seed=3, crops=crops)
    assert mixed.without_points == 4
    assert torch.equal(mixed[(1, 7)][0], plain_of(bare, 1))


def plain_of(store: Path, index: int) -> torch.Tensor:
    from occgen.train.data import AugmentConfig, StoreDataset

    return StoreDataset([store], input_size=64, augment=AugmentConfig(enabled=False))[(1, index)][0]


def test_train_cli_crops_records_the_config(tmp_path: Path, landmark_store: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--data", str(landmark_store), "--out", str(out), "--epochs", "1",
                                 "--batch-size", "3", "--input-size", "64", "--workers", "1", "--no-augment",
                                 "--crops", "ffhq_512:2,arcface_128:1", "--pixel-boost-p", "0.5",
                                 "--channel-swap-p", "0.5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["config"]["crops"] == {"templates": ["ffhq_512", "arcface_128"], "weights": [2.0, 1.0],
                                           "pixel_boost_p": 0.5, "pixel_boost_range_px": [512, 1024],
                                           "channel_swap_p": 0.5}  # fmt: skip
    assert recorded["crops_without_points"] == 0
    result = runner.invoke(app, ["train", "--data", str(landmark_store), "--out", str(tmp_path / "x"),
                                 "--crops", "ffhq_512:x"])  # fmt: skip
    assert result.exit_code == 1 and "weight 'x' of ffhq_512 is not a number" in result.output


# --- evaluation -----------------------------------------------------------------------------------------------


@pytest.fixture
def eval_folder(tmp_path: Path) -> Path:
    """Three faces of different sizes with their masks; two have landmarks files (.txt and .pts), one none."""
    rng = np.random.default_rng(3)
    root = tmp_path / "eval"
    template = get_template("ffhq_512")
    for stem, size, angle in (("a", 90, 10.0), ("b", 70, -20.0), ("c", 80, 0.0)):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        points = rotate_scale_shift(template.points_px(size * 0.8), angle, 1.0, (size * 0.1, size * 0.1))
        mask = np.zeros((size, size), np.uint8)
        cv2.ellipse(mask, (size // 2, size // 2), (size // 3, size // 2 - 4), angle, 0, 360, 255, -1)
        write_rgb(root / "images" / f"{stem}.png", image)
        write_gray(root / "masks" / f"{stem}.png", mask)
        if stem == "a":
            (root / "landmarks").mkdir(parents=True, exist_ok=True)
            (root / "landmarks" / "a.txt").write_text("".join(f"{x} {y}\n" for x, y in points))
        if stem == "b":
            points68 = np.zeros((68, 2))
            points68[36:42], points68[42:48] = points[0], points[1]
            points68[30], points68[48], points68[54] = points[2], points[3], points[4]
            body = "".join(f"{x} {y}\n" for x, y in points68)
            (root / "landmarks" / "b.pts").write_text(f"version: 1\nn_points: 68\n{{\n{body}}}\n")
    return root


def test_evaluate_crops_equals_evaluate_on_pre_cropped_folders(tmp_path: Path, eval_folder: Path) -> None:
    model = build_model(seed=0)
    templates = ("ffhq_512", "arcface_128")
    report = evaluate_crops(model, eval_folder, templates, input_size=32, batch_size=2)
    assert (report.images, report.without_points) == (3, 1)
    assert set(report.results) == set(templates)
    from occgen.train.crops import points_lookup

    lookup = points_lookup(eval_folder)
    for template in templates:
        folder = tmp_path / f"pre_{template}"
        _, items = open_eval_data(eval_folder)
        for number, item in enumerate(items):
            points = lookup(number, item)
            if points is None:
                continue
            crop = crop_item(item, points, template, 32)
            assert crop.image is not None and crop.image.shape == (32, 32, 3) and crop.truth.shape == (32, 32)
            write_rgb(folder / "images" / f"{item.item_id}.png", crop.image)
            write_gray(folder / "masks" / f"{item.item_id}.png", crop.truth.astype(np.uint8) * 255)
        _, pre_items = open_eval_data(folder)
        direct = evaluate_model(model, pre_items, input_size=32, worst_k=0).summary()
        scored = report.results[template].summary()
        assert scored["images"] == direct["images"] == 2
        assert scored["face_iou"] == pytest.approx(direct["face_iou"], abs=1e-12)


def test_evaluate_cli_crops_one_iou_per_template(tmp_path: Path, eval_folder: Path) -> None:
    checkpoint = tmp_path / "model.pt"
    torch.save({"arch": ARCH, "epoch": 0, "config": {"input_size": 32}, "model": build_model(seed=0).state_dict()},
               checkpoint)  # fmt: skip
    out = tmp_path / "report"
    result = runner.invoke(app, ["evaluate", "--model", str(checkpoint), "--data", str(eval_folder), "--out",
                                 str(out), "--fps-iterations", "0", "--crops", "ffhq_512,dfl_whole_face"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["per_crop"]) == ["ffhq_512", "dfl_whole_face"]
    assert summary["crops_without_points"] == 1 and summary["images"] == 3
    for entry in summary["per_crop"].values():
        assert entry["images"] == 2 and entry["side_px"] == 32 and 0.0 <= entry["face_iou"] <= 1.0
    with (out / "per_image.csv").open(newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert rows["c"]["face_iou_ffhq_512"] == "" and rows["a"]["face_iou_dfl_whole_face"] != ""
    result = runner.invoke(app, ["evaluate", "--model", str(checkpoint), "--data", str(eval_folder), "--out",
                                 str(out), "--crops", "ffhq_512:2"])  # fmt: skip
    assert result.exit_code == 1 and "weights apply to training only" in result.output
    result = runner.invoke(app, ["evaluate", "--pred", str(eval_folder / "masks"), "--gt", str(eval_folder),
                                 "--crops", "ffhq_512"])  # fmt: skip
    assert result.exit_code == 1 and "--crops needs --model and --data" in result.output


def test_alignment_matrix_matches_the_template_exactly_for_its_own_points() -> None:
    template = get_template("arcface_128")
    matrix = alignment_matrix(template.points_px(128), template, 256)
    assert np.allclose(matrix, [[2, 0, 0], [0, 2, 0]])


def test_online_samples_are_re_framed_by_their_faces_landmarks(face_folder: Path, small_recipe: object) -> None:
    from test_landmarks import write_full_parsing

    from occgen.train.online import OnlineDataset

    write_full_parsing(face_folder)  # the faces' parsing maps give their landmarks
    crops = CropConfig(templates=("arcface_128",))
    plain = OnlineDataset(small_recipe, 4, input_size=64)  # type: ignore[arg-type]
    cropped = OnlineDataset(small_recipe, 4, input_size=64, crops=crops, seed=2)  # type: ignore[arg-type]
    image, label = cropped[(1, 3)]
    assert image.shape == (3, 64, 64) and label.shape == (64, 64)
    assert torch.equal(image, cropped[(1, 3)][0]) and not torch.equal(image, plain[(1, 3)][0])
    swapped = OnlineDataset(small_recipe, 4, input_size=64, seed=2,  # type: ignore[arg-type]
                            crops=CropConfig(templates=crops.templates, channel_swap_p=1.0))  # fmt: skip
    assert torch.equal(swapped[(1, 3)][0], image.flip(0))
