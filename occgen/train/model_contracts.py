"""The input/output contracts an exported face-mask model can follow: occgen's own and those of the face
tools that consume occlusion masks (issue 26). Each contract says the input name, layout, colour order,
value range and size, the output name and what its values mean (polarity); :class:`ContractGraph` wraps an
occgen model (NCHW RGB [0, 1] in, face logits out) into it, and :func:`contract_metadata` states it in
ONNX ``metadata_props`` / TorchScript extra files.

Facts (read from the consumers' source; none of their code is copied):

- facefusion 3.8.1, ``facefusion/face_masker.py`` ``create_occlusion_mask``: the crop resized to the
  model's input ``(1, 256, 256, 3)``, OpenCV BGR, ``/ 255``, NHWC, no mean/std; reads ``run(...)[0][0]``,
  clips to [0, 1], resizes to the crop, blurs (sigma 5) and maps 0.5..1 to 0..1: 1 = visible face.
  ``facefusion/hash_helper.py`` (the facefusion/facefusion copy in the code index; its version is not
  stated there): ``create_hash`` is ``format(zlib.crc32(content), '08x')``; ``validate_hash`` compares it with
  the whole text of ``<file name without extension>.hash`` beside the model, read without ``strip`` (older
  versions strip it): so no newline. ``facefusion/download.py`` ``conditional_download_sources`` re-downloads
  a model whose hash does not validate (overwriting a user's file of the same name).
- VisoMaster (``app/processors/face_masks.py``, commit 47c8366, ``run_occluder`` / ``apply_occlusion``;
  ``app/processors/models_data.py``: ``occluder.onnx``): binds input ``img`` float32 ``(1, 3, 256, 256)``
  (the 256-px face crop tensor ``/ 255``) and output ``output`` ``(1, 1, 256, 256)``; keeps ``output > 0``.
  That the crop tensor is RGB is from issue 26; the lines read do not show the colour order themselves.
- DeepFaceLab XSeg (``facelib/XSegNet.py`` as kept in DFL forks; iperov/DeepFaceLab itself is not in the
  searchable index): a placeholder ``(N, res, res, 3)`` (``data_format`` NHWC), DFL's OpenCV BGR face
  ``/ 255``; ``extract`` clips the sigmoid to [0, 1] and zeroes values < 0.1; 1 = face (DFL trains XSeg on
  face masks). The names ``in_face:0`` / ``out_mask:0`` are those of the community TF-to-ONNX exports that
  VisoMaster binds (``face_masks.py`` ``run_dfl_xseg``); they are not in DFL's source.
- roop-unleashed ``roop/processors/Mask_XSeg.py`` (``models/xseg.onnx``): ``cv2.resize`` to 256 (its
  third positional argument is ``dst``, so the resize is bilinear), ``/ 255``, NHWC in the frame's BGR order,
  first input/output by position, clip, < 0.1 -> 0, then **inverts** (``1 - result``: 1 = area to restore).
  VisoMaster ``apply_dfl_xseg`` inverts XSeg's output too (``1.0 - outpred``) and its frame worker multiplies
  by ``1 - that``. VisoMaster feeds ``in_face:0`` an NCHW ``(1, 3, 256, 256)`` tensor, so its XSeg slot
  needs an NCHW file: the ``xseg`` contract (DFL's NHWC) fits DFL-style consumers such as roop-unleashed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from occgen.core.errors import ConfigError

#: The fixed side of the face tools' contracts (facefusion, VisoMaster and XSeg all run 256-px crops).
TOOL_SIZE = 256
#: ONNX ``metadata_props`` keys stating a contract (beside ``occgen_contract`` and ``occgen_input_size``).
META_LAYOUT, META_COLOUR, META_RANGE = "occgen_layout", "occgen_colour_order", "occgen_value_range"
META_OUTPUT, META_POLARITY, META_TEMPLATE = "occgen_output", "occgen_polarity", "occgen_template"
#: ``occgen_template`` of a model trained without template crops (``train.crops.templates`` empty): it saw the
#: face crops of the stores it was trained on.
TEMPLATE_NONE = "none: the training stores' own face crops"
#: The whole ``train.crops`` section of the checkpoint's config (JSON: templates, weights, pixel boost, BGR odds).
META_CROPS = "occgen_crops"


@dataclass(frozen=True, kw_only=True)
class ContractSpec:
    """What a consumer feeds and reads. ``output`` is ``logits`` (face where > 0) or ``probability``
    (sigmoid, face where > 0.5); ``size`` is the fixed input side, or None for occgen's dynamic native graph."""

    name: str
    input_name: str
    output_name: str
    layout: str  # NCHW or NHWC, input and output alike
    colour: str  # RGB or BGR
    output: str  # logits or probability
    polarity: str
    size: int | None
    consumer: str
    hash_sidecar: bool = False

    def input_shape(self, batch: int | str, side: int | str) -> tuple[int | str, ...]:
        return (batch, 3, side, side) if self.layout == "NCHW" else (batch, side, side, 3)

    def output_shape(self, batch: int | str, side: int | str, channels: int) -> tuple[int | str, ...]:
        return (batch, channels, side, side) if self.layout == "NCHW" else (batch, side, side, channels)


