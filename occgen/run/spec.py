"""The generation spec: everything that determines a store's samples, and only that (a resume must match it).

It keys on what changes samples: the recipe and its params, seed, size, count and sharding, the image codec,
the sources' content fingerprints (:mod:`occgen.core.fingerprint`: every file's bytes) and face-label
definition (``face_parts``, ``occluding_parts``, corrected masks), what a recipe runs in torch (``models``: a
model's file name, sha256 of its weights and the torch version, or torch's version for SOT on torch; present
only when a recipe runs something in torch, e.g. NatOcc with RainNet), the sample code version
(:data:`occgen.recipes.base.SAMPLE_CODE_VERSION`) and the versions of numpy, OpenCV and (for image codecs
other than zstd) imagecodecs, which determine pixels and encoded bytes. It leaves out where things are
(absolute paths of sources, checkpoints and the store) and the occgen release, so a store and its sources
moved elsewhere, or a release that changes no sample, still resume. A refused resume names each differing key
with its old and new value.
"""

from __future__ import annotations

from dataclasses import is_dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import PurePath
from typing import Any

import cv2
import numpy as np

from occgen.core.files import is_url
from occgen.core.params import SpecExemptions, flatten_keys, spec_exemptions
from occgen.recipes.base import SAMPLE_CODE_VERSION, Recipe
from occgen.store.schema import SCHEMA_VERSION

#: Source description keys that say where a source is or how it may be used, not what it holds.
_LOCATION_KEYS = ("root", "licence")


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def without_locations(value: Any) -> Any:
    """``value`` with absolute path strings reduced to their file names (where a file is is not what it
    holds; its content is fingerprinted with the sources), recursively through dicts and lists."""
    if isinstance(value, dict):
        return {k: without_locations(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_locations(v) for v in value]
    if isinstance(value, str) and (PurePath(value).is_absolute() or is_url(value)):
        return PurePath(value).name  # a URL's last part, as a local copy's folder name
    return value


def recipe_models(recipe: Recipe) -> dict[str, Any]:
    """The model weights a recipe runs while making samples (its optional ``models()``: per model the file
    name, sha256 and torch version), or ``{}``."""
    models = getattr(recipe, "models", None)
    return dict(models()) if callable(models) else {}


def generation_spec(
    recipe: Recipe, n: int, shard_size: int, image_codec: str, labels: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Everything that determines the store's content (see the module docstring); the optional label
    arrays enter only when asked for."""
    sources = {
        name: without_locations({k: v for k, v in info.items() if k not in _LOCATION_KEYS})
        for name, info in recipe.sources().items()
    }
    models = recipe_models(recipe)
    return {
        **({"labels": list(labels)} if labels else {}),
        **({"models": models} if models else {}),
        "recipe": recipe.name,
        "n": n,
        "size": recipe.size,
        "seed": recipe.seed,
        "shard_size": shard_size,
        "image_codec": image_codec,
        "schema_version": SCHEMA_VERSION,
        "sample_code_version": SAMPLE_CODE_VERSION,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "imagecodecs": None if image_codec.split(":")[0] == "zstd" else _package_version("imagecodecs"),
        "params": without_locations(recipe.params()),
        "sources": sources,
    }


def _short(value: Any, limit: int = 80) -> str:
    text = "(absent)" if value is _ABSENT else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_ABSENT = object()


def recipe_exemptions(recipe: Recipe) -> SpecExemptions:
    """What a comparison of ``recipe``'s spec with a store's forgives: its config's keys added since with a
    neutral default, and its keys that decide no sample (:data:`occgen.core.params.ADDED`, ``NO_EFFECT``)."""
    config = getattr(recipe, "config", None)
    if config is None or not is_dataclass(config):
        return SpecExemptions()
    return spec_exemptions(config, "params")


def _forgiven(key: str, old: Any, new: Any, exempt: SpecExemptions) -> bool:
    if any(key == k or key.startswith(f"{k}.") for k in exempt.no_effect):
        return True
    if key not in exempt.added or (old is _ABSENT) == (new is _ABSENT):
        return False
    return bool((new if old is _ABSENT else old) == exempt.added[key])


def spec_differences(old: dict[str, Any], new: dict[str, Any], exempt: SpecExemptions | None = None) -> list[str]:
    """Each differing key (dotted, e.g. ``sources.faces.occluding_parts``) as ``key: old -> new``; with
    ``exempt`` (:func:`recipe_exemptions`), a key missing on one side and at its neutral default on the other,
    or a key that decides no sample, is no difference."""
    flat_old, flat_new = flatten_keys(old), flatten_keys(new)
    exempt = exempt or SpecExemptions()
    keys = sorted(
        k for k in set(flat_old) | set(flat_new)
        if flat_old.get(k, _ABSENT) != flat_new.get(k, _ABSENT)
        and not _forgiven(k, flat_old.get(k, _ABSENT), flat_new.get(k, _ABSENT), exempt)
    )  # fmt: skip
    return [f"{k}: {_short(flat_old.get(k, _ABSENT))} -> {_short(flat_new.get(k, _ABSENT))}" for k in keys]
