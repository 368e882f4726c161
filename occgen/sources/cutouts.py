"""Your own cut-outs: a folder of RGBA PNGs as an occluder source."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.errors import EmptyOccluderError, SourceError
from occgen.core.files import list_images, require_dir
from occgen.core.fingerprint import fingerprint_files
from occgen.core.imageio import read_rgba
from occgen.sources.occluder import Occluder, crop_to_alpha


@dataclass
class RGBAFolder:
    """Your own cut-outs: a folder of RGBA PNGs (alpha = occluder), drawn uniformly."""

    root: Path
    name: str = "rgba-folder"
    _files: list[Path] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = require_dir(Path(self.root), "occluder folder", "pass a folder of RGBA .png cut-outs")
        self._files = [p for p in list_images(self.root) if p.suffix.lower() == ".png"]
        if not self._files:
            raise SourceError(f"no .png cut-outs in {self.root}; occluders need an alpha channel")

    def __len__(self) -> int:
        return len(self._files)

    def load(self, index: int) -> Occluder:
        path = self._files[index]
        rgb, alpha = read_rgba(path)
        try:
            rgb, alpha = crop_to_alpha(rgb, alpha)
        except EmptyOccluderError:
            raise SourceError(f"{path}: alpha channel is fully transparent; remove the file") from None
        return Occluder(path.stem, "rgba-folder", rgb, alpha)

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]:
        index = int(rng.integers(len(self._files)))
        return self.load(index), {"file": self._files[index].name}

    def describe(self) -> dict[str, str | int]:
        return {"kind": self.name, "root": str(self.root), "count": len(self),
                "fingerprint": fingerprint_files(self.root, self._files)}  # fmt: skip
