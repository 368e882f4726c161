"""Texture source: the Describable Textures Dataset (DTD) in its released layout.

``dtd/images/<category>/<category>_<nnnn>.jpg`` plus optional split files ``dtd/labels/train1.txt``
(one ``<category>/<file>.jpg`` per line). ``root`` may be the ``dtd`` folder or its parent.

RandOcc draws a texture per sample; each process keeps decoded textures (least recently used first out)
up to ``textures.cache_mb`` megabytes (:class:`~occgen.sources.cache.CutoutCache`; 0 = decode every time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from occgen.core.errors import ConfigError, SourceError
from occgen.core.files import DEMO_LICENCE, demo_root, require_dir
from occgen.core.fingerprint import fingerprint_files
from occgen.core.imageio import IMAGE_SUFFIXES, read_image
from occgen.sources.cache import CutoutCache
from occgen.sources.remote import UrlRoot

#: Decoded textures kept per process: DTD images are about 0.4-1.2 MB decoded, so a few hundred of them.
DEFAULT_TEXTURE_CACHE_MB = 256.0


@dataclass(frozen=True, kw_only=True)
class TexturesConfig:
    """Where the RandOcc textures come from (``params.yaml`` section ``textures``)."""

    path: Path | None = None  # None: the embedded demo textures
    split: str | None = None  # e.g. train1 (DTD's labels/train1.txt)
    cache_mb: float = DEFAULT_TEXTURE_CACHE_MB  # decoded textures kept per worker process (0 = none)

    def __post_init__(self) -> None:
        if self.cache_mb < 0:
            raise ConfigError(f"textures.cache_mb must be >= 0 (0 = no cache), got {self.cache_mb}")


@dataclass
class DTDTextures(UrlRoot):
    """DTD textures; ``split`` names a file in ``labels/`` (e.g. ``train1``) or is a path to one."""

    root: Path
    split: str | None = None
    licence: str = "DTD: for research purposes (see the dataset's terms)"
    name: str = "dtd"
    cache_mb: float = DEFAULT_TEXTURE_CACHE_MB
    _files: list[Path] = field(init=False, repr=False)
    _cache: CutoutCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._cache = CutoutCache(self.cache_mb)  # raises on a negative budget; pickled without its entries
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
        """Texture ``index`` as uint8 (H, W, 3) RGB, read-only (decoded once per process while it fits the
        cache; callers copy before writing)."""
        texture = self._cache.get(index)
        if texture is None:
            texture = read_image(self._files[index])
            texture.flags.writeable = False
            self._cache.put(index, texture)
        return texture

    def describe(self) -> dict[str, str | int]:
        return {
            "kind": self.name,
            "root": self.root_label(self.root),
            "count": len(self),
            "fingerprint": fingerprint_files(self.root, self._files),
            "licence": self.licence,
        }


def open_textures(
    path: Path | None, *, split: str | None = None, cache_mb: float = DEFAULT_TEXTURE_CACHE_MB
) -> DTDTextures:
    """Open DTD textures; ``path=None`` opens the embedded demo textures, a URL its folder's local copy.
    ``cache_mb``: decoded textures kept per process."""
    if path is None:
        return DTDTextures(demo_root() / "dtd", split, licence=DEMO_LICENCE, cache_mb=cache_mb)
    return DTDTextures(path, split, cache_mb=cache_mb)
