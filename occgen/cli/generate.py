"""`occgen generate randocc|natocc|faces|faceocc`: recipes into zarr stores.

Every command runs one body, :func:`generate_recipe`: the recipe's settings through the registry
(:mod:`occgen.recipes.registry`), the command-line values over them, the registered builder, then
:func:`~occgen.cli.common.run_generation`. Each command only declares its own options (and maps the
recipe-specific ones onto its config); a registered recipe without a command of its own here gets a
generic one (:func:`recipe_command`) with the options every recipe shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from occgen.cli.common import (
    OUT_STORE_HELP,
    Device,
    FacesFormatOption,
    FacesOption,
    ImageCodecOption,
    LabelsOption,
    NOption,
    OverwriteOption,
    ParamsOption,
    PreviewOption,
    RepairOption,
    SchedulerOption,
    SeedOption,
    ShardSizeOption,
    SizeOption,
    SplitOption,
    StatsOption,
    WorkersOption,
    command_group,
    note_demo_sources,
    run_generation,
    user_errors,
    with_overrides,
)  # fmt: skip
from occgen.core.errors import ConfigError

if TYPE_CHECKING:
    from occgen.recipes.registry import RecipeEntry


def parse_objects_frac(value: str | None) -> float | str | None:
    """``--objects-frac``: ``paired`` or a number (checked by NatOccConfig); ``None`` keeps params.yaml's."""
    if value is None or value == "paired":
        return value
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"--objects-frac must be paired or a number in [0, 1], got {value!r}") from None


class ColorTransfer(StrEnum):
    sot = "sot"
    none = "none"


class Placement(StrEnum):
    random = "random"
    anchored = "anchored"


class LandmarkScheme(StrEnum):
    derived = "derived"
    source = "source"


FramesOption = Annotated[
    int | None,
    typer.Option(
        "--frames", help="Make clips of this many frames (>= 2; --n counts clips, docs/clips.md) [default: stills]."
    ),
]
TexturesOption = Annotated[
    Path | None, typer.Option(help="DTD folder, a path or URL [default: params, else the embedded demo].")
]


def faces_layout(faces: Path | None, faces_format: str | None) -> str | None:
    """The face layout a run uses in place of params' ``faces.layout`` (None keeps it): ``--faces-format``, or
    ``auto`` when ``--faces`` names another folder, since params' layout describes params' ``faces.path`` (an
    LFW Part Labels pipeline passes its C-WO store as ``--faces data/faces.zarr``)."""
    if faces_format is not None:
        return faces_format
    return "auto" if faces is not None else None


def generate_recipe(
    name: str, out: Path, *, params: Path | None = None, seed: int | None = None, size: int | None = None,
    n: int | None = None, workers: int | None = None, shard_size: int | None = None, image_codec: str | None = None,
    labels: str | None = None, faces: Path | None = None, split: Path | None = None, textures: Path | None = None,
    configure: Callable[[Any], Any] | None = None, scheduler: str | None = None, overwrite: bool = False,
    preview: bool = True, stats: Path | None = None, repair: bool = False, faces_format: str | None = None,
    frames: int | None = None,
) -> None:  # fmt: skip
    """Generate registered recipe ``name`` into the store ``out`` (the body of every ``generate`` command).

    The recipe's settings come from ``params`` (all defaults when None); each value given (not None) replaces
    the file's: ``seed``/``size`` in ``base``, the run keys, ``faces``/``split`` in ``faces`` (``faces_format``
    its ``layout``; ``faces`` alone resets it to ``auto``, :func:`faces_layout`), ``textures`` in ``textures``;
    ``configure`` maps the recipe's own config (its command's own options). Then the registered builder opens
    the sources and :func:`run_generation` writes the store.
    """
    from occgen.settings import build_recipe, load_recipe_settings

    settings = load_recipe_settings(name, params)
    entry = settings.entry
    if textures is not None and "textures" not in entry.sources:
        raise ConfigError(f"--textures: recipe {name} reads no textures (its sources: {', '.join(entry.sources)})")
    run = with_overrides(settings.run, n=n, workers=workers, shard_size=shard_size, image_codec=image_codec,
                         labels=labels)  # fmt: skip
    settings = replace(
        settings, base=with_overrides(settings.base, seed=seed, size=size), run=run,
        faces=with_overrides(settings.faces, path=faces, split=split, layout=faces_layout(faces, faces_format)),
        textures=with_overrides(settings.textures, path=textures),
        config=configure(settings.config) if configure is not None else settings.config,
    )  # fmt: skip
    recipe = build_recipe(settings)
    note_demo_sources(recipe.sources())
    if n is None and entry.default_n is not None:  # e.g. the faces: one sample per face
        run = replace(run, n=entry.default_n(recipe))
    from occgen.run.clips import clip_recipe, clip_run

    if frames is not None:  # clips (issue 27): --n counts clips, shards hold whole clips
        run = clip_run(run, frames)
    made = clip_recipe(recipe, frames) if frames is not None else recipe
    run_generation(
        made, out, run, scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats, repair=repair
    )


