"""pipelines/faceocc (its own DVC project) parses and its params validate (it is not run in CI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipelines" / "faceocc"


def _run(args: list[str]) -> str:
    done = subprocess.run(args, cwd=PIPELINE, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_faceocc_pipeline_is_valid() -> None:
    stages = _run(["dvc", "stage", "list"]).split()
    assert {"align", "train", "evaluate"} <= set(stages)
    assert "params.yaml: 5 section(s) valid" in _run([sys.executable, "-m", "occgen", "params", "check"])


def test_faceocc_pipeline_uses_the_authors_numbers() -> None:
    from occgen.settings import load_faceocc_settings, load_train_config

    settings = load_faceocc_settings(PIPELINE / "params.yaml")
    assert settings.faceocc.real_frac == 0.3 and settings.faceocc.internet_weight == 5.0
    assert settings.faceocc.faceocc_dir == PIPELINE / "data" / "FaceOcc"
    train = load_train_config(PIPELINE / "params.yaml")
    assert (train.epochs, train.batch_size, train.lr, train.lr_drop_epoch, train.input_size) == (30, 16, 1e-4, 20, 256)
    assert train.min_kept == 256**2 - 1 and not train.augment.enabled
