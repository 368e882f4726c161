"""Face masks (or parsing maps) for a folder of images from an occgen checkpoint (``.pt``) or an exported
ONNX model.

Each image is letterboxed (padded with black to a centred square, then resized to the model's input
size), predicted in batches, and its logits are resized bilinearly to the padded square and cropped back
to the image: masks always have the image's own size. A square image is not padded, so its mask is
computed exactly as ``occgen evaluate`` computes its predictions (:func:`occgen.train.evaluate.predict_batch`).

Outputs in ``out``: ``<stem>.png`` masks (0/255, face = 255), with ``soft=True`` ``soft/<stem>.png`` (the
face probability x 255) and with ``overlay=True`` ``overlay/<stem>.jpg`` (the image with occluded or
background pixels tinted red). A parsing model (``train.target parsing``) writes ``<stem>.png`` class-id maps
(:data:`occgen.core.labels.PARSING_CLASSES`, the argmax of its logits) and an overlay in the parsing palette
instead; ``soft`` is for face models. Files are written atomically, so an interrupted run leaves no half file.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from occgen.core.errors import ConfigError, SourceError
from occgen.core.files import atomic_write_bytes, list_images
from occgen.core.geometry import Letterbox, letterbox
from occgen.core.imageio import read_image
from occgen.core.labels import PARSING_CLASSES, colour_parsing
from occgen.train.export_model import (
    FACE_TOOL_SIZE,
    META_CLASSES,
    META_CONTRACT,
    META_FIXED,
    META_SIZE,
    META_TARGET,
    checkpoint_target,
    onnx_session,
)
from occgen.train.model_contracts import consumer_input, output_logits, resolve_contract

SOFT_DIR = "soft"
OVERLAY_DIR = "overlay"
OVERLAY_TINT = np.array([255, 0, 0], np.float32)


def unletterbox_logits(logits: torch.Tensor, box: Letterbox) -> torch.Tensor:
    """``(C, S, S)`` logits -> ``(C, h, w)`` at the image's own size (bilinear, then the crop): the torch form of
    :func:`occgen.core.geometry.unletterbox`."""
    if box.side == box.height == box.width:  # as occgen evaluate does: one resize to the image size
        if logits.shape[-2:] == (box.height, box.width):
            return logits
        return F.interpolate(logits[None], size=(box.height, box.width), mode="bilinear", align_corners=False)[0]
    square = F.interpolate(logits[None], size=(box.side, box.side), mode="bilinear", align_corners=False)[0]
    return square[:, box.top : box.top + box.height, box.left : box.left + box.width]


class Predictor(ABC):
    """Logits ``(N, C, S, S)`` (torch, float32, CPU) for uint8 RGB batches ``(N, S, S, 3)``: one face logit
    (``target`` face) or one per parsing class (``target`` parsing)."""

    input_size: int
    target: str = "face"
    batch_limit: int | None = None  # the face-tool graph takes one image at a time

    @abstractmethod
    def logits(self, batch: np.ndarray) -> torch.Tensor: ...


class TorchPredictor(Predictor):
    def __init__(self, model: Any, input_size: int, device: torch.device, target: str = "face") -> None:
        self.model = model.to(device).eval()
        self.input_size = input_size
        self.device = device
        self.target = target

    def logits(self, batch: np.ndarray) -> torch.Tensor:
        inputs = torch.from_numpy(batch).permute(0, 3, 1, 2).to(self.device).float().div_(255.0)
        with torch.inference_mode():
            return self.model(inputs).float().cpu()


class OnnxPredictor(Predictor):
    def __init__(self, path: Path, *, device: str, input_size: int | None) -> None:
        self.session = onnx_session(path, device=device)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.contract = meta.get(META_CONTRACT, "native")
        self.target = meta.get(META_TARGET, "face")
        if self.target == "parsing" and json.loads(meta.get(META_CLASSES, "[]")) != list(PARSING_CLASSES):
            raise ConfigError(f"{path}: its parsing classes differ from this occgen's; export it with this occgen")
        self.input_name = self.session.get_inputs()[0].name
        stored = int(meta[META_SIZE]) if META_SIZE in meta else None
        self.spec = resolve_contract(self.contract)
        fixed = meta.get(META_FIXED) == "true" or self.spec.size is not None
        if self.spec.size is not None:  # a face tool's contract: one 256-px image at a time
            stored, self.batch_limit = FACE_TOOL_SIZE, 1
        if fixed and input_size not in (None, stored):
            raise ConfigError(f"{path} takes {stored}x{stored} inputs only; omit --input-size or pass {stored}")
        size = input_size or stored
        if size is None:
            raise ConfigError(f"{path} has no occgen metadata (input size): pass --input-size")
        self.input_size = size

    def logits(self, batch: np.ndarray) -> torch.Tensor:
        output = self.session.run(None, {self.input_name: consumer_input(self.spec, batch)})[0]
        return torch.from_numpy(output_logits(self.spec, output))


def load_predictor(path: Path, *, device: str = "cpu", input_size: int | None = None) -> Predictor:
    """A predictor for ``path``: an occgen ``.pt`` checkpoint or an ``.onnx`` file from ``occgen export-model``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model not found: {path}; pass a .pt checkpoint or an .onnx file")
    if input_size is not None and (input_size < 32 or input_size % 32):
        raise ConfigError(f"--input-size must be a positive multiple of 32, got {input_size}")
    if path.suffix == ".onnx":
        return OnnxPredictor(path, device=device, input_size=input_size)
    from occgen.train.trainer import load_checkpoint, resolve_device

    model, info = load_checkpoint(path)
    target = checkpoint_target(info, path)
    size = input_size or int(info.get("config", {}).get("input_size", 256))
    return TorchPredictor(model, size, resolve_device(device), target)


