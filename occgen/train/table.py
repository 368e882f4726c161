"""The NatOcc paper's Table 4 protocol on any face set (issue 24): one model per training condition, the
same architecture, budget and seed for each, scored on every evaluation set.

This module trains and scores; the training sets themselves (C-WO, C-WO+NatOcc, C-WO+RandOcc, ...) are
made by ``occgen table`` (:mod:`occgen.cli.table`) with occgen's own generators and mixes, and handed here
as :class:`Condition` s. Output folder (``--out``)::

    runs/<condition>/            an `occgen train` folder (last.pt, metrics.csv, steps.csv, ...)
    runs/<condition>/done.json   what it was trained on (the resume key), steps, seconds, device, weights
    runs/<condition>/eval/<set>/ an `occgen evaluate` report (summary.json, per_image.csv, worst.png)
    runs/<condition>/train_eval/ the same report on a fixed subset of the condition's own training samples (the
                                 training face IoU at the end of the budget: can the model fit its data?)
    table.csv                    one row per condition x evaluation set
    curves.png                   training loss per step, one line per condition
    report.md                    the table, the curves, the worst-case sheets, the command, budget and time

Resumable: a condition whose ``done.json`` holds the same key (training config + the content digests of its
stores) is not retrained, and an evaluation whose summary names the same key and data is not re-run; a
condition interrupted mid-run continues from its ``last.pt``. A different key is an error (never a silent
overwrite of a finished run).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.errors import ConfigError
from occgen.core.files import atomic_path
from occgen.core.params import to_plain
from occgen.store import open_store
from occgen.train.config import EvaluateConfig, TrainConfig
from occgen.train.trainer import LAST, STEPS_CSV, BatchCallback, load_checkpoint, resolve_device, train

DONE_JSON = "done.json"
TABLE_CSV = "table.csv"
REPORT_MD = "report.md"
CURVES_PNG = "curves.png"
#: The conditions of the paper's Table 4 (C-WO-Mix is ``c-wo+both``), FaceOcc's recipe beside them, and NatOcc
#: samples alone (issue 30: can a model fit them as well as the clean faces?).
CONDITIONS = ("c-wo", "c-wo+natocc", "c-wo+randocc", "c-wo+both", "faceocc", "natocc")
DEFAULT_CONDITIONS = CONDITIONS[:4]
TRAIN_EVAL = "train_eval"
#: Stream id of the fixed subset of a condition's training samples that is scored (not a recipe: kept apart from
#: occgen.core.rng's table; 1030 for issue 30).
TRAIN_SUBSET_STREAM = 1030
#: Summary keys of a Boundary IoU (Cheng et al., CVPR 2021), read from the evaluation summary when
#: occgen.train.evaluate reports one; the column stays empty until it does.
BOUNDARY_KEYS = ("boundary_iou", "face_boundary_iou")
TABLE_FIELDS = (
    "condition",
    "eval",
    "images",
    "face_iou",
    "face_iou_per_image_mean",
    "face_recall",
    "boundary_iou",
    "miou",
    "fwiou",
    "train_face_iou",
    "train_face_iou_per_image_mean",
    "train_images",
    "steps",
    "train_seconds",
)


@dataclass(frozen=True, kw_only=True)
class Condition:
    """One training condition: its name (a folder name) and the stores or mixes it trains on."""

    name: str
    data: tuple[Path, ...]


@dataclass(frozen=True, kw_only=True)
class EvalSet:
    """One evaluation set: its name (a folder name) and a folder / benchmark root / store ``evaluate`` reads."""

    name: str
    path: Path


@dataclass(frozen=True, kw_only=True)
class TableRun:
    """How the table runs: what the report states beside the numbers."""

    command: str  # the exact command line, for the report
    evaluate: EvaluateConfig = field(default_factory=lambda: EvaluateConfig(fps_iterations=0))
    train_eval_samples: int = 256  # training samples scored per condition (a fixed subset of its own)

    def __post_init__(self) -> None:
        if self.train_eval_samples < 1:
            raise ConfigError(f"--train-eval-samples must be at least 1, got {self.train_eval_samples}")


Line = Callable[[str], None]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def condition_key(condition: Condition, config: TrainConfig) -> str:
    """What a finished condition was made from: the training config and its stores' content digests."""
    contents = [open_store(path).content_key for path in condition.data]
    return _digest({"config": to_plain(config), "data": contents})


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def train_condition(
    condition: Condition, config: TrainConfig, out: Path, *, say: Line, on_batch: BatchCallback | None = None
) -> dict[str, Any]:
    """Train ``condition`` into ``out`` (or reuse it when its ``done.json`` has the same key); its done record."""
    key = condition_key(condition, config)
    done = _read_json(out / DONE_JSON)
    if done is not None:
        if done.get("key") != key:
            raise ConfigError(
                f"{out} holds condition {condition.name} trained on other inputs or settings (key {done.get('key')}, "
                f"now {key}); choose another --out, or delete {out} to retrain it"
            )
        say(f"{condition.name}: trained already ({done['steps']} steps, {done['seconds']:.0f} s); reusing {out / LAST}")
        return done
    resume = (out / LAST).is_file()
    say(f"{condition.name}: {'resuming' if resume else 'training'} on {', '.join(str(p) for p in condition.data)}")
    started = time.perf_counter()
    report = train(config, list(condition.data), out, resume=resume, on_batch=on_batch)
    seconds = time.perf_counter() - started  # of this call: an interrupted run's earlier part is not counted
    record = {
        "condition": condition.name,
        "key": key,
        "data": [str(p) for p in condition.data],
        "steps": report.steps,
        "epochs": report.last_epoch,
        "seconds": seconds,
        "device": config.device,
        "encoder_weights": Path(config.encoder_weights).name if config.encoder_weights else None,
    }
    (out / DONE_JSON).write_text(json.dumps(record, indent=2))
    return record


