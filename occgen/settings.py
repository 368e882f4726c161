"""Stage settings from ``params.yaml`` (sections ``base``, ``faces``, ``textures``, ``randocc``) and the
factories that turn them into sources and recipes. The CLI and DVC stages share this path.

Relative paths in a params file are resolved against the file's own folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from occgen import __version__
from occgen.codecs import DEFAULT_IMAGE_CODEC, parse_image_codec
from occgen.config import build_config, load_params
from occgen.errors import ConfigError
from occgen.recipes import RandOccConfig, RandOccRecipe
from occgen.sources.faces import DEFAULT_FACE_PARTS, DEFAULT_OCCLUDING_PARTS, FaceSource, open_faces
from occgen.sources.occluders import RandomShapes
from occgen.sources.textures import open_textures

#: Sections a params file may hold; later stages add theirs here.
KNOWN_SECTIONS = ("base", "faces", "textures", "randocc", "natocc", "hands", "objects", "train", "evaluate")


@dataclass(frozen=True, kw_only=True)
class BaseConfig:
    seed: int = 0
    size: int = 512

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError(f"base.seed must be >= 0, got {self.seed}")
        if not 16 <= self.size <= 4096:
            raise ConfigError(f"base.size must be between 16 and 4096 px, got {self.size}")


@dataclass(frozen=True, kw_only=True)
class FacesConfig:
    path: Path | None = None  # None: the embedded demo faces
    layout: str = "auto"  # auto | celebamask-hq | folder
    split: Path | None = None
    corrected_masks: Path | None = None
    face_parts: tuple[str, ...] = DEFAULT_FACE_PARTS
    occluding_parts: tuple[str, ...] = DEFAULT_OCCLUDING_PARTS


@dataclass(frozen=True, kw_only=True)
class TexturesConfig:
    path: Path | None = None  # None: the embedded demo textures
    split: str | None = None  # e.g. train1 (DTD's labels/train1.txt)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """How a generation stage runs (not what it makes, except ``n``)."""

    n: int = 200
    shard_size: int = 64
    workers: int = 0  # 0: one per CPU core
    image_codec: str = DEFAULT_IMAGE_CODEC  # NAME[:LEVEL], see occgen/codecs.py

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n (--n) must be at least 1, got {self.n}")
        if self.shard_size < 1:
            raise ConfigError(f"shard_size (--shard-size) must be at least 1, got {self.shard_size}")
        if self.workers < 0:
            raise ConfigError(f"workers (--workers) must be >= 0, got {self.workers}")
        parse_image_codec(self.image_codec)

    @property
    def resolved_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass(frozen=True, kw_only=True)
class RandOccSettings:
    base: BaseConfig = field(default_factory=BaseConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    textures: TexturesConfig = field(default_factory=TexturesConfig)
    run: RunConfig = field(default_factory=RunConfig)
    randocc: RandOccConfig = field(default_factory=RandOccConfig)


def _resolve(path: Path | None, root: Path) -> Path | None:
    if path is None or path.is_absolute():
        return path
    return root / path


def _split_run_keys(section: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    run_names = {f.name for f in fields(RunConfig)}
    run = {k: v for k, v in section.items() if k in run_names}
    rest = {k: v for k, v in section.items() if k not in run_names}
    return run, rest


def _randocc_section(section: dict[str, Any] | None) -> tuple[RunConfig, RandOccConfig]:
    run_section, recipe_section = _split_run_keys(section or {})
    return build_config(RunConfig, run_section, "randocc"), build_config(RandOccConfig, recipe_section, "randocc")


#: How each params.yaml section is validated; stages added later register theirs here.
SECTION_VALIDATORS: dict[str, Callable[[dict[str, Any] | None], object]] = {
    "base": lambda section: build_config(BaseConfig, section, "base"),
    "faces": lambda section: build_config(FacesConfig, section, "faces"),
    "textures": lambda section: build_config(TexturesConfig, section, "textures"),
    "randocc": _randocc_section,
    "hands": lambda section: _late_validator("hands", section),
    "natocc": lambda section: _late_validator("natocc", section),
    "objects": lambda section: _late_validator("objects", section),
    "train": lambda section: _late_validator("train", section),
    "evaluate": lambda section: _late_validator("evaluate", section),
}


def _late_validator(name: str, section: dict[str, Any] | None) -> object:
    # The hands and NatOcc configs live in modules that import this one: look them up when needed.
    if name == "hands":
        from occgen.hands.stage import HandsConfig

        return build_config(HandsConfig, section, "hands")
    if name == "train":
        from occgen.train.config import TrainConfig

        return build_config(TrainConfig, section, "train")
    if name == "evaluate":
        from occgen.train.config import EvaluateConfig

        return build_config(EvaluateConfig, section, "evaluate")
    if name == "objects":
        from occgen.objects.settings import ObjectsConfig

        return build_config(ObjectsConfig, section, "objects")
    from occgen.natocc import NatOccConfig

    run_section, recipe_section = _split_run_keys(section or {})
    return build_config(RunConfig, run_section, "natocc"), build_config(NatOccConfig, recipe_section, "natocc")


def validate_params(params_file: Path) -> dict[str, Any]:
    """Check every section of a params file (unknown sections, keys and types), before any stage runs.

    Each stage calls this on the whole file, so a mistake anywhere stops the first stage DVC runs.
    """
    params = load_params(params_file)
    unknown = sorted(set(params) - set(KNOWN_SECTIONS))
    if unknown:
        raise ConfigError(f"{params_file}: unknown section {unknown[0]!r}; valid: {', '.join(KNOWN_SECTIONS)}")
    for name, section in params.items():
        validator = SECTION_VALIDATORS.get(name)
        if validator is None:
            raise ConfigError(f"{params_file}: section {name!r} is not used by occgen {__version__}; remove it")
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"{params_file}: section {name!r} must be a mapping of keys, got {section!r}")
        validator(section)
    return params


def read_params(params_file: Path) -> tuple[dict[str, Any], Path]:
    """The validated sections of ``params_file`` and the folder its relative paths resolve against."""
    return validate_params(params_file), Path(params_file).resolve().parent


def faces_config(params: dict[str, Any], root: Path) -> FacesConfig:
    """Section ``faces`` with its relative paths resolved against ``root``."""
    faces = build_config(FacesConfig, params.get("faces"), "faces")
    return replace(
        faces, path=_resolve(faces.path, root), split=_resolve(faces.split, root),
        corrected_masks=_resolve(faces.corrected_masks, root),
    )  # fmt: skip


def load_randocc_settings(params_file: Path | None) -> RandOccSettings:
    """Settings from ``params_file`` (all defaults when ``None``), validated before any work starts."""
    if params_file is None:
        return RandOccSettings()
    params, root = read_params(params_file)
    textures = build_config(TexturesConfig, params.get("textures"), "textures")
    textures = replace(textures, path=_resolve(textures.path, root))
    run, randocc = _randocc_section(params.get("randocc"))
    return RandOccSettings(
        base=build_config(BaseConfig, params.get("base"), "base"), faces=faces_config(params, root),
        textures=textures, run=run, randocc=randocc,
    )  # fmt: skip


def open_face_source(config: FacesConfig) -> FaceSource:
    if config.path is not None and not config.path.exists():
        raise ConfigError(
            f"faces.path {config.path} does not exist: set faces.path in params.yaml (or pass --faces) to a "
            "CelebAMask-HQ root or an images/+masks/ folder, or null for the embedded demo"
        )
    return open_faces(
        config.path, layout=config.layout, split=config.split, corrected_masks=config.corrected_masks,
        face_parts=config.face_parts, occluding_parts=config.occluding_parts,
    )  # fmt: skip


def build_randocc_recipe(settings: RandOccSettings) -> RandOccRecipe:
    """Open the sources named by ``settings`` (checking their layout) and build the RandOcc recipe."""
    faces = open_face_source(settings.faces)
    if settings.textures.path is not None and not settings.textures.path.exists():
        raise ConfigError(
            f"textures.path {settings.textures.path} does not exist: set textures.path in params.yaml (or pass "
            "--textures) to the DTD folder, or null for the embedded demo"
        )
    textures = open_textures(settings.textures.path, split=settings.textures.split)
    occluders = RandomShapes(
        textures, settings.randocc.shapes, settings.randocc.canvas_px, settings.randocc.texture_crop_side_range
    )
    return RandOccRecipe(faces, occluders, settings.randocc, settings.base.seed, settings.base.size)
