"""A sample as drawn, before the compositor runs: what a still and every frame of a clip share (issue 27).

Where it sits: NatOcc and RandOcc split a sample into ``draw(index) -> DrawnSample`` (every random choice:
the face, the occluder after colour transfer and shrinking, the compositor's :class:`CompositeParams`) and
:func:`render_drawn` (deterministic: ``apply_composite`` plus the sample's labels and metadata). A still sample
is :func:`render_still` of its drawing; a clip frame (:mod:`occgen.recipes.clips`) renders the same drawing
with a moved face, a moved / blurred / faded occluder and the frame's params, through the same compositor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from occgen.compose import CompositeParams, apply_composite
from occgen.core.params import to_plain
from occgen.recipes.base import Sample
from occgen.recipes.labels import LabelSources
from occgen.sources.occluder import Occluder


@dataclass(frozen=True)
class DrawnSample:
    """One sample's draws. ``face_image`` uint8 (S, S, 3), ``face_mask`` uint8 (S, S) {0, 1} and
    ``face_parsing`` (a deferred read of the face's parsing map, uint8 (S, S)) as the face enters the
    compositor; ``occluder`` and ``params`` as ``apply_composite`` takes them.

    Metadata is ``{**header, "face_px_before", "face_px_after", **trailer}`` (the recipes' key order);
    ``trailer`` holds ``params`` without the composite's, which :func:`render_drawn` adds from the params
    it was given. ``harmonise``: the recipe harmonises this sample's image after compositing."""

    header: dict[str, Any]
    trailer: dict[str, Any]
    face_image: np.ndarray
    face_mask: np.ndarray
    face_parsing: Callable[[], np.ndarray]
    occluder: Occluder
    params: CompositeParams
    occluder_class: int
    harmonise: bool = False


def render_drawn(
    drawn: DrawnSample,
    *,
    face_image: np.ndarray,
    face_mask: np.ndarray,
    face_parsing: Callable[[], np.ndarray],
    occluder: Occluder,
    params: CompositeParams,
    extra: dict[str, Any] | None = None,
) -> Sample:
    """The sample of ``drawn`` composited with these face arrays, occluder and params (the still's own, or a
    clip frame's); ``extra`` metadata (e.g. the frame's ``clip`` record) is appended."""
    result = apply_composite(face_image, face_mask, occluder, params)
    trailer = dict(drawn.trailer)
    trailer["params"] = {**trailer.get("params", {}), "composite": to_plain(asdict(params))}
    metadata = {
        **drawn.header, "face_px_before": int(face_mask.sum()), "face_px_after": int(result.face_mask.sum()),
        **trailer, **(extra or {}),
    }  # fmt: skip
    labels = LabelSources(face_image, face_mask, result.footprint, drawn.occluder_class, face_parsing)
    return Sample(result.image, result.face_mask, result.occluder_mask, metadata, labels)


def render_still(drawn: DrawnSample) -> Sample:
    """The still sample of ``drawn``: the face, occluder and params exactly as drawn."""
    return render_drawn(drawn, face_image=drawn.face_image, face_mask=drawn.face_mask,
                        face_parsing=drawn.face_parsing, occluder=drawn.occluder, params=drawn.params)  # fmt: skip
