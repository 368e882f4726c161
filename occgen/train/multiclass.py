"""Multi-class training and evaluation on the ``parsing`` label (``occgen train --target parsing``).

The classes are :data:`occgen.core.labels.PARSING_CLASSES` (background, CelebAMask-HQ's 18 parts, the
generic face class and the three occluder classes: 23 in all). The model is the binary trainer's U-Net
with a 23-channel head; the loss is softmax cross-entropy with OHEM (a pixel is hard when the softmax
probability of its true class is below ``ohem_threshold``, as :func:`occgen.train.loss.ohem_keep_mask`
does for BCE), optionally weighted per class (``train.class_weights``).

Metrics come from a confusion matrix summed over a dataset: per-class IoU (NaN for a class absent from both
truth and prediction), mIoU over the defined classes, pixel accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from occgen.core.errors import ArrayContractError, ConfigError, SourceError
from occgen.core.files import list_images, require_dir
from occgen.core.imageio import read_image, read_labels, resize_image
from occgen.core.iterate import batched
from occgen.core.labels import PARSING_CLASSES
from occgen.sources.faces import FaceFolder
from occgen.store import open_store
from occgen.store.schema import is_store
from occgen.train.loss import ohem_keep_mask

TARGETS = ("face", "parsing")
ModelT = TypeVar("ModelT", bound=nn.Module)
N_PARSING = len(PARSING_CLASSES)


def n_outputs(target: str) -> int:
    """Channels of the model's head for ``target``: 1 face logit, or one logit per parsing class."""
    if target not in TARGETS:
        raise ConfigError(f"unknown training target {target!r}; valid: {', '.join(TARGETS)}")
    return 1 if target == "face" else N_PARSING


def set_head(model: ModelT, out_channels: int, *, seed: int) -> ModelT:
    """Give the U-Net a head with ``out_channels`` (a no-op for 1); initialised from ``seed`` only."""
    head = model.head
    if not isinstance(head, nn.Conv2d):
        raise ConfigError(f"the model's head is a {type(head).__name__}, expected a Conv2d")
    if head.out_channels == out_channels:
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        # The same geometry as the binary head (3x3, stride 1, padding 1 in ResNet18UNet).
        kernel, stride, padding = head.kernel_size[0], head.stride[0], head.padding
        model.head = nn.Conv2d(head.in_channels, out_channels, kernel, stride, padding if isinstance(padding, str)
                               else padding[0])  # fmt: skip
    return model


def ohem_ce_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    threshold: float = 0.7,
    min_kept: int = 100_000,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean (class-weighted) cross-entropy over the OHEM-kept pixels. ``logits`` (N, C, H, W), ``target``
    integer (N, H, W) with ids < C. Hardness is judged on the unweighted loss (the true-class probability)."""
    if logits.ndim != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"logits {tuple(logits.shape)} need a target of (N, H, W), got {tuple(target.shape)}")
    target = target.long()
    pixel_loss = F.cross_entropy(logits.float(), target, reduction="none")
    keep = ohem_keep_mask(pixel_loss, threshold=threshold, min_kept=min_kept)
    if not bool(keep.any()):
        return pixel_loss.sum() * 0.0
    if weight is None:
        return pixel_loss[keep].mean()
    weighted = F.cross_entropy(logits.float(), target, weight=weight.to(logits.device), reduction="none")
    pixel_weight = weight.to(logits.device)[target]
    return weighted[keep].sum() / pixel_weight[keep].sum().clamp_min(1e-12)


def confusion_matrix(pred: np.ndarray, truth: np.ndarray, n_classes: int = N_PARSING) -> np.ndarray:
    """``int64 (C, C)`` counts, rows = truth, columns = prediction, for integer maps of the same shape."""
    if pred.shape != truth.shape:
        raise ArrayContractError(f"prediction is {pred.shape} but ground truth is {truth.shape}: they must match")
    truth = truth.astype(np.int64).ravel()
    if truth.size and (truth.min() < 0 or truth.max() >= n_classes):
        raise ArrayContractError(f"ground truth holds ids outside 0..{n_classes - 1}: max {int(truth.max())}")
    pred = pred.astype(np.int64).ravel()
    if pred.size and (pred.min() < 0 or pred.max() >= n_classes):
        raise ArrayContractError(f"prediction holds ids outside 0..{n_classes - 1}: max {int(pred.max())}")
    return np.bincount(truth * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def class_scores(matrix: np.ndarray, classes: tuple[str, ...] = PARSING_CLASSES) -> dict[str, Any]:
    """Per-class IoU (``{name: iou or NaN}``), ``miou`` over the defined classes, ``pixel_accuracy``."""
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    defined = iou[~np.isnan(iou)]
    total = matrix.sum()
    return {
        "miou": float(defined.mean()) if defined.size else float("nan"),
        "pixel_accuracy": float(tp.sum() / total) if total else float("nan"),
        "per_class_iou": {name: float(value) for name, value in zip(classes, iou, strict=True)},
    }


def _store_items(path: Path) -> tuple[int, Iterator[tuple[str, np.ndarray, np.ndarray]]]:
    reader = open_store(path)
    if "parsing" not in reader.label_names:
        raise SourceError(f"{path} holds no parsing label; generate it with --labels parsing")

    def items() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for index in range(len(reader)):
            sample = reader[index]
            yield str(sample.metadata.get("sample_id", index)), sample.image, reader.labels(index)["parsing"]

    return len(reader), items()


def _folder_items(root: Path) -> tuple[int, Iterator[tuple[str, np.ndarray, np.ndarray]]]:
    folder = FaceFolder(root)
    if not (Path(root) / "parsing").is_dir():
        raise SourceError(f"{root} has no parsing/ folder; export a store made with --labels parsing")
    pairs = [folder.paths(i) for i in range(len(folder))]

    def items() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for image_path, _ in pairs:
            labels = read_labels(Path(root) / "parsing" / f"{image_path.stem}.png")
            yield image_path.stem, read_image(image_path), labels

    return len(pairs), items()


def open_parsing_data(path: Path) -> tuple[int, Iterator[tuple[str, np.ndarray, np.ndarray]]]:
    """``(count, items)`` of ``(id, image, parsing)`` from a store with the parsing label or an exported
    folder with ``parsing/``."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"evaluation data not found: {path}")
    return _store_items(path) if is_store(path) else _folder_items(path)


