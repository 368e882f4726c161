"""RainNet (Ling et al., "Region-aware adaptive instance normalization for image harmonization", CVPR
2021): the harmoniser the NatOcc paper applies to composited COCO objects (section 3.2).

An independent torch re-implementation with the architecture and state-dict layout of the official code
(junleen/RainNet, MIT; facts only: module names, channel widths, where each normalisation sits), so the
official ``net_G_last.pth`` loads with ``strict=True`` and outputs are interchangeable (checked once
against a checkout of the official code: identical outputs, max abs difference 0.0, in eval mode; the
reference values are in ``tests/test_objects_rainnet.py``):

- input: the composite in [-1, 1] concatenated with the foreground mask in [0, 1], ``(B, 4, H, W)``, and
  the mask again, ``(B, 1, H, W)``; ``H`` and ``W`` multiples of 256 (eight stride-2 stages);
- output: ``(B, 3, H, W)`` in [-1, 1] (tanh); callers keep the background from the input
  (:func:`blend_prediction`);
- encoder: ``model_layer0..3`` then four nested U-Net blocks (``unet_block.submodule...``), decoder
  ``model_layer11..13`` with 1x1 sigmoid attention on the skip concatenations, ``model_out``;
- normalisation: instance norm (no parameters) in the encoder, RAIN in the decoder — the official
  ``norm_type_indicator = [0]*7 + [1]*7``;
- ngf 64: 54,760,067 parameters in 51 state-dict entries.

Two details of the official forward pass are kept on purpose because the trained weights depend on them:
its activations are in-place and sit at the *start* of each ``Sequential``, so every skip connection
carries the activated feature (we apply the activation once and reuse it, without in-place ops); and
dropout (the official test script builds the net with ``use_dropout=True``) follows the middle blocks'
decoder norm. Always run the model in ``eval()`` mode: the official test script never calls it, which
leaves dropout on.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from occgen.core.checkpoint import load_strict
from occgen.core.errors import ArrayContractError

#: Input side must be a multiple of this (eight stride-2 convolutions).
RAINNET_STRIDE = 256


def region_mean_std(x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of ``x`` (B, C, H, W) over the region ``weight`` (B, 1, H, W) selects.

    As in the official RAIN: ``mean = sum(w x) / (sum(w) + eps)``, ``var = sum((w (x - mean))^2) /
    (sum(w) + eps)``, ``std = sqrt(var + eps)``; both returned as (B, C, 1, 1).
    """
    count = weight.sum(dim=(2, 3), keepdim=True) + eps
    mean = (x * weight).sum(dim=(2, 3), keepdim=True) / count
    var = ((weight * (x - mean)) ** 2).sum(dim=(2, 3), keepdim=True) / count
    return mean, torch.sqrt(var + eps)


