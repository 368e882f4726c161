"""Export a trained checkpoint for use outside occgen: ONNX (two input contracts) or a weights-only
checkpoint, each with a model card (JSON + Markdown) saying what the model is and what it learnt from.

Contracts of the ONNX graph:

- ``native``: input ``input`` float32 ``(N, 3, H, W)`` RGB in [0, 1] (the ImageNet normalisation is inside
  the graph), ``H`` and ``W`` any multiples of 32 (dynamic axes); output ``logits`` ``(N, 1, H, W)``,
  face where ``logits > 0`` — or, for a parsing checkpoint (``train.target parsing``), ``(N, 23, H, W)``
  class logits whose argmax is occgen's parsing id (metadata ``occgen_target`` and ``occgen_classes``).
  UperNet's pyramid pooling cannot be exported with dynamic height and width
  (``AdaptiveAvgPool2d`` is baked at the traced size: the TorchScript exporter refuses it, the dynamo one
  silently computes wrong values at other sizes, /work/notes/models.md section 3), so an ``upernet-*``
  graph has a fixed ``H = W =`` the export input size and a dynamic batch only.
- ``facefusion`` (alias ``face-tool``), ``visomaster``, ``xseg``: the face tools' contracts, fixed 256-px
  crops, face-mask checkpoints only; each is defined, with the facts it comes from (file and version of the
  consumer's source), in :mod:`occgen.train.model_contracts`. facefusion's also gets a ``.hash`` sidecar.

Every ONNX export states its contract in ``metadata_props`` (layout, colour order, value range, output kind,
polarity, and the crop templates of ``train --crops`` read from the checkpoint's config) and is refused if it
holds a ``ConvTranspose`` with asymmetric padding
(:func:`occgen.train.model_contracts.check_portable_ops`). ``--format torchscript`` traces the native
contract instead (:func:`occgen.train.model_contracts.export_torchscript`).

Exporters (torch 2.13): the TorchScript one (``dynamo=False``, deprecated but fast and correct with
dynamic axes for the U-Net and SegFormer) and the ``torch.export`` one (``dynamo=True``; used for UperNet,
whose fixed-size graph it exports correctly; it needs ``onnxscript``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from occgen import __version__
from occgen.core.errors import ConfigError, OccgenError
from occgen.core.files import sha256_file
from occgen.core.labels import PARSING_CLASSES
from occgen.store.schema import card_digest
from occgen.train.architectures import count_parameters
from occgen.train.model_contracts import (
    CONTRACT_NAMES,
    TOOL_SIZE,
    ContractGraph,
    check_portable_ops,
    contract_metadata,
    export_torchscript,
    hash_sidecar,
    resolve_contract,
)

CONTRACTS = CONTRACT_NAMES
FORMATS = ("onnx", "pt", "torchscript")
EXPORTERS = ("auto", "torchscript", "dynamo")
FACE_TOOL_SIZE = TOOL_SIZE  # the tools' fixed crop side (kept: occgen.train.predict reads it)
# Opset per exporter: 17 (conservative) for TorchScript; 18, the dynamo exporter's lowest, which it emits
# natively (asked for 17 it down-converts with the onnx C API, which failed on UperNet-R50 at 256²:
# "axes_input_to_attribute ... No initializer or constant input"). onnxruntime runs opset 18 since 1.14.
OPSETS = {"torchscript": 17, "dynamo": 18}
ONNX_HINT = "pip install 'occgen[onnx]'"
#: ONNX metadata keys (``metadata_props``) that ``occgen predict`` reads back.
META_ARCH, META_CONTRACT, META_SIZE, META_FIXED = "occgen_arch", "occgen_contract", "occgen_input_size", "occgen_fixed"
#: What the graph's output channels are: "face" (one face logit) or "parsing" (a logit per class of
#: ``occgen_classes``, a JSON list: :data:`occgen.core.labels.PARSING_CLASSES`). Missing = face.
META_TARGET, META_CLASSES = "occgen_target", "occgen_classes"


@dataclass(frozen=True, kw_only=True)
class Contract:
    name: str
    input_shape: tuple[int | str, ...]
    output_shape: tuple[int | str, ...]
    input_name: str
    output_name: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "input": {"name": self.input_name, "shape": list(self.input_shape)},
                "output": {"name": self.output_name, "shape": list(self.output_shape)},
                "description": self.description}  # fmt: skip


def contract_for(name: str, arch: str, input_size: int, target: str = "face") -> Contract:
    spec = resolve_contract(name)
    if spec.size is not None and target != "face":
        raise ConfigError(f"the {name} contract outputs one face map; a {target} model exports with "
                          "--contract native only")  # fmt: skip
    if spec.size is not None:
        what = "the OpenCV BGR face crop / 255" if spec.colour == "BGR" else "the RGB face crop / 255"
        output = "face probability in [0, 1]" if spec.output == "probability" else "face logits"
        return Contract(
            name=spec.name, input_shape=spec.input_shape(1, spec.size), output_shape=spec.output_shape(1, spec.size, 1),
            input_name=spec.input_name, output_name=spec.output_name,
            description=f"float32 {spec.layout}, {what} (no mean/std), {spec.size}x{spec.size}; output {output} "
                        f"({spec.polarity}); for {spec.consumer}",
        )  # fmt: skip
    fixed = arch.startswith("upernet")
    side: int | str = input_size if fixed else "H"
    other: int | str = input_size if fixed else "W"
    size_text = (f"H = W = {input_size} fixed (UperNet's pyramid pooling cannot be exported with dynamic sizes)"
                 if fixed else "H and W any multiples of 32")  # fmt: skip
    if target == "parsing":
        channels, output = len(PARSING_CLASSES), (
            f"output {len(PARSING_CLASSES)} class logits at the input size (classes in the metadata "
            f"{META_CLASSES}: occgen's parsing ids), the class is their argmax"
        )  # fmt: skip
    else:
        channels, output = 1, "output face logits at the input size, face where logits > 0 (sigmoid > 0.5)"
    return Contract(
        name=name, input_shape=("N", 3, side, other), output_shape=("N", channels, side, other), input_name="input",
        output_name="logits",
        description=f"float32 NCHW RGB in [0, 1], ImageNet normalisation inside the graph, {size_text}; {output}",
    )  # fmt: skip


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as error:
        raise ConfigError(f"ONNX export needs onnx, onnxruntime and onnxscript: {ONNX_HINT}") from error
    return onnx


def _pick_exporter(exporter: str, arch: str) -> str:
    if exporter not in EXPORTERS:
        raise ConfigError(f"unknown exporter {exporter!r}; valid: {', '.join(EXPORTERS)}")
    if exporter == "auto":
        return "dynamo" if arch.startswith("upernet") else "torchscript"
    if exporter == "torchscript" and arch.startswith("upernet"):
        raise ConfigError("UperNet cannot be exported with the TorchScript exporter (adaptive pooling); "
                          "use --exporter dynamo or auto")  # fmt: skip
    return exporter


def _export(graph: nn.Module, example: torch.Tensor, path: Path, contract: Contract, exporter: str) -> None:
    dynamic_batch = contract.input_shape[0] == "N"
    dynamic_hw = dynamic_batch and isinstance(contract.input_shape[2], str)
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
        warnings.simplefilter("ignore")  # TracerWarnings and the TorchScript exporter's deprecation notice
        if exporter == "torchscript":
            axes = ({0: "N", 2: "H", 3: "W"} if dynamic_hw else {0: "N"}) if dynamic_batch else None
            # Constant folding (the default, stated) folds every eval-mode BatchNorm into its Conv: onnxruntime then
            # spends ~96 % of a U-Net's time in Conv (docs/models.md, "Why the U-Net stays near 1.4x").
            torch.onnx.export(
                graph, (example,), str(path), dynamo=False, opset_version=OPSETS[exporter], do_constant_folding=True,
                input_names=[contract.input_name], output_names=[contract.output_name],
                dynamic_axes={contract.input_name: axes, contract.output_name: axes} if axes else None,
            )  # fmt: skip
        else:
            from torch.export import Dim

            dims = ({0: Dim.DYNAMIC, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC} if dynamic_hw else {0: Dim.DYNAMIC}) \
                if dynamic_batch else None  # fmt: skip
            program = torch.onnx.export(
                graph, (example,), dynamo=True, opset_version=OPSETS[exporter], input_names=[contract.input_name],
                output_names=[contract.output_name], dynamic_shapes={"x": dims} if dims else None,
                verbose=False,
            )  # fmt: skip
            if program is None:  # torch returns None only for the TorchScript path
                raise ConfigError("the dynamo ONNX exporter returned no program")
            program.save(str(path))


def _finish_graph(path: Path, contract: Contract, metadata: dict[str, str]) -> None:
    """Name the output's shape exactly (the exporters leave symbolic channel names) and add occgen's metadata."""
    onnx = _onnx()
    model = onnx.load(str(path))
    for value, shape in ((model.graph.input[0], contract.input_shape), (model.graph.output[0], contract.output_shape)):
        for dim, size in zip(value.type.tensor_type.shape.dim, shape, strict=True):
            if isinstance(size, int):
                dim.dim_value = size
            else:
                dim.dim_param = size
    del model.metadata_props[:]
    for key, text in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, text
    model.producer_name = "occgen"
    model.producer_version = __version__
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def require_cuda_provider(ort: Any) -> None:
    """A ConfigError unless the onnxruntime module ``ort`` lists the CUDA provider (onnxruntime-gpu)."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise ConfigError("--device cuda: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu)")


