"""Materialise a recipe into a zarr store, shard by shard, resumably, in parallel with dask.

Each task makes every sample of one shard (``recipe.make(i)``) and writes the shard whole: one writer
per shard. ``workers=1`` without a scheduler runs in this process; otherwise a dask.distributed
LocalCluster (or the cluster at ``scheduler``) runs the tasks. Samples depend only on
``(seed, recipe, index)``, so the result is the same for any worker count.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from occgen import __version__
from occgen.core.errors import ConfigError, StoreError
from occgen.core.labels import label_card, parse_labels
from occgen.core.rng import stream_id
from occgen.recipes.base import Recipe
from occgen.recipes.labels import build_labels
from occgen.run.parallel import run_tasks
from occgen.sources.faces import DEFAULT_FACE_PARTS
from occgen.store.codecs import DEFAULT_IMAGE_CODEC, parse_image_codec
from occgen.store.schema import (
    ATTRS_KEY,
    SCHEMA_VERSION,
    SHARD_COMPLETE,
    create_store,
    is_store,
    remove_store,
    shard_bounds,
    shard_count,
    write_shard,
)  # fmt: skip

ProgressCallback = Callable[[int], None]  # called with the number of samples just finished


@dataclass(frozen=True)
class GenerateReport:
    path: Path
    n: int
    shards_written: int
    shards_skipped: int
    samples_written: int
    seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.samples_written / self.seconds if self.seconds > 0 else 0.0


def generation_spec(
    recipe: Recipe, n: int, shard_size: int, image_codec: str, labels: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Everything that determines the store's content; a resume must match it exactly."""
    sources = {name: info.get("fingerprint") for name, info in recipe.sources().items()}
    # Optional label arrays enter the spec only when asked for, so default stores keep their card.
    extra = {"labels": list(labels)} if labels else {}
    return {
        **extra,
        "recipe": recipe.name,
        "n": n,
        "size": recipe.size,
        "seed": recipe.seed,
        "shard_size": shard_size,
        "image_codec": image_codec,
        "schema_version": SCHEMA_VERSION,
        "occgen_version": __version__,
        "params_sha256": hashlib.sha256(json.dumps(recipe.params(), sort_keys=True).encode()).hexdigest()[:16],
        "sources": sources,
    }


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))


def make_shard_arrays(
    recipe: Recipe, start: int, stop: int, labels: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list, dict[str, np.ndarray]]:
    """Make samples ``start..stop-1`` and stack them, with the optional ``labels`` arrays."""
    size = recipe.size
    count = stop - start
    images = np.empty((count, size, size, 3), np.uint8)
    face_masks = np.empty((count, size, size), np.uint8)
    occluder_masks = np.empty((count, size, size), np.uint8)
    metadata = []
    extras: dict[str, np.ndarray] = {}
    for offset, index in enumerate(range(start, stop)):
        sample = recipe.make(index)
        images[offset], face_masks[offset], occluder_masks[offset] = (
            sample.image, sample.face_mask, sample.occluder_mask,
        )  # fmt: skip
        metadata.append(sample.metadata)
        if labels:
            if sample.labels is None:
                raise ConfigError(f"recipe {recipe.name} gives no label sources; store it without --labels")
            for name, array in build_labels(sample.labels, labels).items():
                if name not in extras:
                    extras[name] = np.empty((count, *array.shape), np.uint8)
                extras[name][offset] = array
    return images, face_masks, occluder_masks, metadata, extras


def run_shard(recipe: Recipe, target: tuple[str, int]) -> int:
    """Make and write shard ``shard_index`` of the store at ``path`` (``target = (path, shard_index)``);
    returns its sample count."""
    path, shard_index = target
    group = zarr.open_group(path, mode="r+")
    card = group.attrs[ATTRS_KEY]
    start, stop = shard_bounds(shard_index, card["n"], card["shard_size"])
    labels = tuple(card.get("generation", {}).get("labels", ()))
    write_shard(group, shard_index, *make_shard_arrays(recipe, start, stop, labels))
    return stop - start


