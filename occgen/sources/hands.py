"""Matted hands as an occluder source (the ``hands`` entry of the occluder registry).

Reads the output of ``occgen hands matte`` (``manifest.json`` + ``hands/<id>.png``), or any folder of
RGBA hand cut-outs without a manifest (then the finger direction is read from each cut-out's matte by
the profile method of :mod:`occgen.sources.hand_orientation`). Cut-outs are decoded, cropped to their alpha
and shrunk to ``max_side_px`` once per process and kept in a small cache: decoding a full-size PNG per
sample would dominate generation time (:mod:`occgen.sources.cache`, bounded by bytes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.errors import EmptyOccluderError, SourceError
from occgen.core.files import demo_root, list_images, require_dir
from occgen.core.fingerprint import fingerprint_files
from occgen.core.imageio import read_rgba
from occgen.sources.cache import CutoutCache
from occgen.sources.hand_orientation import finger_direction
from occgen.sources.occluder import Occluder, crop_to_alpha, limit_side
from occgen.sources.remote import UrlRoot

#: The folder layout `occgen hands matte` writes and this source reads.
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
HANDS_DIR = "hands"

KIND = "hand"
DEMO_HANDS_LICENCE = "occgen demo hands: procedurally drawn, CC0, demo only (see assets/README.md)"


@dataclass(frozen=True)
class HandEntry:
    hand_id: str
    path: Path
    finger_angle_deg: float | None  # None: read from the cut-out when loaded


def _entries_from_manifest(root: Path, manifest_path: Path) -> list[HandEntry]:
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise SourceError(f"{manifest_path} is not valid JSON ({error}); re-run `occgen hands matte`") from None
    if manifest.get("version") != MANIFEST_VERSION or not isinstance(manifest.get("hands"), list):
        raise SourceError(f"{manifest_path}: not an occgen hands manifest (version {MANIFEST_VERSION})")
    entries = []
    for record in manifest["hands"]:
        path = root / record["file"]
        if not path.is_file():
            raise SourceError(f"{manifest_path} lists {record['file']}, which is missing; re-run `occgen hands matte`")
        entries.append(HandEntry(str(record["id"]), path, float(record["finger_angle_deg"])))
    return entries


@dataclass
class MattedHands(UrlRoot):
    """Hand cut-outs drawn uniformly; ``draw`` returns the occluder and ``finger_angle_deg`` (the fingers'
    direction in the cut-out, image coordinates) among its params."""

    root: Path | None = None  # None: the embedded demo hands (assets/demo/hands)
    max_side_px: int = 512
    cache: CutoutCache = field(default_factory=CutoutCache)  # per process; may be shared with other sources
    licence: str | None = None  # None: demo / 11k Hands / user-supplied, from what the folder is
    name: str = "hands"
    _entries: list[HandEntry] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.licence is None:
            self.licence = (
                DEMO_HANDS_LICENCE if self.root is None
                else "hand cut-outs: the terms of the photos' source (11k Hands: see the dataset's terms)"
            )  # fmt: skip
        self.root = require_dir(
            demo_root() / "hands" if self.root is None else self._local_root(self.root), "hands folder",
            "pass the output folder of `occgen hands matte` (manifest.json + hands/)",
        )  # fmt: skip
        manifest = self.root / MANIFEST
        if manifest.is_file():
            self._entries = _entries_from_manifest(self.root, manifest)
        else:
            folder = self.root / HANDS_DIR if (self.root / HANDS_DIR).is_dir() else self.root
            self._entries = [HandEntry(p.stem, p, None) for p in list_images(folder) if p.suffix.lower() == ".png"]
        if not self._entries:
            raise SourceError(f"no hand cut-outs in {self.root}; run `occgen hands matte --src ... --out {self.root}`")

    def __len__(self) -> int:
        return len(self._entries)

    def index_of(self, hand_id: str) -> int:
        """The index of the cut-out ``hand_id`` (as recorded in sample metadata)."""
        for index, entry in enumerate(self._entries):
            if entry.hand_id == hand_id:
                return index
        raise SourceError(f"no hand {hand_id!r} in {self.root}")

    def load(self, index: int) -> tuple[Occluder, float]:
        """Cut-out ``index`` (cropped, at most ``max_side_px``) and its finger angle in degrees."""
        key = (self.name, str(self.root), index)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        entry = self._entries[index]
        rgb, alpha = read_rgba(entry.path)
        try:
            rgb, alpha = crop_to_alpha(rgb, alpha)
        except EmptyOccluderError:
            raise SourceError(f"{entry.path}: alpha channel is fully transparent; remove the file") from None
        angle = entry.finger_angle_deg
        if angle is None:
            angle = finger_direction(alpha).angle_deg
        occluder = limit_side(Occluder(entry.hand_id, KIND, rgb, alpha), self.max_side_px)
        return self.cache.put(key, (occluder, float(angle)))

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]:
        index = int(rng.integers(len(self._entries)))
        occluder, angle = self.load(index)
        return occluder, {"hand_id": occluder.occluder_id, "finger_angle_deg": angle}

    def describe(self) -> dict[str, str | int]:
        assert self.root is not None
        files = [e.path for e in self._entries]
        manifest = self.root / MANIFEST
        fingerprint = fingerprint_files(self.root, files + ([manifest] if manifest.is_file() else []))
        return {"kind": self.name, "root": self.root_label(self.root), "count": len(self), "fingerprint": fingerprint,
                "licence": self.licence or ""}  # fmt: skip
