"""Mixed datasets without copying pixels: an index over several stores (``occgen mix``).

A mix is a small zarr group: ``store_index`` (N,) uint8 and ``sample_index`` (N,) int64 point into the
source stores, whose relative paths, sizes and content digests are in the mix's own card (attribute
``occgen`` with ``kind: mix``). :func:`occgen.store.open_store` returns a :class:`MixReader` for it, with
the same interface as a store reader. The NatOcc paper's C-WO-Mix is half of C-WO-RandOcc plus half of
C-WO-NatOcc: ``occgen mix randocc.zarr:0.5 natocc.zarr:0.5 --out mix.zarr``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from occgen import __version__
from occgen.core.errors import ConfigError, StoreError
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
    """``count`` samples (or ``fraction`` of the store when ``count`` is None) from the store at ``path``."""

    path: Path
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


def build_mix(parts: list[MixPart], out: Path, *, seed: int = 0, pick: str = "random", overwrite: bool = False) -> Path:
    """Write a mix index at ``out``; stores must be complete and of one image size."""
    if not parts:
        raise ConfigError("a mix needs at least one store")
    if pick not in PICKS:
        raise ConfigError(f"pick must be one of {', '.join(PICKS)}, got {pick!r}")
    readers = [ShardReader(part.path) for part in parts]
    sizes = {str(part.path): reader.size for part, reader in zip(parts, readers, strict=True)}
    if len(set(sizes.values())) > 1:
        raise StoreError(f"stores of different image sizes cannot be mixed: {sizes}")
    rng = np.random.default_rng([seed, 99])  # stream 99: mix selection, apart from every recipe's streams
    store_index, sample_index, sources = [], [], []
    out = Path(out)
    for number, (part, reader) in enumerate(zip(parts, readers, strict=True)):
        available = len(reader)
        count = part.count if part.count is not None else int(round((part.fraction or 1.0) * available))
        if not 0 < count <= available:
            raise ConfigError(f"{part.path} has {available} samples; cannot take {count}")
        chosen = np.arange(count) if pick == "prefix" else np.sort(rng.choice(available, count, replace=False))
        store_index.append(np.full(count, number, np.uint8))
        sample_index.append(chosen.astype(np.int64))
        sources.append({
            "path": os.path.relpath(part.path.resolve(), out.resolve().parent),
            "count": count, "of": available, "recipe": reader.card.get("recipe"),
            "digest": card_digest(reader.card), "image_codec": reader.card.get("image_codec"),
            "licences": {k: v.get("licence") for k, v in reader.card.get("sources", {}).items()},
        })  # fmt: skip
    if out.exists():
        if not overwrite:
            raise StoreError(f"{out} exists; pass --overwrite to replace it")
        remove_store(out)
    group = zarr.open_group(str(out), mode="w", zarr_format=3)
    stores, samples = np.concatenate(store_index), np.concatenate(sample_index)
    group.create_array("store_index", data=stores, chunks=(max(len(stores), 1),))
    group.create_array("sample_index", data=samples, chunks=(max(len(samples), 1),))
    group.attrs[ATTRS_KEY] = {
        "kind": "mix", "schema_version": SCHEMA_VERSION, "occgen_version": __version__, "n": int(len(stores)),
        "size": next(iter(sizes.values())), "seed": seed, "pick": pick, "sources": sources, "complete": True,
        "recipe": "mix", "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    return out


class MixReader:
    """Reads a mix index like a store: ``len``, ``[i] -> StoredSample`` (metadata gains ``mix_source``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not is_store(self.path):
            raise StoreError(f"{self.path} is not an occgen store or mix")
        group = zarr.open_group(str(self.path), mode="r")
        self.card: dict[str, Any] = dict(group.attrs[ATTRS_KEY])
        self.store_index = group["store_index"][:]
        self.sample_index = group["sample_index"][:]
        self.readers: list[ShardReader] = []
        for source in self.card["sources"]:
            store_path = (self.path.parent / source["path"]).resolve()
            if not store_path.exists():
                raise StoreError(f"mix {self.path} refers to {store_path}, which is missing; restore it (dvc pull)")
            reader = ShardReader(store_path)
            if card_digest(reader.card) != source["digest"]:
                raise StoreError(
                    f"mix {self.path} refers to {store_path}, which has been regenerated since; re-run occgen mix"
                )
            self.readers.append(reader)

    def __len__(self) -> int:
        return len(self.store_index)

    @property
    def size(self) -> int:
        return int(self.card["size"])

    def __getitem__(self, index: int) -> StoredSample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"sample {index} out of range for a mix of {n}")
        index %= n
        store = int(self.store_index[index])
        sample = self.readers[store][int(self.sample_index[index])]
        metadata = {**sample.metadata, "mix_source": self.card["sources"][store]["path"]}
        return StoredSample(sample.image, sample.face_mask, sample.occluder_mask, metadata)

    @property
    def label_names(self) -> tuple[str, ...]:
        """The optional label arrays every store of the mix holds."""
        names = [set(reader.label_names) for reader in self.readers]
        common = set.intersection(*names) if names else set()
        return tuple(name for name in self.readers[0].label_names if name in common) if self.readers else ()

    def labels(self, index: int) -> dict[str, np.ndarray]:
        """Sample ``index``'s optional label arrays present in every store of the mix."""
        index %= len(self)
        labels = self.readers[int(self.store_index[index])].labels(int(self.sample_index[index]))
        return {name: labels[name] for name in self.label_names}
