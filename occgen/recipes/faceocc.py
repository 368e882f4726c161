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

Facts are cited as ``file:line`` of face3d0725/FaceExtraction @ e75d4a8 (see /work/notes/faceocc.md) or
``paper:line`` of arXiv 2201.08425. Deviations from the authors' code are said where they are made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError, SourceError
from occgen.core.params import to_plain
from occgen.core.rng import sample_rng
from occgen.recipes.base import FACE_ORDERS, Sample
from occgen.recipes.labels import LabelSources, face_parsing_loader
from occgen.sources.faceocc import FaceOcc, face_from_labels
from occgen.sources.faces import FaceSource

# --- configs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OccluderJitterConfig:
    """torchvision-style RandomAffine ranges for an occluder in the 256² frame, plus a horizontal flip.

    Defaults: the ordinary occluders' RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.8, 1.2),
    shear=(-10, 10, -0.1, 0.1)) and RandomHorizontalFlip(0.5) (dataset.py:33-39).
    """

    degrees: float = 10.0
    translate_frac: tuple[float, float] = (0.1, 0.1)
    scale_range: tuple[float, float] = (0.8, 1.2)
    shear_x_deg: tuple[float, float] = (-10.0, 10.0)
    shear_y_deg: tuple[float, float] = (-0.1, 0.1)
    flip_p: float = 0.5

    def __post_init__(self) -> None:
        if self.degrees < 0 or not all(0 <= t <= 1 for t in self.translate_frac):
            raise ConfigError("faceocc jitter: degrees must be >= 0 and translate_frac in [0, 1]")
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ConfigError(f"faceocc jitter: scale_range must be 0 < low <= high, got {self.scale_range}")
        if self.shear_x_deg[0] > self.shear_x_deg[1] or self.shear_y_deg[0] > self.shear_y_deg[1]:
            raise ConfigError("faceocc jitter: shear ranges must be (low, high)")
        if not 0 <= self.flip_p <= 1:
            raise ConfigError(f"faceocc jitter: flip_p must be in [0, 1], got {self.flip_p}")


def _mask_jitter() -> OccluderJitterConfig:
    # Face masks: RandomAffine(degrees=5, translate=(0.0, 0.1), scale=(0.8, 1.0), shear=(-5, 5, -0.1, 0.1))
    # and the same flip (dataset.py:41-44,55-56): never shifted sideways, never enlarged.
    return OccluderJitterConfig(degrees=5.0, translate_frac=(0.0, 0.1), scale_range=(0.8, 1.0),
                                shear_x_deg=(-5.0, 5.0), shear_y_deg=(-0.1, 0.1))  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class SampleAffineConfig:
    """The whole-sample affine of the authors' transforms.RandomAffine(0.2, 20, 0.5) (dataset.py:84).

    Flip p 0.5 (transforms.py:20,34-36), angle U[-20, 20] deg (transforms.py:23), s U[0.8, 1.2]
    (transforms.py:27) and one shift t = 0.1 x U[0, 1) for both x and y in normalised units
    (transforms.py:28-32). The matrix maps output to input coordinates (grid_sample, align_corners=True,
    transforms.py:29-40), so content scales by 1/s and only ever shifts left and up: the authors' asymmetry is
    kept (``shift_symmetric: true`` draws t in [-max, max] instead).
    """

    enabled: bool = True
    flip_p: float = 0.5
    degrees: float = 20.0
    scale_range: tuple[float, float] = (0.8, 1.2)
    shift_max: float = 0.1
    shift_symmetric: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.flip_p <= 1 or self.degrees < 0 or self.shift_max < 0:
            raise ConfigError("faceocc.sample_affine: flip_p must be in [0, 1], degrees and shift_max >= 0")
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ConfigError(f"faceocc.sample_affine.scale_range must be 0 < low <= high, got {self.scale_range}")


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
    mask_jitter: OccluderJitterConfig = field(default_factory=_mask_jitter)
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


# --- colour jitter -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColorJitterParams:
    """Brightness, contrast and saturation factors (1 = identity), applied in ``order`` (0 b, 1 c, 2 s),
    as torchvision's ColorJitter draws a random order."""

    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    order: tuple[int, ...] = (0, 1, 2)


