"""`occgen table` end to end on the embedded demo at a tiny budget (issue 24): one row per condition and
evaluation set, numbers equal to `occgen evaluate` run alone on the same checkpoint, a report that states the
budget, and a second run that reuses every finished condition."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.cli.table import condition_counts, parse_conditions, parse_eval
from occgen.core.errors import ConfigError
from occgen.core.imageio import read_image, write_png
from occgen.store import open_store
from occgen.train.table import training_subset
from tests.test_train_run import demo_store

runner = CliRunner()
CONDITIONS = ["c-wo", "c-wo+natocc", "c-wo+randocc", "c-wo+both", "natocc"]


def eval_folder(tmp_path: Path) -> Path:
    """A held-out folder in the plain layout (images/ + masks/): RandOcc samples of another seed."""
    store = open_store(demo_store(tmp_path / "held_out.zarr", n=3))
    root = tmp_path / "occluded"
    for index in range(len(store)):
        sample = store[index]
        write_png(root / "images" / f"face{index}.png", sample.image)
        write_png(root / "masks" / f"face{index}.png", sample.face_mask.astype("uint8") * 255)
    return root


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_condition_names_eval_sets_and_equal_sizes() -> None:
    assert parse_eval("realocc=/data/RealOcc") == ("realocc", Path("/data/RealOcc"))
    with pytest.raises(ConfigError, match="expected NAME=DIR"):
        parse_eval("../x=/data")
    with pytest.raises(ConfigError, match="unknown nope; valid: c-wo, .*, natocc"):
        parse_conditions("c-wo,nope")
    assert condition_counts("c-wo+both", 10) == [("faces", 5), ("natocc", 2), ("randocc", 3)]
    assert condition_counts("natocc", 10) == [("natocc", 10)]  # NatOcc samples alone, no clean faces
    first = training_subset([6, 4], 5, seed=0)
    assert sum(map(len, first)) == 5 and all(i < 6 for i in first[0]) and all(i < 4 for i in first[1])
    assert training_subset([6, 4], 5, seed=0) == first and training_subset([6, 4], 50, seed=0) == [list(range(6)),
                                                                                               list(range(4))]
    assert all(sum(c for _, c in condition_counts(name, 9)) == 9 for name in CONDITIONS)


@pytest.mark.timeout(600)  # five conditions trained, scored and resumed; ~290 s niced on a busy 2-core machine
def test_table_end_to_end_on_the_demo_then_resumed(tmp_path: Path) -> None:
    held_out = eval_folder(tmp_path)
    out = tmp_path / "table"
    args = ["table", "--eval", f"occluded={held_out}", "--eval", f"store={tmp_path / 'held_out.zarr'}", "--out",
            str(out), "--size", "64", "--steps", "2", "--batch-size", "2", "--samples", "4", "--workers", "1",
            "--log-every", "1", "--conditions", ",".join(CONDITIONS), "--train-eval-samples", "3"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_rows(out / "table.csv")
    assert [(r["condition"], r["eval"]) for r in rows] == [(c, e) for c in CONDITIONS for e in ("occluded", "store")]
    assert all(r["steps"] == "2" and r["images"] == "3" and 0.0 <= float(r["face_iou"]) <= 1.0 for r in rows)
    for condition in CONDITIONS:  # every condition trained on a mix of the same size from the same faces
        mix = open_store(out / "data" / f"{condition}.mix.zarr")
        assert len(mix) == 4
        parts = [Path(str(source["path"])).name for source in mix.card["sources"]]
        assert (parts == ["natocc.zarr"]) if condition == "natocc" else (parts[0] == "faces.zarr")
    # Each condition's training face IoU: the same 3 of its own 4 training samples, scored like `occgen evaluate`.
    assert all(r["train_images"] == "3" and 0.0 <= float(r["train_face_iou"]) <= 1.0 for r in rows)
    natocc_mix = out / "data" / "natocc.mix.zarr"
    picked = training_subset([4], 3, seed=0)[0]
    assert {r["condition"] for r in rows if r["train_face_iou"]} == set(CONDITIONS)
    assert result.output.count("scoring 3 of its 4 training samples") == len(CONDITIONS)

    # The same checkpoint scored by `occgen evaluate` alone gives the table's numbers.
    alone = tmp_path / "alone"
    result = runner.invoke(app, ["evaluate", "--model", str(out / "runs" / "c-wo+natocc" / "last.pt"), "--data",
                                 str(held_out), "--out", str(alone), "--fps-iterations", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((alone / "summary.json").read_text())
    row = next(r for r in rows if (r["condition"], r["eval"]) == ("c-wo+natocc", "occluded"))
    assert float(row["face_iou"]) == summary["face_iou"]
    assert float(row["face_iou_per_image_mean"]) == summary["face_iou_per_image_mean"]
    assert float(row["miou"]) == summary["miou"]
    assert float(row["face_recall"]) == summary["face_recall"]
    tones = summary["by_skin_tone"]  # the held-out images have faces: at least one ITA group
    result = runner.invoke(app, ["evaluate", "--model", str(out / "runs" / "natocc" / "last.pt"), "--data",
                                 str(natocc_mix), "--out", str(tmp_path / "fit"), "--fps-iterations", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with (tmp_path / "fit" / "per_image.csv").open(newline="") as handle:
        per_image = [r for k, r in enumerate(csv.DictReader(handle)) if k in picked]
    tp, fp, fn = (sum(int(r[key]) for r in per_image) for key in ("tp", "fp", "fn"))
    row = next(r for r in rows if r["condition"] == "natocc")
    # (the table scored those 3 in one batch, evaluate all 4: a logit within float noise of 0 may flip a pixel)
    assert float(row["train_face_iou"]) == pytest.approx(tp / (tp + fp + fn), abs=2e-3)

    report = (out / "report.md").read_text()
    assert "| c-wo+randocc | store | 3 |" in report and "Training face IoU: the model at the end" in report
    assert "Pretrained encoder: no (random initialisation)" in report
    assert "A small CPU budget is small." in report and "2 optimizer steps x batch 2" in report
    assert "occgen table --eval=occluded=" in report
    assert "## By skin tone" in report and tones
    for group, values in tones.items():
        assert f"| c-wo+natocc | occluded | {group} | {values['images']} | {values['face_iou']:.4f} |" in report
    assert read_image(out / "curves.png").shape[2] == 3
    for condition in CONDITIONS:
        assert (out / "runs" / condition / "eval" / "occluded" / "worst.png").is_file()
        assert f"runs/{condition}/eval/occluded/worst.png" in report

    # A second run reuses every finished condition: no training, the same numbers.
    stamps = {c: (out / "runs" / c / "last.pt").stat().st_mtime_ns for c in CONDITIONS}
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.count("trained already (2 steps") == 5 and "step 1/2" not in result.output
    assert "scoring 3 of its 4 training samples" not in result.output  # the training scores are reused too
    assert {c: (out / "runs" / c / "last.pt").stat().st_mtime_ns for c in CONDITIONS} == stamps
    assert read_rows(out / "table.csv") == rows

    # Other settings into the same --out: refused in one line, the finished run left alone.
    result = runner.invoke(app, [*args, "--lr", "0.5", "--conditions", "c-wo"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "holds condition c-wo trained on other inputs or settings" in errors[0]
    assert (out / "runs" / "c-wo" / "last.pt").stat().st_mtime_ns == stamps["c-wo"]
