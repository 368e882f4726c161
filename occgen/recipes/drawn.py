"""A sample as drawn, before the compositor runs: what a still and every frame of a clip share (issue 27).

Where it sits: NatOcc and RandOcc split a sample into ``draw(index) -> DrawnSample`` (every random choice:
the face, the occluder after colour transfer and shrinking, the compositor's :class:`CompositeParams`) and
:func:`render_drawn` (deterministic: ``apply_composite`` plus the sample's labels and metadata). A still sample
is :func:`render_still` of its drawing; a clip frame (:mod:`occgen.recipes.clips`) renders the same drawing
with a moved face, a moved / blurred / faded occluder and the frame's params, through the same compositor.

Several occluders (issue 25): :func:`stack_on_still` draws the extra occluders of :mod:`occgen.recipes.multi` on
the rendered still and paints them on top; each extra hand, object or face is drawn (a :class:`DrawnExtra`) and
composited by :func:`composite_occlusion` (the same compositor and metadata layout). The drawings are kept
(:class:`DrawnStack`, ``DrawnSample.stack``) so a clip frame repaints them with moved params (:func:`restack`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from occgen.compose import CompositeParams, apply_composite, composite_record
from occgen.core.errors import SampleError
from occgen.recipes.base import Sample
from occgen.recipes.labels import LabelSources
from occgen.recipes.multi import Harmonise, Occlusion, stack_occluders
from occgen.sources.occluder import Occluder


@dataclass(frozen=True)
class DrawnExtra:
    """One occluder stacked on a sample, as drawn: its cut-out and compositor params, its metadata before and after
    the face pixel counts (``header``, ``trailer``: as :class:`DrawnSample`'s) and ``record``, which turns the params
    it is composited with into the record its metadata keeps."""

    occluder: Occluder
    params: CompositeParams
    header: dict[str, Any]
    trailer: dict[str, Any]
    record: Callable[[CompositeParams], dict[str, Any]] = composite_record


#: Draws one more occluder of a kind for (image, visible face); its randomness comes from the caller's stream.
DrawOccluder = Callable[[str, np.ndarray, np.ndarray], DrawnExtra]


@dataclass(frozen=True)
class DrawnStack:
    """The occluders stacked on a sample's first (``kinds`` and their drawings ``extras``, in paint order) and how
    they are painted: ``harmonise`` (an object right after it is composited, or None) and ``class_of`` (kind ->
    occluder class)."""

    kinds: tuple[str, ...]
    extras: tuple[DrawnExtra, ...]
    harmonise: Harmonise | None
    class_of: Callable[[str], int]


@dataclass(frozen=True)
class DrawnSample:
    """One sample's draws. ``face_image`` uint8 (S, S, 3), ``face_mask`` uint8 (S, S) {0, 1} and
    ``face_parsing`` (a deferred read of the face's parsing map, uint8 (S, S)) as the face enters the
    compositor; ``occluder`` and ``params`` as ``apply_composite`` takes them.

    Metadata is ``{**header, "face_px_before", "face_px_after", **trailer}`` (the recipes' key order);
    ``trailer`` holds ``params`` without the composite's, which :func:`render_drawn` adds from the params
    it was given. ``harmonise``: the recipe harmonises this sample's image after compositing. ``stack``: the
    occluders painted on top of the first (None: one occluder)."""

    header: dict[str, Any]
    trailer: dict[str, Any]
    face_image: np.ndarray
    face_mask: np.ndarray
    face_parsing: Callable[[], np.ndarray]
    occluder: Occluder
    params: CompositeParams
    occluder_class: int
    harmonise: bool = False
    stack: DrawnStack | None = None


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
                   face_px_after: int, record: Callable[[CompositeParams], dict[str, Any]] = composite_record
                   ) -> dict[str, Any]:  # fmt: skip
    """``{**header, "face_px_before", "face_px_after", **trailer}`` with ``params``' record (``record``:
    ``composite_record``) added last to the trailer's ``params``."""
    composite = {"composite": record(params)}
    return {**header, "face_px_before": face_px_before, "face_px_after": face_px_after, **trailer,
            "params": {**trailer.get("params", {}), **composite}}  # fmt: skip


def composite_occlusion(
    image: np.ndarray, visible: np.ndarray, occluder: Occluder, params: CompositeParams, header: dict[str, Any],
    trailer: dict[str, Any], record: Callable[[CompositeParams], dict[str, Any]] = composite_record,
) -> Occlusion:
    """One more occluder composited onto an occluded image (``visible``: the face still visible): the
    :data:`~occgen.recipes.multi.Occlusion` a stacked occluder gives, metadata as :func:`render_drawn`'s."""
    result = apply_composite(image, visible, occluder, params)
    metadata = drawn_metadata(header, trailer, params, int(visible.sum()), int(result.face_mask.sum()), record)
    return result.image, result.occluder_mask, result.face_mask, metadata, result.footprint


def stack_on_still(still: Sample, kinds: tuple[str, ...], *, draw: DrawOccluder, harmonise: Harmonise | None,
                   class_of: Callable[[str], int]) -> tuple[Sample, DrawnStack]:  # fmt: skip
    """``still`` (a rendered, not yet harmonised sample) with the occluders ``kinds`` drawn and painted on top, in
    order (:func:`occgen.recipes.multi.stack_occluders`: its labels get the union footprint and the instance
    map), and the stack as drawn (a clip repaints it with :func:`restack`)."""
    drawings: list[DrawnExtra] = []

    def paint(kind: str, image: np.ndarray, visible: np.ndarray) -> Occlusion:
        drawing = draw(kind, image, visible)
        drawings.append(drawing)
        return composite_occlusion(image, visible, drawing.occluder, drawing.params, drawing.header,
                                   drawing.trailer, drawing.record)  # fmt: skip

    stack = DrawnStack(kinds, (), harmonise, class_of)
    sample = _painted(still, stack, paint)
    return sample, replace(stack, extras=tuple(drawings))


def restack(still: Sample, stack: DrawnStack, placed: Sequence[tuple[Occluder, CompositeParams]]) -> Sample:
    """``still`` (a rendered first occluder: a clip frame) with ``stack``'s occluders painted on top as drawn, each
    cut-out and params replaced by ``placed``'s (one per extra, in paint order: e.g. moved and blurred)."""
    if len(placed) != len(stack.extras):
        raise SampleError(f"restack: {len(stack.extras)} stacked occluders but {len(placed)} placements; give one each")
    pending = iter(zip(stack.extras, placed, strict=True))

    def paint(kind: str, image: np.ndarray, visible: np.ndarray) -> Occlusion:
        drawing, (occluder, params) = next(pending)
        return composite_occlusion(image, visible, occluder, params, drawing.header, drawing.trailer, drawing.record)

    return _painted(still, stack, paint)


def _painted(still: Sample, stack: DrawnStack, paint: Callable[[str, np.ndarray, np.ndarray], Occlusion]) -> Sample:
    labels = still.labels
    assert isinstance(labels, LabelSources)  # render_drawn's samples always have them
    first = (still.image, still.occluder_mask, still.face_mask, still.metadata, labels.footprint)
    stacked, instances, classes = stack_occluders(first, stack.kinds, draw=paint, harmonise=stack.harmonise,
                                                  class_of=stack.class_of)  # fmt: skip
    image, occluder_mask, visible, metadata, footprint = stacked
    labels = replace(labels, footprint=footprint, instances=instances, instance_classes=classes)
    return Sample(image, visible, occluder_mask, metadata, labels)
