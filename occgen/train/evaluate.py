"""The evaluation stage: score a checkpoint on a dataset, or score mask folders from any model.

Inputs:
- FaceOcc's **COFW_test** (``img/*`` + ``mask/<stem>.png``, or a FaceOcc root holding it);
- a **folder dataset** (RealOcc / RealOcc-Wild / COFW style): ``images/<stem>.{jpg,png,...}`` and
  ``masks/<stem>.png`` (0/1 or 0/255), at any image size (the model sees each image resized to its input
  size; its logits are resized back, so metrics are computed at the ground truth's own resolution);
- an **occgen zarr store** (image + face_mask);
- a **CelebAMask-HQ** root, optionally restricted by a split file of ids (e.g. its test split), scored at
  the annotation resolution with the visible-face definition of :mod:`occgen.sources.faces`;
- for ``--pred``/``--gt``: a folder of predicted masks ``<stem>.png`` and a ground-truth folder
  (``<stem>.png`` files, or a dataset root holding ``masks/``).

Masks are binarised explicitly (:mod:`occgen.train.metrics`); a prediction whose size differs from its
ground truth is an error naming both files, never a silent resize.

Real-occlusion benchmarks in their released layouts (RealOcc, RealOcc-Wild, COFW, MaskedFace-Net, FaceOcc)
are read by :mod:`occgen.train.benchmarks` (``occgen evaluate --benchmark NAME --data DIR``).

Outputs (:func:`write_report`): ``per_image.csv``, ``summary.json`` (DVC metrics; NaN written as null)
and ``worst.png`` (the worst images by face IoU: image | overlay with true face green, false face red,
missed face blue). Beside the IoUs: the face's Boundary IoU (:func:`occgen.train.metrics.boundary_counts`,
pooled and per-image mean), and the scores per occluder type (where the benchmark states it), per face size
(:func:`occgen.train.metrics.face_size_bin`) and per skin tone (:mod:`occgen.train.skin_tone`). On a store, the
worst items keep their arrays (:class:`occgen.train.worst_cases.WorstCase`) for ``worst_samples.png`` / ``.csv``.
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ArrayContractError, ConfigError, SourceError
from occgen.core.files import list_images, require_dir
from occgen.core.imageio import read_binary_mask, read_image, resize_image, write_png
from occgen.core.iterate import batched
from occgen.core.location import Location, parse_location
from occgen.sources.faceocc import cofw_mask_name, cofw_pairs
from occgen.sources.faces import CelebAMaskHQ, FaceFolder
from occgen.store import open_store
from occgen.store.schema import is_store
from occgen.train.config import DTYPES, EvaluateConfig  # noqa: F401 (re-exported)
from occgen.train.metrics import (
    BOUNDARY_DILATION_FRAC,
    BOUNDARY_METRIC,
    METRIC_NAMES,
    BoundaryCounts,
    Confusion,
    binarize_prediction,
    boundary_counts,
    confusion,
    face_size_bin,
    face_size_bins,
    face_size_px,
    group_scores,
    scores,
)
from occgen.train.skin_tone import NO_SKIN, face_ita, skin_tone_group, skin_tone_groups
from occgen.train.worst_cases import WorstCase

PER_IMAGE_CSV = "per_image.csv"
SUMMARY_JSON = "summary.json"
WORST_PNG = "worst.png"


@dataclass(frozen=True)
class EvalItem:
    """One image to score: ``truth`` bool (H, W); ``image`` uint8 (H, W, 3) RGB or None (``--pred`` mode);
    ``occluder`` the occluder type where the benchmark states it ("" where it does not); ``index`` the sample's
    index in its store (None for other data)."""

    item_id: str
    truth: np.ndarray
    image: np.ndarray | None
    source: str
    occluder: str = ""
    index: int | None = None


def folder_pairs(root: Path) -> list[tuple[Path, Path]]:
    """``(image, mask)`` paths of a folder dataset; every image needs ``masks/<stem>.png``."""
    folder = FaceFolder(Path(root))  # checks the layout; images are read here at their own size
    return [folder.paths(i) for i in range(len(folder))]


def cofw_test_pairs(root: Path) -> list[tuple[Path, Path]]:
    """``(image, mask)`` paths of FaceOcc's ``COFW_test`` (``img/`` + ``mask/<stem>.png``, 255 = face)."""
    pairs, missing = cofw_pairs(root)
    if missing:
        mask = root / "mask" / cofw_mask_name(missing[0])
        raise SourceError(f"{missing[0]}: no mask {mask}; add it or remove the image")
    if not pairs:
        raise SourceError(f"{root}: no image in img/ with a mask in mask/")
    return pairs