def recipe_command(entry: RecipeEntry) -> Callable[..., None]:
    """A ``generate`` command for a registered recipe that has none of its own: the options every recipe
    shares (``--textures`` only matters to recipes that read textures)."""

    def command(
        n: NOption = None,
        out: Annotated[Path, typer.Option("--out", help=OUT_STORE_HELP)] = Path(f"{entry.name}.zarr"),
        seed: SeedOption = None,
        size: SizeOption = None,
        workers: WorkersOption = None,
        scheduler: SchedulerOption = None,
        faces: FacesOption = None,
        split: SplitOption = None,
        faces_format: FacesFormatOption = None,
        textures: TexturesOption = None,
        shard_size: ShardSizeOption = None,
        overwrite: OverwriteOption = False,
        preview: PreviewOption = True,
        repair: RepairOption = False,
        image_codec: ImageCodecOption = None,
        labels: LabelsOption = None,
        stats: StatsOption = None,
        params: Annotated[
            Path | None, typer.Option("--params", help="params.yaml to read [default: none, built-in settings].")
        ] = None,
    ) -> None:
        with user_errors():
            generate_recipe(
                entry.name, out, params=params, seed=seed, size=size, n=n, workers=workers, shard_size=shard_size,
                image_codec=image_codec, labels=labels, faces=faces, split=split, textures=textures,
                scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats, repair=repair,
                faces_format=faces_format,
            )  # fmt: skip

    command.__doc__ = entry.summary or f"The {entry.name} recipe (registered in occgen.recipes.registry)."
    return command


class RecipeCommands(TyperGroup):
    """The ``generate`` group: the commands above, then a generic one for each other registered recipe
    (looked up only when asked for, so other commands do not import every recipe)."""

    # ctx and the commands are typer's vendored click types (typer._click), private, hence Any here.
    def list_commands(self, ctx: Any) -> list[str]:
        from occgen.recipes.registry import recipe_names

        names = super().list_commands(ctx)
        return [*names, *(name for name in recipe_names() if name not in names)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        from occgen.recipes.registry import recipe_entries

        entry = next((entry for entry in recipe_entries() if entry.name == cmd_name), None)
        if entry is None:
            return None
        single = command_group()
        single.command(entry.name)(recipe_command(entry))
        return typer.main.get_command(single)


generate_app = command_group(help="Generate a dataset into a zarr store.", no_args_is_help=True, cls=RecipeCommands)


@generate_app.command("randocc")
def generate_randocc(
    n: NOption = None,
    out: Annotated[Path, typer.Option("--out", help=OUT_STORE_HELP)] = Path("randocc.zarr"),
    seed: SeedOption = None,
    size: SizeOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    faces: FacesOption = None,
    split: SplitOption = None,
    faces_format: FacesFormatOption = None,
    textures: TexturesOption = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    repair: RepairOption = False,
    image_codec: ImageCodecOption = None,
    labels: LabelsOption = None,
    frames: FramesOption = None,
    stats: StatsOption = None,
    params: ParamsOption = None,
) -> None:
    """RandOcc: random shapes textured from DTD, ~30 % translucent, composited onto faces."""
    with user_errors():
        generate_recipe(
            "randocc", out, params=params, seed=seed, size=size, n=n, workers=workers, shard_size=shard_size,
            image_codec=image_codec, labels=labels, faces=faces, split=split, textures=textures, scheduler=scheduler,
            overwrite=overwrite, frames=frames, preview=preview, stats=stats, repair=repair,
            faces_format=faces_format,
        )  # fmt: skip


@generate_app.command("faces")
def generate_faces(
    n: Annotated[int | None, typer.Option("--n", help="Number of samples [default: one per face].")] = None,
    out: Annotated[Path, typer.Option("--out", help=OUT_STORE_HELP)] = Path("faces.zarr"),
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed, recorded in the card (this recipe draws nothing at random) [default: params, else 0]."
        ),
    ] = None,
    size: SizeOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    faces: FacesOption = None,
    split: SplitOption = None,
    faces_format: FacesFormatOption = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    repair: RepairOption = False,
    image_codec: ImageCodecOption = None,
    labels: LabelsOption = None,
    landmark_scheme: Annotated[
        LandmarkScheme | None,
        typer.Option(help="The points --labels landmarks stores: derived (13, from the parsing map) or source (each "
                     "face's own 68 or 5 points from its landmark file) [default: derived]."),
    ] = None,
    stats: StatsOption = None,
    params: ParamsOption = None,
) -> None:
    """The faces without occlusion (C-WO) as a store; also a fast face source for the other recipes."""
    # --seed is only recorded (base.seed): the faces draw nothing at random. 0 for --n or --size: the default.
    from occgen.recipes.faces import FacesOptions

    with user_errors():
        options = FacesOptions(landmark_scheme=landmark_scheme.value) if landmark_scheme else None
        generate_recipe(
            "faces", out, params=params, seed=seed, size=size or None, n=n or None, workers=workers,
            shard_size=shard_size, image_codec=image_codec, labels=labels, faces=faces, split=split,
            scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats, repair=repair,
            faces_format=faces_format, configure=lambda _: options,
        )  # fmt: skip


