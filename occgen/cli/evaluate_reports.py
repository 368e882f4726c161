"""The evaluate command's side reports: scores per crop template, parsing (multi-class) evaluations, and a
store's worst samples beside their audit measures (the one place that joins training and the audit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def score_crops(spec: str, net: Any, data: Path | None, split: Path | None, out: Path, size: int, config: Any,
                 device: Any) -> dict[str, Any]:  # fmt: skip
    from occgen.cli.common import err_console
    from occgen.train.crops import evaluate_crops, parse_crop_spec, write_crop_report

    assert data is not None  # checked with the other options
    templates, _ = parse_crop_spec(spec, weights=False)
    report = evaluate_crops(net, data, templates, input_size=size, split=split, batch_size=config.batch_size,
                            device=device, dtype=config.dtype, channels_last=config.channels_last)  # fmt: skip
    per_crop = write_crop_report(report, out, input_size=size)
    for template, entry in per_crop.items():
        iou, images = entry["face_iou"], entry["images"]
        err_console.print(f"  {template}: face IoU {iou:.4f} on {images} images", highlight=False)
    if report.without_points:
        err_console.print(f"  {report.without_points} of {report.images} images have no five points (not cropped)")
    return per_crop


def evaluate_parsing_report(net: Any, data: Path, out: Path, *, size: int, batch_size: int, device: Any,
                      model_path: Path) -> None:  # fmt: skip
    """A parsing checkpoint: per-class IoU of every parsing class, mIoU, pixel accuracy (summary.json,
    per_image.csv)."""
    from occgen.train.multiclass import evaluate_parsing

    summary, rows = evaluate_parsing(net, data, input_size=size, batch_size=batch_size, device=device)
    write_parsing_report(summary, rows, out, {"model": str(model_path), "data": str(data), "input_size": size})


def write_parsing_report(
    summary: dict[str, Any], rows: list[dict[str, Any]], out: Path, extra: dict[str, Any]
) -> None:
    """summary.json, per_image.csv and the per-class table of a parsing evaluation."""
    import csv
    import json

    from occgen.cli.common import console, err_console
    from occgen.core.errors import ConfigError
    from occgen.train.multiclass import json_ready

    summary = {**summary, **extra}
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create {out}: {error.strerror or error}; choose a writable --out") from error
    (out / "summary.json").write_text(json.dumps(json_ready(summary), indent=2))
    with (out / "per_image.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "miou", "pixel_accuracy"])
        writer.writeheader()
        writer.writerows(rows)
    for name, iou in summary["per_class_iou"].items():
        console.print(f"{name:16s} {'n/a' if iou != iou else f'{iou:.4f}'}")
    classes = len(summary["classes"])
    err_console.print(
        f"{summary['images']} images: mIoU {summary['miou']:.4f}, pixel accuracy "
        f"{summary['pixel_accuracy']:.4f} over {classes} classes; report in {out}"
    )


def write_worst_samples(result: Any, data: Path, out: Path) -> int:
    """``--model`` on a store: the samples it gets most wrong (``result.worst``, the ``--worst`` lowest face IoUs)
    as ``worst_samples.png`` (image | true mask | predicted mask per row, worst first) and ``worst_samples.csv``
    (per row its rank, IoU, recall, precision and the pixels the model and the label disagree on, then its audit
    measures and ids as ``occgen audit`` writes them). The number of samples written (0: not a store)."""
    from occgen.core.files import atomic_write_text
    from occgen.core.imageio import write_png
    from occgen.run.audit import AMODAL, CLEAN, AuditJob, audit_row, csv_text
    from occgen.store import open_store
    from occgen.train.worst_cases import WORST_SAMPLES_CSV, WORST_SAMPLES_PNG, worst_cases_sheet

    cases = [entry[4] for entry in result.ordered_worst() if entry[4] is not None]
    if not cases:
        return 0
    dataset = open_store(data)
    held = {"amodal": AMODAL in dataset.label_names, "clean": CLEAN in dataset.label_names}
    job = AuditJob(dataset.location, str(dataset.card.get("recipe")), **held)
    rows = [audit_row(dataset, case.index, dataset.metadata([case.index])[0], job) for case in cases]
    leading = {
        "rank": list(range(1, len(cases) + 1)),
        "face_iou": [case.face_iou for case in cases],
        "face_recall": [case.face_recall for case in cases],
        "face_precision": [case.face_precision for case in cases],
        "missed_face_px": [case.fn for case in cases],  # labelled face, predicted not-face
        "false_face_px": [case.fp for case in cases],  # predicted face, labelled not-face (e.g. occluder)
    }
    write_png(out / WORST_SAMPLES_PNG, worst_cases_sheet(cases))
    atomic_write_text(out / WORST_SAMPLES_CSV, csv_text(rows, leading))
    return len(cases)
