"""What the serial part of a run costs: the client's and the scheduler's CPU per task and per second (issue 29).

    python -m benchmarks scheduler [--tasks 2000] [--workers 2] [--idle-s 30] [--cluster]

``generate`` sends one task per shard through ``occgen.run.parallel.run_tasks``: the client submits every task,
the scheduler assigns each to a worker, the client reads back one integer per task. This script runs that same
function with tasks that do nothing, so the client's (and, with a LocalCluster, the in-process scheduler's) CPU
is all overhead:

- **idle**: ``--workers`` tasks that each sleep ``--idle-s``: the CPU the client process spends per second
  when tasks are long (heartbeats, the nannies' and the system monitor's polling);
- **per task**: ``--tasks`` no-op tasks: the client's CPU per task once the idle rate over the same wall time is
  taken off, and the tasks per second the client + scheduler sustain on this machine.

``--cluster`` also starts ``dask scheduler`` on 127.0.0.1 with 1-thread workers (as ``bench_memory --cluster``
does) and reports the scheduler process's CPU per task separately from the client's. A task of ``generate``
makes a whole shard (64 samples by default), so the client + scheduler bound is ``shard_size / per-task CPU``
samples/s: docs/cloud.md ("Where scaling stops") turns these figures into a worker count.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from occgen.run.parallel import run_tasks


def nothing(shared: None, item: int) -> int:
    return 1


def nap(seconds: float, item: int) -> int:
    time.sleep(seconds)
    return 1


def own_cpu_s() -> float:
    """CPU seconds of this process (its threads: the client, and a LocalCluster's scheduler and nannies)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory_benchmark() -> Any:
    """bench_memory.py beside this file (its loopback cluster), loaded by path."""
    spec = importlib.util.spec_from_file_location("bench_memory", Path(__file__).with_name("bench_memory.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(function: Any, items: range, shared: Any, workers: int, scheduler: str | None,
            watched: psutil.Process | None) -> tuple[float, float, float]:  # fmt: skip
    """Wall seconds, this process's CPU seconds and the watched process's CPU seconds of one ``run_tasks``."""
    cpu, other = own_cpu_s(), sum(watched.cpu_times()[:2]) if watched else 0.0
    started = time.perf_counter()
    run_tasks(function, items, shared=shared, workers=workers, scheduler=scheduler)
    wall = time.perf_counter() - started
    return wall, own_cpu_s() - cpu, (sum(watched.cpu_times()[:2]) - other) if watched else 0.0


def run(argv: list[str]) -> list[tuple[str, float, str]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scheduler", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--cluster", action="store_true", help="a loopback scheduler process instead of a LocalCluster")
    args = parser.parse_args(argv)
    address, started, memory = None, [], memory_benchmark()
    if args.cluster:  # the same loopback cluster as the memory benchmark's
        address, started = memory.start_cluster(args.workers, dict(os.environ), Path(tempfile.mkdtemp()))
    scheduler = psutil.Process(started[0].pid) if started else None
    try:
        idle_wall, idle_cpu, idle_sched = measure(nap, range(args.workers), args.idle_s, args.workers, address,
                                                  scheduler)  # fmt: skip
        wall, cpu, sched = measure(nothing, range(args.tasks), None, args.workers, address, scheduler)
    finally:
        memory.stop(started)
    idle_rate, sched_idle_rate = idle_cpu / idle_wall, idle_sched / idle_wall
    figures = [
        ("client_idle_cpu_ms_per_s", 1000 * idle_rate, "ms/s"),
        ("client_cpu_ms_per_task", 1000 * max(cpu - idle_rate * wall, 0.0) / args.tasks, "ms"),
        ("client_cpu_ms_per_task_gross", 1000 * cpu / args.tasks, "ms"),
        ("tasks_s", args.tasks / wall, "tasks/s"),
    ]
    if scheduler is not None:
        figures += [
            ("scheduler_idle_cpu_ms_per_s", 1000 * sched_idle_rate, "ms/s"),
            ("scheduler_cpu_ms_per_task", 1000 * max(sched - sched_idle_rate * wall, 0.0) / args.tasks, "ms"),
        ]
    for name, value, unit in figures:
        print(f"{name:30s} {value:9.3f} {unit}")
    return figures


if __name__ == "__main__":
    run(sys.argv[1:])