def _write(path: Path, array: np.ndarray, params: list[int] | None = None) -> None:
    ok, encoded = cv2.imencode(path.suffix, array, params or [])
    if not ok:
        raise SourceError(f"cannot encode {path}")
    atomic_write_bytes(path, encoded.tobytes())


def overlay_image(image: np.ndarray, face: np.ndarray) -> np.ndarray:
    """RGB ``image`` with the non-face pixels (occluders, background) tinted half red."""
    out = image.astype(np.float32)
    out[~face] = 0.5 * out[~face] + 0.5 * OVERLAY_TINT
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@dataclass
class PredictReport:
    images: int
    out: Path


def predict_folder(
    predictor: Predictor, src: Path, out: Path, *, batch_size: int = 8, soft: bool = False, overlay: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> PredictReport:  # fmt: skip
    """Write the masks of every image in ``src`` into ``out`` (see the module doc)."""
    src = Path(src)
    if not src.is_dir():
        raise SourceError(f"image folder not found: {src}; pass --src FOLDER of images")
    paths = list_images(src)
    if not paths:
        raise SourceError(f"no images in {src} (png, jpg, ...)")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    parsing = predictor.target == "parsing"
    if parsing and soft:
        raise ConfigError("--soft writes face probabilities; a parsing model writes class-id maps: drop --soft")
    out = Path(out)
    if out.resolve() == src.resolve():
        raise ConfigError(f"--out {out} is the image folder: masks would overwrite images; choose another --out")
    for folder in (out, *((out / SOFT_DIR,) if soft else ()), *((out / OVERLAY_DIR,) if overlay else ())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"cannot create {folder}: {error.strerror or error}; choose a writable --out") from error
    if predictor.batch_limit:
        batch_size = min(batch_size, predictor.batch_limit)
    for chunk in _chunks(paths, batch_size):
        images = [read_image(p) for p in chunk]
        boxes, batch = [], []
        for image in images:
            square, box = letterbox(image, predictor.input_size)
            batch.append(square)
            boxes.append(box)
        logits = predictor.logits(np.stack(batch))
        for path, image, logit, box in zip(chunk, images, logits, boxes, strict=True):
            if parsing:
                _write_parsing(out, path.stem, image, unletterbox_logits(logit, box), overlay)
                continue
            face_logits = unletterbox_logits(logit, box)[0]
            face = (face_logits > 0).numpy()
            _write(out / f"{path.stem}.png", face.astype(np.uint8) * 255)
            if soft:
                prob = torch.sigmoid(face_logits).numpy()
                _write(out / SOFT_DIR / f"{path.stem}.png", np.clip(prob * 255.0 + 0.5, 0, 255).astype(np.uint8))
            if overlay:
                tinted = cv2.cvtColor(overlay_image(image, face), cv2.COLOR_RGB2BGR)
                _write(out / OVERLAY_DIR / f"{path.stem}.jpg", tinted, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if on_progress:
            on_progress(len(chunk))
    return PredictReport(len(paths), out)


def _write_parsing(out: Path, stem: str, image: np.ndarray, logits: torch.Tensor, overlay: bool) -> None:
    """``<stem>.png``: the class ids (argmax over the class logits); the overlay: the palette, half blended."""
    ids = logits.argmax(dim=0).to(torch.uint8).numpy()
    _write(out / f"{stem}.png", ids)
    if overlay:
        blended = (0.5 * image.astype(np.float32) + 0.5 * colour_parsing(ids) + 0.5).astype(np.uint8)
        jpeg = [cv2.IMWRITE_JPEG_QUALITY, 90]
        _write(out / OVERLAY_DIR / f"{stem}.jpg", cv2.cvtColor(blended, cv2.COLOR_RGB2BGR), jpeg)


def _chunks(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