def onnx_session(path: Path, *, device: str = "cpu", threads: int | None = None) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as error:
        raise ConfigError(f"running an ONNX model needs onnxruntime: {ONNX_HINT}") from error
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        require_cuda_provider(ort)
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types; re-raised with the path
        raise ConfigError(f"cannot load ONNX model {path}: {error}") from error


def export_onnx(model: nn.Module, arch: str, path: Path, *, contract: str = "native", input_size: int = 256,
                exporter: str = "auto", seed: int = 0, target: str = "face",
                crops: Mapping[str, Any] | None = None, device: str = "cpu") -> dict[str, Any]:  # fmt: skip
    """Write ``model`` (an occgen ``arch`` model trained for ``target``, face or parsing) as ONNX to ``path``;
    check onnxruntime's output against torch's on a random input; return the export record for the model card.
    ``crops``: the ``crops`` section of the checkpoint's config (the templates it was trained with, stated in
    ``occgen_template``). ``device``: ``cuda`` runs that check with onnxruntime's CUDA provider (refused when
    onnxruntime would fall back to the CPU); the record names the provider that ran it."""
    if input_size < 32 or input_size % 32:
        raise ConfigError(f"export input size must be a positive multiple of 32, got {input_size}")
    spec = contract_for(contract, arch, input_size, target)
    exporter = _pick_exporter(exporter, arch)
    _onnx()
    if device.startswith("cuda"):  # refused before the export, not after it
        import onnxruntime

        require_cuda_provider(onnxruntime)
    model = model.eval().float()
    generator = torch.Generator().manual_seed(seed)
    tool = resolve_contract(spec.name)
    if tool.size is not None:
        graph: nn.Module = ContractGraph(model, tool).eval()
        example = torch.rand(*tool.input_shape(1, tool.size), generator=generator)  # type: ignore[arg-type]
    else:
        graph = model
        # Batch 2: the dynamo exporter specialises a traced batch of 1 (measured with SegFormer).
        example = torch.rand(2, 3, input_size, input_size, generator=generator)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _export(graph, example, path, spec, exporter)
    fixed = not isinstance(spec.input_shape[2], str)
    metadata = {META_ARCH: arch, META_CONTRACT: spec.name, META_SIZE: str(tool.size or input_size),
                META_FIXED: str(fixed).lower(), META_TARGET: target, **contract_metadata(tool, crops)}  # fmt: skip
    if target == "parsing":
        metadata[META_CLASSES] = json.dumps(list(PARSING_CLASSES))
        metadata["occgen_polarity"] = "the class is the argmax of the logits"
    _finish_graph(path, spec, metadata)
    op_types = check_portable_ops(path)
    sidecar = hash_sidecar(path) if tool.hash_sidecar else None
    session = onnx_session(path, device=device)
    provider = session.get_providers()[0]
    if device.startswith("cuda") and provider != "CUDAExecutionProvider":
        raise ConfigError(f"--device cuda: onnxruntime fell back to {provider} for {path} (CUDA or cuDNN "
                          "libraries not found); install the ones onnxruntime-gpu needs, or use --device cpu")
    with torch.inference_mode():
        expected = graph(example).numpy()
    got = session.run(None, {spec.input_name: example.numpy()})[0]
    difference = float(np.abs(got - expected).max())
    record = {"contract": {**spec.to_dict(), **metadata}, "exporter": exporter, "opset": OPSETS[exporter],
              "input_size": input_size, "fixed_size": fixed, "ops": op_types,
              "check": {"max_abs_diff_vs_torch": difference, "input": list(example.shape), "provider": provider},
              "torch": torch.__version__, "onnx": _onnx().__version__}  # fmt: skip
    if sidecar is not None:
        record["hash_sidecar"] = {"path": sidecar.name, "crc32": sidecar.read_text()}
    return record


