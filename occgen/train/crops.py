"""Template crops (issue 26): a face re-framed the way a face tool frames it, for training and for evaluation.

Face tools run an occlusion model on crops aligned by five points to a template (facefusion: ``arcface_112_v1``,
``arcface_128``, ``ffhq_512``, ``mtcnn_512``, ``dfl_whole_face``; the numbers and their sources are in
:mod:`occgen.core.alignment`). A model trained on one framing degrades on the others, so:

- **Training** (``occgen train --crops ffhq_512:2,arcface_128:1``, :class:`occgen.train.config.CropConfig`):
  each sample draws a template (by weight), is warped so its five points land on the template's, cut at the
  model's input size, or (pixel boost, ``--pixel-boost-p``) at a side drawn from 512-1024 px and resized to the
  input size; ``--channel-swap-p`` gives the image in BGR order (for a contract that accepts both). Sampled
  (:func:`sample_crop`) from ``default_rng([seed, TRAIN_CROP_STREAM, epoch, index])``, then applied
  (:func:`apply_crop`) to every target with :class:`occgen.core.targets.AffineWarp`. A sample without its
  five points is used as it is and counted (:func:`count_without_points`).
- **Evaluation** (``occgen evaluate --crops ffhq_512,arcface_128``, :func:`evaluate_crops`): every image and
  its ground truth are re-aligned with each template (cut at the model's input size) and scored;
  ``summary.json`` gains ``per_crop`` (one entry per template) and ``per_image.csv`` a ``face_iou_<template>``
  column per template (:func:`write_crop_report`). Cutting the crops to a folder (:func:`crop_item`) and
  evaluating that folder gives the same numbers.

Five points for evaluation come from a store's ``landmarks`` label, or from files beside an evaluation folder
(``images/`` + ``masks/``, or COFW's ``img/`` + ``mask/``): ``landmarks/<stem>.txt`` (5 lines ``x y`` in the
order of :data:`occgen.core.alignment.FIVE_POINT_NAMES`, or 68 lines of iBUG points) or ``landmarks/<stem>.pts``
(the iBUG / 300-W 68-point file: ``version: 1``, ``n_points: 68``, ``{``, 68 lines ``x y``, ``}``; its
coordinates are 1-based in 300-W, used here as given). Images without points are left out of the per-template
scores and counted (``without_points``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.alignment import alignment_matrix, five_points, five_points_from_ibug68, get_template
from occgen.core.errors import ConfigError, SourceError
from occgen.core.landmark_schemes import parsing13_of, read_landmark_file
from occgen.core.location import parse_location
from occgen.core.targets import AffineWarp, Resize, Target, Targets, apply_geometric
from occgen.store import open_store
from occgen.store.schema import is_store
from occgen.train.config import CropConfig
from occgen.train.evaluate import PER_IMAGE_CSV, SUMMARY_JSON, EvalItem, EvalResult, evaluate_model, open_eval_data

#: Stream id of the training crop draws (beside occgen.train.data's 101 augment and 102 shuffle).
TRAIN_CROP_STREAM = 103


def parse_crop_spec(spec: str, *, weights: bool = True) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """``"ffhq_512:2,arcface_128"`` -> (names, weights); a name without ``:w`` weighs 1; weights are () when
    none is given. ``weights=False`` (evaluation) refuses them."""
    names: list[str] = []
    values: list[float] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        get_template(name.strip())  # an unknown name lists the valid ones
        if weight and not weights:
            raise ConfigError(f"--crops {spec!r}: weights apply to training only; list the templates, e.g. {name}")
        try:
            values.append(float(weight) if weight else 1.0)
        except ValueError:
            raise ConfigError(f"--crops {spec!r}: weight {weight!r} of {name} is not a number") from None
        names.append(name.strip())
    if not names:
        raise ConfigError(f"--crops {spec!r}: name at least one template, e.g. ffhq_512,arcface_128")
    return tuple(names), (tuple(values) if any(v != 1.0 for v in values) else ())


@dataclass(frozen=True)
class CropParams:
    """One sample's framing: ``template`` None keeps the sample's own framing; ``side_px`` the crop side;
    ``channel_swap`` gives the image as BGR."""

    template: str | None = None
    side_px: int = 0
    channel_swap: bool = False


def sample_crop(*, rng: np.random.Generator, config: CropConfig, input_size: int) -> CropParams:
    """Draw one :class:`CropParams`; always four draws, so the params of other samples never shift."""
    pick, boost, side, swap = rng.random(4)
    template = None
    if config.templates:
        weights = np.asarray(config.weights or [1.0] * len(config.templates), dtype=np.float64)
        cumulative = np.cumsum(weights / weights.sum())
        template = config.templates[min(int(np.searchsorted(cumulative, pick, side="right")), len(weights) - 1)]
    low, high = config.pixel_boost_range_px
    side_px = int(round(low + side * (high - low))) if boost < config.pixel_boost_p else input_size
    return CropParams(template=template, side_px=side_px, channel_swap=bool(swap < config.channel_swap_p))


def align_op(points5: np.ndarray, template: str, side_px: int) -> AffineWarp:
    """The warp cutting a ``side_px`` crop framed by ``template`` around a face with ``points5`` (5, 2)."""
    matrix = alignment_matrix(points5, get_template(template), side_px)
    return AffineWarp.of(matrix, size=(side_px, side_px))


def apply_crop(targets: Targets, points5: np.ndarray | None, params: CropParams, *, input_size: int) -> Targets:
    """``targets`` re-framed by ``params`` and brought to ``input_size`` (no points, or no template: only resized
    to the input size). The channel swap is the caller's, after its RGB photometric ops."""
    if params.template is not None and points5 is not None:
        targets = apply_geometric(targets, align_op(points5, params.template, params.side_px))
    if targets.canvas != (input_size, input_size):
        targets = apply_geometric(targets, Resize(input_size, input_size))
    return targets


