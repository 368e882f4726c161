"""``occgen export --format dfl``: a DeepFaceLab faceset for XSeg training and the XSegEditor (issue 26).

Where it sits: an :class:`occgen.run.export_base.ExportWriter` (one chunk = one store shard), run and resumed by
the one export framework. The store needs its ``landmarks`` label (``--labels landmarks``).

What a DeepFaceLab aligned face is (facts from DeepFaceLab's ``DFLIMG/DFLJPG.py``, ``core/imagelib/SegIEPolys.py``
and ``facelib/FaceType.py``, iperov/DeepFaceLab commit 46fc239, read for facts only): a JPEG whose APP15
segment (marker ``FF EF``, a big-endian 2-byte length that counts itself, placed after the last APPn segment)
holds a pickled dict. occgen writes, per sample, ``<out>/<sample_id>.jpg`` with:

- ``face_type`` ``"whole_face"``; the face re-aligned by its five points to facefusion's ``dfl_whole_face``
  template (:mod:`occgen.core.alignment`) at ``size_px`` (256) px;
- ``landmarks``: the store's points (its scheme: ``occgen-parsing-13``, or the face source's own ``ibug-68`` or
  ``five-point``) moved into the aligned face (NaN: missing) and ``occgen_landmark_scheme`` naming them; the
  five alignment points come from any scheme's eyes, nose and mouth corners. DeepFaceLab's own landmarks are
  68 points (``ibug-68``): with another scheme its tools that re-derive a face type or merge from them (not
  XSeg training at ``whole_face``, which reads only image and mask) do not work on this faceset;
- ``source_filename`` (``<sample_id>.png``) and ``image_to_face_mat`` (2x3, store image -> aligned face);
- ``xseg_mask``: the aligned visible-face mask as PNG bytes (0/255), a uint8 array as DeepFaceLab keeps it;
- ``seg_ie_polys``: ``{"polys": [{"type": 1 include | 0 exclude, "pts": [[x, y], ...]}]}``, the mask's outer
  contours (include) and holes (exclude), so the XSegEditor can edit them. DeepFaceLab's XSeg trainer uses
  the polygons when a face has them, so they are traced closely (``cv2.approxPolyDP`` within 1 px); a mask too
  ragged for one JPEG segment (65533 bytes) is simplified (:data:`SIMPLIFY_STEPS`), or left without polygons.

Plain lists everywhere but the mask: DeepFaceLab runs NumPy 1.x, which cannot unpickle NumPy 2's arrays
(they name ``numpy._core``); the mask array is pickled as ``numpy.frombuffer(bytes, "|u1")``, which both read.
A sample whose five points are not all there is left out and listed in ``skipped.txt``.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.alignment import alignment_matrix, five_points, get_template
from occgen.core.errors import ConfigError, StoreError
from occgen.core.landmark_schemes import scheme_of_points
from occgen.core.location import Location
from occgen.core.targets import AffineWarp, Target, Targets, apply_geometric
from occgen.run.export_base import (
    WORK_DIR,
    Chunk,
    ChunkFiles,
    chunks_of,
    named_samples,
    open_work,
    run_export,
)
from occgen.run.export_landmarked import LandmarkedWriter, open_landmarked_export
from occgen.store.lock import store_lock
from occgen.store.schema import FACE_MASK, IMAGE

DFL_TEMPLATE = "dfl_whole_face"
APP15 = 0xEF
#: A JPEG segment's payload is at most 65535 - 2 bytes (the length field counts itself).
MAX_SEGMENT = 65533


class _DflPickler(pickle.Pickler):
    """Pickles NumPy arrays as ``numpy.frombuffer(bytes, dtype)`` (1-D), readable by NumPy 1.x and 2.x."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return np.frombuffer, (obj.tobytes(), obj.dtype.str)
        return NotImplemented


def dfl_pickle(value: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    _DflPickler(buffer, protocol=3).dump(value)  # protocol 3: DeepFaceLab's Python 3.6/3.7 reads it
    return buffer.getvalue()


def insert_app15(jpeg: bytes, payload: bytes, *, name: str = "image") -> bytes:
    """``jpeg`` with an APP15 segment holding ``payload``, after its last leading APPn segment."""
    if jpeg[:2] != b"\xff\xd8":
        raise StoreError(f"{name}: not a JPEG (no SOI marker)")
    if len(payload) > MAX_SEGMENT:
        raise StoreError(f"{name}: the DeepFaceLab dict takes {len(payload)} bytes, more than a JPEG segment holds "
                         f"({MAX_SEGMENT}); export at a smaller size")  # fmt: skip
    position = 2
    while jpeg[position] == 0xFF and 0xE0 <= jpeg[position + 1] <= 0xEF:
        position += 2 + int.from_bytes(jpeg[position + 2 : position + 4], "big")
    segment = b"\xff" + bytes([APP15]) + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:position] + segment + jpeg[position:]


#: (approxPolyDP epsilon px, smallest contour area px²) tried in turn until the dict fits one JPEG segment.
SIMPLIFY_STEPS = ((1.0, 0.0), (2.0, 4.0), (4.0, 16.0), (8.0, 64.0))


