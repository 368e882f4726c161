"""NatOcc (NatOcc paper, section 3.2): naturalistic occluders on faces, into the same zarr schema as RandOcc.

Composition (``objects_frac``). The default, ``"paired"``, is the paper's C-WO-NatOcc set (Table 3: one
set of hand-occluded faces and one of COCO-object-occluded faces over the same faces): samples come in
pairs, sample ``2k`` a hand and sample ``2k + 1`` an object, both on face ``pick_face(k)``. With the
default ``face_order: cycle`` and F faces, every block of 2F samples starting at a multiple of 2F holds
each face exactly once with a hand and once with an object, so ``--n 2F`` is the paper's set. A number
instead draws the kind per sample: ``0`` = hands only, ``1`` = objects only, in between a random share.

Per sample ``i``:
1. the face and the kind of occluder, as above (``sample_rng(seed, "natocc", k)``, ``k`` the pair index
   when paired, else ``i``);
2. a hand, from ``sample_rng(seed, "natocc_hands", i)`` (so hand samples do not change when the mix
   ratio does): a matted cut-out; its colours moved onto the face's by sliced optimal transport
   (``color_transfer: sot``, the paper's NatOcc-SOT set; ``none`` gives the NatOcc set); the usual
   compositor augmentation and placement; then the rotation is replaced so that the fingers point from
   the occluder's centre toward the face's centre, plus a small random rotation
   (``hand_rotation_jitter_deg``). Hands are not harmonised (the paper found it undoes the transfer);
3. an object, from ``sample_rng(seed, "natocc_objects", i)``: drawn from an objects source (COCO
   cut-outs; the embedded demo cut-outs when no folder is given) and composited, then harmonised if a
   harmoniser is given. The objects source and the harmoniser are plug-ins (``occgen.sources.objects``,
   ``occgen.appearance.harmonise``).

Cut-outs of either kind are shrunk to their placed size with an area filter before augmentation and
warping (:func:`shrink_to_placement`): a x4 super-resolved cut-out is never decimated by one warp.

``placement: anchored`` (issue 25) replaces the random centre, scale and rotation by a pose drawn for the
occluder's family at the face's landmarks (:mod:`occgen.recipes.placement`; a face without eye landmarks keeps
the random placement and says so in its metadata); ``wearables_frac`` sends that share of the object samples to
procedural eyewear and face masks (:mod:`occgen.sources.wearables`). Both default to the paper's behaviour.

Sizes: the compositor's edge and blur values are given at ``composite.reference_size_px`` (512², the authors'
faces) and scaled to ``--size`` (:func:`occgen.compose.resolve_pixels`); placement, SOT smoothing and harmonising
are already fractions of the face or the occluder. ``hand_max_side_px`` is a cap on decoding work, not a look.
``occluders_per_face`` and ``face_occluder_frac`` stack more occluders (another person's face among them) on top of
the first (:mod:`occgen.recipes.multi`); at their defaults nothing more is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from occgen.appearance.harmonise import HarmoniseConfig, Harmoniser, harmoniser_weights
from occgen.appearance.sot import SOTConfig, sample_sot, transfer_colours
from occgen.compose import CompositeConfig, CompositeParams, resolve_pixels, sample_composite
from occgen.core.errors import ConfigError, EmptyOccluderError, SampleError
from occgen.core.imageio import resize_image
from occgen.core.labels import occluder_class_of
from occgen.core.landmark_schemes import LandmarkScheme
from occgen.core.landmarks import landmarks_from_parsing
from occgen.core.params import ADDED, NO_EFFECT, to_plain
from occgen.core.rng import sample_rng
from occgen.recipes import placement as placing
from occgen.recipes.base import FACE_ORDERS, Sample, pick_face, sample_header
from occgen.recipes.drawn import DrawnExtra, DrawnSample, occluder_header, render_still, stack_on_still
from occgen.recipes.labels import INNER_MOUTH_POLICIES, face_parsing_loader, without_inner_mouth
from occgen.recipes.landmark_label import check_scheme_choice, source_scheme, with_source_landmarks
from occgen.recipes.multi import EXTRA_STREAM, OccludersPerFace, draw_other_face, face_composite_record, sample_stack
from occgen.recipes.placement import EYEWEAR_LABELS, PLACEMENTS, FaceFrame, face_frame, place, see_through_params
from occgen.sources.cache import DEFAULT_CACHE_MB
from occgen.sources.faces import DEFAULT_FACE_PARTS, FaceMemo, FaceSource
from occgen.sources.hands import MattedHands
from occgen.sources.occluder import Occluder, OccluderSource
from occgen.sources.wearables import Wearables

COLOR_TRANSFERS = ("sot", "none")
PAIRED = "paired"  # objects_frac: one hand and one object sample per face (the paper's C-WO-NatOcc)
#: What _hand / _object return: the occluder and params to composite, the attempt, the metadata after the
#: face pixel counts (:class:`occgen.recipes.drawn.DrawnSample`).
DrawnOccluder = tuple[Occluder, CompositeParams, int, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class NatOccConfig:
    """NatOcc parameters (``params.yaml`` section ``natocc``)."""

    hands_dir: Path | None = None  # output of `occgen hands matte`; None = the embedded demo hands
    color_transfer: str = "sot"  # sot: NatOcc-SOT; none: NatOcc (paper, table 3)
    # "paired": sample 2k a hand, 2k+1 an object, both on face k (the paper's set); a number in [0, 1]: the
    # random share of object samples (0 = hands only, 1 = objects only).
    objects_frac: float | str = PAIRED
    objects_dir: Path | None = None  # output of `occgen occluders coco` (optionally upscaled); None = demo
    # RainNet with a user checkpoint, else the `lab-stats` fallback; objects only (NatOcc paper 3.2:
    # harmonising hands undid their colour transfer).
    harmonise: HarmoniseConfig = field(default_factory=HarmoniseConfig)
    face_order: str = "cycle"
    fingers_toward_face: bool = True  # NatOcc paper 3.2: "fingers always point to the face"
    hand_rotation_jitter_deg: tuple[float, float] = (-15.0, 15.0)  # "followed by a small random rotation"
    # Cut-outs (hands and objects) are shrunk once per worker to max(this, the output size): an occluder never
    # fills more than the image, and decoding / colour transfer on full-size photos would dominate.
    hand_max_side_px: int = 512
    # Decoded cut-outs per worker (hands and objects); the default holds the paper's 200 hands, 128 objects.
    cache_mb: float = field(default=DEFAULT_CACHE_MB, metadata=NO_EFFECT)
    max_attempts: int = 5
    sot: SOTConfig = field(default_factory=SOTConfig)
    # Hands are opaque; the augmentation's own rotation is replaced by the toward-the-face rotation.
    composite: CompositeConfig = field(default_factory=CompositeConfig)
    # Issue 25 (docs/natocc.md, "Anchored placement"): "random" is the paper's placement; "anchored" puts each
    # occluder where its family meets a face (occgen.recipes.placement). wearables_frac: the share of object
    # samples that draw procedural eyewear / face masks instead of the objects source; eyewear_label: occluder
    # (the NatOcc paper's Table 1) or face (clear lenses). ADDED from here on: keys newer than stores made.
    placement: str = field(default="random", metadata=ADDED)
    wearables_frac: float = field(default=0.0, metadata=ADDED)
    eyewear_label: str = field(default="occluder", metadata=ADDED)
    # Issue 25 (docs/natocc.md): occluders per face (one: the paper's); share with another face on top.
    occluders_per_face: OccludersPerFace = field(default_factory=OccludersPerFace, metadata=ADDED)
    face_occluder_frac: float = field(default=0.0, metadata=ADDED)
    # inner_mouth occluder: the mouth interior is not face (docs/labels.md); landmark_scheme source: the faces'
    # own 68 / 5 points; hair_frac: the share of wearables that are a fringe of hair (docs/occluders.md).
    inner_mouth: str = field(default="face", metadata=ADDED)
    landmark_scheme: str = field(default="derived", metadata=ADDED)
    hair_frac: float = field(default=0.0, metadata=ADDED)

    def __post_init__(self) -> None:
        if self.inner_mouth not in INNER_MOUTH_POLICIES:
            raise ConfigError(f"natocc.inner_mouth must be one of {', '.join(INNER_MOUTH_POLICIES)}, "
                              f"got {self.inner_mouth!r}")  # fmt: skip
        check_scheme_choice(self.landmark_scheme, "natocc.landmark_scheme")
        for key in ("face_occluder_frac", "hair_frac"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"natocc.{key} must be in [0, 1], got {getattr(self, key)}")
        if self.placement not in PLACEMENTS:
            raise ConfigError(f"natocc.placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        if self.eyewear_label not in EYEWEAR_LABELS:
            raise ConfigError(
                f"natocc.eyewear_label must be one of {', '.join(EYEWEAR_LABELS)}, got {self.eyewear_label!r}"
            )
        if not 0.0 <= self.wearables_frac <= 1.0:
            raise ConfigError(f"natocc.wearables_frac must be in [0, 1], got {self.wearables_frac}")
        if self.color_transfer not in COLOR_TRANSFERS:
            raise ConfigError(
                f"natocc.color_transfer must be one of {', '.join(COLOR_TRANSFERS)}, got {self.color_transfer!r}"
            )
        if isinstance(self.objects_frac, str):
            if self.objects_frac != PAIRED:
                raise ConfigError(
                    f"natocc.objects_frac must be {PAIRED!r} or a number in [0, 1], got {self.objects_frac!r}"
                )
        elif not 0.0 <= self.objects_frac <= 1.0:
            raise ConfigError(f"natocc.objects_frac must be {PAIRED!r} or a number in [0, 1], got {self.objects_frac}")
        if self.face_order not in FACE_ORDERS:
            raise ConfigError(f"natocc.face_order must be one of {', '.join(FACE_ORDERS)}, got {self.face_order!r}")
        low, high = self.hand_rotation_jitter_deg
        if low > high:
            raise ConfigError(f"natocc.hand_rotation_jitter_deg must be (low, high), got {(low, high)}")
        if self.hand_max_side_px < 16 or self.max_attempts < 1:
            raise ConfigError("natocc.hand_max_side_px must be >= 16 and natocc.max_attempts >= 1")
        if self.cache_mb < 0:
            raise ConfigError(f"natocc.cache_mb must be >= 0 (0 = no cache), got {self.cache_mb}")

    @property
    def paired(self) -> bool:
        return self.objects_frac == PAIRED

    @property
    def uses_objects(self) -> bool:
        """Whether any sample can be an object (paired, or a share above 0)."""
        return self.paired or float(self.objects_frac) > 0


def shrink_to_placement(occluder: Occluder, params: CompositeParams) -> tuple[Occluder, CompositeParams]:
    """Shrink a cut-out that will be placed smaller than its size (area filter) and fold the ratio into
    ``params.fit_scale``: the same placement, but colour transfer and warp work on fewer pixels and the
    warp no longer aliases. Larger placements are returned unchanged."""
    placed = params.fit_scale * params.scale
    if placed >= 0.9:
        return occluder, params
    height, width = occluder.alpha.shape
    size = (max(round(width * placed), 1), max(round(height * placed), 1))
    rgb = resize_image(occluder.rgb, size)
    alpha = np.clip(resize_image(occluder.alpha, size), 0.0, 1.0).astype(np.float32)
    ratio = size[0] / width
    return Occluder(occluder.occluder_id, occluder.kind, rgb, alpha), replace(
        params, fit_scale=params.fit_scale / ratio
    )


@dataclass
class NatOccRecipe:
    faces: FaceSource
    hands: MattedHands
    config: NatOccConfig
    seed: int
    size: int
    objects: OccluderSource | None = None
    harmoniser: Harmoniser | None = None
    landmark_scheme: LandmarkScheme | None = field(init=False, default=None)  # None: derived (the card's scheme)
    wearables: OccluderSource | None = None  # natocc.wearables_frac > 0; None: procedural eyewear and face masks
    name: str = "natocc"
    # Samples 2k and 2k + 1 share face k: it is decoded once per process (read-only arrays).
    _faces_memo: FaceMemo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._faces_memo = FaceMemo(self.faces)
        if self.config.wearables_frac > 0 and self.wearables is None:
            self.wearables = Wearables(hair_frac=self.config.hair_frac)
        self.landmark_scheme = (source_scheme(self.faces, self.size, "natocc.landmark_scheme")
                                if self.config.landmark_scheme == "source" else None)  # fmt: skip
        if self.config.uses_objects and self.objects is None:
            raise ConfigError(
                f"natocc.objects_frac is {self.config.objects_frac!r} but no COCO objects source is available: "
                "the objects stage (occgen.prep.objects, `coco-objects`) is not installed in this build or no objects "
                "folder was given; set natocc.objects_frac to 0 for hands only"
            )
        if self.config.occluders_per_face.uses_objects and self.objects is None:
            raise ConfigError("natocc.occluders_per_face.objects_frac is above 0 but no objects source is available; "
                              "set it to 0 (extra occluders are hands) or give an objects folder")  # fmt: skip
        if self.config.face_occluder_frac > 0 and len(self.faces) < 2:
            raise ConfigError(f"natocc.face_occluder_frac is {self.config.face_occluder_frac} but the face set has "
                              f"{len(self.faces)} face: another face needs at least 2; set it to 0")  # fmt: skip

    def plan(self, index: int) -> tuple[int, bool]:
        """``(face index, is an object sample)`` of sample ``index`` (see the module docstring)."""
        if self.config.paired:
            pair = index // 2
            rng = sample_rng(self.seed, self.name, pair)
            return pick_face(pair, len(self.faces), self.config.face_order, rng), index % 2 == 1
        rng = sample_rng(self.seed, self.name, index)
        face_index = pick_face(index, len(self.faces), self.config.face_order, rng)
        return face_index, bool(rng.random() < float(self.config.objects_frac))

    def make(self, index: int) -> Sample:
        return self.make_batch([index])[0]

    def make_batch(self, indices: Sequence[int]) -> list[Sample]:
        """Samples ``indices`` (a shard), with their object samples harmonised together by
        ``harmoniser.apply_batch`` (RainNet runs ``batch_size`` crops per forward pass instead of one).

        Each sample is what ``make(i)`` gives, except that a batched network may round a pixel differently
        from a batch of one (at most 1 level; the shard layout, not the worker count, fixes the batches)."""
        return self.harmonise([self._still(index) for index in indices])

    def draw(self, index: int) -> DrawnSample:
        """Every random choice of sample ``index`` (:mod:`occgen.recipes.drawn`); objects are harmonised after
        compositing (:meth:`harmonise`). Extra occluders are in its ``stack``, drawn on the still (:meth:`_stacked`)."""
        return self._stacked(index, still=False)[0]

    def _draw(self, index: int) -> tuple[DrawnSample, int, FaceFrame | None]:
        """:meth:`draw`, with the face index and the face's landmark frame (anchored placement) it used."""
        face_index, use_object = self.plan(index)
        face = self._faces_memo.load(face_index, self.size)
        face_mask = face.face_mask
        if self.config.inner_mouth == "occluder":  # the face that enters the compositor has no mouth interior
            face_mask = without_inner_mouth(face_mask, self._faces_memo.load_parsing(face_index, self.size))
        compose = self._object if use_object else self._hand
        frame = self._face_frame(face_index) if self.config.placement == "anchored" else None
        occluder, params, attempt, trailer = compose(face.image, face_mask, index, frame)
        header = {**sample_header(self.name, index, face_index, face.face_id), **occluder_header(occluder, attempt)}
        drawn = DrawnSample(
            header, trailer, face.image, face_mask,
            face_parsing_loader(self._faces_memo, face_index, self.size, face.face_mask), occluder, params,
            occluder_class_of(occluder.kind), harmonise=bool(trailer["harmonised"]),
        )  # fmt: skip
        return drawn, face_index, frame

    def _still(self, index: int) -> Sample:
        still = self._stacked(index, still=True)[1]
        assert still is not None  # asked for
        if self.landmark_scheme is not None:  # the label holds the face's own points (stills only: clip_support)
            still = with_source_landmarks(still, self._faces_memo, self.plan(index)[0], self.size)
        return still

    def _stacked(self, index: int, *, still: bool) -> tuple[DrawnSample, Sample | None]:
        """Sample ``index``'s drawing and its still (rendered when ``still`` or when there are extra occluders, else
        None): more occluders drawn on it and painted on top from stream ``natocc_extra`` (:mod:`occgen.recipes.multi`;
        none, and nothing drawn, at the defaults: one occluder, no other face), kept in the drawing's ``stack``."""
        drawn, face_index, frame = self._draw(index)
        config = self.config
        rng = sample_rng(self.seed, EXTRA_STREAM, index)  # sample_stack draws nothing at the defaults
        kinds = sample_stack(rng=rng, config=config.occluders_per_face, face_occluder_frac=config.face_occluder_frac)
        if not kinds:
            return drawn, render_still(drawn) if still else None
        amodal = self._faces_memo.load(face_index, self.size).face_mask

        def draw(kind: str, image: np.ndarray, visible: np.ndarray) -> DrawnExtra:
            if kind == "face":
                cutout, placed, header, meta = draw_other_face(
                    self.faces, self.size, config.composite, amodal, face_index, rng=rng, attempts=config.max_attempts
                )
                return DrawnExtra(cutout, placed, header, meta, face_composite_record)
            compose = self._object if kind == "object" else self._hand
            occluder, params, attempt, trailer = compose(image, visible, index, frame, rng=rng)
            return DrawnExtra(occluder, params, occluder_header(occluder, attempt), trailer)

        harmoniser = self.harmoniser

        def harmonise(image: np.ndarray, occluder_mask: np.ndarray) -> np.ndarray:
            assert harmoniser is not None
            return harmoniser.apply_batch([image], [occluder_mask.astype(np.float32) / 255.0])[0]

        painter = harmonise if harmoniser else None
        stacked, stack = stack_on_still(render_still(drawn), kinds, draw=draw, harmonise=painter,
                                        class_of=occluder_class_of)  # fmt: skip
        return replace(drawn, stack=stack), stacked

    def harmonise(self, samples: list[Sample]) -> list[Sample]:
        """``samples`` with the images of those marked ``harmonised`` run through the harmoniser together (a
        stack of occluders, with an ``occluders`` table, was harmonised occluder by occluder as it was painted)."""
        chosen = [i for i, s in enumerate(samples) if s.metadata["harmonised"] and "occluders" not in s.metadata]
        if not chosen or self.harmoniser is None:
            return samples
        alphas = [samples[i].occluder_mask.astype(np.float32) / 255.0 for i in chosen]
        images = self.harmoniser.apply_batch([samples[i].image for i in chosen], alphas)
        out = list(samples)
        for i, image in zip(chosen, images, strict=True):
            out[i] = replace(samples[i], image=image)
        return out

    def check_labels(self, labels: tuple[str, ...]) -> None:
        """Refuse before the store exists: ``eyewear_label: soft`` keeps the lens alpha, which only the
        ``face_mask_soft`` array can hold (``face_mask`` is 0/1)."""
        if self.config.eyewear_label == "soft" and self.config.wearables_frac > 0 and "soft-face" not in labels:
            raise ConfigError("natocc.eyewear_label is soft but the store has no soft face mask to hold the lens "
                              "alpha (face_mask is 0/1): add --labels soft-face, or set natocc.eyewear_label: face")

    def clip_support(self) -> str | None:
        """Why this recipe's settings cannot make clips (``--frames``), or None: a face's own landmark file."""
        if self.landmark_scheme is not None:
            return "--frames: clips move the face but not its own landmarks; set natocc.landmark_scheme: derived"
        return None

    @property
    def face_parts(self) -> tuple[str, ...]:
        """The parsing parts that count as face in this recipe's labels (the store card's face classes): the face
        set's, without ``mouth`` when ``inner_mouth`` is ``occluder``."""
        parts = tuple(getattr(self.faces, "face_parts", DEFAULT_FACE_PARTS))
        return tuple(p for p in parts if p != "mouth") if self.config.inner_mouth == "occluder" else parts

    def _face_frame(self, face_index: int) -> FaceFrame | None:
        """The face's landmark frame for anchored placement (None: no eye landmarks, placement falls back): from
        the face's own landmark file (any scheme, as parsing-13 anchors), else from its parsing map."""
        if (own := self._faces_memo.load_landmarks(face_index, self.size)) is not None:
            return face_frame(own.scheme.as_parsing13(own.points))
        parsing = self._faces_memo.load_parsing(face_index, self.size)
        return face_frame(landmarks_from_parsing(parsing))

    def _hand(self, image: np.ndarray, face_mask: np.ndarray, index: int, frame: FaceFrame | None = None,
              rng: np.random.Generator | None = None) -> DrawnOccluder:  # fmt: skip
        rng = sample_rng(self.seed, "natocc_hands", index) if rng is None else rng  # given: a stacked occluder
        config = self.config
        for attempt in range(1, config.max_attempts + 1):
            try:
                occluder, hand_params = self.hands.draw(rng=rng)
            except EmptyOccluderError:
                continue
            sot_params = sample_sot(rng=rng)
            params = sample_composite(
                rng=rng, config=config.composite, face_mask=face_mask, occluder_shape=occluder.alpha.shape
            )
            params, placement = place(rng=rng, mode=config.placement, params=params, alpha=occluder.alpha,
                                      kind=occluder.kind, draw_params=hand_params, frame=frame)  # fmt: skip
            occluder, params = shrink_to_placement(occluder, params)
            jitter = float(rng.uniform(*config.hand_rotation_jitter_deg))
            if config.fingers_toward_face and (placement is None or placement["mode"] != "anchored"):
                rotation = placing.toward_face_rotation_deg(
                    hand_params["finger_angle_deg"], params.center_xy, placing.face_centre(face_mask), jitter
                )
                params = replace(params, rotation_deg=rotation)
            transfer = "none"
            if config.color_transfer == "sot":
                moved = transfer_colours(occluder.rgb, occluder.alpha, image, face_mask, config.sot, sot_params)
                if moved is not None:
                    occluder = Occluder(occluder.occluder_id, occluder.kind, moved, occluder.alpha)
                    transfer = "sot"
                else:
                    transfer = "skipped: too few face or hand pixels"
            meta = {
                "color_transfer": transfer,
                "harmonised": False,
                **({"placement": placement} if placement is not None else {}),
                "params": {
                    "occluder": to_plain(hand_params),
                    "sot": to_plain(sot_params),
                    "rotation_jitter_deg": jitter,
                    # The cut-out's size as composited (after shrink_to_placement): what fit_scale refers to.
                    "occluder_size_px": [int(occluder.alpha.shape[1]), int(occluder.alpha.shape[0])],
                },  # + "composite", added by render_drawn / composite_occlusion
            }
            return occluder, params, attempt, meta
        raise SampleError(f"{self.name} sample {index}: no usable hand in {config.max_attempts} attempts")

    def _object(
        self, image: np.ndarray, face_mask: np.ndarray, index: int, frame: FaceFrame | None = None,
        rng: np.random.Generator | None = None,
    ) -> DrawnOccluder:
        assert self.objects is not None  # checked in __post_init__
        rng = sample_rng(self.seed, "natocc_objects", index) if rng is None else rng  # given: a stacked occluder
        config = self.config
        for attempt in range(1, self.config.max_attempts + 1):
            wearable = config.wearables_frac > 0 and rng.random() < config.wearables_frac  # no draw at 0: bytes kept
            source = self.wearables if wearable and self.wearables is not None else self.objects
            try:
                occluder, object_params = source.draw(rng=rng)
            except EmptyOccluderError:
                continue
            params: CompositeParams = sample_composite(
                rng=rng, config=self.config.composite, face_mask=face_mask, occluder_shape=occluder.alpha.shape
            )
            params, placement = place(rng=rng, mode=config.placement, params=params, alpha=occluder.alpha,
                                      kind=occluder.kind, draw_params=object_params, frame=frame)  # fmt: skip
            params = see_through_params(params, object_params, config.eyewear_label)
            occluder, params = shrink_to_placement(occluder, params)
            meta = {  # harmonised after compositing (harmonise)
                "color_transfer": "none",
                "harmonised": self.harmoniser.name if self.harmoniser is not None else False,
                **({"placement": placement} if placement is not None else {}),
                "params": {
                    "occluder": to_plain(object_params),
                    "occluder_size_px": [int(occluder.alpha.shape[1]), int(occluder.alpha.shape[0])],
                },  # + "composite", added by render_drawn / composite_occlusion
            }
            return occluder, params, attempt, meta
        raise SampleError(f"{self.name} sample {index}: no usable object in {self.config.max_attempts} attempts")

    def params(self) -> dict[str, Any]:
        plain = to_plain(self.config)
        plain.pop("hands_dir", None)  # where the hands are is a source, fingerprinted in sources()
        if self.harmoniser is not None:
            plain["harmoniser"] = self.harmoniser.name
        return plain

    def resolved_px(self) -> dict[str, Any]:
        """The compositor's edge and blur values at this size (the store card's ``resolved_px``)."""
        return {"composite": to_plain(resolve_pixels(self.config.composite, self.size))}

    def models(self) -> dict[str, Any]:
        """What runs in torch while making samples, for the generation spec: RainNet's weights (file name,
        sha256, torch version) and SOT on torch (its torch version); empty when neither does."""
        models: dict[str, Any] = {}
        weights = harmoniser_weights(self.harmoniser) if self.harmoniser is not None else None
        if weights:
            models["harmoniser"] = weights
        if self.config.color_transfer == "sot" and self.config.sot.device != "numpy":
            import torch

            models["sot"] = {"torch": str(torch.__version__)}
        return models

    def sources(self) -> dict[str, Any]:
        sources = {"faces": self.faces.describe(), "hands": self.hands.describe()}
        if self.objects is not None and self.config.uses_objects:
            sources["objects"] = self.objects.describe()
        if self.wearables is not None and self.config.uses_objects and self.config.wearables_frac > 0:
            sources["wearables"] = self.wearables.describe()
        return sources
