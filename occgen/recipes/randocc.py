"""RandOcc (NatOcc paper, section 3.3): a random shape filled with a random DTD texture, composited with
the same augmentation as NatOcc; about 30 % of the occluders translucent.

Sizes: the shape's canvas (``canvas_px``) and the compositor's pixel values are given at
``composite.reference_size_px`` (512²) and scaled to ``--size`` (:func:`occgen.compose.resolve_pixels`), so an
occluder has the same detail, edge and blur relative to the face at every size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from occgen.compose import CompositeConfig, resolve_pixels, sample_composite, scale_length_px
from occgen.core.errors import ConfigError, EmptyOccluderError, SampleError
from occgen.core.labels import occluder_class_of
from occgen.core.landmark_schemes import LandmarkScheme
from occgen.core.params import ADDED, to_plain
from occgen.core.rng import sample_rng
from occgen.recipes.base import FACE_ORDERS, Sample, pick_face, sample_header
from occgen.recipes.drawn import DrawnSample, render_still
from occgen.recipes.labels import face_parsing_loader
from occgen.recipes.landmark_label import check_scheme_choice, source_scheme, with_source_landmarks
from occgen.sources.faces import FaceMemo, FaceSource
from occgen.sources.shapes import RandomShapes, ShapeConfig


@dataclass(frozen=True, kw_only=True)
class RandOccConfig:
    """RandOcc parameters (``params.yaml`` section ``randocc``)."""

    # NatOcc paper 3.3: "approximately 30 percent" of occluders are translucent. Their alpha is
    # "randomly set between 0.5 to 0.8" in the paper text, U(0.4, 0.7) in the authors' code (default).
    translucent_p: float = 0.3
    opacity_range: tuple[float, float] = (0.4, 0.7)
    face_order: str = "cycle"  # cycle: sample i uses face i mod F (the paper's "two sets" of C-WO)
    # The side of the canvas a shape is drawn and textured on, at composite.reference_size_px (canvas_px_at):
    # 256 at 512² places it at about its own size on the face (no up- or down-sampling of its edge and texture).
    canvas_px: int = 256
    texture_crop_side_range: tuple[float, float] = (0.5, 1.0)
    max_attempts: int = 5
    shapes: ShapeConfig = field(default_factory=ShapeConfig)
    composite: CompositeConfig = field(default_factory=CompositeConfig)
    # source: --labels landmarks stores each face's own 68 / 5 points (its landmark file), as natocc does; left
    # out of the card at "derived" so stores made before this field keep their bytes (issue 25).
    landmark_scheme: str = field(default="derived", metadata=ADDED)  # added after stores were made

    def __post_init__(self) -> None:
        if not 0.0 <= self.translucent_p <= 1.0:
            raise ConfigError(f"randocc.translucent_p must be in [0, 1], got {self.translucent_p}")
        low, high = self.opacity_range
        if not 0.0 <= low <= high <= 1.0:
            raise ConfigError(f"randocc.opacity_range must satisfy 0 <= low <= high <= 1, got {self.opacity_range}")
        if self.face_order not in FACE_ORDERS:
            raise ConfigError(f"randocc.face_order must be one of {', '.join(FACE_ORDERS)}, got {self.face_order!r}")
        low, high = self.texture_crop_side_range
        if not 0.0 < low <= high <= 1.0:
            raise ConfigError(f"randocc.texture_crop_side_range must lie in (0, 1], got {self.texture_crop_side_range}")
        if self.max_attempts < 1:
            raise ConfigError(f"randocc.max_attempts must be >= 1, got {self.max_attempts}")
        if self.canvas_px < 16:
            raise ConfigError(f"randocc.canvas_px must be >= 16, got {self.canvas_px}")
        check_scheme_choice(self.landmark_scheme, "randocc.landmark_scheme")

    def canvas_px_at(self, size_px: int) -> int:
        """``canvas_px`` at an image side of ``size_px``: scaled as the compositor's lengths are, at least 16 px."""
        return max(16, scale_length_px(self.canvas_px, resolve_pixels(self.composite, size_px).factor))


@dataclass
class RandOccRecipe:
    faces: FaceSource
    occluders: RandomShapes
    config: RandOccConfig
    seed: int
    size: int
    name: str = "randocc"
    # With fewer faces than samples a face comes back (sample i uses face i mod F): decoded once per process.
    _faces_memo: FaceMemo = field(init=False, repr=False, compare=False)
    landmark_scheme: LandmarkScheme | None = field(init=False, default=None)  # None: derived (the card's scheme)

    def __post_init__(self) -> None:
        self._faces_memo = FaceMemo(self.faces)
        if self.config.landmark_scheme == "source":  # every face checked once, before the store exists
            self.landmark_scheme = source_scheme(self.faces, self.size, "randocc.landmark_scheme")

    def make(self, index: int) -> Sample:
        still = render_still(self.draw(index))
        if self.landmark_scheme is not None:  # the face is not moved: its own points stay put (stills only)
            still = with_source_landmarks(still, self._faces_memo, still.metadata["face_index"], self.size)
        return still

    def clip_support(self) -> str | None:
        """Why this recipe's settings cannot make clips (``--frames``), or None: a face's own landmark file."""
        if self.landmark_scheme is not None:
            return "--frames: clips move the face but not its own landmarks; set randocc.landmark_scheme: derived"
        return None

    def draw(self, index: int) -> DrawnSample:
        """Every random choice of sample ``index`` (:mod:`occgen.recipes.drawn`): the still is its render."""
        rng = sample_rng(self.seed, self.name, index)
        face_index = pick_face(index, len(self.faces), self.config.face_order, rng)
        face = self._faces_memo.load(face_index, self.size)
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                occluder, occluder_params = self.occluders.draw(rng=rng)
            except EmptyOccluderError:
                continue
            translucent = bool(rng.random() < self.config.translucent_p)
            opacity = float(rng.uniform(*self.config.opacity_range)) if translucent else 1.0
            params = sample_composite(
                rng=rng,
                config=self.config.composite,
                face_mask=face.face_mask,
                occluder_shape=occluder.alpha.shape,
                opacity=opacity,
            )
            header = {
                **sample_header(self.name, index, face_index, face.face_id),
                "occluder_ids": [occluder.occluder_id],
                "occluder_types": [occluder.kind],
                "translucent": translucent,
                "attempts": attempt,
            }
            return DrawnSample(
                header, {"params": {"occluder": to_plain(occluder_params)}}, face.image, face.face_mask,
                face_parsing_loader(self._faces_memo, face_index, self.size, face.face_mask), occluder, params,
                occluder_class_of(occluder.kind),
            )  # fmt: skip
        raise SampleError(
            f"{self.name} sample {index}: no usable occluder in {self.config.max_attempts} attempts; "
            "check the shape parameters (randocc.shapes) or raise randocc.max_attempts"
        )

    def params(self) -> dict[str, Any]:
        """The card's params: the config, without ``landmark_scheme`` at its default (older cards' bytes)."""
        params: dict[str, Any] = to_plain(self.config)
        if params.get("landmark_scheme") == "derived":
            del params["landmark_scheme"]
        return params

    def resolved_px(self) -> dict[str, Any]:
        """The pixel values used at this size (the store card's ``resolved_px``): the shapes' canvas and the
        compositor's edge and blur values."""
        return {"canvas_px": self.occluders.canvas_px,
                "composite": to_plain(resolve_pixels(self.config.composite, self.size))}  # fmt: skip

    def sources(self) -> dict[str, Any]:
        return {"faces": self.faces.describe(), "textures": self.occluders.textures.describe()}
