"""FaceOcc (Yin & Chen 2022, section 3): labelled occlusions transplanted onto other aligned faces.

Every FaceOcc occluder already sits in the aligned 256² frame where it was labelled, so it is pasted onto
another aligned face at (almost) the same place: only a small affine jitter moves it. Per sample ``i``, all
draws from ``sample_rng(seed, "faceocc", i)`` (sample, then apply; every parameter recorded):

1. real or synthetic: a share ``real_frac`` of the samples are FaceOcc's own occluded images with their
   true masks (dataset.py:130-137);
2. synthetic: a base face (colour-jittered), an occluder drawn from internet / CelebAHQ / ffhq cut-outs with
   their weights, jittered (milder for face masks), flipped, its colours replaced by a texture with a
   type-dependent probability, colour-jittered, pasted with its alpha; visible face = face x (1 - occlusion)
   (their equation 1);
3. both: the whole-sample affine on image and labels together (dataset.py:107,126).

Steps 1-2's draws make a :class:`~occgen.recipes.faceocc_drawn.FaceOccDrawing` (``draw(index)``); the still pastes
and moves it (``make``), and ``--frames T`` makes clips of it: the head moves and the transplanted occluder follows
its own path in the aligned frame, frame by frame (:mod:`occgen.recipes.faceocc_drawn`, docs/clips.md).

Facts are cited as ``file:line`` of face3d0725/FaceExtraction @ e75d4a8 (see /work/notes/faceocc.md) or
``paper:line`` of arXiv 2201.08425. Deviations from the authors' code are said where they are made.

Sizes: no FaceOcc parameter is in pixels (jitter shifts are shares of the frame, dataset.py:34; the
whole-sample shift is normalised, transforms.py:28-38; the paste neither erodes nor blurs, dataset.py:104), so
unlike RandOcc and NatOcc nothing is rescaled with ``size_px``: the authors' frame is 256² (align.py:51).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError, SourceError
from occgen.core.params import to_plain
from occgen.core.rng import sample_rng
from occgen.recipes.base import FACE_ORDERS, Sample
from occgen.recipes.faceocc_drawn import FaceOccDrawing
from occgen.recipes.faceocc_transforms import (
    OccluderJitterConfig,
    SampleAffineConfig,
    apply_color_jitter,
    apply_occluder_jitter,
    default_mask_jitter,
    occluder_jitter_from_uniforms,
    sample_color_jitter,
    sample_sample_affine,
)
from occgen.recipes.labels import face_parsing_loader
from occgen.sources.faceocc import FaceOcc, face_from_labels
from occgen.sources.faces import FaceSource

# (the ops themselves -- colour jitter, occluder jitter, whole-sample affine, paste -- are in faceocc_transforms)


@dataclass(frozen=True, kw_only=True)
class FaceOccConfig:
    """FaceOcc recipe parameters (``params.yaml`` section ``faceocc``)."""

    faceocc_dir: Path | None = None  # the downloaded FaceOcc folder; None = the drawn demo (assets/demo/faceocc)
    celebahq_labels: Path | None = None  # CelebAMask-HQ-align/<id>.pkl; None = beside faceocc_dir if present
    size_px: int = 256  # the aligned frame (align.py:51, target_size=256; paper:134-135)
    real_frac: float = 0.3  # `random.random() < .3` -> real sample (dataset.py:132)
    # Occluder list = internet*5 + celebahq + ffhq, one uniform choice (dataset.py:47,52): per-file weights.
    internet_weight: float = 5.0
    celebahq_weight: float = 1.0
    ffhq_weight: float = 1.0
    # An internet type whose name contains one of these is a face mask: milder jitter, texture p 0.9. The
    # authors test the substring 'mask' in the path (dataset.py:55,61); the paper also names scarves
    # (paper:180-181), add "scarf" to follow the paper instead of the code.
    mask_types: tuple[str, ...] = ("mask",)
    occluder_jitter: OccluderJitterConfig = field(default_factory=OccluderJitterConfig)
    mask_jitter: OccluderJitterConfig = field(default_factory=default_mask_jitter)
    texture_p_mask: float = 0.9  # replaced when random() > 0.1 (dataset.py:60-62)
    texture_p_other: float = 0.1  # replaced when random() > 0.9 (dataset.py:63-65)
    # ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5), hue 0, on the base face, the real image
    # and (independently) the occluder RGB (dataset.py:46,71,82-83,114).
    color_jitter: float = 0.5
    # The authors paste with alpha as stored (dataset.py:104); the issue asks for a hard paste. Hard: alpha >= 0.5.
    hard_alpha: bool = True
    sample_affine: SampleAffineConfig = field(default_factory=SampleAffineConfig)
    face_order: str = "cycle"
    # Base faces whose id is a FaceOcc/CelebAHQ stem are left out (they are occluded: dataset.py:86-94).
    exclude_labelled_faces: bool = True
    skip_unreadable: bool = False  # False: any unreadable FaceOcc file stops the run, naming it

    def __post_init__(self) -> None:
        if not 16 <= self.size_px <= 4096:
            raise ConfigError(f"faceocc.size_px must be between 16 and 4096, got {self.size_px}")
        for name in ("real_frac", "texture_p_mask", "texture_p_other"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"faceocc.{name} must be in [0, 1], got {getattr(self, name)}")
        weights = (self.internet_weight, self.celebahq_weight, self.ffhq_weight)
        if min(weights) < 0 or sum(weights) == 0:
            raise ConfigError(f"faceocc occluder weights must be >= 0 and not all 0, got {weights}")
        if not 0 <= self.color_jitter < 1:
            raise ConfigError(f"faceocc.color_jitter must be in [0, 1), got {self.color_jitter}")
        if self.face_order not in FACE_ORDERS:
            raise ConfigError(f"faceocc.face_order must be one of {', '.join(FACE_ORDERS)}, got {self.face_order!r}")


#: Decoded occluder / texture files kept per process (256² RGBA: about 330 kB each).
CACHE_FILES = 512


def faceocc_occluder_class(kind: str) -> int:
    """The occluder class (occgen/core/labels.py) of a FaceOcc occluder group: FaceOcc labels no occluder type,
    so an ``internet/`` folder named like hands (``hand``) counts as hands (1), everything else as objects (2)."""
    return 1 if "hand" in kind.lower() else 2


def _pick(u: float, count: int) -> int:
    """A uniform index in [0, count) from a uniform ``u`` in [0, 1)."""
    return min(int(u * count), count - 1)


# --- the recipe ----------------------------------------------------------------------------------------------


@dataclass
class FaceOccRecipe:
    """FaceOcc's augmentation as a recipe (see the module docstring); ``faces`` are the base faces."""

    faces: FaceSource
    data: FaceOcc
    config: FaceOccConfig
    seed: int
    name: str = "faceocc"
    _base: list[int] = field(init=False, repr=False)
    _occluders: list[tuple[str, Path]] = field(init=False, repr=False)
    _cumulative: np.ndarray = field(init=False, repr=False)
    _real: list[Path] = field(init=False, repr=False)
    # Decoded occluders and textures of this process (at most CACHE_FILES; never mutated: ops return copies).
    _cache: dict[tuple[Path, int], Any] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        config = self.config
        if self.data.unreadable and not config.skip_unreadable:
            first = self.data.unreadable[0]
            raise SourceError(
                f"{self.data.root}: {len(self.data.unreadable)} unreadable file(s), e.g. {first.path}: {first.reason}; "
                "remove or replace them, or set faceocc.skip_unreadable: true to leave them out (they are listed "
                "in the store's card)"
            )
        labelled = {p.stem for p in self.data.celebahq} if config.exclude_labelled_faces else set()
        self._base = [i for i in range(len(self.faces)) if self.faces.face_id(i) not in labelled]
        if not self._base:
            raise SourceError("no base face left: every face is one of FaceOcc's labelled CelebAHQ images")
        self._occluders, weights = [], []
        for kind, path in self.data.internet:
            self._occluders.append((f"internet/{kind}", path))
            weights.append(config.internet_weight)
        for group, files, weight in (("CelebAHQ", self.data.celebahq, config.celebahq_weight),
                                     ("ffhq", self.data.ffhq, config.ffhq_weight)):  # fmt: skip
            self._occluders += [(group, p) for p in files]
            weights += [weight] * len(files)
        total = float(sum(weights))
        if total <= 0:
            raise SourceError(f"{self.data.root}: no occluder with a non-zero weight (internet/, CelebAHQ/, ffhq/)")
        self._cumulative = np.cumsum(weights) / total
        self._real = [p for p in [*self.data.celebahq, *self.data.ffhq] if self._has_labels(p)]
        if config.real_frac > 0 and not self._real:
            raise SourceError(
                f"faceocc.real_frac is {config.real_frac} but no CelebAHQ/ffhq image of {self.data.root} has a label "
                "map (ffhqMask/<stem>.pkl or CelebAMask-HQ-align/<id>.pkl); add them or set faceocc.real_frac: 0"
            )
        if any(self._is_mask(kind) for kind, _ in self._occluders) or config.texture_p_other > 0:
            if not self.data.textures and (config.texture_p_mask > 0 or config.texture_p_other > 0):
                raise SourceError(
                    f"{self.data.root}/texture has no readable texture; add some or set faceocc.texture_p_mask "
                    "and faceocc.texture_p_other to 0"
                )

    @property
    def size(self) -> int:
        return self.config.size_px

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}  # each worker decodes its own
        return state

    def _cached(self, path: Path, load: Any) -> Any:
        key = (path, self.size)
        if key not in self._cache:
            if len(self._cache) >= CACHE_FILES:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = load(path, self.size)
        # Copies: an identity jitter passes arrays through, and a sample must never share memory with the
        # cache (a caller that edits its sample in place would change every later sample of that file).
        cached = self._cache[key]
        if isinstance(cached, np.ndarray):
            return cached.copy()
        return tuple(np.array(array, copy=True) for array in cached)

    def _has_labels(self, png: Path) -> bool:
        table = self.data.ffhq_labels if png.parent.name == "ffhq" else self.data.celebahq_labels
        return png.stem in table

    def _is_mask(self, kind: str) -> bool:
        folder = kind.removeprefix("internet/").lower()
        return kind.startswith("internet/") and any(m in folder for m in self.config.mask_types)

    def _alpha(self, alpha: np.ndarray) -> np.ndarray:
        return (alpha >= 0.5).astype(np.float32) if self.config.hard_alpha else alpha

    def make(self, index: int) -> Sample:
        return self.draw(index).render()

    def draw(self, index: int) -> FaceOccDrawing:
        """Every random choice of sample ``index`` (:mod:`occgen.recipes.faceocc_drawn`): the still is its render;
        a clip (``--frames``) moves its head and its occluder frame by frame."""
        rng = sample_rng(self.seed, self.name, index)
        config, size = self.config, self.size
        # Fixed draw order: every branch draws the same numbers, so one sample's params never shift another's.
        u_real, u_pick, u_face, u_occ, u_tex, u_texpick = rng.random(6)
        face_jitter = sample_color_jitter(rng=rng, strength=config.color_jitter)
        occ_jitter_draw = rng.random(7)
        tex_jitter_draw = rng.random(7)
        occ_color = sample_color_jitter(rng=rng, strength=config.color_jitter)
        whole = sample_sample_affine(rng=rng, config=config.sample_affine)
        base = {"sample_index": index, "sample_id": f"{self.name}-{index:08d}", "recipe": self.name,
                "translucent": False, "attempts": 1}  # fmt: skip
        # A hard matte is the authors' alpha binarised at 0.5: a motion-blurred frame keeps that cut (faceocc_drawn).
        threshold = 0.5 if config.hard_alpha else 1.0
        if u_real < config.real_frac and self._real:
            path = self._real[_pick(u_pick, len(self._real))]  # uniform, ignoring the index (dataset.py:80,112)
            rgb, alpha = self._cached(path, self.data.occluder)
            labels = self.data.labels(path)
            assert labels is not None
            labels = cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)
            true_face = face_from_labels(labels, eye_glasses_are_face=True)  # utils.py:11; dataset.py:124
            ids, kinds = [f"{path.parent.name}/{path.stem}"], [f"real/{path.parent.name}"]
            params: dict[str, Any] = {"real": True, "color_jitter": to_plain(face_jitter),
                                      "sample_affine": to_plain(whole)}  # fmt: skip
            header = {**base, "face_index": -1, "face_id": ids[0], "occluder_ids": ids, "occluder_types": kinds}
            return FaceOccDrawing(header, params, whole, int(true_face.sum()), apply_color_jitter(rgb, face_jitter),
                                  true_face, self._alpha(alpha), threshold)  # fmt: skip
        count = len(self._base)
        position = index % count if config.face_order == "cycle" else _pick(u_face, count)
        face_index = self._base[position]
        face = self.faces.load(face_index, size)
        number = int(np.searchsorted(self._cumulative, u_occ, side="right"))
        kind, path = self._occluders[min(number, len(self._occluders) - 1)]
        is_mask = self._is_mask(kind)
        occ_rgb, alpha = self._cached(path, self.data.occluder)
        ranges = config.mask_jitter if is_mask else config.occluder_jitter
        jitter = occluder_jitter_from_uniforms(occ_jitter_draw, ranges, size)
        occ_rgb, alpha = apply_occluder_jitter(occ_rgb, alpha, jitter)
        texture_p = config.texture_p_mask if is_mask else config.texture_p_other
        texture: dict[str, Any] | None = None
        if u_tex < texture_p and self.data.textures:
            tex_path = self.data.textures[_pick(u_texpick, len(self.data.textures))]
            tex_jitter = occluder_jitter_from_uniforms(tex_jitter_draw, config.occluder_jitter, size)
            # The texture replaces the occluder RGB completely; its warped corners are black (fill 0),
            # and the occluder's alpha stays the matte (dataset.py:66-70).
            occ_rgb, _ = apply_occluder_jitter(self._cached(tex_path, self.data.texture), alpha, tex_jitter)
            texture = {"file": tex_path.name, "jitter": to_plain(tex_jitter)}
        occ_rgb = apply_color_jitter(occ_rgb, occ_color)
        params = {"real": False, "color_jitter": to_plain(face_jitter), "occluder_file": str(path.name),
                  "occluder_is_mask": is_mask, "jitter": to_plain(jitter), "texture": texture,
                  "occluder_color_jitter": to_plain(occ_color), "sample_affine": to_plain(whole)}  # fmt: skip
        header = {**base, "face_index": face_index, "face_id": face.face_id,
                  "occluder_ids": [f"{path.parent.name}/{path.stem}"], "occluder_types": [kind]}  # fmt: skip
        # The sample's parsing map is read only when a label asks for it (its landmarks too), once.
        parsing = functools.cache(face_parsing_loader(self.faces, face_index, size, face.face_mask))
        return FaceOccDrawing(header, params, whole, int(face.face_mask.sum()),
                              apply_color_jitter(face.image, face_jitter), face.face_mask, self._alpha(alpha),
                              threshold, occ_rgb, faceocc_occluder_class(kind), parsing)  # fmt: skip

    def check_labels(self, labels: tuple[str, ...]) -> None:
        """Refuse ``--labels`` up front when real samples would come: a real FaceOcc image has no clean face, no
        face mask under its occluder and no part labels there, so its label arrays cannot be made."""
        if labels and self.config.real_frac > 0 and self._real:
            raise ConfigError(
                f"faceocc.real_frac is {self.config.real_frac}: FaceOcc's real images have no clean face or face "
                "under their occluders, so --labels needs faceocc.real_frac 0 (--real-frac 0)"
            )

    def params(self) -> dict[str, Any]:
        plain = to_plain(self.config)
        plain.pop("faceocc_dir", None)  # locations are sources, fingerprinted in sources()
        plain.pop("celebahq_labels", None)
        return plain

    def sources(self) -> dict[str, Any]:
        return {"faces": self.faces.describe(), "faceocc": self.data.describe()}
