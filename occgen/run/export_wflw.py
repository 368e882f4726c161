"""``occgen export --format wflw``: images and landmark annotation lists in WFLW's layout, with each point's
occlusion flag beside them (issue 25: landmark visibility in the layout landmark trainers read).

Where it sits: an :class:`occgen.run.export_base.ExportWriter` (one chunk = one store shard), run and resumed by
the one export framework. The store needs its ``landmarks`` label (``--labels landmarks``, which also stores
``landmark_visible``).

WFLW's annotation line (a fact from the README of WFLW's ``list_98pt_rect_attr_train_test`` annotations, as
quoted by the public loaders that read them): "coordinates of 98 landmarks (196) + coordinates of upper left
corner and lower right corner of detection rectangle (4) + attributes annotations (6) + image name (1)", i.e.
``x0 y0 ... x97 y97 x_min_rect y_min_rect x_max_rect y_max_rect pose expression illumination make-up occlusion
blur image_name``, each attribute 0 (normal) or 1. WFLW's attributes are per image: it has no per-point flags
(COFW has them). So occgen writes, for a store of K points per face (its scheme: ``occgen-parsing-13``,
``ibug-68`` or ``five-point``)::

    <out>/WFLW_images/<sample_id>.png (or .jpg)
    <out>/WFLW_annotations/list_<K>pt_rect_attr.txt    WFLW's line with 2K coordinates: x0 y0 ... x_{K-1} y_{K-1},
                                                       the landmarks' bounding box (x_min y_min x_max y_max), the
                                                       six attributes (0 but occlusion: 1 when any point is
                                                       occluded) and the image name (relative to WFLW_images/)
    <out>/WFLW_annotations/list_<K>pt_occlusion.txt    per image: K flags, 1 = occluded (1 - landmark_visible:
                                                       covered by an occluder or outside the image), the image name
    <out>/WFLW_annotations/points.txt                  the scheme, then the K point names in order
    <out>/skipped.txt                                  samples left out: a point is missing (NaN), so no WFLW line

Coordinates are the store's pixels (x right, y down) with six decimals; lines follow the store's order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.errors import ConfigError, StoreError
from occgen.core.landmark_schemes import scheme_of_points
from occgen.core.location import Location
from occgen.run.export_base import (
    WORK_DIR,
    Chunk,
    ChunkFiles,
    chunks_of,
    named_samples,
    open_work,
    run_export,
    write_text_atomic,
)
from occgen.run.export_encode import encode_rgb
from occgen.run.export_landmarked import LandmarkedWriter, open_landmarked_export
from occgen.store.lock import store_lock
from occgen.store.schema import IMAGE

IMAGES = "WFLW_images"
ANNOTATIONS = "WFLW_annotations"
#: WFLW's six per-image attributes, in the order of its annotation line.
ATTRIBUTES = ("pose", "expression", "illumination", "make-up", "occlusion", "blur")


def wflw_lines(points: np.ndarray, visible: np.ndarray, image_name: str) -> tuple[str, str] | None:
    """The annotation line and the occlusion-flag line of one image: ``points`` float32 (K, 2) x, y pixels,
    ``visible`` uint8 (K,) (1: visible); None when a point is missing (NaN: no WFLW line can say so)."""
    points = np.asarray(points, np.float64)
    if not np.isfinite(points).all():
        return None
    occluded = 1 - np.asarray(visible, np.int64)
    box = (*points.min(axis=0), *points.max(axis=0))
    attributes = [0] * len(ATTRIBUTES)
    attributes[ATTRIBUTES.index("occlusion")] = int(occluded.any())
    numbers = [f"{v:.6f}" for v in (*points.reshape(-1), *box)] + [str(a) for a in attributes]
    return " ".join([*numbers, image_name]), " ".join([*(str(int(f)) for f in occluded), image_name])


@dataclass(frozen=True)
class WflwWriter(LandmarkedWriter):
    """The WFLW-layout export as an :class:`occgen.run.export_base.ExportWriter`."""

    image_format: str
    jpeg_quality: int
    points: int

    def write_chunk(self, chunk: Chunk, files: ChunkFiles) -> dict[str, Any]:
        lines, flags, skipped = [], [], []
        for reader, index, stem in named_samples(chunk, files, self.store, self.storage_options):
            name = f"{stem}.{self.image_format}"
            written = wflw_lines(reader.label("landmarks", index), reader.label("landmark_visible", index), name)
            if written is None:
                skipped.append(stem)
                continue
            encoded = encode_rgb(reader.sample_array(IMAGE, index), self.image_format, self.jpeg_quality)
            files.write(Path(self.out) / IMAGES / name, encoded)
            lines.append(written[0])
            flags.append(written[1])
        return {"samples": len(chunk.indices), "lines": lines, "flags": flags, "skipped": skipped}

    def _lists(self) -> tuple[Path, Path]:
        folder = Path(self.out) / ANNOTATIONS
        return folder / f"list_{self.points}pt_rect_attr.txt", folder / f"list_{self.points}pt_occlusion.txt"

    def face_files(self) -> Iterable[Path]:
        return (Path(self.out) / IMAGES).glob(f"*.{self.image_format}")

    def finish(self, chunks: Sequence[Chunk], markers: list[dict[str, Any]]) -> dict[str, Any]:
        work = Path(self.out) / WORK_DIR
        manifest = self.finish_skipped(markers, work)
        annotations, occlusion = self._lists()
        write_text_atomic(work, annotations, "".join(f"{line}\n" for m in markers for line in m["lines"]))
        write_text_atomic(work, occlusion, "".join(f"{line}\n" for m in markers for line in m["flags"]))
        return manifest

    def check_finished(self, manifest: dict[str, Any]) -> None:
        self.check_faces(self.skipped_on_disk())
        for path in self._lists():
            if not path.is_file() or len(path.read_text().splitlines()) != manifest["faces"]:
                raise StoreError(f"export to {self.out}: {path} does not list the {manifest['faces']} faces; "
                                 f"delete {Path(self.out) / WORK_DIR} and re-run")  # fmt: skip


def export_wflw(store: Path | str | Location, out: Path, *, image_format: str | None = None, jpeg_quality: int = 95,
                workers: int = 1, scheduler: str | None = None, on_progress: Any = None) -> dict[str, Any]:  # fmt: skip
    """Export ``store`` (with its ``landmarks`` label) in WFLW's layout in ``out`` (module docstring); resumes.
    Returns the manifest (samples, faces listed, samples skipped for a missing point)."""
    image_format = image_format or "png"
    if image_format not in ("png", "jpg"):
        raise ConfigError(f"--image-format must be png or jpg, got {image_format!r}")
    opened = open_landmarked_export(
        store, out, jpeg_quality=jpeg_quality,
        needs="a WFLW export needs the landmarks label (points and their visibility)",
    )  # fmt: skip
    reader, out = opened.reader, opened.out
    scheme = scheme_of_points(reader.label("landmarks", 0))
    with store_lock(out, "export"):
        settings = {"format": "wflw", "image_format": image_format, "jpeg_quality": jpeg_quality,
                    "dataset": reader.content_key}  # fmt: skip
        work = open_work(out, settings, (out / IMAGES, out / ANNOTATIONS))
        write_text_atomic(work, out / ANNOTATIONS / "points.txt", "\n".join([scheme.name, *scheme.names]) + "\n")
        writer = WflwWriter(image_format, jpeg_quality, len(scheme.names), store=opened.location.url, out=str(out),
                            storage_options=dict(opened.location.storage_options), stems=opened.stems)  # fmt: skip
        chunks = chunks_of(range(len(reader)), int(reader.card.get("shard_size", 64)))
        _, manifest = run_export(work, writer, chunks, workers=workers, scheduler=scheduler, on_progress=on_progress)
    return manifest
