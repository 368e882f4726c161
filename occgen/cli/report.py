"""`occgen report`: one self-contained HTML page about a store or a mix (occgen/run/report_html.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from occgen.cli.common import WORKERS_HELP, err_console, resolve_workers, user_errors


def report_command(
    store: Annotated[Path, typer.Argument(help="A zarr store or mix index written by occgen.")],
    out: Annotated[Path, typer.Option("--out", help="HTML page to write.")] = Path("report.html"),
    gallery: Annotated[int, typer.Option(help="Samples in the paged gallery, picked at random with --seed.")] = 240,
    array_samples: Annotated[
        int, typer.Option(help="Samples whose arrays are read for the occluder area, heat map and colour distance.")
    ] = 1024,
    workers: Annotated[int, typer.Option(help=f"{WORKERS_HELP} (they read the sampled arrays).")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the choice of gallery, array and audit samples.")] = 0,
    audit: Annotated[
        bool, typer.Option("--audit/--no-audit", help="The audit section: the measures of `occgen audit`.")
    ] = True,
    audit_samples: Annotated[
        int, typer.Option(help="Samples audited for that section (a prefix of the seeded order of the others).")
    ] = 1024,
) -> None:
    """A dataset page you can look at: card, counts, coverage and area histograms, position heat map, hand/skin
    colour distance, most/least covered samples, the audit measures with the worst samples, and a filterable
    gallery (one HTML file, works offline)."""
    from occgen.run.report_html import write_report
    from occgen.run.report_stats import ReportSettings

    with user_errors():
        settings = ReportSettings(
            gallery=gallery,
            array_samples=array_samples,
            workers=resolve_workers(workers),
            seed=seed,
            audit=audit,
            audit_samples=audit_samples,
        )
        result = write_report(store, out, settings)
        err_console.print(f"report: {result.out} ({result.samples} samples, {result.seconds:.1f} s)")
