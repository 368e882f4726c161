"""One entry point for the benchmark scripts: ``python -m benchmarks [NAME [ARGS...]]``.

Without a name it lists the scripts (``benchmarks/bench_*.py``, named without ``bench_``). With one, it runs
the script and appends one JSON line per figure to ``benchmarks/results.jsonl`` (``--out FILE`` before the
name to write elsewhere), each with the machine (CPU count and model), the package versions (numpy, zarr,
torch, opencv, imagecodecs), the git commit, the figure's name, value and unit: figures from different days
and checkouts can then be compared line by line.

A script that defines ``run(argv) -> [(name, value, unit), ...]`` gives its own figures. Any other script is
run as ``__main__`` with ``ARGS`` (it prints its tables as before) and gives one figure, ``cpu_s``: the CPU
seconds (user + system, this process and its children) the whole script took.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import runpy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results.jsonl"
#: distribution names per package (the first installed one is reported)
PACKAGES = {
    "numpy": ("numpy",),
    "zarr": ("zarr",),
    "torch": ("torch",),
    "imagecodecs": ("imagecodecs",),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
    "occgen": ("occgen",),
}


def scripts(folder: Path = HERE) -> dict[str, Path]:
    """``{name: path}`` of the benchmark scripts in ``folder`` (``bench_NAME.py``)."""
    return {path.stem.removeprefix("bench_"): path for path in sorted(folder.glob("bench_*.py"))}


def summary(path: Path) -> str:
    """The first line of a script's docstring."""
    for line in path.read_text().splitlines():
        text = line.strip().strip('"').strip()
        if text:
            return text
    return ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package, distributions in PACKAGES.items():
        found[package] = None
        for distribution in distributions:
            try:
                found[package] = importlib.metadata.version(distribution)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return found


def git_commit(folder: Path = HERE) -> dict[str, Any]:
    """The checkout's commit and whether it has uncommitted changes (None outside a git checkout)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def context() -> dict[str, Any]:
    """What every line records besides the figure: when, where, with what."""
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "platform": platform.platform()},
        "versions": versions(),
        **git_commit(),
    }


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_script(path: Path, argv: list[str]) -> list[tuple[str, float, str]]:
    """Run one script: its own ``run(argv)`` figures, else its ``__main__`` and the CPU seconds it took."""
    namespace = runpy.run_path(str(path), run_name="benchmarks_script")
    if callable(namespace.get("run")):
        return [(str(name), float(value), str(unit)) for name, value, unit in namespace["run"](argv)]
    saved, sys.argv = sys.argv, [str(path), *argv]
    started = cpu_seconds()
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved
    return [("cpu_s", cpu_seconds() - started, "s")]


def record(out: Path, benchmark: str, argv: list[str], figures: list[tuple[str, float, str]]) -> list[dict[str, Any]]:
    """Append one JSON line per figure to ``out``; returns the lines written."""
    shared = context()
    lines = [
        {"benchmark": benchmark, "figure": name, "value": value, "unit": unit, "args": argv, **shared}
        for name, value, unit in figures
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as stream:
        for line in lines:
            stream.write(json.dumps(line, sort_keys=True) + "\n")
    return lines


def main(argv: list[str] | None = None, folder: Path = HERE) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON lines file (appended)")
    parser.add_argument("name", nargs="?", help="a script, e.g. work_once (none: list them)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    options = parser.parse_args(argv)
    available = scripts(folder)
    if options.name is None:
        for name, path in available.items():
            print(f"{name:16s} {summary(path)}")
        return 0
    name = options.name.removeprefix("bench_").removesuffix(".py")
    if name not in available:
        print(f"unknown benchmark {options.name!r}; valid: {', '.join(available)}", file=sys.stderr)
        return 2
    figures = run_script(available[name], options.args)
    record(options.out, name, options.args, figures)
    print(f"{len(figures)} figure(s) appended to {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
