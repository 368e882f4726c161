"""dvclive vs occgen's own metrics writers for the training stage (issue 11: keep what serves users better).

    pip install dvclive   # not an occgen dependency (the finding: docs/training.md, "dvclive?")
    python benchmarks/bench_dvclive.py [--epochs 30]

Logs the same per-epoch rows (the columns `occgen train` writes with --val) three ways and reports: the
import cost of each writer (fresh interpreter, median of 3), the time to log one epoch, the files each
writes and their size, what happens on resume after an interrupted epoch, and how a NaN metric (an
undefined IoU) is stored. Not a test: run it in a scratch folder; it writes only below a temp dir.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from occgen.train.trainer import METRICS_CSV, METRICS_JSON, _json_ready, _read_rows, _write_rows

# The columns of one `occgen train --val` row (occgen/train/trainer.py, occgen/train/metrics.py).
SCORES = ("face_iou", "background_iou", "miou", "fwiou", "pixel_accuracy", "face_recall", "dice")
COLUMNS = (
    "lr", "loss", "bce", *(f"train_{s}" for s in SCORES), "seconds", "images_per_s", *(f"val_{s}" for s in SCORES),
)  # fmt: skip


def fake_row(epoch: int, rng: np.random.Generator) -> dict[str, float | int]:
    row: dict[str, float | int] = {"epoch": epoch}
    row.update({name: float(rng.uniform(0, 1)) for name in COLUMNS})
    return row


def import_seconds(statement: str, repeats: int = 3) -> float:
    """Median wall time of a fresh interpreter running ``statement`` minus one running ``pass``."""

    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
        return time.perf_counter() - start

    base = statistics.median(run("pass") for _ in range(repeats))
    return statistics.median(run(statement) for _ in range(repeats)) - base


def log_handwritten(out: Path, rows: list[dict]) -> None:
    """What occgen/train/trainer.py does after each epoch: rewrite metrics.csv, write metrics.json."""
    written: list[dict] = [r for r in _read_rows(out / METRICS_CSV) if int(r["epoch"]) < rows[0]["epoch"]]
    for row in rows:
        written.append(row)
        _write_rows(out / METRICS_CSV, written)
        (out / METRICS_JSON).write_text(json.dumps(_json_ready(row), indent=2))


def log_dvclive(out: Path, rows: list[dict], *, resume: bool) -> None:
    from dvclive import Live

    # Inside `dvc repro` dvclive must not write its own dvc.yaml nor make an experiment commit.
    with Live(str(out), resume=resume, save_dvc_exp=False, dvcyaml=None) as live:
        for row in rows:
            live.step = int(row["epoch"])
            for name, value in row.items():
                if name != "epoch":
                    live.log_metric(name, value)
            live.next_step()


def files(out: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(out)), p.stat().st_size) for p in out.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = [fake_row(e, rng) for e in range(1, args.epochs + 1)]

    print("import cost (fresh interpreter, median of 3, minus an empty interpreter):")
    print(f"  csv + json (hand-written writers): {import_seconds('import csv, json') * 1000:.0f} ms")
    print(f"  dvclive:                           {import_seconds('import dvclive') * 1000:.0f} ms")
    print(f"  dvclive.Live (first use):          {import_seconds('from dvclive import Live') * 1000:.0f} ms")
    print(f"  torch (already paid by occgen train): {import_seconds('import torch') * 1000:.0f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for name, log in (("hand-written", lambda o, r: log_handwritten(o, r)),
                          ("dvclive", lambda o, r: log_dvclive(o, r, resume=False))):  # fmt: skip
            out = tmp_path / name
            out.mkdir()
            start = time.perf_counter()
            log(out, rows)
            per_epoch = (time.perf_counter() - start) / len(rows) * 1000
            listing = files(out)
            total = sum(size for _, size in listing)
            print(f"\n{name}: {per_epoch:.2f} ms per epoch logged, {len(listing)} files, {total / 1024:.1f} KB")
            for path, size in listing:
                print(f"  {path} ({size} B)")

        # Resume after an interruption: epochs 1-5 logged, checkpoint at 3, so epochs 4-5 are re-run.
        print("\nresume: epochs 1-5 logged, the run resumes from the epoch-3 checkpoint and re-logs 4-6")
        for name in ("hand-written", "dvclive"):
            out = tmp_path / f"resume-{name}"
            out.mkdir()
            if name == "hand-written":
                log_handwritten(out, rows[:5])
                log_handwritten(out, rows[3:6])
                epochs = [r["epoch"] for r in _read_rows(out / METRICS_CSV)]
            else:
                log_dvclive(out, rows[:5], resume=False)
                log_dvclive(out, rows[3:6], resume=True)
                tsv = (out / "plots" / "metrics" / "loss.tsv").read_text().splitlines()[1:]
                epochs = [line.split("\t")[0] for line in tsv]
            print(f"  {name}: epochs in the plot file: {epochs}")

        # An undefined IoU (no face in either mask) is NaN.
        nan_rows = [{**rows[0], "val_face_iou": math.nan}]
        for name in ("hand-written", "dvclive"):
            out = tmp_path / f"nan-{name}"
            out.mkdir()
            if name == "hand-written":
                log_handwritten(out, nan_rows)
                text = (out / METRICS_JSON).read_text()
            else:
                log_dvclive(out, nan_rows, resume=False)
                text = (out / "metrics.json").read_text()
            line = next((ln.strip() for ln in text.splitlines() if "val_face_iou" in ln), "(missing)")
            print(f"  NaN in metrics.json, {name}: {line}")


if __name__ == "__main__":
    main()
