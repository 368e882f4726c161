"""The ``occgen`` command line: a thin typer layer over the library (DVC stages call it too).

User mistakes (:class:`~occgen.errors.OccgenError`) print one line and exit with code 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from occgen import __version__
from occgen.cli_faces import faces_app
from occgen.cli_hands import generate_natocc, hands_app
from occgen.cli_occluders import occluders_app
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
    with_overrides,
)  # fmt: skip
from occgen.errors import OccgenError

app = typer.Typer(help="Synthetic occluded-face data (NatOcc / RandOcc) into zarr shards.", no_args_is_help=True)
generate_app = typer.Typer(help="Generate a dataset into a zarr store.", no_args_is_help=True)
app.add_typer(generate_app, name="generate")
app.add_typer(occluders_app, name="occluders")
app.add_typer(faces_app, name="faces")
app.add_typer(hands_app, name="hands")
err_console = Console(stderr=True)
console = Console()


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an :class:`OccgenError` into a one-line message and exit code 1."""
    try:
        yield
    except OccgenError as error:
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
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


@contextmanager
def lazy_progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar that appears with the first finished item (so that an error raised while checking
    the inputs prints alone), and a callback advancing it by a count."""
    progress = _progress()
    task = progress.add_task(description, total=total)

    def advance(count: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.advance(task, count)

    try:
        yield advance
    finally:
        progress.stop()


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
    n: NOption = None,
    out: Annotated[Path, typer.Option("--out", help="Output zarr store.")] = Path("randocc.zarr"),
    seed: SeedOption = None,
    size: SizeOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    faces: FacesOption = None,
    split: SplitOption = None,
    textures: Annotated[Path | None, typer.Option(help="DTD folder [default: embedded demo].")] = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    image_codec: ImageCodecOption = None,
    stats: StatsOption = None,
    params: ParamsOption = None,
) -> None:
    """RandOcc: random shapes textured from DTD, ~30 % translucent, composited onto faces."""
    from occgen.settings import build_randocc_recipe, load_randocc_settings

    with user_errors():
        settings = load_randocc_settings(params)
        run = with_overrides(settings.run, n=n, workers=workers, shard_size=shard_size, image_codec=image_codec)
        settings = replace(
            settings, base=with_overrides(settings.base, seed=seed, size=size), run=run,
            faces=with_overrides(settings.faces, path=faces, split=split),
            textures=with_overrides(settings.textures, path=textures),
        )  # fmt: skip
        recipe = build_randocc_recipe(settings)
        run_generation(recipe, out, run, scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats)


@generate_app.command("faces")
def generate_faces(
    n: Annotated[int | None, typer.Option("--n", help="Number of samples [default: one per face].")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output zarr store.")] = Path("faces.zarr"),
    size: SizeOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    faces: FacesOption = None,
    split: SplitOption = None,
    shard_size: ShardSizeOption = None,
    overwrite: OverwriteOption = False,
    preview: PreviewOption = True,
    image_codec: ImageCodecOption = None,
    stats: StatsOption = None,
    params: ParamsOption = None,
) -> None:
    """The faces without occlusion (C-WO) as a store; also a fast face source for the other recipes."""
    from occgen.recipes import FacesRecipe
    from occgen.settings import load_randocc_settings, open_face_source

    with user_errors():
        settings = load_randocc_settings(params)
        source = open_face_source(with_overrides(settings.faces, path=faces, split=split))
        run = with_overrides(
            settings.run, n=n or len(source), workers=workers, shard_size=shard_size, image_codec=image_codec
        )
        recipe = FacesRecipe(source, settings.base.seed, size or settings.base.size)
        run_generation(recipe, out, run, scheduler=scheduler, overwrite=overwrite, preview=preview, stats=stats)


def run_generation(
    recipe: Any, out: Path, run: Any, *, scheduler: str | None, overwrite: bool, preview: bool,
    stats: Path | None = None,
) -> None:  # fmt: skip
    """Generate ``recipe`` into ``out`` with a progress bar (shown once the store is ready), then preview."""
    from occgen.generate import generate
    from occgen.preview import write_preview

    with lazy_progress(f"{recipe.name} -> {out}", total=run.n) as advance:
        report = generate(
            recipe, out, n=run.n, shard_size=run.shard_size, workers=run.resolved_workers,
            scheduler=scheduler, overwrite=overwrite, image_codec=run.image_codec, on_progress=advance,
        )  # fmt: skip
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
    if stats is not None:
        from occgen.stats import dataset_stats
        from occgen.store import ShardReader

        stats.parent.mkdir(parents=True, exist_ok=True)
        stats.write_text(json.dumps(dataset_stats(ShardReader(out)), indent=2) + "\n")
        err_console.print(f"stats: {stats}")


generate_app.command("natocc")(generate_natocc)


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
    from occgen.store import open_store

    with user_errors():
        reader = open_store(store, allow_incomplete=True)
        card: dict[str, Any] = reader.card
        done, total = reader.shards_done() if hasattr(reader, "shards_done") else (1, 1)
        disk = _size_on_disk(store)
        if as_json:
            typer.echo(json.dumps({**card, "shards_done": done, "shards_total": total, "bytes": disk}, indent=2))
            return
        table = Table(title=str(store), show_header=False)
        codec = card.get("image_codec", "zstd") if card.get("kind") != "mix" else "(those of its stores)"
        rows = [
            ("recipe", card.get("recipe")), ("samples", card.get("n")),
            ("complete", f"{card.get('complete')} ({done}/{total} shards)"),
            ("size", f"{card.get('size')} px"),
            ("image codec", codec), ("seed", card.get("seed")),
            ("schema", card.get("schema_version")), ("occgen", card.get("occgen_version")),
            ("on disk", f"{_human_bytes(disk)} ({_human_bytes(disk / max(int(card.get('n', 1)), 1))} per sample)"),
        ]  # fmt: skip
        if card.get("kind") == "mix":
            for source in card["sources"]:
                rows.append((f"part {source['path']}", f"{source['count']} of {source['of']} ({source['recipe']})"))
        for name, source in (card.get("sources", {}) if card.get("kind") != "mix" else {}).items():
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
def recode(
    store: Annotated[Path, typer.Argument(help="A complete occgen store.")],
    out: Annotated[Path, typer.Option("--out", help="The new store.")],
    image_codec: Annotated[str, typer.Option(help="Target image codec NAME[:LEVEL] (see `generate --help`).")],
    workers: Annotated[int, typer.Option(help="Local worker processes; 0 = one per core.")] = 0,
    scheduler: Annotated[str | None, typer.Option(help="Address of a dask.distributed scheduler.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output store.")] = False,
) -> None:
    """Copy a store into a new one with another image codec (streaming, parallel, resumable)."""
    from occgen.recode import recode as recode_store

    with user_errors():
        with lazy_progress(f"recode -> {out}") as advance:
            report = recode_store(
                store, out, image_codec=image_codec, workers=workers or os.cpu_count() or 1, scheduler=scheduler,
                overwrite=overwrite, on_progress=advance,
            )  # fmt: skip
        err_console.print(
            f"recoded {report.samples_written} samples into {out} ({_human_bytes(_size_on_disk(out))}, "
            f"was {_human_bytes(_size_on_disk(store))})"
        )


@app.command()
def mix(
    parts: Annotated[
        list[str], typer.Argument(help="STORE[:COUNT|:FRACTION] ... e.g. randocc.zarr:0.5 natocc.zarr:0.5")
    ],
    out: Annotated[Path, typer.Option("--out", help="The mix index to write (a small zarr group).")],
    seed: Annotated[int, typer.Option(help="Seed of the random choice of samples.")] = 0,
    pick: Annotated[str, typer.Option(help="random: a random subset of each store; prefix: its first samples.")] = (
        "random"
    ),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing mix.")] = False,
) -> None:
    """Mix several stores without copying pixels: an index the readers resolve, with its own card."""
    from occgen.mix import build_mix, parse_part

    with user_errors():
        path = build_mix([parse_part(p) for p in parts], out, seed=seed, pick=pick, overwrite=overwrite)
        err_console.print(f"mix of {len(parts)} store(s) written to {path}")


params_app = typer.Typer(help="Check parameter files.", no_args_is_help=True)
app.add_typer(params_app, name="params")


@params_app.command("check")
def params_check(
    params: Annotated[Path, typer.Option("--params", help="params.yaml to check.")] = Path("params.yaml"),
) -> None:
    """Validate every section of a params file (unknown keys, wrong types, bad values)."""
    from occgen.settings import validate_params

    with user_errors():
        sections = validate_params(params)
        err_console.print(f"{params}: {len(sections)} section(s) valid ({', '.join(sections)})")


@app.command()
def export(
    store: Annotated[Path, typer.Argument(help="A complete occgen store or mix.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    format: Annotated[str, typer.Option("--format", help="folder (images/ + masks/ 0/255 + metadata.csv) or "
                                         "mmseg (FaceOccludedDataset: img/*.jpg, mask/*.png 0/1, splits).")] = (
        "folder"
    ),
    image_format: Annotated[str | None, typer.Option(help="png (exact) or jpg [default: png; jpg for mmseg].")] = None,
    jpeg_quality: Annotated[int, typer.Option(help="JPEG quality for jpg images.")] = 95,
    name: Annotated[str | None, typer.Option(help="Dataset folder name for mmseg [default: the store's name].")] = None,
    val_frac: Annotated[float, typer.Option(help="mmseg: share of samples listed in val.txt, not train.txt.")] = 0.0,
    workers: Annotated[int, typer.Option(help="Local worker processes; 0 = one per core.")] = 0,
) -> None:  # fmt: skip
    """Write a store's samples as image files (streaming, parallel, resumable)."""
    from occgen.export import export_store

    with user_errors():
        with lazy_progress(f"export -> {out}") as advance:
            report = export_store(
                store, out, format=format, image_format=image_format, jpeg_quality=jpeg_quality, name=name,
                val_frac=val_frac, workers=workers or os.cpu_count() or 1, on_progress=advance,
            )  # fmt: skip
        err_console.print(f"exported {report.samples} samples to {out} ({format})")


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
