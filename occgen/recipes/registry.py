"""The recipe registry: each recipe's name, ``params.yaml`` section, config class and builder, in one entry.

Everything that makes a recipe by name reads this table: ``occgen generate <name>``, ``occgen train --online
<name>``, ``occgen params check`` (every registered section is validated) and so the DVC stages that call
them. Adding a recipe means a module in ``occgen/recipes/`` (its config dataclass and recipe class) and one
:func:`register_recipe` call with its builder; nothing else changes (docs/extending.md).

A builder takes :class:`~occgen.recipes.inputs.RecipeInputs` (settings already validated, paths already
resolved against the params file) and returns a picklable :class:`~occgen.recipes.base.Recipe`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from occgen.appearance.harmonise import Harmoniser, harmoniser_from_config
from occgen.core.errors import ConfigError
from occgen.core.files import demo_root
from occgen.recipes.base import Recipe
from occgen.recipes.faceocc import FaceOccConfig, FaceOccRecipe
from occgen.recipes.faces import FacesOptions, FacesRecipe
from occgen.recipes.inputs import RecipeInputs, open_face_source, open_texture_source, source_location
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.recipes.randocc import RandOccConfig, RandOccRecipe
from occgen.sources.cache import CutoutCache
from occgen.sources.faceocc import open_faceocc
from occgen.sources.hands import MattedHands
from occgen.sources.objects import CocoObjects
from occgen.sources.occluder import OccluderSource
from occgen.sources.shapes import RandomShapes

#: The shared source sections of params.yaml a recipe may read (fields of :class:`RecipeInputs`).
SOURCE_SECTIONS = ("faces", "textures")


@dataclass(frozen=True, kw_only=True)
class RecipeEntry:
    """One registered recipe.

    ``section`` is the params.yaml section holding the recipe's own keys (checked against ``config``) and its
    run keys (n, shard_size, workers, image_codec, labels, storage_options); ``sources`` the shared source
    sections it reads. ``online``: ``occgen train --online`` may make it. ``default_n`` gives the sample count
    from the built recipe when neither ``--n`` nor the section sets it (None: the run keys' ``n``).
    """

    name: str
    build: Callable[[RecipeInputs[Any]], Recipe]
    config: type | None
    section: str | None
    sources: tuple[str, ...] = ("faces",)
    run_section: str | None = None  # where the run keys live if not in ``section`` (the faces recipe has none)
    online: bool = True
    default_n: Callable[[Any], int] | None = None
    summary: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ConfigError(f"recipe name must be a lower-case identifier (it names a command), got {self.name!r}")
        if (self.config is None) != (self.section is None):
            raise ConfigError(f"recipe {self.name}: give both a config class and its section, or neither")
        unknown = sorted(set(self.sources) - set(SOURCE_SECTIONS))
        if unknown:
            raise ConfigError(f"recipe {self.name}: unknown source section {unknown[0]!r}; valid: "
                              f"{', '.join(SOURCE_SECTIONS)}")  # fmt: skip

    @property
    def run_keys_section(self) -> str | None:
        """The section the recipe's run keys are read from."""
        return self.section if self.section is not None else self.run_section


_RECIPES: dict[str, RecipeEntry] = {}


def register_recipe(entry: RecipeEntry, *, replace_existing: bool = False) -> RecipeEntry:
    """Add ``entry`` to the registry (``replace_existing``: over an entry of the same name); returns it.

    A name or section already taken by another recipe is refused, so two recipes never read one section.
    """
    if entry.name in _RECIPES and not replace_existing:
        raise ConfigError(f"recipe {entry.name!r} is already registered; pick another name")
    for other in _RECIPES.values():
        if other.name != entry.name and entry.section is not None and other.section == entry.section:
            raise ConfigError(f"recipe {entry.name}: section {entry.section!r} is already read by recipe {other.name}")
    _RECIPES[entry.name] = entry
    return entry


def unregister_recipe(name: str) -> None:
    """Remove recipe ``name`` (a test's example recipe, say); unknown names raise like :func:`recipe_entry`."""
    recipe_entry(name)
    del _RECIPES[name]


def recipe_entries() -> tuple[RecipeEntry, ...]:
    """Every registered recipe, in registration order."""
    return tuple(_RECIPES.values())


def recipe_names(*, online: bool = False) -> tuple[str, ...]:
    """The registered recipe names (``online``: only those ``occgen train --online`` can make)."""
    return tuple(entry.name for entry in _RECIPES.values() if entry.online or not online)


def recipe_entry(name: str, *, online: bool = False) -> RecipeEntry:
    """The entry of recipe ``name``; an unknown name (or one that cannot train online) lists the valid ones."""
    entry = _RECIPES.get(name)
    if entry is None or (online and not entry.online):
        purpose = " for --online" if online else ""
        raise ConfigError(f"unknown recipe {name!r}{purpose}; valid: {', '.join(recipe_names(online=online))}")
    return entry


# --- the builders of occgen's own recipes ---


def build_randocc(inputs: RecipeInputs[RandOccConfig]) -> RandOccRecipe:
    """Open the faces and DTD textures (checking their layout) and build the RandOcc recipe."""
    faces = open_face_source(inputs.faces, inputs.storage_options)
    textures = open_texture_source(inputs.textures, inputs.storage_options)
    config = inputs.config
    canvas_px = config.canvas_px_at(inputs.base.size)  # given at the reference size (512²), scaled to --size
    occluders = RandomShapes(textures, config.shapes, canvas_px, config.texture_crop_side_range)
    return RandOccRecipe(faces, occluders, config, inputs.base.seed, inputs.base.size)


def build_natocc(
    inputs: RecipeInputs[NatOccConfig], *, objects: OccluderSource | None = None, harmoniser: Harmoniser | None = None
) -> NatOccRecipe:
    """Open the faces, hands and (when any sample can be an object) COCO objects and build the NatOcc recipe.
    ``objects`` / ``harmoniser`` override the ones the config names; without ``natocc.objects_dir`` the
    embedded demo cut-outs (assets/demo/objects) are used."""
    config = inputs.config
    if config.sot.device == "cuda":
        import torch

        if not torch.cuda.is_available():  # checked before any store is created
            raise ConfigError("natocc.sot.device is cuda but no CUDA device is available; use numpy (the default)")
    faces = open_face_source(inputs.faces, inputs.storage_options)
    max_side = max(config.hand_max_side_px, inputs.base.size)
    cache = CutoutCache(config.cache_mb)  # one budget for hands and objects
    hands = MattedHands(source_location(config.hands_dir, inputs.storage_options), max_side_px=max_side, cache=cache)
    if config.uses_objects and objects is None:
        objects_dir = source_location(config.objects_dir, inputs.storage_options)
        objects = CocoObjects(objects_dir, max_side_px=max_side, cache=cache)
    if objects is not None and harmoniser is None:
        harmoniser = harmoniser_from_config(config.harmonise)
    return NatOccRecipe(faces, hands, config, inputs.base.seed, inputs.base.size, objects=objects,
                        harmoniser=harmoniser)  # fmt: skip


def build_faceocc(inputs: RecipeInputs[FaceOccConfig]) -> FaceOccRecipe:
    """Scan the FaceOcc folder (the drawn demo when unset), open the base faces (faces.path; unset: the demo
    faces aligned into the FaceOcc frame) and build the recipe."""
    config = inputs.config
    root = config.faceocc_dir if config.faceocc_dir is not None else demo_root() / "faceocc"
    if not root.exists():
        raise ConfigError(
            f"faceocc.faceocc_dir {root} does not exist: set it in params.yaml (or pass --faceocc) to the downloaded "
            "FaceOcc folder (CelebAHQ/, ffhq/, internet/, texture/), or null for the drawn demo"
        )
    data = open_faceocc(root, celebahq_labels=config.celebahq_labels)
    faces = inputs.faces
    if faces.path is None:  # the demo faces already aligned into the FaceOcc frame (assets/build_demo_faceocc.py)
        faces = replace(faces, path=demo_root() / "faceocc_faces", layout="folder")
    return FaceOccRecipe(open_face_source(faces, inputs.storage_options), data, config, inputs.base.seed)


def build_faces(inputs: RecipeInputs[FacesOptions | None]) -> FacesRecipe:
    """The faces without occlusion (C-WO) at ``base.size``; ``config``: the command's options, if any (the recipe
    has no params section)."""
    return FacesRecipe(open_face_source(inputs.faces, inputs.storage_options), inputs.base.seed, inputs.base.size,
                       options=inputs.config or FacesOptions())  # fmt: skip


def one_sample_per_face(recipe: FacesRecipe) -> int:
    return len(recipe.faces)


register_recipe(RecipeEntry(
    name="randocc", section="randocc", config=RandOccConfig, build=build_randocc, sources=("faces", "textures"),
    summary="RandOcc: random shapes textured from DTD, ~30 % translucent, composited onto faces.",
))  # fmt: skip
register_recipe(RecipeEntry(
    name="natocc", section="natocc", config=NatOccConfig, build=build_natocc,
    summary="NatOcc: matted hands (fingers toward the face, SOT colours) and harmonised COCO objects.",
))  # fmt: skip
register_recipe(RecipeEntry(
    name="faceocc", section="faceocc", config=FaceOccConfig, build=build_faceocc,
    summary="FaceOcc: labelled occlusions transplanted onto aligned faces, with texture swaps (the FaceOcc paper).",
))  # fmt: skip
# The faces have no section of their own: they run with the randocc section's run keys (workers, shard size,
# codec, labels) and make one sample per face unless --n says otherwise, as `generate faces` always has.
register_recipe(RecipeEntry(
    name="faces", section=None, config=None, build=build_faces, run_section="randocc", online=False,
    default_n=one_sample_per_face,
    summary="The faces without occlusion (C-WO) as a store; also a fast face source for the other recipes.",
))  # fmt: skip
