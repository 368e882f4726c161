"""``occgen export --format hf``: Parquet shards that ``datasets.load_dataset(DIR)`` and the Hub read as is.

Where it sits: one of the sharded exports (:mod:`occgen.run.export_shards` plans them, the one export framework
:mod:`occgen.run.export_base` runs and resumes them).

Layout (formats.md §3)::

    README.md                                  dataset card: YAML front matter (configs, features, splits)
    data/train-00000-of-00003.parquet          shards of at most --shard-mb
    data/validation-00000-of-00001.parquet     with --val-frac

Columns: ``key``; ``image`` and every mask/label as ``datasets.Image`` (arrow ``struct<bytes, path>``, PNG
or JPEG bytes; masks PNG 0/255); the metadata as typed columns (:data:`COLUMNS`) plus ``metadata``, the
whole per-sample JSON. The features are also in each file's schema metadata under ``huggingface``
(what ``Dataset.to_parquet`` writes), so each Parquet file is self-describing.
Needs ``pyarrow`` (``pip install 'occgen[hf]'``); ``datasets`` only to read back or upload.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from occgen.core.errors import ConfigError
from occgen.run.export_base import write_text_atomic
from occgen.run.export_card import hf_card
from occgen.run.export_encode import LABELS, EncodedSample, ShardSpec, metadata_json
from occgen.store.dataset import Dataset

# Typed metadata columns: (name, datasets dtype, how to read it from the metadata dict).
COLUMNS = (
    ("sample_id", "string"),
    ("recipe", "string"),
    ("face_id", "string"),
    ("occluder_types", "list<string>"),
    ("occluder_ids", "list<string>"),
    ("translucent", "bool"),
    ("face_px_before", "int64"),
    ("face_px_after", "int64"),
    ("occluded_face_fraction", "float32"),
    ("store", "string"),
    ("store_index", "int64"),
)
# Row groups: below datasets' own 100 MB cap (config.MAX_ROW_GROUP_SIZE, formats.md §3) and at most 100 rows (what
# datasets used for image datasets), so that random access decodes little and the buffer stays small.
ROW_GROUP_BYTES = 32_000_000
ROW_GROUP_ROWS = 100
# Kept free in every shard for what the rows' bytes do not count (measured: about 5 kB for a 2-row file):
# the footer with the schema metadata, plus the per-row-group column metadata.
FOOTER_ALLOWANCE = 16_384
ROW_GROUP_ALLOWANCE = 4_096
ROW_OVERHEAD = 256  # key, typed columns, levels and page headers of one row


def require_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ConfigError("the hf export needs pyarrow: pip install 'occgen[hf]'") from None
    return pyarrow


def image_fields(spec: ShardSpec) -> list[str]:
    return ["image"] + [f for name, f, _ in LABELS if name in ("face_mask", "occluder_mask") or name in spec.labels]


def features(spec: ShardSpec) -> dict[str, Any]:
    """The ``datasets.Features`` as the JSON ``Dataset.to_parquet`` puts in the schema metadata."""
    result: dict[str, Any] = {"key": {"dtype": "string", "_type": "Value"}}
    for name in image_fields(spec):
        result[name] = {"_type": "Image"}
    for name, dtype in COLUMNS:
        if dtype == "list<string>":
            result[name] = {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"}
        else:
            result[name] = {"dtype": dtype, "_type": "Value"}
    result["metadata"] = {"dtype": "string", "_type": "Value"}
    return result


def features_yaml(spec: ShardSpec) -> list[dict[str, Any]]:
    """The same features in the README's ``dataset_info.features`` form (``DatasetInfo._to_yaml_dict``)."""
    rows: list[dict[str, Any]] = [{"name": "key", "dtype": "string"}]
    rows += [{"name": name, "dtype": "image"} for name in image_fields(spec)]
    for name, dtype in COLUMNS:
        rows.append({"name": name, "list": "string"} if dtype == "list<string>" else {"name": name, "dtype": dtype})
    rows.append({"name": "metadata", "dtype": "string"})
    return rows


def arrow_schema(spec: ShardSpec) -> Any:
    pa = require_pyarrow()
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    types = {"string": pa.string(), "list<string>": pa.list_(pa.string()), "bool": pa.bool_(), "int64": pa.int64(),
             "float32": pa.float32()}  # fmt: skip
    fields = [pa.field("key", pa.string())] + [pa.field(name, image) for name in image_fields(spec)]
    fields += [pa.field(name, types[dtype]) for name, dtype in COLUMNS]
    fields.append(pa.field("metadata", pa.string()))
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": features(spec)}})})


