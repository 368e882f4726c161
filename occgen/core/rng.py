"""The one RNG rule (STYLE.md habit 3).

Sample ``i`` of a recipe draws only from ``default_rng([seed, stream_id, i])``. Stream ids come from the
fixed table below (never ``hash()``, which is salted per process), so a sample is the same whatever the
worker count, and ``--n 100`` is a prefix of ``--n 200``.
"""

from __future__ import annotations

import numpy as np

from occgen.core.errors import ConfigError

#: Fixed stream ids. Append only: changing an id changes every dataset made with that recipe.
STREAM_IDS: dict[str, int] = {
    "randocc": 1,
    "natocc_hands": 2,
    "natocc_objects": 3,
    "natocc": 4,
    "faces": 5,  # the unoccluded faces themselves (no randomness is drawn; the id keeps cards uniform)
    "faceocc": 6,
}


def stream_id(recipe: str) -> int:
    """Return the fixed stream id of ``recipe``; unknown names list the valid ones."""
    try:
        return STREAM_IDS[recipe]
    except KeyError:
        raise ConfigError(f"unknown recipe {recipe!r}; valid: {', '.join(sorted(STREAM_IDS))}") from None


def register_stream(recipe: str, stream: int) -> None:
    """Give a new recipe its fixed stream id (append only): call it in the recipe's module, so any process
    that unpickles the recipe has it. Re-registering the same pair is a no-op; a taken name or id raises."""
    if STREAM_IDS.get(recipe) == stream:
        return
    if recipe in STREAM_IDS:
        raise ConfigError(f"recipe {recipe!r} already has stream id {STREAM_IDS[recipe]}; stream ids never change")
    taken = {value: name for name, value in STREAM_IDS.items()}
    if stream in taken or stream < 1:
        raise ConfigError(f"stream id {stream} for recipe {recipe!r} is taken (by {taken.get(stream)}) or < 1; "
                          f"pick one above {max(STREAM_IDS.values())}")  # fmt: skip
    STREAM_IDS[recipe] = stream


def sample_rng(seed: int, recipe: str, index: int) -> np.random.Generator:
    """The generator for sample ``index`` of ``recipe`` under ``seed``."""
    if seed < 0 or index < 0:
        raise ConfigError(f"seed and sample index must be >= 0, got seed={seed}, index={index}")
    return np.random.default_rng([seed, stream_id(recipe), index])
