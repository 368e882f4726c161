"""The whole-file params validator and the factories that assemble stages from ``params.yaml``.

This package sits at the top of the library (only the CLI is above it): it knows every stage's config, so
:func:`validate_params` checks every section of a params file before any stage runs, and the ``load_*``
functions turn sections (``base`` + the stage's own) into typed configs with every path field resolved
against the params file's folder (:func:`occgen.core.params.resolve_paths`). The stages themselves never
read params files. By concern:

- :mod:`.validate`: the whole-file validator (the fixed sections plus one per registered recipe);
- :mod:`.recipes`: one recipe's settings, for any recipe of :mod:`occgen.recipes.registry`;
- :mod:`.named`: the typed per-recipe views (``RandOccSettings``, ``load_natocc_settings``...);
- :mod:`.prep`: sections ``hands`` and ``objects``; :mod:`.train`: sections ``train`` and ``evaluate``.
"""

from occgen.settings.named import (
    FaceOccSettings,
    NatOccSettings,
    RandOccSettings,
    build_faceocc_recipe,
    build_natocc_recipe,
    build_randocc_recipe,
    load_faceocc_settings,
    load_natocc_settings,
    load_randocc_settings,
)
from occgen.settings.prep import load_hands_config, load_objects_config, load_upscale_config
from occgen.settings.recipes import RecipeSettings, build_named_recipe, build_recipe, load_recipe_settings
from occgen.settings.train import load_evaluate_config, load_train_config
from occgen.settings.validate import known_sections, read_params, validate_params

__all__ = [
    "FaceOccSettings", "NatOccSettings", "RandOccSettings", "RecipeSettings", "build_faceocc_recipe",
    "build_named_recipe", "build_natocc_recipe", "build_randocc_recipe", "build_recipe", "known_sections",
    "load_evaluate_config", "load_faceocc_settings", "load_hands_config", "load_natocc_settings",
    "load_objects_config", "load_randocc_settings", "load_recipe_settings", "load_train_config",
    "load_upscale_config", "read_params", "validate_params",
]  # fmt: skip
