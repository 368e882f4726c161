"""Face masks from a face-parsing network, with the same face rule as CelebAMask-HQ.

The parser predicts one of 19 labels per pixel. Its label order is the one the public checkpoint was
trained with (zllrunning/face-parsing.PyTorch ``prepropess_data.py``): 0 is background and label ``i``
(1..18) is the ``i``-th CelebAMask-HQ part in :data:`occgen.sources.faces.CELEBAMASK_PARTS` order (skin,
l_brow, r_brow, l_eye, r_eye, eye_g, l_ear, r_ear, ear_r, nose, mouth, u_lip, l_lip, neck, neck_l, cloth,
hair, hat). A label map is split into per-part masks and passed to
:func:`occgen.sources.faces.face_mask_from_parts`, so "face" means the same here as for CelebAMask-HQ.

Where it sits: ``occgen faces masks --method parser`` (:mod:`occgen.prep.faces.stage`) reads images, calls
:class:`FaceParser` in batches and writes a face folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from occgen.core.arrays import check_image
from occgen.core.errors import ArrayContractError, ConfigError
from occgen.core.imageio import resize_image, resize_labels
from occgen.core.labels import PART_ID
from occgen.prep.faces.bisenet import IMAGENET_MEAN, IMAGENET_STD, INPUT_SIZE, N_CLASSES, BiSeNet, load_bisenet
from occgen.sources.faces import (
    CELEBAMASK_PARTS,
    DEFAULT_FACE_PARTS,
    DEFAULT_OCCLUDING_PARTS,
    face_mask_from_parts,
)

#: Class id -> name of the public 19-class checkpoint (0 background, then CelebAMask-HQ's parts).
PARSER_LABELS: tuple[str, ...] = ("background", *CELEBAMASK_PARTS)


def check_labels(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    """Raise unless ``labels`` is ``uint8 (H, W)`` with values below ``len(PARSER_LABELS)``."""
    if not isinstance(labels, np.ndarray) or labels.ndim != 2 or labels.dtype != np.uint8:
        got = f"{labels.shape} {labels.dtype}" if isinstance(labels, np.ndarray) else type(labels).__name__
        raise ArrayContractError(f"{name}: expected (H, W) uint8 parser labels, got {got}")
    if labels.size and int(labels.max()) >= len(PARSER_LABELS):
        raise ArrayContractError(f"{name}: expected labels 0..{len(PARSER_LABELS) - 1}, got max {int(labels.max())}")
    return labels


def parts_from_labels(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Split a parser label map into CelebAMask-HQ-style part masks (``uint8 {0, 1}``), present parts only."""
    check_labels(labels)
    present = np.unique(labels)
    return {PARSER_LABELS[i]: (labels == i).astype(np.uint8) for i in present.tolist() if i != 0}


#: Parser id -> parsing id of :mod:`occgen.core.labels` (same 19 classes, CelebAMask-HQ's published order).
PARSER_TO_PARSING = np.array([0, *(PART_ID[name] for name in CELEBAMASK_PARTS)], np.uint8)


def parsing_from_parser_labels(labels: np.ndarray) -> np.ndarray:
    """A parser label map renumbered to :data:`occgen.core.labels.PARSING_CLASSES` ids (all 19 classes kept)."""
    return PARSER_TO_PARSING[check_labels(labels)]


def face_mask_from_labels(
    labels: np.ndarray,
    face_parts: tuple[str, ...] = DEFAULT_FACE_PARTS,
    occluding_parts: tuple[str, ...] = DEFAULT_OCCLUDING_PARTS,
) -> np.ndarray:
    """Visible-face mask ``uint8 (H, W) {0, 1}`` of a parser label map, by the CelebAMask-HQ rule."""
    parts = parts_from_labels(labels)
    if not parts:  # all background: no face
        return np.zeros(labels.shape, np.uint8)
    return face_mask_from_parts(parts, face_parts, occluding_parts)


def to_batch(images: Sequence[np.ndarray], size: int = INPUT_SIZE) -> torch.Tensor:
    """Images (uint8 RGB, any size) → ``float32 (N, 3, size, size)`` normalised as the checkpoint expects."""
    batch = np.stack([resize_image(check_image(im, "parser input"), (size, size)) for im in images])
    tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (tensor - mean) / std


class FaceParser:
    """Runs a :class:`~occgen.prep.faces.bisenet.BiSeNet` on batches of images and returns label maps.

    Images are resized to ``input_size``² (the checkpoint's 512², whatever the aspect ratio, as the
    checkpoint's own test script does; area filter when shrinking where it uses PIL's bilinear), parsed,
    and the labels resized back to each image's own size with nearest neighbour.
    """

    def __init__(self, model: BiSeNet, device: str = "cpu", input_size: int = INPUT_SIZE) -> None:
        if input_size % 32:
            raise ConfigError(f"parser input size must be a multiple of 32, got {input_size}")
        if model.n_classes != N_CLASSES:
            raise ConfigError(f"the face parser needs {N_CLASSES} classes, the model has {model.n_classes}")
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.input_size = input_size

    @classmethod
    def from_checkpoint(cls, path: Path, device: str = "cpu", input_size: int = INPUT_SIZE) -> FaceParser:
        return cls(load_bisenet(path), device, input_size)

    @torch.inference_mode()
    def parse(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``uint8 (H_i, W_i, 3)`` RGB images → ``uint8 (H_i, W_i)`` label maps (0..18)."""
        if not images:
            return []
        logits = self.model(to_batch(images, self.input_size).to(self.device))
        labels = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
        return [resize_labels(lab, (im.shape[1], im.shape[0])) for lab, im in zip(labels, images, strict=True)]


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda[:N]``; asking for CUDA on a machine without it is a clear error, not a fallback."""
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: no CUDA device is available here; use --device cpu")
        return device
    raise ConfigError(f"unknown device {device!r}; valid: cpu, cuda, cuda:N")
