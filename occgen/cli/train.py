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
    steps: Annotated[
        int | None,
        typer.Option(help="Budget: stop after N optimizer steps; --epochs is then an upper bound "
                     "[default: params train.steps, else none: --epochs]."),
    ] = None,
    max_samples: Annotated[
        int | None,
        typer.Option(help="Budget in training samples (whole batches) instead of --steps "
                     "[default: params train.max_samples, else none]."),
    ] = None,
    checkpoint_every_steps: Annotated[
        int | None,
        typer.Option(help="Also write step_NNNNNN.pt every N steps; 0: epoch ends only [default: params, else 0]."),
    ] = None,
    log_every: Annotated[
        int, typer.Option(help="When stderr is not a terminal (a log file): one progress line every N steps.")
    ] = 10,
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
    crops: Annotated[
        str | None,
        typer.Option(
            help="Re-align each sample by its landmarks to a template drawn by weight, e.g. ffhq_512:2,arcface_128:1 "
            "(templates: docs/models.md) [default: params, else none]."
        ),
    ] = None,
    pixel_boost_p: Annotated[
        float | None,
        typer.Option(help="--crops: probability of a 512-1024 px crop resized to the input [default: params, else 0]."),
    ] = None,
    channel_swap_p: Annotated[
        float | None,
        typer.Option(help="Probability of giving the image in BGR order [default: params, else 0]."),
    ] = None,
    clips: Annotated[
        bool, typer.Option("--clips", help="Clip stores or --online clips: train on frame pairs with a temporal-"
                           "consistency loss (docs/clips.md) [default: off].")
    ] = False,
    clip_weight: Annotated[
        float | None, typer.Option(help="--clips: weight of the temporal-consistency loss [default: 1.0].")
    ] = None,
    frames: Annotated[int | None, typer.Option(help="--online --clips: frames per clip [default: 16].")] = None,
) -> None:
    """Train a face segmenter (default the ResNet-18 U-Net; BCE + OHEM, or multi-class parsing) on occgen stores."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from occgen.cli.common import err_console, user_errors

    with user_errors():
        from occgen.settings import load_train_config

        config = load_train_config(params)
        overrides: dict[str, Any] = {
            "arch": arch, "epochs": epochs, "batch_size": batch_size, "lr": lr, "input_size": input_size, "seed": seed,
            "workers": dataloader_workers(workers),
            "device": device.value if device else None, "encoder_weights": encoder_weights,
            "bf16": bf16, "channels_last": channels_last, "target": target.value if target else None,
            "steps": steps, "max_samples": max_samples, "checkpoint_every_steps": checkpoint_every_steps,
        }  # fmt: skip
        if steps is not None or max_samples is not None:  # one budget: the one given on the command line wins
            overrides.update(steps=steps, max_samples=max_samples, epochs=epochs or 1_000_000)
            config = replace(config, steps=None, max_samples=None)
        config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
        if augment is not None:
            config = replace(config, augment=replace(config.augment, enabled=augment))
        if crops is not None or pixel_boost_p is not None or channel_swap_p is not None:
            config = replace(config, crops=_crop_config(config.crops, crops, pixel_boost_p, channel_swap_p))
        from occgen.train.progress import ProgressLines, epoch_line

        run_clips = _clip_config(clips, clip_weight)

        if not err_console.is_terminal:  # a log file: plain lines instead of a live bar nobody sees
            lines = ProgressLines(err_console.file, every=log_every, epochs=config.epochs, budget=config.step_budget)
            _run_training(config, data, online, online_n, params, out, resume, val, lines.on_batch, lines.on_epoch,
                          run_clips, frames)
            return
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
            progress.console.print(epoch_line(row))

        try:
            _run_training(config, data, online, online_n, params, out, resume, val, on_batch, on_epoch, run_clips,
                          frames)
        finally:
            progress.stop()


def _run_training(config: Any, data: str | None, online: str | None, online_n: int | None, params: Path | None,
                  out: Path, resume: bool, val: str | None, on_batch: Any, on_epoch: Any,
                  clips: Any = None, frames: int | None = None) -> None:  # fmt: skip
    """The online dataset (if any), the training run, and its closing line."""
    from occgen.cli.common import err_console, note_demo_sources
    from occgen.core.errors import ConfigError
    from occgen.train.trainer import train

    online_data = None
    if online is not None:
        from occgen.settings import build_named_recipe
        from occgen.train.online_clips import online_dataset

        recipe, recipe_n = build_named_recipe(online, params)
        note_demo_sources(recipe.sources())
        online_data = online_dataset(recipe, online_n or recipe_n, config, clips=clips is not None, frames=frames)
    elif not data:
        raise ConfigError("nothing to train on: pass --data STORE[,STORE...] and/or --online RECIPE")
    elif frames is not None:
        raise ConfigError("--frames sets the length of --online clips: pass --online RECIPE --clips, or drop it")
    from occgen.train.speed import cpu_bf16_note

    if note := (cpu_bf16_note() if config.bf16 and config.device == "cpu" else None):
        err_console.print(note)  # bf16 without bf16 units is slower than fp32 (docs/training.md, "Speed")
    report = train(config, _paths(data or ""), out, resume=resume, val=_paths(val) if val else None,
                   on_batch=on_batch, on_epoch=on_epoch, online=online_data, clips=clips)  # fmt: skip
    if report.crops_without_points:
        err_console.print(f"--crops: {report.crops_without_points} store sample(s) have no five points "
                          "(no landmarks label, or a part missing) and were used un-cropped")  # fmt: skip
    if report.first_epoch > report.last_epoch:
        err_console.print(f"{out} already holds {report.last_epoch} epoch(s) ({report.steps} steps); nothing to do")
    else:
        err_console.print(f"trained epochs {report.first_epoch}-{report.last_epoch} ({report.steps} steps in all); "
                          f"checkpoints in {out}")  # fmt: skip


def _clip_config(clips: bool, weight: float | None) -> Any:
    """``--clips`` / ``--clip-weight`` as the trainer's ClipTrainConfig, or None (stills)."""
    from occgen.core.errors import ConfigError
    from occgen.train.config import ClipTrainConfig

    if weight is not None and not clips:
        raise ConfigError("--clip-weight weighs the --clips loss: pass --clips too, or drop --clip-weight")
    return (ClipTrainConfig() if weight is None else ClipTrainConfig(weight=weight)) if clips else None


