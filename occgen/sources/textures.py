"""Texture source: the Describable Textures Dataset (DTD) in its released layout.

``dtd/images/<category>/<category>_<nnnn>.jpg`` plus optional split files ``dtd/labels/train1.txt``
(one ``<category>/<file>.jpg`` per line). ``root`` may be the ``dtd`` folder or its parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from occgen.core.errors import SourceError
from occgen.core.files import DEMO_LICENCE, demo_root, require_dir
from occgen.core.fingerprint import fingerprint_files
from occgen.core.imageio import IMAGE_SUFFIXES, read_image
from occgen.sources.remote import UrlRoot


@dataclass(frozen=True, kw_only=True)
class TexturesConfig:
    """Where the RandOcc textures come from (``params.yaml`` section ``textures``)."""

    path: Path | None = None  # None: the embedded demo textures
    split: str | None = None  # e.g. train1 (DTD's labels/train1.txt)


@dataclass
class DTDTextures(UrlRoot):
    """DTD textures; ``split`` names a file in ``labels/`` (e.g. ``train1``) or is a path to one."""

    root: Path
    split: str | None = None
    licence: str = "DTD: for research purposes (see the dataset's terms)"
    name: str = "dtd"
    _files: list[Path] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        root = require_dir(
            self._local_root(self.root), "DTD folder", "pass the dtd/ folder that holds images/<category>/"
        )
        if not (root / "images").is_dir() and (root / "dtd" / "images").is_dir():
            root = root / "dtd"
        self.root = root
        images_dir = require_dir(
            root / "images", "DTD images folder", "the DTD layout is dtd/images/<category>/<category>_<nnnn>.jpg"
        )
        if self.split is not None:
            split_path = Path(self.split)
            if not split_path.is_file():
                split_path = root / "labels" / f"{self.split}.txt"
            if not split_path.is_file():
                raise SourceError(
                    f"DTD split {self.split!r} not found (looked for {split_path}); use e.g. train1, val1, test1"
                )
            names = [line.strip() for line in split_path.read_text().splitlines() if line.strip()]
            files = [images_dir / name for name in names]
            missing = [str(f) for f in files if not f.is_file()]
            if missing:
                raise SourceError(f"DTD split {split_path} lists {len(missing)} missing image(s), e.g. {missing[0]}")
        else:
            files = sorted(p for p in images_dir.glob("*/*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SourceError(
                f"no texture images in {images_dir}; expected images/<category>/<name>.jpg (the DTD layout)"
            )
        self._files = files
        self._images_dir = images_dir

    def __len__(self) -> int:
        return len(self._files)

    def texture_id(self, index: int) -> str:
        return self._files[index].relative_to(self._images_dir).as_posix()

    def load(self, index: int) -> np.ndarray:
        """Texture ``index`` as uint8 (H, W, 3) RGB."""
        return read_image(self._files[index])

    def describe(self) -> dict[str, str | int]:
        return {
            "kind": self.name,
            "root": self.root_label(self.root),
            "count": len(self),
            "fingerprint": fingerprint_files(self.root, self._files),
            "licence": self.licence,
        }


def open_textures(path: Path | None, *, split: str | None = None) -> DTDTextures:
    """Open DTD textures; ``path=None`` opens the embedded demo textures, a URL its folder's local copy."""
    if path is None:
        return DTDTextures(demo_root() / "dtd", split, licence=DEMO_LICENCE)
    return DTDTextures(path, split)