def prepare_store(
    recipe: Recipe, path: Path, n: int, shard_size: int, overwrite: bool, image_codec: str = DEFAULT_IMAGE_CODEC,
    labels: tuple[str, ...] = (),
) -> list[int]:  # fmt: skip
    """Create the store or check that an existing one can be resumed; return the shards still to write."""
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if shard_size < 1:
        raise ConfigError(f"--shard-size must be at least 1, got {shard_size}")
    image_codec = parse_image_codec(image_codec).spec
    labels = parse_labels(labels)
    spec = generation_spec(recipe, n, shard_size, image_codec, labels)
    if path.exists():
        if not is_store(path):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
            else:
                raise StoreError(f"{path} exists and is not an occgen store; choose another --out")
        else:
            group = zarr.open_group(str(path), mode="r")
            old = group.attrs[ATTRS_KEY].get("generation", {})
            changed = _differences(old, spec)
            if changed and not overwrite:
                raise StoreError(
                    f"{path} was made with different settings (differs in: {', '.join(changed)}); "
                    "pass --overwrite to replace it, or choose another --out"
                )
            if changed:
                remove_store(path)
            else:
                flags = group[SHARD_COMPLETE][:]
                return [int(i) for i in np.flatnonzero(flags == 0)]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create {path.parent}: {error.strerror or error}; choose a writable --out") from error
    card = {
        "recipe": recipe.name,
        "stream_id": stream_id(recipe.name),
        "seed": recipe.seed,
        "params": recipe.params(),
        "sources": recipe.sources(),
        "generation": spec,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if labels:
        faces = getattr(recipe, "faces", None)
        card["labels"] = label_card(labels, tuple(getattr(faces, "face_parts", DEFAULT_FACE_PARTS)))
        copied = getattr(recipe, "card", {}).get("labels")  # a store read back (recode) keeps its label maps
        if copied:
            card["labels"] = copied
    create_store(path, n=n, size=recipe.size, shard_size=shard_size, card=card, image_codec=image_codec,
                 labels=labels)  # fmt: skip
    return list(range(shard_count(n, shard_size)))


def _finish(path: Path, report: dict[str, Any]) -> None:
    group = zarr.open_group(str(path), mode="r+")
    flags = group[SHARD_COMPLETE][:]
    if not flags.all():
        raise StoreError(f"{path}: {int((flags == 0).sum())} shard(s) still missing; re-run to resume")
    card = dict(group.attrs[ATTRS_KEY])
    card["complete"] = True
    card["last_run"] = report
    group.attrs[ATTRS_KEY] = card


def generate(
    recipe: Recipe,
    path: Path,
    *,
    n: int,
    shard_size: int = 64,
    workers: int = 1,
    scheduler: str | None = None,
    overwrite: bool = False,
    image_codec: str = DEFAULT_IMAGE_CODEC,
    on_progress: ProgressCallback | None = None,
    labels: tuple[str, ...] = (),
) -> GenerateReport:
    """Write samples ``0..n-1`` of ``recipe`` to the store at ``path``, resuming if it exists."""
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    path = Path(path)
    todo = prepare_store(recipe, path, n, shard_size, overwrite, image_codec, labels)
    skipped = shard_count(n, shard_size) - len(todo)
    if on_progress and skipped:
        on_progress(n - sum(shard_bounds(i, n, shard_size)[1] - shard_bounds(i, n, shard_size)[0] for i in todo))
    started = time.perf_counter()
    counts: list[int] = []

    def collect(count: int) -> None:
        counts.append(count)
        if on_progress:
            on_progress(count)

    run_tasks(run_shard, [(str(path), i) for i in todo], shared=recipe, workers=workers, scheduler=scheduler,
              on_result=collect)  # fmt: skip
    written = sum(counts)
    seconds = time.perf_counter() - started
    _finish(path, {
        "shards_written": len(todo), "shards_skipped": skipped, "samples_written": written,
        "seconds": round(seconds, 3), "workers": workers, "scheduler": scheduler or "local",
    })  # fmt: skip
    return GenerateReport(path, n, len(todo), skipped, written, seconds)
