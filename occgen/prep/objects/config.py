"""The ``objects`` section of ``params.yaml``: COCO extraction and super-resolution settings.

``annotations`` / ``images`` null means the embedded demo COCO set (``assets/demo/coco``). Relative paths
resolve against the params file's folder. Command-line options override these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from occgen.core.errors import ConfigError
from occgen.prep.objects.coco_select import CocoFilter
from occgen.prep.objects.cutout import CutOutConfig


@dataclass(frozen=True, kw_only=True)
class UpscaleConfig:
    backend: str = "lanczos"  # lanczos | rrdb (the NatOcc paper used GLEAN x4)
    scale: int = 4
    checkpoint: Path | None = None  # rrdb: RRDBNet x4 state dict (ESRGAN or BasicSR layout)
    rrdb_blocks: int = 23
    tile_px: int = 128
    device: str = "cpu"
    max_side_px: int = 4096

    def __post_init__(self) -> None:
        if self.backend not in ("lanczos", "rrdb"):
            raise ConfigError(f"objects.upscale.backend must be lanczos or rrdb, got {self.backend!r}")
        if self.scale < 1:
            raise ConfigError(f"objects.upscale.scale must be >= 1, got {self.scale}")


@dataclass(frozen=True, kw_only=True)
class ObjectsConfig:
    annotations: Path | None = None  # COCO instances_<split>.json; null = the embedded demo set
    images: Path | None = None  # the split's image folder
    coco: CocoFilter = field(default_factory=CocoFilter)
    cutout: CutOutConfig = field(default_factory=CutOutConfig)
    upscale: UpscaleConfig = field(default_factory=UpscaleConfig)
