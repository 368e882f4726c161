"""The matting stage: hand photos -> RGBA cut-outs + ``manifest.json`` (``occgen hands matte``).

Output layout (``out``)::

    hands/<id>.png       RGBA, cropped to the hand (alpha > 0); RGB = pymatting's foreground estimate
    rejected/<id>.png    the cut-outs that fail the quality thresholds (never in the manifest's hands)
    records/<id>.json    one record per matted hand with its quality measures (written after its PNG)
    quality.csv          one row per matted hand: its measures, passed or not, and why not
    manifest.json        every passed record whose PNG exists, the rejected ones with reasons, the skipped
                         inputs with reasons, the config

Resumable: a photo whose record exists, whose PNG exists and whose source sha256, user mask sha256 (if
any) and matting config match is not matted again. Parallel over files with a process pool. A photo
that cannot be matted (unreadable, no foreground) is a counted, reported skip; the manifest never lists
a file that was not written. A matted hand that fails the quality thresholds
(:mod:`occgen.prep.hands.quality`) is moved to ``rejected/`` and counted; the thresholds are applied at
every run from the recorded measures, so changing only them re-sorts the cut-outs without matting again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.errors import EmptyOccluderError, ImageReadError, SourceError
from occgen.core.files import atomic_write_text, sha256_file
from occgen.core.geometry import box_slices, mask_bbox
from occgen.core.imageio import read_binary_mask, read_image, resize_image, resize_labels, write_png
from occgen.core.params import to_plain
from occgen.prep.hands.elevenk import HandFilter, HandPhoto, open_hand_photos
from occgen.prep.hands.matting import MattingConfig, auto_trimap, mask_trimap, matte
from occgen.prep.hands.quality import QUALITY_FIELDS, QualityConfig, failed_checks, measure_cutout
from occgen.prep.objects.config import UpscaleConfig
from occgen.sources.hand_orientation import finger_direction
from occgen.sources.hands import HANDS_DIR, MANIFEST, MANIFEST_VERSION

RECORDS_DIR = "records"
REJECTED_DIR = "rejected"
QUALITY_CSV = "quality.csv"


@dataclass(frozen=True, kw_only=True)
class HandsConfig:
    """``params.yaml`` section ``hands``: which photos, and how to matte them."""

    path: Path | None = None  # 11k Hands root (Hands/ + HandInfo.csv) or a folder of photos
    aspects: tuple[str, ...] = ()
    no_accessories: bool = False
    no_irregularities: bool = False
    names_file: Path | None = None  # one image name per line (the NatOcc paper used 200 hands)
    limit: int = 0
    matting: MattingConfig = field(default_factory=MattingConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)  # thresholds a cut-out must pass
    # `occgen occluders upscale --section hands`: super-resolution of the matted hands (the NatOcc
    # authors' hand assets were super-resolved). scale 1 keeps them as matted.
    upscale: UpscaleConfig = field(default_factory=lambda: UpscaleConfig(scale=1))

    def hand_filter(self) -> HandFilter:
        return HandFilter(
            aspects=self.aspects, no_accessories=self.no_accessories, no_irregularities=self.no_irregularities,
            names_file=self.names_file, limit=self.limit,
        )  # fmt: skip


@dataclass(frozen=True)
class MatteReport:
    out: Path
    written: int
    resumed: int
    skipped: list[dict[str, str]]
    seconds_per_hand: float
    rejected: list[dict[str, Any]] = field(default_factory=list)  # failed the quality thresholds
    shipped: int = 0  # cut-outs in the manifest


def config_digest(config: MattingConfig, quality: QualityConfig | None = None) -> str:
    """Digest of what a record depends on: the matting config and the quality measures' own parameters
    (not the thresholds, which are applied at every run)."""
    plain: Any = to_plain(config)
    if quality is not None:
        plain = {"matting": plain, "gap_opening_frac": quality.gap_opening_frac,
                 "min_part_frac": quality.min_part_frac, "neck_frac": quality.neck_frac}  # fmt: skip
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]


def _mask_path(mask_dir: Path, hand_id: str) -> Path:
    for suffix in (".png", ".jpg", ".bmp"):
        candidate = mask_dir / f"{hand_id}{suffix}"
        if candidate.is_file():
            return candidate
    raise SourceError(f"no mask for {hand_id} in {mask_dir}; expected {hand_id}.png (0/255 or 0/1)")


def matte_photo(
    photo: HandPhoto,
    out: Path,
    config: MattingConfig,
    mask_dir: Path | None,
    source_sha256: str,
    mask_sha256: str | None = None,
    quality: QualityConfig | None = None,
) -> dict[str, Any]:
    """Matte one photo, write ``hands/<id>.png`` then ``records/<id>.json`` (with the quality measures);
    return the record.

    Raises :class:`ImageReadError` / :class:`EmptyOccluderError` / :class:`SourceError` for a skip.
    """
    image = read_image(photo.path)
    height, width = image.shape[:2]
    scale = min(1.0, config.max_side_px / max(height, width))
    if scale < 1.0:
        image = resize_image(image, (max(round(width * scale), 1), max(round(height * scale), 1)))
    if mask_dir is not None:
        mask = read_binary_mask(_mask_path(mask_dir, photo.hand_id))
        if mask.shape != (height, width):
            raise SourceError(
                f"mask for {photo.hand_id} is {mask.shape[1]}x{mask.shape[0]}, the photo {width}x{height}"
            )
        mask = resize_labels(mask, (image.shape[1], image.shape[0]))
        trimap = mask_trimap(mask, config)
    else:
        trimap = auto_trimap(image, config)
    result = matte(image, trimap, config)
    quality = quality or QualityConfig()
    measures = measure_cutout(result.alpha, quality)
    direction = finger_direction(result.alpha)
    alpha8 = np.clip(result.alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    found = mask_bbox(alpha8)
    if found is None:
        raise EmptyOccluderError("the solved alpha is empty")
    y0, x0, y1, x1 = found
    window = box_slices(found)
    rgba = np.dstack([result.foreground[window], alpha8[window]])
    png = out / HANDS_DIR / f"{photo.hand_id}.png"
    write_png(png, rgba)
    record = {
        "id": photo.hand_id,
        "file": f"{HANDS_DIR}/{png.name}",
        "source": photo.path.name,
        "source_sha256": source_sha256,
        "source_size": [width, height],
        "scale": scale,
        "bbox": [x0, y0, x1, y1],  # in the (scaled) matting frame
        "size": [x1 - x0, y1 - y0],
        "finger_angle_deg": round(direction.angle_deg, 3),
        "wrist_side": direction.wrist_side,
        "direction_method": direction.method,
        "trimap": "mask" if mask_dir is not None else "auto",
        "mask_sha256": mask_sha256,
        "unknown_frac": round(result.unknown_frac, 4),
        "matting": config_digest(config, quality),
        "quality": measures,
        "attributes": photo.attributes,
    }
    _write_json_atomic(out / RECORDS_DIR / f"{photo.hand_id}.json", record)
    return record


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))


def _done(
    out: Path, photo: HandPhoto, digest: str, source_sha256: str, mask_sha256: str | None
) -> dict[str, Any] | None:
    record_path = out / RECORDS_DIR / f"{photo.hand_id}.json"
    if not record_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text())
    except json.JSONDecodeError:
        return None
    if not isinstance(record.get("file"), str) or not _placed(out, record).is_file():
        return None
    if record.get("source_sha256") != source_sha256 or record.get("matting") != digest:
        return None
    if record.get("mask_sha256") != mask_sha256:  # a new, changed or dropped user mask
        return None
    return record


def _placed(out: Path, record: dict[str, Any]) -> Path:
    """Where the record's PNG is now: ``hands/`` or ``rejected/`` (an earlier run may have moved it)."""
    name = Path(record["file"]).name
    shipped = out / HANDS_DIR / name
    return shipped if shipped.is_file() else out / REJECTED_DIR / name


