"""Stores on S3 against stores on local disk, reported as ratios (issue 14).

    python benchmarks/bench_s3.py [--n 128] [--size 256] [--shard-size 32] [--workers 2] [--repeats 2]

Starts moto's S3 server in its own process on 127.0.0.1 (so that it does not share the benchmark's GIL;
a real S3 or MinIO has its own machine too), then, on the embedded demo assets:
- write: samples/s of ``generate`` RandOcc to local disk and to ``s3://…`` in the same run (same recipe,
  workers, shard size; best of ``--repeats``), ratio S3 / disk;
- read: samples/s of one pass over ``StoreDataset`` (every sample decoded, as a training epoch reads it)
  from each store, ratio S3 / disk.
Targets: both ratios >= 0.7. Not a test: moto keeps objects in memory and shares the 2 cores with the
writers, so the figures are indicative; compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from occgen.core.location import parse_location
from occgen.run.generate import generate
from occgen.settings import build_randocc_recipe, load_randocc_settings
from occgen.train.data import StoreDataset


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)  # noqa: S310 - local server started above
            return process, endpoint
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("moto server did not start")


def best_write(recipe, target, args, scheduler: str | None) -> float:
    """Best samples/s of ``--repeats`` fresh runs into ``target`` (the last store is kept for reading)."""
    best = 0.0
    for _ in range(args.repeats):
        if target.exists():
            target.remove()
        report = generate(recipe, target, n=args.n, shard_size=args.shard_size, workers=args.workers,
                          scheduler=scheduler)  # fmt: skip
        best = max(best, report.samples_per_second)
    return best


def read_rate(target, size: int) -> float:
    dataset = StoreDataset([target], input_size=max(32, size // 32 * 32))
    started = time.perf_counter()
    for index in range(len(dataset)):
        dataset[index]
    return len(dataset) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--shard-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    settings = load_randocc_settings(None)
    recipe = build_randocc_recipe(replace(settings, base=replace(settings.base, size=args.size)))
    process, endpoint = start_moto()
    try:
        options = {"endpoint_url": endpoint, "key": "bench", "secret": "bench"}
        parse_location("s3://bench", options).filesystem().mkdir("bench")
        remote = parse_location("s3://bench/randocc.zarr", options)
        with tempfile.TemporaryDirectory() as workdir, ExitStack() as stack:
            scheduler = None
            if args.workers > 1:  # one cluster for both targets: its start-up is not part of either figure
                from distributed import LocalCluster

                cluster = stack.enter_context(LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                                           dashboard_address=None, silence_logs=40))  # fmt: skip
                scheduler = cluster.scheduler_address
            local = parse_location(Path(workdir) / "randocc.zarr")
            targets = {"disk": local, "s3": remote}
            write = {name: best_write(recipe, target, args, scheduler) for name, target in targets.items()}
            read = {"disk": read_rate(local, args.size), "s3": read_rate(remote, args.size)}
    finally:
        process.kill()
        process.wait()
    result = {
        "n": args.n, "size": args.size, "shard_size": args.shard_size, "workers": args.workers,
        "write_samples_per_s": {k: round(v, 1) for k, v in write.items()},
        "read_samples_per_s": {k: round(v, 1) for k, v in read.items()},
        "write_ratio_s3_over_disk": round(write["s3"] / write["disk"], 2),
        "read_ratio_s3_over_disk": round(read["s3"] / read["disk"], 2),
    }  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
