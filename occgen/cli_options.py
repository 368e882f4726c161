"""Command-line options shared by several occgen commands (imported by :mod:`occgen.cli` and the
sub-command modules, so that every `generate` command spells them alike)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

ImageCodecOption = Annotated[
    str | None,
    typer.Option(help="Image codec NAME[:LEVEL]: jpegxl (lossless, default), zstd (lossless, plain zarr), "
                 "jpeg:95, jpegxl:90, webp, webp:90. Masks are always lossless."),
]  # fmt: skip
StatsOption = Annotated[Path | None, typer.Option(help="Write generation statistics as JSON (a DVC metrics file).")]
# Options shared by every `generate` command.
NOption = Annotated[int | None, typer.Option("--n", help="Number of samples [default: params, else 200].")]
SeedOption = Annotated[int | None, typer.Option(help="Seed [default: params, else 0].")]
SizeOption = Annotated[int | None, typer.Option(help="Image side in px [default: params, else 512].")]
WorkersOption = Annotated[int | None, typer.Option(help="Local worker processes; 0 = one per core.")]
SchedulerOption = Annotated[str | None, typer.Option(help="Address of a dask.distributed scheduler.")]
FacesOption = Annotated[
    Path | None,
    typer.Option(help="Faces: CelebAMask-HQ root, images/+masks/ folder or faces store [default: embedded demo]."),
]
SplitOption = Annotated[Path | None, typer.Option(help="Text file of face ids to use.")]
ShardSizeOption = Annotated[int | None, typer.Option(help="Samples per zarr shard [default: 64].")]
OverwriteOption = Annotated[bool, typer.Option(help="Replace a store made with other settings.")]
PreviewOption = Annotated[bool, typer.Option(help="Write <out>.preview.png (a contact sheet).")]


def with_overrides(config: Any, **values: Any) -> Any:
    """``config`` with the fields given on the command line (non-None values) replaced."""
    return replace(config, **{k: v for k, v in values.items() if v is not None})