def _sort_by_quality(out: Path, record: dict[str, Any], quality: QualityConfig) -> list[str]:
    """Move the record's PNG to ``hands/`` (passed) or ``rejected/`` (failed); return the failed checks."""
    reasons = failed_checks(record["quality"], quality)
    current = _placed(out, record)
    target = out / (REJECTED_DIR if reasons else HANDS_DIR) / current.name
    if current != target:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(current, target)
    file = f"{target.parent.name}/{target.name}"
    if record["file"] != file:
        record["file"] = file
        _write_json_atomic(out / RECORDS_DIR / f"{record['id']}.json", record)
    return reasons


def _quality_csv(records: list[dict[str, Any]], verdicts: dict[str, list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "source", "aspect", "passed", "reasons", *QUALITY_FIELDS])
    for record in records:
        measures = record["quality"]
        values = [" ".join(v) if isinstance(v, list) else v for v in (measures[k] for k in QUALITY_FIELDS)]
        reasons = verdicts[record["id"]]
        aspect = record.get("attributes", {}).get("aspectOfHand", "")
        writer.writerow([record["id"], record["source"], aspect, not reasons, "; ".join(reasons), *values])
    return buffer.getvalue()


def _work(
    args: tuple[HandPhoto, Path, MattingConfig, Path | None, str, str | None, QualityConfig],
) -> tuple[str, dict[str, Any] | str]:
    photo, out, config, mask_dir, sha, mask_sha, quality = args
    try:
        return "ok", matte_photo(photo, out, config, mask_dir, sha, mask_sha, quality)
    except (ImageReadError, EmptyOccluderError, SourceError) as error:
        return "skip", str(error)


