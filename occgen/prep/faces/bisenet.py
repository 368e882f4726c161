"""BiSeNet face parser in plain torch, laid out so the public face-parsing checkpoint loads strictly.

The checkpoint is zllrunning/face-parsing.PyTorch's ``79999_iter.pth`` (19 classes, trained on
CelebAMask-HQ at 512², MIT licence for the code). Facts taken from that repository (no code copied):

- a ResNet-18 context path (``cp.resnet.*``, no ``fc``) whose 1/8, 1/16 and 1/32 features feed two
  attention-refinement modules (``cp.arm16`` 256→128, ``cp.arm32`` 512→128), a global-average branch
  (``cp.conv_avg`` 1×1 512→128) and two 3×3 heads (``cp.conv_head32``, ``cp.conv_head16``); the spatial path
  is replaced by the 1/8 ResNet feature;
- a feature-fusion module (``ffm``: 1×1 ``convblk`` 256→256, squeeze 256→64→256 without biases);
- three output heads ``conv_out`` (256→256→19), ``conv_out16`` and ``conv_out32`` (128→64→19); only
  ``conv_out`` is used at inference, the other two are auxiliary training heads kept for strict loading;
- every conv is bias-free and every norm is a plain ``BatchNorm2d``; upsampling between stages is nearest,
  the final upsampling bilinear with ``align_corners=True``;
- the state dict is saved from the unwrapped model (no ``module.`` prefix); input is RGB scaled to [0, 1] and
  normalised with the ImageNet mean/std.

Where it sits: :mod:`occgen.prep.faces.parsing` runs this network and turns its labels into face masks.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from occgen.core.errors import SourceError

#: Number of classes of the public checkpoint (background + the 18 CelebAMask-HQ parts).
N_CLASSES = 19
#: Input normalisation the checkpoint was trained with (ImageNet statistics, RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Training and inference resolution of the public checkpoint.
INPUT_SIZE = 512


class ConvBNReLU(nn.Sequential):
    """Bias-free conv, batch norm, ReLU; state-dict names ``conv.*`` and ``bn.*``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)


class BasicBlock(nn.Module):
    """ResNet basic block (``conv1/bn1/conv2/bn2`` and an optional ``downsample.0/.1`` projection)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if in_channels != out_channels or stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = F.relu(self.bn1(self.conv1(x)))
        branch = self.bn2(self.conv2(branch))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + branch)


def _stage(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(in_channels, out_channels, stride), BasicBlock(out_channels, out_channels, 1))


class ResNet18Features(nn.Module):
    """ResNet-18 trunk without the classifier; returns the 1/8, 1/16 and 1/32 feature maps."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = _stage(64, 64, 1)
        self.layer2 = _stage(64, 128, 2)
        self.layer3 = _stage(128, 256, 2)
        self.layer4 = _stage(256, 512, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        feat8 = self.layer2(self.layer1(x))
        feat16 = self.layer3(feat8)
        return feat8, feat16, self.layer4(feat16)


class AttentionRefinement(nn.Module):
    """3×3 conv block re-weighted per channel by a sigmoid of its global average."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, out_channels, 3)
        self.conv_atten = nn.Conv2d(out_channels, out_channels, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        weight = torch.sigmoid(self.bn_atten(self.conv_atten(feat.mean(dim=(2, 3), keepdim=True))))
        return feat * weight


class ContextPath(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.resnet = ResNet18Features()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128, 3)
        self.conv_head16 = ConvBNReLU(128, 128, 3)
        self.conv_avg = ConvBNReLU(512, 128, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feat8, feat16, feat32 = self.resnet(x)
        global_context = self.conv_avg(feat32.mean(dim=(2, 3), keepdim=True))
        up32 = F.interpolate(self.arm32(feat32) + global_context, size=feat16.shape[2:], mode="nearest")
        up32 = self.conv_head32(up32)
        up16 = F.interpolate(self.arm16(feat16) + up32, size=feat8.shape[2:], mode="nearest")
        return feat8, self.conv_head16(up16), up32


class FeatureFusion(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(in_channels, out_channels, 1)
        self.conv1 = nn.Conv2d(out_channels, out_channels // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(out_channels // 4, out_channels, 1, bias=False)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([spatial, context], dim=1))
        weight = torch.sigmoid(self.conv2(F.relu(self.conv1(feat.mean(dim=(2, 3), keepdim=True)))))
        return feat * weight + feat


class OutputHead(nn.Module):
    def __init__(self, in_channels: int, mid_channels: int, n_classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, mid_channels, 3)
        self.conv_out = nn.Conv2d(mid_channels, n_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """Face-parsing BiSeNet: ``(N, 3, H, W)`` normalised RGB → ``(N, n_classes, H, W)`` logits.

    ``H`` and ``W`` should be multiples of 32 (the checkpoint was trained at 512²).
    ``forward(x, aux=True)`` also returns the two auxiliary heads' logits (training only).
    """

    def __init__(self, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = OutputHead(256, 256, n_classes)
        self.conv_out16 = OutputHead(128, 64, n_classes)
        self.conv_out32 = OutputHead(128, 64, n_classes)

    def forward(self, x: torch.Tensor, aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, ...]:
        size = x.shape[2:]
        feat8, context8, context16 = self.cp(x)
        logits = F.interpolate(self.conv_out(self.ffm(feat8, context8)), size, mode="bilinear", align_corners=True)
        if not aux:
            return logits
        aux16 = F.interpolate(self.conv_out16(context8), size, mode="bilinear", align_corners=True)
        aux32 = F.interpolate(self.conv_out32(context16), size, mode="bilinear", align_corners=True)
        return logits, aux16, aux32


def _optional(key: str) -> bool:
    # Checkpoints saved before torch 0.4.1 lack BatchNorm counters; torch fills them in on load.
    return key.endswith(".num_batches_tracked")


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`SourceError` listing every missing key, unexpected key and shape mismatch."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not _optional(k)]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or mismatched):
        return

    def listing(title: str, items: list[str]) -> str:
        shown = ", ".join(items[:10]) + (f" ... ({len(items) - 10} more)" if len(items) > 10 else "")
        return f"{len(items)} {title}: {shown}" if items else ""

    details = "; ".join(
        part
        for part in (
            listing("missing key(s)", missing),
            listing("unexpected key(s)", unexpected),
            listing("shape mismatch(es)", mismatched),
        )
        if part
    )
    raise SourceError(
        f"{source} is not a face-parsing BiSeNet checkpoint with {getattr(model, 'n_classes', '?')} classes "
        f"({details}); pass the 19-class 79999_iter.pth of zllrunning/face-parsing.PyTorch"
    )


def load_bisenet(path: Path, device: str = "cpu") -> BiSeNet:
    """Build the network and load a checkpoint file strictly; returns the model in eval mode on ``device``.

    Accepts a bare state dict (as the public checkpoint is) or one under ``"state_dict"``; a uniform
    ``module.`` prefix (a checkpoint saved from a ``DataParallel`` wrapper) is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"face-parsing checkpoint not found: {path}; pass the 79999_iter.pth file with --model")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise SourceError(f"cannot read the checkpoint {path}: {error}; is it a torch .pth file?") from error
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise SourceError(f"{path} holds a {type(state).__name__}, not a state dict; pass the model's state dict")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    model = BiSeNet(N_CLASSES)
    check_state_dict(model, state, str(path))
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)
