"""The audit section of ``occgen report``: the measures of ``occgen audit`` over a seeded sample of the dataset,
as the same summary ``occgen audit`` writes, a histogram per measure and the worst samples as thumbnails.

Where it sits: :func:`occgen.run.report_html.write_report` -> here. The measures themselves were taken in the
report's array pass (:func:`occgen.run.report_stats.measure_arrays` calls :func:`occgen.run.audit.measure_stored`,
as ``occgen audit`` does), so a sample's numbers on the page equal its row of ``audit.csv``; the summary of each
measure is :func:`occgen.run.audit.summarise` over the audited samples (the same thresholds, distribution and
worst samples as ``summary.json`` for those samples). Thumbnails are read here, in this process: at most
``audit_worst`` samples per measure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from occgen.run.audit import CLEAN, MEASURES, AuditRow, AuditSettings, AuditThresholds, summarise, worst_of
from occgen.run.audit_measures import SampleMeasures
from occgen.run.audit_sheet import sample_tile
from occgen.run.report_stats import ReportSettings, SampleFacts, jpeg_uri
from occgen.store.dataset import Dataset
from occgen.store.schema import IMAGE, OCCLUDER_MASK

#: Bins of each measure's histogram on the page: [0, upper] in this many bins, upper = the larger of twice the
#: threshold and the 99th percentile; values above upper are counted in the last bin (and as ``clipped``).
AUDIT_BINS = 20
AUDIT_TILE_PX = 96


def audit_rows(facts: Sequence[SampleFacts], measured: dict[int, SampleMeasures]) -> list[AuditRow]:
    """The :class:`AuditRow` of every measured sample (index order), named from its metadata as ``occgen audit``
    names it."""
    return [AuditRow(i, facts[i].sample_id, facts[i].recipe, facts[i].occluder_types, measured[i],
                     face_id=facts[i].face_id, occluder_ids=facts[i].occluder_ids)
            for i in sorted(measured)]  # fmt: skip


def measure_histogram(values: Sequence[float], threshold: float) -> dict[str, Any]:
    """``edges`` (AUDIT_BINS + 1), ``counts`` and ``clipped`` (values above the last edge, counted in the last bin)
    of one measure's values (>= 0)."""
    array = np.asarray(values, np.float64)
    upper = max(2.0 * threshold, float(np.percentile(array, 99)) if array.size else 0.0)
    upper = upper if upper > 0 else 1.0
    edges = np.linspace(0.0, upper, AUDIT_BINS + 1)
    counts, _ = np.histogram(np.clip(array, 0.0, upper), bins=edges)
    clipped = int(np.count_nonzero(array > upper))
    return {"edges": edges.tolist(), "counts": [int(c) for c in counts], "clipped": clipped}


def audit_numbers(
    dataset: Dataset, facts: Sequence[SampleFacts], measured: dict[int, SampleMeasures], settings: ReportSettings
) -> dict[str, Any]:
    """The page's ``audit`` block (JSON-ready): which samples were audited (``samples`` of ``of``, ``all``,
    ``seed``), the ``thresholds``, per measure the summary of ``occgen audit`` (``measures``), a ``histograms``
    entry and its ``worst`` samples (index, id, value, beyond), and every audited sample's ``values`` (column
    lists: ``index``, ``sample_id``, one list per measure, None where a sample has no value)."""
    rows = audit_rows(facts, measured)
    thresholds = AuditThresholds()
    held = {"clean": CLEAN in dataset.label_names}
    measures = summarise(rows, AuditSettings(worst=settings.audit_worst, thresholds=thresholds), held)
    values: dict[str, list[Any]] = {"index": [r.index for r in rows], "sample_id": [r.sample_id for r in rows]}
    histograms: dict[str, Any] = {}
    worst: dict[str, list[dict[str, Any]]] = {}
    for measure in MEASURES:
        values[measure.name] = [r.value(measure.name) for r in rows]
        measured_values = [v for v in values[measure.name] if v is not None]
        histograms[measure.name] = measure_histogram(measured_values, float(getattr(thresholds, measure.threshold)))
        worst[measure.name] = [{"index": s.index, "id": s.sample_id, "value": s.value, "beyond": s.beyond}
                               for s in worst_of(rows, measure, settings.audit_worst, thresholds)]  # fmt: skip
    return {
        "samples": len(rows),
        "of": len(facts),
        "all": len(rows) == len(facts),
        "seed": settings.seed,
        "thresholds": asdict(thresholds),
        "measures": measures,
        "histograms": histograms,
        "worst": worst,
        "values": values,
    }


def audit_thumbs(dataset: Dataset, audit: dict[str, Any], tile_px: int = AUDIT_TILE_PX) -> dict[int, str]:
    """{index: JPEG data URI} of every sample among the worst of a measure: the image beside the occluder's alpha
    in grey, its holes in red (the tile of ``occgen audit``'s sheet)."""
    indices = sorted({entry["index"] for entries in audit["worst"].values() for entry in entries})
    return {
        i: jpeg_uri(sample_tile(dataset.sample_array(IMAGE, i), dataset.sample_array(OCCLUDER_MASK, i), tile_px))
        for i in indices
    }