SPECS: dict[str, ContractSpec] = {
    "native": ContractSpec(
        name="native", input_name="input", output_name="logits", layout="NCHW", colour="RGB", output="logits",
        polarity="face where logits > 0", size=None, consumer="occgen predict, your own code",
    ),
    "facefusion": ContractSpec(
        name="facefusion", input_name="input", output_name="output", layout="NHWC", colour="BGR",
        output="probability", polarity="1 = visible face, 0 = occluder or background", size=TOOL_SIZE,
        consumer="facefusion face occluder (xseg_1/2/3.onnx + .hash)", hash_sidecar=True,
    ),
    "visomaster": ContractSpec(
        name="visomaster", input_name="img", output_name="output", layout="NCHW", colour="RGB", output="logits",
        polarity="keep (face) where output > 0", size=TOOL_SIZE, consumer="VisoMaster occluder (occluder.onnx)",
    ),
    "xseg": ContractSpec(
        name="xseg", input_name="in_face:0", output_name="out_mask:0", layout="NHWC", colour="BGR",
        output="probability", polarity="1 = face (DeepFaceLab XSeg); roop-unleashed and VisoMaster invert it "
        "themselves (1 - mask)", size=TOOL_SIZE, consumer="DeepFaceLab-style XSeg ONNX (roop-unleashed xseg.onnx)",
    ),
}  # fmt: skip
#: Old names kept working: ``face-tool`` was the facefusion contract's first name.
ALIASES = {"face-tool": "facefusion"}
CONTRACT_NAMES = (*SPECS, *ALIASES)


def resolve_contract(name: str) -> ContractSpec:
    """The contract called ``name`` (or its alias); an unknown name lists the valid ones."""
    spec = SPECS.get(ALIASES.get(name, name))
    if spec is None:
        raise ConfigError(f"unknown contract {name!r}; valid: {', '.join(CONTRACT_NAMES)}")
    return spec


class ContractGraph(nn.Module):
    """An occgen face model (NCHW RGB [0, 1] in, face logits out) behind a tool's contract."""

    def __init__(self, model: nn.Module, spec: ContractSpec) -> None:
        super().__init__()
        self.model = model
        self.nhwc = spec.layout == "NHWC"
        self.bgr = spec.colour == "BGR"
        self.probability = spec.output == "probability"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        if self.bgr:
            x = x.flip(1)
        y = self.model(x)
        if self.probability:
            y = torch.sigmoid(y)
        return y.permute(0, 2, 3, 1) if self.nhwc else y


def template_metadata(crops: Mapping[str, Any] | None) -> dict[str, str]:
    """The crop templates a model was trained with, from the ``crops`` section of its checkpoint's config
    (``train --crops``, :class:`occgen.train.config.CropConfig`; None or no templates: :data:`TEMPLATE_NONE`):
    ``occgen_template`` in ``--crops`` syntax (``"ffhq_512:2,arcface_128:1"``, names alone when equally weighted)
    and ``occgen_crops``, the whole section as JSON."""
    section = dict(crops or {})
    names = [str(name) for name in section.get("templates", ())]
    weights = list(section.get("weights", ()))
    if weights and len(weights) != len(names):
        raise ConfigError(f"the checkpoint's train.crops has {len(names)} template(s) but {len(weights)} weight(s); "
                          "re-train or fix its config")  # fmt: skip
    if not names:
        text = TEMPLATE_NONE
    elif weights:
        text = ",".join(f"{name}:{float(weight):g}" for name, weight in zip(names, weights, strict=True))
    else:
        text = ",".join(names)
    return {META_TEMPLATE: text, META_CROPS: json.dumps(section, sort_keys=True)}