def export_torchscript_record(model: nn.Module, info: dict[str, Any], checkpoint: Path, out: Path | None,
                              input_size: int | None) -> dict[str, Any]:  # fmt: skip
    """``export-model --format torchscript``: the native contract traced at the training (or given) size, with
    the same metadata as the native ONNX graph in its ``occgen.json`` extra file; the export record with ``path``.
    The traced U-Net and SegFormer run at other sizes (tested); UperNet's pooling is baked at the traced size."""
    target = checkpoint_target(info, Path(checkpoint))
    size = input_size or int(info.get("config", {}).get("input_size", 256))
    if size < 32 or size % 32:
        raise ConfigError(f"export input size must be a positive multiple of 32, got {size}")
    path = Path(out) if out else Path(checkpoint).with_suffix(".torchscript.pt")
    spec = contract_for("native", str(info.get("arch")), size, target)
    fixed = str(info.get("arch")).startswith("upernet")
    metadata = {META_ARCH: str(info.get("arch")), META_CONTRACT: "native", META_SIZE: str(size),
                META_FIXED: str(fixed).lower(), META_TARGET: target,
                **contract_metadata(resolve_contract("native"), info.get("config", {}).get("crops"))}  # fmt: skip
    if target == "parsing":
        metadata[META_CLASSES] = json.dumps(list(PARSING_CLASSES))
    record = export_torchscript(model, path, input_size=size, metadata=metadata)
    return {"path": str(path), "format": "torchscript", "contract": {**spec.to_dict(), **metadata}, **record}


