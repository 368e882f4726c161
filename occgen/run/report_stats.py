"""The numbers behind ``occgen report``: counts and coverage from every sample's metadata, and the pixel
statistics (occluder area, position heat map, hand/skin colour distance, gallery thumbnails) from a
deterministic sample of the arrays; the audit measures (:func:`occgen.run.audit.measure_stored`) of a prefix of
the same seeded order are taken in the same pass (one image decode per sample), and summarised by
:mod:`occgen.run.report_audit`.

Where it sits: ``occgen report`` (:mod:`occgen.cli.report`) -> :func:`occgen.run.report_html.write_report`
-> here -> the dataset protocol (:mod:`occgen.store.dataset`). Metadata is read in batches (one read of a
range of samples, no pixels decoded); arrays are read per sample in ascending order, which is one inner chunk
of a local zarr shard and whole-shard blocks on object storage (:mod:`occgen.store.blocks`), in parallel
tasks of contiguous indices when ``workers > 1``.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError
from occgen.core.location import Location
from occgen.run.audit import AMODAL, CLEAN, AuditJob, measure_stored
from occgen.run.audit_measures import SampleMeasures
from occgen.run.parallel import run_tasks
from occgen.run.preview import overlay_labels
from occgen.store import open_store
from occgen.store.dataset import Dataset
from occgen.store.schema import FACE_MASK, IMAGE, OCCLUDER_MASK

#: Stream id of the report's choice of samples (not a recipe: kept apart from occgen.core.rng's table).
REPORT_STREAM = 1001
#: Occluder coverage of the face is binned in 20 bins of 5 % over [0, 1] (the last bin holds 1.0).
COVERAGE_EDGES = np.linspace(0.0, 1.0, 21)
AREA_EDGES = np.linspace(0.0, 1.0, 21)
DELTA_E_EDGES = np.linspace(0.0, 60.0, 25)
METADATA_BATCH = 4096
#: A hand sample's colour distance needs at least this many opaque hand and visible face pixels.
MIN_COLOUR_PX = 16
NO_OCCLUDER = "(none)"


@dataclass(frozen=True, kw_only=True)
class ReportSettings:
    """``gallery``: samples shown in the paged gallery; ``array_samples``: samples whose arrays are read for the
    pixel statistics (the gallery is a prefix of them); ``extremes``: most and least covered samples shown;
    ``audit``: the audit section, over ``audit_samples`` samples (a prefix of the same seeded order), with
    ``audit_worst`` thumbnails per measure."""

    gallery: int = 240
    array_samples: int = 1024
    seed: int = 0
    workers: int = 1
    thumb_px: int = 128
    extremes: int = 8
    audit: bool = True
    audit_samples: int = 1024
    audit_worst: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.audit_worst <= 64:
            raise ConfigError(f"audit thumbnails per measure must be between 1 and 64, got {self.audit_worst}")
        for name in ("gallery", "array_samples", "extremes", "seed", "audit_samples"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.thumb_px < 16:
            raise ConfigError(f"thumbnail size must be at least 16 px, got {self.thumb_px}")


def coverage_of(metadata: dict[str, Any]) -> float | None:
    """The share of the face's pixels before occlusion that the occluder covers,
    ``(face_px_before - face_px_after) / face_px_before``; None without those keys or without a face."""
    before, after = metadata.get("face_px_before"), metadata.get("face_px_after")
    if before is None or after is None or before <= 0:
        return None
    return (float(before) - float(after)) / float(before)


@dataclass(frozen=True)
class SampleFacts:
    """What the report keeps of one sample's metadata."""

    index: int
    sample_id: str
    recipe: str
    face_id: str
    occluder_types: tuple[str, ...]
    coverage: float | None
    face_px_before: int | None
    face_px_after: int | None
    occluder_ids: tuple[str, ...] = ()


def read_facts(dataset: Dataset, batch: int = METADATA_BATCH) -> list[SampleFacts]:
    """Every sample's :class:`SampleFacts`, reading metadata ``batch`` samples at a time."""
    facts: list[SampleFacts] = []
    recipe = str(dataset.card.get("recipe"))
    for low in range(0, len(dataset), batch):
        indices = range(low, min(low + batch, len(dataset)))
        for index, m in zip(indices, dataset.metadata(indices), strict=True):
            before, after = m.get("face_px_before"), m.get("face_px_after")
            facts.append(SampleFacts(
                index=index, sample_id=str(m.get("sample_id", index)), recipe=str(m.get("recipe", recipe)),
                face_id=str(m.get("face_id", "")), occluder_types=tuple(str(t) for t in m.get("occluder_types", [])),
                coverage=coverage_of(m), face_px_before=None if before is None else int(before),
                face_px_after=None if after is None else int(after),
                occluder_ids=tuple(str(o) for o in m.get("occluder_ids", [])),
            ))  # fmt: skip
    return facts


