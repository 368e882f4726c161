"""The whole-file params validator and the factories that assemble stages from ``params.yaml``.

This module sits at the top of the library (only the CLI is above it): it knows every stage's config, so
:func:`validate_params` checks every section of a params file before any stage runs, and the
``load_*`` functions turn sections (``base`` + the stage's own) into typed configs with their relative
paths resolved against the params file's folder. The stages themselves never read params files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from occgen import __version__
from occgen.appearance.harmonise import Harmoniser, harmoniser_from_config
from occgen.core.errors import ConfigError
from occgen.core.files import demo_root, is_url
from occgen.core.params import BaseConfig, build_config, load_params, resolve_path
from occgen.prep.hands.stage import HandsConfig
from occgen.prep.objects.config import ObjectsConfig, UpscaleConfig
from occgen.recipes.faceocc import FaceOccConfig, FaceOccRecipe
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.recipes.randocc import RandOccConfig, RandOccRecipe
from occgen.run.config import RunConfig, split_run_keys
from occgen.sources.cache import CutoutCache
from occgen.sources.faceocc import open_faceocc
from occgen.sources.faces import FacesConfig, FaceSource, open_faces
from occgen.sources.hands import MattedHands
from occgen.sources.objects import CocoObjects
from occgen.sources.occluder import OccluderSource
from occgen.sources.shapes import RandomShapes
from occgen.sources.textures import TexturesConfig, open_textures
from occgen.store.location import merged_storage_options, parse_location
from occgen.train.config import EvaluateConfig, TrainConfig

#: Sections a params file may hold.
KNOWN_SECTIONS = (
    "base", "faces", "textures", "randocc", "natocc", "hands", "objects", "train", "evaluate", "faceocc",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RandOccSettings:
    base: BaseConfig = field(default_factory=BaseConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    textures: TexturesConfig = field(default_factory=TexturesConfig)
    run: RunConfig = field(default_factory=RunConfig)
    randocc: RandOccConfig = field(default_factory=RandOccConfig)


def _randocc_section(section: dict[str, Any] | None) -> tuple[RunConfig, RandOccConfig]:
    run_section, recipe_section = split_run_keys(section or {})
    return build_config(RunConfig, run_section, "randocc"), build_config(RandOccConfig, recipe_section, "randocc")


def _natocc_section(section: dict[str, Any] | None) -> tuple[RunConfig, NatOccConfig]:
    run_section, recipe_section = split_run_keys(section or {})
    return build_config(RunConfig, run_section, "natocc"), build_config(NatOccConfig, recipe_section, "natocc")


#: How each params.yaml section is validated.
SECTION_VALIDATORS: dict[str, Callable[[dict[str, Any] | None], object]] = {
    "base": lambda section: build_config(BaseConfig, section, "base"),
    "faces": lambda section: build_config(FacesConfig, section, "faces"),
    "textures": lambda section: build_config(TexturesConfig, section, "textures"),
    "randocc": _randocc_section,
    "natocc": _natocc_section,
    "hands": lambda section: build_config(HandsConfig, section, "hands"),
    "objects": lambda section: build_config(ObjectsConfig, section, "objects"),
    "train": lambda section: build_config(TrainConfig, section, "train"),
    "evaluate": lambda section: build_config(EvaluateConfig, section, "evaluate"),
    "faceocc": lambda section: _faceocc_section(section),
}


def validate_params(params_file: Path) -> dict[str, Any]:
    """Check every section of a params file (unknown sections, keys and types), before any stage runs.

    Each stage calls this on the whole file, so a mistake anywhere stops the first stage DVC runs.
    """
    params = load_params(params_file)
    unknown = sorted(set(params) - set(KNOWN_SECTIONS))
    if unknown:
        raise ConfigError(f"{params_file}: unknown section {unknown[0]!r}; valid: {', '.join(KNOWN_SECTIONS)}")
    for name, section in params.items():
        validator = SECTION_VALIDATORS.get(name)
        if validator is None:
            raise ConfigError(f"{params_file}: section {name!r} is not used by occgen {__version__}; remove it")
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"{params_file}: section {name!r} must be a mapping of keys, got {section!r}")
        validator(section)
    return params


def read_params(params_file: Path) -> tuple[dict[str, Any], Path]:
    """The validated sections of ``params_file`` and the folder its relative paths resolve against."""
    return validate_params(params_file), Path(params_file).resolve().parent


def faces_config(params: dict[str, Any], root: Path) -> FacesConfig:
    """Section ``faces`` with its relative paths resolved against ``root``."""
    faces = build_config(FacesConfig, params.get("faces"), "faces")
    return replace(
        faces, path=resolve_path(faces.path, root), split=resolve_path(faces.split, root),
        corrected_masks=resolve_path(faces.corrected_masks, root),
    )  # fmt: skip


def load_randocc_settings(params_file: Path | None) -> RandOccSettings:
    """Settings from ``params_file`` (all defaults when ``None``), validated before any work starts."""
    if params_file is None:
        return RandOccSettings()
    params, root = read_params(params_file)
    textures = build_config(TexturesConfig, params.get("textures"), "textures")
    textures = replace(textures, path=resolve_path(textures.path, root))
    run, randocc = _randocc_section(params.get("randocc"))
    return RandOccSettings(
        base=build_config(BaseConfig, params.get("base"), "base"), faces=faces_config(params, root),
        textures=textures, run=run, randocc=randocc,
    )  # fmt: skip


def source_location(path: Path | None, run: RunConfig | None = None) -> Any:
    """A source folder as given (a path, or None for the demo), or as a :class:`Location` with the storage
    options of the stores (``<section>.storage_options`` over the defaults) when it is a URL: the sources
    copy such folders into the local cache (occgen/store/folder_cache.py)."""
    if path is None or not is_url(path):
        return path
    return parse_location(path, merged_storage_options(run.storage_options if run is not None else None))


def open_face_source(config: FacesConfig, run: RunConfig | None = None) -> FaceSource:
    if config.path is not None and not is_url(config.path) and not config.path.exists():
        raise ConfigError(
            f"faces.path {config.path} does not exist: set faces.path in params.yaml (or pass --faces) to a "
            "CelebAMask-HQ root or an images/+masks/ folder, or null for the embedded demo"
        )
    return open_faces(
        source_location(config.path, run), layout=config.layout, split=config.split,
        corrected_masks=config.corrected_masks, face_parts=config.face_parts, occluding_parts=config.occluding_parts,
    )  # fmt: skip


def build_randocc_recipe(settings: RandOccSettings) -> RandOccRecipe:
    """Open the sources named by ``settings`` (checking their layout) and build the RandOcc recipe."""
    faces = open_face_source(settings.faces, settings.run)
    textures_path = settings.textures.path
    if textures_path is not None and not is_url(textures_path) and not textures_path.exists():
        raise ConfigError(
            f"textures.path {settings.textures.path} does not exist: set textures.path in params.yaml (or pass "
            "--textures) to the DTD folder, or null for the embedded demo"
        )
    textures = open_textures(source_location(textures_path, settings.run), split=settings.textures.split)
    occluders = RandomShapes(
        textures, settings.randocc.shapes, settings.randocc.canvas_px, settings.randocc.texture_crop_side_range
    )
    return RandOccRecipe(faces, occluders, settings.randocc, settings.base.seed, settings.base.size)


# --- NatOcc ---


@dataclass(frozen=True, kw_only=True)
class NatOccSettings:
    base: BaseConfig = field(default_factory=BaseConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    run: RunConfig = field(default_factory=RunConfig)
    natocc: NatOccConfig = field(default_factory=NatOccConfig)


def load_natocc_settings(params_file: Path | None) -> NatOccSettings:
    """Settings from ``params_file`` (all defaults when ``None``), validated before any work starts."""
    if params_file is None:
        return NatOccSettings()
    params, root = read_params(params_file)
    run_section, recipe_section = split_run_keys(params.get("natocc") or {})
    natocc = build_config(NatOccConfig, recipe_section, "natocc")
    return NatOccSettings(
        base=build_config(BaseConfig, params.get("base"), "base"),
        faces=faces_config(params, root),
        run=build_config(RunConfig, run_section, "natocc"),
        natocc=replace(
            natocc,
            hands_dir=resolve_path(natocc.hands_dir, root),
            objects_dir=resolve_path(natocc.objects_dir, root),
            harmonise=replace(natocc.harmonise, checkpoint=resolve_path(natocc.harmonise.checkpoint, root)),
        ),
    )


def build_natocc_recipe(
    settings: NatOccSettings, *, objects: OccluderSource | None = None, harmoniser: Harmoniser | None = None
) -> NatOccRecipe:
    """Open the faces, hands and (when any sample can be an object) COCO objects named by ``settings`` and
    build the NatOcc recipe. ``objects`` / ``harmoniser`` override the ones the settings name; without
    ``natocc.objects_dir`` the embedded demo cut-outs (assets/demo/objects) are used."""
    if settings.natocc.sot.device == "cuda":
        import torch

        if not torch.cuda.is_available():  # checked before any store is created
            raise ConfigError("natocc.sot.device is cuda but no CUDA device is available; use numpy (the default)")
    faces = open_face_source(settings.faces, settings.run)
    max_side = max(settings.natocc.hand_max_side_px, settings.base.size)
    cache = CutoutCache(settings.natocc.cache_mb)  # one budget for hands and objects
    hands = MattedHands(source_location(settings.natocc.hands_dir, settings.run), max_side_px=max_side, cache=cache)
    if settings.natocc.uses_objects and objects is None:
        objects_dir = source_location(settings.natocc.objects_dir, settings.run)
        objects = CocoObjects(objects_dir, max_side_px=max_side, cache=cache)
    if objects is not None and harmoniser is None:
        harmoniser = harmoniser_from_config(settings.natocc.harmonise)
    return NatOccRecipe(
        faces, hands, settings.natocc, settings.base.seed, settings.base.size, objects=objects, harmoniser=harmoniser
    )


# --- preparation stages: hands, objects ---


def load_hands_config(params: Path | None) -> HandsConfig:
    """The ``hands`` section (defaults when ``None``), its paths resolved."""
    if params is None:
        return HandsConfig()
    sections, root = read_params(params)
    config = build_config(HandsConfig, sections.get("hands"), "hands")
    return replace(config, path=resolve_path(config.path, root), names_file=resolve_path(config.names_file, root))


def load_upscale_config(params_file: Path, section: str) -> UpscaleConfig:
    """``<section>.upscale`` of ``params_file`` (``objects`` or ``hands``), checkpoint path resolved."""
    if section == "objects":
        config = load_objects_config(params_file).upscale
    elif section == "hands":
        params, root = read_params(params_file)
        config = build_config(HandsConfig, params.get("hands"), "hands").upscale
        config = replace(config, checkpoint=resolve_path(config.checkpoint, root))
    else:
        raise ConfigError(f"--section must be objects or hands, got {section!r}")
    return config


def load_objects_config(params_file: Path | None) -> ObjectsConfig:
    """The ``objects`` section of ``params_file`` (defaults when None), paths resolved, demo filled in."""
    config = ObjectsConfig()
    if params_file is not None:
        params, root = read_params(params_file)
        config = build_config(ObjectsConfig, params.get("objects"), "objects")
        config = replace(
            config, annotations=resolve_path(config.annotations, root), images=resolve_path(config.images, root),
            upscale=replace(config.upscale, checkpoint=resolve_path(config.upscale.checkpoint, root)),
        )  # fmt: skip
    if config.annotations is None and config.images is None:
        demo = demo_root() / "coco"
        config = replace(config, annotations=demo / "annotations" / "instances_demo.json", images=demo / "images")
    if config.annotations is None or config.images is None:
        raise ConfigError("objects.annotations and objects.images go together: set both, or neither for the demo")
    return config


# --- training and evaluation ---


def load_train_config(params_file: Path | None) -> TrainConfig:
    """``TrainConfig`` from the ``train`` section of ``params_file`` (defaults when ``None``).

    ``base.seed`` is the default seed; a relative ``encoder_weights`` path is relative to the file.
    """
    if params_file is None:
        return TrainConfig()
    params, _ = read_params(params_file)
    section = dict(params.get("train") or {})
    base_seed = (params.get("base") or {}).get("seed")
    if "seed" not in section and isinstance(base_seed, int):
        section["seed"] = base_seed
    config = build_config(TrainConfig, section, "train")
    if config.encoder_weights is not None and not config.encoder_weights.is_absolute():
        config = replace(config, encoder_weights=Path(params_file).resolve().parent / config.encoder_weights)
    return config


def load_evaluate_config(params_file: Path | None) -> EvaluateConfig:
    """``EvaluateConfig`` from the ``evaluate`` section of ``params_file`` (defaults when ``None``)."""
    if params_file is None:
        return EvaluateConfig()
    return build_config(EvaluateConfig, read_params(params_file)[0].get("evaluate"), "evaluate")


# --- FaceOcc (issue 18) ---


def _faceocc_section(section: dict[str, Any] | None) -> tuple[RunConfig, FaceOccConfig]:
    run_section, recipe_section = split_run_keys(section or {})
    return build_config(RunConfig, run_section, "faceocc"), build_config(FaceOccConfig, recipe_section, "faceocc")


@dataclass(frozen=True, kw_only=True)
class FaceOccSettings:
    base: BaseConfig = field(default_factory=BaseConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    run: RunConfig = field(default_factory=RunConfig)
    faceocc: FaceOccConfig = field(default_factory=FaceOccConfig)


def load_faceocc_settings(params_file: Path | None) -> FaceOccSettings:
    """Sections ``base``, ``faces`` and ``faceocc`` (defaults when ``None``), paths resolved."""
    if params_file is None:
        return FaceOccSettings()
    params, root = read_params(params_file)
    run, faceocc = _faceocc_section(params.get("faceocc"))
    faceocc = replace(faceocc, faceocc_dir=resolve_path(faceocc.faceocc_dir, root),
                      celebahq_labels=resolve_path(faceocc.celebahq_labels, root))  # fmt: skip
    return FaceOccSettings(
        base=build_config(BaseConfig, params.get("base"), "base"), faces=faces_config(params, root), run=run,
        faceocc=faceocc,
    )  # fmt: skip


def build_faceocc_recipe(settings: FaceOccSettings) -> FaceOccRecipe:
    """Scan the FaceOcc folder (the drawn demo when unset), open the base faces (faces.path; unset: the demo
    faces aligned into the FaceOcc frame) and build the recipe."""
    config = settings.faceocc
    root = config.faceocc_dir if config.faceocc_dir is not None else demo_root() / "faceocc"
    if not root.exists():
        raise ConfigError(
            f"faceocc.faceocc_dir {root} does not exist: set it in params.yaml (or pass --faceocc) to the downloaded "
            "FaceOcc folder (CelebAHQ/, ffhq/, internet/, texture/), or null for the drawn demo"
        )
    data = open_faceocc(root, celebahq_labels=config.celebahq_labels)
    faces = settings.faces
    if faces.path is None:  # the demo faces already aligned into the FaceOcc frame (assets/build_demo_faceocc.py)
        faces = replace(faces, path=demo_root() / "faceocc_faces", layout="folder")
    return FaceOccRecipe(open_face_source(faces, settings.run), data, config, settings.base.seed)


#: Recipes ``occgen train --online`` can make on the fly.
ONLINE_RECIPES = ("randocc", "natocc", "faceocc")


def build_named_recipe(name: str, params_file: Path | None) -> tuple[Any, int]:
    """The recipe ``name`` built from ``params_file`` (defaults when ``None``) and its section's ``n``."""
    if name == "randocc":
        randocc = load_randocc_settings(params_file)
        return build_randocc_recipe(randocc), randocc.run.n
    if name == "natocc":
        natocc = load_natocc_settings(params_file)
        return build_natocc_recipe(natocc), natocc.run.n
    if name == "faceocc":
        faceocc = load_faceocc_settings(params_file)
        return build_faceocc_recipe(faceocc), faceocc.run.n
    raise ConfigError(f"unknown recipe {name!r} for --online; valid: {', '.join(ONLINE_RECIPES)}")