class RAIN(nn.Module):
    """Region-aware adaptive instance normalisation.

    The background is instance-normalised with its own statistics; the foreground is normalised with its
    own statistics and then given the background's (that is the harmonisation). Each region then gets a
    learnt affine ``(1 + gamma) * x + beta``; gammas and betas start at zero (official initialisation).
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.foreground_gamma = nn.Parameter(torch.zeros(channels))
        self.foreground_beta = nn.Parameter(torch.zeros(channels))
        self.background_gamma = nn.Parameter(torch.zeros(channels))
        self.background_beta = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = F.interpolate(mask.detach(), size=x.shape[2:], mode="nearest")
        background = 1.0 - mask
        mean_bg, std_bg = region_mean_std(x, background, self.eps)
        mean_fg, std_fg = region_mean_std(x, mask, self.eps)

        def affine(t: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
            return t * (1.0 + gamma[None, :, None, None]) + beta[None, :, None, None]

        out_bg = affine((x - mean_bg) / std_bg, self.background_gamma, self.background_beta) * background
        fg = (x - mean_fg) / std_fg * std_bg + mean_bg
        out_fg = affine(fg, self.foreground_gamma, self.foreground_beta) * mask
        return out_fg + out_bg


def _instance_norm(channels: int) -> nn.Module:
    # Official encoder norm: nn.InstanceNorm2d(affine=False, track_running_stats=False): no state-dict entry.
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def _normalise(norm: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return norm(x, mask) if isinstance(norm, RAIN) else norm(x)


def _act_conv(act: nn.Module, conv: nn.Module) -> nn.Sequential:
    # Index 0 = activation, index 1 = convolution: gives the official key names (``model_layer1.1.weight``).
    return nn.Sequential(act, conv)


class UNetBlock(nn.Module):
    """One level of the official ``UnetBlockCodec`` (innermost or middle; RainNet has no outermost).

    Middle: ``down`` = LeakyReLU + conv (stride 2), ``downnorm`` (instance), ``submodule``, ``up`` = ReLU +
    transposed conv on the concatenation, ``upnorm`` (RAIN), dropout; returns ``cat([act(x), up])``.
    Innermost: ``up`` = LeakyReLU, conv, ReLU, transposed conv; ``upnorm``; returns ``cat([act(x), up])``.
    """

    def __init__(self, channels: int, submodule: UNetBlock | None, use_dropout: bool) -> None:
        super().__init__()
        self.innermost = submodule is None
        if self.innermost:
            self.up = nn.Sequential(
                nn.LeakyReLU(0.2),
                nn.Conv2d(channels, channels, kernel_size=4, stride=2, padding=1, bias=False),
                nn.ReLU(),
                nn.ConvTranspose2d(channels, channels, kernel_size=4, stride=2, padding=1, bias=False),
            )
            self.upnorm = RAIN(channels)
            self.dropout: nn.Module | None = None
        else:
            self.down = _act_conv(
                nn.LeakyReLU(0.2), nn.Conv2d(channels, channels, kernel_size=4, stride=2, padding=1, bias=False)
            )
            self.downnorm = _instance_norm(channels)
            self.submodule = submodule
            self.up = _act_conv(
                nn.ReLU(), nn.ConvTranspose2d(2 * channels, channels, kernel_size=4, stride=2, padding=1, bias=False)
            )
            self.upnorm = RAIN(channels)
            self.dropout = nn.Dropout(0.5) if use_dropout else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.innermost:
            skip = self.up[0](x)
            out = self.up[3](self.up[2](self.up[1](skip)))
            return torch.cat([skip, self.upnorm(out, mask)], dim=1)
        skip = self.down[0](x)
        inner = self.downnorm(self.down[1](skip))
        assert self.submodule is not None  # only the innermost block has none
        inner = self.submodule(inner, mask)
        out = self.upnorm(self.up(inner), mask)
        if self.dropout is not None:
            out = self.dropout(out)
        return torch.cat([skip, out], dim=1)


class RainNet(nn.Module):
    """The RainNet generator (official layout). ``forward(x, mask)``: ``x`` (B, 4, H, W) = composite in
    [-1, 1] + mask; ``mask`` (B, 1, H, W) in [0, 1]; returns (B, 3, H, W) in [-1, 1]. ``H, W`` multiples of 256.
    """

    def __init__(self, ngf: int = 64, input_nc: int = 4, output_nc: int = 3, use_dropout: bool = True) -> None:
        super().__init__()
        self.input_nc = input_nc
        self.ngf = ngf
        c1, c2, c4, c8 = ngf, 2 * ngf, 4 * ngf, 8 * ngf
        self.model_layer0 = nn.Conv2d(input_nc, c1, kernel_size=4, stride=2, padding=1, bias=False)
        self.model_layer1 = _act_conv(nn.LeakyReLU(0.2), nn.Conv2d(c1, c2, 4, 2, 1, bias=False))
        self.model_layer1norm = _instance_norm(c2)
        self.model_layer2 = _act_conv(nn.LeakyReLU(0.2), nn.Conv2d(c2, c4, 4, 2, 1, bias=False))
        self.model_layer2norm = _instance_norm(c4)
        self.model_layer3 = _act_conv(nn.LeakyReLU(0.2), nn.Conv2d(c4, c8, 4, 2, 1, bias=False))
        self.model_layer3norm = _instance_norm(c8)
        block = UNetBlock(c8, None, use_dropout)  # innermost: no dropout there in the official code
        for _ in range(3):
            block = UNetBlock(c8, block, use_dropout)
        self.unet_block = block
        self.model_layer11 = _act_conv(nn.ReLU(), nn.ConvTranspose2d(2 * c8, c4, 4, 2, 1, bias=False))
        self.model_layer11norm = RAIN(c4)
        self.model_layer11att = nn.Sequential(nn.Conv2d(c8, c8, kernel_size=1), nn.Sigmoid())
        self.model_layer12 = _act_conv(nn.ReLU(), nn.ConvTranspose2d(c8, c2, 4, 2, 1, bias=False))
        self.model_layer12norm = RAIN(c2)
        self.model_layer12att = nn.Sequential(nn.Conv2d(c4, c4, kernel_size=1), nn.Sigmoid())
        self.model_layer13 = _act_conv(nn.ReLU(), nn.ConvTranspose2d(c4, c1, 4, 2, 1, bias=False))
        self.model_layer13norm = RAIN(c1)
        self.model_layer13att = nn.Sequential(nn.Conv2d(c2, c2, kernel_size=1), nn.Sigmoid())
        self.model_out = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(c2, output_nc, 4, 2, 1), nn.Tanh())

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.input_nc or mask.ndim != 4 or mask.shape[1] != 1:
            raise ArrayContractError(
                f"RainNet: expected x (B, {self.input_nc}, H, W) and mask (B, 1, H, W), "
                f"got {tuple(x.shape)} and {tuple(mask.shape)}"
            )
        if x.shape[2] % RAINNET_STRIDE or x.shape[3] % RAINNET_STRIDE:
            raise ArrayContractError(
                f"RainNet: height and width must be multiples of {RAINNET_STRIDE}, got {x.shape[3]}x{x.shape[2]}"
            )
        x0 = self.model_layer0(x)
        # Each skip carries the activated encoder feature (the official in-place activations do this).
        s0 = self.model_layer1[0](x0)
        x1 = self.model_layer1norm(self.model_layer1[1](s0))
        s1 = self.model_layer2[0](x1)
        x2 = self.model_layer2norm(self.model_layer2[1](s1))
        s2 = self.model_layer3[0](x2)
        x3 = self.model_layer3norm(self.model_layer3[1](s2))

        out = self.unet_block(x3, mask)
        out = self.model_layer11norm(self.model_layer11(out), mask)
        out = torch.cat([s2, out], dim=1)
        out = self.model_layer11att(out) * out
        out = self.model_layer12norm(self.model_layer12(out), mask)
        out = torch.cat([s1, out], dim=1)
        out = self.model_layer12att(out) * out
        out = self.model_layer13norm(self.model_layer13(out), mask)
        out = torch.cat([s0, out], dim=1)
        out = self.model_layer13att(out) * out
        return self.model_out(out)


def blend_prediction(prediction: torch.Tensor, composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Keep the network's output inside the mask and the composite outside it (official ``processImage``)."""
    return prediction * mask + composite * (1.0 - mask)


def load_rainnet(
    path: Path, *, ngf: int = 64, device: str | torch.device = "cpu", sha256: str | None = None
) -> RainNet:
    """Build :class:`RainNet` and load the checkpoint at ``path`` strictly; returned in ``eval()`` mode.

    Raises :class:`~occgen.core.checkpoint.CheckpointError` listing every missing, unexpected and
    mis-shaped key, or (with ``sha256``) when the file's bytes no longer have that digest.
    """
    model = RainNet(ngf=ngf)
    load_strict(model, path, what="RainNet checkpoint", sha256=sha256)
    return model.to(device).eval()