def seg_polygons(mask: np.ndarray, epsilon_px: float = 1.0, min_area_px: float = 0.0) -> list[dict[str, Any]]:
    """DeepFaceLab ``seg_ie_polys`` entries of a uint8 (H, W) {0, 1} mask: outer contours include (1), holes
    exclude (0), each simplified within ``epsilon_px`` and dropped below ``min_area_px``; points as
    [[x, y], ...] floats (pixel centres)."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    polys = []
    for contour, link in zip(contours, hierarchy[0] if hierarchy is not None else [], strict=False):
        points = cv2.approxPolyDP(contour, epsilon_px, True).reshape(-1, 2)
        if len(points) >= 3 and cv2.contourArea(contour) >= min_area_px:
            polys.append({"type": 1 if link[3] < 0 else 0, "pts": points.astype(float).tolist()})
    return sorted(polys, key=lambda poly: -poly["type"])  # includes first, as DeepFaceLab sorts them


def dfl_face(image: np.ndarray, face_mask: np.ndarray, landmarks: np.ndarray, *, source_filename: str,
             size_px: int, jpeg_quality: int) -> bytes | None:  # fmt: skip
    """One aligned DeepFaceLab face (JPEG bytes with the APP15 dict), or None without five points."""
    scheme = scheme_of_points(landmarks)
    points = five_points(scheme.as_parsing13(landmarks))
    if points is None:
        return None
    matrix = alignment_matrix(points, get_template(DFL_TEMPLATE), size_px)
    targets = Targets({"image": Target.image(image), "mask": Target.mask(face_mask),
                       "points": Target.keypoints(np.asarray(landmarks, np.float32))})  # fmt: skip
    aligned = apply_geometric(targets, AffineWarp.of(matrix, size=(size_px, size_px)))
    mask = aligned.array("mask")
    ok, png = cv2.imencode(".png", mask * np.uint8(255))
    ok_jpeg, jpeg = cv2.imencode(".jpg", cv2.cvtColor(aligned.array("image"), cv2.COLOR_RGB2BGR),
                                 [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])  # fmt: skip
    if not (ok and ok_jpeg):
        raise StoreError(f"{source_filename}: cannot encode the aligned face")
    moved = aligned.array("points").astype(float)
    value = {
        "face_type": "whole_face",
        "landmarks": [[float(x), float(y)] for x, y in moved],
        "occgen_landmark_scheme": scheme.name,
        "source_filename": source_filename,
        "image_to_face_mat": matrix.tolist(),
        "xseg_mask": png.reshape(-1),
    }
    payload = dfl_pickle(value)  # without polygons, if no simplification fits (the mask alone still trains XSeg)
    for epsilon_px, min_area_px in SIMPLIFY_STEPS:
        with_polys = dfl_pickle({**value, "seg_ie_polys": {"polys": seg_polygons(mask, epsilon_px, min_area_px)}})
        if len(with_polys) <= MAX_SEGMENT:
            payload = with_polys
            break
    return insert_app15(jpeg.tobytes(), payload, name=source_filename)


@dataclass(frozen=True)
class DflWriter(LandmarkedWriter):
    """The DeepFaceLab faceset as an :class:`occgen.run.export_base.ExportWriter`."""

    size_px: int
    jpeg_quality: int

    def write_chunk(self, chunk: Chunk, files: ChunkFiles) -> dict[str, Any]:
        skipped = []
        for reader, index, stem in named_samples(chunk, files, self.store, self.storage_options):
            face = dfl_face(reader.sample_array(IMAGE, index), reader.sample_array(FACE_MASK, index),
                            reader.label("landmarks", index), source_filename=f"{stem}.png", size_px=self.size_px,
                            jpeg_quality=self.jpeg_quality)  # fmt: skip
            if face is None:
                skipped.append(stem)
            else:
                files.write(Path(self.out) / f"{stem}.jpg", face)
        return {"samples": len(chunk.indices), "skipped": skipped}

    def face_files(self) -> Iterable[Path]:
        return Path(self.out).glob("*.jpg")

    def finish(self, chunks: Sequence[Chunk], markers: list[dict[str, Any]]) -> dict[str, Any]:
        return self.finish_skipped(markers, Path(self.out) / WORK_DIR)

    def check_finished(self, manifest: dict[str, Any]) -> None:
        self.check_faces(self.skipped_on_disk())


def export_dfl(store: Path | str | Location, out: Path, *, size_px: int = 256, jpeg_quality: int = 95,
               workers: int = 1, scheduler: str | None = None, on_progress: Any = None) -> dict[str, Any]:  # fmt: skip
    """Export ``store`` (with its ``landmarks`` label) as a DeepFaceLab faceset in ``out``; resumes. Returns the
    manifest (samples, faces written, samples skipped for want of five points)."""
    if not 64 <= size_px <= 1024:
        raise ConfigError(f"DeepFaceLab face size must be in [64, 1024] px, got {size_px}")
    opened = open_landmarked_export(store, out, jpeg_quality=jpeg_quality,
                                    needs="a DeepFaceLab faceset needs the landmarks label to align faces")
    reader, out = opened.reader, opened.out
    with store_lock(out, "export"):
        settings = {"format": "dfl", "size_px": size_px, "jpeg_quality": jpeg_quality,
                    "dataset": reader.content_key}  # fmt: skip
        work = open_work(out, settings)
        writer = DflWriter(size_px, jpeg_quality, store=opened.location.url, out=str(out),
                           storage_options=dict(opened.location.storage_options), stems=opened.stems)
        chunks = chunks_of(range(len(reader)), int(reader.card.get("shard_size", 64)))
        _, manifest = run_export(work, writer, chunks, workers=workers, scheduler=scheduler, on_progress=on_progress)
    return manifest
