"""`occgen audit`: per-sample quality measures of a store or a mix, with the worst samples on a sheet
(occgen/run/audit.py; the measures and thresholds: docs/audit.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from occgen.cli.common import WORKERS_HELP, err_console, lazy_progress, resolve_workers, user_errors


def audit_command(
    store: Annotated[Path, typer.Argument(help="A zarr store or mix index written by occgen.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for audit.csv, summary.json and worst.png "
                                      "[default: audit].")] = Path("audit"),
    worst: Annotated[int, typer.Option("--worst", help="Worst samples per measure on the sheet [default: 8].")] = 8,
    threshold: Annotated[
        list[str] | None,
        typer.Option("--threshold", help="NAME=VALUE, repeatable, e.g. hole_frac_max=0.05 "
                     "[default: the documented thresholds, docs/audit.md]."),
    ] = None,
    workers: Annotated[int, typer.Option(help=f"{WORKERS_HELP} [default: 1].")] = 1,
) -> None:  # fmt: skip
    """Measure every sample (occluder holes and pieces, sharpness against the face, colour distance to the face,
    soft-edge width relative to the face, face covered, occluder pixels that look like the clean face) and show the
    worst."""
    from occgen.run.audit import MEASURES, AuditSettings, parse_thresholds, run_audit
    from occgen.store import open_store

    with user_errors():
        settings = AuditSettings(worst=worst, workers=resolve_workers(workers),
                                 thresholds=parse_thresholds(threshold or []))  # fmt: skip
        with lazy_progress(f"audit {store}", total=len(open_store(store))) as advance:
            result = run_audit(store, out, settings, on_progress=advance)
        for measure in MEASURES:
            entry = result.summary["measures"][measure.name]
            limit = f"{measure.bad} {entry['threshold']['value']:g}"
            if entry["measured"]:
                line = f"{measure.name:<16} {entry['beyond']:>6} of {entry['measured']} measured {limit}"
            else:
                line = f"{measure.name:<16}      - {entry.get('unavailable') or 'no values: needs ' + measure.needs}"
            err_console.print(line, highlight=False)
        err_console.print(f"audit: {result.out} ({result.samples} samples, {result.seconds:.1f} s)", highlight=False)