def sample_points(landmarks: np.ndarray | None) -> np.ndarray | None:
    """The five points of one sample's stored ``landmarks`` (float32 (K, 2) of any stored scheme: 13, 68 or 5
    points), or None (no label, NaN points)."""
    return None if landmarks is None else five_points(parsing13_of(landmarks))


def count_without_points(landmarks: np.ndarray | None, count: int) -> int:
    """How many of ``count`` samples cannot be re-framed: all of them without a ``landmarks`` array, else those
    whose five points are not all finite (``landmarks`` float32 (N, K, 2))."""
    if landmarks is None:
        return count
    return sum(sample_points(points) is None for points in landmarks)


# --- evaluation ----------------------------------------------------------------------------------------------


def read_points_file(path: Path) -> np.ndarray:
    """float64 (5, 2) five points from a ``.txt`` (5 or 68 lines ``x y``) or iBUG ``.pts`` file."""
    points = read_landmark_file(path)
    if len(points) == 68:
        return five_points_from_ibug68(points)
    if len(points) != 5:
        raise SourceError(f"{path}: expected 5 or 68 points (x y per line), got {len(points)}")
    return points


def points_lookup(data: Path | str) -> Callable[[int, EvalItem], np.ndarray | None]:
    """For evaluation data ``data``: item number and item -> its five points, or None when it has none."""
    location = parse_location(data)
    if not location.is_local or is_store(Path(data)):
        reader = open_store(location)
        has_points = "landmarks" in reader.label_names

        def from_store(number: int, item: EvalItem) -> np.ndarray | None:
            return sample_points(reader.label("landmarks", number)) if has_points else None

        return from_store
    root = Path(data)
    root = root / "COFW_test" if (root / "COFW_test").is_dir() else root
    folder = root / "landmarks"

    def from_files(number: int, item: EvalItem) -> np.ndarray | None:
        for suffix in (".txt", ".pts"):
            path = folder / f"{item.item_id}{suffix}"
            if path.is_file():
                return read_points_file(path)
        return None

    return from_files


