"""A sample as drawn, before the compositor runs: what a still and every frame of a clip share (issue 27).

Where it sits: NatOcc and RandOcc split a sample into ``draw(index) -> DrawnSample`` (every random choice:
the face, the occluder after colour transfer and shrinking, the compositor's :class:`CompositeParams`) and
:func:`render_drawn` (deterministic: ``apply_composite`` plus the sample's labels and metadata). A still sample
is :func:`render_still` of its drawing; a clip frame (:mod:`occgen.recipes.clips`) renders the same drawing
with a moved face, a moved / blurred / faded occluder and the frame's params, through the same compositor.

Several occluders (issue 25, stills only): :func:`stack_on_still` paints the extra occluders of
:mod:`occgen.recipes.multi` on top of a rendered still; each extra hand or object is drawn as the first one is and
composited by :func:`composite_occlusion` (the same compositor and metadata layout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from occgen.compose import CompositeParams, apply_composite, composite_record
from occgen.recipes.base import Sample
from occgen.recipes.labels import LabelSources
from occgen.recipes.multi import DrawExtra, Harmonise, Occlusion, stack_occluders
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
    metadata = drawn_metadata(drawn.header, drawn.trailer, params, int(face_mask.sum()), int(result.face_mask.sum()))
    metadata |= extra or {}
    labels = LabelSources(face_image, face_mask, result.footprint, drawn.occluder_class, face_parsing)
    return Sample(result.image, result.face_mask, result.occluder_mask, metadata, labels)


def render_still(drawn: DrawnSample) -> Sample:
    """The still sample of ``drawn``: the face, occluder and params exactly as drawn."""
    return render_drawn(drawn, face_image=drawn.face_image, face_mask=drawn.face_mask,
                        face_parsing=drawn.face_parsing, occluder=drawn.occluder, params=drawn.params)  # fmt: skip


def occluder_header(occluder: Occluder, attempt: int, *, translucent: bool = False) -> dict[str, Any]:
    """The metadata fields of a drawn occluder that come before the face pixel counts."""
    return {"occluder_ids": [occluder.occluder_id], "occluder_types": [occluder.kind], "translucent": translucent,
            "attempts": attempt}  # fmt: skip


def drawn_metadata(header: dict[str, Any], trailer: dict[str, Any], params: CompositeParams, face_px_before: int,
                   face_px_after: int) -> dict[str, Any]:  # fmt: skip
    """``{**header, "face_px_before", "face_px_after", **trailer}`` with ``params``' record (``composite_record``)
    added last to the trailer's ``params``."""
    composite = {"composite": composite_record(params)}
    return {**header, "face_px_before": face_px_before, "face_px_after": face_px_after, **trailer,
            "params": {**trailer.get("params", {}), **composite}}  # fmt: skip


def composite_occlusion(image: np.ndarray, visible: np.ndarray, occluder: Occluder, params: CompositeParams,
                        header: dict[str, Any], trailer: dict[str, Any]) -> Occlusion:  # fmt: skip
    """One more occluder composited onto an occluded image (``visible``: the face still visible): the
    :data:`~occgen.recipes.multi.Occlusion` a stacked occluder gives, metadata as :func:`render_drawn`'s."""
    result = apply_composite(image, visible, occluder, params)
    metadata = drawn_metadata(header, trailer, params, int(visible.sum()), int(result.face_mask.sum()))
    return result.image, result.occluder_mask, result.face_mask, metadata, result.footprint


def stack_on_still(still: Sample, kinds: tuple[str, ...], *, draw: DrawExtra, rng: np.random.Generator,
                   harmonise: Harmonise | None, class_of: Callable[[str], int]) -> Sample:  # fmt: skip
    """``still`` (a rendered, not yet harmonised sample) with the occluders ``kinds`` painted on top
    (:func:`occgen.recipes.multi.stack_occluders`): its labels get the union footprint and the instance map."""
    labels = still.labels
    assert isinstance(labels, LabelSources)  # render_drawn's samples always have them
    first = (still.image, still.occluder_mask, still.face_mask, still.metadata, labels.footprint)
    stacked, instances, classes = stack_occluders(first, kinds, draw=draw, rng=rng, harmonise=harmonise,
                                                  class_of=class_of)  # fmt: skip
    image, occluder_mask, visible, metadata, footprint = stacked
    labels = replace(labels, footprint=footprint, instances=instances, instance_classes=classes)
    return Sample(image, visible, occluder_mask, metadata, labels)
