"""What every command module shares: one-line user errors, progress bars, option definitions (so that
every `generate` command spells them alike) and the generation runner."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from occgen.core.errors import OccgenError

err_console = Console(stderr=True)

console = Console()


class Device(StrEnum):
    """``--device`` in every command that can use a GPU."""

    cpu = "cpu"
    cuda = "cuda"


def command_group(**settings: Any) -> typer.Typer:
    """A typer app (the program or a command group) whose help is printed as written.

    Help texts write defaults and choices in brackets (``[default: params, else 200]``); typer's default
    ``rich_markup_mode="rich"`` reads those as rich markup tags and deletes them. With ``None`` typer prints
    help with click's formatter, so every bracket reaches the reader (``tests/test_cli_help.py`` checks it).
    """
    return typer.Typer(rich_markup_mode=None, **settings)


ImageCodecOption = Annotated[
    str | None,
    typer.Option(help="Image codec NAME[:LEVEL]: jpegxl (lossless), zstd (lossless, plain zarr), jpeg:95, "
                 "jpegxl:90, webp, webp:90. Masks are always lossless [default: params, else jpegxl]."),
]  # fmt: skip
OUT_STORE_HELP = "Output zarr store: a path or a URL (s3://bucket/x.zarr, see docs/cloud.md)."
StatsOption = Annotated[
    Path | None, typer.Option(help="Write generation statistics as JSON (a DVC metrics file) [default: none].")
]
# Options shared by every `generate` command.
NOption = Annotated[int | None, typer.Option("--n", help="Number of samples [default: params, else 200].")]
SeedOption = Annotated[int | None, typer.Option(help="Seed [default: params, else 0].")]
SizeOption = Annotated[int | None, typer.Option(help="Image side in px [default: params, else 512].")]
# --workers means the same in every command: 0 = one process per CPU core, 1 = this process only.
WORKERS_HELP = "Worker processes: 0 = one per CPU core, 1 = this process only"
WorkersOption = Annotated[int | None, typer.Option(help=f"{WORKERS_HELP} [default: params, else 0].")]
SchedulerOption = Annotated[
    str | None, typer.Option(help="Address of a dask.distributed scheduler [default: none, local processes].")
]
FacesOption = Annotated[
    Path | None,
    typer.Option(
        help="Faces: CelebAMask-HQ root, images/+masks/ folder or faces store, a path or URL [default: embedded demo]."
    ),
]
FacesFormatOption = Annotated[
    str | None,
    typer.Option(
        "--faces-format",
        help="Layout of --faces where detection is ambiguous: celebamask-hq, folder, store, lfw-parts, fasseg, lapa, "
        "helenstar, helen-smith, ibugmask, celebamask-challenge (docs/faces.md) [default: params, else auto].",
    ),
]
SplitOption = Annotated[
    Path | None,
    typer.Option(help="Text file of face ids to use, one a line, or an official split of the --faces layout "
                 "(train, val, test...) [default: params, else every face]."),
]  # fmt: skip
ShardSizeOption = Annotated[int | None, typer.Option(help="Samples per zarr shard [default: params, else 64].")]
OverwriteOption = Annotated[bool, typer.Option(help="Replace a store made with other settings.")]
PreviewOption = Annotated[bool, typer.Option(help="Write <out>.preview.png (a contact sheet).")]
LabelsOption = Annotated[
    str | None,
    typer.Option(help="Extra label arrays, comma-separated: parsing, amodal, clean, occluder-class, landmarks, "
                 "instances [default: params, else none] (see docs/labels.md)."),
]  # fmt: skip
RepairOption = Annotated[
    bool, typer.Option(help="Verify an existing store, regenerate exactly its bad shards, verify again.")
]


def resolve_workers(workers: int) -> int:
    """``--workers`` as a process count: 0 is one per CPU core (the meaning in every command)."""
    return workers or os.cpu_count() or 1


def deprecated_alias(old: str, new: str) -> Any:
    """A hidden option spelled ``old`` that still works, printing one line that ``new`` replaces it (give
    its value to the ``new`` option in the command's body)."""

    def warn(value: Any) -> Any:
        if value is not None and value is not False:
            err_console.print(f"warning: {old} is deprecated, use {new}", highlight=False)
        return value

    return typer.Option(old, hidden=True, callback=warn)


# What each embedded demo source is, and the option that brings the real one (see note_demo_sources).
DEMO_SOURCES = {
    "faces": ("faces", "--faces DIR (CelebAMask-HQ, LFW Part Labels, LaPa... root or `occgen faces` output)"),
    "textures": ("textures", "--textures DIR (the DTD root)"),
    "hands": ("hand drawings", "--hands DIR (`occgen hands matte` output)"),
    "objects": ("objects", "--objects DIR (`occgen occluders coco` output)"),
    "faceocc": ("FaceOcc occluders", "--faceocc DIR (the FaceOcc release)"),
}


def demo_note(what: str, option: str) -> None:
    """One line on stderr: this run uses embedded demo data, and the option that brings real data."""
    err_console.print(f"note: using {what}: pass {option}", highlight=False, soft_wrap=True)


def note_demo_sources(sources: dict[str, Any]) -> None:
    """Say in one line which of a recipe's sources (its card's ``sources``) are the embedded demo assets."""
    from occgen.core.files import demo_root

    demo = str(demo_root())
    used = [
        (name, DEMO_SOURCES.get(name, (name, f"--{name} DIR")), source.get("count"))
        for name, source in sources.items()
        if str(source.get("root", "")).startswith(demo)
    ]
    if used:
        what = ", ".join(f"{label} ({count})" if count else label for _, (label, _), count in used)
        options = ", ".join(option for _, (_, option), _ in used)
        demo_note(f"the embedded demo {what}, not fit for training", options)


def with_overrides(config: Any, **values: Any) -> Any:
    """``config`` with the fields given on the command line (non-None values) replaced; paths are made
    absolute (URLs stay URLs), so tasks running elsewhere (a --scheduler) find the same files."""
    from occgen.core.files import is_url

    return replace(
        config,
        **{k: v.absolute() if isinstance(v, Path) and not is_url(v) else v for k, v in values.items() if v is not None},
    )


ParamsOption = Annotated[
    Path | None,
    typer.Option("--params", help="params.yaml to read (sections base, faces, textures, randocc) "
                 "[default: none, built-in settings]."),
]  # fmt: skip


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an :class:`OccgenError` into a one-line message and exit code 1."""
    try:
        yield
    except OccgenError as error:
        from occgen.sources.folder_cache import with_urls

        message = with_urls(str(error))  # a source folder's local copy named by its URL
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


class SpeedColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} samples/s" if speed else "- samples/s", style="cyan")


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), SpeedColumn(), TimeRemainingColumn(),
        console=err_console, transient=False,
    )  # fmt: skip


@contextmanager
def lazy_progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar that appears with the first finished item (so that an error raised while checking
    the inputs prints alone), and a callback advancing it by a count."""
    progress = progress_bar()
    task = progress.add_task(description, total=total)

    def advance(count: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.advance(task, count)

    try:
        yield advance
    finally:
        progress.stop()


def size_on_disk(path: Path | str) -> int:
    from occgen.core.location import parse_location

    return parse_location(path).size_bytes()


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} TB"


def run_generation(
    recipe: Any, out: Path, run: Any, *, scheduler: str | None, overwrite: bool, preview: bool,
    stats: Path | None = None, repair: bool = False,
) -> None:  # fmt: skip
    """Generate ``recipe`` into ``out`` with a progress bar (shown once the store is ready), then preview.
    With ``repair``, an existing store is verified and its bad shards regenerated instead."""
    from occgen.core.location import merged_storage_options, parse_location
    from occgen.run.generate import generate
    from occgen.run.preview import write_preview
    from occgen.store import is_store

    # Storage options: the params key <section>.storage_options (JSON), overridden key by key by
    # --storage-options / OCCGEN_STORAGE_OPTIONS.
    options = merged_storage_options(getattr(run, "storage_options", None))
    location = parse_location(out, options)  # a path or a URL (s3://...); refused here if neither
    shown = out if location.is_local else location.url
    if repair and is_store(location):
        from occgen.run.verify import repair_store

        before, _ = repair_store(
            recipe, location, n=run.n, shard_size=run.shard_size, image_codec=run.image_codec, labels=run.labels,
            workers=run.resolved_workers, scheduler=scheduler,
        )  # fmt: skip
        for problem in before.problems:
            err_console.print(f"{shown}: {problem}")
        shards = ", ".join(map(str, before.bad_shards)) or "none"
        err_console.print(f"{shown}: regenerated shard(s) {shards}; all {before.shards} shards verify")
        return
    with lazy_progress(f"{recipe.name} -> {shown}", total=run.n) as advance:
        report = generate(
            recipe, location, n=run.n, shard_size=run.shard_size, workers=run.resolved_workers,
            scheduler=scheduler, overwrite=overwrite, image_codec=run.image_codec, on_progress=advance,
            labels=run.labels,
        )  # fmt: skip
    if report.shards_written == 0:
        err_console.print(f"{shown} is already complete ({report.n} samples); nothing to do")
    else:
        err_console.print(
            f"wrote {report.samples_written} samples to {shown} in {report.seconds:.1f} s "
            f"({report.samples_per_second:.1f} samples/s)"
            + (f", resumed after {report.shards_skipped} shard(s) already done" if report.shards_skipped else "")
        )
    if preview:
        from occgen.run.clip_preview import write_clip_preview

        target = location.with_name(Path(location.name).with_suffix(".preview.png").name)
        sheet = write_clip_preview(location, target) or write_preview(location, target)  # clips: a strip
        err_console.print(f"preview: {sheet}")
    if stats is not None:
        from occgen.store import open_store
        from occgen.store.stats import dataset_stats

        stats.parent.mkdir(parents=True, exist_ok=True)
        stats.write_text(json.dumps(dataset_stats(open_store(location)), indent=2) + "\n")
        err_console.print(f"stats: {stats}")
