"""Mixed datasets without copying pixels: an index over several stores (``occgen mix``).

A mix is a small zarr group: ``store_index`` (N,) uint8 and ``sample_index`` (N,) int64 point into the
source stores, whose relative paths, sizes and content digests are in the mix's own card (attribute
``occgen`` with ``kind: mix``). :func:`occgen.store.open_store` returns a :class:`MixReader` for it, with
the same interface as a store reader (:class:`occgen.store.dataset.Dataset`: each store is one part).
The NatOcc paper's C-WO-Mix is half of C-WO-RandOcc plus half of C-WO-NatOcc:
``occgen mix randocc.zarr:0.5 natocc.zarr:0.5 --out mix.zarr``. With ``repeat`` (``--repeat``) a part may
ask for more samples than its store holds: the store is taken whole as often as the count allows, then a
random subset, so that conditions of a comparison can have equal sizes (``occgen table``).
Clip stores (issue 27) mix by whole clips: COUNT and FRACTION count clips, the random pick draws clips, each
clip's frames stay together and in order, and the mix's card says ``frames`` (:mod:`occgen.store.clips`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from occgen import __version__
from occgen.core.errors import ConfigError, StoreError
from occgen.core.location import Location, parse_location
from occgen.store.clips import clip_samples, mixed_clip_frames, whole_clips
from occgen.store.dataset import DatasetPart
from occgen.store.digest import array as zarr_array
from occgen.store.digest import card as read_card
from occgen.store.group import open_group
from occgen.store.lock import store_lock
from occgen.store.schema import (
    ATTRS_KEY,
    SCHEMA_VERSION,
    ShardReader,
    StoredSample,
    card_digest,
    is_store,
    remove_store,
)

PICKS = ("random", "prefix")


@dataclass(frozen=True)
class MixPart:
    """``count`` samples (or ``fraction`` of the store when ``count`` is None) from the store at ``path``
    (a path, or a URL such as ``s3://bucket/x.zarr``: :func:`occgen.core.location.parse_location` reads
    a ``Path`` that folded ``s3://`` into ``s3:/`` back as the URL)."""

    path: Path | str
    count: int | None = None
    fraction: float | None = None


def parse_part(text: str) -> MixPart:
    """``STORE[:COUNT|:FRACTION]``, e.g. ``randocc.zarr:0.5`` or ``natocc.zarr:24602``; no suffix = all."""
    path_text, sep, amount = text.rpartition(":")
    if not sep or "/" in amount or amount.endswith(".zarr"):
        return MixPart(Path(text), fraction=1.0)
    try:
        value = float(amount)
    except ValueError:
        raise ConfigError(f"mix part {text!r}: expected STORE[:COUNT|:FRACTION], e.g. randocc.zarr:0.5") from None
    if amount.isdigit():
        return MixPart(Path(path_text), count=int(amount))
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"mix part {text!r}: a fraction must be in (0, 1]")
    return MixPart(Path(path_text), fraction=value)


def build_mix(
    parts: list[MixPart], out: Path | str | Location, *, seed: int = 0, pick: str = "random", overwrite: bool = False,
    storage_options: dict[str, Any] | None = None, repeat: bool = False,
) -> Path | str:
    """Write a mix index at ``out``; stores must be complete and of one image size. Stores and the mix may
    be URLs; a store on the mix's filesystem (and bucket) is recorded relative to the mix, others in full.
    ``repeat``: a count above a store's size takes the whole store ``count // size`` times, then a random subset
    of ``count % size`` (``pick`` random only): every sample appears that many times, or once more."""
    out_location = parse_location(out, storage_options)
    with store_lock(out_location, "mix"):  # one writer per output (issue 13)
        return _build_mix_locked(parts, out_location, seed, pick, overwrite, storage_options, repeat)