def contract_metadata(spec: ContractSpec, crops: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The contract in words, for ONNX ``metadata_props``, TorchScript extra files and the model card;
    ``crops``: the checkpoint config's ``crops`` section (:func:`template_metadata`)."""
    value_range = "[0, 1] (BGR uint8 / 255)" if spec.colour == "BGR" else "[0, 1] (RGB uint8 / 255)"
    return {META_LAYOUT: spec.layout, META_COLOUR: spec.colour, META_RANGE: value_range,
            META_OUTPUT: spec.output, META_POLARITY: spec.polarity, **template_metadata(crops)}  # fmt: skip


def consumer_input(spec: ContractSpec, batch: np.ndarray) -> np.ndarray:
    """The float32 array a consumer of ``spec`` feeds for uint8 RGB crops ``(N, S, S, 3)``."""
    x = batch[..., ::-1] if spec.colour == "BGR" else batch
    x = x.astype(np.float32) / 255.0
    return np.ascontiguousarray(x if spec.layout == "NHWC" else x.transpose(0, 3, 1, 2))


def output_logits(spec: ContractSpec, output: np.ndarray) -> np.ndarray:
    """A contract's output as occgen's ``(N, C, S, S)`` face logits (probabilities through the logit)."""
    y = output.transpose(0, 3, 1, 2) if spec.layout == "NHWC" else output
    if spec.output == "probability":
        y = np.clip(y, 1e-7, 1 - 1e-7)
        y = np.log(y) - np.log1p(-y)
    return np.ascontiguousarray(y, dtype=np.float32)


def hash_sidecar(path: Path) -> Path:
    """facefusion's ``<name>.hash`` beside ``path``: its CRC32 as 8 lowercase hex digits, no newline."""
    path = Path(path)
    sidecar = path.with_suffix(".hash")
    sidecar.write_text(format(zlib.crc32(path.read_bytes()), "08x"))
    return sidecar


def portable_ops_problems(model: Any) -> list[str]:
    """What in an ONNX ``ModelProto`` some execution providers cannot run natively: ``ConvTranspose`` with
    asymmetric (or SAME_*) padding falls back to CPU on onnxruntime's CUDA provider (onnxruntime issue 11312)."""
    problems = []
    for node in model.graph.node:
        if node.op_type != "ConvTranspose":
            continue
        attributes = {a.name: a for a in node.attribute}
        pads = list(attributes["pads"].ints) if "pads" in attributes else []
        auto_pad = attributes["auto_pad"].s.decode() if "auto_pad" in attributes else "NOTSET"
        half = len(pads) // 2
        if auto_pad in ("SAME_UPPER", "SAME_LOWER") or pads[:half] != pads[half:]:
            problems.append(f"ConvTranspose {node.name or '?'} has asymmetric padding (pads {pads}, auto_pad "
                            f"{auto_pad})")  # fmt: skip
    return problems


def check_portable_ops(path: Path) -> list[str]:
    """Refuse an ONNX file with ops an execution provider would run off-device; return its op types."""
    import onnx

    model = onnx.load(str(path))
    problems = portable_ops_problems(model)
    if problems:
        raise ConfigError(f"{path}: {problems[0]}; it would fall back to CPU on CUDA: export an architecture that "
                          "upsamples by resize + conv (all of occgen's do)")  # fmt: skip
    return sorted({node.op_type for node in model.graph.node})


def export_torchscript(model: nn.Module, path: Path, *, input_size: int, metadata: dict[str, str]) -> dict[str, Any]:
    """Trace ``model`` (the native contract: NCHW RGB [0, 1] -> face logits) at ``input_size`` and save it with
    ``occgen.json`` (the metadata) as an extra file; check the saved module against the eager model."""
    import contextlib
    import io
    import warnings

    model = model.eval().float()
    example = torch.rand(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.inference_mode():
        warnings.simplefilter("ignore")  # TracerWarnings about shape-dependent Python branches
        traced = torch.jit.trace(model, (example,), check_trace=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(traced, str(path), _extra_files={"occgen.json": json.dumps(metadata, sort_keys=True)})
    loaded = torch.jit.load(str(path))
    with torch.inference_mode():
        difference = float((loaded(example) - model(example)).abs().max())
    return {"traced_size": input_size, "check": {"max_abs_diff_vs_torch": difference, "input": list(example.shape)},
            "torch": torch.__version__}  # fmt: skip
