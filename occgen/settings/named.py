"""Typed per-recipe settings for callers that hold one recipe's config under its section's name.

``RandOccSettings(...).randocc``, ``load_natocc_settings(path)``, ``build_faceocc_recipe(settings)`` and
the like are what the tests, benchmarks and docs use; each is a view over the generic
:class:`~occgen.settings.recipes.RecipeSettings` and the registered builder (no recipe logic here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from occgen.appearance.harmonise import Harmoniser
from occgen.core.params import BaseConfig
from occgen.recipes.faceocc import FaceOccConfig, FaceOccRecipe
from occgen.recipes.inputs import RecipeInputs
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.recipes.randocc import RandOccConfig, RandOccRecipe
from occgen.recipes.registry import build_faceocc, build_natocc, build_randocc
from occgen.run.config import RunConfig
from occgen.settings.recipes import load_recipe_settings
from occgen.sources.faces import FacesConfig
from occgen.sources.occluder import OccluderSource
from occgen.sources.textures import TexturesConfig


@dataclass(frozen=True, kw_only=True)
class RandOccSettings:
    base: BaseConfig = field(default_factory=BaseConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    textures: TexturesConfig = field(default_factory=TexturesConfig)
    run: RunConfig = field(default_factory=RunConfig)
    randocc: RandOccConfig = field(default_factory=RandOccConfig)


@dataclass(frozen=True, kw_only=True)
class NatOccSettings:
    base: BaseConfig = field(default_factory=BaseConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    run: RunConfig = field(default_factory=RunConfig)
    natocc: NatOccConfig = field(default_factory=NatOccConfig)


@dataclass(frozen=True, kw_only=True)
class FaceOccSettings:
    base: BaseConfig = field(default_factory=BaseConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    run: RunConfig = field(default_factory=RunConfig)
    faceocc: FaceOccConfig = field(default_factory=FaceOccConfig)


def load_randocc_settings(params_file: Path | None) -> RandOccSettings:
    """Sections ``base``, ``faces``, ``textures`` and ``randocc`` (defaults when ``None``), paths resolved."""
    s = load_recipe_settings("randocc", params_file)
    return RandOccSettings(base=s.base, faces=s.faces, textures=s.textures, run=s.run, randocc=s.config)


def load_natocc_settings(params_file: Path | None) -> NatOccSettings:
    """Sections ``base``, ``faces`` and ``natocc`` (defaults when ``None``), paths resolved."""
    s = load_recipe_settings("natocc", params_file)
    return NatOccSettings(base=s.base, faces=s.faces, run=s.run, natocc=s.config)


def load_faceocc_settings(params_file: Path | None) -> FaceOccSettings:
    """Sections ``base``, ``faces`` and ``faceocc`` (defaults when ``None``), paths resolved."""
    s = load_recipe_settings("faceocc", params_file)
    return FaceOccSettings(base=s.base, faces=s.faces, run=s.run, faceocc=s.config)


def build_randocc_recipe(settings: RandOccSettings) -> RandOccRecipe:
    """Open the sources named by ``settings`` (checking their layout) and build the RandOcc recipe."""
    inputs = RecipeInputs(config=settings.randocc, base=settings.base, faces=settings.faces,
                          textures=settings.textures, storage_options=settings.run.storage_options)  # fmt: skip
    return build_randocc(inputs)


def build_natocc_recipe(
    settings: NatOccSettings, *, objects: OccluderSource | None = None, harmoniser: Harmoniser | None = None
) -> NatOccRecipe:
    """The NatOcc recipe (:func:`occgen.recipes.registry.build_natocc`; ``objects`` / ``harmoniser`` override
    the ones the settings name)."""
    inputs = RecipeInputs(config=settings.natocc, base=settings.base, faces=settings.faces,
                          storage_options=settings.run.storage_options)  # fmt: skip
    return build_natocc(inputs, objects=objects, harmoniser=harmoniser)


def build_faceocc_recipe(settings: FaceOccSettings) -> FaceOccRecipe:
    """The FaceOcc recipe (:func:`occgen.recipes.registry.build_faceocc`)."""
    return build_faceocc(RecipeInputs(config=settings.faceocc, base=settings.base, faces=settings.faces,
                                      storage_options=settings.run.storage_options))  # fmt: skip
