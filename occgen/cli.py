"""The ``occgen`` command line: a thin typer layer over the library (DVC stages call it too).

User mistakes (:class:`~occgen.errors.OccgenError`) print one line and exit with code 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from occgen import __version__
from occgen.errors import OccgenError

app = typer.Typer(help="Synthetic occluded-face data (NatOcc / RandOcc) into zarr shards.", no_args_is_help=True)
generate_app = typer.Typer(help="Generate a dataset into a zarr store.", no_args_is_help=True)
app.add_typer(generate_app, name="generate")
err_console = Console(stderr=True)
console = Console()


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an :class:`OccgenError` into a one-line message and exit code 1."""
    try:
        yield
    except OccgenError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


class SpeedColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} samples/s" if speed else "- samples/s", style="cyan")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), SpeedColumn(), TimeRemainingColumn(),
        console=err_console, transient=False,
    )  # fmt: skip


def _size_on_disk(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} TB"


ParamsOption = Annotated[
    Path | None,
    typer.Option("--params", help="params.yaml to read (sections base, faces, textures, randocc)."),
]  # fmt: skip


@generate_app.command("randocc")
def generate_randocc(
    n: Annotated[int | None, typer.Option("--n", help="Number of samples [default: 200 or params].")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output zarr store.")] = Path("randocc.zarr"),
    seed: Annotated[int | None, typer.Option(help="Seed [default: 0 or params].")] = None,
    size: Annotated[int | None, typer.Option(help="Image side in px [default: 512 or params].")] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes; 0 = one per core.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of a dask.distributed scheduler.")] = None,
    faces: Annotated[
        Path | None,
        typer.Option(
            help="Face dataset: CelebAMask-HQ root or images/+masks/ folder [default: embedded demo].",
        ),
    ] = None,
    split: Annotated[Path | None, typer.Option(help="Text file of face ids to use.")] = None,
    textures: Annotated[Path | None, typer.Option(help="DTD folder [default: embedded demo].")] = None,
    shard_size: Annotated[int | None, typer.Option(help="Samples per zarr shard [default: 64].")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a store made with other settings.")] = False,
    preview: Annotated[bool, typer.Option(help="Write <out>.preview.png (a contact sheet).")] = True,
    params: ParamsOption = None,
) -> None:
    """RandOcc: random shapes textured from DTD, ~30 % translucent, composited onto faces."""
    from occgen.settings import build_randocc_recipe, load_randocc_settings

    with user_errors():
        settings = load_randocc_settings(params)
        base = replace(settings.base, **{k: v for k, v in {"seed": seed, "size": size}.items() if v is not None})
        run = replace(
            settings.run,
            **{k: v for k, v in {"n": n, "workers": workers, "shard_size": shard_size}.items() if v is not None},
        )
        face_cfg = settings.faces if faces is None else replace(settings.faces, path=faces)
        face_cfg = face_cfg if split is None else replace(face_cfg, split=split)
        tex_cfg = settings.textures if textures is None else replace(settings.textures, path=textures)
        settings = replace(settings, base=base, run=run, faces=face_cfg, textures=tex_cfg)
        recipe = build_randocc_recipe(settings)
        run_generation(recipe, out, run, scheduler=scheduler, overwrite=overwrite, preview=preview)


def run_generation(recipe: Any, out: Path, run: Any, *, scheduler: str | None, overwrite: bool, preview: bool) -> None:
    """Generate ``recipe`` into ``out`` with a progress bar (shown once the store is ready), then preview."""
    from occgen.generate import generate
    from occgen.preview import write_preview

    progress = _progress()
    task = progress.add_task(f"{recipe.name} -> {out}", total=run.n)

    def advance(count: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.advance(task, count)

    try:
        report = generate(
            recipe, out, n=run.n, shard_size=run.shard_size, workers=run.resolved_workers,
            scheduler=scheduler, overwrite=overwrite, on_progress=advance,
        )  # fmt: skip
    finally:
        progress.stop()
    if report.shards_written == 0:
        err_console.print(f"{out} is already complete ({report.n} samples); nothing to do")
    else:
        err_console.print(
            f"wrote {report.samples_written} samples to {out} in {report.seconds:.1f} s "
            f"({report.samples_per_second:.1f} samples/s)"
            + (f", resumed after {report.shards_skipped} shard(s) already done" if report.shards_skipped else "")
        )
    if preview:
        sheet = write_preview(out, out.with_suffix(".preview.png"))
        err_console.print(f"preview: {sheet}")


@generate_app.command("natocc")
def generate_natocc() -> None:
    """NatOcc (hands with colour transfer, harmonised COCO objects): not available yet."""
    with user_errors():
        raise OccgenError(
            "NatOcc generation is not available yet: it needs the hands (11k Hands matting + SOT colour "
            "transfer) and objects (COCO + RainNet) stages, tracked as open issues; use `occgen generate randocc`"
        )


@app.command()
def preview(
    store: Annotated[Path, typer.Argument(help="A zarr store written by occgen.")],
    out: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path("preview.png"),
    k: Annotated[int, typer.Option("-k", "--k", help="Number of samples.")] = 8,
    tile: Annotated[int, typer.Option(help="Tile size in px.")] = 160,
    allow_incomplete: Annotated[bool, typer.Option(help="Preview an interrupted store.")] = False,
) -> None:
    """Contact sheet: image | face (green) and occluder (red) overlay | occluder mask."""
    from occgen.preview import write_preview

    with user_errors():
        path = write_preview(store, out, k=k, tile_px=tile, allow_incomplete=allow_incomplete)
        err_console.print(f"preview: {path}")


@app.command()
def info(
    store: Annotated[Path, typer.Argument(help="A zarr store written by occgen.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole dataset card as JSON.")] = False,
) -> None:
    """Counts, size, seed, params and sources of a store (its dataset card)."""
    from occgen.store import ShardReader

    with user_errors():
        reader = ShardReader(store, allow_incomplete=True)
        card: dict[str, Any] = reader.card
        done, total = reader.shards_done()
        disk = _size_on_disk(store)
        if as_json:
            typer.echo(json.dumps({**card, "shards_done": done, "shards_total": total, "bytes": disk}, indent=2))
            return
        table = Table(title=str(store), show_header=False)
        rows = [
            ("recipe", card.get("recipe")), ("samples", card.get("n")),
            ("complete", f"{card.get('complete')} ({done}/{total} shards)"),
            ("size", f"{card.get('size')} px"), ("seed", card.get("seed")),
            ("schema", card.get("schema_version")), ("occgen", card.get("occgen_version")),
            ("on disk", f"{_human_bytes(disk)} ({_human_bytes(disk / max(int(card.get('n', 1)), 1))} per sample)"),
        ]  # fmt: skip
        for name, source in card.get("sources", {}).items():
            rows.append(
                (
                    f"source {name}",
                    f"{source.get('kind')} x{source.get('count')} {source.get('root', '')} "
                    f"[{source.get('fingerprint')}]",
                )
            )
        for key, value in rows:
            table.add_row(key, str(value))
        console.print(table)


@app.command()
def version() -> None:
    """Print the occgen version."""
    typer.echo(__version__)


from occgen.cli_train import evaluate_command, train_command  # noqa: E402 (issue 6; kept with its registration)

app.command("train")(train_command)
app.command("evaluate")(evaluate_command)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
