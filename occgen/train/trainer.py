"""The training stage: ResNet-18 U-Net + BCE/OHEM on occgen stores, with checkpoints, resume and
per-epoch metrics for DVC plots. The defaults are the FaceOcc paper's (section 4): Adam (betas 0.9,
0.999, no weight decay), learning rate 1e-4 dropped to 1e-5 after epoch 20, 30 epochs, batch 16.

Output folder::

    epoch_001.pt ...   model weights after each epoch (every ``checkpoint_every`` epochs)
    step_000100.pt ... model weights every ``checkpoint_every_steps`` optimizer steps (when set)
    last.pt            model + optimizer after the latest epoch (what ``--resume`` reads)
    metrics.csv        one row per epoch (DVC plots): loss, lr, training-batch IoUs, [val_*], speed, steps so far
    steps.csv          with a step budget (``train.steps`` / ``train.max_samples``): one row per step (loss)
    metrics.json       the latest row (DVC metrics)
    config.json        the resolved config and the training stores

A step budget ends training after that many optimizer steps, wherever it falls in an epoch (the last epoch's
row then covers the steps run in it); ``--resume`` restarts after the last finished epoch, or does nothing
when the budget was spent. With ``clips`` (``--clips``, issue 27) the data are pairs of consecutive clip frames
and the loss adds a temporal-consistency term (:mod:`occgen.train.clip_pairs`; ``temporal_loss`` in metrics.csv).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from occgen import __version__
from occgen.core.errors import ConfigError, StoreError
from occgen.core.files import atomic_path
from occgen.core.params import to_plain
from occgen.store.schema import card_digest
from occgen.train import clip_pairs, online_clips
from occgen.train.architectures import build_model, canonical_arch, load_encoder_weights, needs_full_batches
from occgen.train.clip_pairs import ClipPairDataset
from occgen.train.config import DEFAULT_ARCH, DEVICES, RESUMABLE_CHANGES, ClipTrainConfig, CropConfig, TrainConfig  # noqa: F401 (re-exported)
from occgen.train.data import ShardShuffleSampler, StoreDataset
from occgen.train.loss import ohem_bce_loss
from occgen.train.metrics import BOUNDARY_METRIC, BoundaryCounts, Confusion, boundary_counts, confusion, scores
from occgen.train.model import read_torch_file
from occgen.train.multiclass import N_PARSING, class_scores, confusion_matrix, n_outputs, ohem_ce_loss
from occgen.train.online import MixedDataset, OnlineDataset

ARCH = DEFAULT_ARCH  # the default architecture (kept for callers of the single-architecture trainer)

LAST = "last.pt"
METRICS_CSV = "metrics.csv"
STEPS_CSV = "steps.csv"
METRICS_JSON = "metrics.json"


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but torch sees no CUDA device here; use --device cpu")
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; valid: {', '.join(DEVICES)}")
    return torch.device(name)


def to_model_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` -> float32 in [0, 1] on ``device``."""
    return images.to(device, non_blocking=True).float().div_(255.0)


@dataclass
class TrainReport:
    out: Path
    first_epoch: int  # first epoch run by this call (1-based)
    last_epoch: int
    rows: list[dict[str, Any]]
    steps: int = 0  # optimizer steps done in all (this call and the ones it resumed)
    crops_without_points: int | None = None  # template crops on: store samples without five points (un-cropped)


def _data_description(dataset: StoreDataset | MixedDataset | ClipPairDataset) -> list[dict[str, Any]]:
    if isinstance(dataset, MixedDataset):
        return dataset.describe()
    return [
        {"path": str(path), "n": n, "generation": card.get("generation", {}), "digest": card_digest(card),
         "licences": {k: v.get("licence") for k, v in card.get("sources", {}).items()}}  # for model cards
        for path, n, card in zip(dataset.paths, dataset.lengths, dataset.cards, strict=True)
    ]  # fmt: skip