def evaluate_condition(
    checkpoint: Path, key: str, eval_set: EvalSet, out: Path, settings: EvaluateConfig, *, say: Line
) -> dict[str, Any]:
    """``occgen evaluate --model checkpoint --data eval_set`` into ``out`` (reused when done for this key)."""
    from occgen.train import evaluate as ev

    summary_path = out / ev.SUMMARY_JSON
    summary = _read_json(summary_path)
    if summary is not None and summary.get("table_key") == key and summary.get("data") == str(eval_set.path):
        return summary
    net, info = load_checkpoint(checkpoint)
    size = settings.input_size or int(info.get("config", {}).get("input_size", 256))
    count, items = ev.open_eval_data(eval_set.path)
    say(f"  scoring {eval_set.name} ({count} images)")
    result = ev.evaluate_model(
        net,
        items,
        input_size=size,
        batch_size=settings.batch_size,
        device=resolve_device(settings.device),
        dtype=settings.dtype,
        channels_last=settings.channels_last,
        worst_k=settings.worst,
    )
    extra = {
        "model": str(checkpoint),
        "checkpoint_epoch": info.get("epoch"),
        "data": str(eval_set.path),
        "input_size": size,
        "table_key": key,
    }
    return ev.write_report(result, out, extra)


def training_subset(sizes: Sequence[int], samples: int, seed: int) -> list[list[int]]:
    """The fixed subset of a condition's training samples that is scored, per store of the condition (ascending
    local indices): the first ``samples`` of ``default_rng([seed, TRAIN_SUBSET_STREAM]).permutation`` of all its
    samples in order; a smaller count is a prefix of a larger one."""
    total = sum(sizes)
    picked = np.sort(np.random.default_rng([seed, TRAIN_SUBSET_STREAM]).permutation(total)[: min(samples, total)])
    starts = np.cumsum([0, *sizes])
    return [[int(i - starts[k]) for i in picked if starts[k] <= i < starts[k + 1]] for k in range(len(sizes))]


def score_training(
    condition: Condition, checkpoint: Path, key: str, out: Path, run: TableRun, seed: int, *, say: Line
) -> dict[str, Any]:
    """``condition``'s model at the end of its budget scored, as ``occgen evaluate`` scores a store, on
    :func:`training_subset` of its own training samples (no augmentation), into ``out``; reused when done for
    this key and subset."""
    from occgen.train import evaluate as ev

    subset = {"samples": run.train_eval_samples, "seed": seed, "stream": TRAIN_SUBSET_STREAM}
    summary = _read_json(out / ev.SUMMARY_JSON)
    if summary is not None and summary.get("table_key") == key and summary.get("train_subset") == subset:
        return summary
    sizes = [len(open_store(path)) for path in condition.data]
    picked = training_subset(sizes, run.train_eval_samples, seed)
    net, info = load_checkpoint(checkpoint)
    settings = run.evaluate
    size = settings.input_size or int(info.get("config", {}).get("input_size", 256))
    say(f"  scoring {sum(map(len, picked))} of its {sum(sizes)} training samples")

    def items() -> Iterator[ev.EvalItem]:
        for path, indices in zip(condition.data, picked, strict=True):
            yield from ev.iter_store(path, indices=indices)[1]

    result = ev.evaluate_model(net, items(), input_size=size, batch_size=settings.batch_size,
                               device=resolve_device(settings.device), dtype=settings.dtype,
                               channels_last=settings.channels_last, worst_k=settings.worst)  # fmt: skip
    extra = {"model": str(checkpoint), "checkpoint_epoch": info.get("epoch"), "data": [str(p) for p in condition.data],
             "input_size": size, "table_key": key, "train_subset": subset}  # fmt: skip
    return ev.write_report(result, out, extra)


