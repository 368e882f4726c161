"""The optional label arrays of one sample (``parsing``, ``face_mask_amodal``, ``clean_image``,
``occluder_class``, ``landmarks`` + ``landmark_visible``, ``occluder_instances``, ``face_mask_soft``; tables in
:mod:`occgen.core.labels`), built from what the recipe already knows.

Where it sits: a recipe attaches a :class:`LabelSources` to each :class:`~occgen.recipes.base.Sample`
(references to arrays it has anyway, plus a deferred face-parsing read); the generate stage calls
:func:`build_labels` only for the labels a store asks for, so the default path computes nothing extra and
its pixels do not change.

Invariants (tested in tests/test_labels.py): ``face_mask == face_mask_amodal & ~footprint``; ``parsing``
has a face class exactly where ``face_mask`` is 1; outside the occluder's blend alpha and its seam band the
composite equals ``clean_image`` bit for bit. ``occluder_instances`` is nonzero exactly where
``occluder_class`` is, each pixel with its instance's class (tests/test_multi.py).
``landmark_visible`` is the occluder alpha test at each landmark
of the sample as stored (after any move), tests/test_landmarks.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from occgen.core.errors import ConfigError
from occgen.core.labels import LABEL_ARRAYS, OCCLUDER_PARSING_BASE, PART_ID, generic_parsing
from occgen.core.landmarks import landmark_visibility, landmarks_from_parsing
from occgen.sources.faces import FaceSource


@dataclass(frozen=True)
class LabelSources:
    """What a sample knows beyond its three default arrays.

    ``clean_image`` uint8 (S, S, 3) and ``face_mask_amodal`` uint8 (S, S) {0, 1}: the face as it entered the
    compositor; ``footprint`` bool (S, S): the occluder's footprint; ``occluder_class``: 1 hand, 2 object,
    3 random shape (0: no occluder); ``face_parsing``: returns the face's parsing map (called lazily);
    ``face_landmarks``: returns the face's landmarks (float32 (K, 2), :mod:`occgen.core.landmarks`) where the
    recipe moved them itself (FaceOcc) or stores the face's own scheme (:mod:`occgen.recipes.landmark_label`),
    called lazily; None: derived from ``face_parsing()``.
    ``instances``: uint8 (S, S) instance ids of a sample with several occluders (:mod:`occgen.recipes.multi`;
    ``footprint`` is then their union) and ``instance_classes`` the occluder class of each, in id order; None:
    one occluder, instance 1 = ``footprint``.
    """

    clean_image: np.ndarray
    face_mask_amodal: np.ndarray
    footprint: np.ndarray
    occluder_class: int
    face_parsing: Callable[[], np.ndarray]
    face_landmarks: Callable[[], np.ndarray] | None = None
    instances: np.ndarray | None = None
    instance_classes: tuple[int, ...] = ()

    def instance_map(self) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 (S, S) instance ids, uint8 lookup table id -> occluder class)."""
        if self.instances is not None:
            return self.instances, np.array([0, *self.instance_classes], np.uint8)
        single = self.footprint.astype(np.uint8) if self.occluder_class else np.zeros(self.footprint.shape, np.uint8)
        return single, np.array([0, self.occluder_class], np.uint8)


#: Label policies for the mouth interior (parsing class ``mouth``, between the lips): ``face`` keeps it face (the
#: default, as the face set's mask says); ``occluder`` takes it out of the face (``face_mask`` and
#: ``face_mask_amodal`` are 0 there; ``parsing`` keeps ``mouth``, which the card then does not list as a face class).
INNER_MOUTH_POLICIES = ("face", "occluder")


def without_inner_mouth(face_mask: np.ndarray, parsing: np.ndarray) -> np.ndarray:
    """``face_mask`` (uint8 (S, S) {0, 1}) with the mouth interior (``parsing == mouth``) set to 0, a new array;
    a parsing map without the class (a face known only by its mask) changes nothing."""
    return face_mask * (parsing != PART_ID["mouth"]).astype(np.uint8)


def face_parsing_loader(faces: FaceSource, index: int, size: int, face_mask: np.ndarray) -> Callable[[], np.ndarray]:
    """A deferred read of face ``index``'s parsing map; sources without one give the generic face class."""
    loader = getattr(faces, "load_parsing", None)
    if loader is None:
        return lambda: generic_parsing(face_mask)
    return lambda: loader(index, size, face_mask)


def build_labels(
    sources: LabelSources | dict[str, np.ndarray], labels: tuple[str, ...], *, occluder_mask: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The store arrays for ``labels`` (``--labels`` names) -> {array name: array}. ``sources`` may also be
    the arrays themselves (a sample read back from a store, e.g. by ``occgen recode``). ``occluder_mask``: the
    sample's uint8 (S, S) occluder mask as stored, which landmark visibility is tested against."""
    if isinstance(sources, dict):
        missing = [LABEL_ARRAYS[name] for name in labels if LABEL_ARRAYS[name] not in sources]
        if missing:
            raise ConfigError(
                f"label array(s) {', '.join(missing)} are not in the source sample; drop them from labels"
            )
        return {LABEL_ARRAYS[name]: sources[LABEL_ARRAYS[name]] for name in labels}
    out: dict[str, np.ndarray] = {}
    wants_points = "landmarks" in labels or "landmark-visible" in labels
    needs_parsing = "parsing" in labels or (wants_points and sources.face_landmarks is None)
    face_parsing = sources.face_parsing() if needs_parsing else None  # read once for both labels
    instances, instance_class = sources.instance_map()
    if "parsing" in labels:
        assert face_parsing is not None
        parsing = face_parsing.copy()
        covered = instances > 0
        parsing[covered] = OCCLUDER_PARSING_BASE + instance_class[instances[covered]]
        out[LABEL_ARRAYS["parsing"]] = parsing
    if "amodal" in labels:
        out[LABEL_ARRAYS["amodal"]] = sources.face_mask_amodal
    if "clean" in labels:
        out[LABEL_ARRAYS["clean"]] = sources.clean_image
    if "occluder-class" in labels:
        out[LABEL_ARRAYS["occluder-class"]] = instance_class[instances]
    if "instances" in labels:
        out[LABEL_ARRAYS["instances"]] = instances
    if "soft-face" in labels:  # the face's visibility: 1 - occluder alpha on the amodal face (x 255)
        if occluder_mask is None:
            raise ConfigError("the soft face mask needs the sample's occluder_mask (build_labels(occluder_mask=...))")
        out[LABEL_ARRAYS["soft-face"]] = sources.face_mask_amodal * (np.uint8(255) - occluder_mask)
    if wants_points:
        if occluder_mask is None:
            raise ConfigError("landmark visibility needs the sample's occluder_mask (build_labels(occluder_mask=...))")
        if sources.face_landmarks is not None:
            points = sources.face_landmarks()
        else:
            assert face_parsing is not None
            points = landmarks_from_parsing(face_parsing)
        if "landmarks" in labels:
            out[LABEL_ARRAYS["landmarks"]] = points
        if "landmark-visible" in labels:
            out[LABEL_ARRAYS["landmark-visible"]] = landmark_visibility(points, occluder_mask)
    return out