def _crop_note(dataset: StoreDataset | MixedDataset | ClipPairDataset) -> dict[str, Any]:
    """``{"crops_without_points": n}`` when template crops are on: the store samples used un-cropped."""
    stores = dataset.stores if isinstance(dataset, MixedDataset) else dataset
    if stores is None or stores.crops is None or not stores.crops.templates:
        return {}
    return {"crops_without_points": stores.without_points}


def _atomic_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as temporary:
        torch.save(obj, temporary)


def _check_resume(checkpoint: dict[str, Any], config: TrainConfig, data: list[dict[str, Any]], path: Path) -> None:
    if checkpoint_arch(checkpoint) != config.arch:
        raise StoreError(f"{path} is not an occgen {config.arch} checkpoint (it holds {checkpoint.get('arch')!r})")
    # Keys older runs lack: train.arch (before it, every run was the U-Net), target, class_weights, crops.
    old = {"arch": DEFAULT_ARCH, "target": "face", "class_weights": None, "crops": to_plain(CropConfig()),
           **checkpoint.get("config", {})}  # fmt: skip
    new = to_plain(config)
    changed = sorted(k for k in set(old) | set(new) if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k))
    if changed:
        raise ConfigError(
            f"cannot resume {path}: the config differs in {', '.join(changed)}; "
            f"use the same settings (only {', '.join(RESUMABLE_CHANGES)} may change) or another --out"
        )
    old_data = [(d["path"], d["n"], d.get("generation")) for d in checkpoint.get("data", [])]
    new_data = [(d["path"], d["n"], d.get("generation")) for d in data]
    if old_data != new_data:
        raise ConfigError(
            f"cannot resume {path}: it was trained on {[d[0] for d in old_data]}, not {[d[0] for d in new_data]} "
            "(or those stores changed); pass the same --data or another --out"
        )


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    fieldnames = list(rows[-1])
    with atomic_path(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _json_ready(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}


BatchCallback = Callable[[int, int, int, float], None]  # (epoch, batches done, batches in epoch, loss)


def evaluate_counts(model: nn.Module, dataset: StoreDataset, *, batch_size: int,
                    device: torch.device) -> tuple[Confusion, BoundaryCounts]:  # fmt: skip
    """Summed confusion and face Boundary IoU counts of ``model`` over ``dataset`` (no augmentation), in eval
    mode. The boundary bands cost two distance transforms per image, small beside the forward pass."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    counts, edges = Confusion(), BoundaryCounts()
    model.eval()
    with torch.inference_mode():
        for images, masks in loader:
            pred = (model(to_model_input(images, device))[:, 0] > 0).cpu().numpy()
            truth = masks.numpy().astype(bool)
            counts = counts + confusion(pred, truth)
            edges = sum((boundary_counts(p, t) for p, t in zip(pred, truth, strict=True)), edges)
    return counts, edges


def evaluate_parsing_counts(model: nn.Module, dataset: StoreDataset, *, batch_size: int,
                            device: torch.device) -> Any:  # fmt: skip
    """Summed parsing confusion matrix of ``model`` over ``dataset`` (no augmentation), in eval mode."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    matrix: Any = 0
    model.eval()
    with torch.inference_mode():
        for images, labels in loader:
            pred = model(to_model_input(images, device)).argmax(dim=1)
            matrix = matrix + confusion_matrix(pred.cpu().numpy(), labels.numpy())
    return matrix


def _parsing_scores(matrix: Any) -> dict[str, float]:
    """The flat metrics a metrics.csv row holds for the parsing target (mIoU, pixel accuracy)."""
    values = class_scores(matrix)
    return {"miou": values["miou"], "pixel_accuracy": values["pixel_accuracy"]}


def _ignore_step(step: int, steps: int, loss: float) -> None:
    pass


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    config: TrainConfig,
    device: torch.device,
    on_step: Callable[[int, int, float], None],
    max_batches: int | None = None,
    clip_weight: float = 0.0,
) -> dict[str, float]:
    """One pass over ``loader``; returns the epoch's row: OHEM ``loss`` (what is optimised: the mean over
    hard pixels), plain ``bce`` over all pixels, ``train_*`` metrics of the training batches (as predicted
    during the epoch, in train mode), ``seconds`` and ``images_per_s``; on clip pairs also ``temporal_loss`` (its
    mean, unweighted; ``loss`` adds it x ``clip_weight``)."""
    model.train()
    started = time.perf_counter()
    loss_sum, bce_sum, seen, counts = 0.0, 0.0, 0, Confusion()
    batches = len(loader)
    parsing = config.target == "parsing"
    matrix: Any = 0
    weight = torch.tensor(config.class_weights, dtype=torch.float32) if config.class_weights else None
    temporal_sum, pairs = 0.0, 0
    for step, batch in enumerate(loader, start=1):
        if max_batches is not None and step > max_batches:
            break  # the step budget ends inside this epoch
        images, masks, motion = clip_pairs.frame_batch(batch)  # clip pairs: 2B frames, t and t+1 side by side
        target = masks.to(device).unsqueeze(1).float()
        inputs = to_model_input(images, device)
        if config.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
            logits = model(inputs)
        logits = logits.float()
        if parsing:
            loss = ohem_ce_loss(logits, masks.to(device), threshold=config.ohem_threshold, min_kept=config.min_kept,
                                weight=weight)  # fmt: skip
        else:
            loss = ohem_bce_loss(logits, target, threshold=config.ohem_threshold, min_kept=config.min_kept)
        if motion is not None:  # train --clips (issue 27)
            temporal = clip_pairs.temporal_consistency_loss(logits, target, motion.to(device))
            loss = loss + clip_weight * temporal
            temporal_sum, pairs = temporal_sum + float(temporal.detach()) * len(motion), pairs + len(motion)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
        loss_sum += loss_value * len(images)
        seen += len(images)
        if parsing:  # plain cross-entropy over all pixels stands in the `bce` column
            bce_sum += float(F.cross_entropy(logits.detach(), masks.to(device).long())) * len(images)
            matrix = matrix + confusion_matrix(logits.detach().argmax(dim=1).cpu().numpy(), masks.numpy())
        else:
            bce_sum += float(F.binary_cross_entropy_with_logits(logits.detach(), target)) * len(images)
            counts = counts + confusion((logits.detach()[:, 0] > 0).cpu().numpy(), masks.numpy().astype(bool))
        on_step(step, batches, loss_value)
    seconds = time.perf_counter() - started
    if parsing:
        return {
            "loss": loss_sum / max(seen, 1), "ce": bce_sum / max(seen, 1),
            **{f"train_{name}": value for name, value in _parsing_scores(matrix).items()},
            "seconds": seconds, "images_per_s": seen / seconds if seconds > 0 else 0.0,
        }  # fmt: skip
    return {
        "loss": loss_sum / max(seen, 1),
        "bce": bce_sum / max(seen, 1),
        **{f"train_{name}": value for name, value in scores(counts).items()},
        **({"temporal_loss": temporal_sum / pairs} if pairs else {}),
        "seconds": seconds,
        "images_per_s": seen / seconds if seconds > 0 else 0.0,
    }


