r"""Label tables, stated once: the optional label arrays a store may hold and the class ids they use.

Where it sits: the bottom layer. Face sources build ``parsing`` maps with these ids, recipes add the
occluder classes, the store writes the arrays named here, preview / export / train read the tables.

Optional label arrays (chosen per store with ``--labels`` / the ``labels`` params key; the default is
none of them, so a store holds only ``image``, ``face_mask`` and ``occluder_mask``):

===================  =================  ====================  ==========================================
``--labels`` name    array              dtype, shape          meaning
===================  =================  ====================  ==========================================
``parsing``          ``parsing``        uint8 (N, S, S)       :data:`PARSING_CLASSES` ids
``amodal``           ``face_mask_amodal`` uint8 (N, S, S)     {0, 1}: the face mask before occlusion
``clean``            ``clean_image``    uint8 (N, S, S, 3)    the face image as it entered the compositor
``occluder-class``   ``occluder_class`` uint8 (N, S, S)       :data:`OCCLUDER_CLASSES` per pixel
``landmarks``        ``landmarks``      float32 (N, K, 2)     x, y pixels, the card's scheme; NaN: none
\                    ``landmark_visible`` uint8 (N, K)        1: inside the image and not covered
``instances``        ``occluder_instances`` uint8 (N, S, S)   0 none, i: the i-th occluder (paint order)
``soft-face``        ``face_mask_soft`` uint8 (N, S, S)       [0, 255]: amodal face x (1 - occluder alpha) x 255
===================  =================  ====================  ==========================================

``landmarks`` and ``landmark-visible`` always come together (either name asks for both); the points and how
each is derived are in :mod:`occgen.core.landmarks`.

Parsing ids: 0 background, 1..18 CelebAMask-HQ's parts in the order of its own label script
(switchablenorms/CelebAMask-HQ ``face_parsing/Data_preprocessing/g_mask.py``: skin, nose, eye_g, l_eye,
r_eye, l_brow, r_brow, l_ear, r_ear, mouth, u_lip, l_lip, hair, hat, ear_r, neck_l, neck, cloth); note that
the public BiSeNet checkpoint (zllrunning/face-parsing.PyTorch) numbers the same parts in another order,
:data:`occgen.sources.faces.CELEBAMASK_PARTS`, and is remapped by name. Then 19 ``face`` (a face that
came with only a binary mask), 20 ``occluder_hand``, 21 ``occluder_object``, 22 ``occluder_shape``: the
occluder's footprint (its own alpha >= ``composite.footprint_threshold``, the same pixels ``face_mask``
removes). Polarity everywhere: 1 / a face class = visible face. A mirrored parsing map swaps
``l_eye``/``r_eye``, ``l_brow``/``r_brow`` and ``l_ear``/``r_ear`` (:data:`PARSING_FLIP_SWAP`).
"""

from __future__ import annotations

import numpy as np

from occgen.core.errors import ConfigError