def checkpoint_target(info: dict[str, Any], path: Path) -> str:
    """What a checkpoint was trained for (``train.target``): face or parsing; anything else is refused."""
    target = str(info.get("config", {}).get("target", "face"))
    if target not in ("face", "parsing"):
        raise ConfigError(f"{path} was trained with train.target {target}; occgen knows face and parsing")
    return target


def weights_only(checkpoint_info: dict[str, Any], model: nn.Module, *, half: bool = False) -> dict[str, Any]:
    """A checkpoint for sharing: the model's weights and what describes them, no optimizer state."""
    state = {k: (v.half() if half and v.is_floating_point() else v).cpu().clone()
             for k, v in model.state_dict().items()}  # fmt: skip
    keep = ("arch", "occgen_version", "epoch", "config", "data")
    return {**{k: checkpoint_info[k] for k in keep if k in checkpoint_info}, "model": state,
            "weights_dtype": "fp16" if half else "fp32"}  # fmt: skip


def _store_record(entry: dict[str, Any]) -> dict[str, Any]:
    """A training store as the card states it: path, size, card digest and licences (read from the store
    when the checkpoint predates their recording, if the store is still there)."""
    record = {"path": entry.get("path"), "n": entry.get("n")}
    record["digest"] = entry.get("digest") or card_digest({"generation": entry.get("generation", {})})
    licences = entry.get("licences")
    if licences is None and entry.get("path") and Path(entry["path"]).exists():
        try:
            from occgen.store import open_store

            card = open_store(Path(entry["path"])).card
            licences = {k: v.get("licence") for k, v in card.get("sources", {}).items()}
        except OccgenError:  # the card is informative only; a store that cannot be read is not an error
            licences = None
    record["licences"] = licences if licences is not None else "unknown (store not found at export)"
    return record


def training_metrics(checkpoint_path: Path, epoch: Any) -> dict[str, Any]:
    """The row of ``metrics.csv`` beside the checkpoint for its epoch (training-batch and validation scores)."""
    table = Path(checkpoint_path).parent / "metrics.csv"
    if not table.is_file() or epoch is None:
        return {}
    with table.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if str(row.get("epoch")) == str(epoch):
                return {k: (float(v) if v not in ("", None) else None) for k, v in row.items()}
    return {}


