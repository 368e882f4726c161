"""Several occluders on one face (issue 25): how many, which kinds, another person's face as one of them, and the
per-pixel instance map they leave.

Where it sits: the recipes layer, beside :mod:`occgen.recipes.natocc` (which composites the first occluder exactly
as it always did) and :mod:`occgen.recipes.labels` (which turns the instance map into label arrays).

Sample, then apply. :func:`sample_stack` draws, from the sample's own stream ``natocc_extra`` (keyed by the sample
index), how many occluders the face gets (``natocc.occluders_per_face``) and the kind of each one after the first:
``hand`` or ``object`` (``objects_frac``), then ``face`` on top with probability ``natocc.face_occluder_frac``.
At the defaults (one occluder, no other face) it draws nothing, so samples keep their bytes. The extra occluders
are composited in that order onto the image the first one left (later ones on top); each has its own placement.

The instance map (:func:`stack_instances`) is uint8 (S, S): 0 = no occluder, ``i`` = the i-th occluder in paint
order. A pixel belongs to the topmost occluder whose *footprint* covers it: its own alpha (before opacity) is at
least the compositor's ``footprint_threshold`` (0.5), the same test that takes the pixel out of ``face_mask``.
So a soft edge below 0.5 belongs to whatever lies under it, and the map's non-zero pixels are exactly the
union of the footprints (``occluder_class > 0``).

Another face (:func:`face_cutout`, :func:`sample_face_occluder`; drawn by :func:`draw_other_face`): a different
face of the face set, cut out with its face mask plus its hair from the parsing map where it has one (else the face
mask alone), holes filled, the edge softened by a Gaussian; scaled to 0.9-1.15x the target face's height and placed
beside it so that it covers 20-45 % of the face box's width from the left or the right, as in a crowded crop. Its
pixels are occluder (class ``object``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import cv2
import numpy as np

from occgen.compose import CompositeConfig, CompositeParams, face_box, sample_composite
from occgen.core.errors import ConfigError, EmptyOccluderError, SampleError
from occgen.core.geometry import mask_bbox
from occgen.core.labels import PART_ID
from occgen.core.params import to_plain
from occgen.core.rng import register_stream
from occgen.recipes.labels import face_parsing_loader
from occgen.sources.faces import FaceSource
from occgen.sources.occluder import Occluder

#: The extra occluders of a NatOcc sample draw from their own stream (ids above the built-in recipes').
EXTRA_STREAM = "natocc_extra"
register_stream(EXTRA_STREAM, 251)
STACK_KINDS = ("hand", "object", "face")
MAX_OCCLUDERS = 16  # instance ids are uint8; a face under more than this many occluders is no longer a face


@dataclass(frozen=True, kw_only=True)
class OccludersPerFace:
    """How many occluders a face gets (``natocc.occluders_per_face``): ``counts`` drawn with ``weights``;
    the 2nd, 3rd... occluder is an object with probability ``objects_frac``, else a hand. The default is
    exactly one occluder, the paper's."""

    counts: tuple[int, ...] = (1,)
    weights: tuple[float, ...] = (1.0,)
    objects_frac: float = 0.5

    def __post_init__(self) -> None:
        where = "natocc.occluders_per_face"
        if not self.counts or any(not 1 <= c <= MAX_OCCLUDERS for c in self.counts):
            raise ConfigError(f"{where}.counts must be a non-empty list of integers in 1..{MAX_OCCLUDERS}, "
                              f"got {list(self.counts)}")  # fmt: skip
        if len(self.weights) != len(self.counts) or any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ConfigError(f"{where}.weights must be one non-negative weight per count (not all 0), got "
                              f"{list(self.weights)} for counts {list(self.counts)}")  # fmt: skip
        if not 0.0 <= self.objects_frac <= 1.0:
            raise ConfigError(f"{where}.objects_frac must be in [0, 1], got {self.objects_frac}")

    @property
    def single(self) -> bool:
        """Whether every face gets exactly one occluder (then nothing is drawn)."""
        return all(count == 1 for count, weight in zip(self.counts, self.weights, strict=True) if weight > 0)

    @property
    def uses_objects(self) -> bool:
        return not self.single and self.objects_frac > 0


