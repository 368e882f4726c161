"""Dataset cards (``README.md``) of the sharded exports: YAML front matter the Hub reads, then prose.

Where it sits: written last by :mod:`occgen.run.export_shards` for the WebDataset and Hugging Face exports.
Licences come from the dataset (:meth:`occgen.store.dataset.Dataset.licences`: each source's ``licence``; a mix
lists every store's). The Hub takes
SPDX-like ids in ``license``; occgen's sources carry free-text licences, so the card says ``license: other``
with a ``license_name``, puts the sources' licences in ``license_details`` and lists them in its body.
"""

from __future__ import annotations

from typing import Any

import yaml

from occgen.run.export_encode import LABELS, ShardSpec
from occgen.store.dataset import Dataset


def size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return label
    return "1M<n<10M"


def field_rows(spec: ShardSpec) -> list[tuple[str, str]]:
    image = "PNG (lossless)" if spec.image_format == "png" else f"JPEG quality {spec.jpeg_quality}"
    meaning = {
        "face": "visible face after occlusion, PNG 0/255",
        "occluder": "occluder alpha x 255, PNG",
        "parsing": "face-parsing classes (ids as stored), PNG",
        "face_amodal": "whole face before occlusion, PNG 0/255",
        "clean": f"face before the occluder went on, {image}",
        "occluder_class": "occluder class per pixel (0 none), PNG",
        "occluder_instances": "occluder instance per pixel (0 none, i = the i-th occluder in paint order), PNG",
        "face_soft": "how visible the face is: face before occlusion x (255 - occluder alpha x 255), PNG 0-255",
    }
    rows = [("image", f"RGB, {image}")]
    for name, field_name, _ in LABELS:
        if name in ("face_mask", "occluder_mask") or name in spec.labels:
            rows.append((field_name, meaning[field_name]))
    return rows


def front_matter(values: dict[str, Any]) -> str:
    return "---\n" + yaml.safe_dump(values, sort_keys=False, allow_unicode=False) + "---\n"


def common_header(dataset: Dataset, manifest: dict[str, Any], pattern: str) -> dict[str, Any]:
    """Front matter both cards share; ``pattern`` names a split's files, e.g. ``data/{split}-*``."""
    n = sum(s["samples"] for shards in manifest["shards"].values() for s in shards)
    return {
        # hub-docs datasetcard.md: `other` + an id + a link (here the card's own Licences section), and the
        # legacy free-text field for the sources' licences themselves.
        "license": "other",
        "license_name": "occgen-sources",
        "license_link": "README.md",
        "license_details": "; ".join(f"{name}: {text}" for name, text in dataset.licences().items()),
        "pretty_name": f"occgen {' + '.join(dataset.recipes())}",
        "task_categories": ["image-segmentation"],
        "tags": ["occgen", "synthetic", "face-occlusion", *dataset.recipes()],
        "size_categories": [size_category(n)],
        "configs": [{
            "config_name": "default",
            "data_files": [{"split": split, "path": pattern.format(split=split)} for split in manifest["shards"]],
        }],
    }  # fmt: skip


def body(spec: ShardSpec, dataset: Dataset, manifest: dict[str, Any], reading: str) -> str:
    card = dataset.card
    licences = dataset.licences()
    counts = {split: sum(s["samples"] for s in shards) for split, shards in manifest["shards"].items()}
    lines = [
        f"# occgen {' + '.join(dataset.recipes())} ({sum(counts.values())} samples, {card.get('size')} px)\n",
        f"Synthetic occluded faces made by occgen {card.get('occgen_version')} (recipe `{card.get('recipe')}`, "
        f"seed {card.get('seed')}), exported from `{spec.store}` as `{spec.format}`.\n",
        "## Splits\n",
        *[f"- `{split}`: {count} samples in {len(manifest['shards'][split])} shard(s)" for split, count in
          counts.items()],
        "",
        "## Fields\n",
        "| field | content |",
        "| --- | --- |",
        *[f"| `{name}` | {text} |" for name, text in field_rows(spec)],
        "| metadata | sample id, face id, occluder types and ids, sampled parameters (replayable), `key`, "
        "`store`, `store_index` |",
        "",
        "## Licences\n",
        "The images derive from these sources; their licences apply:\n",
        *[f"- {name}: {licence}" for name, licence in licences.items()],
        "",
        "## Reading\n",
        reading,
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def webdataset_card(spec: ShardSpec, dataset: Dataset, manifest: dict[str, Any]) -> str:
    header = common_header(dataset, manifest, "{split}-*.tar")
    last = {split: len(shards) - 1 for split, shards in manifest["shards"].items()}
    reading = (
        "```python\nimport webdataset as wds\n"
        f"urls = \"train-{{000000..{last['train']:06d}}}.tar\"\n"
        "dataset = wds.WebDataset(urls, shardshuffle=False).decode(\"rgb8\")  # masks: decode(\"l8\") keeps 1 channel\n"
        "for sample in dataset:\n"
        "    image, face = sample[\"" + spec.image_format + "\"], sample[\"face.png\"]\n```\n\n"
        "Each `.idx` file is the shard's index in DALI's `wds2idx` v1.2 format "
        "(`fn.readers.webdataset(paths=..., index_paths=..., ext=[\"" + spec.image_format + "\", \"face.png\"])`).\n"
        "`shards.json` lists every shard with its sample count and bytes."
    )  # fmt: skip
    return front_matter(header) + "\n" + body(spec, dataset, manifest, reading)


def hf_card(spec: ShardSpec, dataset: Dataset, manifest: dict[str, Any], features_yaml: list[dict[str, Any]]) -> str:
    header = common_header(dataset, manifest, "data/{split}-*")
    splits = [
        {"name": split, "num_bytes": sum(s["num_bytes"] for s in shards),
         "num_examples": sum(s["samples"] for s in shards)}
        for split, shards in manifest["shards"].items()
    ]  # fmt: skip
    header["dataset_info"] = {
        "features": features_yaml,
        "splits": splits,
        "download_size": sum(s["bytes"] for shards in manifest["shards"].values() for s in shards),
        "dataset_size": sum(s["num_bytes"] for s in splits),
    }
    reading = (
        "```python\nfrom datasets import load_dataset\n"
        "dataset = load_dataset(\"path/to/this/folder\")  # or the Hub repo id\n"
        "train = dataset[\"train\"].with_format(\"torch\")  # image: uint8 (3, H, W); face: uint8 (1, H, W), 0/255\n"
        "```\n\nUpload: `occgen export STORE --format hf --out DIR --push-to-hub USER/NAME` "
        "(or `huggingface-cli upload USER/NAME DIR . --repo-type dataset`)."
    )  # fmt: skip
    return front_matter(header) + "\n" + body(spec, dataset, manifest, reading)