def model_card(*, artefact: Path, model: nn.Module, info: dict[str, Any], checkpoint: Path,
               export: dict[str, Any], evaluations: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """The model card (plain data) of an exported artefact."""
    config = info.get("config", {})
    return {
        "model": Path(artefact).name, "format": export.get("format", "onnx"), "bytes": Path(artefact).stat().st_size,
        "sha256": sha256_file(artefact), "architecture": info.get("arch"), "parameters": count_parameters(model),
        "occgen_version": __version__, "target": config.get("target", "face"),
        "classes": list(PARSING_CLASSES) if config.get("target") == "parsing" else ["face"],
        "checkpoint": {"path": str(checkpoint), "epoch": info.get("epoch"), "trained_with": info.get("occgen_version")},
        "training": {"input_size": config.get("input_size"), "epochs": config.get("epochs"),
                     "seed": config.get("seed"), "stores": [_store_record(d) for d in info.get("data", [])]},
        "metrics": {"training_epoch": training_metrics(checkpoint, info.get("epoch")), "evaluations": evaluations},
        "export": export,
    }  # fmt: skip


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown (for people; the JSON beside it is the same content for programs)."""
    lines = [f"# {card['model']}", "",
             f"Face-occlusion segmentation model exported by occgen {card['occgen_version']}.", "",
             f"- Architecture: `{card['architecture']}` ({card['parameters']:,} parameters)",
             f"- Target: {card.get('target', 'face')} ({len(card.get('classes', ['face']))} output channel(s): "
             f"{', '.join(card.get('classes', ['face']))})",
             f"- File: {card['bytes']:,} bytes, sha256 `{card['sha256']}`",
             f"- Checkpoint: `{card['checkpoint']['path']}` (epoch {card['checkpoint']['epoch']})"]  # fmt: skip
    contract = card["export"].get("contract")
    if contract:
        lines += ["", f"## Input contract: {contract['name']}", "",
                  f"- Input `{contract['input']['name']}`: shape {contract['input']['shape']}",
                  f"- Output `{contract['output']['name']}`: shape {contract['output']['shape']}",
                  f"- {contract['description']}"]  # fmt: skip
        if "occgen_layout" in contract:
            lines.append(f"- Layout {contract['occgen_layout']}, colour order {contract['occgen_colour_order']}, "
                         f"values {contract['occgen_value_range']}; output {contract['occgen_output']}: "
                         f"{contract['occgen_polarity']}; crop template: {contract['occgen_template']}")  # fmt: skip
        sidecar = card["export"].get("hash_sidecar")
        if sidecar:
            lines.append(f"- facefusion hash file `{sidecar['path']}`: CRC32 `{sidecar['crc32']}`")
        check = card["export"].get("check", {})
        if check:
            difference = check["max_abs_diff_vs_torch"]
            lines.append(f"- onnxruntime vs torch on a random input: max abs difference {difference:.2e}")
        if card["export"].get("quantized"):
            calibration, agreement = card["export"]["calibration"], card["export"]["agreement"]
            lines.append(f"- Quantized: {card['export']['quantized']} (static QDQ), calibrated on {calibration['n']} "
                         f"image(s) of `{calibration['store']}` (card digest `{calibration['digest']}`); masks agree "
                         f"with fp32 on {agreement['mask_pixels_vs_fp32']:.2%} of their pixels")  # fmt: skip
    training = card["training"]
    lines += ["", "## Training data", "", f"Input size {training['input_size']}, {training['epochs']} epoch(s), "
              f"seed {training['seed']}.", "", "| store | samples | card digest | licences |",
              "| --- | --- | --- | --- |"]  # fmt: skip
    for store in training["stores"]:
        licences = store["licences"]
        text = "; ".join(f"{k}: {v}" for k, v in licences.items()) if isinstance(licences, dict) else str(licences)
        lines.append(f"| `{store['path']}` | {store['n']} | `{store['digest']}` | {text} |")
    lines += ["", "## Metrics at export", ""]
    row = card["metrics"]["training_epoch"]
    if row:
        prefixes = ("train_face_iou", "train_miou", "val_", "loss", "ce")
        shown = {k: v for k, v in row.items() if k.startswith(prefixes) and v is not None}
        lines.append("Training epoch: " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()))
    for evaluation in card["metrics"]["evaluations"]:
        names = ("face_iou", "miou", "fwiou", "pixel_accuracy", "images")
        scores = {k: evaluation[k] for k in names if evaluation.get(k) is not None}
        lines.append(f"- `{evaluation.get('data', evaluation.get('gt', '?'))}`: "
                     + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items()))
    if not row and not card["metrics"]["evaluations"]:
        lines.append("None recorded (pass `--metrics summary.json` from `occgen evaluate`).")
    return "\n".join(lines) + "\n"


def write_card(card: dict[str, Any], artefact: Path) -> tuple[Path, Path]:
    """``<artefact>.card.json`` and ``<artefact>.card.md`` beside the artefact."""
    json_path = Path(f"{artefact}.card.json")
    md_path = Path(f"{artefact}.card.md")
    json_path.write_text(json.dumps(card, indent=2) + "\n")
    md_path.write_text(card_markdown(card))
    return json_path, md_path
