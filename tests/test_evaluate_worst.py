"""`occgen evaluate --model --data STORE --worst K`: the K samples with the lowest face IoU, drawn as image | true
mask | predicted mask and listed with their audit measures beside their IoU (issue 30), checked with a checkpoint
made here whose prediction is known (face everywhere)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.imageio import read_image, write_png
from occgen.run.audit import CSV_NAME, MEASURES, AuditSettings, run_audit
from occgen.store import open_store
from occgen.train.model import build_model
from occgen.train.trainer import ARCH
from occgen.train.worst_cases import LABEL_PX, WORST_SAMPLES_CSV, WORST_SAMPLES_PNG
from tests.test_train_run import demo_store

runner = CliRunner()
N, K, SIZE, TILE = 10, 4, 64, 160


def face_everywhere(path: Path) -> Path:
    """A checkpoint of the real architecture whose head says "face" at every pixel (weights 0, bias +8)."""
    model = build_model(seed=0)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(8.0)
    torch.save({"arch": ARCH, "epoch": 0, "config": {"input_size": 32}, "model": model.state_dict()}, path)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.timeout(180)
def test_worst_samples_sheet_and_audit_csv(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "train.zarr", n=N)
    checkpoint = face_everywhere(tmp_path / "model.pt")
    out = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", "--model", str(checkpoint), "--data", str(store), "--out", str(out),
                                 "--worst", str(K), "--fps-iterations", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "worst samples beside their audit measures" in result.output

    # Predicted face everywhere: a sample's IoU is its visible face over the whole image; the worst have the least.
    dataset = open_store(store)
    samples = [dataset[i] for i in range(N)]
    faces = [int(s.face_mask.sum()) for s in samples]
    order = sorted(range(N), key=lambda i: (faces[i], i))[:K]
    rows = read_csv(out / WORST_SAMPLES_CSV)
    assert [int(r["index"]) for r in rows] == order and [int(r["rank"]) for r in rows] == list(range(1, K + 1))
    for row, index in zip(rows, order, strict=True):
        assert float(row["face_iou"]) == pytest.approx(faces[index] / SIZE**2, rel=1e-5)
        assert float(row["face_recall"]) == 1.0 and int(row["missed_face_px"]) == 0
        assert int(row["false_face_px"]) == SIZE**2 - faces[index]
        assert row["sample_id"] == samples[index].metadata["sample_id"]

    # The audit columns are `occgen audit`'s row of the same sample.
    run_audit(store, tmp_path / "audit", AuditSettings())
    audited = {r["sample_id"]: r for r in read_csv(tmp_path / "audit" / CSV_NAME)}
    for row in rows:
        for name in (*(m.name for m in MEASURES), "face_id", "occluder_ids", "occluder_px"):
            assert row[name] == audited[row["sample_id"]][name], name
    assert any(row["hole_frac"] != "" for row in rows)

    # The sheet: one strip per sample, worst first: image | true face | predicted face (all white here).
    sheet = read_image(out / WORST_SAMPLES_PNG)
    assert sheet.shape == (K * (LABEL_PX + TILE), 3 * TILE, 3)
    for k, index in enumerate(order):
        top = k * (LABEL_PX + TILE) + LABEL_PX
        image, truth, pred = (sheet[top : top + TILE, j * TILE : (j + 1) * TILE] for j in range(3))
        expected = cv2.resize(samples[index].image, (TILE, TILE), interpolation=cv2.INTER_AREA)
        assert np.array_equal(image, expected)
        mask = cv2.resize(samples[index].face_mask.astype(np.uint8) * 255, (TILE, TILE),
                          interpolation=cv2.INTER_NEAREST)  # fmt: skip
        assert np.array_equal(truth[:, :, 0], mask) and (pred == 255).all()
    assert read_image(out / "worst.png").shape[0] == K * TILE  # the usual sheet is still written


def test_no_worst_samples_for_a_folder_or_worst_zero(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "s.zarr", n=3)
    checkpoint = face_everywhere(tmp_path / "model.pt")
    out = tmp_path / "none"
    result = runner.invoke(app, ["evaluate", "--model", str(checkpoint), "--data", str(store), "--out", str(out),
                                 "--worst", "0", "--fps-iterations", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (out / WORST_SAMPLES_CSV).exists() and not (out / WORST_SAMPLES_PNG).exists()
    folder = tmp_path / "folder"
    sample = open_store(store)[0]
    write_png(folder / "images" / "a.png", sample.image)
    write_png(folder / "masks" / "a.png", sample.face_mask.astype(np.uint8) * 255)
    result = runner.invoke(app, ["evaluate", "--model", str(checkpoint), "--data", str(folder), "--out",
                                 str(tmp_path / "f"), "--worst", "2", "--fps-iterations", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "f" / "worst.png").is_file() and not (tmp_path / "f" / WORST_SAMPLES_CSV).exists()