def iter_folder(root: Path) -> tuple[int, Iterator[EvalItem]]:
    # FaceOcc's COFW_test layout (issue 18): img/ + mask/, or a FaceOcc root holding COFW_test/.
    if (Path(root) / "COFW_test").is_dir():
        root = Path(root) / "COFW_test"
    is_cofw = (Path(root) / "img").is_dir() and (Path(root) / "mask").is_dir()
    pairs = cofw_test_pairs(Path(root)) if is_cofw else folder_pairs(root)

    def items() -> Iterator[EvalItem]:
        for image_path, mask_path in pairs:
            image, truth = read_image(image_path), read_binary_mask(mask_path).astype(bool)
            if image.shape[:2] != truth.shape:
                raise SourceError(
                    f"mask {mask_path} is {truth.shape[1]}x{truth.shape[0]} but image {image_path} is "
                    f"{image.shape[1]}x{image.shape[0]}: a mask must match its image"
                )
            yield EvalItem(image_path.stem, truth, image, str(image_path))

    return len(pairs), items()


def iter_store(path: Path | Location, indices: Sequence[int] | None = None) -> tuple[int, Iterator[EvalItem]]:
    """The samples of a store or mix (``indices`` of them, in that order, when given); each item's ``index`` is
    its index in the store."""
    reader = open_store(path)
    chosen = range(len(reader)) if indices is None else [int(i) for i in indices]

    def items() -> Iterator[EvalItem]:
        for index in chosen:
            sample = reader[index]
            item_id = str(sample.metadata.get("sample_id", index))
            yield EvalItem(item_id, sample.face_mask.astype(bool), sample.image, f"{path}#{index}", index=index)

    return len(chosen), items()


def iter_celebamask(root: Path, split: Path | None) -> tuple[int, Iterator[EvalItem]]:
    """CelebAMask-HQ (e.g. its test split): scored at the annotation resolution (512² in the release)."""
    source = CelebAMaskHQ(root, split)

    def items() -> Iterator[EvalItem]:
        for index in range(len(source)):
            face_id = source.face_id(index)
            truth = source.load_face_mask(face_id).astype(bool)
            image = resize_image(read_image(source.image_path(face_id)), (truth.shape[1], truth.shape[0]))
            yield EvalItem(face_id, truth, image, str(source.image_path(face_id)))

    return len(source), items()


def open_eval_data(path: Path | str, *, split: Path | None = None) -> tuple[int, Iterator[EvalItem]]:
    """An occgen store (a path or URL), a CelebAMask-HQ root (with an optional ``split`` file of ids) or a
    folder dataset, recognised by its content."""
    location = parse_location(path)
    if not location.is_local:  # only stores live at URLs
        if split is not None:
            raise ConfigError("--split applies to CelebAMask-HQ only; a store is evaluated whole")
        return iter_store(location)
    path = Path(path)
    if not path.exists():
        raise SourceError(f"evaluation data not found: {path}; pass a folder with images/ + masks/ or a zarr store")
    if is_store(path):
        if split is not None:
            raise ConfigError("--split applies to CelebAMask-HQ only; a store is evaluated whole")
        return iter_store(path)
    if (path / "CelebA-HQ-img").is_dir():
        return iter_celebamask(path, split)
    if split is not None:
        raise ConfigError("--split applies to CelebAMask-HQ only; a folder dataset is evaluated whole")
    return iter_folder(path)


