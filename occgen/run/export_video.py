"""``occgen export --format video`` (issue 27): each clip of a clip store as an MP4 plus its masks.

Layout: ``videos/<clip_id>.mp4`` (MPEG-4 Part 2, OpenCV's ``mp4v``: the one MP4 encoder OpenCV's wheels have
here; H.264 needs a hardware or GPL encoder they lack), ``masks/<clip_id>/<frame>.png`` (visible face, 0/255)
and ``occluder_masks/<clip_id>/<frame>.png`` (occluder alpha x 255), lossless: a video codec would blur the
labels. ``clips.csv`` lists clip id, frames and the frame rate. Lossless frames are the folder format's
``images/<clip_id>/<frame>.png``.

One chunk per clip through the export framework (:mod:`occgen.run.export_base`), so a killed export resumes.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from occgen.core.errors import ConfigError, StoreError
from occgen.core.imageio import encode_png
from occgen.core.location import Location, parse_location
from occgen.run.export_base import Chunk, ChunkFiles, check_sample_name, open_work, run_export, write_text_atomic
from occgen.store import open_store
from occgen.store.clips import ClipView
from occgen.store.lock import store_lock

FOURCC = "mp4v"


@dataclass(frozen=True)
class VideoWriter:
    """The video format as an :class:`occgen.run.export_base.ExportWriter`: a chunk is one clip."""

    store: str
    out: str
    fps: float
    clip_ids: tuple[str, ...] = field(default=(), compare=False)
    storage_options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _view(self) -> ClipView:
        return ClipView(open_store(parse_location(self.store, self.storage_options or None)), name=self.store)

    def write_chunk(self, chunk: Chunk, files: ChunkFiles) -> dict[str, Any]:
        clip = self._view()[chunk.number]
        clip_id = check_sample_name(clip.clip_id, store=self.store, what="clip id")
        out = Path(self.out)
        for t in range(clip.frames):
            files.write(out / "masks" / clip_id / f"{t:03d}.png", encode_png(clip.face_mask[t] * 255))
            files.write(out / "occluder_masks" / clip_id / f"{t:03d}.png", encode_png(clip.occluder_mask[t]))
        # OpenCV picks the container from the suffix: a temporary .mp4 in the work folder, then renamed.
        temporary = files.work / "tmp" / f"{clip_id}.mp4"
        height, width = clip.image.shape[1:3]
        fourcc = cv2.VideoWriter.fourcc(*FOURCC)
        video = cv2.VideoWriter(str(temporary), fourcc, self.fps, (width, height))
        if not video.isOpened():
            raise StoreError(f"OpenCV cannot write MP4 ({FOURCC}) here; export --format folder for PNG frames")
        for frame in clip.image:
            video.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        video.release()
        (out / "videos").mkdir(parents=True, exist_ok=True)
        os.replace(temporary, out / "videos" / f"{clip_id}.mp4")
        return {"clip_id": clip_id, "frames": clip.frames}

    def finish(self, chunks: Sequence[Chunk], markers: list[dict[str, Any]]) -> dict[str, Any]:
        self.check_finished({})
        text = io.StringIO()
        table = csv.writer(text, lineterminator="\n")
        table.writerow(["clip_id", "frames", "fps"])
        for marker in markers:
            table.writerow([marker["clip_id"], marker["frames"], self.fps])
        write_text_atomic(Path(self.out) / ".occgen-export", Path(self.out) / "clips.csv", text.getvalue())
        return {"clips": len(markers)}

    def check_finished(self, manifest: dict[str, Any]) -> None:
        missing = [c for c in self.clip_ids if not (Path(self.out) / "videos" / f"{c}.mp4").is_file()]
        if missing:
            raise StoreError(f"export to {self.out}: {len(missing)} video(s) missing, e.g. {missing[0]}.mp4; "
                             f"delete {Path(self.out) / '.occgen-export'} and re-run")  # fmt: skip


def export_video(
    store: Path | str | Location, out: Path, *, fps: float = 8.0, workers: int = 1, scheduler: str | None = None,
    on_progress: Any = None,
) -> int:  # fmt: skip
    """Write every clip of the clip store ``store`` to ``out`` (layout above); returns the clip count."""
    if not 0 < fps <= 240:
        raise ConfigError(f"--fps must be in (0, 240], got {fps}")
    location = parse_location(store)
    with store_lock(out, "export"):  # one writer per output folder, as every export
        view = ClipView(open_store(location), name=str(store))
        clip_ids = []
        for clip in range(len(view)):
            first = view.dataset.metadata([view.frame_index(clip, 0)])[0]
            clip_id = str(first.get("clip", {}).get("clip_id", f"clip-{clip:08d}"))
            clip_ids.append(check_sample_name(clip_id, store=str(store), what="clip id"))
        settings = {"format": "video", "fps": fps, "dataset": view.dataset.content_key}
        work = open_work(out, settings, (out / "videos",))
        for leftover in (work / "tmp").glob("*.mp4"):
            leftover.unlink()  # this export's own unfinished videos (a killed run)
        where = str(location.path) if location.is_local else location.url
        writer = VideoWriter(where, str(out), fps, tuple(clip_ids), location.storage_options)
        chunks = [Chunk(c, tuple(view.frame_index(c, t) for t in range(view.frames))) for c in range(len(view))]
        run_export(work, writer, chunks, workers=workers, scheduler=scheduler, on_progress=on_progress)
    return len(view)