def sample_color_jitter(*, rng: np.random.Generator, strength: float) -> ColorJitterParams:
    """Factors U[1 - strength, 1 + strength] each, in a random order (always 4 draws)."""
    factors = rng.uniform(1.0 - strength, 1.0 + strength, size=3)
    order = tuple(int(i) for i in rng.permutation(3))
    return ColorJitterParams(float(factors[0]), float(factors[1]), float(factors[2]), order)


def apply_color_jitter(rgb: np.ndarray, params: ColorJitterParams) -> np.ndarray:
    """Apply ``params`` to ``uint8 (H, W, 3)``; returns a new uint8 image (the input is not mutated).

    PIL ImageEnhance semantics, as torchvision's ColorJitter on PIL images, each step rounded to uint8:
    brightness scales, contrast blends with the mean grey level, saturation blends with the grey image.
    """
    if (params.brightness, params.contrast, params.saturation) == (1.0, 1.0, 1.0):
        return rgb
    out = rgb
    for op in params.order:
        if op == 0:
            out = cv2.addWeighted(out, params.brightness, out, 0.0, 0.0)
        elif op == 1:
            mean = float(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).mean())
            out = cv2.addWeighted(out, params.contrast, out, 0.0, mean * (1.0 - params.contrast))
        else:
            grey = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            out = cv2.addWeighted(out, params.saturation, grey, 1.0 - params.saturation, 0.0)
    return out


# --- the occluder's jitter -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OccluderJitterParams:
    angle_deg: float = 0.0
    translate_px: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0
    shear_deg: tuple[float, float] = (0.0, 0.0)
    flip: bool = False

    @property
    def identity(self) -> bool:
        return self == OccluderJitterParams()


def sample_occluder_jitter(
    *, rng: np.random.Generator, config: OccluderJitterConfig, size: int
) -> OccluderJitterParams:
    """Draw one jitter (always 7 draws)."""
    return occluder_jitter_from_uniforms(rng.random(7), config, size)


def occluder_jitter_from_uniforms(u: np.ndarray, config: OccluderJitterConfig, size: int) -> OccluderJitterParams:
    """The jitter given 7 uniforms in [0, 1); translation rounded to whole pixels as torchvision does."""
    max_dx, max_dy = config.translate_frac[0] * size, config.translate_frac[1] * size
    return OccluderJitterParams(
        angle_deg=float(-config.degrees + 2 * config.degrees * u[0]),
        translate_px=(float(round(-max_dx + 2 * max_dx * u[1])), float(round(-max_dy + 2 * max_dy * u[2]))),
        scale=float(config.scale_range[0] + (config.scale_range[1] - config.scale_range[0]) * u[3]),
        shear_deg=(
            float(config.shear_x_deg[0] + (config.shear_x_deg[1] - config.shear_x_deg[0]) * u[4]),
            float(config.shear_y_deg[0] + (config.shear_y_deg[1] - config.shear_y_deg[0]) * u[5]),
        ),
        flip=bool(u[6] < config.flip_p),
    )


def occluder_jitter_matrix(params: OccluderJitterParams, size: int) -> np.ndarray:
    """The forward 2x3 matrix (input px -> output px) of ``params``: rotate, shear and scale about the
    canvas centre, translate, then flip about the centre (RandomAffine then RandomHorizontalFlip)."""
    centre = (size - 1) / 2.0
    angle, shear_x, shear_y = (math.radians(v) for v in (params.angle_deg, *params.shear_deg))
    rotation = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])  # CCW on screen
    shear = np.array([[1.0, -math.tan(shear_x)], [-math.tan(shear_y), 1.0]])
    linear = rotation @ shear * params.scale
    offset = np.array([centre, centre]) + np.array(params.translate_px) - linear @ np.array([centre, centre])
    matrix = np.hstack([linear, offset[:, None]])
    if params.flip:
        matrix = np.array([[-1.0, 0.0, 2 * centre], [0.0, 1.0, 0.0]]) @ np.vstack([matrix, [0, 0, 1]])
    return matrix


