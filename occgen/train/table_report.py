"""``occgen table``'s report: ``report.md`` (the table, the budget and setup, the training curves, the
worst-case sheets) and ``curves.png`` (training loss per step). Written by :func:`occgen.train.table.run_table`.
"""

from __future__ import annotations

import csv
import math
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from occgen.core.files import atomic_path
from occgen.train.config import TrainConfig

#: Steps below which a CPU run is called small in so many words (FACTS: 200 steps of U-Net-R18 at 256² on
#: 800 real faces reach face IoU 0.64-0.78 on real occluded faces, far from converged).
SMALL_CPU_STEPS = 5_000
SMOOTH_STEPS = 25  # the running mean drawn over the raw per-step loss


def _read_losses(path: Path) -> list[tuple[int, float]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [(int(row["step"]), float(row["loss"])) for row in csv.DictReader(handle)]


def write_curves(steps_files: dict[str, Path], out: Path) -> Path | None:
    """Training loss per step of every condition (raw, faint; running mean, solid) as ``out`` (PNG); None
    when there is nothing to draw or matplotlib (``pip install 'occgen[report]'``) is missing."""
    curves = {name: losses for name, path in steps_files.items() if (losses := _read_losses(path))}
    if not curves:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        return None
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    for name, losses in curves.items():
        steps = [s for s, _ in losses]
        values = [v for _, v in losses]
        window = max(1, min(SMOOTH_STEPS, len(values) // 5))
        smooth = [
            sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1])
            for i in range(len(values))
        ]
        (line,) = axes.plot(steps, smooth, label=name, linewidth=1.5)
        axes.plot(steps, values, color=line.get_color(), alpha=0.25, linewidth=0.7)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("training loss (OHEM BCE)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_path(out) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)
    return out


def _cell(value: Any, digits: int = 4) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _device_text(device: str) -> str:
    import torch

    if device == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads)"
    return f"{device} ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else device


def skin_tone_lines(summaries: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """A "By skin tone" section: each evaluation's ``by_skin_tone`` groups (occgen.train.skin_tone), from the
    evaluation summaries keyed (condition, evaluation set); no lines when no evaluation reports them."""
    rows = []
    for (name, eval_name), summary in summaries.items():
        for group, values in (summary.get("by_skin_tone") or {}).items():
            rows.append(f"| {name} | {eval_name} | {group} | {values.get('images')} | "
                        f"{_cell(values.get('face_iou'))} | {_cell(values.get('face_recall'))} |")  # fmt: skip
    if not rows:
        return []
    return [
        "",
        "## By skin tone",
        "",
        "Groups of the Individual Typology Angle of each image's visible face (median L*, b*; Del Bino and Bernerd's "
        "bounds; a proxy of the pictured skin under the photo's lighting, see occgen/train/skin_tone.py). Pooled "
        "within each group; a group of a few images is an anecdote, not a rate.",
        "",
        "| condition | evaluation set | skin tone (ITA) | images | face IoU | face recall |",
        "|---|---|---|---:|---:|---:|",
        *rows,
    ]


def write_report(
    rows: Sequence[dict[str, Any]],
    records: dict[str, dict[str, Any]],
    config: TrainConfig,
    run: Any,
    out: Path,
    *,
    summaries: dict[tuple[str, str], dict[str, Any]],
    curves: Path | None,
    seconds: float,
    eval_sets: Sequence[str],
) -> Path:
    """``report.md`` in ``out``: everything a reader needs to trust (or distrust) the table."""
    steps = config.step_budget
    budget = (
        f"{steps} optimizer steps x batch {config.batch_size} = {steps * config.batch_size} training samples "
        "per condition"
        if steps is not None
        else f"{config.epochs} epochs per condition"
    )
    weights = Path(config.encoder_weights).name if config.encoder_weights else None
    lines = [
        "# occgen table: training conditions compared on held-out evaluation sets",
        "",
        "The NatOcc paper's Table 4 protocol (Voo, Jiang, Loy): one model per condition, each with the same "
        "architecture, budget and seed, scored on every evaluation set.",
        "",
        "Command:",
        "",
        "```",
        run.command,
        "```",
        "",
        "| condition | evaluation set | images | face IoU (pooled) | face IoU (per-image mean) | face recall "
        "| Boundary IoU | mIoU | training face IoU (pooled) | steps | training s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['condition']} | {row['eval']} | {row['images']} | {_cell(row['face_iou'])} | "
            f"{_cell(row['face_iou_per_image_mean'])} | {_cell(row.get('face_recall'))} | "
            f"{_cell(row['boundary_iou'])} | {_cell(row['miou'])} | "
            f"{_cell(row.get('train_face_iou'))} | {row['steps']} | {_cell(row['train_seconds'], 0)} |"
        )
    lines += [
        "",
        "Pooled: every image's pixel counts summed, then one ratio; per-image mean: the mean of each image's face "
        "IoU (what papers usually report). Boundary IoU: n/a until the evaluation reports it. Training face IoU: the "
        f"model at the end of its budget scored the same way on a fixed subset of its own training samples (up to "
        f"{run.train_eval_samples}, seed {config.seed}; `runs/<condition>/train_eval/`): a condition whose training "
        "samples cannot be fitted shows it here.",
        "",
        "## Budget and setup",
        "",
        f"- Budget: {budget}; input {config.input_size}² px; architecture {config.arch}; learning rate {config.lr}; "
        f"seed {config.seed}; augmentation {'on' if config.augment.enabled else 'off'}.",
        f"- Device: {_device_text(config.device)}; bf16 {'on' if config.bf16 else 'off'}, channels-last "
        f"{'on' if config.channels_last else 'off'}.",
        f"- Pretrained encoder: {'yes, ' + weights if weights else 'no (random initialisation)'}.",
        f"- Time: {seconds:.0f} s for this run (conditions trained earlier and reused count 0 here); training per "
        "condition: " + ", ".join(f"{name} {float(r.get('seconds', 0)):.0f} s" for name, r in records.items()) + ".",
        f"- Evaluation sets: {', '.join(eval_sets)}.",
    ]
    if config.device == "cpu" and (steps is None or steps < SMALL_CPU_STEPS):
        lines.append(
            f"- **A small CPU budget is small.** {budget} on a CPU is far from a converged model (200 steps of "
            "U-Net-R18 at 256² on 800 real faces reached face IoU 0.64-0.78 on real occluded faces): read the "
            "table as a comparison at this budget, and differences of a few points as noise."
        )
    lines += skin_tone_lines(summaries)
    lines += ["", "## Training curves", ""]
    lines.append(
        f"![training loss per step]({curves.name})"
        if curves is not None
        else "No curves: no per-step losses were recorded (a step budget writes them) or matplotlib is missing "
        "(`pip install 'occgen[report]'`)."
    )
    lines += [
        "",
        "## Worst cases",
        "",
        "Each sheet: image | overlay (true face green, false face red, missed face "
        "blue), the worst images by face IoU.",
        "",
    ]
    for name in records:
        lines.append(f"### {name}")
        lines.append("")
        for eval_name in eval_sets:
            sheet = Path("runs") / name / "eval" / eval_name / "worst.png"
            shown = f"![{name} on {eval_name}]({sheet.as_posix()})" if (out / sheet).is_file() else "(no sheet)"
            lines.append(f"- {eval_name}: {shown}")
        lines.append("")
    path = out / "report.md"
    with atomic_path(path) as temporary:
        temporary.write_text("\n".join(lines))
    return path