def sample_stack(
    *, rng: np.random.Generator, config: OccludersPerFace, face_occluder_frac: float
) -> tuple[str, ...]:
    """The kinds of the occluders after the first, in paint order (:data:`STACK_KINDS`); empty at the defaults.
    Draws nothing when ``config.single`` and ``face_occluder_frac`` is 0."""
    kinds: list[str] = []
    if not config.single:
        weights = np.asarray(config.weights, np.float64)
        count = config.counts[int(rng.choice(len(config.counts), p=weights / weights.sum()))]
        kinds = ["object" if rng.random() < config.objects_frac else "hand" for _ in range(count - 1)]
    if face_occluder_frac > 0 and rng.random() < face_occluder_frac:
        kinds.append("face")
    return tuple(kinds)


def stack_instances(footprints: list[np.ndarray]) -> np.ndarray:
    """uint8 (S, S) instance ids from the occluders' bool footprints in paint order: ``i`` (1-based) where the
    i-th footprint is the topmost one covering the pixel, 0 where none does."""
    if not footprints:
        raise ConfigError("stack_instances needs at least one footprint")
    if len(footprints) > MAX_OCCLUDERS:
        raise ConfigError(f"at most {MAX_OCCLUDERS} occluders per face, got {len(footprints)}")
    out = np.zeros(footprints[0].shape, np.uint8)
    for number, footprint in enumerate(footprints, start=1):
        out[footprint] = number  # later occluders paint over earlier ones
    return out


