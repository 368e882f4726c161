"""Occluder sources behind one registry (STYLE.md habit 6).

Every source implements :class:`OccluderSource`: ``draw(rng=...)`` returns an RGBA
:class:`~occgen.compose.Occluder` (cropped to its alpha) and the params that replay the draw. Hands
(11k Hands) and COCO objects plug in here in later stages; an unknown name lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from occgen.compose import Occluder
from occgen.errors import ConfigError, EmptyOccluderError, SourceError
from occgen.imageio import read_rgba, resize_image
from occgen.shapes import ShapeConfig, render_shape, sample_shape
from occgen.sources.common import fingerprint_files, list_images, require_dir
from occgen.sources.textures import DTDTextures


class OccluderSource(Protocol):
    name: str

    def __len__(self) -> int: ...

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]: ...

    def describe(self) -> dict[str, str | int]: ...


def crop_to_alpha(rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop an RGBA pair to the bounding box of ``alpha > 0``; raise if the alpha is empty."""
    rows, cols = np.nonzero(alpha.any(axis=1))[0], np.nonzero(alpha.any(axis=0))[0]
    if rows.size == 0:
        raise EmptyOccluderError("occluder alpha is empty: nothing to composite")
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return np.ascontiguousarray(rgb[window]), np.ascontiguousarray(alpha[window])


@dataclass(frozen=True, kw_only=True)
class TextureCrop:
    """A square crop of a texture: ``side_frac`` of its short side at ``(x_frac, y_frac)`` of the slack."""

    texture_index: int
    side_frac: float
    x_frac: float
    y_frac: float
    rot90: int


def apply_texture_crop(texture: np.ndarray, crop: TextureCrop, canvas_px: int) -> np.ndarray:
    """Cut the square ``crop`` out of ``texture`` and resize it to ``canvas_px``²."""
    height, width = texture.shape[:2]
    side = max(int(round(crop.side_frac * min(height, width))), 1)
    top = int(round(crop.y_frac * (height - side)))
    left = int(round(crop.x_frac * (width - side)))
    patch = np.rot90(texture[top : top + side, left : left + side], crop.rot90)
    return resize_image(np.ascontiguousarray(patch), (canvas_px, canvas_px))


@dataclass
class RandomShapes:
    """RandOcc occluders: a random shape (:mod:`occgen.shapes`) filled with a random DTD texture crop."""

    textures: DTDTextures
    shapes: ShapeConfig = field(default_factory=ShapeConfig)
    canvas_px: int = 256
    crop_side_range: tuple[float, float] = (0.5, 1.0)
    name: str = "random-shapes"

    def __len__(self) -> int:
        return len(self.textures)

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]:
        shape = sample_shape(rng=rng, config=self.shapes)
        crop = TextureCrop(
            texture_index=int(rng.integers(len(self.textures))),
            side_frac=float(rng.uniform(*self.crop_side_range)),
            x_frac=float(rng.random()),
            y_frac=float(rng.random()),
            rot90=int(rng.integers(4)),
        )
        alpha = render_shape(shape, self.canvas_px)
        rgb = apply_texture_crop(self.textures.load(crop.texture_index), crop, self.canvas_px)
        rgb, alpha = crop_to_alpha(rgb, alpha)
        texture_id = self.textures.texture_id(crop.texture_index)
        occluder = Occluder(f"{shape.kind}:{texture_id}", "random-shape", rgb, alpha)
        return occluder, {"shape": asdict(shape), "texture": asdict(crop), "texture_id": texture_id}

    def describe(self) -> dict[str, str | int]:
        return {"kind": self.name, "textures": self.textures.describe()["fingerprint"], "count": len(self)}


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


def _coco_objects(**kwargs: Any) -> OccluderSource:
    from occgen.objects.source import CocoObjects  # imported late: occgen.objects imports this module

    return CocoObjects(**kwargs)


def _matted_hands(**kwargs: Any) -> OccluderSource:
    from occgen.hands.source import MattedHands  # deferred: occgen.hands imports this module

    return MattedHands(**kwargs)


OCCLUDER_SOURCES: dict[str, Callable[..., OccluderSource]] = {
    "random-shapes": RandomShapes,
    "rgba-folder": RGBAFolder,
    "coco-objects": _coco_objects,
    "hands": _matted_hands,
}


def make_occluder_source(name: str, **kwargs: Any) -> OccluderSource:
    """Build the occluder source registered as ``name``; unknown names list the valid ones."""
    try:
        factory = OCCLUDER_SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown occluder source {name!r}; valid: {', '.join(sorted(OCCLUDER_SOURCES))}") from None
    return factory(**kwargs)
