"""Dataset statistics from per-sample metadata (no pixels are read): what `generate --stats` writes
as a DVC metrics file and what `occgen info --stats` prints."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from occgen.store.dataset import Dataset


def dataset_stats(reader: Dataset) -> dict[str, Any]:
    """Counts, occluder types, translucent share and the distribution of the occluded face fraction."""
    metadata = reader.metadata(range(len(reader)))
    before = np.array([m.get("face_px_before", 0) for m in metadata], np.float64)
    after = np.array([m.get("face_px_after", 0) for m in metadata], np.float64)
    occluded = np.divide(before - after, before, out=np.zeros_like(before), where=before > 0)
    types = Counter(kind for m in metadata for kind in m.get("occluder_types", []))
    disk = sum(f.stat().st_size for f in Path(reader.path).rglob("*") if f.is_file())
    return {
        "n": len(metadata),
        "faces": len({m.get("face_id") for m in metadata}),
        "occluder_types": dict(sorted(types.items())),
        "translucent_share": float(np.mean([bool(m.get("translucent")) for m in metadata])) if metadata else 0.0,
        "occluded_face_fraction": {
            "mean": float(occluded.mean()) if metadata else 0.0,
            "p10": float(np.percentile(occluded, 10)) if metadata else 0.0,
            "p50": float(np.percentile(occluded, 50)) if metadata else 0.0,
            "p90": float(np.percentile(occluded, 90)) if metadata else 0.0,
        },
        "retried_samples": int(sum(m.get("attempts", 1) > 1 for m in metadata)),
        "image_codec": reader.card.get("image_codec"),
        "bytes_per_sample": disk / max(len(metadata), 1),
    }
