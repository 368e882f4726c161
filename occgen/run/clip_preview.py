"""Previews of clip stores (issue 27): a strip of each clip's frames side by side, and an animated GIF / WebP.

Where it sits: ``occgen preview`` and the sheet written after ``generate --frames`` use :func:`clip_strip` for
a clip store (:mod:`occgen.store.clips`); :func:`write_clip_animation` writes one clip, each frame the image
beside its labels overlaid (face green, occluder red), with Pillow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from occgen.core.errors import ConfigError
from occgen.core.location import Location
from occgen.run.preview import overlay_labels, write_sheet
from occgen.store import open_store
from occgen.store.clips import Clip, ClipView, clip_frames

ANIMATION_FORMATS = ("gif", "webp")


def _tiles(clip: Clip, t: int, tile_px: int) -> tuple[np.ndarray, np.ndarray]:
    image = clip.image[t]
    overlay = overlay_labels(image, clip.face_mask[t], clip.occluder_mask[t])
    return tuple(cv2.resize(x, (tile_px, tile_px), interpolation=cv2.INTER_AREA) for x in (image, overlay))  # type: ignore[return-value]


def clip_strip(view: ClipView, clips: list[int], tile_px: int = 96) -> np.ndarray:
    """uint8 (2 * len(clips) * tile_px, frames * tile_px, 3): per clip a row of its frames and a row of the
    frames with their labels overlaid."""
    rows = []
    for index in clips:
        clip = view[index]
        pairs = [_tiles(clip, t, tile_px) for t in range(clip.frames)]
        rows.append(np.concatenate([image for image, _ in pairs], axis=1))
        rows.append(np.concatenate([overlay for _, overlay in pairs], axis=1))
    return np.concatenate(rows, axis=0)


def write_clip_animation(view: ClipView, clip: int, out: Path, *, tile_px: int = 192, fps: float = 8.0) -> Path:
    """Clip ``clip`` as an animated GIF or WebP (by ``out``'s suffix): each frame the image beside its overlay."""
    kind = out.suffix.lower().lstrip(".")
    if kind not in ANIMATION_FORMATS:
        raise ConfigError(f"{out}: an animation is written as .gif or .webp, not {out.suffix or 'no suffix'!r}")
    if fps <= 0:
        raise ConfigError(f"--fps must be positive, got {fps}")
    loaded = view[clip]
    frames = [Image.fromarray(np.concatenate(_tiles(loaded, t, tile_px), axis=1)) for t in range(loaded.frames)]
    out.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"lossless": True} if kind == "webp" else {}
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0, **options)
    return out


def write_clip_preview(
    store: Path | str | Location, out: Path | str | Location, *, k: int = 4, tile_px: int = 96,
    allow_incomplete: bool = False,
) -> Path | str | None:  # fmt: skip
    """The strip of the first ``k`` clips of ``store`` as PNG at ``out``; None (nothing written) when ``store``
    is not a clip store, so callers fall back to the contact sheet."""
    if k < 1:
        raise ConfigError(f"--k must be at least 1, got {k}")
    reader = open_store(store, allow_incomplete=allow_incomplete)
    if clip_frames(reader) is None:
        return None
    view = ClipView(reader, name=str(store))
    return write_sheet(clip_strip(view, list(range(min(k, len(view)))), tile_px), out, reader)
