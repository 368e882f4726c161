"""``occgen export-model --quantize int8 --calibration STORE``: a statically quantized ONNX export (issue 26).

Where it sits: after :func:`occgen.train.export_model.export_onnx` has written the fp32 graph of a contract, this
module quantizes it with onnxruntime's ``quantize_static`` (QDQ format: ``QuantizeLinear`` /
``DequantizeLinear`` pairs around each quantized op; int8 weights per output channel, uint8 activations;
min-max ranges observed on calibration images), then checks it against the fp32 graph:

- calibration images: ``n`` samples of a store (or mix), drawn without replacement with
  ``np.random.default_rng(seed)``, resized to the contract's input side (``cv2.resize``, bilinear, as the face
  tools resize their crops) and fed exactly as the contract's consumer feeds them
  (:func:`occgen.train.model_contracts.consumer_input`: layout, colour order, / 255);
- agreement: the share of mask pixels (face where probability > 0.5, i.e. logit > 0; the argmax for a parsing
  model) on which the int8 graph agrees with the fp32 graph, over those images. Below
  :data:`AGREEMENT_BOUND` the export is refused (nothing is written) unless ``force``.

The file states ``occgen_quantized = int8``, the calibration store's card digest, ``n`` and seed, and the
agreement in ``metadata_props`` (and so in the model card). facefusion's ``.hash`` is that of the quantized file.
onnxruntime ships the quantization tools, so this needs only the ``onnx`` extra.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError
from occgen.store import open_store
from occgen.store.schema import card_digest
from occgen.train.export_model import ONNX_HINT, export_onnx, onnx_session
from occgen.train.model_contracts import (
    ContractSpec,
    check_portable_ops,
    consumer_input,
    hash_sidecar,
    output_logits,
    resolve_contract,
)

QUANTIZE_MODES = ("int8",)
#: The least share of mask pixels on which the int8 graph must agree with the fp32 graph (calibration images).
AGREEMENT_BOUND = 0.99
DEFAULT_CALIBRATION_N = 32
#: The op types quantized: the convolutions and matrix products that hold the time (Conv ~96 % of the U-Net's,
#: docs/models.md). The contract's tail (Sigmoid, Transpose) stays fp32: a uint8 probability has steps of 1/255
#: around the 0.5 threshold, which flipped a quarter of a tiny model's mask pixels when it was quantized.
QUANTIZED_OPS = ("Conv", "MatMul", "Gemm")
META_QUANTIZED, META_CALIBRATION = "occgen_quantized", "occgen_calibration"
META_AGREEMENT = "occgen_int8_agreement"


@dataclass(frozen=True, kw_only=True)
class CalibrationSet:
    """Calibration crops: ``crops`` uint8 ``(n, S, S, 3)`` RGB at the contract's side ``S``, drawn from ``store``."""

    store: str
    digest: str  # the store's card digest (occgen.store.schema.card_digest)
    seed: int
    indices: tuple[int, ...]
    crops: np.ndarray

    def record(self) -> dict[str, Any]:
        return {"store": self.store, "digest": self.digest, "n": len(self.indices), "seed": self.seed}


def calibration_set(store: Path | str, *, n: int, seed: int, side: int) -> CalibrationSet:
    """``n`` images of ``store`` drawn with ``seed`` (all of them if it holds fewer), resized to ``side``."""
    if n < 1:
        raise ConfigError(f"--calibration-n must be at least 1, got {n}")
    dataset = open_store(store)
    if len(dataset) == 0:
        raise ConfigError(f"calibration store {store} holds no samples; pass a store made by occgen generate")
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(dataset), size=min(n, len(dataset)), replace=False))
    crops = []
    for index in indices:
        image = dataset[int(index)].image
        resized = cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)
        crops.append(image if image.shape[0] == side else resized)
    return CalibrationSet(store=str(store), digest=card_digest(dataset.card), seed=seed,
                          indices=tuple(int(i) for i in indices), crops=np.stack(crops))  # fmt: skip


def contract_feeds(spec: ContractSpec, crops: np.ndarray) -> list[np.ndarray]:
    """One float32 batch of one image per crop, as the contract's consumer builds it."""
    return [consumer_input(spec, crops[i : i + 1]) for i in range(len(crops))]


def masks_of(spec: ContractSpec, output: np.ndarray) -> np.ndarray:
    """The mask a contract's output means: face where logit > 0 (one channel), else the argmax class."""
    logits = output_logits(spec, output)
    return logits[:, 0] > 0 if logits.shape[1] == 1 else logits.argmax(axis=1)


def mask_agreement(spec: ContractSpec, fp32: Path, int8: Path, feeds: list[np.ndarray]) -> float:
    """The share of mask pixels on which the two graphs agree over ``feeds``."""
    sessions = onnx_session(fp32), onnx_session(int8)
    same = total = 0
    for feed in feeds:
        first, second = (masks_of(spec, s.run(None, {spec.input_name: feed})[0]) for s in sessions)
        same += int((first == second).sum())
        total += first.size
    return same / total


