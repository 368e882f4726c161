"""`occgen evaluate` on FaceOcc's COFW_test layout (img/ + mask/<stem>.png, 255 = visible face)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from _faceocc_fixture import write_faceocc
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import SourceError
from occgen.train.evaluate import open_eval_data
from occgen.train.model import build_model
from occgen.train.trainer import ARCH


def test_cofw_test_pairs_and_truth(tmp_path: Path) -> None:
    root = write_faceocc(tmp_path)
    for path in (root, root / "COFW_test"):  # a FaceOcc root or its COFW_test folder
        count, items = open_eval_data(path)
        first = next(iter(items))
        assert count == 3 and first.item_id == "0" and first.truth.dtype == bool
        assert first.truth[32, 32] and not first.truth[0, 0] and first.image is not None
    (root / "COFW_test" / "mask" / "2.png").unlink()
    try:
        open_eval_data(root)
    except SourceError as error:
        assert "2.jpg: no mask" in str(error) and "mask/2.png" in str(error)
    else:
        raise AssertionError("a COFW image without a mask must fail")


def test_cli_evaluate_on_cofw_test(tmp_path: Path) -> None:
    root = write_faceocc(tmp_path)
    checkpoint = tmp_path / "model.pt"
    torch.save({"arch": ARCH, "epoch": 0, "config": {"input_size": 32}, "model": build_model(seed=0).state_dict()},
               checkpoint)  # fmt: skip
    out = tmp_path / "report"
    args = ["evaluate", "--model", str(checkpoint), "--data", str(root / "COFW_test"), "--out", str(out),
            "--fps-iterations", "0", "--worst", "1"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 3 and 0.0 <= summary["face_iou"] <= 1.0
