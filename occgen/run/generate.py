"""Materialise a recipe into a zarr store, shard by shard, resumably, in parallel with dask.

Each task (a :class:`ShardTask`: the store, the shard, and what the client read once from the store's card:
layout and labels) makes every sample of one shard (``recipe.make(i)``) and writes the shard whole: one
writer per shard. ``workers=1`` without a scheduler runs in this process; otherwise a dask.distributed
LocalCluster (or the cluster at ``scheduler``) runs the tasks. The store may be a URL (``s3://…``): each
task gets the store's absolute :class:`~occgen.core.location.Location`, never a path relative to the
client's working directory. Samples depend only on
``(seed, recipe, index)``, so the result is the same for any worker count.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.errors import ConfigError, StoreError
from occgen.core.labels import LABEL_ARRAYS, label_card, parse_labels
from occgen.core.location import Location, parse_location, storage_errors
from occgen.core.rng import stream_id
from occgen.recipes.base import Recipe
from occgen.recipes.labels import LabelSources, build_labels
from occgen.recipes.multi import instance_table
from occgen.run.parallel import run_tasks
from occgen.run.spec import generation_spec, recipe_exemptions, spec_differences
from occgen.sources.faces import DEFAULT_FACE_PARTS
from occgen.store.codecs import DEFAULT_IMAGE_CODEC, parse_image_codec
from occgen.store.digest import array as zarr_array
from occgen.store.digest import card as read_card
from occgen.store.group import open_group
from occgen.store.integrity import repair_mismatch_text, repair_mismatches
from occgen.store.lock import store_lock
from occgen.store.schema import (
    ATTRS_KEY,
    SAMPLE_ARRAYS,
    SHARD_COMPLETE,
    SHARD_DIGEST,
    StoreLayout,
    create_store,
    is_store,
    remove_store,
    shard_bounds,
    shard_count,
    write_shard,
)  # fmt: skip
from occgen.store.structure import remake_refusal

ProgressCallback = Callable[[int], None]  # called with the number of samples just finished


@dataclass(frozen=True)
class GenerateReport:
    path: Path | str
    n: int
    shards_written: int
    shards_skipped: int
    samples_written: int
    seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.samples_written / self.seconds if self.seconds > 0 else 0.0


#: Samples a recipe with ``make_batch`` makes at once: enough for full network batches (NatOcc's objects are
#: half of them), few enough that the batch's images add little to a worker's memory.
BATCH_SAMPLES = 16


def _samples(recipe: Recipe, start: int, stop: int, where: str) -> Iterator[Any]:
    """Samples ``start..stop-1``, through ``recipe.make_batch`` in groups of BATCH_SAMPLES when it has one;
    a batch of another length than asked for is refused (its missing samples would be written as whatever
    memory the shard's buffers held)."""
    make_batch = getattr(recipe, "make_batch", None)
    if make_batch is None:
        yield from (recipe.make(index) for index in range(start, stop))
        return
    for first in range(start, stop, BATCH_SAMPLES):
        indices = range(first, min(first + BATCH_SAMPLES, stop))
        batch = list(make_batch(indices))
        if len(batch) != len(indices):
            raise StoreError(
                f"{where}: recipe {recipe.name}'s make_batch of samples {indices.start}..{indices.stop - 1} gave "
                f"{len(batch)} sample(s) for {len(indices)}; nothing of the shard was written: fix the recipe"
            )
        yield from batch


def make_shard_arrays(
    recipe: Recipe, start: int, stop: int, labels: tuple[str, ...] = (), shard: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list, dict[str, list[np.ndarray]]]:
    """Make samples ``start..stop-1`` and stack them, with the optional ``labels`` arrays (each a list of the
    samples' arrays, by label array name: the store's label storage encodes them, store/label_storage.py).
    Exactly ``stop - start`` samples or a StoreError naming the shard (``shard``: its index, for messages)."""
    where = f"shard {shard}" if shard is not None else f"samples {start}..{stop - 1}"
    size = recipe.size
    count = stop - start
    images = np.empty((count, size, size, 3), np.uint8)
    face_masks = np.empty((count, size, size), np.uint8)
    occluder_masks = np.empty((count, size, size), np.uint8)
    metadata = []
    extras: dict[str, list[np.ndarray]] = {LABEL_ARRAYS[label]: [] for label in labels}
    made = 0
    for offset, sample in enumerate(_samples(recipe, start, stop, where)):
        if offset >= count:
            raise StoreError(f"{where}: recipe {recipe.name} gave more than its {count} samples; nothing written")
        made += 1
        images[offset], face_masks[offset], occluder_masks[offset] = (
            sample.image, sample.face_mask, sample.occluder_mask,
        )  # fmt: skip
        if labels:
            if sample.labels is None:
                raise ConfigError(f"recipe {recipe.name} gives no label sources; store it without --labels")
            if "instances" in labels and isinstance(sample.labels, LabelSources):  # every sample names its instances
                table = instance_table(sample.metadata, sample.labels.occluder_class)
                sample = replace(sample, metadata={**sample.metadata, "occluders": table})
        metadata.append(sample.metadata)
        if labels:
            for name, array in build_labels(sample.labels, labels, occluder_mask=sample.occluder_mask).items():
                extras[name].append(array)
    if made != count:  # never write the rest of the buffers (uninitialised memory) as samples
        raise StoreError(f"{where}: recipe {recipe.name} gave {made} of its {count} samples; nothing written")
    return images, face_masks, occluder_masks, metadata, extras


class _OpenedGroup:
    """A store's group whose arrays are opened once per worker process and run: on object storage every
    metadata read is a request (about 35 per shard otherwise, measured against moto)."""

    def __init__(self, group: Any) -> None:
        self._group, self.attrs = group, group.attrs
        self._arrays: dict[str, Any] = {}
        self._present: dict[str, bool] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._arrays:
            self._arrays[name] = self._group[name]
        return self._arrays[name]

    def __contains__(self, name: str) -> bool:
        if name not in self._present:
            self._present[name] = name in self._arrays or name in self._group
        return self._present[name]

    def __getattr__(self, name: str) -> Any:  # store, attrs... of the real group
        return getattr(self._group, name)


_OPENED: dict[tuple[str, str], _OpenedGroup] = {}  # (store URL, run token) -> group, in each worker process


def _opened_group(location: Location, run_token: str) -> _OpenedGroup:
    key = (location.url, run_token)
    if key not in _OPENED:
        if len(_OPENED) >= 4:
            _OPENED.pop(next(iter(_OPENED)))
        _OPENED[key] = _OpenedGroup(open_group(location, "r+"))
    return _OPENED[key]


@dataclass(frozen=True)
class ShardTask:
    """One generation task: make and write shard ``shard_index`` of the store at ``location``, whose layout
    (sample count, shard size, image codec) and ``labels`` (``--labels`` names) the client read once from its
    card. ``run_token`` is unique to one ``generate`` call (a worker reopens the store for each call)."""

    location: Location
    shard_index: int
    run_token: str
    layout: StoreLayout
    labels: tuple[str, ...] = ()

    @property
    def bounds(self) -> tuple[int, int]:
        """Sample range ``[start, stop)`` of the shard."""
        return self.layout.bounds(self.shard_index)


def run_shard(recipe: Recipe, task: ShardTask) -> int:
    """Make and write the shard of ``task``; returns its sample count."""
    start, stop = task.bounds
    arrays = make_shard_arrays(recipe, start, stop, task.labels, task.shard_index)
    with storage_errors(task.location):
        write_shard(_opened_group(task.location, task.run_token), task.shard_index, *arrays, layout=task.layout)
    return stop - start


def shard_tasks(path: Location, shards: list[int], run_token: str) -> list[ShardTask]:
    """The tasks for ``shards`` of the (prepared) store at ``path``: its card is read here, once."""
    card = read_card(open_group(path, "r"), ATTRS_KEY)
    labels = tuple(card.get("generation", {}).get("labels", ()))
    layout = StoreLayout.from_card(card)
    return [ShardTask(path, index, run_token, layout, labels) for index in shards]


def prepare_store(
    recipe: Recipe, path: Path | Location, n: int, shard_size: int, overwrite: bool,
    image_codec: str = DEFAULT_IMAGE_CODEC, labels: tuple[str, ...] = (),
) -> list[int]:  # fmt: skip
    """Create the store or check that an existing one can be resumed; return the shards still to write."""
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if shard_size < 1:
        raise ConfigError(f"--shard-size must be at least 1, got {shard_size}")
    image_codec = parse_image_codec(image_codec).spec
    labels = parse_labels(labels)
    check_labels = getattr(recipe, "check_labels", None)  # a recipe that cannot make them (or needs one)
    if check_labels is not None:
        check_labels(labels)  # refuses before the store exists, never halfway through it
    spec = generation_spec(recipe, n, shard_size, image_codec, labels)
    path = parse_location(path)
    path.check_reachable()
    if path.exists():
        if not is_store(path):
            if path.is_empty_dir():
                if path.is_local:
                    path.path.rmdir()
            else:
                raise StoreError(f"{path} exists and is not an occgen store; choose another --out")
        elif any(name not in open_group(path, "r") for name in (*SAMPLE_ARRAYS, SHARD_COMPLETE)):
            refusal = remake_refusal(path)
            if refusal and not overwrite:
                raise StoreError(f"{path} {refusal}; pass --overwrite to replace it, or choose another --out")
            remove_store(path)  # its creation was interrupted (killed) before any shard: make it anew
        else:
            group = open_group(path, "r")
            old_card = read_card(group, ATTRS_KEY)
            changed = spec_differences(old_card.get("generation", {}), spec, recipe_exemptions(recipe))
            if changed and not overwrite:
                raise StoreError(
                    f"{path} was made with different settings (differs in: {'; '.join(changed)}); "
                    "pass --overwrite to replace it, or choose another --out"
                )
            if changed or (overwrite and old_card.get("repair", {}).get("mismatch")):
                remove_store(path)
            else:
                with storage_errors(path):
                    flags = np.asarray(zarr_array(group, SHARD_COMPLETE)[:])
                return [int(i) for i in np.flatnonzero(flags == 0)]
    try:
        if path.is_local:
            path.path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create {path.parent}: {error.strerror or error}; choose a writable --out") from error
    card = {
        "recipe": recipe.name,
        "stream_id": stream_id(recipe.name),
        "seed": recipe.seed,
        "params": recipe.params(),
        "sources": recipe.sources(),
        "generation": spec,
    }  # no dates or run times: the same command gives byte-identical stores (issue 13)
    # The pixel values a size-relative recipe resolved for this size (issue 30); a recoded store keeps its own.
    resolved_px = getattr(recipe, "resolved_px", None)
    card_resolved = getattr(recipe, "card", {}).get("resolved_px")
    if resolved_px is not None or card_resolved is not None:
        card["resolved_px"] = resolved_px() if resolved_px is not None else card_resolved
    frames = getattr(recipe, "frames", None)  # clips (issue 27): frames of a clip are consecutive samples
    if frames:
        card["frames"] = int(frames)
    if labels:
        faces = getattr(recipe, "faces", None)
        # the recipe's own face parts, if it redefines the face (natocc.inner_mouth), else its face set's
        parts = getattr(recipe, "face_parts", None) or getattr(faces, "face_parts", None) or DEFAULT_FACE_PARTS
        scheme = getattr(recipe, "landmark_scheme", None)  # the face source's own (issue 25), else derived
        described = label_card(labels, tuple(parts)) if scheme is None else label_card(
            labels, tuple(parts), landmark_scheme=scheme.name, landmark_names=scheme.names,
            landmark_flip_perm=scheme.flip_perm,
        )  # fmt: skip
        copied = getattr(recipe, "card", {}).get("labels")  # a store read back (recode) keeps its label maps
        # (but the clean image's layout is this version's: a whole clean face read back gets boxed)
        kept = {k: v for k, v in described.items() if k == "clean_image"}
        card["labels"] = {**copied, **kept} if copied else described
    create_store(path, n=n, size=recipe.size, shard_size=shard_size, card=card, image_codec=image_codec,
                 labels=labels)  # fmt: skip
    return list(range(shard_count(n, shard_size)))


def _finish(path: Location) -> None:
    """Mark the store complete once every shard is written; a repaired shard (its digest before the repair
    is in the card's ``repair`` record, :func:`occgen.store.integrity.mark_for_repair`) must give back the bytes
    it was recorded with, or the store stays incomplete and the difference is reported."""
    group = open_group(path, "r+")
    flags = np.asarray(zarr_array(group, SHARD_COMPLETE)[:])
    if not flags.all():
        raise StoreError(f"{path}: {int((flags == 0).sum())} shard(s) still missing; re-run to resume")
    card = read_card(group, ATTRS_KEY)
    repair = card.pop("repair", None)
    if repair:
        digests = np.asarray(zarr_array(group, SHARD_DIGEST)[:])
        mismatch = repair_mismatches(repair.get("shards", {}), [str(text) for text in digests])
        if mismatch:
            group.attrs[ATTRS_KEY] = {**card, "complete": False, "repair": {**repair, "mismatch": mismatch}}
            raise StoreError(f"{path}: {repair_mismatch_text(mismatch)}")
    card["complete"] = True
    group.attrs[ATTRS_KEY] = card


def generate(
    recipe: Recipe,
    path: Path | str | Location,
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
    """Write samples ``0..n-1`` of ``recipe`` to the store at ``path`` (a path or URL), resuming if it exists."""
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    path = parse_location(path)  # absolute, or a URL: tasks may run elsewhere (a --scheduler)
    with store_lock(path, "generate"):  # one writer per store (issue 13)
        return _generate_locked(
            recipe, path, n, shard_size, workers, scheduler, overwrite, image_codec, on_progress, labels
        )


def _generate_locked(
    recipe: Recipe, path: Location, n: int, shard_size: int, workers: int, scheduler: str | None, overwrite: bool,
    image_codec: str, on_progress: ProgressCallback | None, labels: tuple[str, ...],
) -> GenerateReport:  # fmt: skip
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

    tasks = shard_tasks(path, todo, uuid.uuid4().hex)
    run_tasks(run_shard, tasks, shared=recipe, workers=workers, scheduler=scheduler, on_result=collect)
    written = sum(counts)
    expected = sum(stop - start for start, stop in (shard_bounds(i, n, shard_size) for i in todo))
    if written != expected or len(counts) != len(todo):
        raise StoreError(f"{path}: wrote {written} samples in {len(counts)} shards, expected {expected} in {len(todo)}")
    seconds = time.perf_counter() - started
    _finish(path)
    return GenerateReport(path.path if path.is_local else path.url, n, len(todo), skipped, written, seconds)
