"""The ``objects`` section of ``params.yaml``: COCO extraction and super-resolution settings.

``annotations`` / ``images`` null means the embedded demo COCO set (``assets/demo/coco``). Relative paths
resolve against the params file's folder. Command-line options override these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from occgen.errors import ConfigError
from occgen.objects.coco import CocoFilter, CutOutConfig


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


def load_upscale_config(params_file: Path, section: str) -> UpscaleConfig:
    """``<section>.upscale`` of ``params_file`` (``objects`` or ``hands``), checkpoint path resolved."""
    from occgen.config import build_config
    from occgen.settings import _resolve, read_params

    if section == "objects":
        config = load_objects_config(params_file).upscale
    elif section == "hands":
        from occgen.hands.stage import HandsConfig

        params, root = read_params(params_file)
        config = build_config(HandsConfig, params.get("hands"), "hands").upscale
        config = replace(config, checkpoint=_resolve(config.checkpoint, root))
    else:
        raise ConfigError(f"--section must be objects or hands, got {section!r}")
    return config


def load_objects_config(params_file: Path | None) -> ObjectsConfig:
    """The ``objects`` section of ``params_file`` (defaults when None), paths resolved, demo filled in."""
    from occgen.config import build_config
    from occgen.settings import _resolve, read_params
    from occgen.sources.common import demo_root

    config = ObjectsConfig()
    if params_file is not None:
        params, root = read_params(params_file)
        config = build_config(ObjectsConfig, params.get("objects"), "objects")
        config = replace(
            config, annotations=_resolve(config.annotations, root), images=_resolve(config.images, root),
            upscale=replace(config.upscale, checkpoint=_resolve(config.upscale.checkpoint, root)),
        )  # fmt: skip
    if config.annotations is None and config.images is None:
        demo = demo_root() / "coco"
        config = replace(config, annotations=demo / "annotations" / "instances_demo.json", images=demo / "images")
    if config.annotations is None or config.images is None:
        raise ConfigError("objects.annotations and objects.images go together: set both, or neither for the demo")
    return config
