"""The preparation stages' settings: sections ``hands`` and ``objects`` (and their ``upscale``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from occgen.core.errors import ConfigError
from occgen.core.files import demo_root
from occgen.prep.hands.stage import HandsConfig
from occgen.prep.objects.config import ObjectsConfig, UpscaleConfig
from occgen.settings.validate import load_section, read_params


def load_hands_config(params: Path | None) -> HandsConfig:
    """The ``hands`` section (defaults when ``None``), its paths resolved."""
    if params is None:
        return HandsConfig()
    sections, root = read_params(params)
    return load_section(sections, root, "hands", HandsConfig)


def load_upscale_config(params_file: Path, section: str) -> UpscaleConfig:
    """``<section>.upscale`` of ``params_file`` (``objects`` or ``hands``), checkpoint path resolved."""
    if section == "objects":
        return load_objects_config(params_file).upscale
    if section == "hands":
        return load_hands_config(params_file).upscale
    raise ConfigError(f"--section must be objects or hands, got {section!r}")


def load_objects_config(params_file: Path | None) -> ObjectsConfig:
    """The ``objects`` section of ``params_file`` (defaults when None), paths resolved, demo filled in."""
    config = ObjectsConfig()
    if params_file is not None:
        params, root = read_params(params_file)
        config = load_section(params, root, "objects", ObjectsConfig)
    if config.annotations is None and config.images is None:
        demo = demo_root() / "coco"
        config = replace(config, annotations=demo / "annotations" / "instances_demo.json", images=demo / "images")
    if config.annotations is None or config.images is None:
        raise ConfigError("objects.annotations and objects.images go together: set both, or neither for the demo")
    return config
