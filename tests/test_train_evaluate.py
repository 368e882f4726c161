"""`occgen evaluate`: --pred/--gt scoring, folder datasets at their own sizes, reports and errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_gray, write_rgb
from test_sources_faces import make_celeba
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import SourceError
from occgen.core.imageio import read_image
from occgen.train.evaluate import evaluate_model, evaluate_predictions, measure_fps, open_eval_data, predict_batch
from occgen.train.model import build_model
from occgen.train.trainer import ARCH

runner = CliRunner()


def square_mask(height: int, width: int, box: tuple[int, int, int, int], value: int = 255) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    top, left, bottom, right = box
    mask[top:bottom, left:right] = value
    return mask


@pytest.fixture
def pred_gt(tmp_path: Path) -> tuple[Path, Path]:
    """Three 8x10 masks. a: perfect (gt 0/1); b: half the face found (gt 0/255, pred grey 200);
    c: no face, two false-positive pixels."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_gray(gt / "a.png", square_mask(8, 10, (2, 2, 6, 6), value=1))
    write_gray(pred / "a.png", square_mask(8, 10, (2, 2, 6, 6)))
    write_gray(gt / "b.png", square_mask(8, 10, (0, 0, 4, 4)))
    write_gray(pred / "b.png", square_mask(8, 10, (0, 0, 2, 4), value=200))
    write_gray(gt / "c.png", np.zeros((8, 10), np.uint8))
    write_gray(pred / "c.png", square_mask(8, 10, (7, 8, 8, 10), value=1))
    return pred, gt


