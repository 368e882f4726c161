"""Every command's `--help` tells the truth: each option shows its default (or says it is required), and every
bracketed text written in a help string (`[default: params, else 200]`) reaches the reader.

The commands are collected from the click command tree (so a new command is checked without editing this
file) and rendered through `CliRunner` on a wide terminal (one line per option). typer vendors its own click
(`typer._click`, private), so commands and options are told apart by what they have, not by their class.
"""

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from occgen.cli.main import app

runner = CliRunner()
WIDE = {"terminal_width": 2000, "max_content_width": 2000}
# Options with nothing to default: typer's own and click's --help.
NO_DEFAULT = {"--help", "--install-completion", "--show-completion"}


def command_paths() -> Iterator[tuple[list[str], Any]]:
    root = typer.main.get_command(app)

    def walk(path: list[str], command: Any) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        if hasattr(command, "list_commands"):
            ctx = command.context_class(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    yield from walk([*path, name], sub)

    yield from walk([], root)


COMMANDS = list(command_paths())


def option_entries(text: str) -> dict[str, str]:
    """The rendered help of each option, keyed by its first name (an entry may run over several lines when
    the names are long)."""
    entries: dict[str, str] = {}
    lines = text.split("Options:", 1)[1].splitlines() if "Options:" in text else []
    current = None
    for line in lines:
        if re.match(r"^\s{1,4}-", line):
            current = line.strip().split()[0].rstrip(",")
            entries[current] = line
        elif line.startswith("  ") and current is not None:
            entries[current] += " " + line.strip()
        elif line.strip() and not line.startswith(" "):
            current = None  # another section
    return entries


def test_the_tree_has_every_command() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"generate randocc", "generate faces", "hands matte", "verify", "train", "evaluate", "report"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "occgen" for p, _ in COMMANDS])
def test_help_shows_every_default_and_every_bracket(path: list[str], command: Any) -> None:
    result = runner.invoke(app, [*path, "--help"], **WIDE)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    entries = option_entries(result.output)
    where = " ".join(["occgen", *path])
    problems = []
    for param in command.params:
        if param.param_type_name != "option" or param.hidden:
            continue
        name = param.opts[0]
        entry = entries.get(name)
        if entry is None:
            problems.append(f"{where} {name}: not in the help")
            continue
        for bracket in re.findall(r"\[[^\]]*\]", param.help or ""):  # written in the source: must be shown
            if " ".join(bracket.split()) not in flat:
                problems.append(f"{where} {name}: {bracket} was eaten")
        if name in NO_DEFAULT or (param.is_flag and not param.secondary_opts):  # a lone switch: off unless given
            continue
        if param.required and "[required]" not in entry:
            problems.append(f"{where} {name}: required but not marked")
        elif not param.required and "[default:" not in entry:
            problems.append(f"{where} {name}: no default shown: {entry.strip()}")
    assert not problems, "\n".join(problems)


def test_commands_are_listed_in_data_flow_order() -> None:
    result = runner.invoke(app, ["--help"], **WIDE)  # type: ignore[arg-type]
    listed = [line.split()[0] for line in result.output.split("Commands:", 1)[1].splitlines() if line.strip()]
    flow = ["faces", "hands", "occluders", "generate", "info", "preview", "report", "view", "audit", "verify", "mix",
            "recode", "export", "train", "evaluate", "table", "export-model", "predict", "cache", "params",
            "version"]  # fmt: skip
    assert listed == flow


def test_workers_means_the_same_in_every_command() -> None:
    from occgen.cli.common import resolve_workers
    from occgen.cli.train import dataloader_workers

    assert resolve_workers(0) == (os.cpu_count() or 1) and resolve_workers(3) == 3
    assert dataloader_workers(1) == 0 and dataloader_workers(0) == (os.cpu_count() or 1)  # in process / per core
    assert dataloader_workers(None) is None and dataloader_workers(3) == 3  # None: params.yaml decides
    with_workers = [
        (path, param) for path, command in COMMANDS for param in command.params if "--workers" in param.opts
    ]
    assert len(with_workers) >= 9  # generate x4, recode, export, hands, occluders coco, report, train
    for path, param in with_workers:
        assert "0 = one per CPU core" in (param.help or ""), f"occgen {' '.join(path)} --workers: {param.help}"
