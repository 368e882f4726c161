"""Occluder sources behind one registry (STYLE.md habit 6): an unknown name lists the valid ones.

Every source implements :class:`~occgen.sources.occluder.OccluderSource`: ``draw(rng=...)`` returns an RGBA
:class:`~occgen.sources.occluder.Occluder` (cropped to its alpha) and the params that replay the draw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from occgen.core.errors import ConfigError
from occgen.sources.cutouts import RGBAFolder
from occgen.sources.eyewear import ProceduralEyewear
from occgen.sources.face_masks import ProceduralFaceMasks
from occgen.sources.hands import MattedHands
from occgen.sources.objects import CocoObjects
from occgen.sources.occluder import OccluderSource
from occgen.sources.shapes import RandomShapes
from occgen.sources.wearables import Wearables

OCCLUDER_SOURCES: dict[str, Callable[..., OccluderSource]] = {
    "random-shapes": RandomShapes,
    "rgba-folder": RGBAFolder,
    "coco-objects": CocoObjects,
    "hands": MattedHands,
    "eyewear": ProceduralEyewear,  # procedural clear glasses and sunglasses (issue 25)
    "face-masks": ProceduralFaceMasks,  # procedural surgical, cloth and N95 masks
    "wearables": Wearables,  # both of the above behind one draw
}


def make_occluder_source(name: str, **kwargs: Any) -> OccluderSource:
    """Build the occluder source registered as ``name``; unknown names list the valid ones."""
    try:
        factory = OCCLUDER_SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown occluder source {name!r}; valid: {', '.join(sorted(OCCLUDER_SOURCES))}") from None
    return factory(**kwargs)
