"""``occgen export-model`` and ``occgen predict``: trained models out of occgen (issue 16).

Registered on the main app in :mod:`occgen.cli.main`; torch, onnx and onnxruntime are imported inside the
commands so ``occgen --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from occgen.cli.common import Device, err_console, human_bytes, lazy_progress, user_errors


def export_model_command(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint written by `occgen train` (.pt).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output file [default: CHECKPOINT with .onnx, .CONTRACT.onnx, .torchscript.pt or "
                     ".share.pt]."),
    ] = None,  # fmt: skip
    format: Annotated[str, typer.Option("--format", help="onnx, torchscript (the native contract, traced) or pt "
                                        "(weights only, for sharing).")] = "onnx",  # fmt: skip
    contract: Annotated[
        str,
        typer.Option(help="ONNX contract: native (NCHW RGB [0,1], dynamic sizes), facefusion (alias face-tool; "
                     "+ .hash sidecar), visomaster or xseg (DeepFaceLab naming, 1 = face); docs/models.md."),
    ] = "native",
    input_size: Annotated[
        int | None, typer.Option(help="Traced input side (fixed size for UperNet) [default: the training size].")
    ] = None,
    exporter: Annotated[
        str, typer.Option(help="ONNX exporter: auto (dynamo for UperNet, else torchscript), torchscript or dynamo.")
    ] = "auto",  # fmt: skip
    metrics: Annotated[
        list[Path] | None,
        typer.Option(
            "--metrics", help="summary.json of `occgen evaluate` runs, for the card (repeatable) [default: none]."
        ),
    ] = None,
    fp16: Annotated[bool, typer.Option(help="--format pt: store the weights as float16 (half the size).")] = False,
    device: Annotated[
        Device, typer.Option(help="--format onnx: cuda checks the export with onnxruntime's CUDA provider.")
    ] = Device.cpu,
    quantize: Annotated[
        str, typer.Option(help="--format onnx: none, or int8 (static QDQ, needs --calibration) [default: none].")
    ] = "none",
    calibration: Annotated[
        Path | None, typer.Option(help="--quantize int8: store whose images calibrate it [default: none].")
    ] = None,
    calibration_n: Annotated[int, typer.Option(help="--quantize int8: calibration images drawn [default: 32].")] = 32,
    calibration_seed: Annotated[int, typer.Option(help="--quantize int8: seed of that draw [default: 0].")] = 0,
    force: Annotated[
        bool, typer.Option(help="--quantize int8: keep it even below 99 % mask agreement with fp32 [default: off].")
    ] = False,
) -> None:
    """Export a checkpoint as ONNX (with a model card) or as a weights-only checkpoint for sharing."""
    with user_errors():
        import torch

        from occgen.core.errors import ConfigError
        from occgen.train import export_model as ex
        from occgen.train.trainer import load_checkpoint

        if format not in ex.FORMATS:
            raise ConfigError(f"unknown --format {format!r}; valid: {', '.join(ex.FORMATS)}")
        if device == Device.cuda and format != "onnx":
            raise ConfigError(f"--device cuda checks an ONNX export; --format {format} runs nothing: drop --device")
        if quantize not in ("none", "int8") or (quantize == "int8" and (format != "onnx" or calibration is None)):
            raise ConfigError(f"--quantize {quantize}: valid are none and int8, and int8 needs --format onnx and "
                              "--calibration STORE (a store of face crops to calibrate on)")  # fmt: skip
        model, info = load_checkpoint(checkpoint)
        evaluations: list[dict[str, Any]] = []
        for path in metrics or []:
            try:
                evaluations.append(json.loads(Path(path).read_text()))
            except (OSError, ValueError) as error:
                message = f"cannot read --metrics {path}: {error}; pass a summary.json of occgen evaluate"
                raise ConfigError(message) from error
        if format == "pt":
            target = out or checkpoint.with_name(checkpoint.stem + ".share.pt")
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.save(ex.weights_only(info, model, half=fp16), target)
            record: dict[str, Any] = {"format": "pt", "weights_dtype": "fp16" if fp16 else "fp32"}
        elif format == "torchscript":
            record = ex.export_torchscript_record(model, info, checkpoint, out, input_size)
            target = Path(record.pop("path"))
        else:
            model_target = ex.checkpoint_target(info, checkpoint)
            size = input_size or int(info.get("config", {}).get("input_size", 256))
            suffix = ".onnx" if contract == "native" else f".{contract}.onnx"
            target = out or checkpoint.with_suffix(suffix)
            trained_at = info.get("config", {}).get("input_size")
            if contract != "native" and trained_at not in (None, ex.FACE_TOOL_SIZE):
                err_console.print(f"note: trained at {trained_at} px; the {contract} contract runs it at "
                                  f"{ex.FACE_TOOL_SIZE} px (the tool's fixed crop size)")  # fmt: skip
            err_console.print(f"exporting {info['arch']} ({contract} contract) to {target} ...")
            options = {"contract": contract, "input_size": size, "exporter": exporter, "target": model_target,
                       "crops": info.get("config", {}).get("crops"), "device": device.value}  # fmt: skip
            if quantize == "int8" and calibration is not None:  # (checked above: int8 needs --calibration)
                from occgen.train.quantize import export_onnx_int8

                record = {"format": "onnx", **export_onnx_int8(
                    model, info["arch"], target, calibration=calibration, calibration_n=calibration_n,
                    seed=calibration_seed, force=force, **options)}  # fmt: skip
                share = record["agreement"]["mask_pixels_vs_fp32"]
                err_console.print(f"int8: masks agree with fp32 on {share:.2%} of pixels of "
                                  f"{record['calibration']['n']} calibration image(s)")  # fmt: skip
            else:
                record = {"format": "onnx", **ex.export_onnx(model, info["arch"], target, **options)}
            if "hash_sidecar" in record:
                err_console.print(f"wrote facefusion's {record['hash_sidecar']['path']} beside it (CRC32 "
                                  f"{record['hash_sidecar']['crc32']}): copy both files")  # fmt: skip
        card = ex.model_card(artefact=target, model=model, info=info, checkpoint=checkpoint, export=record,
                             evaluations=evaluations)  # fmt: skip
        json_path, md_path = ex.write_card(card, target)
        source_bytes = checkpoint.stat().st_size
        check = record.get("check")
        runtime = "saved TorchScript" if format == "torchscript" else "onnxruntime"
        check_text = f"; {runtime} vs torch max abs diff {check['max_abs_diff_vs_torch']:.1e}" if check else ""
        err_console.print(
            f"wrote {target} ({human_bytes(card['bytes'])}; checkpoint {human_bytes(source_bytes)}){check_text}; "
            f"model card {json_path.name}, {md_path.name}"
        )


def predict_command(
    model: Annotated[Path, typer.Option("--model", help="occgen checkpoint (.pt) or exported model (.onnx).")],
    src: Annotated[Path, typer.Option("--src", help="Folder of face images (any sizes).")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder for <stem>.png masks (0/255, face = 255), or class-id maps from a parsing model."
        ),
    ],
    soft: Annotated[bool, typer.Option(help="Also write soft/<stem>.png (face probability x 255).")] = False,
    overlay: Annotated[bool, typer.Option(help="Also write overlay/<stem>.jpg (non-face tinted red).")] = False,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 8,
    input_size: Annotated[
        int | None, typer.Option(help="Model input side [default: the checkpoint's or ONNX model's].")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Predict face masks (or parsing maps) for a folder of images (letterboxed; at each image's own size)."""
    with user_errors():
        from occgen.core.files import list_images
        from occgen.train.predict import load_predictor, predict_folder

        predictor = load_predictor(model, device=device, input_size=input_size)
        total = len(list_images(src)) if src.is_dir() else None
        with lazy_progress(f"predict -> {out}", total=total) as advance:
            report = predict_folder(predictor, src, out, batch_size=batch_size, soft=soft, overlay=overlay,
                                    on_progress=advance)  # fmt: skip
        what = "parsing map(s) (class ids)" if predictor.target == "parsing" else "mask(s)"
        err_console.print(f"wrote {report.images} {what} to {out} (input {predictor.input_size}px)")