#: CelebAMask-HQ's 18 parts in its published label order (g_mask.py); parsing id = position + 1.
CELEBAMASK_LABEL_ORDER: tuple[str, ...] = (
    "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
    "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip
GENERIC_FACE = 19
#: Occluder kinds (``Occluder.kind``) -> occluder class: 0 none, 1 hand, 2 object, 3 random shape.
OCCLUDER_CLASSES: tuple[str, ...] = ("none", "hand", "object", "random_shape")
#: ``face`` (another person's face, issue 25) is an object: a face that is not the target face is not face.
OCCLUDER_KIND_CLASS = {"hand": 1, "coco-object": 2, "rgba-folder": 2, "random-shape": 3, "eyewear": 2, "face-mask": 2,
                       "face": 2, "hair": 2}  # fmt: skip
#: Parsing id of occluder class c (c >= 1) is OCCLUDER_PARSING_BASE + c.
OCCLUDER_PARSING_BASE = GENERIC_FACE
PARSING_CLASSES: tuple[str, ...] = (
    "background",
    *CELEBAMASK_LABEL_ORDER,
    "face",
    "occluder_hand",
    "occluder_object",
    "occluder_shape",
)
PART_ID = {name: index + 1 for index, name in enumerate(CELEBAMASK_LABEL_ORDER)}

#: The parts that trade names when an image is mirrored. CelebAMask-HQ does not say whose left ``l_`` is (the
#: subject's, as anatomy names it, or the viewer's): either way a mirror image must swap the pair, since a
#: mirror puts each part on the other side *and* reverses the face's handedness. ``ear_r`` (earring) and
#: ``neck_l`` (necklace) are not sides: their suffixes are part of the names, they have no partner.
LEFT_RIGHT_PARTS: tuple[tuple[str, str], ...] = (("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear"))
#: The same pairs as parsing ids ((4, 5), (6, 7), (8, 9)): the swap table of a parsing class map
#: (:class:`occgen.core.targets.Target`), applied by every op that mirrors (flips, reflecting affines).
PARSING_FLIP_SWAP: tuple[tuple[int, int], ...] = tuple((PART_ID[a], PART_ID[b]) for a, b in LEFT_RIGHT_PARTS)

#: ``--labels`` name -> store array name (the names webdataset / HF exporters use too).
LABEL_ARRAYS = {
    "parsing": "parsing",
    "amodal": "face_mask_amodal",
    "clean": "clean_image",
    "occluder-class": "occluder_class",
    "landmarks": "landmarks",
    "landmark-visible": "landmark_visible",
    "instances": "occluder_instances",
    "soft-face": "face_mask_soft",
}
#: ``--labels`` names that are only stored together (a point without its visibility is half a label).
LABEL_GROUPS: tuple[frozenset[str], ...] = (frozenset({"landmarks", "landmark-visible"}),)

#: The landmark scheme every face gets (:func:`occgen.core.landmarks.landmarks_from_parsing`), named in the card.
LANDMARK_SCHEME = "occgen-parsing-13"
#: The points of :data:`LANDMARK_SCHEME` in stored order. ``left``/``right`` follow CelebAMask-HQ's ``l_``/``r_``
#: part names (``left_eye`` is the centroid of ``l_eye``); the mouth corners and jaw points take the side of
#: the eye (or brow) of the same name, so the whole set names one side consistently.
LANDMARK_NAMES: tuple[str, ...] = (
    "left_eye", "right_eye", "left_brow", "right_brow", "nose_center", "mouth_center", "mouth_left",
    "mouth_right", "upper_lip", "lower_lip", "chin", "jaw_left", "jaw_right",
)  # fmt: skip
#: After a mirroring op point ``i`` is the old point ``LANDMARK_FLIP_PERM[i]``: every left/right pair swaps.
LANDMARK_FLIP_PERM: tuple[int, ...] = tuple(
    LANDMARK_NAMES.index(name.replace("left", "@").replace("right", "left").replace("@", "right"))
    for name in LANDMARK_NAMES
)


def parse_labels(spec: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """``"parsing,amodal"`` (or a list) -> the ``--labels`` names in canonical order, with the rest of any
    :data:`LABEL_GROUPS` group named; unknown names raise."""
    if spec is None:
        return ()
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    items = [s for s in items if s and s != "none"]
    items += [member for group in LABEL_GROUPS if group & set(items) for member in group]
    unknown = [s for s in items if s not in LABEL_ARRAYS]
    if unknown:
        raise ConfigError(
            f"labels (--labels): unknown label {unknown[0]!r}; valid: {', '.join(LABEL_ARRAYS)} (comma-separated)"
        )
    return tuple(name for name in LABEL_ARRAYS if name in items)


def occluder_class_of(kind: str) -> int:
    """The occluder class (1 hand, 2 object, 3 random shape) of an ``Occluder.kind``."""
    if kind not in OCCLUDER_KIND_CLASS:
        raise ConfigError(f"no occluder class for occluder kind {kind!r}; known: {', '.join(OCCLUDER_KIND_CLASS)}")
    return OCCLUDER_KIND_CLASS[kind]


def face_class_ids(face_parts: tuple[str, ...]) -> tuple[int, ...]:
    """Parsing ids that count as visible face: the ``face_parts`` and the generic face class."""
    return (*sorted(PART_ID[name] for name in face_parts), GENERIC_FACE)


def parts_parsing(
    parts: dict[str, np.ndarray], face_parts: tuple[str, ...], occluding_parts: tuple[str, ...]
) -> np.ndarray:
    """A parsing map (uint8, :data:`PARSING_CLASSES` ids) from per-part {0, 1} masks.

    Precedence (a later part wins where parts overlap): parts that are neither face nor occluding
    (ears, neck with the defaults), then the face parts, then the occluding parts, each group in the
    published order. So a pixel has a face-part id exactly where
    :func:`occgen.sources.faces.face_mask_from_parts` says "visible face" (CelebAMask-HQ's own script
    paints plainly in published order instead, which would let e.g. ``neck`` cover ``skin`` inside the
    visible face).
    """
    if not parts:
        raise ConfigError("no part masks given")
    shape = next(iter(parts.values())).shape
    out = np.zeros(shape, np.uint8)
    neutral = [p for p in CELEBAMASK_LABEL_ORDER if p not in face_parts and p not in occluding_parts]
    ordered = [*neutral, *(p for p in CELEBAMASK_LABEL_ORDER if p in face_parts),
               *(p for p in CELEBAMASK_LABEL_ORDER if p in occluding_parts)]  # fmt: skip
    for name in ordered:
        if name in parts:
            out[parts[name].astype(bool)] = PART_ID[name]
    return out


def reconcile_parsing(parsing: np.ndarray, face_mask: np.ndarray, face_classes: tuple[int, ...]) -> np.ndarray:
    """Make ``parsing`` agree with ``face_mask`` (a new array): face pixels whose class is not a face class
    become :data:`GENERIC_FACE`; non-face pixels with a face class become background. A no-op when the two
    came from the same parts (used for corrected masks, letterboxing and parser output)."""
    is_face_class = np.isin(parsing, face_classes)
    face = face_mask.astype(bool)
    out = parsing.copy()
    out[face & ~is_face_class] = GENERIC_FACE
    out[~face & is_face_class] = 0
    return out


def generic_parsing(face_mask: np.ndarray) -> np.ndarray:
    """The parsing map of a face known only by its binary mask: :data:`GENERIC_FACE` on the face, else 0."""
    return face_mask.astype(np.uint8) * np.uint8(GENERIC_FACE)


def _palette() -> np.ndarray:
    """A fixed RGB colour per parsing id (face parts warm/skin tones, occluders saturated)."""
    colours = [
        (0, 0, 0), (204, 153, 119), (255, 170, 0), (200, 200, 200), (0, 128, 255), (0, 200, 255),
        (128, 64, 0), (160, 96, 32), (255, 128, 128), (255, 160, 160), (255, 0, 128), (255, 80, 80),
        (200, 0, 0), (90, 60, 30), (120, 0, 160), (255, 255, 0), (0, 255, 200), (150, 120, 100),
        (60, 60, 200), (230, 180, 150), (255, 0, 0), (0, 220, 0), (255, 0, 255),
    ]  # fmt: skip
    table = np.zeros((256, 3), np.uint8)
    table[: len(colours)] = colours
    return table


#: RGB colour of each parsing id (rows beyond the classes are black).
PARSING_PALETTE = _palette()


def colour_parsing(parsing: np.ndarray) -> np.ndarray:
    """A uint8 (H, W) parsing map drawn in :data:`PARSING_PALETTE` -> uint8 (H, W, 3)."""
    return PARSING_PALETTE[parsing]


def label_card(
    labels: tuple[str, ...], face_parts: tuple[str, ...], *, landmark_scheme: str = LANDMARK_SCHEME,
    landmark_names: tuple[str, ...] = LANDMARK_NAMES, landmark_flip_perm: tuple[int, ...] = LANDMARK_FLIP_PERM,
) -> dict[str, object]:
    """What the store card says about its optional label arrays: names, dtypes, class maps, polarity.
    ``landmark_*``: the stored landmark scheme, its point names and mirror permutation (default: the
    parsing-derived :data:`LANDMARK_SCHEME`; a face source's own scheme, :mod:`occgen.core.landmark_schemes`)."""
    derived = landmark_scheme == LANDMARK_SCHEME
    origin = ("derived from the face's parsing map before occlusion (left/right: CelebAMask-HQ's l_/r_ parts); NaN "
              "where the part is missing (absent, under glasses or hair, or a face with only a binary mask)"
              if derived else f"the face source's own {landmark_scheme} points (its landmark file), moved with the "
              "face's letterbox and resize")  # fmt: skip
    card: dict[str, object] = {}
    for name in labels:
        array = LABEL_ARRAYS[name]
        if name == "parsing":
            card[array] = {
                "dtype": "uint8", "classes": list(PARSING_CLASSES),
                "face_classes": list(face_class_ids(face_parts)),
                "meaning": "0 background; 1-18 CelebAMask-HQ parts (g_mask.py order) where not occluded; "
                           "19 face (binary-mask faces); 20 hand, 21 object, 22 random shape on the occluder's "
                           "footprint. A pixel has a face class exactly where face_mask is 1.",
            }  # fmt: skip
        elif name == "amodal":
            card[array] = {"dtype": "uint8", "values": "0/1", "meaning": "face mask before occlusion; 1 = face"}
        elif name == "clean":
            card[array] = {
                "dtype": "uint8 RGB", "meaning": "the face image as it entered the compositor",
                "stored": "only inside clean_box (int32 [top, left, bottom, right) per sample: where it differs "
                          "from image), 0 elsewhere; the clean face is image with that box pasted in "
                          "(occgen's readers do it)",
            }  # fmt: skip
        elif name == "landmarks":
            card[array] = {
                "dtype": "float32 (K, 2) x, y pixels", "scheme": landmark_scheme, "names": list(landmark_names),
                "flip_perm": list(landmark_flip_perm),
                "meaning": f"pixel (row, col) has its centre at x = col, y = row; {origin}",
            }  # fmt: skip
        elif name == "landmark-visible":
            card[array] = {
                "dtype": "uint8 (K,)", "values": "0/1", "names": list(landmark_names),
                "meaning": "1 where the landmark's pixel (x, y rounded) is inside the image and the occluder "
                           "covers it less than half (occluder_mask < 128); 0 otherwise and for NaN points",
            }  # fmt: skip
        elif name == "soft-face":
            card[array] = {
                "dtype": "uint8", "values": "0-255",
                "meaning": "how visible the face is: face_mask_amodal x (255 - occluder_mask), so 255 on unoccluded "
                           "face, 0 off the face and under opaque occluders, 255 x (1 - alpha) under see-through ones "
                           "(clear lenses: natocc.eyewear_label soft)",
            }  # fmt: skip
        elif name == "instances":
            card[array] = {
                "dtype": "uint8", "values": "0 none; i = the i-th occluder in paint order (metadata occluder_types)",
                "meaning": "the topmost occluder whose footprint (its own alpha >= composite.footprint_threshold, 0.5, "
                           "before opacity) covers the pixel; nonzero exactly where occluder_class is. Samples with "
                           "several occluders list them in their metadata's occluders table (instance, kind, class, "
                           "category, anchor), written for every sample of a store with this label",
            }  # fmt: skip
        else:
            meaning = "occluder class on the occluder's footprint (the pixels face_mask loses)"
            card[array] = {"dtype": "uint8", "classes": list(OCCLUDER_CLASSES), "meaning": meaning}
    return card
