"""Multi-class training on the parsing label (occgen/train/multiclass.py): loss, metrics, a 2-epoch demo run
and its evaluation listing every class."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.core.imageio import write_png
from occgen.core.labels import PARSING_CLASSES
from occgen.train.config import TrainConfig
from occgen.train.multiclass import class_scores, confusion_matrix, ohem_ce_loss

runner = CliRunner()


def test_confusion_matrix_and_class_scores_reference() -> None:
    truth = np.array([[0, 0, 1, 1], [2, 2, 2, 0]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [2, 2, 0, 0]], np.uint8)
    matrix = confusion_matrix(pred, truth, n_classes=4)
    assert matrix.sum() == 8 and matrix[0, 0] == 2 and matrix[0, 1] == 1 and matrix[2, 0] == 1
    values = class_scores(matrix, ("a", "b", "c", "d"))
    # a: tp 2, union 3 + 3 - 2 = 4; b: tp 2, union 2 + 3 - 2 = 3; c: tp 2, union 3 + 2 - 2 = 3; d: absent
    assert values["per_class_iou"]["a"] == pytest.approx(0.5) and values["per_class_iou"]["b"] == pytest.approx(2 / 3)
    assert math.isnan(values["per_class_iou"]["d"]) and values["miou"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    assert values["pixel_accuracy"] == pytest.approx(6 / 8)
    with pytest.raises(Exception, match="ids outside 0..3"):
        confusion_matrix(pred, truth + 2, n_classes=4)


def test_ohem_ce_keeps_hard_pixels_and_weights() -> None:
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 0] = 10.0  # confidently class 0 everywhere
    target = torch.tensor([[[0, 0], [0, 2]]])
    plain = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    loss = ohem_ce_loss(logits, target, threshold=0.7, min_kept=0)
    assert float(loss) == pytest.approx(float(plain[0, 1, 1]))  # only the wrong pixel is hard
    kept_all = ohem_ce_loss(logits, target, threshold=0.7, min_kept=4)
    assert float(kept_all) == pytest.approx(float(plain.mean()))
    weight = torch.tensor([1.0, 1.0, 3.0])
    weighted = ohem_ce_loss(logits, target, threshold=0.7, min_kept=4, weight=weight)
    expected = (plain[0, 0, 0] + plain[0, 0, 1] + plain[0, 1, 0] + 3 * plain[0, 1, 1]) / 6
    assert float(weighted) == pytest.approx(float(expected))
    with pytest.raises(ConfigError, match="class_weights needs target parsing and 23"):
        TrainConfig(class_weights=(1.0, 2.0))
    with pytest.raises(ConfigError, match="train.target must be face or parsing"):
        TrainConfig(target="depth")


@pytest.mark.slow
def test_two_epoch_parsing_run_and_evaluation_lists_every_class(tmp_path: Path) -> None:
    store = tmp_path / "demo.zarr"
    args = ["generate", "randocc", "--n", "4", "--size", "64", "--workers", "1", "--no-preview",
            "--shard-size", "4", "--out", str(store), "--labels", "parsing"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    plain = tmp_path / "plain.zarr"
    assert runner.invoke(app, [*args[:-4], "--out", str(plain)]).exit_code == 0
    out = tmp_path / "run"
    train = ["train", "--data", str(store), "--out", str(out), "--epochs", "2", "--batch-size", "2",
             "--input-size", "64", "--workers", "1", "--no-augment", "--target", "parsing",
             "--val", str(store)]  # fmt: skip
    result = runner.invoke(app, train)
    assert result.exit_code == 0, result.output
    with (out / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and {"train_miou", "val_miou", "ce"} <= set(rows[0])
    report = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", "--model", str(out / "last.pt"), "--data", str(store),
                                 "--out", str(report)], terminal_width=200)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((report / "summary.json").read_text())
    assert list(summary["per_class_iou"]) == list(PARSING_CLASSES) and summary["images"] == 4
    for name in PARSING_CLASSES:
        assert name in result.output
    # a store without the parsing label is refused with the fix
    bad = runner.invoke(app, [*train[:2], str(plain), "--out", str(tmp_path / "r2"), *train[5:-2]])
    assert bad.exit_code == 1 and "generate it with --labels parsing" in bad.output


def test_evaluate_pred_scores_parsing_maps_per_class(tmp_path: Path) -> None:
    """`evaluate --pred DIR --gt DIR --target parsing`: predicted id maps against truth, per-class IoU."""
    truth_root, pred_dir = tmp_path / "export", tmp_path / "pred"
    truth_a = np.zeros((8, 8), np.uint8)
    truth_a[2:6, 2:6] = 1  # skin
    truth_a[0:2, :] = 20  # a hand
    truth_b = np.full((8, 8), 19, np.uint8)
    pred_a = truth_a.copy()
    pred_a[5, 2:6] = 0  # 4 skin pixels missed -> skin IoU 12/16
    write_png(truth_root / "parsing" / "a.png", truth_a)
    write_png(truth_root / "parsing" / "b.png", truth_b)
    write_png(pred_dir / "a.png", pred_a)
    write_png(pred_dir / "b.png", truth_b)
    out = tmp_path / "report"
    args = ["evaluate", "--pred", str(pred_dir), "--gt", str(truth_root), "--target", "parsing", "--out", str(out)]
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    iou = summary["per_class_iou"]
    assert iou["skin"] == pytest.approx(12 / 16) and iou["occluder_hand"] == 1.0 and iou["face"] == 1.0
    assert iou["background"] == pytest.approx(32 / 36) and iou["nose"] is None  # absent from both: undefined
    assert summary["miou"] == pytest.approx(np.mean([12 / 16, 1.0, 1.0, 32 / 36])) and summary["images"] == 2
    with (out / "per_image.csv").open(newline="") as handle:
        assert [row["id"] for row in csv.DictReader(handle)] == ["a", "b"]
    # a palette image, a missing prediction and a size mismatch are each refused by name
    write_png(pred_dir / "b.png", np.full((8, 8), 200, np.uint8))
    bad = runner.invoke(app, args)
    assert bad.exit_code == 1 and "b.png holds class id 200" in bad.output
    (pred_dir / "b.png").unlink()
    bad = runner.invoke(app, args)
    assert bad.exit_code == 1 and "b needs" in bad.output
    write_png(pred_dir / "b.png", np.zeros((4, 8), np.uint8))
    bad = runner.invoke(app, args)
    assert bad.exit_code == 1 and "8x4 but ground truth" in bad.output


def test_parsing_model_predicts_exports_to_onnx_and_scores_like_evaluate(tmp_path: Path) -> None:
    """train --target parsing -> predict (id maps) -> evaluate --pred equals evaluate --model; the native ONNX
    export outputs the 23 class logits and predicts the same maps."""
    store, export = tmp_path / "demo.zarr", tmp_path / "folder"
    args = ["generate", "randocc", "--n", "4", "--size", "64", "--workers", "1", "--no-preview",
            "--shard-size", "4", "--out", str(store), "--labels", "parsing"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, ["export", str(store), "--out", str(export), "--workers", "1"]).exit_code == 0
    run = tmp_path / "run"
    train = ["train", "--data", str(store), "--out", str(run), "--epochs", "1", "--batch-size", "2",
             "--input-size", "64", "--workers", "1", "--no-augment", "--target", "parsing"]  # fmt: skip
    assert runner.invoke(app, train).exit_code == 0
    checkpoint = run / "last.pt"
    by_model, by_pred, pred = tmp_path / "eval_model", tmp_path / "eval_pred", tmp_path / "pred"
    result = runner.invoke(app, ["evaluate", "--model", str(checkpoint), "--data", str(export), "--out", str(by_model)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["predict", "--model", str(checkpoint), "--src", str(export / "images"),
                                 "--out", str(pred), "--overlay"])  # fmt: skip
    assert result.exit_code == 0, result.output
    maps = sorted(pred.glob("*.png"))
    assert len(maps) == 4 and len(list((pred / "overlay").glob("*.jpg"))) == 4
    first = cv2.imread(str(maps[0]), cv2.IMREAD_UNCHANGED)
    assert first.dtype == np.uint8 and first.shape == (64, 64) and int(first.max()) < len(PARSING_CLASSES)
    result = runner.invoke(app, ["evaluate", "--pred", str(pred), "--gt", str(export), "--target", "parsing",
                                 "--out", str(by_pred)])  # fmt: skip
    assert result.exit_code == 0, result.output
    model_summary = json.loads((by_model / "summary.json").read_text())
    pred_summary = json.loads((by_pred / "summary.json").read_text())
    assert pred_summary["per_class_iou"] == pytest.approx(model_summary["per_class_iou"], nan_ok=True)
    assert pred_summary["miou"] == pytest.approx(model_summary["miou"])

    onnx_path = tmp_path / "parsing.onnx"
    result = runner.invoke(app, ["export-model", str(checkpoint), "--out", str(onnx_path)])
    assert result.exit_code == 0, result.output
    card = json.loads(Path(f"{onnx_path}.card.json").read_text())
    assert card["target"] == "parsing" and card["classes"] == list(PARSING_CLASSES)
    assert card["export"]["contract"]["output"]["shape"] == ["N", len(PARSING_CLASSES), "H", "W"]
    assert card["export"]["check"]["max_abs_diff_vs_torch"] < 1e-3
    onnx_pred = tmp_path / "pred_onnx"
    result = runner.invoke(app, ["predict", "--model", str(onnx_path), "--src", str(export / "images"),
                                 "--out", str(onnx_pred)])  # fmt: skip
    assert result.exit_code == 0, result.output
    for path in maps:
        torch_ids = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        onnx_ids = cv2.imread(str(onnx_pred / path.name), cv2.IMREAD_UNCHANGED)
        assert (torch_ids == onnx_ids).mean() > 0.999
