"""The ``occgen`` command line: a thin typer layer over the library (DVC stages call it too).

Each command group lives in its own module (:mod:`occgen.cli.generate`, :mod:`occgen.cli.store`, ...);
this one assembles them. User mistakes (:class:`~occgen.core.errors.OccgenError`) print one line and
exit with code 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from occgen import __version__
from occgen.cli import store
from occgen.cli.audit import audit_command
from occgen.cli.common import command_group, err_console, user_errors
from occgen.cli.faces import faces_app
from occgen.cli.generate import generate_app
from occgen.cli.hands import hands_app
from occgen.cli.models import export_model_command, predict_command
from occgen.cli.occluders import occluders_app
from occgen.cli.report import report_command
from occgen.cli.table import table_command
from occgen.cli.train import evaluate_command, train_command
from occgen.cli.view import view_command

# `occgen --help` lists the commands in the order data flows through them.
COMMAND_ORDER = (
    "faces", "hands", "occluders",  # prepare the sources
    "generate",  # make stores
    "info", "preview", "report", "view", "audit", "verify", "mix", "recode", "export",  # look at, check, mix, convert
    "train", "evaluate", "table", "export-model", "predict",  # models
    "cache", "params", "version",  # housekeeping
)  # fmt: skip


class DataFlowOrder(TyperGroup):
    """The top-level group: commands listed in :data:`COMMAND_ORDER` (any other one last)."""

    def list_commands(self, ctx: Any) -> list[str]:  # ctx: typer's vendored click Context (private)
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))


app = command_group(
    cls=DataFlowOrder, help="Synthetic occluded-face data (NatOcc / RandOcc) into zarr shards.", no_args_is_help=True
)


@app.callback()
def global_options(
    ctx: typer.Context,
    storage_options: Annotated[
        str | None,
        typer.Option(help="JSON fsspec options for store URLs (s3://...), e.g. '{\"endpoint_url\": \"http://...\"}' "
                     "[default: $OCCGEN_STORAGE_OPTIONS; s3fs also reads AWS_* and ~/.aws]. See docs/cloud.md."),
    ] = None,
) -> None:  # fmt: skip
    """Options for every command (before the command name: `occgen --storage-options JSON generate ...`)."""
    if storage_options is not None:
        from occgen.core.location import ENV_OPTIONS, use_storage_options

        previous = os.environ.get(ENV_OPTIONS)

        def restore() -> None:  # the options hold for this command only (matters when occgen runs in-process)
            if previous is None:
                os.environ.pop(ENV_OPTIONS, None)
            else:
                os.environ[ENV_OPTIONS] = previous

        ctx.call_on_close(restore)
        with user_errors():
            use_storage_options(storage_options)


app.add_typer(generate_app, name="generate")
app.add_typer(occluders_app, name="occluders")
app.add_typer(faces_app, name="faces")
app.add_typer(hands_app, name="hands")
app.add_typer(store.cache_app, name="cache")
for command in (store.preview, store.info, store.recode, store.mix, store.export, store.verify):
    app.command()(command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("table")(table_command)
app.command("export-model")(export_model_command)
app.command("predict")(predict_command)
app.command("report")(report_command)
app.command("view")(view_command)
app.command("audit")(audit_command)


params_app = command_group(help="Check parameter files.", no_args_is_help=True)
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
def version() -> None:
    """Print the occgen version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
