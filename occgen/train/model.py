"""ResNet-18 U-Net in plain torch (no torchvision): the FaceOcc paper's baseline (section 3.3).

Input: float32 ``(N, 3, H, W)`` RGB in [0, 1] with ``H`` and ``W`` multiples of 32; the ImageNet
normalisation happens inside the model. Output: ``(N, 1, H, W)`` face logits (sigmoid > 0.5 = face).

The encoder's parameter names are those of torchvision's ``resnet18`` (``conv1``, ``bn1``,
``layer1.0.conv1`` ... ``layer4.1.bn2``, ``downsample.0/1``), so an ImageNet state dict saved from
torchvision loads into ``model.encoder`` strictly with :func:`load_encoder_weights`. Nothing is downloaded.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from occgen.core.errors import ConfigError
from occgen.train.encoder_keys import read_encoder_state

ARCH = "resnet18-unet"
#: ImageNet statistics used by torchvision's pretrained ResNets (their published preprocessing).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise_input(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Check the model contract (``(N, 3, H, W)``, sides multiples of 32) and apply the ImageNet normalisation."""
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % 32 or x.shape[3] % 32:
        raise ValueError(f"expected (N, 3, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
    return (x - mean.to(x.dtype)) / std.to(x.dtype)


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity, inplace=True)


class ResNet18Encoder(nn.Module):
    """ResNet-18 without its classifier; returns the features at strides 2, 4, 8, 16 and 32."""

    channels = (64, 64, 128, 256, 512)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64, 1), BasicBlock(64, 64, 1))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128, 1))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256, 1))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512, 1))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x0 = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x1 = self.layer1(self.maxpool(x0))
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        return [x0, x1, x2, x3, x4]


def _conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    """Upsample x2 (bilinear), concatenate the skip, two 3x3 conv-BN-ReLU."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(in_ch + skip_ch, out_ch)
        self.conv2 = _conv_bn_relu(out_ch, out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class ResNet18UNet(nn.Module):
    """U-Net on a ResNet-18 encoder with a one-channel face-logit head (14.3 M parameters)."""

    decoder_channels = (256, 128, 64, 64, 32)

    def __init__(self) -> None:
        super().__init__()
        self.encoder = ResNet18Encoder()
        enc = self.encoder.channels  # (64, 64, 128, 256, 512) at strides 2..32
        dec = self.decoder_channels
        self.decoder = nn.ModuleList(
            [
                DecoderBlock(enc[4], enc[3], dec[0]),  # 32 -> 16
                DecoderBlock(dec[0], enc[2], dec[1]),  # 16 -> 8
                DecoderBlock(dec[1], enc[1], dec[2]),  # 8 -> 4
                DecoderBlock(dec[2], enc[0], dec[3]),  # 4 -> 2
                DecoderBlock(dec[3], 0, dec[4]),  # 2 -> 1
            ]
        )
        self.head = nn.Conv2d(dec[4], 1, 3, 1, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = normalise_input(x, self.get_buffer("mean"), self.get_buffer("std"))
        features = self.encoder(x)
        skips = [features[3], features[2], features[1], features[0], None]
        y = features[4]
        for block, skip in zip(self.decoder, skips, strict=True):
            y = block(y, skip)
        return self.head(y)


def build_model(*, seed: int) -> ResNet18UNet:
    """A randomly initialised model, identical for the same ``seed``.

    torch's initialisers draw from its global generator; ``fork_rng`` scopes the seeding to this call
    so the caller's global torch state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ResNet18UNet()


def read_torch_file(path: Path, what: str, fix: str) -> Any:
    """``torch.load`` of tensors and plain data only (``weights_only``: no code runs), with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}; {fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise ConfigError(f"cannot read {what} {path}: {error}; {fix}") from error


def load_encoder_weights(model: ResNet18UNet, path: Path) -> None:
    """Load a ResNet-18 state dict (ImageNet weights the user saved from torchvision, timm or Hugging Face:
    :mod:`occgen.train.encoder_keys`) into the encoder.

    Strict: every encoder tensor must be present with its exact shape and no other key may appear,
    except the classifier head, which is dropped; a one-line error names the unmatched keys.
    """
    path = Path(path)
    state = read_encoder_state(path, read_torch_file)
    expected = model.encoder.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mis_shaped = sorted(
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in set(expected) & set(state)
        if state[k].shape != expected[k].shape
    )
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mis_shaped)):
        if keys:
            shown = ", ".join(keys[:8]) + (f" ... ({len(keys)} in all)" if len(keys) > 8 else "")
            problems.append(f"{label} keys: {shown}")
    if problems:
        raise ConfigError(f"{path} is not a ResNet-18 state dict (torchvision, timm or Hugging Face key names): "
                          + "; ".join(problems))  # fmt: skip
    model.encoder.load_state_dict(state, strict=True)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
