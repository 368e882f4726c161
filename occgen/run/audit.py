"""``occgen audit``: every sample's quality measures over a store or a mix, so a bad source is found before
training. Writes ``audit.csv`` (one row per sample, its id first), ``summary.json`` (each measure's distribution
and the samples beyond its threshold) and ``worst.png`` (the worst samples per measure, :mod:`occgen.run.audit_sheet`).

Where it sits: ``occgen audit`` (:mod:`occgen.cli.audit`) -> :func:`run_audit` -> the dataset protocol
(:mod:`occgen.store.dataset`; a store and a mix read alike) -> the pure measures of
:mod:`occgen.run.audit_measures`. Samples are read in tasks of contiguous indices (a shard of the first store
each), in parallel when ``workers > 1``; a task returns only numbers, so memory stays flat whatever the store's
size. What each measure means and why its threshold is what it is: ``docs/audit.md``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.errors import ConfigError, StoreError
from occgen.core.files import atomic_write_text
from occgen.core.imageio import write_png
from occgen.core.labels import LABEL_ARRAYS
from occgen.core.location import Location
from occgen.run.audit_measures import SampleMeasures, measure_sample
from occgen.run.audit_sheet import SheetRow, WorstSample, audit_sheet
from occgen.run.parallel import run_tasks
from occgen.store import open_store
from occgen.store.dataset import Dataset
from occgen.store.schema import FACE_MASK, IMAGE, OCCLUDER_MASK

AMODAL, CLEAN = LABEL_ARRAYS["amodal"], LABEL_ARRAYS["clean"]
CSV_NAME, SUMMARY_NAME, SHEET_NAME = "audit.csv", "summary.json", "worst.png"
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


@dataclass(frozen=True, kw_only=True)
class AuditThresholds:
    """Where a measure's value makes a sample suspect (``*_max``: above it; ``*_min``: below it). The reasons for
    each default are in ``docs/audit.md``."""

    hole_frac_max: float = 0.01  # over 1 % of the filled silhouette is a hole
    fragment_frac_max: float = 0.02  # over 2 % of the silhouette is outside its largest piece
    sharpness_ratio_min: float = 0.1  # the occluder has under a tenth of the face's fine detail
    delta_e_min: float = 2.3  # mean colours closer than a just-noticeable difference
    edge_width_face_max: float = 0.04  # soft edge wider than 4 % of the face size (512² demo: 0.016-0.034)
    coverage_frac_max: float = 0.7  # over 70 % of the face hidden
    invisible_frac_max: float = 0.1  # over 10 % of the occluder's footprint looks like the clean face

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"audit threshold {item.name} must be a number >= 0, got {value!r}")


@dataclass(frozen=True)
class Measure:
    """A column of ``audit.csv``: its title, which side of its threshold is bad, the threshold's field in
    :class:`AuditThresholds` and what a sample or store needs for it."""

    name: str
    title: str
    bad: str  # "above" | "below"
    threshold: str
    needs: str


MEASURES: tuple[Measure, ...] = (
    Measure("hole_frac", "occluder holes", "above", "hole_frac_max", "an occluder (occluder_mask)"),
    Measure("fragment_frac", "occluder in pieces", "above", "fragment_frac_max", "an occluder (occluder_mask)"),
    Measure("sharpness_ratio", "occluder / face sharpness", "below", "sharpness_ratio_min",
            "an opaque occluder core and untouched visible face of 16+ interior px each"),
    Measure("delta_e", "colour distance to the face around", "below", "delta_e_min",
            "an occluder, visible face around it and the face size (face_px_before or face_mask_amodal)"),
    Measure("edge_width_face", "soft-edge width / face size", "above", "edge_width_face_max",
            "an occluder outline inside the image and the face size (face_px_before or face_mask_amodal)"),
    Measure("coverage_frac", "share of the face covered", "above", "coverage_frac_max",
            "the face size (face_px_before metadata or face_mask_amodal)"),
    Measure("invisible_frac", "occluder pixels that look like the clean face", "above", "invisible_frac_max",
            "clean_image (generate with --labels clean) and an occluder"),
)  # fmt: skip
#: Columns of ``audit.csv``: the sample, then the measures, then the raw sizes behind them.
CSV_COLUMNS = ("sample_id", "index", "recipe", "face_id", "occluder_ids", "occluder_types", *(m.name for m in MEASURES),
               "face_px", "occluder_px", "edge_width_px")  # fmt: skip


def parse_thresholds(items: Sequence[str]) -> AuditThresholds:
    """``["hole_frac_max=0.05", ...]`` (``--threshold``) -> :class:`AuditThresholds` (the rest at their defaults)."""
    names = [item.name for item in fields(AuditThresholds)]
    values: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in names:
            raise ConfigError(f"--threshold {item!r}: expected NAME=VALUE with NAME one of {', '.join(names)}")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--threshold {item!r}: {value!r} is not a number") from None
    return AuditThresholds(**values)


@dataclass(frozen=True, kw_only=True)
class AuditSettings:
    """``worst``: samples per measure on the sheet (and in ``summary.json``); ``tile_px``: side of each image
    on the sheet; ``workers``: processes reading samples (1: this one)."""

    worst: int = 8
    workers: int = 1
    tile_px: int = 96
    thresholds: AuditThresholds = field(default_factory=AuditThresholds)

    def __post_init__(self) -> None:
        if not 1 <= self.worst <= 64:
            raise ConfigError(f"--worst must be between 1 and 64, got {self.worst}")
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if not 32 <= self.tile_px <= 512:
            raise ConfigError(f"tile size must be between 32 and 512 px, got {self.tile_px}")


@dataclass(frozen=True)
class AuditRow:
    """One sample's line of ``audit.csv``."""

    index: int
    sample_id: str
    recipe: str
    occluder_types: tuple[str, ...]
    measures: SampleMeasures
    face_id: str = ""
    occluder_ids: tuple[str, ...] = ()

    def value(self, name: str) -> float | None:
        value = getattr(self.measures, name)
        return None if value is None else float(value)