def combine_occluder_masks(below: np.ndarray, above: np.ndarray) -> np.ndarray:
    """The uint8 occluder mask (alpha x 255) of two stacked occluders: 1 - (1 - a)(1 - b), rounded."""
    a = below.astype(np.float32) / 255.0
    b = above.astype(np.float32) / 255.0
    return np.clip((1.0 - (1.0 - a) * (1.0 - b)) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def face_cutout(image: np.ndarray, face_mask: np.ndarray, parsing: np.ndarray | None, face_id: str) -> Occluder:
    """Another person's face as an RGBA occluder: the face mask plus its hair (``parsing`` class ``hair``, when
    given), its holes filled (eyes, glasses or a mouth the mask leaves out), blurred by a Gaussian of about 1 % of
    the image side, cropped to the alpha's box. Raises EmptyOccluderError when the face has no face pixels."""
    region = face_mask.astype(bool)
    if parsing is not None:
        region |= parsing == PART_ID["hair"]
    # Holes filled: a face mask leaves out eyes, glasses or an open mouth, which are that person's too.
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    solid = np.zeros(region.shape, np.uint8)
    cv2.drawContours(solid, contours, -1, 1, thickness=cv2.FILLED)
    region = solid.astype(bool) | region
    kernel = max(3, round(image.shape[0] * 0.02)) | 1
    alpha = cv2.GaussianBlur(region.astype(np.float32), (kernel, kernel), 0)
    found = mask_bbox(alpha > 0.02)
    if found is None:
        raise EmptyOccluderError(f"face {face_id} has no face pixels: it cannot occlude another face")
    top, left, bottom, right = found
    crop = np.clip(alpha[top:bottom, left:right], 0.0, 1.0).astype(np.float32)
    return Occluder(f"face/{face_id}", "face", np.ascontiguousarray(image[top:bottom, left:right]), crop)


@dataclass(frozen=True, kw_only=True)
class FaceOccluderPlacement:
    """Where another face goes: ``side`` -1 (left) or 1 (right) of the target face, ``cover_frac`` of the face
    box's width it covers, ``height_frac`` its height relative to the face box's, ``shift_frac`` its vertical
    offset (face box heights) and ``rotation_deg``."""

    side: int
    cover_frac: float
    height_frac: float
    shift_frac: float
    rotation_deg: float


def sample_face_occluder(
    *, rng: np.random.Generator, config: CompositeConfig, face_mask: np.ndarray, occluder_shape: tuple[int, int]
) -> tuple[CompositeParams, FaceOccluderPlacement]:
    """Draw the compositor params (its photometric augmentation) and the crowded-crop placement of a face
    occluder, and apply the placement: the params' centre, scale and rotation are replaced."""
    params = sample_composite(rng=rng, config=config, face_mask=face_mask, occluder_shape=occluder_shape)
    placement = FaceOccluderPlacement(
        side=1 if rng.random() < 0.5 else -1, cover_frac=float(rng.uniform(0.2, 0.45)),
        height_frac=float(rng.uniform(0.9, 1.15)), shift_frac=float(rng.uniform(-0.15, 0.15)),
        rotation_deg=float(rng.uniform(-15.0, 15.0)),
    )  # fmt: skip
    return apply_face_occluder(params, placement, face_mask, occluder_shape), placement


def apply_face_occluder(
    params: CompositeParams, placement: FaceOccluderPlacement, face_mask: np.ndarray, occluder_shape: tuple[int, int]
) -> CompositeParams:
    """``params`` with the centre, scale and rotation of ``placement`` (deterministic)."""
    x0, y0, x1, y1 = face_box(face_mask)
    box_w, box_h = x1 - x0, y1 - y0
    height, width = occluder_shape
    fit_scale = placement.height_frac * box_h / max(height, 1)
    half_width = width * fit_scale / 2.0
    if placement.side > 0:  # its left edge lies cover_frac of the box inside the face's right edge
        cx = x1 - placement.cover_frac * box_w + half_width
    else:
        cx = x0 + placement.cover_frac * box_w - half_width
    cy = (y0 + y1) / 2.0 + placement.shift_frac * box_h
    return replace(params, scale=1.0, shear_deg=0.0, fit_scale=fit_scale, center_xy=(float(cx), float(cy)),
                   rotation_deg=placement.rotation_deg)  # fmt: skip


def instance_table(metadata: dict[str, Any], occluder_class: int) -> list[dict[str, Any]]:
    """A sample's ``occluders`` table: its own (several occluders), else one row for its single occluder
    (instance 1, ``occluder_class``), else none (no occluder: class 0)."""
    if "occluders" in metadata:
        return list(metadata["occluders"])
    if not occluder_class or not metadata.get("occluder_types"):
        return []
    return [instance_entry(1, metadata["occluder_types"][0], occluder_class, metadata)]


def instance_entry(number: int, kind: str, occluder_class: int, meta: dict[str, Any]) -> dict[str, Any]:
    """One row of a sample's ``occluders`` table: instance id, kind, occluder class, COCO category (objects
    from COCO; else None), placement anchor (anchored placement; else None), and the occluder's own ``params``
    and ``placement`` records (None where its recipe records none): every row has the same keys, row 1 too."""
    draw = meta.get("params", {}).get("occluder", {})
    placement = meta.get("placement") or {}
    return {"instance": number, "kind": kind, "class": occluder_class,
            "category": draw.get("category") if isinstance(draw, dict) else None,
            "anchor": placement.get("anchor"), "id": meta["occluder_ids"][0],
            "params": meta.get("params"), "placement": meta.get("placement")}  # fmt: skip


def stacked_row(number: int, kind: str, occluder_class: int, meta: dict[str, Any]) -> dict[str, Any]:
    """A row of a stacked sample's table: :func:`instance_entry` and whether (and how) it was harmonised."""
    return instance_entry(number, kind, occluder_class, meta) | {
        "harmonised": meta["harmonised"], "color_transfer": meta.get("color_transfer", "none")}


#: What a recipe's compositing step gives: image, occluder mask (alpha x 255), visible face, metadata, footprint.
Occlusion = tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any], np.ndarray]
#: Composites one more occluder of a kind onto (image, visible face); its randomness comes from the caller's stream.
DrawExtra = Callable[[str, np.ndarray, np.ndarray], Occlusion]
#: Harmonises an object just composited: (image, its occluder mask) -> image.
Harmonise = Callable[[np.ndarray, np.ndarray], np.ndarray]


