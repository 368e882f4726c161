"""``occgen train`` and ``occgen evaluate``: the command-line shells of :mod:`occgen.train` (issue 6).

Registered on the main app in :mod:`occgen.cli.main`; heavy imports (torch) happen inside the commands so
``occgen --help`` stays fast.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from occgen.cli.common import WORKERS_HELP, Device, resolve_workers


class Target(StrEnum):
    face = "face"
    parsing = "parsing"


class DType(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"


def _paths(value: str) -> list[Path]:
    return [Path(part.strip()) for part in value.split(",") if part.strip()]


def dataloader_workers(workers: int | None) -> int | None:
    """``--workers`` (0 = one per CPU core, 1 = this process only, as in every command) as PyTorch's
    DataLoader ``num_workers`` (0 = in the training process); None keeps params.yaml's ``train.workers``."""
    if workers is None:
        return None
    return 0 if workers == 1 else resolve_workers(workers)


def train_command(
    out: Annotated[Path, typer.Option("--out", help="Output folder: checkpoints, metrics.csv, metrics.json.")],
    data: Annotated[
        str | None, typer.Option("--data", help="Training store(s): STORE[,STORE...] [default: none, --online only].")
    ] = None,
    online: Annotated[
        str | None,
        typer.Option(
            help="Also make samples of this recipe on the fly: randocc, natocc, faceocc or another "
            "registered one [default: none]."
        ),
    ] = None,  # fmt: skip
    online_n: Annotated[
        int | None, typer.Option(help="--online samples per epoch [default: the recipe section's n].")
    ] = None,
    val: Annotated[
        str | None, typer.Option("--val", help="Validation store(s), scored after every epoch [default: none].")
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option("--params", help="params.yaml (section train; base.seed) [default: none, built-in settings]."),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option(
            help="unet-resnet18, segformer-b0..b5, upernet-resnet50 (segformer-tiny, upernet-tiny: "
            "smoke tests) [default: params, else unet-resnet18]."
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs [default: params, else 30].")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size [default: params, else 16].")] = None,
    lr: Annotated[float | None, typer.Option(help="Initial learning rate [default: params, else 1e-4].")] = None,
    input_size: Annotated[
        int | None, typer.Option(help="Input side in px, multiple of 32 [default: params, else 256].")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of init, shuffling, augmentation [default: params train.seed, else base.seed, else 0]."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help=f"{WORKERS_HELP} (batches load in the training process); N > 1: N DataLoader processes "
            "[default: params train.workers, which is PyTorch's num_workers, else 2]."
        ),
    ] = None,
    device: Annotated[Device | None, typer.Option(help="Device [default: params, else cpu].")] = None,
    encoder_weights: Annotated[
        Path | None,
        typer.Option(
            help="Local encoder weights, loaded strictly: torchvision-style ResNet-18 state dict "
            "(unet-resnet18), nvidia/mit-bX (segformer) or microsoft/resnet-50 (upernet) folder or file "
            "[default: params, else random init]."
        ),
    ] = None,
    augment: Annotated[bool | None, typer.Option(help="Training augmentation [default: params, else on].")] = None,
    bf16: Annotated[bool | None, typer.Option(help="bf16 autocast forward pass [default: params, else off].")] = None,
    channels_last: Annotated[
        bool | None, typer.Option(help="channels_last memory format [default: params, else off].")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last.pt.")] = False,
    target: Annotated[
        Target | None,
        typer.Option(
            help="face: binary face mask (BCE + OHEM); parsing: the stores' "
            "parsing label, 23 classes (cross-entropy + OHEM) [default: params, else face]."
        ),
    ] = None,
) -> None:
    """Train a face segmenter (default the ResNet-18 U-Net; BCE + OHEM, or multi-class parsing) on occgen stores."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from occgen.cli.common import err_console, note_demo_sources, user_errors

    with user_errors():
        from occgen.core.errors import ConfigError
        from occgen.settings import load_train_config
        from occgen.train.trainer import train

        config = load_train_config(params)
        overrides: dict[str, Any] = {
            "arch": arch, "epochs": epochs, "batch_size": batch_size, "lr": lr, "input_size": input_size, "seed": seed,
            "workers": dataloader_workers(workers),
            "device": device.value if device else None, "encoder_weights": encoder_weights,
            "bf16": bf16, "channels_last": channels_last, "target": target.value if target else None,
        }  # fmt: skip
        config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
        if augment is not None:
            config = replace(config, augment=replace(config.augment, enabled=augment))
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(), console=err_console,
        )  # fmt: skip
        task = progress.add_task("epoch", total=None, info="")

        def on_batch(epoch: int, step: int, steps: int, loss: float) -> None:
            if not progress.live.is_started:
                progress.start()
            progress.update(task, description=f"epoch {epoch}/{config.epochs}", completed=step, total=steps,
                            info=f"loss {loss:.4f}")  # fmt: skip

        def on_epoch(row: dict[str, Any]) -> None:
            if "ce" in row:  # a parsing run (train.target parsing)
                val_miou = f", val mIoU {row['val_miou']:.4f}" if "val_miou" in row else ""
                progress.console.print(f"epoch {row['epoch']}: loss {row['loss']:.4f}, ce {row['ce']:.4f}, "
                                       f"train mIoU {row['train_miou']:.4f}{val_miou}")  # fmt: skip
                return
            val_text = f", val face IoU {row['val_face_iou']:.4f}" if "val_face_iou" in row else ""
            progress.console.print(
                f"epoch {row['epoch']}: loss {row['loss']:.4f}, bce {row['bce']:.4f}, "
                f"train face IoU {row['train_face_iou']:.4f}{val_text}, {row['images_per_s']:.1f} images/s"
            )

        online_data = None
        if online is not None:
            from occgen.settings import build_named_recipe
            from occgen.train.online import OnlineDataset

            recipe, recipe_n = build_named_recipe(online, params)
            note_demo_sources(recipe.sources())
            online_data = OnlineDataset(recipe, online_n or recipe_n, input_size=config.input_size,
                                        target=config.target)  # fmt: skip
        elif not data:
            raise ConfigError("nothing to train on: pass --data STORE[,STORE...] and/or --online RECIPE")
        try:
            report = train(config, _paths(data or ""), out, resume=resume, val=_paths(val) if val else None,
                           on_batch=on_batch, on_epoch=on_epoch, online=online_data)  # fmt: skip
        finally:
            progress.stop()
        if report.first_epoch > report.last_epoch:
            err_console.print(f"{out} already holds {report.last_epoch} epoch(s); nothing to do")
        else:
            err_console.print(f"trained epochs {report.first_epoch}-{report.last_epoch}; checkpoints in {out}")


def evaluate_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for per_image.csv, summary.json, worst.png.")] = Path(
        "evaluation"
    ),
    model: Annotated[
        Path | None, typer.Option("--model", help="Checkpoint written by `occgen train` [default: none, use --pred].")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Folder (images/ + masks/), CelebAMask-HQ root or zarr store [default: none]."),
    ] = None,
    split: Annotated[
        Path | None, typer.Option(help="CelebAMask-HQ --data: text file of ids to score [default: every image].")
    ] = None,
    pred: Annotated[
        Path | None, typer.Option("--pred", help="Folder of predicted <stem>.png masks [default: none, use --model].")
    ] = None,
    gt: Annotated[
        Path | None, typer.Option("--gt", help="Ground-truth masks folder (or a root with masks/) [default: none].")
    ] = None,
    target: Annotated[
        Target, typer.Option(help="--pred: face masks, or parsing class-id maps (--gt: ids, or a root with parsing/).")
    ] = Target.face,
    images: Annotated[
        Path | None, typer.Option(help="Images for the worst-case sheet in --pred mode [default: none, masks only].")
    ] = None,
    params: Annotated[
        Path | None, typer.Option("--params", help="params.yaml (section evaluate) [default: none, built-in settings].")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="--pred: face where value/255 >= it [default: params, else 0.5].")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size for the model and the FPS [default: params, else 8].")
    ] = None,
    input_size: Annotated[
        int | None, typer.Option(help="Model input side [default: params, else the checkpoint's].")
    ] = None,
    device: Annotated[Device | None, typer.Option(help="Device [default: params, else cpu].")] = None,
    dtype: Annotated[DType | None, typer.Option(help="fp32, or bf16 autocast [default: params, else fp32].")] = None,
    channels_last: Annotated[
        bool | None, typer.Option(help="channels_last memory format [default: params, else off].")
    ] = None,
    worst: Annotated[
        int | None, typer.Option(help="Number of worst images in worst.png; 0: none [default: params, else 8].")
    ] = None,
    fps_iterations: Annotated[
        int | None, typer.Option(help="Batches timed for FPS; 0: skip [default: params, else 10].")
    ] = None,
    clips: Annotated[
        bool, typer.Option("--clips", help="Clips: a clip store (--data), or --pred / --gt folders of "
                           "<clip_id>/<frame>.png; report mask flicker beside IoU (docs/clips.md) [default: off].")
    ] = False,
) -> None:
    """Score a checkpoint on a dataset (--model --data), or predicted masks (--pred --gt)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from occgen.cli.common import err_console, user_errors
    from occgen.core.errors import ConfigError

    with user_errors():
        from occgen.settings import load_evaluate_config
        from occgen.train import evaluate as ev

        if (model is None) == (pred is None):
            raise ConfigError("pass either --model CKPT --data DIR|STORE, or --pred DIR --gt DIR")
        overrides: dict[str, Any] = {
            "threshold": threshold, "batch_size": batch_size, "input_size": input_size,
            "device": device.value if device else None, "dtype": dtype.value if dtype else None,
            "channels_last": channels_last, "worst": worst, "fps_iterations": fps_iterations,
        }  # fmt: skip
        config = replace(load_evaluate_config(params), **{k: v for k, v in overrides.items() if v is not None})
        if clips:  # issue 27: temporal stability on clips (occgen/train/flicker.py)
            from occgen.train.flicker import describe, evaluate_clips

            summary = evaluate_clips(out, model=model, data=data, pred=pred, gt=gt, threshold=config.threshold,
                                     input_size=config.input_size, device=config.device, dtype=config.dtype,
                                     channels_last=config.channels_last)  # fmt: skip
            err_console.print(f"{describe(summary)}; report in {out}", highlight=False)
            return
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=err_console)  # fmt: skip
        if pred is not None:
            if gt is None:
                raise ConfigError("--pred needs --gt (the ground-truth masks folder)")
            if target is Target.parsing:
                from occgen.train.multiclass import evaluate_parsing_predictions

                summary, rows = evaluate_parsing_predictions(pred, gt)
                _write_parsing_report(summary, rows, out, {"pred": str(pred), "gt": str(gt)})
                return
            task = progress.add_task("scoring", total=None)
            with progress:
                result = ev.evaluate_predictions(pred, gt, threshold=config.threshold, images_dir=images,
                                                 worst_k=config.worst,
                                                 on_progress=lambda n: progress.advance(task, n))  # fmt: skip
            extra: dict[str, Any] = {"pred": str(pred), "gt": str(gt), "threshold": config.threshold}
        else:
            assert model is not None  # exactly one of --model / --pred, checked above
            if data is None:
                raise ConfigError("--model needs --data (a folder with images/ + masks/, or a zarr store)")
            from occgen.train.trainer import load_checkpoint, resolve_device

            net, info = load_checkpoint(model)
            size = config.input_size or int(info.get("config", {}).get("input_size", 256))
            torch_device = resolve_device(config.device)
            if info.get("config", {}).get("target") == "parsing":
                _evaluate_parsing(net, data, out, size=size, batch_size=config.batch_size, device=torch_device,
                                  model_path=model)  # fmt: skip
                return
            count, items = ev.open_eval_data(data, split=split)
            task = progress.add_task("evaluating", total=count)
            with progress:
                result = ev.evaluate_model(
                    net, items, input_size=size, batch_size=config.batch_size, device=torch_device,
                    dtype=config.dtype, channels_last=config.channels_last, worst_k=config.worst,
                    on_progress=lambda n: progress.advance(task, n),
                )  # fmt: skip
            extra = {"model": str(model), "checkpoint_epoch": info.get("epoch"), "data": str(data), "input_size": size}
            if config.fps_iterations > 0:
                extra["speed"] = ev.measure_fps(
                    net, input_size=size, batch_size=config.batch_size, device=torch_device, dtype=config.dtype,
                    channels_last=config.channels_last, iterations=config.fps_iterations,
                )  # fmt: skip
        summary = ev.write_report(result, out, extra)
        speed = summary.get("speed")
        fps_text = f", {speed['fps']:.1f} images/s ({speed['dtype']}, batch {speed['batch']})" if speed else ""
        per_image = summary["face_iou_per_image_mean"]
        err_console.print(
            f"{summary['images']} images: face IoU pooled over all pixels {summary['face_iou']:.4f}, "
            f"per-image mean {per_image:.4f}; mIoU {summary['miou']:.4f}, fwIoU {summary['fwiou']:.4f} "
            f"(pooled){fps_text}; report in {out}",
            highlight=False,
        )


def _evaluate_parsing(net: Any, data: Path, out: Path, *, size: int, batch_size: int, device: Any,
                      model_path: Path) -> None:  # fmt: skip
    """A parsing checkpoint: per-class IoU of every parsing class, mIoU, pixel accuracy (summary.json,
    per_image.csv)."""
    from occgen.train.multiclass import evaluate_parsing

    summary, rows = evaluate_parsing(net, data, input_size=size, batch_size=batch_size, device=device)
    _write_parsing_report(summary, rows, out, {"model": str(model_path), "data": str(data), "input_size": size})


def _write_parsing_report(
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
