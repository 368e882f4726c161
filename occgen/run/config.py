"""How a generation stage runs (shard size, workers, codec) as opposed to what it makes."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from occgen.core.errors import ConfigError
from occgen.core.labels import parse_labels
from occgen.core.location import parse_storage_options
from occgen.store.codecs import DEFAULT_IMAGE_CODEC, parse_image_codec


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """How a generation stage runs (not what it makes, except ``n``)."""

    n: int = 200
    shard_size: int = 64
    workers: int = 0  # 0: one per CPU core
    image_codec: str = DEFAULT_IMAGE_CODEC  # NAME[:LEVEL], see occgen/store/codecs.py
    # Optional label arrays (occgen/core/labels.py): parsing, amodal, clean, occluder-class. () = the default
    # three arrays only.
    labels: tuple[str, ...] = ()
    # JSON fsspec options for an output URL (e.g. '{"endpoint_url": "http://minio:9000"}'); keep secrets in the
    # environment or ~/.aws, not here. None: OCCGEN_STORAGE_OPTIONS / s3fs defaults (docs/cloud.md).
    storage_options: str | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n (--n) must be at least 1, got {self.n}")
        if self.shard_size < 1:
            raise ConfigError(f"shard_size (--shard-size) must be at least 1, got {self.shard_size}")
        if self.workers < 0:
            raise ConfigError(f"workers (--workers) must be >= 0, got {self.workers}")
        parse_image_codec(self.image_codec)
        object.__setattr__(self, "labels", parse_labels(self.labels))
        if self.storage_options is not None:
            parse_storage_options(self.storage_options, "storage_options")

    @property
    def resolved_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


def split_run_keys(section: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a recipe section into its run keys (``n``, ``shard_size``...) and the recipe's own keys."""
    run_names = {f.name for f in fields(RunConfig)}
    run = {k: v for k, v in section.items() if k in run_names}
    rest = {k: v for k, v in section.items() if k not in run_names}
    return run, rest