def choose_samples(n: int, count: int, seed: int) -> np.ndarray:
    """``min(count, n)`` distinct indices in the order they are picked, from ``default_rng([seed, REPORT_STREAM])``;
    a smaller ``count`` picks a prefix of a larger one."""
    rng = np.random.default_rng([seed, REPORT_STREAM])
    return rng.permutation(n)[: min(count, n)].astype(np.int64)


def histogram(values: Sequence[float] | np.ndarray, edges: np.ndarray) -> list[int]:
    """Counts of ``values`` in the bins ``edges`` (numpy's rule: the last bin is closed)."""
    counts, _ = np.histogram(np.asarray(values, np.float64), bins=edges)
    return [int(c) for c in counts]


def delta_e_hand_skin(image: np.ndarray, face_mask: np.ndarray, occluder_mask: np.ndarray) -> float | None:
    """CIE76 distance between the mean CIELAB colour of the occluder's opaque pixels (alpha >= 0.5) and the mean
    CIELAB colour of the visible face pixels of one composite; None when either has under MIN_COLOUR_PX pixels."""
    hand = occluder_mask >= 128
    face = face_mask.astype(bool) & ~hand
    if np.count_nonzero(hand) < MIN_COLOUR_PX or np.count_nonzero(face) < MIN_COLOUR_PX:
        return None
    means = []
    for where in (hand, face):  # only the pixels that count are converted: L in [0, 100], a/b about [-128, 127]
        pixels = image[where].astype(np.float32).reshape(-1, 1, 3) / 255.0
        means.append(cv2.cvtColor(pixels, cv2.COLOR_RGB2Lab).reshape(-1, 3).mean(axis=0, dtype=np.float64))
    return float(np.linalg.norm(means[0] - means[1]))


def thumbnail_uri(image: np.ndarray, face_mask: np.ndarray, occluder_mask: np.ndarray, px: int) -> str:
    """A JPEG data URI of the image beside its overlay (face green, occluder red), each ``px`` square (the overlay
    is drawn on the downsized image: nearest for the face mask, area for the image and the occluder alpha)."""
    small = cv2.resize(image, (px, px), interpolation=cv2.INTER_AREA)
    face = cv2.resize(face_mask, (px, px), interpolation=cv2.INTER_NEAREST)
    alpha = cv2.resize(occluder_mask, (px, px), interpolation=cv2.INTER_AREA)
    return jpeg_uri(np.concatenate([small, overlay_labels(small, face, alpha)], axis=1))


