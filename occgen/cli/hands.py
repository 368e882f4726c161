"""CLI for the hands stage (``occgen hands matte``) and ``occgen generate natocc``.

Registered in :mod:`occgen.cli.main`; the helpers of that module are imported inside the commands so the two
modules do not import each other at load time.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from occgen.cli.common import WORKERS_HELP, command_group, deprecated_alias, resolve_workers

hands_app = command_group(help="11k Hands: matting into RGBA hand cut-outs for NatOcc.", no_args_is_help=True)


class Solver(StrEnum):
    cf = "cf"
    lkm = "lkm"


@hands_app.command("matte")
def matte_command(
    src: Annotated[
        Path | None,
        typer.Option(
            "--src",
            help="11k Hands root (Hands/ + HandInfo.csv) or a folder [default: params, else the embedded demo hands].",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder (hands/*.png + manifest.json).")] = Path("hands"),
    masks: Annotated[
        Path | None,
        typer.Option(
            "--masks", help="Folder of your own <id>.png hand masks [default: none, masks from the plain background]."
        ),
    ] = None,
    aspect: Annotated[
        list[str] | None,
        typer.Option(
            "--aspect", help="Keep this aspectOfHand, e.g. 'dorsal right' (repeatable) [default: params, else all]."
        ),
    ] = None,
    no_accessories: Annotated[
        bool | None, typer.Option("--no-accessories", help="Skip hands with accessories.")
    ] = None,
    no_irregularities: Annotated[
        bool | None, typer.Option("--no-irregularities", help="Skip hands with irregularities.")
    ] = None,
    split: Annotated[
        Path | None, typer.Option(help="Text file of image names to use, one a line [default: params, else all].")
    ] = None,
    names: Annotated[Path | None, deprecated_alias("--list", "--split")] = None,
    limit: Annotated[
        int | None, typer.Option(help="At most this many photos (0 = all) [default: params, else 0].")
    ] = None,
    solver: Annotated[Solver | None, typer.Option(help="Alpha solver [default: params, else cf].")] = None,
    workers: Annotated[int, typer.Option(help=f"{WORKERS_HELP}.")] = 0,
    params: Annotated[
        Path | None, typer.Option("--params", help="params.yaml (section hands) [default: none, built-in settings].")
    ] = None,
) -> None:
    """Matte hand photos on a plain background into RGBA cut-outs with their finger direction."""
    from occgen.cli.common import demo_note, err_console, progress_bar, user_errors, with_overrides
    from occgen.prep.hands.stage import run_matting, with_matting
    from occgen.settings import load_hands_config

    with user_errors():
        config = load_hands_config(params)
        overrides = {
            "path": src, "aspects": tuple(aspect) if aspect else None, "no_accessories": no_accessories,
            "no_irregularities": no_irregularities, "names_file": split or names, "limit": limit,
        }  # fmt: skip
        config = with_overrides(config, **overrides)
        if solver is not None:
            config = with_matting(config, solver=solver.value)
        from occgen.core.files import demo_root

        # No path: the embedded stand-in for 11k Hands (drawn hands, assets/demo/11k).
        hands_root = config.path if config.path is not None else demo_root() / "11k"
        if config.path is None:
            demo_note("the embedded demo hand photos (drawings, not fit for training)", "--src DIR (11k Hands root)")
        config = replace(config, path=hands_root)
        progress = progress_bar()
        task = progress.add_task(f"matting -> {out}", total=None)

        def advance(done: int, total: int) -> None:
            if not progress.live.is_started:
                progress.start()
            progress.update(task, completed=done, total=total)

        try:
            report = run_matting(
                hands_root,
                out,
                config,
                mask_dir=masks,
                workers=resolve_workers(workers),
                on_progress=advance,
            )
        finally:
            progress.stop()
        err_console.print(
            f"matted {report.written} hand(s) into {out} ({report.seconds_per_hand:.2f} s per hand)"
            + (f", {report.resumed} already done" if report.resumed else "")
            + (f", skipped {len(report.skipped)} (reasons in manifest.json)" if report.skipped else "")
        )
        err_console.print(
            f"shipped {report.shipped} cut-out(s); left out {len(report.rejected)} that failed the quality checks"
            + (f" (in {out / 'rejected'}, measures in {out / 'quality.csv'})" if report.rejected else "")
        )
        for skip in report.skipped[:10]:
            err_console.print(f"  skipped {skip['source']}: {skip['reason']}", highlight=False)
        for reject in report.rejected[:10]:
            err_console.print(f"  left out {reject['source']}: {'; '.join(reject['reasons'])}", highlight=False)
