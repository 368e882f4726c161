"""``occgen occluders ...``: build occluder folders (COCO object extraction, super-resolution).

A thin typer layer over :mod:`occgen.prep.objects`; registered in :mod:`occgen.cli.main` as the ``occluders``
sub-app.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from occgen.cli.common import WORKERS_HELP, Device, command_group, deprecated_alias, resolve_workers

occluders_app = command_group(help="Build occluder folders (COCO objects, super-resolution).", no_args_is_help=True)


@occluders_app.command("coco")
def occluders_coco(
    out: Annotated[Path, typer.Option("--out", help="Output folder: RGBA PNGs + manifest.json.")],
    annotations: Annotated[
        Path | None,
        typer.Option("--annotations", help="COCO instances_<split>.json [default: params, else the embedded demo]."),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            "--src", help="Folder with the split's images (val2017/) [default: params, else the embedded demo]."
        ),
    ] = None,
    images_alias: Annotated[Path | None, deprecated_alias("--images", "--src")] = None,
    category: Annotated[
        list[str] | None,
        typer.Option("--category", help="Allowed COCO category (repeat) [default: params, else 20 everyday objects]."),
    ] = None,
    min_area: Annotated[
        float | None, typer.Option(help="Minimum mask area in px [default: params, else 2500].")
    ] = None,
    min_solidity: Annotated[
        float | None, typer.Option(help="Minimum mask area / convex hull area [default: params, else 0.5].")
    ] = None,
    border_margin: Annotated[
        int | None, typer.Option(help="Drop objects this close to the border (px) [default: params, else 2].")
    ] = None,
    max_per_category: Annotated[
        int | None, typer.Option(help="Keep at most N per category, largest first [default: params, else all].")
    ] = None,
    include_crowd: Annotated[
        bool | None, typer.Option(help="Keep iscrowd=1 regions [default: params, else no].")
    ] = None,
    edge_sigma: Annotated[
        float | None, typer.Option(help="Gaussian sigma of the soft alpha edge (px) [default: params, else 1.0].")
    ] = None,
    workers: Annotated[int, typer.Option(help=f"{WORKERS_HELP}.")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an --out made with other settings.")] = False,
    params: Annotated[
        Path | None, typer.Option("--params", help="params.yaml (section objects) [default: none, built-in settings].")
    ] = None,
) -> None:
    """Cut COCO objects out as RGBA PNGs with a soft alpha edge (resumable, parallel)."""
    from dataclasses import replace

    from occgen.cli.common import demo_note, err_console, progress_bar, user_errors, with_overrides
    from occgen.prep.objects.coco import extract_coco
    from occgen.settings import load_objects_config

    with user_errors():
        config = load_objects_config(params)
        annotations = annotations or config.annotations
        images = images or images_alias or config.images
        assert annotations is not None and images is not None  # filled in by load_objects_config
        from occgen.core.files import demo_root

        on_demo = Path(annotations).is_relative_to(demo_root())
        if on_demo:  # a few photos that annotate some of the 20 categories: no warning about the others below
            demo_note("the embedded demo COCO annotations (a few photos, some of the categories; not fit for "
                      "training)", "--annotations JSON --src DIR (a COCO split)")  # fmt: skip
        filter_changes = {
            "categories": tuple(category) if category else None, "include_crowd": include_crowd,
            "min_area_px": min_area, "border_margin_px": border_margin, "min_solidity": min_solidity,
            "max_per_category": max_per_category,
        }  # fmt: skip
        filters = with_overrides(config.coco, **filter_changes)
        cutout = config.cutout if edge_sigma is None else replace(config.cutout, edge_sigma_px=edge_sigma)
        progress = progress_bar()
        task = progress.add_task(f"coco -> {out}", total=None)
        with progress:
            report = extract_coco(
                annotations, images, out, filters=filters, cutout=cutout, overwrite=overwrite,
                workers=resolve_workers(workers),
                on_total=lambda total: progress.update(task, total=total),
                on_progress=lambda count: progress.advance(task, count),
            )  # fmt: skip
        if report.unknown_categories and category:
            err_console.print(f"warning: categories not in {annotations.name}: {', '.join(report.unknown_categories)}")
        if report.empty_categories and not on_demo:  # a COCO subset (COCO-MINI, COCO_Tiny...) lacks some of them
            err_console.print(
                f"warning: {len(report.empty_categories)} of {len(filters.categories)} categories gave no object "
                f"in {annotations.name}: {', '.join(report.empty_categories)} (not annotated there, or every instance "
                "rejected below); add images or choose objects.coco.categories",
                highlight=False,
            )
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(report.rejected.items())) or "none"
        per_category = ", ".join(f"{k} {v}" for k, v in report.per_category.items()) or "none"
        err_console.print(
            f"{report.candidates} objects in {out} ({report.written} new, {report.skipped_existing} already done) "
            f"in {report.seconds:.1f} s; rejected: {rejected}; per category: {per_category}",
            highlight=False,
        )


class UpscaleBackend(StrEnum):
    lanczos = "lanczos"
    rrdb = "rrdb"


@occluders_app.command("upscale")
def occluders_upscale(
    src: Annotated[Path, typer.Option("--src", help="Folder of RGBA PNG cut-outs (COCO objects, hands, ...).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for the upscaled cut-outs.")],
    backend: Annotated[
        UpscaleBackend | None,
        typer.Option(help="lanczos (classical) or rrdb (ESRGAN network) [default: params, else lanczos]."),
    ] = None,
    scale: Annotated[
        int | None, typer.Option(help="Upscaling factor (rrdb: 4 only) [default: params, else 4].")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="RRDBNet x4 state dict (ESRGAN or BasicSR layout) [default: params, else none; rrdb needs it]."
        ),
    ] = None,
    rrdb_blocks: Annotated[
        int | None, typer.Option(help="RRDB blocks in the checkpoint's network [default: params, else 23].")
    ] = None,
    tile: Annotated[
        int | None, typer.Option(help="rrdb: tile side in input px (0 = whole image) [default: params, else 128].")
    ] = None,
    device: Annotated[Device | None, typer.Option(help="Device [default: params, else cpu].")] = None,
    max_side: Annotated[
        int | None,
        typer.Option(help="Skip upscaling when the output would exceed this side (px) [default: params, else 4096]."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Redo files already in --out.")] = False,
    params: Annotated[
        Path | None,
        typer.Option(
            "--params",
            help="params.yaml: <section>.upscale gives the options not given here [default: none, built-in settings].",
        ),
    ] = None,
    section: Annotated[str, typer.Option(help="With --params: objects or hands.")] = "objects",
) -> None:
    """Super-resolve every RGBA cut-out of --src into --out (the NatOcc paper used GLEAN x4)."""
    from occgen.cli.common import err_console, progress_bar, user_errors, with_overrides
    from occgen.prep.objects.config import UpscaleConfig
    from occgen.prep.objects.upscale import make_upscaler, upscale_folder
    from occgen.settings import load_upscale_config

    with user_errors():
        # params.yaml (the DVC stage) first, then every option given on the command line over it.
        settings = load_upscale_config(params, section) if params is not None else UpscaleConfig()
        settings = with_overrides(
            settings, backend=backend.value if backend else None, scale=scale, checkpoint=checkpoint,
            rrdb_blocks=rrdb_blocks, tile_px=tile, device=device.value if device else None, max_side_px=max_side,
        )  # fmt: skip
        upscaler = make_upscaler(
            settings.backend, scale=settings.scale, checkpoint=settings.checkpoint, num_blocks=settings.rrdb_blocks,
            tile_px=settings.tile_px, device=settings.device,
        )  # fmt: skip
        progress = progress_bar()
        task = progress.add_task(f"{upscaler.name} x{settings.scale} -> {out}", total=None)
        with progress:
            report = upscale_folder(
                src, out, upscaler, max_side_px=settings.max_side_px, overwrite=overwrite,
                on_total=lambda total: progress.update(task, total=total),
                on_progress=lambda count: progress.advance(task, count),
            )  # fmt: skip
        err_console.print(
            f"{report.written} cut-outs upscaled with {upscaler.name} into {out} ({report.skipped_existing} already "
            f"done, {report.too_large} copied unscaled: over {settings.max_side_px} px) in {report.seconds:.1f} s",
            highlight=False,
        )