def row(sample: EncodedSample) -> dict[str, Any]:
    """One Parquet row: image structs, typed metadata (None where a recipe has no such field), the JSON."""
    m = sample.metadata
    values: dict[str, Any] = {"key": sample.key}
    for field_name, extension, data in sample.files:
        values[field_name] = {"bytes": data, "path": f"{sample.key}.{extension}"}
    before, after = m.get("face_px_before"), m.get("face_px_after")
    derived = {"occluded_face_fraction": (before - after) / before if before and after is not None else None}
    for name, dtype in COLUMNS:
        values[name] = _typed(derived[name] if name in derived else m.get(name), dtype)
    values["metadata"] = metadata_json(m).decode()
    return values


_CASTS = {"string": str, "bool": bool, "int64": int, "float32": float}


def _typed(value: Any, dtype: str) -> Any:
    """``value`` as the column's type (a recipe's metadata is JSON: ids may be numbers); None stays None."""
    if value is None:
        return None
    if dtype == "list<string>":
        return [str(item) for item in value]
    return _CASTS[dtype](value)


def payload_bytes(sample: EncodedSample) -> int:
    """An upper bound of the bytes a row adds to a Parquet file (images are stored uncompressed)."""
    return sum(len(data) for _, _, data in sample.files) + len(metadata_json(sample.metadata)) + ROW_OVERHEAD


class ParquetPart:
    """One Parquet shard being written: rows buffered up to a row group, then streamed to the file."""

    suffix = ".parquet"

    def __init__(self, spec: ShardSpec, path: Path) -> None:
        pa = require_pyarrow()
        self.pa = pa
        self.path = path
        self.temporary = path.with_name(f"{path.name}.parquet.tmp")
        self.schema = arrow_schema(spec)
        images = image_fields(spec)
        # PNG/JPEG bytes do not compress further: store them plain, compress the rest (metadata JSON).
        compression = {f"{name}.{part}": "none" for name in images for part in ("bytes", "path")}
        self.writer = pa.parquet.ParquetWriter(
            str(self.temporary), self.schema, compression={**compression, "metadata": "zstd", "key": "zstd"},
            use_dictionary=["recipe", "store", "face_id"], write_statistics=False,
        )  # fmt: skip
        self.rows: list[dict[str, Any]] = []
        self.buffered = 0
        self.estimate = FOOTER_ALLOWANCE + ROW_GROUP_ALLOWANCE  # the row group being buffered
        self.count = 0
        self.num_bytes = 0

    def size_with(self, sample: EncodedSample) -> int:
        return self.estimate + payload_bytes(sample)

    def add(self, sample: EncodedSample) -> None:
        size = payload_bytes(sample)
        self.rows.append(row(sample))
        self.buffered += size
        self.estimate += size
        self.count += 1
        if self.buffered >= ROW_GROUP_BYTES or len(self.rows) >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            table = self.pa.Table.from_pylist(self.rows, schema=self.schema)
            self.writer.write_table(table, row_group_size=len(self.rows))
            self.num_bytes += table.nbytes
            self.estimate += ROW_GROUP_ALLOWANCE  # the next row group
            self.rows, self.buffered = [], 0

    def close(self) -> dict[str, Any]:
        self._flush()
        self.writer.close()
        size = self.temporary.stat().st_size
        os.replace(self.temporary, self.path.with_name(f"{self.path.name}.parquet"))
        return {"path": self.path.name, "samples": self.count, "bytes": size, "num_bytes": self.num_bytes}


class HuggingFaceFormat:
    name = "hf"

    def check(self) -> None:
        require_pyarrow()

    def open_part(self, spec: ShardSpec, path: Path) -> ParquetPart:
        return ParquetPart(spec, path)

    def sample_bytes(self, sample: EncodedSample) -> int:
        return payload_bytes(sample)

    def part_overhead(self, shard_bytes: int) -> int:
        return FOOTER_ALLOWANCE + ROW_GROUP_ALLOWANCE * (2 + shard_bytes // ROW_GROUP_BYTES)

    def shard_files(self, split: str, index: int, total: int) -> dict[str, str]:
        return {".parquet": f"data/{split}-{index:05d}-of-{total:05d}.parquet"}

    def write_card(self, spec: ShardSpec, dataset: Dataset, manifest: dict[str, Any]) -> None:
        card = hf_card(spec, dataset, manifest, features_yaml(spec))
        write_text_atomic(spec.work_dir, Path(spec.out) / "README.md", card)


HF = HuggingFaceFormat()


def push_to_hub(out: Path, repo: str, *, private: bool = False) -> str:
    """Upload an exported folder to the Hub as a dataset repo (network; not run by the tests)."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise ConfigError("--push-to-hub needs huggingface_hub: pip install 'occgen[hf]'") from None
    api = HfApi()
    api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(out), repo_id=repo, repo_type="dataset", ignore_patterns=[".occgen-export/*"])
    return f"https://huggingface.co/datasets/{repo}"
