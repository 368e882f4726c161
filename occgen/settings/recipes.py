"""One recipe's settings from ``params.yaml``, assembled the same way for every registered recipe.

:func:`load_recipe_settings` reads what the registry entry names (``base``, its source sections, its own
section split into run keys and the recipe's config), validated and with every path resolved against the
params file; :func:`build_recipe` hands them to the entry's builder. The per-recipe names older callers use
(``RandOccSettings``, ``load_natocc_settings``, ``build_faceocc_recipe``...) are thin views over these
(:mod:`occgen.settings.named`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occgen.core.params import BaseConfig, resolve_paths
from occgen.recipes.base import Recipe
from occgen.recipes.inputs import RecipeInputs
from occgen.recipes.registry import RecipeEntry, recipe_entry
from occgen.run.config import RunConfig
from occgen.settings.validate import load_section, read_params, recipe_section
from occgen.sources.faces import FacesConfig
from occgen.sources.textures import TexturesConfig

#: The config class of each shared source section (the registry's SOURCE_SECTIONS).
SOURCE_CONFIGS: dict[str, type] = {"faces": FacesConfig, "textures": TexturesConfig}


@dataclass(frozen=True, kw_only=True)
class RecipeSettings:
    """Everything recipe ``recipe`` is made from: ``base``, the source sections, the run keys of its section
    (how the stage runs: n, shard size, workers, codec, labels) and its own ``config``."""

    recipe: str
    config: Any = None
    base: BaseConfig = field(default_factory=BaseConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    textures: TexturesConfig = field(default_factory=TexturesConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @property
    def entry(self) -> RecipeEntry:
        return recipe_entry(self.recipe)

    def inputs(self) -> RecipeInputs[Any]:
        """What the recipe's builder reads."""
        return RecipeInputs(config=self.config, base=self.base, faces=self.faces, textures=self.textures,
                            storage_options=self.run.storage_options)  # fmt: skip


def load_recipe_settings(name: str, params_file: Path | None) -> RecipeSettings:
    """Recipe ``name``'s settings from ``params_file`` (all defaults when ``None``), the whole file validated
    before any work starts; an unknown ``name`` lists the registered ones."""
    entry = recipe_entry(name)
    if params_file is None:
        return RecipeSettings(recipe=name, config=entry.config() if entry.config is not None else None)
    params, root = read_params(params_file)
    run, config = RunConfig(), None
    if entry.run_keys_section is not None:
        run, config = recipe_section(entry, params.get(entry.run_keys_section))
    if config is not None:
        config = resolve_paths(config, root)
    sources: dict[str, Any] = {
        section: load_section(params, root, section, cls)
        for section, cls in SOURCE_CONFIGS.items()
        if section in entry.sources
    }
    base = load_section(params, root, "base", BaseConfig)
    return RecipeSettings(recipe=name, config=config, base=base, run=run, **sources)


def build_recipe(settings: RecipeSettings) -> Recipe:
    """Open the sources ``settings`` name (checking them) and build the recipe with its registered builder."""
    return settings.entry.build(settings.inputs())


def build_named_recipe(name: str, params_file: Path | None) -> tuple[Recipe, int]:
    """The recipe ``name`` built from ``params_file`` (defaults when ``None``) and its section's ``n``, for
    ``occgen train --online``; a name that cannot train online lists the ones that can."""
    recipe_entry(name, online=True)
    settings = load_recipe_settings(name, params_file)
    return build_recipe(settings), settings.run.n