@generate_app.command("natocc")
def generate_natocc(
    n: NOption = None,
    out: Annotated[Path, typer.Option("--out", help=OUT_STORE_HELP)] = Path("natocc.zarr"),
    seed: SeedOption = None,
    size: SizeOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    faces: FacesOption = None,
    split: SplitOption = None,
    faces_format: FacesFormatOption = None,
    hands: Annotated[
        Path | None,
        typer.Option(
            help="Matted hands (`occgen hands matte` output), a path or URL [default: params, else the embedded "
            "demo hands]."
        ),
    ] = None,
    color_transfer: Annotated[
        ColorTransfer | None, typer.Option(help="sot: NatOcc-SOT set; none: NatOcc set [default: params, else sot].")
    ] = None,
    objects_frac: Annotated[
        str | None,
        typer.Option(
            help="paired: one hand and one object sample per face (the paper's set); a number in [0, 1]: the "
            "random share of object samples (0 = hands only, 1 = objects only) [default: params, else paired]."
        ),
    ] = None,
    objects: Annotated[
        Path | None,
        typer.Option(
            help="COCO object cut-outs (`occgen occluders coco` output), a path or URL [default: params, else the "
            "embedded demo objects]."
        ),
    ] = None,
    harmoniser_checkpoint: Annotated[
        Path | None,
        typer.Option(help="RainNet net_G checkpoint for the objects [default: params, else the lab-stats fallback]."),
    ] = None,
    device: Annotated[
        Device | None, typer.Option(help="cuda: RainNet and the SOT fit on the GPU [default: params, else cpu].")
    ] = None,
    cache_mb: Annotated[
        float | None,
        typer.Option(help="Decoded cut-outs kept per worker, in MB (0 = none) [default: params, else 512]."),
    ] = None,
    placement: Annotated[
        Placement | None,
        typer.Option(
            help="random: anywhere on the face (the paper); anchored: where each occluder family meets a "
            "face, from its landmarks (docs/natocc.md) [default: params, else random]."
        ),
    ] = None,
    wearables_frac: Annotated[
        float | None,
        typer.Option(
            help="Share of object samples that are procedural eyewear or face masks instead of the objects "
            "[default: params, else 0]."
        ),
    ] = None,
    occluders_per_face: Annotated[
        str | None,
        typer.Option(
            help="How many occluders a face gets: counts with weights, `1:0.5,2:0.3,3:0.2`, or counts drawn "
            "equally, `1,2,3`; later ones on top (docs/natocc.md) [default: params, else 1]."
        ),
    ] = None,
    face_occluder_frac: Annotated[
        float | None,
        typer.Option(help="Share of samples with another person's face on top, as an occluder "
                     "[default: params, else 0]."),
    ] = None,
    landmark_scheme: Annotated[
        LandmarkScheme | None,
        typer.Option(help="The points --labels landmarks stores: derived (13, from the parsing map) or source "
                     "(each face's own 68 or 5 points from its landmark file) [default: params, else derived]."),
    ] = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    repair: RepairOption = False,
    image_codec: ImageCodecOption = None,
    labels: LabelsOption = None,
    frames: FramesOption = None,
    stats: StatsOption = None,
    params: Annotated[
        Path | None,
        typer.Option("--params", help="params.yaml (sections base, faces, natocc) [default: none, built-in settings]."),
    ] = None,
) -> None:
    """NatOcc: matted hands (fingers toward the face, SOT colours) and harmonised COCO objects."""

    chosen = device.value if device is not None else None

    def configure(natocc: Any) -> Any:
        natocc = with_overrides(
            natocc, hands_dir=hands, color_transfer=color_transfer.value if color_transfer else None,
            objects_frac=parse_objects_frac(objects_frac), objects_dir=objects, cache_mb=cache_mb,
            placement=placement.value if placement else None, wearables_frac=wearables_frac,
            face_occluder_frac=face_occluder_frac, landmark_scheme=landmark_scheme.value if landmark_scheme else None,
        )  # fmt: skip
        if occluders_per_face is not None:
            from occgen.recipes.multi import parse_occluders_per_face

            stack = parse_occluders_per_face(occluders_per_face, natocc.occluders_per_face)
            natocc = replace(natocc, occluders_per_face=stack)
        return replace(
            natocc, harmonise=with_overrides(natocc.harmonise, checkpoint=harmoniser_checkpoint, device=chosen),
            sot=with_overrides(natocc.sot, device={"cuda": "cuda", "cpu": "numpy"}.get(chosen or "")),
        )  # fmt: skip

    with user_errors():
        generate_recipe(
            "natocc", out, params=params, seed=seed, size=size, n=n, workers=workers, shard_size=shard_size,
            image_codec=image_codec, labels=labels, faces=faces, split=split, configure=configure,
            scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats, repair=repair,
            faces_format=faces_format, frames=frames,
        )  # fmt: skip


