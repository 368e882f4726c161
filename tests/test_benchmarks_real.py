"""`occgen evaluate --benchmark NAME`: each real-occlusion benchmark read from a fixture written in its released
layout (masks checked pixel by pixel), the per-occluder and per-face-size scores, and the CLI end to end."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import write_gray, write_rgb
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, SourceError
from occgen.train.benchmarks import BENCHMARKS, open_benchmark
from occgen.train.evaluate import EvalItem, EvalResult, evaluate_model
from occgen.train.metrics import face_size_bin, face_size_bins
from occgen.train.model import build_model
from occgen.train.trainer import ARCH

runner = CliRunner()
RNG = np.random.default_rng(24)


def face_box(height: int, width: int, box: tuple[int, int, int, int], value: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    top, left, bottom, right = box
    mask[top:bottom, left:right] = value
    return mask


def make_realocc(root: Path, ids: list[str], split: list[str] | None) -> Path:
    """RealOcc as released: image/<id>.jpg, mask/<id>.png holding 0/1, split/val.txt."""
    for n, item in enumerate(ids):
        write_rgb(root / "image" / f"{item}.jpg", RNG.integers(0, 256, (40, 48, 3), dtype=np.uint8))
        write_gray(root / "mask" / f"{item}.png", face_box(40, 48, (4 + n, 6, 30, 40), 1))
    if split is not None:
        (root / "split").mkdir(parents=True)
        (root / "split" / "val.txt").write_text("".join(f"{item}\n" for item in split))
    return root


def test_realocc_reads_the_split_and_its_0_1_masks(tmp_path: Path) -> None:
    root = make_realocc(tmp_path / "data" / "RealOcc", ["0001", "0002", "0003"], split=["0003", "0001"])
    for given in (root, root.parent):  # the folder itself, or the folder holding RealOcc/
        count, items = open_benchmark("realocc", given)
        listed = list(items)
        assert count == 2 and [item.item_id for item in listed] == ["0003", "0001"]
        expected = face_box(40, 48, (6, 6, 30, 40), 1).astype(bool)  # 0003 is the third: top 4 + 2
        assert listed[0].truth.dtype == bool and np.array_equal(listed[0].truth, expected)
        assert listed[0].image.shape == (40, 48, 3) and listed[0].occluder == ""
    (root / "split" / "val.txt").unlink()
    assert open_benchmark("RealOcc", root)[0] == 3  # no split: every image; the name is case-blind


def write_palette_mask(path: Path, indices: np.ndarray) -> None:
    """A palette PNG as MMSegmentation writes annotations: index 0 black background, 1 (128, 0, 0) face."""
    from PIL import Image

    image = Image.fromarray(indices, mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0] + [0, 0, 0] * 254)
    image.save(path)


def test_realocc_palette_masks_are_read_as_indices(tmp_path: Path) -> None:
    root = make_realocc(tmp_path / "RealOcc", ["0001"], split=None)
    indices = face_box(40, 48, (10, 12, 30, 36), 1)
    write_palette_mask(root / "mask" / "0001.png", indices)
    (item,) = list(open_benchmark("realocc", root)[1])
    assert np.array_equal(item.truth, indices == 1)  # not the palette colour (128 would not be a 0/1 value)
    write_palette_mask(root / "mask" / "0001.png", indices * 2)
    with pytest.raises(SourceError, match=r"0001\.png: a mask must hold 0/1 or 0/255, found values \[0, 2\]"):
        list(open_benchmark("realocc", root)[1])


def test_realocc_wild_and_layout_errors(tmp_path: Path) -> None:
    wild = make_realocc(tmp_path / "RealOcc-Wild", ["a", "b"], split=["b"])
    assert open_benchmark("realocc-wild", tmp_path)[0] == 1
    (wild / "mask" / "b.png").unlink()
    with pytest.raises(SourceError, match=r"b\.jpg: no mask .*mask/b\.png"):
        open_benchmark("realocc-wild", wild)
    (wild / "split" / "val.txt").write_text("zz\n")
    with pytest.raises(SourceError, match=r"val\.txt lists 1 id\(s\) with no image .* \(e\.g\. zz\)"):
        open_benchmark("realocc-wild", wild)
    with pytest.raises(SourceError, match=r"not a RealOcc folder; expected image/<id>\.jpg, mask/<id>\.png"):
        open_benchmark("realocc", tmp_path / "RealOcc-Wild" / "image")
    with pytest.raises(ConfigError, match="unknown benchmark 'realoc'; valid: realocc, realocc-wild, cofw"):
        open_benchmark("realoc", wild)
    with pytest.raises(SourceError, match="realocc data not found"):
        open_benchmark("realocc", tmp_path / "missing")


def test_cofw_reads_faceoccs_cofw_test(tmp_path: Path) -> None:
    root = tmp_path / "FaceOcc" / "COFW_test"
    write_rgb(root / "img" / "7.jpg", RNG.integers(0, 256, (30, 20, 3), dtype=np.uint8))
    write_gray(root / "mask" / "7.png", face_box(30, 20, (3, 2, 25, 18), 255))
    count, items = open_benchmark("cofw", tmp_path / "FaceOcc")
    (item,) = list(items)
    assert count == 1 and item.item_id == "7" and np.array_equal(item.truth, face_box(30, 20, (3, 2, 25, 18), 1) > 0)
    with pytest.raises(SourceError, match=r"not a COFW_test folder; expected img/<stem>\.\* \+ mask/<stem>\.png"):
        open_benchmark("cofw", tmp_path)


def make_maskedface(root: Path) -> Path:
    """MaskedFace-Net segmentation as released: testing/{CWM,IWM}/images/<id>.jpg + masks/<id>_gt.png, colour
    labels (RGB): black background, (128, 0, 0) face, (0, 128, 0) face mask."""
    for kind, stem, mask_top in (("CWM", "03042", 20), ("IWM", "07045", 30)):
        write_rgb(root / "testing" / kind / "images" / f"{stem}.jpg", RNG.integers(0, 256, (48, 48, 3), np.uint8))
        labels = np.zeros((48, 48, 3), np.uint8)
        labels[8:40, 10:38] = (128, 0, 0)
        labels[mask_top:40, 10:38] = (0, 128, 0)
        write_rgb(root / "testing" / kind / "masks" / f"{stem}_gt.png", labels)
    write_rgb(root / "training" / "CWM" / "images" / "00001.jpg", np.zeros((48, 48, 3), np.uint8))
    return root


def test_maskedface_net_face_and_occluder_type(tmp_path: Path) -> None:
    root = make_maskedface(tmp_path / "MaskedFaceSegmentation-Dataset")
    count, items = open_benchmark("maskedface-net", root)
    listed = list(items)
    assert count == 2 and [(i.item_id, i.occluder) for i in listed] == [("CWM/03042", "CWM"), ("IWM/07045", "IWM")]
    expected = np.zeros((48, 48), bool)
    expected[8:20, 10:38] = True  # the face above the correctly worn mask
    assert np.array_equal(listed[0].truth, expected)
    assert int(listed[1].truth.sum()) == (30 - 8) * 28
    labels = cv2.imread(str(root / "testing" / "IWM" / "masks" / "07045_gt.png"))
    labels[0, 0] = (9, 9, 9)
    cv2.imwrite(str(root / "testing" / "IWM" / "masks" / "07045_gt.png"), labels)
    with pytest.raises(SourceError, match=r"07045_gt\.png: colour \[9, 9, 9\] is none of background"):
        list(open_benchmark("maskedface-net", root)[1])
    (root / "testing" / "CWM" / "masks" / "03042_gt.png").unlink()
    with pytest.raises(SourceError, match=r"03042\.jpg: no mask .*03042_gt\.png"):
        open_benchmark("maskedface-net", root)


def test_faceocc_real_occlusions_from_ffhq_and_label_pickles(tmp_path: Path) -> None:
    root = tmp_path / "FaceOcc"
    labels = np.zeros((32, 32), np.uint8)
    labels[4:28, 6:26] = 1  # skin
    labels[10:13, 8:24] = 4  # eyeglasses: face for FaceOcc's real images
    labels[0:4, :] = 11  # hair
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3] = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    rgba[20:32, 0:16, 3] = 255  # a hand over the lower left
    (root / "ffhq").mkdir(parents=True)
    cv2.imwrite(str(root / "ffhq" / "00017.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    (root / "ffhqMask").mkdir()
    (root / "ffhqMask" / "00017.pkl").write_bytes(pickle.dumps(labels))
    count, items = open_benchmark("faceocc", root)
    (item,) = list(items)
    expected = np.zeros((32, 32), bool)
    expected[4:28, 6:26] = True
    expected[20:32, 0:16] = False
    assert count == 1 and np.array_equal(item.truth, expected) and item.image.shape == (32, 32, 3)
    (root / "ffhqMask" / "00017.pkl").unlink()
    with pytest.raises(SourceError, match=r"00017\.png: no label map .*00017\.pkl"):
        open_benchmark("faceocc", root)


def test_face_size_bins_and_grouped_scores() -> None:
    assert [face_size_bin(s) for s in (0.0, 10.0, 63.9, 64.0, 127.0, 128.0, 256.0, 900.0)] == [
        "no face", "<64px", "<64px", "64-128px", "64-128px", "128-256px", ">=256px", ">=256px"]  # fmt: skip
    assert face_size_bins() == ("<64px", "64-128px", "128-256px", ">=256px", "no face")
    result = EvalResult()
    small = np.zeros((100, 100), bool)
    small[10:20, 10:20] = True  # 10 px face
    large = np.zeros((100, 100), bool)
    large[:80, :90] = True  # sqrt(7200) = 84.9 px face
    result.add(EvalItem("s", small, None, "s", "hand"), small, worst_k=0, tile_px=8)
    result.add(EvalItem("l", large, None, "l", "object"), np.zeros((100, 100), bool), worst_k=0, tile_px=8)
    summary = result.summary()
    assert summary["by_face_size"] == {
        "<64px": {"images": 1, "face_iou": 1.0, "face_recall": 1.0, "miou": 1.0, "fwiou": 1.0,
                  "face_boundary_iou": 1.0, "face_iou_per_image_mean": 1.0},
        "64-128px": {"images": 1, "face_iou": 0.0, "face_recall": 0.0, "miou": pytest.approx(2800 / 10000 / 2),
                     "fwiou": pytest.approx(0.28 * 0.28), "face_boundary_iou": 0.0, "face_iou_per_image_mean": 0.0},
    }  # fmt: skip
    assert list(summary["by_occluder"]) == ["hand", "object"] and summary["by_occluder"]["hand"]["images"] == 1
    assert summary["face_iou"] == pytest.approx(100 / 7300)
    assert summary["face_boundary_iou_per_image_mean"] == pytest.approx(0.5)
    assert [row["face_size"] for row in result.rows] == ["<64px", "64-128px"]
    assert result.rows[1]["face_size_px"] == pytest.approx(84.9)


def test_model_on_a_benchmark(tmp_path: Path) -> None:
    root = make_maskedface(tmp_path / "mfn")
    count, items = open_benchmark("maskedface-net", root)
    result = evaluate_model(build_model(seed=0), items, input_size=32, batch_size=2, worst_k=1)
    assert count == 2 and sorted(result.summary()["by_occluder"]) == ["CWM", "IWM"]


def test_cli_evaluate_with_benchmark(tmp_path: Path) -> None:
    root = make_maskedface(tmp_path / "mfn")
    checkpoint = tmp_path / "model.pt"
    torch.save({"arch": ARCH, "epoch": 0, "config": {"input_size": 32}, "model": build_model(seed=0).state_dict()},
               checkpoint)  # fmt: skip
    out = tmp_path / "report"
    args = ["evaluate", "--model", str(checkpoint), "--data", str(root), "--out", str(out), "--fps-iterations", "0"]
    result = runner.invoke(app, [*args, "--benchmark", "maskedface-net"])
    assert result.exit_code == 0, result.output
    assert "face Boundary IoU" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["benchmark"] == "maskedface-net" and summary["images"] == 2
    assert set(summary["by_occluder"]) == {"CWM", "IWM"} and summary["boundary_dilation_frac"] == 0.02
    assert summary["by_face_size"] and "face_boundary_iou" in summary
    with (out / "per_image.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["id"], r["occluder"], r["face_size"]) for r in rows] == [("CWM/03042", "CWM", "<64px"),
                                                                         ("IWM/07045", "IWM", "<64px")]  # fmt: skip
    assert all(0.0 <= float(r["face_boundary_iou"]) <= 1.0 for r in rows if r["face_boundary_iou"])
    result = runner.invoke(app, [*args, "--benchmark", "realocc"])
    assert result.exit_code == 1 and "not a RealOcc folder; expected image/<id>.jpg" in result.output
    help_text = " ".join(runner.invoke(app, ["evaluate", "--help"]).output.split())
    assert all(name in help_text for name in BENCHMARKS)  # the option's help lists every benchmark
    result = runner.invoke(app, [*args, "--benchmark", "nope"])
    assert result.exit_code == 1 and f"valid: {', '.join(BENCHMARKS)}" in " ".join(result.output.split())
    result = runner.invoke(app, ["evaluate", "--pred", str(root), "--gt", str(root), "--benchmark", "cofw"])
    assert result.exit_code == 1 and "--benchmark NAME reads face masks from --data DIR" in result.output


def test_cli_scores_another_models_masks_on_a_benchmark(tmp_path: Path) -> None:
    root = make_maskedface(tmp_path / "mfn")
    pred = tmp_path / "pred"
    truth = {item.item_id: item.truth for item in open_benchmark("maskedface-net", root)[1]}
    write_gray(pred / "CWM" / "03042.png", truth["CWM/03042"].astype(np.uint8) * 255)  # perfect
    write_gray(pred / "IWM" / "07045.png", np.zeros((48, 48), np.uint8))  # nothing found
    out = tmp_path / "report"
    args = ["evaluate", "--pred", str(pred), "--benchmark", "maskedface-net", "--data", str(root), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["by_occluder"]["CWM"]["face_iou"] == 1.0 and summary["by_occluder"]["IWM"]["face_iou"] == 0.0
    assert summary["by_occluder"]["CWM"]["face_boundary_iou"] == 1.0 and summary["benchmark"] == "maskedface-net"
    assert summary["face_iou"] == pytest.approx(12 * 28 / (12 * 28 + 22 * 28))
    (pred / "IWM" / "07045.png").unlink()
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "07045.jpg: no prediction" in result.output and "IWM/07045.png" in result.output
    write_gray(pred / "IWM" / "07045.png", np.zeros((40, 48), np.uint8))
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "is 48x40 but" in result.output and "no silent resize" in result.output