def _quantize_static(fp32: Path, out: Path, spec: ContractSpec, feeds: list[np.ndarray]) -> None:
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
    except ImportError as error:
        raise ConfigError(f"--quantize int8 needs onnxruntime's quantization tools: {ONNX_HINT}") from error

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.pending = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            feed = next(self.pending, None)
            return None if feed is None else {spec.input_name: feed}

    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        previous = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # its per-tensor calibration chatter
        try:
            quantize_static(
                str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=list(QUANTIZED_OPS),
            )  # fmt: skip
        finally:
            logging.getLogger().setLevel(previous)


def _add_metadata(path: Path, extra: dict[str, str]) -> dict[str, str]:
    """Add ``extra`` to the graph's ``metadata_props`` (kept from the fp32 graph); return them all."""
    import onnx

    model = onnx.load(str(path))
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    metadata.update(extra)
    del model.metadata_props[:]
    for key, text in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, text
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return metadata


def quantize_export(fp32: Path, out: Path, *, contract: str, calibration: CalibrationSet, force: bool = False,
                    bound: float = AGREEMENT_BOUND) -> dict[str, Any]:  # fmt: skip
    """Quantize the fp32 ONNX export ``fp32`` of ``contract`` to int8 at ``out`` (calibrated on ``calibration``);
    refuse (ConfigError, ``out`` untouched) when the masks agree on less than ``bound`` of the pixels unless
    ``force``. Returns the record for the model card's ``export`` section (``quantized``, ``calibration``,
    ``agreement``, ``ops``, ``hash_sidecar`` for facefusion)."""
    spec = resolve_contract(contract)
    feeds = contract_feeds(spec, calibration.crops)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.with_name(f".{out.stem}.int8-staged.onnx")  # beside it, so the final rename is atomic
    try:
        _quantize_static(Path(fp32), staged, spec, feeds)
        agreement = mask_agreement(spec, Path(fp32), staged, feeds)
        if agreement < bound and not force:
            raise ConfigError(
                f"{out}: the int8 model agrees with fp32 on {agreement:.2%} of mask pixels of {len(feeds)} calibration "
                f"image(s) from {calibration.store} (bound {bound:.0%}); calibrate on a store of real-looking face "
                "crops (--calibration, more with --calibration-n), or pass --force to keep it anyway"
            )  # fmt: skip
        metadata = _add_metadata(staged, {
            META_QUANTIZED: "int8", META_CALIBRATION: (
                f"store digest {calibration.digest}, n {len(feeds)}, seed {calibration.seed}"),
            META_AGREEMENT: f"{agreement:.6f}",
        })  # fmt: skip
        os.replace(staged, out)
    finally:
        staged.unlink(missing_ok=True)
    record: dict[str, Any] = {
        "quantized": "int8", "calibration": calibration.record(), "ops": check_portable_ops(out),
        "agreement": {"mask_pixels_vs_fp32": agreement, "bound": bound, "forced": bool(force and agreement < bound),
                      "threshold": "probability 0.5 (logit 0); argmax for parsing"},
        "quantization": {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
                         "weights": "int8 per channel", "activations": "uint8", "calibrate": "MinMax"},
        "metadata": {k: metadata[k] for k in (META_QUANTIZED, META_CALIBRATION, META_AGREEMENT)},
    }  # fmt: skip
    if spec.hash_sidecar:
        sidecar = hash_sidecar(out)  # recomputed: the CRC32 of the quantized file
        record["hash_sidecar"] = {"path": sidecar.name, "crc32": sidecar.read_text()}
    return record


def export_onnx_int8(model: Any, arch: str, path: Path, *, contract: str, input_size: int, calibration: Path | str,
                     calibration_n: int = DEFAULT_CALIBRATION_N, seed: int = 0, force: bool = False,
                     bound: float = AGREEMENT_BOUND,
                     **export_options: Any) -> dict[str, Any]:  # fmt: skip
    """``export-model --quantize int8``: export ``model`` as fp32 ONNX (:func:`export_onnx`, to a temporary file
    beside ``path``), quantize it to ``path`` calibrated on ``calibration_n`` images of the store ``calibration``
    drawn with ``seed``; the fp32 record (contract, torch check) merged with the quantization record."""
    path = Path(path)
    side = resolve_contract(contract).size or input_size
    calibration_images = calibration_set(calibration, n=calibration_n, seed=seed, side=side)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as folder:
        fp32 = Path(folder) / "fp32.onnx"  # its .hash (facefusion) stays in the folder and goes with it
        record = export_onnx(model, arch, fp32, contract=contract, input_size=input_size, **export_options)
        record.pop("hash_sidecar", None)
        quantized = quantize_export(
            fp32, path, contract=contract, calibration=calibration_images, force=force, bound=bound
        )
        record["fp32_bytes"] = fp32.stat().st_size
    record["contract"] = {**record["contract"], **quantized.pop("metadata")}
    return {**record, **quantized}
