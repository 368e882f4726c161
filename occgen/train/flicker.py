"""Temporal stability of predicted face masks on clips (issue 27): ``occgen evaluate --clips``.

Where it sits: beside :mod:`occgen.train.evaluate`; it scores a model run frame by frame on a clip store
(:mod:`occgen.store.clips`) or folders of predicted frames ``<clip_id>/<frame>.png`` against the folder export of
a clip store (``masks/<clip_id>/<frame>.png``).

Per clip of T frames, with P_t the predicted and G_t the true face mask (bool (H, W)):

- ``change(A, t)``: the share of pixels where A_t differs from A_{t-1} moved by the known face motion from
  frame t-1 to t (the clip's recorded head matrices; on folders, which record none, unmoved);
- ``flicker``: the mean over transitions of ``change(P, t) - change(G, t)``: 0 for a model returning the true
  masks, growing with per-frame noise; below 0 when a model lags the true changes (e.g. copies the previous
  mask);
- ``iou_drop_share``: the share of transitions where the face IoU falls by more than ``drop_points`` IoU
  points (5 by default) from the previous frame.

The summary pools transitions over every clip (each transition weighs the same), beside the mean face IoU.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ArrayContractError, ConfigError, SourceError
from occgen.core.imageio import read_binary_mask
from occgen.core.targets import AffineWarp, Target, Targets, apply_geometric
from occgen.store import open_store
from occgen.store.clips import ClipView, Matrix, head_matrices, relative_motion  # noqa: F401 (re-exported)

DROP_POINTS = 5.0


@dataclass(frozen=True)
class ClipScore:
    """One clip: per-frame face IoU, per-transition predicted and true mask change (shares of pixels)."""

    clip_id: str
    iou: tuple[float, ...]
    pred_change: tuple[float, ...]
    true_change: tuple[float, ...]
    drop_points: float = DROP_POINTS

    @property
    def flicker(self) -> float:
        return float(np.mean(np.subtract(self.pred_change, self.true_change)))

    @property
    def drops(self) -> int:
        return int(sum(1 for a, b in zip(self.iou, self.iou[1:], strict=False) if b < a - self.drop_points / 100.0))


def face_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of two bool masks (1.0 when both are empty)."""
    union = int(np.logical_or(pred, truth).sum())
    return float(np.logical_and(pred, truth).sum()) / union if union else 1.0


def moved(mask: np.ndarray, motion: Matrix | None) -> np.ndarray:
    """A bool mask moved by ``motion`` (nearest; outside the frame: background); unmoved when None."""
    if motion is None or np.allclose(motion, [[1, 0, 0], [0, 1, 0]]):
        return mask
    targets = Targets({"mask": Target.mask(mask.astype(np.uint8))})
    return apply_geometric(targets, AffineWarp.of(motion)).array("mask").astype(bool)


def score_clip(
    clip_id: str, preds: Sequence[np.ndarray], truths: Sequence[np.ndarray], motions: Sequence[Matrix] | None = None,
    *, drop_points: float = DROP_POINTS,
) -> ClipScore:  # fmt: skip
    """Score one clip: ``preds`` / ``truths`` bool (H, W) per frame; ``motions`` the frames' head matrices."""
    if len(preds) != len(truths) or len(preds) < 2:
        raise ConfigError(f"clip {clip_id}: {len(preds)} predicted and {len(truths)} true frames; need >= 2 of each")
    for t, (pred, truth) in enumerate(zip(preds, truths, strict=True)):
        if pred.shape != truth.shape or pred.ndim != 2:
            raise ArrayContractError(f"clip {clip_id} frame {t}: expected two (H, W) masks, got {pred.shape} and "
                                     f"{truth.shape}")  # fmt: skip
    iou, pred_change, true_change = [], [], []
    for t, (pred, truth) in enumerate(zip(preds, truths, strict=True)):
        pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
        iou.append(face_iou(pred, truth))
        if t == 0:
            continue
        motion = relative_motion(motions[t - 1], motions[t]) if motions is not None else None
        pred_change.append(float(np.mean(pred != moved(np.asarray(preds[t - 1], bool), motion))))
        true_change.append(float(np.mean(truth != moved(np.asarray(truths[t - 1], bool), motion))))
    return ClipScore(clip_id, tuple(iou), tuple(pred_change), tuple(true_change), drop_points)


def summarise(scores: Sequence[ClipScore]) -> dict[str, Any]:
    """Pooled over every transition of every clip: flicker, IoU-drop share, mean face IoU, counts."""
    if not scores:
        raise ConfigError("no clips to score")
    transitions = sum(len(s.pred_change) for s in scores)
    flicker = sum(s.flicker * len(s.pred_change) for s in scores) / transitions
    return {
        "clips": len(scores), "frames": sum(len(s.iou) for s in scores), "transitions": transitions,
        "flicker": flicker, "pred_change": float(np.mean([c for s in scores for c in s.pred_change])),
        "true_change": float(np.mean([c for s in scores for c in s.true_change])),
        "iou_drop_share": sum(s.drops for s in scores) / transitions, "drop_points": scores[0].drop_points,
        "face_iou_per_frame_mean": float(np.mean([i for s in scores for i in s.iou])),
    }  # fmt: skip


