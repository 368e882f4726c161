"""The model factory: every segmentation architecture occgen trains, behind one contract.

Every model takes float32 ``(N, 3, H, W)`` RGB in [0, 1] (``H`` and ``W`` multiples of 32), normalises
inside (ImageNet mean/std) and returns ``(N, 1, H, W)`` face logits at the input resolution
(sigmoid > 0.5 = visible face). Architectures (``train.arch`` / ``--arch``):

- ``unet-resnet18``: the hand-written ResNet-18 U-Net of :mod:`occgen.train.model` (FaceOcc's baseline);
  checkpoints written before ``arch`` existed (``resnet18-unet``) load as this one.
- ``segformer-b0`` ... ``segformer-b5``: SegFormer (the NatOcc paper's best model, Table 4) from
  Hugging Face ``transformers``; the MiT sizes are those of the HF conversion script
  (``convert_segformer_original_to_pytorch.py``). The decode head predicts at 1/4 resolution; the logits
  are upsampled bilinearly to the input size here.
- ``upernet-resnet50``: UperNet (pyramid pooling, the PSPNet family) on a ResNet-50, from ``transformers``,
  without the auxiliary FCN head (occgen's OHEM BCE loss is computed on the main output only).
- ``segformer-tiny``, ``upernet-tiny``: the same code at a few percent of the width, for smoke tests and
  demos on CPU; not meant for real training.

Models are built from a config only: nothing is downloaded. ImageNet encoder weights come from a local
file or folder the user passes (:func:`load_encoder_weights`), loaded strictly.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from occgen.core.checkpoint import check_state_dict
from occgen.core.errors import ConfigError
from occgen.train.config import ARCHITECTURES, DEFAULT_ARCH, LEGACY_ARCHES
from occgen.train.model import IMAGENET_MEAN, IMAGENET_STD, ResNet18UNet, normalise_input
from occgen.train.model import load_encoder_weights as load_resnet18_encoder
from occgen.train.multiclass import set_head

EXTRA_HINT = "pip install 'occgen[models]'"

# MiT encoder sizes per SegFormer variant: (hidden_sizes, depths, decoder_hidden_size).
SEGFORMER_SIZES: dict[str, tuple[list[int], list[int], int]] = {
    "segformer-b0": ([32, 64, 160, 256], [2, 2, 2, 2], 256),
    "segformer-b1": ([64, 128, 320, 512], [2, 2, 2, 2], 256),
    "segformer-b2": ([64, 128, 320, 512], [3, 4, 6, 3], 768),
    "segformer-b3": ([64, 128, 320, 512], [3, 4, 18, 3], 768),
    "segformer-b4": ([64, 128, 320, 512], [3, 8, 27, 3], 768),
    "segformer-b5": ([64, 128, 320, 512], [3, 6, 40, 3], 768),
    # Widths divisible by the default heads (1, 2, 5, 8).
    "segformer-tiny": ([16, 32, 80, 128], [1, 1, 1, 1], 32),
}
# ResNet backbones of UperNet: (layer_type, embedding_size, hidden_sizes, depths, decoder hidden_size).
UPERNET_SIZES: dict[str, tuple[str, int, list[int], list[int], int]] = {
    "upernet-resnet50": ("bottleneck", 64, [256, 512, 1024, 2048], [3, 4, 6, 3], 512),
    "upernet-tiny": ("basic", 16, [16, 32, 64, 128], [1, 1, 1, 1], 32),
}


def canonical_arch(name: str) -> str:
    """``name`` if occgen knows it (old checkpoint names mapped to today's), else a ConfigError listing all."""
    name = LEGACY_ARCHES.get(name, name)
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {name!r}; valid: {', '.join(ARCHITECTURES)}")
    return name


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as error:
        raise ConfigError(f"this architecture needs Hugging Face transformers: {EXTRA_HINT}") from error
    transformers.logging.set_verbosity_error()  # no load reports on stdout; occgen reports problems itself
    transformers.logging.disable_progress_bar()
    return transformers


class HFSegmenter(nn.Module):
    """A ``transformers`` semantic-segmentation model behind occgen's model contract (see module doc)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = normalise_input(x, self.get_buffer("mean"), self.get_buffer("std"))
        logits = self.net(pixel_values=x).logits
        if logits.shape[-2:] != x.shape[-2:]:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits


def _labels(outputs: int) -> dict[str, Any]:
    names = ["face"] if outputs == 1 else [f"class_{i}" for i in range(outputs)]
    return {"num_labels": outputs, "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def segformer_config(arch: str, outputs: int = 1) -> Any:
    hidden_sizes, depths, decoder = SEGFORMER_SIZES[arch]
    tf = _transformers()
    return tf.SegformerConfig(hidden_sizes=hidden_sizes, depths=depths, decoder_hidden_size=decoder,
                              reshape_last_stage=True, **_labels(outputs))  # fmt: skip


def resnet_config(arch: str) -> Any:
    layer_type, embedding, hidden_sizes, depths, _ = UPERNET_SIZES[arch]
    tf = _transformers()
    return tf.ResNetConfig(layer_type=layer_type, embedding_size=embedding, hidden_sizes=hidden_sizes, depths=depths,
                           out_features=["stage1", "stage2", "stage3", "stage4"])  # fmt: skip


def upernet_config(arch: str, outputs: int = 1) -> Any:
    tf = _transformers()
    return tf.UperNetConfig(backbone_config=resnet_config(arch), hidden_size=UPERNET_SIZES[arch][4],
                            use_auxiliary_head=False, **_labels(outputs))  # fmt: skip


def _build_segformer(arch: str, outputs: int) -> nn.Module:
    return HFSegmenter(_transformers().SegformerForSemanticSegmentation(segformer_config(arch, outputs)))


def _build_upernet(arch: str, outputs: int) -> nn.Module:
    return HFSegmenter(_transformers().UperNetForSemanticSegmentation(upernet_config(arch, outputs)))


def build_model(arch: str = DEFAULT_ARCH, *, seed: int, outputs: int = 1) -> nn.Module:
    """A randomly initialised ``arch`` model with ``outputs`` logit channels (1: the face; the parsing
    classes for ``train.target parsing``), identical for the same ``seed``.

    The initialisers draw from torch's global generator; ``fork_rng`` scopes the seeding to this call.
    The U-Net's multi-class head is :func:`occgen.train.multiclass.set_head`'s (seeded apart).
    """
    arch = canonical_arch(arch)
    if outputs < 1:
        raise ConfigError(f"a model needs at least one output channel, got {outputs}")
    builder: Callable[[], nn.Module]
    if arch == "unet-resnet18":
        builder = ResNet18UNet
    elif arch in SEGFORMER_SIZES:
        builder = lambda: _build_segformer(arch, outputs)  # noqa: E731
    else:
        builder = lambda: _build_upernet(arch, outputs)  # noqa: E731
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = builder()
    if arch == "unet-resnet18" and outputs != 1:
        model = set_head(model, outputs, seed=seed)
    return model


@dataclass(frozen=True)
class _EncoderSpec:
    """How a ``transformers`` encoder checkpoint maps onto an occgen model."""

    model_class: str  # transformers class the checkpoint is loaded as
    config: Callable[[str], Any]
    target: Callable[[nn.Module], nn.Module]  # the submodule of the occgen model that receives the weights
    ignored_unexpected: tuple[str, ...]  # checkpoint keys the encoder has no use for (classifier heads)
    expected: str  # what the user should pass, for messages


def _segformer_encoder_config(arch: str) -> Any:
    return _transformers().SegformerConfig(**{k: v for k, v in segformer_config(arch).to_dict().items()
                                              if k not in ("architectures", "transformers_version")})  # fmt: skip


ENCODERS = {
    "segformer": _EncoderSpec("SegformerModel", _segformer_encoder_config, lambda m: m.get_submodule("net.segformer"),
                              ("classifier.", "decode_head."),
                              "a local copy of nvidia/mit-bX (folder or weights file)"),
    "upernet": _EncoderSpec("ResNetBackbone", resnet_config, lambda m: m.get_submodule("net.backbone"),
                            ("classifier.",), "a local copy of microsoft/resnet-50 (folder or weights file)"),
}  # fmt: skip


def _pretrained_dir(path: Path, tmp: Path) -> Path:
    """A folder ``from_pretrained`` can read: ``path`` itself, or ``tmp`` holding a link to a weights file."""
    if path.is_dir():
        return path
    name = "model.safetensors" if path.suffix == ".safetensors" else "pytorch_model.bin"
    (tmp / name).symlink_to(path.resolve())
    return tmp


def load_hf_encoder(model: nn.Module, arch: str, path: Path) -> None:
    """Load a Hugging Face encoder checkpoint (folder with config.json + weights, or the weights file alone)
    into ``model``'s encoder, strictly: every encoder tensor must be in the file with occgen's shape.

    transformers' own loader reads the file (it renames the v4 hub key names to the v5 modules); it is
    given occgen's config for ``arch``, so the folder's config.json cannot change the architecture, and
    ``local_files_only`` so nothing is fetched. Classifier heads in the file are ignored.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"encoder weights not found: {path}; pass a local folder or weights file")
    family = "segformer" if arch in SEGFORMER_SIZES else "upernet"
    spec = ENCODERS[family]
    tf = _transformers()
    with tempfile.TemporaryDirectory(prefix="occgen-encoder-") as tmp_name:
        folder = _pretrained_dir(path, Path(tmp_name))
        try:
            loaded, info = getattr(tf, spec.model_class).from_pretrained(
                folder, config=spec.config(arch), local_files_only=True, ignore_mismatched_sizes=True,
                output_loading_info=True,
            )  # fmt: skip
        except (OSError, ValueError, RuntimeError) as error:
            raise ConfigError(f"cannot read encoder weights {path}: {error}; pass {spec.expected}") from error
    missing = sorted(info.get("missing_keys", []))
    unexpected = sorted(k for k in info.get("unexpected_keys", []) if not k.startswith(spec.ignored_unexpected))
    mis_shaped = sorted(f"{item[0]} (file {tuple(item[1])}, model {tuple(item[2])})" if isinstance(item, tuple)
                        else str(item) for item in info.get("mismatched_keys", []))  # fmt: skip
    problems = [f"{label} keys: " + ", ".join(keys[:8]) + (f" ... ({len(keys)} in all)" if len(keys) > 8 else "")
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mis_shaped))
                if keys]  # fmt: skip
    if problems:
        listing = "; ".join(problems)
        raise ConfigError(f"{path} does not match the {arch} encoder: {listing}; pass {spec.expected}")
    target = spec.target(model)
    state = loaded.state_dict()
    check_state_dict(target.state_dict(), state, f"encoder weights {path}")
    target.load_state_dict(state, strict=True)


def load_encoder_weights(model: nn.Module, arch: str, path: Path) -> None:
    """Load ImageNet (or other) encoder weights from a local ``path`` into ``model`` (an ``arch`` model)."""
    arch = canonical_arch(arch)
    if arch == "unet-resnet18":
        load_resnet18_encoder(model, path)  # type: ignore[arg-type]
    else:
        load_hf_encoder(model, arch, path)


def needs_full_batches(arch: str) -> bool:
    """True when a training batch of one sample would fail: UperNet's pyramid pooling puts a BatchNorm after
    a global (1x1) pool, which cannot normalise a single value per channel. The trainer then drops an
    epoch's incomplete last batch (``drop_last``)."""
    return canonical_arch(arch) in UPERNET_SIZES


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