def _build_mix_locked(
    parts: list[MixPart], out: Location, seed: int, pick: str, overwrite: bool, storage_options: dict[str, Any] | None,
    repeat: bool = False,
) -> Path | str:
    if not parts:
        raise ConfigError("a mix needs at least one store")
    if pick not in PICKS:
        raise ConfigError(f"pick must be one of {', '.join(PICKS)}, got {pick!r}")
    if repeat and pick != "random":
        raise ConfigError("--repeat needs pick random (a prefix cannot repeat samples)")
    locations = [parse_location(part.path, storage_options) for part in parts]
    for part, location in zip(parts, locations, strict=True):  # before anything is read, locked or deleted
        if _overlap(location, out):
            raise StoreError(
                f"--out {out} is (or holds, or lies inside) the input store {part.path}; writing the mix there would "
                "delete it: choose another --out"
            )
    for location in locations:
        refuse_nested_mix(location)
    readers = [ShardReader(location) for location in locations]
    sizes = {str(part.path): reader.size for part, reader in zip(parts, readers, strict=True)}
    if len(set(sizes.values())) > 1:
        raise StoreError(f"stores of different image sizes cannot be mixed: {sizes}")
    stored_frames = {str(part.path): reader.card.get("frames") for part, reader in zip(parts, readers, strict=True)}
    frames = mixed_clip_frames(stored_frames)  # issue 27: stills, or clips of one length
    _one_landmark_scheme({str(part.path): reader.card for part, reader in zip(parts, readers, strict=True)})
    rng = np.random.default_rng([seed, 99])  # stream 99: mix selection, apart from every recipe's streams
    store_index, sample_index, sources = [], [], []
    out_location = out
    for number, (part, location, reader) in enumerate(zip(parts, locations, readers, strict=True)):
        available = len(reader) // (frames or 1)  # clip stores: whole clips are counted and picked
        count = part.count if part.count is not None else int(round((part.fraction or 1.0) * available))
        if count <= 0 or available == 0 or (count > available and not repeat):
            more = "" if repeat else " (pass --repeat to take a store more than once)"
            unit = "clips" if frames else "samples"
            raise ConfigError(f"{part.path} has {available} {unit}; cannot take {count}{more}")
        if pick == "prefix":
            chosen = np.arange(count)
        elif count <= available:
            chosen = np.sort(rng.choice(available, count, replace=False))
        else:  # --repeat: (count // available) whole passes, then a random subset of the rest
            whole = np.tile(np.arange(available), count // available)
            chosen = np.sort(np.concatenate([whole, rng.choice(available, count % available, replace=False)]))
        if frames:
            chosen = clip_samples(chosen, frames)  # each clip's frames, in order
        store_index.append(np.full(len(chosen), number, np.uint8))
        sample_index.append(chosen.astype(np.int64))
        sources.append({
            "path": location.relative_from(out_location.parent),
            "count": len(chosen), "of": len(reader), "recipe": reader.card.get("recipe"),
            "digest": card_digest(reader.card), "image_codec": reader.card.get("image_codec"),
            "licences": {k: v.get("licence") for k, v in reader.card.get("sources", {}).items()},
        })  # fmt: skip
    out_location.check_reachable()
    if out_location.exists():
        if not overwrite:
            raise StoreError(f"{out} exists; pass --overwrite to replace it")
        remove_store(out_location)
    group = open_group(out_location, "w")
    stores, samples = np.concatenate(store_index), np.concatenate(sample_index)
    group.create_array("store_index", data=stores, chunks=(max(len(stores), 1),))
    group.create_array("sample_index", data=samples, chunks=(max(len(samples), 1),))
    group.attrs[ATTRS_KEY] = {
        "kind": "mix", "schema_version": SCHEMA_VERSION, "occgen_version": __version__, "n": int(len(stores)),
        "size": next(iter(sizes.values())), "seed": seed, "pick": pick, "sources": sources, "complete": True,
        "recipe": "mix",  # no creation time: the same command gives the same bytes (issue 13)
        **({"repeat": True} if repeat else {}),  # only when used: mixes without it keep their bytes
        **({"frames": frames} if frames else {}),  # a mix of clip stores (issue 27)
    }  # fmt: skip
    return out_location.path if out_location.is_local else out_location.url


def refuse_nested_mix(location: Location) -> None:
    """Raise a ConfigError when the mix part at ``location`` is itself a mix (its card's ``kind``): a mix of
    mixes is not supported; the message lists the mix's stores to mix directly instead."""
    try:
        recorded = read_card(open_group(location, "r"), ATTRS_KEY)
    except (KeyError, TypeError, FileNotFoundError, OSError, ValueError):
        return  # not a dataset: ShardReader names the problem
    if recorded.get("kind") != "mix":
        return
    stores = dict.fromkeys(_shown(source_location(location, str(source.get("path", "?"))))
                           for source in recorded.get("sources", []))  # fmt: skip
    raise ConfigError(
        f"{_shown(location)} is a mix: nested mixes are not supported; mix its stores directly "
        f"(occgen mix {' '.join(stores)} ... --out NEW.zarr)"
    )


def _shown(location: Location) -> str:
    return str(location.path) if location.is_local else location.url


def source_location(mix: Location, recorded: str) -> Location:
    """Where a store a mix index names lives. The index is input: a relative path is resolved beside the mix
    (never out of its bucket) with the mix's storage options; a store named in full (another filesystem or
    bucket) is opened with this process's own defaults, never with the options the mix was opened with, so an
    index cannot send them (an endpoint, credentials) to a place it chooses."""
    if recorded.startswith("/") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", recorded):
        return parse_location(recorded)
    return mix.parent.join(recorded)


def _overlap(one: Location, other: Location) -> bool:
    """True when the two locations are one place, or one lies inside the other (local paths compared with
    symbolic links resolved; URLs by protocol and key)."""

    def parts(location: Location) -> tuple[str, ...]:
        if location.is_local:
            return (location.protocol, *location.path.resolve().parts)
        return (location.protocol, *[p for p in location.url.split("://", 1)[1].split("/") if p])

    a, b = parts(one), parts(other)
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def mix_sample_id(part: int, sample_id: str) -> str:
    """The id of a sample in a mix: qualified by its part number, so that two stores of one recipe (whose
    samples are both named ``natocc-00000000``...) never give two samples the same id."""
    return f"p{part}-{sample_id}"


class MixReader:
    """Reads a mix index like a store (a :class:`occgen.store.dataset.Dataset` of several parts): ``len``,
    ``[i] -> StoredSample``, ``parts``, ``locate``, ``metadata``.

    The metadata's ``sample_id`` is qualified by the mix part (:func:`mix_sample_id`), the store's own id is
    kept as ``store_sample_id``, and ``mix_source`` names the store.
    """

    def __init__(self, path: Path | str | Location) -> None:
        self.location = parse_location(path)
        self.path: Path | str = self.location.path if self.location.is_local else self.location.url
        if not is_store(self.location):
            raise StoreError(f"{self.path} is not an occgen store or mix")
        group = open_group(self.location, "r")
        self.card: dict[str, Any] = read_card(group, ATTRS_KEY)
        self.store_index = np.asarray(zarr_array(group, "store_index")[:])
        self.sample_index = np.asarray(zarr_array(group, "sample_index")[:])
        self.readers: list[ShardReader] = []
        for source in self.card["sources"]:
            store_path = self._source_location(str(source["path"]))
            if not store_path.exists():
                raise StoreError(f"mix {self.path} refers to {store_path}, which is missing; restore it (dvc pull)")
            reader = ShardReader(store_path)
            if card_digest(reader.card) != source["digest"]:
                raise StoreError(
                    f"mix {self.path} refers to {store_path}, which has been regenerated since; re-run occgen mix"
                )
            self.readers.append(reader)
        self.parts = self._parts()

    def _source_location(self, recorded: str) -> Location:
        return source_location(self.location, recorded)

    def _parts(self) -> tuple[DatasetPart, ...]:
        """One part per store; the index is input, so every entry is checked against its store once."""
        if len(self.store_index) != len(self.sample_index) or (
            len(self.store_index) and int(self.store_index.max()) >= len(self.readers)
        ):
            raise StoreError(
                f"mix {self.path}: its index does not match its {len(self.readers)} store(s); re-run occgen mix"
            )
        parts = []
        for number, (source, reader) in enumerate(zip(self.card["sources"], self.readers, strict=True)):
            indices = np.flatnonzero(self.store_index == number).astype(np.int64)
            local = self.sample_index[indices].astype(np.int64)
            if len(local) and not (0 <= int(local.min()) and int(local.max()) < len(reader)):
                raise StoreError(
                    f"mix {self.path}: samples beyond the {len(reader)} of {source['path']}; re-run occgen mix"
                )
            frames = self.card.get("frames")
            if frames and not (whole_clips(indices, frames) and whole_clips(local, frames)):
                raise StoreError(f"mix {self.path}: its index splits the {frames}-frame clips of {source['path']}; "
                                 "re-run occgen mix")  # fmt: skip
            parts.append(DatasetPart(number, str(source["path"]), reader, indices, local, str(source["digest"])))
        return tuple(parts)

    def __len__(self) -> int:
        return len(self.store_index)

    @property
    def size(self) -> int:
        return int(self.card["size"])

    def locate(self, index: int) -> tuple[DatasetPart, int]:
        """The part (store) sample ``index`` comes from and its index in that store."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"sample {index} out of range for a mix of {n}")
        index %= n
        return self.parts[int(self.store_index[index])], int(self.sample_index[index])

    def __getitem__(self, index: int) -> StoredSample:
        part, local = self.locate(index)
        sample = part.reader[local]
        return StoredSample(sample.image, sample.face_mask, sample.occluder_mask,
                            self._qualify(part, local, sample.metadata))  # fmt: skip

    def metadata(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """The metadata of samples ``indices`` without decoding their pixels (read in one batch per store)."""
        located = [self.locate(int(i)) for i in indices]
        result: list[dict[str, Any]] = [{} for _ in located]
        for part in self.parts:
            mine = [k for k, (p, _) in enumerate(located) if p is part]
            if mine:
                values = part.reader.metadata([located[k][1] for k in mine])
                for k, value in zip(mine, values, strict=True):
                    result[k] = self._qualify(part, located[k][1], value)
        return result

    def sample_metadata(self, index: int) -> dict[str, Any]:
        """The metadata of sample ``index`` without decoding its pixels."""
        return self.metadata([index])[0]

    def _qualify(self, part: DatasetPart, local: int, metadata: dict[str, Any]) -> dict[str, Any]:
        original = str(metadata.get("sample_id") or f"{local:08d}")
        qualified = {**metadata, "mix_source": part.name, "store_sample_id": original,
                     "sample_id": mix_sample_id(part.number, original)}  # fmt: skip
        clip = metadata.get("clip")
        if isinstance(clip, dict) and "clip_id" in clip:  # clip ids too: two stores of one recipe share them
            qualified["clip"] = {**clip, "clip_id": mix_sample_id(part.number, str(clip["clip_id"]))}
        return qualified

    def sample_array(self, name: str, index: int) -> np.ndarray:
        """Array ``name`` of sample ``index``, from its store (``metadata`` comes as the store holds it)."""
        part, local = self.locate(index)
        return part.reader.sample_array(name, local)

    @property
    def label_names(self) -> tuple[str, ...]:
        """The optional label arrays every store of the mix holds."""
        names = [set(reader.label_names) for reader in self.readers]
        common = set.intersection(*names) if names else set()
        return tuple(name for name in self.readers[0].label_names if name in common) if self.readers else ()

    def label(self, name: str, index: int, image: np.ndarray | None = None) -> np.ndarray:
        if name not in self.label_names:
            raise StoreError(f"mix {self.path} has no {name} in every store (its labels: "
                             f"{', '.join(self.label_names) or 'none'})")  # fmt: skip
        part, local = self.locate(index)
        return part.reader.label(name, local, image)

    def labels(self, index: int, image: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Sample ``index``'s optional label arrays present in every store of the mix (``image``: see
        :meth:`occgen.store.schema.ShardReader.labels`)."""
        part, local = self.locate(index)
        return {name: part.reader.label(name, local, image) for name in self.label_names}

    @property
    def content_key(self) -> str:
        """What the mix holds: its stores' content digests and counts, its seed and pick (not where it is)."""
        parts = [{k: v for k, v in source.items() if k != "path"} for source in self.card["sources"]]
        key = {"parts": parts, "seed": self.card.get("seed"), "pick": self.card.get("pick")}
        if self.card.get("repeat"):
            key["repeat"] = True
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def shards_done(self) -> tuple[int, int]:
        counts = [reader.shards_done() for reader in self.readers]
        return sum(done for done, _ in counts), sum(total for _, total in counts)

    def recipes(self) -> list[str]:
        return list(dict.fromkeys(str(source.get("recipe")) for source in self.card["sources"]))

    def licences(self) -> dict[str, str]:
        return {f"{source['path']} {name}": str(licence) for source in self.card["sources"]
                for name, licence in (source.get("licences") or {}).items()}  # fmt: skip


def _one_landmark_scheme(cards: dict[str, Any]) -> None:
    """Refuse a mix of stores whose ``landmarks`` labels name different points (a face's own 68 or 5 points
    beside the 13 parsing-derived ones): one mix reads one ``(K, 2)`` per sample (issue 25)."""
    schemes: dict[tuple[str, ...], str] = {}
    for path, card in cards.items():
        labels = card.get("labels") or {}
        if isinstance(labels, dict) and isinstance(labels.get("landmarks"), dict):
            names = tuple(map(str, labels["landmarks"].get("names") or ()))
            schemes.setdefault(names, path)
    if len(schemes) > 1:
        found = "; ".join(f"{path}: {len(names) or 13} points" for names, path in schemes.items())
        raise StoreError(f"stores with different landmark schemes cannot be mixed ({found}): generate them with "
                         "one natocc.landmark_scheme, or drop --labels landmarks from one")  # fmt: skip