def predict_parsing(model: nn.Module, images: list[np.ndarray], *, input_size: int, device: Any) -> list[np.ndarray]:
    """Class maps (uint8, each image's own size) for uint8 RGB images."""
    batch = np.stack([resize_image(image, (input_size, input_size)) for image in images])
    inputs = torch.from_numpy(batch).permute(0, 3, 1, 2).to(device).float().div_(255.0)
    with torch.inference_mode():
        logits = model(inputs).float()
    out = []
    for logit, image in zip(logits, images, strict=True):
        height, width = image.shape[:2]
        if (height, width) != (input_size, input_size):
            logit = F.interpolate(logit[None], size=(height, width), mode="bilinear", align_corners=False)[0]
        out.append(logit.argmax(dim=0).to(torch.uint8).cpu().numpy())
    return out


def evaluate_parsing(
    model: nn.Module, data: Path, *, input_size: int, batch_size: int = 8, device: Any = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score a parsing model on ``data``: (summary with per-class IoU for every class, per-image rows)."""
    device = device or torch.device("cpu")
    model = model.to(device).eval()
    count, items = open_parsing_data(data)

    def scored() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for batch in batched(items, batch_size):
            preds = predict_parsing(model, [image for _, image, _ in batch], input_size=input_size, device=device)
            for (item_id, _, truth), pred in zip(batch, preds, strict=True):
                yield item_id, pred, truth

    return score_parsing(scored(), count)


def score_parsing(
    items: Iterable[tuple[str, np.ndarray, np.ndarray]], count: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(summary, per-image rows)`` of ``(id, predicted ids, true ids)`` maps: confusion summed over all."""
    total = np.zeros((N_PARSING, N_PARSING), np.int64)
    rows: list[dict[str, Any]] = []
    for item_id, pred, truth in items:
        matrix = confusion_matrix(pred, truth)
        total = total + matrix
        values = class_scores(matrix)
        rows.append({"id": item_id, "miou": values["miou"], "pixel_accuracy": values["pixel_accuracy"]})
    summary = {"images": count, "target": "parsing", "classes": list(PARSING_CLASSES), **class_scores(total)}
    return summary, rows


def evaluate_parsing_predictions(pred_dir: Path, gt_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score predicted parsing maps ``pred_dir/<stem>.png`` (single-channel class ids) against ``gt_dir``:
    a folder of ``<stem>.png`` id maps, or an exported folder holding ``parsing/``."""
    pred_dir = require_dir(Path(pred_dir), "prediction folder", "pass the folder of predicted <stem>.png id maps")
    gt_dir = require_dir(Path(gt_dir), "ground-truth folder", "pass a folder of <stem>.png id maps (or with parsing/)")
    if (gt_dir / "parsing").is_dir():
        gt_dir = gt_dir / "parsing"
    truths = list_images(gt_dir)
    if not truths:
        raise SourceError(f"no ground-truth parsing maps in {gt_dir}")
    missing = [p.stem for p in truths if not (pred_dir / f"{p.stem}.png").is_file()]
    if missing:
        raise SourceError(
            f"{len(missing)} ground-truth map(s) in {gt_dir} have no prediction in {pred_dir} "
            f"(e.g. {missing[0]} needs {pred_dir / (missing[0] + '.png')})"
        )

    def items() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for truth_path in truths:
            pred_path = pred_dir / f"{truth_path.stem}.png"
            truth, pred = read_labels(truth_path), read_labels(pred_path)
            if pred.shape != truth.shape:
                raise SourceError(
                    f"prediction {pred_path} is {pred.shape[1]}x{pred.shape[0]} but ground truth {truth_path} is "
                    f"{truth.shape[1]}x{truth.shape[0]}: maps must have the same size (no silent resize)"
                )
            if int(pred.max(initial=0)) >= N_PARSING:
                raise SourceError(
                    f"{pred_path} holds class id {int(pred.max())}, but parsing ids are 0..{N_PARSING - 1} "
                    "(occgen/core/labels.py); write class ids, not a colour palette"
                )
            yield truth_path.stem, pred, truth

    return score_parsing(items(), len(truths))


def json_ready(value: Any) -> Any:
    """NaN -> None, recursively (summary.json is read by DVC)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    return value
