"""``occgen occluders ...``: build occluder folders (COCO object extraction, super-resolution).

A thin typer layer over :mod:`occgen.objects`; registered in :mod:`occgen.cli` as the ``occluders``
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
    annotations: Annotated[
        Path, typer.Option("--annotations", help="COCO instances_<split>.json (pycocotools format).")
    ],
    images: Annotated[Path, typer.Option("--images", help="Folder with the split's images (e.g. val2017/).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: RGBA PNGs + manifest.json.")],
    category: Annotated[
        list[str] | None,
        typer.Option("--category", help="Allowed COCO category (repeat) [default: 20 everyday objects]."),
    ] = None,
    min_area: Annotated[float, typer.Option(help="Minimum mask area in px.")] = 2500.0,
    min_solidity: Annotated[float, typer.Option(help="Minimum mask area / convex hull area.")] = 0.5,
    border_margin: Annotated[int, typer.Option(help="Drop objects whose box is this close to the border (px).")] = 2,
    max_per_category: Annotated[int | None, typer.Option(help="Keep at most N per category, largest first.")] = None,
    include_crowd: Annotated[bool, typer.Option(help="Keep iscrowd=1 regions.")] = False,
    edge_sigma: Annotated[float, typer.Option(help="Gaussian sigma of the soft alpha edge (px).")] = 1.0,
    workers: Annotated[int, typer.Option(help="Worker processes (1 = in this process).")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an --out made with other settings.")] = False,
) -> None:
    """Cut COCO objects out as RGBA PNGs with a soft alpha edge (resumable, parallel)."""
    from occgen.cli import _progress, err_console, user_errors
    from occgen.objects.coco import DEFAULT_CATEGORIES, CocoFilter, CutOutConfig, extract_coco

    with user_errors():
        filters = CocoFilter(
            categories=tuple(category) if category else DEFAULT_CATEGORIES,
            include_crowd=include_crowd,
            min_area_px=min_area,
            border_margin_px=border_margin,
            min_solidity=min_solidity,
            max_per_category=max_per_category,
        )
        cutout = CutOutConfig(edge_sigma_px=edge_sigma)
        progress = _progress()
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
) -> None:
    """Super-resolve every RGBA cut-out of --src into --out (the NatOcc paper used GLEAN x4)."""
    from occgen.cli import _progress, err_console, user_errors
    from occgen.objects.upscale import make_upscaler, upscale_folder

    with user_errors():
        upscaler = make_upscaler(
            backend.value, scale=scale, checkpoint=checkpoint, num_blocks=rrdb_blocks, tile_px=tile, device=device
        )
        progress = _progress()
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
