"""Super-resolution of RGBA cut-outs (NatOcc paper, section 3.1: COCO objects are low resolution, so the
authors super-resolved them x4 with GLEAN, a StyleGAN-prior network; occgen does not ship GLEAN).

Data flow: a folder of RGBA PNGs (``occgen occluders coco`` output, hand cut-outs, your own) ->
:func:`upscale_folder` -> the same files, ``scale`` times larger, in another folder (``manifest.json``
carried over with new sizes and hashes). Backends (:func:`make_upscaler`):

- ``lanczos`` (default, no weights): Lanczos-4 for colour; for alpha, bicubic then a guided filter
  steered by the upscaled colour (edge-aware: the alpha edge snaps to the object's colour edge instead of
  a x4-wide ramp).
- ``rrdb``: ESRGAN's RRDBNet x4 (Wang et al. 2018) for colour, loading a checkpoint the user supplies,
  strictly; alpha as above, guided by the network's colour. Accepts both public key layouts: ESRGAN's
  (``conv_first``, ``RRDB_trunk.N.RDB1.conv1``, ``trunk_conv``, ``upconv1/2``, ``HRconv``, ``conv_last``;
  xinntao/ESRGAN ``RRDBNet_arch.py``) and BasicSR / Real-ESRGAN's (``body.N.rdb1.conv1``, ``conv_body``,
  ``conv_up1/2``, ``conv_hr``; renamed on load). No weights are downloaded.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from occgen.core.arrays import check_alpha, check_image, check_same_size
from occgen.core.errors import ConfigError, SourceError
from occgen.core.files import atomic_write_bytes, atomic_write_text, require_dir
from occgen.core.imageio import encode_png, read_rgba

UPSCALE_BACKENDS = ("lanczos", "rrdb")
UPSCALE_SETTINGS = "upscale.json"  # the upscaler's describe(): a resume must use the same


class Upscaler(Protocol):
    name: str
    scale: int

    def upscale(self, rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def describe(self) -> dict[str, Any]: ...


# --------------------------------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------------------------------


def guided_filter(guide: np.ndarray, src: np.ndarray, radius_px: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter (grey guide): ``src`` smoothed but keeping the edges of ``guide``.

    ``guide`` and ``src`` are float32 (H, W) in [0, 1]; box windows of side ``2 * radius_px + 1``.
    """
    size = (2 * radius_px + 1, 2 * radius_px + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    cov_ip = box(guide * src) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def upscale_alpha(alpha: np.ndarray, rgb_up: np.ndarray, scale: int, *, eps: float = 1e-3) -> np.ndarray:
    """Edge-aware alpha upscaling: bicubic to the size of ``rgb_up``, then guided by its luminance.

    Only the edge band (bicubic alpha strictly between 0 and 1) is changed, so the opaque interior stays 1
    and the background stays exactly 0; inside the band the alpha ramp steepens where the colour has an
    edge (a x4 bicubic ramp alone is four times wider than the source edge).
    """
    check_alpha(alpha)
    check_image(rgb_up, "upscaled rgb")
    height, width = rgb_up.shape[:2]
    cubic = np.clip(cv2.resize(alpha, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    guide = cv2.cvtColor(rgb_up, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    guided = np.clip(guided_filter(guide, cubic, radius_px=max(scale, 1), eps=eps), 0.0, 1.0)
    band = (cubic > 0.0) & (cubic < 1.0)
    out = np.where(band, guided, cubic).astype(np.float32)
    out[out < 1.0 / 255.0] = 0.0
    return out


def lanczos_rgb(rgb: np.ndarray, scale: int) -> np.ndarray:
    check_image(rgb)
    height, width = rgb.shape[:2]
    return cv2.resize(rgb, (width * scale, height * scale), interpolation=cv2.INTER_LANCZOS4)


@dataclass
class LanczosUpscaler:
    """Classical backend: Lanczos-4 colour + edge-aware alpha (:func:`upscale_alpha`)."""

    scale: int = 4
    name: str = "lanczos"

    def __post_init__(self) -> None:
        if not 1 <= self.scale <= 8:
            raise ConfigError(f"upscale scale must be between 1 and 8, got {self.scale}")

    def upscale(self, rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_same_size(rgb, alpha, "rgb", "alpha")
        rgb_up = lanczos_rgb(rgb, self.scale)
        return rgb_up, upscale_alpha(alpha, rgb_up, self.scale)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "scale": self.scale}


# --------------------------------------------------------------------------------------------------
# RRDBNet (ESRGAN)
# --------------------------------------------------------------------------------------------------


def build_rrdbnet(num_blocks: int = 23, num_feat: int = 64, num_grow: int = 32) -> Any:
    """ESRGAN's RRDBNet x4 (3 -> 3 channels) with the ESRGAN state-dict layout; torch imported here."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class DenseBlock(nn.Module):  # ESRGAN "ResidualDenseBlock_5C"
        def __init__(self) -> None:
            super().__init__()
            for i in range(5):
                out = num_grow if i < 4 else num_feat
                setattr(self, f"conv{i + 1}", nn.Conv2d(num_feat + i * num_grow, out, 3, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = [x]
            for i in range(1, 5):
                conv = getattr(self, f"conv{i}")
                features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
            last = getattr(self, "conv5")  # noqa: B009 (set in a loop in __init__)
            return last(torch.cat(features, 1)) * 0.2 + x  # residual scaling 0.2 (ESRGAN)

    class RRDB(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.RDB1, self.RDB2, self.RDB3 = DenseBlock(), DenseBlock(), DenseBlock()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x

    class RRDBNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv_first = nn.Conv2d(3, num_feat, 3, 1, 1)
            self.RRDB_trunk = nn.Sequential(*[RRDB() for _ in range(num_blocks)])
            self.trunk_conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.upconv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.HRconv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            feat = self.conv_first(x)
            feat = feat + self.trunk_conv(self.RRDB_trunk(feat))
            feat = F.leaky_relu(self.upconv1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
            feat = F.leaky_relu(self.upconv2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
            return self.conv_last(F.leaky_relu(self.HRconv(feat), 0.2))

    return RRDBNet()


_BASICSR_RENAMES = (
    (r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2."),
    (r"^conv_body\.", "trunk_conv."),
    (r"^conv_up1\.", "upconv1."),
    (r"^conv_up2\.", "upconv2."),
    (r"^conv_hr\.", "HRconv."),
)


def esrgan_keys(state: dict[str, Any]) -> dict[str, Any]:
    """Rename a BasicSR / Real-ESRGAN RRDBNet state dict to ESRGAN's key names (others pass unchanged)."""
    if not any(key.startswith(("body.", "conv_body.")) for key in state):
        return state
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in _BASICSR_RENAMES:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


@dataclass
class RRDBUpscaler:
    """Network backend: RRDBNet x4 on colour (tiled), edge-aware alpha guided by the network's colour."""

    checkpoint: Path
    num_blocks: int = 23
    num_feat: int = 64
    num_grow: int = 32
    tile_px: int = 128
    tile_pad_px: int = 16
    device: str = "cpu"
    scale: int = 4
    name: str = "rrdb"

    def __post_init__(self) -> None:
        from occgen.core.checkpoint import check_device, load_strict

        if self.scale != 4:
            raise ConfigError(f"the rrdb backend upscales x4 only, got --scale {self.scale}")
        check_device(self.device)
        self.checkpoint = Path(self.checkpoint)
        model = build_rrdbnet(self.num_blocks, self.num_feat, self.num_grow)
        load_strict(model, self.checkpoint, what=f"RRDBNet ({self.num_blocks} blocks) checkpoint", rename=esrgan_keys)
        self._model = model.to(self.device).eval()
        self._sha256 = hashlib.sha256(self.checkpoint.read_bytes()).hexdigest()[:16]

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255.0).to(self.device)
        with torch.inference_mode():
            y = self._model(x).clamp(0.0, 1.0)
        return (y[0].permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)

    def upscale_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """Tiles of ``tile_px`` with ``tile_pad_px`` of context on each side (0: the whole image at once)."""
        check_image(rgb)
        height, width = rgb.shape[:2]
        if self.tile_px <= 0 or (height <= self.tile_px and width <= self.tile_px):
            return self._run(rgb)
        s, pad, tile = self.scale, self.tile_pad_px, self.tile_px
        out = np.empty((height * s, width * s, 3), np.uint8)
        for y0 in range(0, height, tile):
            for x0 in range(0, width, tile):
                y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
                py0, px0 = max(y0 - pad, 0), max(x0 - pad, 0)
                py1, px1 = min(y1 + pad, height), min(x1 + pad, width)
                up = self._run(np.ascontiguousarray(rgb[py0:py1, px0:px1]))
                oy, ox = (y0 - py0) * s, (x0 - px0) * s
                out[y0 * s : y1 * s, x0 * s : x1 * s] = up[oy : oy + (y1 - y0) * s, ox : ox + (x1 - x0) * s]
        return out

    def upscale(self, rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_same_size(rgb, alpha, "rgb", "alpha")
        rgb_up = self.upscale_rgb(rgb)
        return rgb_up, upscale_alpha(alpha, rgb_up, self.scale)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "scale": self.scale, "checkpoint": self.checkpoint.name,
                "checkpoint_sha256": self._sha256, "num_blocks": self.num_blocks}  # fmt: skip


def make_upscaler(
    backend: str,
    *,
    scale: int = 4,
    checkpoint: Path | None = None,
    num_blocks: int = 23,
    num_feat: int = 64,
    num_grow: int = 32,
    tile_px: int = 128,
    device: str = "cpu",
) -> Upscaler:
    """Build the ``backend`` upscaler; ``rrdb`` needs ``checkpoint``. Unknown names list the valid ones."""
    if backend == "lanczos":
        if checkpoint is not None:
            raise ConfigError("--checkpoint is for --backend rrdb; the lanczos backend uses no weights")
        return LanczosUpscaler(scale)
    if backend == "rrdb":
        if checkpoint is None:
            raise ConfigError(
                "--backend rrdb needs --checkpoint: an ESRGAN/Real-ESRGAN RRDBNet x4 .pth you downloaded "
                "(occgen downloads no weights)"
            )
        return RRDBUpscaler(
            checkpoint, num_blocks=num_blocks, num_feat=num_feat, num_grow=num_grow, tile_px=tile_px,
            device=device, scale=scale,
        )  # fmt: skip
    raise ConfigError(f"unknown upscale backend {backend!r}; valid: {', '.join(UPSCALE_BACKENDS)}")


# --------------------------------------------------------------------------------------------------
# Folder stage (I/O)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpscaleReport:
    out: Path
    written: int
    skipped_existing: int
    too_large: int
    seconds: float


def upscale_folder(
    src: Path,
    out: Path,
    upscaler: Upscaler,
    *,
    max_side_px: int = 4096,
    overwrite: bool = False,
    on_progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> UpscaleReport:
    """Upscale every ``*.png`` (RGBA) directly in ``src`` into ``out`` under the same name.

    Folders with a ``manifest.json`` that lists its files (``items`` of `occgen occluders coco`,
    ``hands`` of `occgen hands matte`) are read through it, sub-folders included, so matted hands can be
    super-resolved like COCO objects (the NatOcc authors super-resolved both).

    Resumable: files already in ``out`` are kept unless ``overwrite``; a resume with another upscaler (see
    ``out/upscale.json``) is refused without ``overwrite``. A file whose output would exceed
    ``max_side_px`` is copied unscaled and counted. ``src/manifest.json``, if present, is written to
    ``out`` with each item's new ``width``, ``height`` and ``sha256`` and an ``upscale`` record.
    """
    src = require_dir(Path(src), "cut-out folder", "pass --src, a folder of RGBA .png files")
    out = Path(out)
    if out.resolve() == src.resolve():
        raise ConfigError(f"--out must differ from --src ({src}): the originals are kept")
    listed = _manifest_files(src / "manifest.json")
    files = (
        listed if listed is not None else sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() == ".png")
    )
    if not files:
        raise SourceError(f"no .png cut-outs in {src}")
    out.mkdir(parents=True, exist_ok=True)
    settings_path = out / UPSCALE_SETTINGS
    settings = upscaler.describe()
    if settings_path.is_file() and not overwrite:
        previous = json.loads(settings_path.read_text())
        if previous != settings:
            raise ConfigError(
                f"{out} was upscaled with other settings ({previous}); "
                "pass --overwrite to redo it or choose another --out"
            )
    settings_path.write_text(json.dumps(settings, sort_keys=True) + "\n")
    if on_total is not None:
        on_total(len(files))
    start = time.perf_counter()
    written = skipped = too_large = 0
    for path in files:
        target = out / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file() and not overwrite:
            skipped += 1
        else:
            rgb, alpha = read_rgba(path)
            if upscaler.scale == 1:  # identity: keep the cut-out byte for byte (no filtering of its alpha)
                shutil.copyfile(path, target)
                written += 1
            elif max(rgb.shape[:2]) * upscaler.scale > max_side_px:
                shutil.copyfile(path, target)
                too_large += 1
            else:
                rgb_up, alpha_up = upscaler.upscale(rgb, alpha)
                rgba = np.dstack([rgb_up, np.round(alpha_up * 255.0).astype(np.uint8)])
                atomic_write_bytes(target, encode_png(rgba, str(target)))
                written += 1
        if on_progress is not None:
            on_progress(1)
    manifest_path = src / "manifest.json"
    if manifest_path.is_file():
        _carry_manifest(manifest_path, out, upscaler)
    return UpscaleReport(out, written, skipped, too_large, time.perf_counter() - start)


MANIFEST_LISTS = ("items", "hands")  # `occgen occluders coco` and `occgen hands matte` manifests


def _manifest_files(manifest_path: Path) -> list[Path] | None:
    """The PNG files a manifest lists (relative to its folder), or None when there is no such manifest."""
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text())
    records = [r for key in MANIFEST_LISTS for r in manifest.get(key, []) if isinstance(r, dict) and "file" in r]
    if not records:
        return None
    return sorted({manifest_path.parent / str(r["file"]) for r in records})


def _carry_manifest(manifest_path: Path, out: Path, upscaler: Upscaler) -> None:
    manifest = json.loads(manifest_path.read_text())
    updated: dict[str, list] = {}
    for key in MANIFEST_LISTS:
        if key not in manifest:
            continue
        records = []
        for item in manifest[key]:
            target = out / str(item.get("file", ""))
            if target.is_file():
                data = target.read_bytes()
                decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
                if decoded is None:
                    raise SourceError(f"{target} is not a readable image; delete it, rerun `occgen occluders upscale`")
                shape = decoded.shape
                new: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest()}
                if key == "hands":  # the hands manifest records [width, height] as "size"
                    new["size"] = [int(shape[1]), int(shape[0])]
                else:
                    new.update(width=int(shape[1]), height=int(shape[0]))
                item = {**item, **new}
            records.append(item)
        updated[key] = records
    manifest = {**manifest, **updated, "upscale": upscaler.describe()}
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
