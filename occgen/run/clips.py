"""Clip generation (issue 27): ``occgen generate NAME --frames T`` wraps the recipe in a
:class:`~occgen.recipes.clips.ClipRecipe` and counts the run in clips.

``--n`` is the number of clips (the store holds ``n * T`` frames); ``--shard-size`` (samples) is rounded to whole
clips, at least one: a clip never straddles two shards, so each shard's single writer renders whole clips
and a clip's draws are made once. The generate machinery (workers, resume, digests) is the still one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from occgen.core.errors import ConfigError
from occgen.recipes.clips import ClipRecipe
from occgen.recipes.motion import ClipConfig


def clip_recipe(recipe: Any, frames: int, config: ClipConfig | None = None) -> ClipRecipe:
    """``recipe`` as clips of ``frames`` frames; a recipe without ``draw`` is refused."""
    if getattr(recipe, "draw", None) is None:
        raise ConfigError(f"--frames: recipe {recipe.name} cannot make clips (natocc, randocc and faceocc can)")
    return ClipRecipe(recipe, replace(config or ClipConfig(), frames=frames))


def clip_shard_size(shard_size: int, frames: int) -> int:
    """Samples per shard for clips of ``frames``: ``shard_size`` rounded down to whole clips, at least one."""
    return max(1, shard_size // frames) * frames


def clip_run(run: Any, frames: int) -> Any:
    """A run config (``n`` clips) as frames: ``n * frames`` samples in shards of whole clips."""
    return replace(run, n=run.n * frames, shard_size=clip_shard_size(run.shard_size, frames))