@generate_app.command("faceocc")
def generate_faceocc(
    n: NOption = None,
    out: Annotated[Path, typer.Option("--out", help=OUT_STORE_HELP)] = Path("faceocc.zarr"),
    seed: SeedOption = None,
    size: Annotated[int | None, typer.Option(help="Image side in px [default: params, else 256].")] = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    faces: FacesOption = None,
    split: SplitOption = None,
    faces_format: FacesFormatOption = None,
    faceocc: Annotated[
        Path | None,
        typer.Option(
            help="FaceOcc folder (CelebAHQ/, ffhq/, internet/, texture/) [default: params, else the drawn demo]."
        ),
    ] = None,
    real_frac: Annotated[
        float | None, typer.Option(help="Share of real FaceOcc samples [default: params, else 0.3].")
    ] = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    repair: RepairOption = False,
    image_codec: ImageCodecOption = None,
    labels: LabelsOption = None,
    stats: StatsOption = None,
    frames: FramesOption = None,
    params: Annotated[
        Path | None,
        typer.Option(
            "--params", help="params.yaml (sections base, faces, faceocc) [default: none, built-in settings]."
        ),
    ] = None,
) -> None:
    """FaceOcc: labelled occlusions transplanted onto aligned faces, with texture swaps (the FaceOcc paper)."""

    def configure(config: Any) -> Any:  # --size is the FaceOcc frame (faceocc.size_px), not base.size
        return with_overrides(config, faceocc_dir=faceocc, real_frac=real_frac, size_px=size)

    with user_errors():
        generate_recipe(
            "faceocc", out, params=params, seed=seed, n=n, workers=workers, shard_size=shard_size,
            image_codec=image_codec, labels=labels, faces=faces, split=split, configure=configure,
            scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats, repair=repair,
            faces_format=faces_format, frames=frames,
        )  # fmt: skip
