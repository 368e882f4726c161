"""``occgen occluders ...``: build occluder folders (COCO object extraction, super-resolution).

A thin typer layer over :mod:`occgen.prep.objects`; registered in :mod:`occgen.cli.main` as the ``occluders``
sub-app.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

occluders_app = typer.Typer(help="Build occluder folders (COCO objects, super-resolution).", no_args_is_help=True)


@occluders_app.command("coco")
def occluders_coco(
    out: Annotated[Path, typer.Option("--out", help="Output folder: RGBA PNGs + manifest.json.")],
    annotations: Annotated[
        Path | None,
        typer.Option("--annotations", help="COCO instances_<split>.json [default: params, else the embedded demo]."),
    ] = None,
    images: Annotated[Path | None, typer.Option("--images", help="Folder with the split's images (val2017/).")] = None,
    category: Annotated[
        list[str] | None,
        typer.Option("--category", help="Allowed COCO category (repeat) [default: 20 everyday objects]."),
    ] = None,
    min_area: Annotated[float | None, typer.Option(help="Minimum mask area in px [default: 2500].")] = None,
    min_solidity: Annotated[float | None, typer.Option(help="Minimum mask area / convex hull area [0.5].")] = None,
    border_margin: Annotated[int | None, typer.Option(help="Drop objects this close to the border (px) [2].")] = None,
    max_per_category: Annotated[int | None, typer.Option(help="Keep at most N per category, largest first.")] = None,
    include_crowd: Annotated[bool | None, typer.Option(help="Keep iscrowd=1 regions [no].")] = None,
    edge_sigma: Annotated[float | None, typer.Option(help="Gaussian sigma of the soft alpha edge (px) [1.0].")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (1 = in this process).")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an --out made with other settings.")] = False,
    params: Annotated[Path | None, typer.Option("--params", help="params.yaml (section objects).")] = None,
) -> None:
    """Cut COCO objects out as RGBA PNGs with a soft alpha edge (resumable, parallel)."""
    from dataclasses import replace

    from occgen.cli.common import err_console, progress_bar, user_errors, with_overrides
    from occgen.prep.objects.coco import extract_coco
    from occgen.settings import load_objects_config

    with user_errors():
        config = load_objects_config(params)
        annotations = annotations or config.annotations
        images = images or config.images
        assert annotations is not None and images is not None  # filled in by load_objects_config
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
                annotations, images, out, filters=filters, cutout=cutout, workers=workers, overwrite=overwrite,
                on_total=lambda total: progress.update(task, total=total),
                on_progress=lambda count: progress.advance(task, count),
            )  # fmt: skip
        if report.unknown_categories and category:
            err_console.print(f"warning: categories not in {annotations.name}: {', '.join(report.unknown_categories)}")
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
    backend: Annotated[UpscaleBackend, typer.Option(help="lanczos (classical) or rrdb (ESRGAN network).")] = (
        UpscaleBackend.lanczos
    ),
    scale: Annotated[int, typer.Option(help="Upscaling factor (rrdb: 4 only).")] = 4,
    checkpoint: Annotated[Path | None, typer.Option(help="RRDBNet x4 state dict (ESRGAN or BasicSR layout).")] = None,
    rrdb_blocks: Annotated[int, typer.Option(help="RRDB blocks in the checkpoint's network.")] = 23,
    tile: Annotated[int, typer.Option(help="rrdb: tile side in input px (0 = whole image).")] = 128,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    max_side: Annotated[int, typer.Option(help="Skip upscaling when the output would exceed this side (px).")] = 4096,
    overwrite: Annotated[bool, typer.Option(help="Redo files already in --out.")] = False,
    params: Annotated[
        Path | None, typer.Option("--params", help="params.yaml: <section>.upscale replaces these options.")
    ] = None,
    section: Annotated[str, typer.Option(help="With --params: objects or hands.")] = "objects",
) -> None:
    """Super-resolve every RGBA cut-out of --src into --out (the NatOcc paper used GLEAN x4)."""
    from occgen.cli.common import err_console, progress_bar, user_errors
    from occgen.prep.objects.upscale import make_upscaler, upscale_folder
    from occgen.settings import load_upscale_config

    with user_errors():
        if params is not None:  # the DVC stage: settings from params.yaml
            settings = load_upscale_config(params, section)
            backend, scale, checkpoint = UpscaleBackend(settings.backend), settings.scale, settings.checkpoint
            rrdb_blocks, tile, device, max_side = (
                settings.rrdb_blocks, settings.tile_px, settings.device, settings.max_side_px,
            )  # fmt: skip
        upscaler = make_upscaler(
            backend.value, scale=scale, checkpoint=checkpoint, num_blocks=rrdb_blocks, tile_px=tile, device=device
        )
        progress = progress_bar()
        task = progress.add_task(f"{upscaler.name} x{scale} -> {out}", total=None)
        with progress:
            report = upscale_folder(
                src, out, upscaler, max_side_px=max_side, overwrite=overwrite,
                on_total=lambda total: progress.update(task, total=total),
                on_progress=lambda count: progress.advance(task, count),
            )  # fmt: skip
        err_console.print(
            f"{report.written} cut-outs upscaled with {upscaler.name} into {out} "
            f"({report.skipped_existing} already done, {report.too_large} copied unscaled: over {max_side} px) "
            f"in {report.seconds:.1f} s",
            highlight=False,
        )