@dataclass(frozen=True)
class AuditJob:
    """What every task needs (sent once to each worker): where the dataset is and which labels it holds."""

    location: Location
    recipe: str
    amodal: bool
    clean: bool


def measure_stored(
    dataset: Dataset, index: int, job: AuditJob, face_px_before: int | None,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> SampleMeasures:  # fmt: skip
    """The measures of sample ``index`` of ``dataset``: ``face_px_before`` from its metadata (else the amodal face
    mask's pixels, when the store holds it); ``arrays``: its (image, face_mask, occluder_mask) when already read.
    ``occgen audit`` and the audit section of ``occgen report`` both measure through here."""
    if arrays is None:
        image, face_mask, occluder_mask = (np.asarray(dataset.sample_array(name, index))
                                           for name in (IMAGE, FACE_MASK, OCCLUDER_MASK))  # fmt: skip
    else:
        image, face_mask, occluder_mask = arrays
    face_px = face_px_before
    if face_px is None and job.amodal:
        face_px = int(np.count_nonzero(dataset.label(AMODAL, index)))
    return measure_sample(
        image, face_mask, occluder_mask, face_px=None if face_px is None else int(face_px),
        clean_image=dataset.label(CLEAN, index, image) if job.clean else None,
    )  # fmt: skip


def audit_row(dataset: Dataset, index: int, meta: dict[str, Any], job: AuditJob) -> AuditRow:
    """The :class:`AuditRow` of sample ``index`` of ``dataset`` (``meta``: its metadata)."""
    face_px = meta.get("face_px_before")
    measures = measure_stored(dataset, index, job, None if face_px is None else int(face_px))
    types = tuple(str(t) for t in meta.get("occluder_types", []))
    return AuditRow(
        index, str(meta.get("sample_id", index)), str(meta.get("recipe", job.recipe)), types, measures,
        face_id=str(meta.get("face_id", "")), occluder_ids=tuple(str(o) for o in meta.get("occluder_ids", [])),
    )  # fmt: skip


def audit_chunk(job: AuditJob, bounds: tuple[int, int]) -> list[AuditRow]:
    """The rows of samples ``[start, stop)`` of the dataset at ``job.location``, read in ascending order."""
    dataset = open_store(job.location)
    start, stop = bounds
    metadata = dataset.metadata(range(start, stop))
    return [audit_row(dataset, index, meta, job) for index, meta in zip(range(start, stop), metadata, strict=True)]


def is_beyond(measure: Measure, value: float, thresholds: AuditThresholds) -> bool:
    limit = float(getattr(thresholds, measure.threshold))
    return value > limit if measure.bad == "above" else value < limit


def worst_of(rows: Sequence[AuditRow], measure: Measure, k: int, thresholds: AuditThresholds) -> list[WorstSample]:
    """The ``k`` samples with the worst values of ``measure`` (highest when ``above`` is bad), ties by index."""
    valued = [(value, row) for row in rows if (value := row.value(measure.name)) is not None]
    sign = -1.0 if measure.bad == "above" else 1.0
    valued.sort(key=lambda item: (sign * item[0], item[1].index))
    return [WorstSample(row.index, row.sample_id, value, is_beyond(measure, value, thresholds))
            for value, row in valued[:k]]  # fmt: skip


def distribution(values: Sequence[float]) -> dict[str, float | None]:
    """min, percentiles, max and mean of ``values`` (None for an empty list)."""
    array = np.asarray(values, np.float64)
    stats: dict[str, float | None] = {"min": None, **{f"p{p}": None for p in PERCENTILES}, "max": None, "mean": None}
    if array.size:
        stats.update({"min": float(array.min()), "max": float(array.max()), "mean": float(array.mean())})
        stats.update({f"p{p}": float(v) for p, v in zip(PERCENTILES, np.percentile(array, PERCENTILES), strict=True)})
    return stats


def sources_beyond(
    rows: Sequence[AuditRow], measure: Measure, thresholds: AuditThresholds, top: int = 10
) -> list[list[Any]]:
    """The occluders most often in samples beyond ``measure``'s threshold: ``[[occluder id, samples beyond, samples
    with it], ...]`` (at most ``top``, most beyond first, then by id), so that a bad source shows by its name."""
    beyond: Counter[str] = Counter()
    used: Counter[str] = Counter()
    for row in rows:
        value = row.value(measure.name)
        used.update(set(row.occluder_ids))
        if value is not None and is_beyond(measure, value, thresholds):
            beyond.update(set(row.occluder_ids))
    ranked = sorted(beyond.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [[name, count, used[name]] for name, count in ranked]


def summarise(rows: Sequence[AuditRow], settings: AuditSettings, held: dict[str, bool]) -> dict[str, Any]:
    """The ``measures`` part of ``summary.json``: per measure its threshold, how many samples are beyond it, how
    many have no value (and what the measure needs), its distribution and its worst samples."""
    thresholds = settings.thresholds
    summary: dict[str, Any] = {}
    for measure in MEASURES:
        values = [value for row in rows if (value := row.value(measure.name)) is not None]
        entry: dict[str, Any] = {
            "title": measure.title,
            "threshold": {"name": measure.threshold, "value": getattr(thresholds, measure.threshold),
                          "beyond": measure.bad},
            "beyond": sum(is_beyond(measure, v, thresholds) for v in values),
            "measured": len(values),
            "missing": len(rows) - len(values),
            "needs": measure.needs,
            "distribution": distribution(values),
            "worst": [[s.sample_id, s.value] for s in worst_of(rows, measure, settings.worst, thresholds)],
            "beyond_by_occluder": sources_beyond(rows, measure, thresholds),
        }  # fmt: skip
        if measure.name == "invisible_frac" and not held["clean"]:
            entry["unavailable"] = "the store holds no clean_image: generate with --labels clean"
        summary[measure.name] = entry
    return summary


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def csv_text(rows: Sequence[AuditRow], leading: Mapping[str, Sequence[Any]] | None = None) -> str:
    """``audit.csv``: :data:`CSV_COLUMNS`, one line per row in the given order (index order for ``occgen audit``);
    an empty cell has no value. ``leading``: columns put before them, one value per row (None: empty)."""
    leading = leading or {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*leading, *CSV_COLUMNS])
    for k, row in enumerate(rows):
        m = asdict(row.measures)
        cells = [row.sample_id, row.index, row.recipe, row.face_id, "+".join(row.occluder_ids),
                 "+".join(row.occluder_types)]  # fmt: skip
        cells += ["" if m[name] is None else str(m[name]) if isinstance(m[name], int) else f"{m[name]:.6g}"
                  for name in CSV_COLUMNS[len(cells):]]  # fmt: skip
        first = [_cell(values[k]) for values in leading.values()]
        writer.writerow([*first, *cells])
    return buffer.getvalue()


@dataclass(frozen=True)
class AuditResult:
    out: Path
    samples: int
    counts: dict[str, int]  # measure -> samples beyond its threshold
    summary: dict[str, Any]
    seconds: float


def run_audit(
    store: Path | str | Location, out: Path, settings: AuditSettings, on_progress: Callable[[int], None] | None = None
) -> AuditResult:
    """Measure every sample of ``store`` (a store or a mix), write :data:`CSV_NAME`, :data:`SUMMARY_NAME` and
    :data:`SHEET_NAME` into the folder ``out`` (made if missing; other files in it are left alone).
    ``on_progress(k)``: k more samples measured."""
    started = time.monotonic()
    dataset = open_store(store)
    n = len(dataset)
    if n == 0:
        raise StoreError(f"{dataset.path} holds no samples: nothing to audit")
    if dataset.location.is_local and out.resolve().is_relative_to(Path(dataset.path).resolve()):
        raise ConfigError(f"--out {out} is inside the store {dataset.path}; choose a folder outside it")
    held = {"amodal": AMODAL in dataset.label_names, "clean": CLEAN in dataset.label_names}
    chunk = max(1, int(dataset.parts[0].reader.card.get("shard_size") or 64))
    tasks = [(low, min(low + chunk, n)) for low in range(0, n, chunk)]
    job = AuditJob(dataset.location, str(dataset.card.get("recipe")), **held)
    rows: list[AuditRow] = []

    def collect(chunk_rows: list[AuditRow]) -> None:
        rows.extend(chunk_rows)
        if on_progress is not None:
            on_progress(len(chunk_rows))

    run_tasks(audit_chunk, tasks, shared=job, workers=min(settings.workers, len(tasks)), on_result=collect)
    rows.sort(key=lambda row: row.index)

    measures = summarise(rows, settings, held)
    sheet_rows = []
    for measure in MEASURES:
        entry = measures[measure.name]
        title = (f"{measure.name} ({measure.title}): {entry['beyond']} of {n} {measure.bad} "
                 f"{entry['threshold']['value']:g}" if entry["measured"] else
                 f"{measure.name}: no values ({entry.get('unavailable') or 'needs ' + measure.needs})")  # fmt: skip
        sheet_rows.append(SheetRow(title, tuple(worst_of(rows, measure, settings.worst, settings.thresholds))))
    summary = {
        "store": str(dataset.path),
        "n": n,
        "size": dataset.size,
        "recipes": dataset.recipes(),
        "labels": list(dataset.label_names),
        "thresholds": asdict(settings.thresholds),
        "measures": measures,
        "files": {"csv": CSV_NAME, "sheet": SHEET_NAME},
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create audit folder {out}: {error.strerror}; choose a writable --out") from error
    atomic_write_text(out / CSV_NAME, csv_text(rows))
    write_png(out / SHEET_NAME, audit_sheet(dataset, sheet_rows, settings.worst, settings.tile_px))
    atomic_write_text(out / SUMMARY_NAME, json.dumps(summary, indent=1) + "\n")
    counts = {name: int(entry["beyond"]) for name, entry in measures.items()}
    return AuditResult(out, n, counts, summary, time.monotonic() - started)
