"""The evaluate command's side reports: scores per crop template and parsing (multi-class) evaluations."""

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