def _number(value: Any) -> Any:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def table_row(
    condition: str, eval_name: str, summary: dict[str, Any], done: dict[str, Any], trained: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One row of table.csv: ``summary`` (the evaluation on ``eval_name``) beside ``trained`` (the scores on the
    condition's own training subset, :func:`score_training`)."""
    boundary = next((summary[k] for k in BOUNDARY_KEYS if k in summary), None)
    trained = trained or {}
    return {
        "condition": condition,
        "eval": eval_name,
        "images": summary.get("images"),
        "face_iou": summary.get("face_iou"),
        "face_iou_per_image_mean": summary.get("face_iou_per_image_mean"),
        "face_recall": summary.get("face_recall"),
        "boundary_iou": boundary,
        "miou": summary.get("miou"),
        "fwiou": summary.get("fwiou"),
        "train_face_iou": trained.get("face_iou"),
        "train_face_iou_per_image_mean": trained.get("face_iou_per_image_mean"),
        "train_images": trained.get("images"),
        "steps": done.get("steps"),
        "train_seconds": round(float(done.get("seconds", 0.0)), 1),
    }


def write_table(rows: Sequence[dict[str, Any]], path: Path) -> None:
    with atomic_path(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(TABLE_FIELDS))
        writer.writeheader()
        writer.writerows({k: _number(v) for k, v in row.items()} for row in rows)


def run_table(
    conditions: Sequence[Condition],
    eval_sets: Sequence[EvalSet],
    config: TrainConfig,
    out: Path,
    run: TableRun,
    *,
    say: Line = print,
    progress: Callable[[], BatchCallback] | None = None,
) -> list[dict[str, Any]]:
    """Train every condition (or reuse it), score it on every evaluation set, write table.csv, curves.png and
    report.md into ``out``; returns the table's rows (condition-major). ``progress`` makes each condition's
    per-step callback."""
    from occgen.train.table_report import write_curves, write_report

    if not conditions or not eval_sets:
        raise ConfigError("occgen table needs at least one condition and one --eval NAME=DIR")
    for names, what in (([c.name for c in conditions], "condition"), ([e.name for e in eval_sets], "--eval name")):
        if len(set(names)) != len(names):
            raise ConfigError(f"each {what} must be named once, got {', '.join(names)}")
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    records: dict[str, dict[str, Any]] = {}
    summaries: dict[tuple[str, str], dict[str, Any]] = {}  # (condition, evaluation set) -> its summary
    for condition in conditions:
        folder = out / "runs" / condition.name
        done = train_condition(condition, config, folder, say=say, on_batch=progress() if progress else None)
        records[condition.name] = done
        trained = score_training(condition, folder / LAST, done["key"], folder / TRAIN_EVAL, run, config.seed, say=say)
        for eval_set in eval_sets:
            summary = evaluate_condition(
                folder / LAST, done["key"], eval_set, folder / "eval" / eval_set.name, run.evaluate, say=say
            )
            summaries[condition.name, eval_set.name] = summary
            rows.append(table_row(condition.name, eval_set.name, summary, done, trained))
        write_table(rows, out / TABLE_CSV)  # the rows so far: a table that grows while the run goes on
    curves = write_curves({c.name: out / "runs" / c.name / STEPS_CSV for c in conditions}, out / CURVES_PNG)
    write_report(
        rows,
        records,
        config,
        run,
        out,
        summaries=summaries,
        curves=curves,
        seconds=time.perf_counter() - started,
        eval_sets=[e.name for e in eval_sets],
    )
    return rows
