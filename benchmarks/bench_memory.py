"""Memory over time and throughput of a whole `occgen generate` run: the RSS slope of every process.

    python -m benchmarks memory [--recipe natocc] [--minutes 5] [--warmup-s 100] [--workers 2]
                                [--cluster 0] [--interval-s 2] [--env KEY=VALUE ...] [--trace FILE]

Runs ``occgen generate RECIPE`` (the embedded demo, 512², default codec) niced, as its own process group,
for ``--minutes`` (then stops it: ``--n`` must not finish before), and every ``--interval-s`` records the RSS of
every process of the run (psutil: the command and all its children; with ``--cluster N`` also the scheduler
and the N workers this script starts). After ``--warmup-s`` it fits a straight line to the summed RSS (MB per
minute) and to each worker's, and counts the samples written (the store's ``shard_complete`` flags).

``--cluster N`` (N >= 1) starts ``dask scheduler`` on 127.0.0.1 and N ``dask worker --nthreads 1 --no-nanny``
processes, and runs the command with ``--scheduler tcp://127.0.0.1:PORT``: the simulated cluster of issue 29
(on a 2-core machine 4 and 8 workers measure overhead, not speed-up). ``--env`` sets variables in every
process of the run (e.g. ``MALLOC_ARENA_MAX=2`` to compare allocator settings back to back).
``--trace FILE`` writes the timeline (seconds, MB per process) as JSON lines.

Figures: ``rss_slope_mb_min`` (summed, after warm-up), ``worker_rss_slope_mb_min`` (mean over workers),
``rss_start_mb`` / ``rss_end_mb`` (summed, after warm-up / at the end), ``worker_rss_mb`` (mean worker RSS
at the end), ``samples_s`` (after warm-up), ``client_cpu_ms_per_sample`` / ``scheduler_cpu_ms_per_sample`` /
``worker_cpu_ms_per_sample`` (CPU time per sample written after warm-up, by process role, workers summed; a
LocalCluster's scheduler runs in the client). Not a test: compare runs made back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tree(root: psutil.Process) -> list[psutil.Process]:
    """``root`` and all its children, those still alive."""
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def role(process: psutil.Process) -> str:
    """client, scheduler, worker or other, from the command line."""
    try:
        line = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "other"
    if "occgen" in line and "generate" in line:
        return "client"
    if "scheduler" in line:
        return "scheduler"
    if "worker" in line or "spawn_main" in line or "forkserver" in line:
        return "worker"
    return "other"


def rss_by_process(roots: list[psutil.Process]) -> dict[int, tuple[str, float]]:
    """``{pid: (role, RSS MB)}`` of every process under ``roots`` (a LocalCluster's nannies live in the client;
    its worker processes are the client's children, started by multiprocessing spawn)."""
    found: dict[int, tuple[str, float]] = {}
    for root in roots:
        for process in tree(root):
            try:
                rss = process.memory_info().rss / MB
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            found[process.pid] = (role(process), rss)
    return found


def cpu_by_process(roots: list[psutil.Process]) -> dict[int, tuple[str, float]]:
    """``{pid: (role, CPU seconds so far)}`` (user + system, the process's own threads) under ``roots``."""
    found: dict[int, tuple[str, float]] = {}
    for root in roots:
        for process in tree(root):
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            found[process.pid] = (role(process), times.user + times.system)
    return found


def cpu_ms_per_sample(first: dict[int, tuple[str, float]], last: dict[int, tuple[str, float]],
                      samples: int) -> dict[str, float]:
    """CPU ms per sample written between two readings, summed by role (processes present in both)."""
    spent: dict[str, float] = {}
    for pid, (kind, seconds) in last.items():
        if pid in first:
            spent[kind] = spent.get(kind, 0.0) + seconds - first[pid][1]
    return {kind: 1000.0 * seconds / samples if samples else float("nan") for kind, seconds in spent.items()}


def samples_done(store: Path, shard_size: int) -> int:
    """Samples in the store's complete shards: one chunk file of ``shard_complete`` per shard written (chunks
    of one flag; reading the array through zarr while the run writes it costs a read per shard)."""
    folder = store / "shard_complete"
    if not folder.is_dir():
        return 0
    return shard_size * sum(1 for path in folder.rglob("*") if path.is_file() and path.name != "zarr.json")


def slope_per_minute(times_s: list[float], values: list[float]) -> float:
    if len(times_s) < 3:
        return float("nan")
    return float(np.polyfit(np.asarray(times_s) / 60.0, np.asarray(values), 1)[0])


def start_cluster(workers: int, env: dict[str, str], work: Path) -> tuple[str, list[subprocess.Popen]]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    logs = (work / "cluster.log").open("w")
    started = [subprocess.Popen(["nice", "-n", "5", *dask, "--host", "127.0.0.1", "--port", str(port),
                                 "--dashboard-address", ":0"], env=env, stdout=logs, stderr=logs)]  # fmt: skip
    time.sleep(3)
    for _ in range(workers):
        started.append(subprocess.Popen(
            ["nice", "-n", "5", sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
             "--no-nanny", "--no-dashboard", "--memory-limit", "0"], env=env, stdout=logs, stderr=logs,
        ))  # fmt: skip
    time.sleep(5)
    return address, started


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            try:  # the generate command leads its own process group (its workers with it)
                if process.pid == os.getpgid(process.pid):
                    os.killpg(process.pid, signal.SIGTERM)
                else:
                    process.terminate()
            except ProcessLookupError:
                continue
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def run(argv: list[str]) -> list[tuple[str, float, str]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="natocc", choices=("natocc", "randocc"))
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--warmup-s", type=float, default=100.0)
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (without --cluster)")
    parser.add_argument("--cluster", type=int, default=0, help="start a loopback scheduler and N 1-thread workers")
    parser.add_argument("--interval-s", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--n", type=int, default=49204, help="samples asked for (the run is stopped before)")
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for every process of the run")
    parser.add_argument("--trace", type=Path, help="write the timeline here (JSON lines)")
    args = parser.parse_args(argv)
    env = {**os.environ, **dict(item.split("=", 1) for item in args.env)}
    work = Path(tempfile.mkdtemp(prefix="occgen-bench-memory-"))
    store = work / f"{args.recipe}.zarr"
    cluster: list[subprocess.Popen] = []
    command = ["nice", "-n", "5", sys.executable, "-m", "occgen", "generate", args.recipe, "--out", str(store),
               "--n", str(args.n), "--size", str(args.size), "--shard-size", str(args.shard_size),
               "--no-preview"]  # fmt: skip
    if args.cluster:
        address, cluster = start_cluster(args.cluster, env, work)
        command += ["--scheduler", address]
    else:
        command += ["--workers", str(args.workers)]
    log = (work / "generate.log").open("w")
    generate = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    roots = [psutil.Process(p.pid) for p in (generate, *cluster)]
    timeline: list[tuple[float, dict[int, tuple[str, float]], int]] = []
    cpu_first: dict[int, tuple[str, float]] | None = None  # CPU seconds at the first reading after the warm-up
    cpu_last: dict[int, tuple[str, float]] = {}
    started = time.perf_counter()
    try:
        while (elapsed := time.perf_counter() - started) < args.minutes * 60:
            if generate.poll() is not None:
                raise RuntimeError(f"occgen generate stopped early: {(work / 'generate.log').read_text()[-2000:]}")
            timeline.append((elapsed, rss_by_process(roots), samples_done(store, args.shard_size)))
            if elapsed >= args.warmup_s:
                cpu_last = cpu_by_process(roots)
                cpu_first = cpu_first if cpu_first is not None else cpu_last
            time.sleep(args.interval_s)
    finally:
        stop([generate])
        stop(cluster)
    if args.trace:
        with args.trace.open("w") as stream:
            for seconds, processes, done in timeline:
                mb = {f"{kind}:{pid}": round(value, 1) for pid, (kind, value) in processes.items()}
                stream.write(json.dumps({"s": round(seconds, 1), "samples": done, "mb": mb}) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    steady = [(t, p, d) for t, p, d in timeline if t >= args.warmup_s]
    if len(steady) < 3:
        raise RuntimeError("too few samples after the warm-up: raise --minutes or lower --warmup-s")
    times = [t for t, _, _ in steady]
    totals = [sum(mb for _, mb in p.values()) for _, p, _ in steady]
    worker_pids = sorted({pid for _, p, _ in steady for pid, (kind, _) in p.items() if kind == "worker"})
    worker_slopes, worker_end = [], []
    for pid in worker_pids:
        points = [(t, p[pid][1]) for t, p, _ in steady if pid in p]
        if len(points) >= 3:
            worker_slopes.append(slope_per_minute([t for t, _ in points], [mb for _, mb in points]))
            worker_end.append(points[-1][1])
    rate = (steady[-1][2] - steady[0][2]) / (steady[-1][0] - steady[0][0])
    figures = [
        ("rss_slope_mb_min", slope_per_minute(times, totals), "MB/min"),
        ("worker_rss_slope_mb_min", float(np.mean(worker_slopes)) if worker_slopes else float("nan"), "MB/min"),
        ("rss_start_mb", totals[0], "MB"),
        ("rss_end_mb", totals[-1], "MB"),
        ("worker_rss_mb", float(np.mean(worker_end)) if worker_end else float("nan"), "MB"),
        ("workers", float(len(worker_end)), "processes"),
        ("samples_s", rate, "samples/s"),
    ]
    # Where the CPU goes per sample, by process role: the client (with a LocalCluster, the scheduler runs in it),
    # the scheduler (--cluster), the workers. The serial part (client + scheduler) bounds the worker count.
    per_sample = cpu_ms_per_sample(cpu_first or {}, cpu_last, steady[-1][2] - steady[0][2])
    figures += [(f"{kind}_cpu_ms_per_sample", per_sample.get(kind, float("nan")), "ms")
                for kind in ("client", "scheduler", "worker")]  # fmt: skip
    for name, value, unit in figures:
        print(f"{name:24s} {value:10.2f} {unit}")
    return figures


if __name__ == "__main__":
    run(sys.argv[1:])
