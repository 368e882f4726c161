"""`occgen view`: browse, filter and tag a store's samples in the FiftyOne app (occgen/run/export_fiftyone.py).

Needs the ``view`` extra (``pip install 'occgen[view]'``); without it the command is a one-line error naming it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from occgen.cli.common import WORKERS_HELP, err_console, resolve_workers, user_errors


def view_command(
    store: Annotated[Path, typer.Argument(help="A store or mix, or a folder written by export --format fiftyone.")],
    out: Annotated[Path | None, typer.Option("--out", help="Where to export a store first (kept; a re-run reuses it) "
                                             "[default: a temporary folder, deleted when the app closes].")] = None,
    port: Annotated[int, typer.Option(help="Port of the FiftyOne app.")] = 5151,
    remote: Annotated[bool, typer.Option(help="Serve the app for a browser on another machine (no local "
                                         "browser is opened; forward the port).")] = False,
    workers: Annotated[int, typer.Option(help=f"{WORKERS_HELP} (they export the store).")] = 1,
) -> None:  # fmt: skip
    """Open a store or mix in the FiftyOne app: image, face and occluder masks, every metadata field to filter on."""
    from occgen.run.export_fiftyone import fiftyone_dataset, require_fiftyone

    with user_errors():
        fo = require_fiftyone()
        with tempfile.TemporaryDirectory(prefix="occgen-view-") as scratch:
            dataset = fiftyone_dataset(store, out=out or Path(scratch) / "fiftyone", workers=resolve_workers(workers))
            err_console.print(f"view: {len(dataset)} samples in the FiftyOne app on port {port} (Ctrl-C ends it)")
            session = fo.launch_app(dataset, port=port, remote=remote)
            session.wait()
