"""What a recipe builder receives (:class:`RecipeInputs`) and the opening of the sources it names.

A builder (one per recipe, :mod:`occgen.recipes.registry`) turns the settings of one ``params.yaml`` recipe
section (already validated and with its paths resolved by :mod:`occgen.settings`) into a picklable recipe. It
opens its face and texture sources here, so every recipe checks them and names the param to fix alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from occgen.core.errors import ConfigError
from occgen.core.files import is_url
from occgen.core.location import merged_storage_options, parse_location
from occgen.core.params import BaseConfig
from occgen.sources.faces import FacesConfig, FaceSource, open_faces
from occgen.sources.textures import DTDTextures, TexturesConfig, open_textures

C = TypeVar("C")


@dataclass(frozen=True, kw_only=True)
class RecipeInputs(Generic[C]):
    """One recipe's settings as its builder reads them: ``base``, the shared source sections (``faces``,
    ``textures``; defaults for the ones the recipe does not read), the recipe's own ``config`` (its section
    without the run keys; None for a recipe without keys) and the section's ``storage_options`` (JSON), used
    to open source folders given as URLs."""

    config: C
    base: BaseConfig = field(default_factory=BaseConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    textures: TexturesConfig = field(default_factory=TexturesConfig)
    storage_options: str | None = None


def source_location(path: Path | None, storage_options: str | None = None) -> Any:
    """A source folder as given (a path, or None for the demo), or as a :class:`Location` with the storage
    options of the stores (``<section>.storage_options`` over the defaults) when it is a URL: the sources
    copy such folders into the local cache (occgen/sources/folder_cache.py)."""
    if path is None or not is_url(path):
        return path
    return parse_location(path, merged_storage_options(storage_options))


def open_face_source(config: FacesConfig, storage_options: str | None = None) -> FaceSource:
    """The faces named by section ``faces`` (the embedded demo when ``path`` is None)."""
    if config.path is not None and not is_url(config.path) and not config.path.exists():
        raise ConfigError(
            f"faces.path {config.path} does not exist: set faces.path in params.yaml (or pass --faces) to a "
            "CelebAMask-HQ root or an images/+masks/ folder, or null for the embedded demo"
        )
    return open_faces(
        source_location(config.path, storage_options), layout=config.layout, split=config.split,
        corrected_masks=config.corrected_masks, face_parts=config.face_parts, occluding_parts=config.occluding_parts,
    )  # fmt: skip


def open_texture_source(config: TexturesConfig, storage_options: str | None = None) -> DTDTextures:
    """The DTD textures named by section ``textures`` (the embedded demo when ``path`` is None)."""
    if config.path is not None and not is_url(config.path) and not config.path.exists():
        raise ConfigError(
            f"textures.path {config.path} does not exist: set textures.path in params.yaml (or pass "
            "--textures) to the DTD folder, or null for the embedded demo"
        )
    return open_textures(source_location(config.path, storage_options), split=config.split, cache_mb=config.cache_mb)
