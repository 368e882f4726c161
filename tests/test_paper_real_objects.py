"""pipelines/paper's `objects` stage on a small COCO subset (issue 24, the rehearsal on real sources): COCO-MINI
and COCO_Tiny hold 80 images and lack some of the paper's 20 categories, so the stage must name the categories
that gave no object instead of shipping fewer categories unnoticed. Fixture: COCO's own layout
(annotations/instances_*.json + an image folder, tests/_rehearsal.py)."""

import json
from pathlib import Path

from _rehearsal import coco
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.prep.objects.coco import extract_coco
from occgen.prep.objects.coco_select import DEFAULT_CATEGORIES, CocoFilter

LENIENT = {"min_area_px": 0.0, "border_margin_px": 0, "min_solidity": 0.0}  # every fixture instance passes


def subset(tmp_path: Path) -> tuple[Path, list[str]]:
    """A 2-image COCO subset and, read from its JSON, the default categories it holds no instance of."""
    root = coco(tmp_path / "data", images=2, per_image=2)
    instances = json.loads((root / "annotations" / "instances_rehearsal.json").read_text())
    names = {entry["id"]: entry["name"] for entry in instances["categories"]}
    annotated = {names[annotation["category_id"]] for annotation in instances["annotations"]}
    return root, [name for name in DEFAULT_CATEGORIES if name not in annotated]


def test_report_lists_the_requested_categories_that_gave_no_object(tmp_path: Path) -> None:
    root, absent = subset(tmp_path)
    report = extract_coco(root / "annotations" / "instances_rehearsal.json", root / "images", tmp_path / "objects",
                          filters=CocoFilter(**LENIENT))  # type: ignore[arg-type]  # fmt: skip
    assert sum(report.per_category.values()) == 4
    assert report.empty_categories == absent and len(absent) >= 16  # 4 instances cover at most 4 of the 20
    assert not set(report.empty_categories) & set(report.per_category)


def test_cli_warns_with_the_missing_categories(tmp_path: Path) -> None:
    root, absent = subset(tmp_path)
    lenient = ["--min-area", "0", "--border-margin", "0", "--min-solidity", "0"]
    args = ["occluders", "coco", "--annotations", str(root / "annotations" / "instances_rehearsal.json"),
            "--src", str(root / "images"), *lenient]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "objects")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the console wraps long lines
    assert f"warning: {len(absent)} of 20 categories gave no object in instances_rehearsal.json" in text
    assert ", ".join(absent) in text
    present = [name for name in DEFAULT_CATEGORIES if name not in absent]
    chosen = [option for name in present for option in ("--category", name)]
    kept = CliRunner().invoke(app, [*args, *chosen, "--out", str(tmp_path / "present")])
    assert kept.exit_code == 0, kept.output
    assert "gave no object" not in kept.output and "4 objects" in kept.output