def test_pred_vs_gt_hand_computed(tmp_path: Path, pred_gt: tuple[Path, Path]) -> None:
    pred, gt = pred_gt
    out = tmp_path / "report"
    params = tmp_path / "params.yaml"
    params.write_text("evaluate: {worst: 3, threshold: 0.5}\n")
    result = runner.invoke(app, ["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(out), "--params",
                                 str(params)])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    # Totals: tp 16 + 8, fp 2, fn 8; 240 pixels.
    assert summary["images"] == 3
    assert summary["face_iou"] == pytest.approx(24 / 34)
    assert summary["background_iou"] == pytest.approx(206 / 216)
    assert summary["pixel_accuracy"] == pytest.approx(230 / 240)
    assert summary["face_recall"] == pytest.approx(24 / 32)
    assert summary["fwiou"] == pytest.approx(32 / 240 * 24 / 34 + 208 / 240 * 206 / 216)
    with (out / "per_image.csv").open(newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert float(rows["a"]["face_iou"]) == 1.0 and float(rows["b"]["face_iou"]) == 0.5
    assert float(rows["c"]["face_iou"]) == 0.0 and rows["c"]["face_recall"] == ""  # undefined: empty cell
    sheet = read_image(out / "worst.png")
    assert sheet.shape == (3 * 160, 2 * 160, 3)
    # The worst case (c, IoU 0) comes first: its false positives are red in the overlay's bottom-right corner.
    assert tuple(sheet[158, 318]) == (176, 48, 48)  # grey 96 blended half with red: 175.5 rounds up


def test_threshold_and_gt_root_with_masks_folder(tmp_path: Path, pred_gt: tuple[Path, Path]) -> None:
    pred, gt = pred_gt
    root = tmp_path / "dataset"
    root.mkdir()
    gt.rename(root / "masks")
    result = evaluate_predictions(pred, root, threshold=0.9, worst_k=0)  # grey 200 < 0.9 * 255: b finds nothing
    rows = {row["id"]: row for row in result.rows}
    assert rows["b"]["tp"] == 0 and rows["a"]["tp"] == 16 and not result.worst


def test_pred_errors_name_the_files(tmp_path: Path, pred_gt: tuple[Path, Path]) -> None:
    pred, gt = pred_gt
    write_gray(pred / "b.png", np.zeros((9, 10), np.uint8))
    with pytest.raises(SourceError, match=r"prediction .*b\.png is 10x9 but ground truth .*b\.png is 10x8"):
        evaluate_predictions(pred, gt)
    with pytest.raises(SourceError, match="images folder not found"):
        evaluate_predictions(pred, gt, images_dir=tmp_path / "nowhere")
    (pred / "b.png").unlink()
    with pytest.raises(SourceError, match=r"have no prediction .*\(e\.g\. b needs"):
        evaluate_predictions(pred, gt)
    write_gray(pred / "b.png", np.zeros((8, 10), np.uint8))
    write_gray(gt / "a.png", np.full((8, 10), 7, np.uint8))
    result = runner.invoke(app, ["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "a.png: a mask must hold 0/1 or 0/255" in result.output
    result = runner.invoke(app, ["evaluate", "--pred", str(pred), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "--pred needs --gt" in result.output
    result = runner.invoke(app, ["evaluate", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "pass either --model" in result.output
    params = tmp_path / "params.yaml"
    params.write_text("evaluate: {dtype: fp16}\n")
    result = runner.invoke(app, ["evaluate", "--pred", str(pred), "--gt", str(gt), "--params", str(params)])
    assert result.exit_code == 1 and "evaluate.dtype must be one of fp32, bf16, got 'fp16'" in result.output


def face_dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for stem, (height, width) in {"wide": (40, 72), "tall": (50, 30)}.items():
        write_rgb(root / "images" / f"{stem}.png", rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        write_gray(root / "masks" / f"{stem}.png", square_mask(height, width, (5, 5, 20, 20)))
    return root


def test_model_on_a_folder_scores_at_each_images_own_size(tmp_path: Path) -> None:
    root = face_dataset(tmp_path / "real")
    count, items = open_eval_data(root)
    model = build_model(seed=0)
    result = evaluate_model(model, items, input_size=32, batch_size=2, worst_k=1)
    assert count == 2 and {(r["id"], r["width"], r["height"]) for r in result.rows} == {("wide", 72, 40),
                                                                                     ("tall", 30, 50)}  # fmt: skip
    assert result.total.total == 40 * 72 + 50 * 30 and len(result.worst) == 1
    masks = predict_batch(model.eval(), [np.zeros((50, 30, 3), np.uint8)], input_size=32, device=torch.device("cpu"))
    assert masks[0].shape == (50, 30) and masks[0].dtype == bool
    bf16 = predict_batch(model, [np.zeros((32, 32, 3), np.uint8)], input_size=32, device=torch.device("cpu"),
                         dtype="bf16", channels_last=True)  # fmt: skip
    assert bf16[0].shape == (32, 32)


def test_cli_model_on_folder_with_fps_record(tmp_path: Path) -> None:
    root = face_dataset(tmp_path / "real")
    checkpoint = tmp_path / "model.pt"
    torch.save({"arch": ARCH, "epoch": 0, "config": {"input_size": 32}, "model": build_model(seed=0).state_dict()},
               checkpoint)  # fmt: skip
    out = tmp_path / "report"
    result = runner.invoke(app, ["evaluate", "--model", str(checkpoint), "--data", str(root), "--out", str(out),
                                 "--dtype", "bf16", "--channels-last", "--batch-size", "2",
                                 "--fps-iterations", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 2 and summary["input_size"] == 32
    speed = summary["speed"]
    assert (speed["batch"], speed["input_size"], speed["device"], speed["dtype"], speed["channels_last"]) == (
        2, 32, "cpu", "bf16", True)  # fmt: skip
    write_gray(root / "masks" / "tall.png", np.zeros((10, 10), np.uint8))
    result = runner.invoke(app, ["evaluate", "--model", str(checkpoint), "--data", str(root), "--out", str(out)])
    assert result.exit_code == 1 and "tall.png is 10x10 but image" in result.output and "tall.png is 30x50" in (
        result.output)  # fmt: skip
    torch.save({"weights": 1}, tmp_path / "other.pt")
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "other.pt"), "--data", str(root)])
    assert result.exit_code == 1 and "is not an occgen checkpoint" in result.output


def test_measure_fps_records_settings() -> None:
    speed = measure_fps(build_model(seed=0), input_size=32, batch_size=2, device=torch.device("cpu"), iterations=1,
                        warmup=0)  # fmt: skip
    assert speed["fps"] > 0 and speed["iterations"] == 1 and speed["threads"] >= 1


def test_celebamask_hq_split_is_scored_at_annotation_size(tmp_path: Path) -> None:
    root = make_celeba(tmp_path / "celeba", [3, 2001, 7])
    split = tmp_path / "test.txt"
    split.write_text("2001\n7\n")
    count, items = open_eval_data(root, split=split)
    listed = list(items)
    assert count == 2 and [item.item_id for item in listed] == ["2001", "7"]
    assert listed[0].image.shape == (64, 64, 3) and listed[0].truth.shape == (64, 64)
    assert not listed[0].truth[:14].any() and listed[0].truth[32, 32]  # hair removed, face kept