@dataclass
class EvalResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: Confusion = field(default_factory=Confusion)
    boundary: BoundaryCounts = field(default_factory=BoundaryCounts)
    # heap of (-iou, n, id, tile, the case when the item is a store sample)
    worst: list[tuple[float, int, str, np.ndarray, WorstCase | None]] = field(default_factory=list)

    def add(self, item: EvalItem, pred: np.ndarray, *, worst_k: int, tile_px: int) -> None:
        counts = confusion(pred, item.truth)
        values = scores(counts)
        edge = boundary_counts(pred, item.truth)
        self.total = self.total + counts
        self.boundary = self.boundary + edge
        height, width = item.truth.shape
        size_px = face_size_px(item.truth)
        ita = face_ita(item.image, item.truth)
        self.rows.append({"id": item.item_id, "source": item.source, "width": width, "height": height,
                          "tp": counts.tp, "fp": counts.fp, "fn": counts.fn, "tn": counts.tn, **values,
                          BOUNDARY_METRIC: edge.iou, "boundary_intersection": edge.intersection,
                          "boundary_union": edge.union, "occluder": item.occluder,
                          "face_size_px": round(size_px, 1), "face_size": face_size_bin(size_px),
                          "skin_ita": round(ita, 1), "skin_tone": skin_tone_group(ita)})  # fmt: skip
        if worst_k <= 0:
            return
        # An image with no face in either mask is a perfect face prediction (its face IoU is undefined).
        rank = 1.0 if math.isnan(values["face_iou"]) else values["face_iou"]
        if len(self.worst) < worst_k or -rank > self.worst[0][0]:
            tile = error_tile(item.image, item.truth, pred, tile_px, f"{item.item_id} IoU {rank:.3f}")
            case = None if item.index is None or item.image is None else WorstCase(
                item.item_id, item.index, counts.tp, counts.fp, counts.fn, item.image, item.truth, pred)  # fmt: skip
            entry = (-rank, len(self.rows), item.item_id, tile, case)
            if len(self.worst) < worst_k:
                heapq.heappush(self.worst, entry)
            else:
                heapq.heapreplace(self.worst, entry)

    def ordered_worst(self) -> list[tuple[float, int, str, np.ndarray, WorstCase | None]]:
        """The kept worst entries, worst first (ties: in the order scored)."""
        return sorted(self.worst, key=lambda e: (e[0], -e[1]), reverse=True)

    def summary(self) -> dict[str, Any]:
        """The pooled scores (every image's counts summed, then one ratio) and, beside them, the mean of the
        per-image face IoUs over the images where it is defined (the number papers usually report)."""
        defined = [row["face_iou"] for row in self.rows if not math.isnan(row["face_iou"])]
        per_image = float(np.mean(defined)) if defined else float("nan")
        summary: dict[str, Any] = {"images": len(self.rows), **scores(self.total), "face_iou_per_image_mean": per_image}
        edges = [row[BOUNDARY_METRIC] for row in self.rows if not math.isnan(row.get(BOUNDARY_METRIC, math.nan))]
        summary[BOUNDARY_METRIC] = self.boundary.iou
        summary[f"{BOUNDARY_METRIC}_per_image_mean"] = float(np.mean(edges)) if edges else float("nan")
        summary["boundary_dilation_frac"] = BOUNDARY_DILATION_FRAC
        occluders = sorted({str(row.get("occluder", "")) for row in self.rows})
        if any(occluders):
            summary["by_occluder"] = group_scores(self.rows, "occluder", occluders)
        if any("face_size" in row for row in self.rows):
            summary["by_face_size"] = group_scores(self.rows, "face_size", face_size_bins())
        if any(row.get("skin_tone", NO_SKIN) != NO_SKIN for row in self.rows):
            summary["by_skin_tone"] = group_scores(self.rows, "skin_tone", skin_tone_groups())
        return summary