def train(
    config: TrainConfig,
    data: list[Path],
    out: Path,
    *,
    resume: bool = False,
    val: list[Path] | None = None,
    on_batch: BatchCallback | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    online: OnlineDataset | online_clips.OnlineClipPairDataset | None = None,
    clips: ClipTrainConfig | None = None,
) -> TrainReport:
    """Train (or resume) into ``out``; returns the rows of the epochs run by this call.

    ``online``: samples of a recipe made on the fly (issue 18), after the stores of ``data`` (which may then
    be empty). ``clips``: train on pairs of consecutive frames of the clip stores of ``data`` (and of ``online``
    clips) with a temporal loss.
    """
    out = Path(out)
    device = resolve_device(config.device)
    if online is not None and online.target != config.target:
        raise ConfigError(f"the online dataset makes {online.target} labels but train.target is {config.target!r}")
    dataset: StoreDataset | MixedDataset | ClipPairDataset
    if clips is not None:  # issue 27: pairs of consecutive clip frames (clip_pairs.py; online: online_clips.py)
        dataset = online_clips.clip_training_data(config, data, online)
    elif online is None or data:
        dataset = StoreDataset(data, input_size=config.input_size, augment=config.augment, seed=config.seed,
                               target=config.target, crops=config.crops)  # fmt: skip
    if online is not None and clips is None:
        dataset = MixedDataset(dataset if data and isinstance(dataset, StoreDataset) else None, online)
    val_dataset = StoreDataset(val, input_size=config.input_size, target=config.target) if val else None
    data_info = _data_description(dataset)
    last_path = out / LAST
    model = build_model(config.arch, seed=config.seed, outputs=n_outputs(config.target))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr_at(1), betas=config.betas,
                                 weight_decay=config.weight_decay)  # fmt: skip
    start_epoch, steps_done = 1, 0
    if last_path.exists() and not resume:
        raise ConfigError(f"{out} already holds a training run ({last_path}); pass --resume to continue it "
                          "or choose another --out")  # fmt: skip
    if resume:
        if not last_path.is_file():
            raise ConfigError(f"--resume: no checkpoint {last_path}; start without --resume")
        checkpoint = read_torch_file(last_path, "checkpoint", f"delete {last_path} and start without --resume")
        clip_pairs.check_clip_resume(checkpoint, clips, last_path)  # first: with --clips the data are pairs
        _check_resume(checkpoint, config, data_info, last_path)
        model.load_state_dict(checkpoint["model"], strict=True)
        optimizer.load_state_dict(checkpoint["optimizer"])
        start_epoch = int(checkpoint["epoch"]) + 1
        steps_done = int(checkpoint.get("step", 0))
    elif config.encoder_weights is not None:
        load_encoder_weights(model, config.arch, config.encoder_weights)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and key != "step":
                state[key] = value.to(device)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create {out}: {error.strerror or error}; choose a writable --out") from error
    (out / "config.json").write_text(
        json.dumps(
            {"config": to_plain(config), "data": data_info, "occgen_version": __version__, **_crop_note(dataset),
             **clip_pairs.clip_record(clips)},
            indent=2,
        )  # fmt: skip
    )
    # Rows written after the checkpoint an interrupted run last saved are dropped (they are re-run).
    rows = [r for r in _read_rows(out / METRICS_CSV) if int(r["epoch"]) < start_epoch]
    budget = config.step_budget
    step_rows = [r for r in _read_rows(out / STEPS_CSV) if int(r["step"]) <= steps_done] if budget else []
    sampler = ShardShuffleSampler(dataset, seed=config.seed)  # type: ignore[arg-type]  # MixedDataset: same fields
    # One loader for the run: its worker processes (and their store handles) live from epoch to epoch instead of
    # being forked again each epoch; the sampler runs here, in this process, so set_epoch still sets the order.
    # No worker_init_fn calling cv2.setNumThreads(1): in a forked worker it deadlocked (measured here).
    loader = DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, num_workers=config.workers,
                        persistent_workers=config.workers > 0, pin_memory=device.type == "cuda",
                        drop_last=needs_full_batches(config.arch))  # fmt: skip
    new_rows: list[dict[str, Any]] = []
    last_epoch = start_epoch - 1
    for epoch in range(start_epoch, config.epochs + 1):
        if budget is not None and steps_done >= budget:
            break
        lr = config.lr_at(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        sampler.set_epoch(epoch)
        report_step = partial(on_batch, epoch) if on_batch else _ignore_step
        epoch_start_step = steps_done

        def on_step(step: int, steps: int, loss: float, *, epoch: int = epoch, first: int = epoch_start_step,
                    report_step: Callable[[int, int, float], None] = report_step) -> None:  # fmt: skip
            if budget is not None:
                step_rows.append({"step": first + step, "epoch": epoch, "loss": loss})
            if config.checkpoint_every_steps and (first + step) % config.checkpoint_every_steps == 0:
                _atomic_save({"arch": config.arch, "occgen_version": __version__, "epoch": epoch, "step": first + step,
                              "config": to_plain(config), "data": data_info,
                              "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}},
                             out / f"step_{first + step:06d}.pt")  # fmt: skip
            report_step(step, steps if budget is None else min(steps, budget - first), loss)

        row: dict[str, Any] = {"epoch": epoch, "lr": lr}
        limit = None if budget is None else budget - steps_done
        row.update(_train_epoch(model, optimizer, loader, config, device, on_step, max_batches=limit,
                                clip_weight=clips.weight if clips else 0.0))
        steps_done += len(loader) if limit is None else min(len(loader), limit)
        row["step"] = steps_done
        last_epoch = epoch
        if val_dataset is not None and config.target == "parsing":
            val_matrix = evaluate_parsing_counts(model, val_dataset, batch_size=config.batch_size, device=device)
            row.update({f"val_{name}": value for name, value in _parsing_scores(val_matrix).items()})
        elif val_dataset is not None:
            val_counts, val_edges = evaluate_counts(model, val_dataset, batch_size=config.batch_size, device=device)
            row.update({f"val_{name}": value for name, value in scores(val_counts).items()})
            row[f"val_{BOUNDARY_METRIC}"] = val_edges.iou
        state = {
            "arch": config.arch, "occgen_version": __version__, "epoch": epoch, "step": steps_done,
            "config": to_plain(config),
            "data": data_info, "model": {k: v.cpu() for k, v in model.state_dict().items()},
            **clip_pairs.clip_record(clips),
        }  # fmt: skip
        spent = budget is not None and steps_done >= budget
        if epoch % config.checkpoint_every == 0 or epoch == config.epochs or spent:
            _atomic_save(state, out / f"epoch_{epoch:03d}.pt")
        _atomic_save({**state, "optimizer": optimizer.state_dict()}, last_path)
        rows.append(row)
        new_rows.append(row)
        _write_rows(out / METRICS_CSV, rows)
        if budget is not None:
            _write_rows(out / STEPS_CSV, step_rows)
        (out / METRICS_JSON).write_text(json.dumps(_json_ready(row), indent=2))
        if on_epoch:
            on_epoch(row)
    return TrainReport(out, start_epoch, last_epoch, new_rows, steps_done,
                       _crop_note(dataset).get("crops_without_points"))


def checkpoint_arch(checkpoint: Any) -> str | None:
    """The (canonical) architecture of a loaded checkpoint dict, or None if it is not an occgen checkpoint."""
    if not isinstance(checkpoint, dict) or "model" not in checkpoint or not isinstance(checkpoint.get("arch"), str):
        return None
    try:
        return canonical_arch(checkpoint["arch"])
    except ConfigError:
        return None


def load_checkpoint(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """A model from an occgen checkpoint (loaded strictly) and the checkpoint's other fields (``arch``
    canonical: checkpoints from before ``train.arch`` say ``resnet18-unet``)."""
    path = Path(path)
    checkpoint = read_torch_file(path, "checkpoint", "pass a .pt file written by `occgen train`")
    arch = checkpoint_arch(checkpoint)
    if arch is None:
        raise ConfigError(f"{path} is not an occgen checkpoint (written by `occgen train` or `occgen export-model`)")
    # A parsing checkpoint (train.target parsing) has one output channel per parsing class.
    parsing = checkpoint.get("config", {}).get("target", "face") == "parsing"
    model = build_model(arch, seed=0, outputs=N_PARSING if parsing else 1)
    try:
        model.load_state_dict(checkpoint["model"], strict=True)
    except RuntimeError as error:
        raise ConfigError(f"{path}: its weights do not match {arch}: {error}") from error
    model.eval()
    info = {k: v for k, v in checkpoint.items() if k not in ("model", "optimizer")}
    info["arch"] = arch
    return model, info