def crop_item(item: EvalItem, points5: np.ndarray, template: str, side_px: int) -> EvalItem:
    """``item``'s image and ground truth re-framed by ``template`` at ``side_px`` (outside the image: black,
    not face)."""
    items = {"truth": Target.mask(item.truth.astype(np.uint8))}
    if item.image is not None:
        items["image"] = Target.image(item.image)
    moved = apply_geometric(Targets(items), align_op(points5, template, side_px))
    image = moved.array("image") if item.image is not None else None
    return replace(item, truth=moved.array("truth").astype(bool), image=image)


@dataclass
class CropReport:
    """Per-template results: ``results[template]`` scores the images that had points; ``without_points`` the
    images left out."""

    results: dict[str, EvalResult]
    without_points: int
    images: int


def evaluate_crops(model: Any, data: Path | str, templates: tuple[str, ...], *, input_size: int,
                   split: Path | None = None, **predict: Any) -> CropReport:  # fmt: skip
    """Score ``model`` on every image of ``data`` re-framed with each of ``templates`` (crops of ``input_size``
    px); ``predict``: :func:`occgen.train.evaluate.evaluate_model`'s batch_size, device, dtype, channels_last."""
    for name in templates:
        get_template(name)
    lookup = points_lookup(data)
    counts = {"without": 0, "images": 0}

    def cropped(template: str, count_points: bool) -> Iterator[EvalItem]:
        _, items = open_eval_data(data, split=split)
        for number, item in enumerate(items):
            points = lookup(number, item)
            if count_points:
                counts["images"] += 1
                counts["without"] += points is None
            if points is not None:
                yield crop_item(item, points, template, input_size)

    results = {
        template: evaluate_model(model, cropped(template, index == 0), input_size=input_size, worst_k=0, **predict)
        for index, template in enumerate(templates)
    }
    if counts["images"] and counts["without"] == counts["images"]:
        raise SourceError(
            f"{data}: no image has five points; add landmarks/<stem>.txt (or .pts) beside the images, or "
            "generate the store with --labels landmarks"
        )
    return CropReport(results=results, without_points=counts["without"], images=counts["images"])


def crop_summary(report: CropReport, *, input_size: int) -> dict[str, Any]:
    """``per_crop``: for each template, the images scored, their pooled face IoU and mIoU, the per-image mean
    face IoU and the crop side."""
    out: dict[str, Any] = {}
    for template, result in report.results.items():
        summary = result.summary()
        out[template] = {"images": summary["images"], "face_iou": summary["face_iou"],
                         "face_iou_per_image_mean": summary["face_iou_per_image_mean"], "miou": summary["miou"],
                         "side_px": input_size}  # fmt: skip
    return out


def write_crop_report(report: CropReport, out: Path, *, input_size: int) -> dict[str, Any]:
    """Add ``per_crop`` (and ``crops_without_points``) to ``out/summary.json`` and a ``face_iou_<template>``
    column per template to ``out/per_image.csv`` (empty where an image had no points); returns ``per_crop``."""
    per_crop = crop_summary(report, input_size=input_size)
    summary_path, csv_path = Path(out) / SUMMARY_JSON, Path(out) / PER_IMAGE_CSV
    summary = json.loads(summary_path.read_text())
    summary["per_crop"] = {k: {n: (None if isinstance(v, float) and v != v else v) for n, v in entry.items()}
                           for k, entry in per_crop.items()}  # fmt: skip
    summary["crops_without_points"] = report.without_points
    summary_path.write_text(json.dumps(summary, indent=2))
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
        fields = list(rows[0]) if rows else []
    columns = [f"face_iou_{template}" for template in report.results]
    by_template = {template: {str(row["id"]): row["face_iou"] for row in result.rows}
                   for template, result in report.results.items()}  # fmt: skip
    for row in rows:
        for template, column in zip(report.results, columns, strict=True):
            value = by_template[template].get(row["id"], float("nan"))
            row[column] = "" if value != value else value
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*fields, *columns])
        writer.writeheader()
        writer.writerows(rows)
    return per_crop