def error_tile(image: np.ndarray | None, truth: np.ndarray, pred: np.ndarray, tile_px: int, label: str) -> np.ndarray:
    """``image | overlay`` side by side, each ``tile_px``²: true face green, false face red, missed face blue."""
    base = np.full((*truth.shape, 3), 96, np.uint8) if image is None else image
    overlay = base.astype(np.float32)
    for region, colour in ((pred & truth, (0, 255, 0)), (pred & ~truth, (255, 0, 0)), (~pred & truth, (0, 0, 255))):
        overlay[region] = 0.5 * overlay[region] + 0.5 * np.array(colour, np.float32)
    tiles = [cv2.resize(t, (tile_px, tile_px), interpolation=cv2.INTER_AREA)
             for t in (base, np.clip(overlay + 0.5, 0, 255).astype(np.uint8))]  # fmt: skip
    sheet = np.concatenate(tiles, axis=1)
    cv2.putText(sheet, label[:40], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
    return sheet


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def write_report(result: EvalResult, out: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Write ``per_image.csv``, ``summary.json`` and ``worst.png`` into ``out``; return the summary."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create {out}: {error.strerror or error}; choose a writable --out") from error
    fields = ["id", "source", "width", "height", "tp", "fp", "fn", "tn", *METRIC_NAMES, BOUNDARY_METRIC,
              "boundary_intersection", "boundary_union", "occluder", "face_size_px", "face_size",
              "skin_ita", "skin_tone"]  # fmt: skip
    with (out / PER_IMAGE_CSV).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in result.rows:
            writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    summary = {**result.summary(), **extra}
    (out / SUMMARY_JSON).write_text(json.dumps(_clean(summary), indent=2))
    if result.worst:
        tiles = [entry[3] for entry in result.ordered_worst()]
        write_png(out / WORST_PNG, np.concatenate(tiles, axis=0))
    return summary


ProgressCallback = Callable[[int], None]


def read_prediction(path: Path, threshold: float = 0.5) -> np.ndarray:
    """A predicted mask file as bool (H, W): grey or colour (channels' max), 0/1, 0/255 or a probability map
    thresholded at ``threshold`` (:func:`~occgen.train.metrics.binarize_prediction`)."""
    raw = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise SourceError(f"cannot decode {path}: the file is empty or corrupt")
    if raw.ndim == 3:
        raw = raw[:, :, :3].max(axis=2)
    try:
        return binarize_prediction(raw, str(path), threshold)
    except ArrayContractError as error:
        raise SourceError(str(error)) from error


def evaluate_predictions(
    pred_dir: Path,
    gt_dir: Path,
    *,
    threshold: float = 0.5,
    images_dir: Path | None = None,
    worst_k: int = 8,
    tile_px: int = 160,
    on_progress: ProgressCallback | None = None,
) -> EvalResult:
    """Score ``pred_dir/<stem>.*`` masks against ``gt_dir`` (``<stem>.png`` files or a root with ``masks/``)."""
    pred_dir = require_dir(Path(pred_dir), "prediction folder", "pass the folder of predicted <stem>.png masks")
    if images_dir is not None:
        images_dir = require_dir(Path(images_dir), "images folder", "pass the folder of the scored images or omit it")
    gt_dir = require_dir(Path(gt_dir), "ground-truth folder", "pass a folder of <stem>.png masks (or holding masks/)")
    if (gt_dir / "masks").is_dir():
        if images_dir is None and (gt_dir / "images").is_dir():
            images_dir = gt_dir / "images"
        gt_dir = gt_dir / "masks"
    truths = list_images(gt_dir)
    if not truths:
        raise SourceError(f"no ground-truth masks in {gt_dir}")
    preds = {p.stem: p for p in list_images(pred_dir)}
    missing = [p.stem for p in truths if p.stem not in preds]
    if missing:
        raise SourceError(
            f"{len(missing)} ground-truth mask(s) in {gt_dir} have no prediction in {pred_dir} "
            f"(e.g. {missing[0]} needs {pred_dir / (missing[0] + '.png')})"
        )
    images = {p.stem: p for p in list_images(images_dir)} if images_dir is not None else {}
    result = EvalResult()
    for truth_path in truths:
        truth = read_binary_mask(truth_path).astype(bool)
        pred_path = preds[truth_path.stem]
        pred = read_prediction(pred_path, threshold)
        if pred.shape != truth.shape:
            raise SourceError(
                f"prediction {pred_path} is {pred.shape[1]}x{pred.shape[0]} but ground truth {truth_path} is "
                f"{truth.shape[1]}x{truth.shape[0]}: masks must have the same size (no silent resize)"
            )
        image = read_image(images[truth_path.stem]) if truth_path.stem in images else None
        if image is not None and image.shape[:2] != truth.shape:
            image = None  # only used for the worst-case sheet
        item = EvalItem(truth_path.stem, truth, image, str(pred_path))
        result.add(item, pred, worst_k=worst_k, tile_px=tile_px)
        if on_progress:
            on_progress(1)
    return result


def _autocast(device: Any, dtype: str) -> Any:
    import torch

    if dtype == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def prepare_model(model: Any, device: Any, *, channels_last: bool) -> Any:
    import torch

    model = model.to(device).eval()
    return model.to(memory_format=torch.channels_last) if channels_last else model


def predict_batch(model: Any, images: list[np.ndarray], *, input_size: int, device: Any, dtype: str = "fp32",
                  channels_last: bool = False) -> list[np.ndarray]:  # fmt: skip
    """Face masks (bool, each image's own size) for a list of uint8 RGB images of any sizes."""
    import torch
    from torch.nn import functional as F

    batch = np.stack([resize_image(image, (input_size, input_size)) for image in images])
    inputs = torch.from_numpy(batch).permute(0, 3, 1, 2).to(device).float().div_(255.0)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), _autocast(device, dtype):
        logits = model(inputs).float()
    masks = []
    for logit, image in zip(logits, images, strict=True):
        height, width = image.shape[:2]
        if (height, width) != (input_size, input_size):
            logit = F.interpolate(logit[None], size=(height, width), mode="bilinear", align_corners=False)[0]
        masks.append((logit[0] > 0).cpu().numpy())
    return masks