def run_matting(
    src: Path,
    out: Path,
    config: HandsConfig,
    *,
    mask_dir: Path | None = None,
    workers: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
) -> MatteReport:
    """Matte every selected photo under ``src`` into ``out`` (see the module docstring).

    ``on_progress(done, total)`` is called after each photo.
    """
    import time

    photos, skipped = open_hand_photos(src, config.hand_filter())
    if mask_dir is not None and not Path(mask_dir).is_dir():
        raise SourceError(f"mask folder not found: {mask_dir}; pass a folder of <id>.png hand masks")
    out = Path(out)
    (out / HANDS_DIR).mkdir(parents=True, exist_ok=True)
    digest = config_digest(config.matting, config.quality)
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for photo in photos:
        sha = sha256_file(photo.path)
        mask_sha = None
        if mask_dir is not None:
            try:
                mask_sha = sha256_file(_mask_path(Path(mask_dir), photo.hand_id))
            except SourceError:
                mask_sha = "missing"  # matting it reports the skip
        record = _done(out, photo, digest, sha, mask_sha)
        if record is not None:
            records[photo.hand_id] = record
        else:
            todo.append((photo, out, config.matting, mask_dir, sha, mask_sha, config.quality))
    resumed = len(records)
    total, finished = len(photos), resumed
    if on_progress:
        on_progress(finished, total)
    start = time.perf_counter()
    photos_todo = [args[0] for args in todo]
    if workers <= 1 or len(todo) <= 1:
        results = list(_tick(map(_work, todo), on_progress, finished, total))
    else:
        # spawn, not fork: pymatting's numba runtime uses OpenMP, which must not be forked.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
            results = list(_tick(pool.map(_work, todo), on_progress, finished, total))
    outcomes = list(zip(photos_todo, results, strict=True))
    seconds = time.perf_counter() - start
    for photo, (status, value) in outcomes:
        if status == "ok":
            records[photo.hand_id] = value
        else:
            skipped.append({"source": photo.path.name, "reason": str(value)})
            # A stale cut-out from an earlier run must not outlive its failed re-matting.
            for stale in (
                out / HANDS_DIR / f"{photo.hand_id}.png", out / REJECTED_DIR / f"{photo.hand_id}.png",
                out / RECORDS_DIR / f"{photo.hand_id}.json",
            ):  # fmt: skip
                stale.unlink(missing_ok=True)
    matted = [records[k] for k in sorted(records) if _placed(out, records[k]).is_file()]
    verdicts = {record["id"]: _sort_by_quality(out, record, config.quality) for record in matted}
    rejected = [
        {"id": r["id"], "source": r["source"], "file": r["file"], "reasons": verdicts[r["id"]]}
        for r in matted if verdicts[r["id"]]
    ]  # fmt: skip
    manifest = {
        "version": MANIFEST_VERSION,
        "source": str(Path(src).resolve()),
        "matting": to_plain(config.matting),
        "quality": to_plain(config.quality),
        "hands": [r for r in matted if not verdicts[r["id"]]],
        "rejected": rejected,
        "skipped": skipped,
    }
    atomic_write_text(out / QUALITY_CSV, _quality_csv(matted, verdicts))
    _write_json_atomic(out / MANIFEST, manifest)
    return MatteReport(out, len(todo) - sum(1 for _, (s, _) in outcomes if s != "ok"), resumed, skipped,
                       seconds / max(len(todo), 1), rejected, len(matted) - len(rejected))  # fmt: skip


def _init_worker() -> None:
    # One thread per worker process: the pool already uses the cores (set before pymatting is imported).
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


def _tick(results: Any, on_progress: Callable[[int, int], None] | None, done: int, total: int) -> Any:
    for result in results:
        done += 1
        if on_progress:
            on_progress(done, total)
        yield result


def with_matting(config: HandsConfig, **changes: Any) -> HandsConfig:
    """``config`` with its matting config changed (CLI overrides)."""
    return replace(config, matting=replace(config.matting, **changes))