def stack_occluders(
    first: Occlusion, kinds: tuple[str, ...], *, draw: DrawExtra, harmonise: Harmonise | None,
    class_of: Callable[[str], int],
) -> tuple[Occlusion, np.ndarray, tuple[int, ...]]:
    """Composite the occluders ``kinds`` (from :func:`sample_stack`) on top of ``first``, in order.

    An occluder that asks to be harmonised (``metadata["harmonised"]``) is harmonised right after it is
    composited, before anything lands on it (so paint order holds). Returns the stacked occlusion (its
    footprint is the union; its metadata is the first's with every occluder in ``occluder_ids`` /
    ``occluder_types``, the final ``face_px_after`` and the ``occluders`` table of :func:`instance_entry` rows,
    each, the first too, with its own ``params``, ``placement``, ``harmonised`` and ``color_transfer``), the
    instance map and each instance's occluder class."""
    image, occluder_mask, visible, meta, footprint = first
    if harmonise is not None and meta["harmonised"]:
        image = harmonise(image, occluder_mask)
    kind = meta["occluder_types"][0]
    classes = [class_of(kind)]
    table = [stacked_row(1, kind, classes[0], meta)]
    footprints = [footprint]
    ids, types = list(meta["occluder_ids"]), list(meta["occluder_types"])
    for number, wanted in enumerate(kinds, start=2):
        image, mask, visible, extra, extra_footprint = draw(wanted, image, visible)
        if harmonise is not None and extra["harmonised"]:
            image = harmonise(image, mask)
        occluder_mask = combine_occluder_masks(occluder_mask, mask)
        footprints.append(extra_footprint)
        kind = extra["occluder_types"][0]
        classes.append(class_of(kind))
        ids += extra["occluder_ids"]
        types += extra["occluder_types"]
        table.append(stacked_row(number, kind, classes[-1], extra))
    instances = stack_instances(footprints)
    stacked = {**meta, "occluder_ids": ids, "occluder_types": types, "face_px_after": int(visible.sum()),
               "occluders": table}  # fmt: skip
    return (image, occluder_mask, visible, stacked, instances > 0), instances, tuple(classes)


#: What :func:`draw_other_face` gives: the cut-out, its compositor params and its metadata before and after the face
#: pixel counts (as :class:`occgen.recipes.drawn.DrawnSample`'s ``header`` and ``trailer``).
DrawnFace = tuple[Occluder, CompositeParams, dict[str, Any], dict[str, Any]]


def draw_other_face(
    faces: FaceSource, size: int, config: CompositeConfig, amodal: np.ndarray, face_index: int, *,
    rng: np.random.Generator, attempts: int,
) -> DrawnFace:
    """Another face of ``faces`` (never ``face_index``) cut out (:func:`face_cutout`) and placed beside the face,
    overlapping it (:func:`sample_face_occluder`, placed by the ``amodal`` face mask's box). Faces without face
    pixels are skipped, ``attempts`` times at most. Its metadata records every params field
    (:func:`face_composite_record`)."""
    if len(faces) < 2:
        raise ConfigError(f"another face as occluder needs at least 2 faces, the face set has {len(faces)}")
    for attempt in range(1, attempts + 1):
        other = int(rng.integers(len(faces) - 1))
        other += other >= face_index
        loaded = faces.load(other, size)
        parsing = face_parsing_loader(faces, other, size, loaded.face_mask)()
        try:
            occluder = face_cutout(loaded.image, loaded.face_mask, parsing, loaded.face_id)
        except EmptyOccluderError:
            continue
        params, placement = sample_face_occluder(rng=rng, config=config, face_mask=amodal,
                                                 occluder_shape=occluder.alpha.shape)  # fmt: skip
        header = {"occluder_ids": [occluder.occluder_id], "occluder_types": [occluder.kind], "attempts": attempt}
        trailer = {"harmonised": False, "color_transfer": "none",
                   "params": {"occluder": {"face_index": other, "face_id": loaded.face_id},
                              "face_placement": to_plain(asdict(placement))}}  # fmt: skip
        return occluder, params, header, trailer
    raise SampleError(f"no other face with face pixels in {attempts} attempts (natocc.max_attempts)")


def face_composite_record(params: CompositeParams) -> dict[str, Any]:
    """A face occluder's compositor record: every field of ``params`` (issue 25 recorded them so)."""
    record: dict[str, Any] = to_plain(asdict(params))
    return record


def parse_occluders_per_face(text: str, base: OccludersPerFace) -> OccludersPerFace:
    """``--occluders-per-face``: ``"1:0.5,2:0.3,3:0.2"`` (count:weight) or ``"1,2,3"`` (equal weights) ->
    ``base`` with those counts and weights (its ``objects_frac`` kept). Malformed text raises ConfigError."""
    counts, weights = [], []
    try:
        for item in (part.strip() for part in text.split(",") if part.strip()):
            count, _, weight = item.partition(":")
            counts.append(int(count))
            weights.append(float(weight) if weight else 1.0)
    except ValueError:
        raise ConfigError(f"--occluders-per-face: expected counts like 1,2,3 or 1:0.5,2:0.5, got {text!r}") from None
    return replace(base, counts=tuple(counts), weights=tuple(weights))