def evaluate_model(
    model: Any,
    items: Iterator[EvalItem],
    *,
    input_size: int,
    batch_size: int = 8,
    device: Any = None,
    dtype: str = "fp32",
    channels_last: bool = False,
    worst_k: int = 8,
    tile_px: int = 160,
    on_progress: ProgressCallback | None = None,
) -> EvalResult:
    """Predict every item with ``model`` (in batches) and score it against its ground truth."""
    import torch

    device = device or torch.device("cpu")
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    model = prepare_model(model, device, channels_last=channels_last)
    result = EvalResult()
    for batch in batched(items, batch_size):
        images = [item.image for item in batch if item.image is not None]  # model inputs always carry images
        preds = predict_batch(model, images, input_size=input_size, device=device,
                              dtype=dtype, channels_last=channels_last)  # fmt: skip
        for item, pred in zip(batch, preds, strict=True):
            result.add(item, pred, worst_k=worst_k, tile_px=tile_px)
        if on_progress:
            on_progress(len(batch))
    return result


def measure_fps(model: Any, *, input_size: int, batch_size: int, device: Any, dtype: str = "fp32",
                channels_last: bool = False, iterations: int = 10, warmup: int = 2) -> dict[str, Any]:  # fmt: skip
    """Images/s of the model alone (forward pass on a random batch; no decoding, resizing or scoring)."""
    import torch

    if iterations < 1:
        raise ConfigError(f"FPS iterations must be >= 1, got {iterations}")
    model = prepare_model(model, device, channels_last=channels_last)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(batch_size, 3, input_size, input_size, generator=generator).to(device)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)

    def run(count: int) -> None:
        with torch.inference_mode(), _autocast(device, dtype):
            for _ in range(count):
                model(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(warmup)
    started = time.perf_counter()
    run(iterations)
    seconds = time.perf_counter() - started
    return {
        "fps": batch_size * iterations / seconds, "batch": batch_size, "input_size": input_size,
        "device": str(device), "dtype": dtype, "channels_last": channels_last,
        "threads": torch.get_num_threads(), "iterations": iterations,
    }  # fmt: skip
