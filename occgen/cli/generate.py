"""`occgen generate randocc|natocc|faces|faceocc`: recipes into zarr stores."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from occgen.cli.common import (
    OUT_STORE_HELP,
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
    run_generation,
    user_errors,
    with_overrides,
)  # fmt: skip
from occgen.core.errors import ConfigError

generate_app = typer.Typer(help="Generate a dataset into a zarr store.", no_args_is_help=True)


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
    textures: Annotated[Path | None, typer.Option(help="DTD folder, a path or URL [default: embedded demo].")] = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    repair: RepairOption = False,
    image_codec: ImageCodecOption = None,
    labels: LabelsOption = None,
    stats: StatsOption = None,
    params: ParamsOption = None,
) -> None:
    """RandOcc: random shapes textured from DTD, ~30 % translucent, composited onto faces."""
    from occgen.settings import build_randocc_recipe, load_randocc_settings

    with user_errors():
        settings = load_randocc_settings(params)
        run = with_overrides(settings.run, n=n, workers=workers, shard_size=shard_size, image_codec=image_codec,
                             labels=labels)  # fmt: skip
        settings = replace(
            settings, base=with_overrides(settings.base, seed=seed, size=size), run=run,
            faces=with_overrides(settings.faces, path=faces, split=split),
            textures=with_overrides(settings.textures, path=textures),
        )  # fmt: skip
        recipe = build_randocc_recipe(settings)
        run_generation(
            recipe, out, run, scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats, repair=repair
        )


@generate_app.command("faces")
def generate_faces(
    n: Annotated[int | None, typer.Option("--n", help="Number of samples [default: one per face].")] = None,
    out: Annotated[Path, typer.Option("--out", help=OUT_STORE_HELP)] = Path("faces.zarr"),
    size: SizeOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    faces: FacesOption = None,
    split: SplitOption = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    repair: RepairOption = False,
    image_codec: ImageCodecOption = None,
    labels: LabelsOption = None,
    stats: StatsOption = None,
    params: ParamsOption = None,
) -> None:
    """The faces without occlusion (C-WO) as a store; also a fast face source for the other recipes."""
    from occgen.recipes.faces import FacesRecipe
    from occgen.settings import load_randocc_settings, open_face_source

    with user_errors():
        settings = load_randocc_settings(params)
        source = open_face_source(with_overrides(settings.faces, path=faces, split=split), settings.run)
        run = with_overrides(
            settings.run,
            n=n or len(source),
            workers=workers,
            shard_size=shard_size,
            image_codec=image_codec,
            labels=labels,
        )
        recipe = FacesRecipe(source, settings.base.seed, size or settings.base.size)
        run_generation(
            recipe, out, run, scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats, repair=repair
        )


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
    hands: Annotated[
        Path | None,
        typer.Option(help="Matted hands (`occgen hands matte` output), a path or URL [default: embedded demo hands]."),
    ] = None,
    color_transfer: Annotated[
        ColorTransfer | None, typer.Option(help="sot: NatOcc-SOT set; none: NatOcc set [default: sot].")
    ] = None,
    objects_frac: Annotated[
        str | None,
        typer.Option(
            help="paired: one hand and one object sample per face (the paper's set); a number in [0, 1]: the "
            "random share of object samples (0 = hands only, 1 = objects only) [default: paired]."
        ),
    ] = None,
    objects: Annotated[
        Path | None,
        typer.Option(
            help="COCO object cut-outs (`occgen occluders coco` output), a path or URL [default: embedded demo]."
        ),
    ] = None,
    harmoniser_checkpoint: Annotated[
        Path | None, typer.Option(help="RainNet net_G checkpoint for the objects [default: lab-stats fallback].")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="cuda: RainNet and the SOT fit on the GPU [default: params, else CPU].")
    ] = None,
    cache_mb: Annotated[
        float | None, typer.Option(help="Decoded cut-outs kept per worker, in MB (0 = none) [default: 512].")
    ] = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    repair: RepairOption = False,
    image_codec: ImageCodecOption = None,
    labels: LabelsOption = None,
    stats: StatsOption = None,
    params: Annotated[Path | None, typer.Option("--params", help="params.yaml (sections base, faces, natocc).")] = None,
) -> None:
    """NatOcc: matted hands (fingers toward the face, SOT colours) and harmonised COCO objects."""
    from occgen.settings import build_natocc_recipe, load_natocc_settings

    with user_errors():
        settings = load_natocc_settings(params)
        run = with_overrides(settings.run, n=n, workers=workers, shard_size=shard_size, image_codec=image_codec,
                             labels=labels)  # fmt: skip
        natocc = with_overrides(
            settings.natocc, hands_dir=hands, color_transfer=color_transfer.value if color_transfer else None,
            objects_frac=parse_objects_frac(objects_frac), objects_dir=objects, cache_mb=cache_mb,
        )  # fmt: skip
        natocc = replace(
            natocc, harmonise=with_overrides(natocc.harmonise, checkpoint=harmoniser_checkpoint, device=device),
            sot=with_overrides(natocc.sot, device={"cuda": "cuda", "cpu": "numpy"}.get(device or "")),
        )  # fmt: skip
        settings = replace(
            settings, base=with_overrides(settings.base, seed=seed, size=size), run=run, natocc=natocc,
            faces=with_overrides(settings.faces, path=faces, split=split),
        )  # fmt: skip
        recipe = build_natocc_recipe(settings)
        run_generation(
            recipe, out, run, scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats, repair=repair
        )


@generate_app.command("faceocc")
def generate_faceocc(
    n: NOption = None,
    out: Annotated[Path, typer.Option("--out", help="Output zarr store.")] = Path("faceocc.zarr"),
    seed: SeedOption = None,
    size: Annotated[int | None, typer.Option(help="Image side in px [default: params, else 256].")] = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    faces: FacesOption = None,
    split: SplitOption = None,
    faceocc: Annotated[
        Path | None, typer.Option(help="FaceOcc folder (CelebAHQ/, ffhq/, internet/, texture/) [default: drawn demo].")
    ] = None,
    real_frac: Annotated[float | None, typer.Option(help="Share of real FaceOcc samples [default: 0.3].")] = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    repair: RepairOption = False,
    image_codec: ImageCodecOption = None,
    labels: LabelsOption = None,
    stats: StatsOption = None,
    params: Annotated[
        Path | None, typer.Option("--params", help="params.yaml (sections base, faces, faceocc).")
    ] = None,
) -> None:
    """FaceOcc: labelled occlusions transplanted onto aligned faces, with texture swaps (the FaceOcc paper)."""
    from occgen.settings import build_faceocc_recipe, load_faceocc_settings

    with user_errors():
        settings = load_faceocc_settings(params)
        run = with_overrides(settings.run, n=n, workers=workers, shard_size=shard_size, image_codec=image_codec,
                             labels=labels)  # fmt: skip
        settings = replace(
            settings, base=with_overrides(settings.base, seed=seed), run=run,
            faces=with_overrides(settings.faces, path=faces, split=split),
            faceocc=with_overrides(settings.faceocc, faceocc_dir=faceocc, real_frac=real_frac, size_px=size),
        )  # fmt: skip
        recipe = build_faceocc_recipe(settings)
        run_generation(
            recipe, out, run, scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats, repair=repair
        )