def apply_occluder_jitter(
    rgb: np.ndarray, alpha: np.ndarray, params: OccluderJitterParams
) -> tuple[np.ndarray, np.ndarray]:
    """Warp an aligned-frame RGBA pair with nearest neighbour and fill 0 (torchvision's defaults,
    dataset.py:33-39): no new alpha values appear."""
    if params.identity:
        return rgb, alpha
    size = alpha.shape[0]
    matrix = occluder_jitter_matrix(params, size)

    def warp(array: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(array, matrix, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0)  # fmt: skip

    return warp(rgb), warp(alpha)


# --- the whole-sample affine ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleAffineParams:
    flip: bool = False
    angle_deg: float = 0.0
    scale: float = 1.0
    shift: float = 0.0  # normalised units, the same for x and y

    @property
    def identity(self) -> bool:
        return self == SampleAffineParams()


def sample_sample_affine(*, rng: np.random.Generator, config: SampleAffineConfig) -> SampleAffineParams:
    u = rng.random(4)  # always 4 draws
    if not config.enabled:
        return SampleAffineParams()
    shift = (2 * u[3] - 1) * config.shift_max if config.shift_symmetric else u[3] * config.shift_max
    return SampleAffineParams(
        flip=bool(u[0] < config.flip_p),
        angle_deg=float(-config.degrees + 2 * config.degrees * u[1]),
        scale=float(config.scale_range[0] + (config.scale_range[1] - config.scale_range[0]) * u[2]),
        shift=float(shift),
    )


def sample_affine_inverse(params: SampleAffineParams, size: int) -> np.ndarray:
    """The 2x3 matrix mapping output pixels to input pixels (transforms.py:29-40): M in normalised
    coordinates [-1, 1] with align_corners=True, wrapped by pixel <-> normalised conversions."""
    a = math.radians(params.angle_deg)
    s, t = params.scale, params.shift
    m = np.array([[s * math.cos(a), s * math.sin(a), t], [-s * math.sin(a), s * math.cos(a), t], [0, 0, 1]])
    if params.flip:
        m[:, 0] = -m[:, 0]
        m[2, 0] = 0.0
    half = (size - 1) / 2.0
    to_norm = np.array([[1 / half, 0, -1], [0, 1 / half, -1], [0, 0, 1]])
    to_px = np.array([[half, 0, half], [0, half, half], [0, 0, 1]])
    return (to_px @ m @ to_norm)[:2]


def apply_sample_affine(
    image: np.ndarray, labels: list[np.ndarray], params: SampleAffineParams
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Image bilinear, labels nearest, zero outside (transforms.py:39-42)."""
    if params.identity:
        return image, labels
    return _warp(image, params, cv2.INTER_LINEAR), [_warp(x, params, cv2.INTER_NEAREST) for x in labels]


def _warp(array: np.ndarray, params: SampleAffineParams, interpolation: int) -> np.ndarray:
    size = array.shape[0]
    matrix = sample_affine_inverse(params, size)
    return cv2.warpAffine(array, matrix, (size, size), flags=interpolation | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip


# --- paste ---------------------------------------------------------------------------------------------------


def paste(
    image: np.ndarray, face_mask: np.ndarray, occ_rgb: np.ndarray, alpha: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """I = occ x a + I x (1 - a) (dataset.py:104); visible = face x (1 - a) > 0 (dataset.py:105 with the
    later binarisation, transforms.py:42; paper eq. 1). Returns image, visible face and occluder mask (a x 255)."""
    opaque = alpha >= 1.0
    out = image.copy()
    out[opaque] = occ_rgb[opaque]
    partial = (alpha > 0.0) & ~opaque  # only soft mattes (hard_alpha: false) blend
    if partial.any():
        a = alpha[partial][:, None]
        out[partial] = (occ_rgb[partial] * a + image[partial] * (1.0 - a) + 0.5).astype(np.uint8)
    visible = (face_mask.astype(bool) & (alpha < 1.0)).astype(np.uint8)
    occluder_mask = (alpha * 255.0 + 0.5).astype(np.uint8)
    return out, visible, occluder_mask


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
        return self._cache[key]

    def _has_labels(self, png: Path) -> bool:
        table = self.data.ffhq_labels if png.parent.name == "ffhq" else self.data.celebahq_labels
        return png.stem in table

    def _is_mask(self, kind: str) -> bool:
        folder = kind.removeprefix("internet/").lower()
        return kind.startswith("internet/") and any(m in folder for m in self.config.mask_types)

    def _alpha(self, alpha: np.ndarray) -> np.ndarray:
        return (alpha >= 0.5).astype(np.float32) if self.config.hard_alpha else alpha

    def make(self, index: int) -> Sample:
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
        if u_real < config.real_frac and self._real:
            path = self._real[_pick(u_pick, len(self._real))]  # uniform, ignoring the index (dataset.py:80,112)
            rgb, alpha = self._cached(path, self.data.occluder)
            labels = self.data.labels(path)
            assert labels is not None
            labels = cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)
            true_face = face_from_labels(labels, eye_glasses_are_face=True)  # utils.py:11; dataset.py:124
            alpha = self._alpha(alpha)
            image = apply_color_jitter(rgb, face_jitter)
            visible = (true_face.astype(bool) & (alpha < 1.0)).astype(np.uint8)
            occluder_mask = (alpha * 255.0 + 0.5).astype(np.uint8)
            ids, kinds = [f"{path.parent.name}/{path.stem}"], [f"real/{path.parent.name}"]
            params: dict[str, Any] = {"real": True, "color_jitter": to_plain(face_jitter)}
            face_id, face_index, pixels_before = ids[0], -1, int(true_face.sum())
        else:
            count = len(self._base)
            position = index % count if config.face_order == "cycle" else _pick(u_face, count)
            face_index = self._base[position]
            face = self.faces.load(face_index, size)
            face_id, pixels_before = face.face_id, int(face.face_mask.sum())
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
            clean = apply_color_jitter(face.image, face_jitter)
            image, visible, occluder_mask = paste(clean, face.face_mask, occ_rgb, self._alpha(alpha))
            ids, kinds = [f"{path.parent.name}/{path.stem}"], [kind]
            params = {"real": False, "color_jitter": to_plain(face_jitter), "occluder_file": str(path.name),
                      "occluder_is_mask": is_mask, "jitter": to_plain(jitter), "texture": texture,
                      "occluder_color_jitter": to_plain(occ_color)}  # fmt: skip
        label_sources = None
        if not params["real"]:  # what the optional label arrays are made of (occgen/recipes/labels.py)
            label_sources = self._label_sources(
                clean, face, face_index, (self._alpha(alpha) >= 1.0).astype(np.uint8), kind, whole
            )  # fmt: skip
        image, (visible, occluder_mask) = apply_sample_affine(image, [visible, occluder_mask], whole)
        params["sample_affine"] = to_plain(whole)
        metadata = {**base, "face_index": face_index, "face_id": face_id, "occluder_ids": ids,
                    "occluder_types": kinds, "face_px_before": pixels_before,
                    "face_px_after": int(visible.sum()), "params": params}  # fmt: skip
        return Sample(np.ascontiguousarray(image), np.ascontiguousarray(visible), occluder_mask, metadata,
                      label_sources)  # fmt: skip

    def check_labels(self, labels: tuple[str, ...]) -> None:
        """Refuse ``--labels`` up front when real samples would come: a real FaceOcc image has no clean face, no
        face mask under its occluder and no part labels there, so its label arrays cannot be made."""
        if labels and self.config.real_frac > 0 and self._real:
            raise ConfigError(
                f"faceocc.real_frac is {self.config.real_frac}: FaceOcc's real images have no clean face or face "
                "under their occluders, so --labels needs faceocc.real_frac 0 (--real-frac 0)"
            )

    def _label_sources(
        self, clean: np.ndarray, face: Any, face_index: int, footprint: np.ndarray, kind: str,
        whole: SampleAffineParams,
    ) -> LabelSources:  # fmt: skip
        """The label sources of a synthetic sample, moved by the whole-sample affine as the sample is: the clean
        face bilinear, masks and parsing nearest. The footprint is the occluder's opaque pixels (what ``paste``
        removes from the face)."""
        warped_clean, (amodal, warped_footprint) = apply_sample_affine(clean, [face.face_mask, footprint], whole)
        parsing = face_parsing_loader(self.faces, face_index, self.size, face.face_mask)

        def warped_parsing() -> np.ndarray:
            return parsing() if whole.identity else _warp(parsing(), whole, cv2.INTER_NEAREST)

        return LabelSources(
            np.ascontiguousarray(warped_clean), np.ascontiguousarray(amodal), warped_footprint.astype(bool),
            faceocc_occluder_class(kind), warped_parsing,
        )  # fmt: skip

    def params(self) -> dict[str, Any]:
        plain = to_plain(self.config)
        plain.pop("faceocc_dir", None)  # locations are sources, fingerprinted in sources()
        plain.pop("celebahq_labels", None)
        return plain

    def sources(self) -> dict[str, Any]:
        return {"faces": self.faces.describe(), "faceocc": self.data.describe()}