def _crop_config(config: Any, spec: str | None, pixel_boost_p: float | None, channel_swap_p: float | None) -> Any:
    from occgen.train.crops import parse_crop_spec

    changes: dict[str, Any] = {}
    if spec is not None:
        changes["templates"], changes["weights"] = parse_crop_spec(spec)
    if pixel_boost_p is not None:
        changes["pixel_boost_p"] = pixel_boost_p
    if channel_swap_p is not None:
        changes["channel_swap_p"] = channel_swap_p
    return replace(config, **changes)


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
    benchmark: Annotated[
        str | None,
        typer.Option(
            help="Read --data in a benchmark's released layout: realocc, realocc-wild, cofw, maskedface-net, "
            "faceocc (docs/benchmarks-real.md) [default: none, the layout is detected]."
        ),
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
        int | None, typer.Option(help="Number of worst images in worst.png (a store: also worst_samples.png and "
                                 ".csv with their audit measures); 0: none [default: params, else 8].")
    ] = None,
    fps_iterations: Annotated[
        int | None, typer.Option(help="Batches timed for FPS; 0: skip [default: params, else 10].")
    ] = None,
    clips: Annotated[
        bool, typer.Option("--clips", help="Clips: a clip store (--data), or --pred / --gt folders of "
                           "<clip_id>/<frame>.png; report mask flicker beside IoU (docs/clips.md) [default: off].")
    ] = False,
    crops: Annotated[
        str | None,
        typer.Option(
            help="--model: also score each image re-aligned to each template, e.g. ffhq_512,arcface_128 "
            "(five points from the store's landmarks or landmarks/<stem>.txt|.pts) [default: none]."
        ),
    ] = None,
) -> None:
    """Score a checkpoint on a dataset (--model --data), or predicted masks (--pred --gt)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from occgen.cli.common import err_console, user_errors
    from occgen.core.errors import ConfigError

    with user_errors():
        from occgen.cli.evaluate_reports import evaluate_parsing_report, score_crops, write_parsing_report
        from occgen.settings import load_evaluate_config
        from occgen.train import evaluate as ev

        if (model is None) == (pred is None):
            raise ConfigError("pass either --model CKPT --data DIR|STORE, or --pred DIR --gt DIR")
        if benchmark is not None and (data is None or split or gt or target is Target.parsing):
            raise ConfigError("--benchmark NAME reads face masks from --data DIR (no --split, --gt, --target parsing)")
        if crops is not None and (model is None or data is None):
            raise ConfigError("--crops needs --model and --data (it re-aligns the images before predicting)")
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
        if pred is not None and benchmark is not None:
            from occgen.train.benchmarks import evaluate_benchmark_predictions, open_benchmark

            assert data is not None  # --benchmark needs --data, checked above
            count, items = open_benchmark(benchmark, data)
            task = progress.add_task("scoring", total=count)
            with progress:
                result = evaluate_benchmark_predictions(items, pred, threshold=config.threshold,
                                                        worst_k=config.worst,
                                                        on_progress=lambda n: progress.advance(task, n))  # fmt: skip
            extra: dict[str, Any] = {"pred": str(pred), "data": str(data), "benchmark": benchmark.lower(),
                                     "threshold": config.threshold}  # fmt: skip
        elif pred is not None:
            if gt is None:
                raise ConfigError("--pred needs --gt (the ground-truth masks folder) or --benchmark NAME --data DIR")
            if target is Target.parsing:
                from occgen.train.multiclass import evaluate_parsing_predictions

                summary, rows = evaluate_parsing_predictions(pred, gt)
                write_parsing_report(summary, rows, out, {"pred": str(pred), "gt": str(gt)})
                return
            task = progress.add_task("scoring", total=None)
            with progress:
                result = ev.evaluate_predictions(pred, gt, threshold=config.threshold, images_dir=images,
                                                 worst_k=config.worst,
                                                 on_progress=lambda n: progress.advance(task, n))  # fmt: skip
            extra = {"pred": str(pred), "gt": str(gt), "threshold": config.threshold}
        else:
            assert model is not None  # exactly one of --model / --pred, checked above
            if data is None:
                raise ConfigError("--model needs --data (a folder with images/ + masks/, or a zarr store)")
            from occgen.train.trainer import load_checkpoint, resolve_device

            net, info = load_checkpoint(model)
            size = config.input_size or int(info.get("config", {}).get("input_size", 256))
            torch_device = resolve_device(config.device)
            if info.get("config", {}).get("target") == "parsing":
                if benchmark is not None:
                    raise ConfigError(f"{model} is a parsing checkpoint; --benchmark scores face masks")
                evaluate_parsing_report(net, data, out, size=size, batch_size=config.batch_size,
                                        device=torch_device, model_path=model)  # fmt: skip
                return
            if benchmark is not None:
                from occgen.train.benchmarks import open_benchmark

                count, items = open_benchmark(benchmark, data)
            else:
                count, items = ev.open_eval_data(data, split=split)
            task = progress.add_task("evaluating", total=count)
            with progress:
                result = ev.evaluate_model(
                    net, items, input_size=size, batch_size=config.batch_size, device=torch_device,
                    dtype=config.dtype, channels_last=config.channels_last, worst_k=config.worst,
                    on_progress=lambda n: progress.advance(task, n),
                )  # fmt: skip
            extra = {"model": str(model), "checkpoint_epoch": info.get("epoch"), "data": str(data), "input_size": size}
            if benchmark is not None:
                extra["benchmark"] = benchmark.lower()
            if config.fps_iterations > 0:
                extra["speed"] = ev.measure_fps(
                    net, input_size=size, batch_size=config.batch_size, device=torch_device, dtype=config.dtype,
                    channels_last=config.channels_last, iterations=config.fps_iterations,
                )  # fmt: skip
        summary = ev.write_report(result, out, extra)
        if model is not None and data is not None and benchmark is None:  # a store: its worst samples, audited
            from occgen.cli.evaluate_reports import write_worst_samples

            if write_worst_samples(result, data, out):
                csv_path = out / "worst_samples.csv"
                err_console.print(f"worst samples beside their audit measures: {csv_path}", highlight=False)
        if crops is not None:
            summary["per_crop"] = score_crops(crops, net, data, split, out, size, config, torch_device)
        speed = summary.get("speed")
        fps_text = f", {speed['fps']:.1f} images/s ({speed['dtype']}, batch {speed['batch']})" if speed else ""
        per_image = summary["face_iou_per_image_mean"]
        err_console.print(
            f"{summary['images']} images: face IoU pooled over all pixels {summary['face_iou']:.4f}, "
            f"per-image mean {per_image:.4f}; mIoU {summary['miou']:.4f}, fwIoU {summary['fwiou']:.4f} "
            f"(pooled), face Boundary IoU {summary['face_boundary_iou']:.4f}{fps_text}; report in {out}",
            highlight=False,
        )
