"""The whole-file params validator, and reading one section into a config with its paths resolved.

The sections a params file may hold are the fixed ones below plus one per registered recipe
(:mod:`occgen.recipes.registry`), so a new recipe's section is checked without any change here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from occgen.core.errors import ConfigError
from occgen.core.params import BaseConfig, build_config, load_params, resolve_paths
from occgen.prep.hands.stage import HandsConfig
from occgen.prep.objects.config import ObjectsConfig
from occgen.recipes.registry import RecipeEntry, recipe_entries
from occgen.run.config import RunConfig, split_run_keys
from occgen.sources.faces import FacesConfig
from occgen.sources.textures import TexturesConfig
from occgen.train.config import EvaluateConfig, TrainConfig

T = TypeVar("T")

#: The sections that belong to no recipe, and their config classes.
FIXED_SECTIONS: dict[str, type] = {
    "base": BaseConfig, "faces": FacesConfig, "textures": TexturesConfig, "hands": HandsConfig,
    "objects": ObjectsConfig, "train": TrainConfig, "evaluate": EvaluateConfig,
}  # fmt: skip


def recipe_section(entry: RecipeEntry, section: dict[str, Any] | None) -> tuple[RunConfig, Any]:
    """A recipe section split into its run keys (:class:`RunConfig`) and the recipe's own config (None for a
    recipe without a config class)."""
    where = entry.section or entry.run_keys_section or entry.name
    run_keys, recipe_keys = split_run_keys(section or {})
    run = build_config(RunConfig, run_keys, where)
    if entry.config is None:
        return run, None
    return run, build_config(entry.config, recipe_keys, where)


def section_validators() -> dict[str, Callable[[dict[str, Any] | None], object]]:
    """How each section a params file may hold is checked: the fixed sections, then every registered recipe's."""
    validators: dict[str, Callable[[dict[str, Any] | None], object]] = {
        name: partial(build_config, cls, where=name) for name, cls in FIXED_SECTIONS.items()
    }
    for entry in recipe_entries():
        if entry.section is None:
            continue
        if entry.section in FIXED_SECTIONS:
            raise ConfigError(f"recipe {entry.name}: section {entry.section!r} is one of occgen's own; rename it")
        validators[entry.section] = partial(recipe_section, entry)
    return validators


def known_sections() -> tuple[str, ...]:
    """The sections a params file may hold."""
    return tuple(section_validators())


def validate_params(params_file: Path) -> dict[str, Any]:
    """Check every section of a params file (unknown sections, keys and types), before any stage runs.

    Each stage calls this on the whole file, so a mistake anywhere stops the first stage DVC runs.
    """
    params = load_params(params_file)
    validators = section_validators()
    unknown = sorted(set(params) - set(validators))
    if unknown:
        raise ConfigError(f"{params_file}: unknown section {unknown[0]!r}; valid: {', '.join(validators)}")
    for name, section in params.items():
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"{params_file}: section {name!r} must be a mapping of keys, got {section!r}")
        validators[name](section)
    return params


def read_params(params_file: Path) -> tuple[dict[str, Any], Path]:
    """The validated sections of ``params_file`` and the folder its relative paths resolve against."""
    return validate_params(params_file), Path(params_file).resolve().parent


def load_section(params: dict[str, Any], root: Path, name: str, cls: type[T]) -> T:
    """Section ``name`` of ``params`` as a ``cls``, with every path field resolved against ``root``."""
    return resolve_paths(build_config(cls, params.get(name), name), root)