Predict = Callable[[list[np.ndarray]], list[np.ndarray]]


def score_clip_store(store: Path | str, predict: Predict, *, on_progress: Callable[[int], Any] | None = None,
                     drop_points: float = DROP_POINTS) -> list[ClipScore]:  # fmt: skip
    """Run ``predict`` (uint8 RGB frames -> bool masks) on each clip of a clip store, frame by frame."""
    view = ClipView(open_store(store), name=str(store))
    scores = []
    for index in range(len(view)):
        clip = view[index]
        preds = predict(list(clip.image))
        truths = [mask.astype(bool) for mask in clip.face_mask]
        scores.append(score_clip(clip.clip_id, preds, truths, head_matrices(clip.metadata), drop_points=drop_points))
        if on_progress:
            on_progress(clip.frames)
    return scores


def score_clip_folders(pred_dir: Path, gt_dir: Path, *, threshold: float = 0.5,
                       drop_points: float = DROP_POINTS) -> list[ClipScore]:  # fmt: skip
    """Score ``pred_dir/<clip_id>/<frame>.png`` against ``gt_dir`` (the folder export of a clip store, or its
    ``masks/``): every true frame needs a prediction of its size. No face motion is known here: consecutive
    frames are compared unmoved."""
    gt_dir = Path(gt_dir) / "masks" if (Path(gt_dir) / "masks").is_dir() else Path(gt_dir)
    clips = sorted(p for p in gt_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) if gt_dir.is_dir() else []
    if not clips:
        raise SourceError(
            f"no clip folders (<clip_id>/<frame>.png) in {gt_dir}; export a clip store with --format folder"
        )
    scores = []
    for folder in clips:
        frames = sorted(folder.glob("*.png"))
        truths, preds = [], []
        for frame in frames:
            pred_path = Path(pred_dir) / folder.name / frame.name
            if not pred_path.is_file():
                raise SourceError(f"{frame} has no prediction: expected {pred_path}")
            truths.append(read_binary_mask(frame).astype(bool))
            raw = cv2.imread(str(pred_path), cv2.IMREAD_GRAYSCALE)
            if raw is None:
                raise SourceError(f"cannot decode {pred_path}: the file is empty or corrupt")
            preds.append(raw.astype(np.float32) / 255.0 >= threshold)
        scores.append(score_clip(folder.name, preds, truths, drop_points=drop_points))
    return scores


def write_flicker_report(scores: Sequence[ClipScore], out: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """``out/flicker.json`` (the summary + ``extra``) and ``out/per_clip.csv``; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {**summarise(scores), **extra}
    (out / "flicker.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["clip_id,frames,flicker,iou_drops,face_iou_mean"]
    for s in scores:
        lines.append(f"{s.clip_id},{len(s.iou)},{s.flicker:.6f},{s.drops},{np.mean(s.iou):.6f}")
    (out / "per_clip.csv").write_text("\n".join(lines) + "\n")
    return summary


def describe(summary: dict[str, Any]) -> str:
    """One line for the terminal."""
    return (
        f"{summary['clips']} clips, {summary['frames']} frames: flicker {summary['flicker']:+.4f} (predicted change "
        f"{summary['pred_change']:.4f} - true {summary['true_change']:.4f} of pixels per frame), IoU drops > "
        f"{summary['drop_points']:g} points in {100 * summary['iou_drop_share']:.1f} % of transitions; face IoU "
        f"per frame {summary['face_iou_per_frame_mean']:.4f}"
    )


def clip_score_dicts(scores: Sequence[ClipScore]) -> list[dict[str, Any]]:
    return [asdict(s) for s in scores]


def evaluate_clips(
    out: Path, *, model: Path | None = None, data: Path | None = None, pred: Path | None = None,
    gt: Path | None = None, threshold: float = 0.5, input_size: int | None = None, device: str = "cpu",
    dtype: str = "fp32", channels_last: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """``occgen evaluate --clips``: a checkpoint on a clip store (``model``, ``data``) or predicted frames
    (``pred``, ``gt``); writes the report (:func:`write_flicker_report`) and returns its summary."""
    if pred is not None:
        if gt is None:
            raise ConfigError("--clips --pred needs --gt (the folder export of the clip store, or its masks/)")
        scores = score_clip_folders(pred, gt, threshold=threshold)
        return write_flicker_report(scores, out, {"pred": str(pred), "gt": str(gt), "threshold": threshold})
    if model is None or data is None:
        raise ConfigError("--clips needs --model CKPT --data CLIP_STORE, or --pred DIR --gt DIR")
    from occgen.train.evaluate import predict_batch, prepare_model
    from occgen.train.trainer import load_checkpoint, resolve_device

    net, info = load_checkpoint(model)
    size = input_size or int(info.get("config", {}).get("input_size", 256))
    torch_device = resolve_device(device)
    net = prepare_model(net, torch_device, channels_last=channels_last)

    def predict(frames: list[np.ndarray]) -> list[np.ndarray]:
        return predict_batch(net, frames, input_size=size, device=torch_device, dtype=dtype,
                             channels_last=channels_last)  # fmt: skip

    scores = score_clip_store(data, predict)
    return write_flicker_report(scores, out, {"model": str(model), "data": str(data), "input_size": size})