def jpeg_uri(rgb: np.ndarray) -> str:
    """A JPEG (quality 85) data URI of a uint8 (H, W, 3) RGB image."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise ConfigError("OpenCV could not encode a report thumbnail as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


@dataclass
class ArrayFacts:
    """Pixel statistics of some samples; two of them add up (:meth:`merge`)."""

    alpha_sum: np.ndarray | None = None  # int64 (S, S): sum of occluder_mask (alpha x 255)
    face_sum: np.ndarray | None = None  # int64 (S, S): sum of the visible face mask
    area: dict[int, float] = field(default_factory=dict)  # index -> share of the image with occluder_mask > 0
    face_px: dict[int, int] = field(default_factory=dict)  # index -> visible face pixels in face_mask
    delta_e: dict[int, float] = field(default_factory=dict)  # index -> hand/skin distance (hand samples only)
    thumbs: dict[int, str] = field(default_factory=dict)  # index -> data URI
    audit: dict[int, SampleMeasures] = field(default_factory=dict)  # index -> audit measures (audited samples)

    def add_maps(self, occluder_mask: np.ndarray, face_mask: np.ndarray) -> None:
        if self.alpha_sum is None or self.face_sum is None:
            self.alpha_sum = np.zeros(occluder_mask.shape, np.int64)
            self.face_sum = np.zeros(face_mask.shape, np.int64)
        self.alpha_sum += occluder_mask
        self.face_sum += face_mask

    def merge(self, other: ArrayFacts) -> None:
        if other.alpha_sum is not None and other.face_sum is not None:
            self.add_maps(other.alpha_sum, other.face_sum)
        self.area.update(other.area)
        self.face_px.update(other.face_px)
        self.delta_e.update(other.delta_e)
        self.thumbs.update(other.thumbs)
        self.audit.update(other.audit)


@dataclass(frozen=True)
class ArrayJob:
    """What every array task needs (sent once to each worker). ``audited``: the samples to audit (with ``audit``,
    the labels the dataset holds, and ``face_px_before``, each one's metadata value); ``audit_only``: the audited
    samples outside the array sample, left out of the pixel statistics."""

    location: Location
    hand_samples: frozenset[int]
    thumbnails: frozenset[int]
    thumb_px: int
    audit: AuditJob | None = None
    audited: frozenset[int] = frozenset()
    audit_only: frozenset[int] = frozenset()
    face_px_before: dict[int, int | None] = field(default_factory=dict)


def measure_arrays(job: ArrayJob, indices: list[int]) -> ArrayFacts:
    """The :class:`ArrayFacts` of samples ``indices`` (ascending) of the dataset at ``job.location``. The masks of
    every sample are read; the image (the costly decode) only for hand samples, thumbnails and audited samples."""
    dataset = open_store(job.location)
    facts = ArrayFacts()
    for index in indices:
        occluder_mask = np.asarray(dataset.sample_array(OCCLUDER_MASK, index))
        face_mask = np.asarray(dataset.sample_array(FACE_MASK, index))
        if index not in job.audit_only:
            facts.add_maps(occluder_mask, face_mask)
            facts.area[index] = float(np.count_nonzero(occluder_mask)) / occluder_mask.size
            facts.face_px[index] = int(np.count_nonzero(face_mask))
        if index not in job.hand_samples and index not in job.thumbnails and index not in job.audited:
            continue
        image = np.asarray(dataset.sample_array(IMAGE, index))
        if job.audit is not None and index in job.audited:
            arrays = (image, face_mask, occluder_mask)
            facts.audit[index] = measure_stored(dataset, index, job.audit, job.face_px_before.get(index), arrays)
        if index in job.hand_samples:
            distance = delta_e_hand_skin(image, face_mask, occluder_mask)
            if distance is not None:
                facts.delta_e[index] = distance
        if index in job.thumbnails:
            facts.thumbs[index] = thumbnail_uri(image, face_mask, occluder_mask, job.thumb_px)
    return facts


def read_arrays(dataset: Dataset, job: ArrayJob, indices: Sequence[int], workers: int) -> ArrayFacts:
    """:func:`measure_arrays` over ``indices`` in tasks of contiguous ascending indices (in this process when
    ``workers == 1``)."""
    ordered = sorted(int(i) for i in indices)
    per_task = max(16, -(-len(ordered) // (4 * workers))) if ordered else 1
    tasks = [ordered[k : k + per_task] for k in range(0, len(ordered), per_task)]
    total = ArrayFacts()
    run_tasks(measure_arrays, tasks, shared=job, workers=min(workers, max(len(tasks), 1)), on_result=total.merge)
    return total


def audit_indices(n: int, settings: ReportSettings) -> list[int]:
    """The samples the report audits, ascending: the first ``audit_samples`` of the seeded order of
    :func:`choose_samples` (a prefix of it, so with the defaults the array sample itself); none without
    ``settings.audit``."""
    if not settings.audit:
        return []
    return sorted(int(i) for i in choose_samples(n, settings.audit_samples, settings.seed))


def count_table(counter: Counter[str]) -> list[list[Any]]:
    """``[[name, count], ...]``, most common first, then by name."""
    return [[name, count] for name, count in sorted(counter.items(), key=lambda item: (-item[1], item[0]))]


def summarise(dataset: Dataset, settings: ReportSettings) -> tuple[dict[str, Any], ArrayFacts, list[SampleFacts]]:
    """The report's numbers (a JSON-ready dict), the pixel statistics and every sample's facts. With
    ``settings.audit``, the pixel statistics hold the audit measures of :func:`audit_indices` too."""
    facts = read_facts(dataset)
    n = len(facts)
    chosen = choose_samples(n, max(settings.array_samples, settings.gallery), settings.seed)
    audited = audit_indices(n, settings)
    gallery = sorted(int(i) for i in chosen[: settings.gallery])
    covered = sorted((f for f in facts if f.coverage is not None), key=lambda f: (-(f.coverage or 0.0), f.index))
    k = min(settings.extremes, len(covered) // 2) if settings.extremes else 0
    most = [f.index for f in covered[:k]]
    least = [f.index for f in reversed(covered[len(covered) - k :])] if k else []
    hands = frozenset(int(i) for i in chosen if "hand" in facts[int(i)].occluder_types)
    read = set(int(i) for i in chosen) | set(most) | set(least)
    audit = AuditJob(dataset.location, str(dataset.card.get("recipe")), amodal=AMODAL in dataset.label_names,
                     clean=CLEAN in dataset.label_names)  # fmt: skip
    job = ArrayJob(dataset.location, hands, frozenset(gallery) | frozenset(most) | frozenset(least), settings.thumb_px,
                   audit=audit, audited=frozenset(audited), audit_only=frozenset(set(audited) - read),
                   face_px_before={i: facts[i].face_px_before for i in audited})  # fmt: skip
    pixels = read_arrays(dataset, job, sorted(read | set(audited)), settings.workers)

    types: Counter[str] = Counter()
    for f in facts:
        types.update(set(f.occluder_types) or {NO_OCCLUDER})
    coverages = [f.coverage for f in facts if f.coverage is not None]
    by_type = {kind: histogram([f.coverage for f in facts if kind in f.occluder_types and f.coverage is not None],
                               COVERAGE_EDGES) for kind in sorted(types) if kind != NO_OCCLUDER}  # fmt: skip
    checked = [i for i in pixels.face_px if facts[i].face_px_after is not None]
    differences = [abs(pixels.face_px[i] - (facts[i].face_px_after or 0)) for i in checked]
    stats_indices = [int(i) for i in chosen]
    areas = [pixels.area[i] for i in stats_indices]
    distances = [pixels.delta_e[i] for i in stats_indices if i in pixels.delta_e]
    faces = Counter(f.face_id for f in facts)
    per_face = np.array(list(faces.values()) or [0])

    def entry(index: int) -> dict[str, Any]:
        f = facts[index]
        return {"index": index, "id": f.sample_id, "recipe": f.recipe, "face": f.face_id,
                "types": list(f.occluder_types) or [NO_OCCLUDER], "coverage": f.coverage}  # fmt: skip

    summary: dict[str, Any] = {
        "n": n,
        "size": dataset.size,
        "recipes": count_table(Counter(f.recipe for f in facts)),
        "parts": [[part.name, len(part.indices)] for part in dataset.parts],
        "occluder_types": count_table(types),
        "occluders_per_sample": count_table(Counter(str(len(f.occluder_types)) for f in facts)),
        "faces": {
            "distinct": len(faces),
            "top": count_table(faces)[:20],
            "min": int(per_face.min()),
            "median": float(np.median(per_face)),
            "max": int(per_face.max()),
        },  # fmt: skip
        "coverage": {
            "edges": COVERAGE_EDGES.tolist(),
            "counts": histogram(coverages, COVERAGE_EDGES),
            "by_type": by_type,
            "samples": len(coverages),
            "outside_0_1": sum(not 0.0 <= c <= 1.0 for c in coverages),  # not in any bin
            "without_metadata": n - len(coverages),
            "mean": float(np.mean(coverages)) if coverages else None,
            "median": float(np.median(coverages)) if coverages else None,
        },
        "arrays": {
            "samples": len(stats_indices),
            "of": n,
            "all": len(stats_indices) == n,
            "seed": settings.seed,
            "area": {
                "edges": AREA_EDGES.tolist(),
                "counts": histogram(areas, AREA_EDGES),
                "mean": float(np.mean(areas)) if areas else None,
            },
            "delta_e": {
                "edges": DELTA_E_EDGES.tolist(),
                "counts": histogram(distances, DELTA_E_EDGES),
                "samples": len(distances),
                "hand_samples": len(hands),
                "mean": float(np.mean(distances)) if distances else None,
                "median": float(np.median(distances)) if distances else None,
            },
            "coverage_check": {
                "checked": len(checked),
                "agree": sum(d == 0 for d in differences),
                "max_abs_difference_px": max(differences, default=0),
            },
        },  # fmt: skip
        "gallery": [entry(i) for i in gallery],
        "most_covered": [entry(i) for i in most],
        "least_covered": [entry(i) for i in least],
    }
    return summary, pixels, facts
