"""CLI for the hands stage (``occgen hands matte``) and ``occgen generate natocc``.

Registered in :mod:`occgen.cli`; the helpers of that module are imported inside the commands so the two
modules do not import each other at load time.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from occgen.cli_options import (
    FacesOption,
    ImageCodecOption,
    NOption,
    OverwriteOption,
    PreviewOption,
    SchedulerOption,
    SeedOption,
    ShardSizeOption,
    SizeOption,
    SplitOption,
    StatsOption,
    WorkersOption,
)  # fmt: skip

hands_app = typer.Typer(help="11k Hands: matting into RGBA hand cut-outs for NatOcc.", no_args_is_help=True)


class Solver(StrEnum):
    cf = "cf"
    lkm = "lkm"


class ColorTransfer(StrEnum):
    sot = "sot"
    none = "none"


def _load_hands_config(params: Path | None):  # -> HandsConfig
    from occgen.config import build_config
    from occgen.hands.stage import HandsConfig
    from occgen.settings import _resolve, read_params

    if params is None:
        return HandsConfig()
    sections, root = read_params(params)
    config = build_config(HandsConfig, sections.get("hands"), "hands")
    return replace(config, path=_resolve(config.path, root), names_file=_resolve(config.names_file, root))


@hands_app.command("matte")
def matte_command(
    src: Annotated[
        Path | None, typer.Option("--src", help="11k Hands root (Hands/ + HandInfo.csv) or a folder.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder (hands/*.png + manifest.json).")] = Path("hands"),
    masks: Annotated[Path | None, typer.Option("--masks", help="Folder of your own <id>.png hand masks.")] = None,
    aspect: Annotated[
        list[str] | None, typer.Option("--aspect", help="Keep this aspectOfHand, e.g. 'dorsal right' (repeatable).")
    ] = None,
    no_accessories: Annotated[
        bool | None, typer.Option("--no-accessories", help="Skip hands with accessories.")
    ] = None,
    no_irregularities: Annotated[
        bool | None, typer.Option("--no-irregularities", help="Skip hands with irregularities.")
    ] = None,
    names: Annotated[Path | None, typer.Option("--list", help="Text file of image names to use, one a line.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many photos (0 = all).")] = None,
    solver: Annotated[Solver | None, typer.Option(help="Alpha solver [default: cf].")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes; 0 = one per core.")] = 0,
    params: Annotated[Path | None, typer.Option("--params", help="params.yaml (section hands).")] = None,
) -> None:
    """Matte hand photos on a plain background into RGBA cut-outs with their finger direction."""
    import os

    from occgen.cli import _progress, err_console, user_errors
    from occgen.hands.stage import run_matting, with_matting

    with user_errors():
        config = _load_hands_config(params)
        overrides = {
            "path": src, "aspects": tuple(aspect) if aspect else None, "no_accessories": no_accessories,
            "no_irregularities": no_irregularities, "names_file": names, "limit": limit,
        }  # fmt: skip
        config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
        if solver is not None:
            config = with_matting(config, solver=solver.value)
        if config.path is None:  # the embedded stand-in for 11k Hands (drawn hands, assets/demo/11k)
            from occgen.sources.common import demo_root

            config = replace(config, path=demo_root() / "11k")
        progress = _progress()
        task = progress.add_task(f"matting -> {out}", total=None)

        def advance(done: int, total: int) -> None:
            if not progress.live.is_started:
                progress.start()
            progress.update(task, completed=done, total=total)

        try:
            report = run_matting(
                config.path, out, config, mask_dir=masks, workers=workers or os.cpu_count() or 1, on_progress=advance
            )
        finally:
            progress.stop()
        err_console.print(
            f"matted {report.written} hand(s) into {out} ({report.seconds_per_hand:.2f} s per hand)"
            + (f", {report.resumed} already done" if report.resumed else "")
            + (f", skipped {len(report.skipped)} (reasons in manifest.json)" if report.skipped else "")
        )
        for skip in report.skipped[:10]:
            err_console.print(f"  skipped {skip['source']}: {skip['reason']}", highlight=False)


def generate_natocc(
    n: NOption = None,
    out: Annotated[Path, typer.Option("--out", help="Output zarr store.")] = Path("natocc.zarr"),
    seed: SeedOption = None,
    size: SizeOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    faces: FacesOption = None,
    split: SplitOption = None,
    hands: Annotated[
        Path | None, typer.Option(help="Matted hands (`occgen hands matte` output) [default: embedded demo hands].")
    ] = None,
    color_transfer: Annotated[
        ColorTransfer | None, typer.Option(help="sot: NatOcc-SOT set; none: NatOcc set [default: sot].")
    ] = None,
    objects_frac: Annotated[
        float | None, typer.Option(help="Share of samples with COCO objects instead of hands [default: 0].")
    ] = None,
    objects: Annotated[
        Path | None, typer.Option(help="COCO object cut-outs (`occgen occluders coco` output) for objects_frac > 0.")
    ] = None,
    harmoniser_checkpoint: Annotated[
        Path | None, typer.Option(help="RainNet net_G checkpoint for the objects [default: lab-stats fallback].")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="cuda: RainNet and the SOT fit on the GPU [default: params, else CPU].")
    ] = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    image_codec: ImageCodecOption = None,
    stats: StatsOption = None,
    params: Annotated[Path | None, typer.Option("--params", help="params.yaml (sections base, faces, natocc).")] = None,
) -> None:
    """NatOcc: matted hands (fingers toward the face, SOT colours) and harmonised COCO objects."""
    from occgen.cli import run_generation, user_errors
    from occgen.cli_options import with_overrides
    from occgen.natocc import build_natocc_recipe, load_natocc_settings

    with user_errors():
        settings = load_natocc_settings(params)
        run = with_overrides(settings.run, n=n, workers=workers, shard_size=shard_size, image_codec=image_codec)
        natocc = with_overrides(
            settings.natocc, hands_dir=hands, color_transfer=color_transfer.value if color_transfer else None,
            objects_frac=objects_frac, objects_dir=objects,
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
        run_generation(recipe, out, run, scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats)
