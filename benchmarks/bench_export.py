"""Training-shard exports against ``--format folder``, and reading them back against ``StoreDataset``.

    python benchmarks/bench_export.py [--n 96] [--size 512] [--workers 1] [--shard-mb 8] [--repeat 3]
    python benchmarks/bench_export.py --mix [--chunk 16] [--n 96] [--size 512] [--workers 1]

Generates a RandOcc store of the embedded demo (default codec, lossless JPEG-XL), then, in the same run:

1. exports it with each image format (png, jpg) as ``folder``, ``webdataset`` and ``hf``; samples/s and the
   ratio to ``folder`` with the same image format (target >= 0.8);
2. reads every sample back as torch tensors (image uint8 (3, S, S), face mask uint8 (S, S)): from the
   store with ``StoreDataset``, from the tars with a ``webdataset`` pipeline (cv2 decoding), from the
   Parquet with ``datasets.load_dataset(...).with_format("torch")``; samples/s and the ratio to
   ``StoreDataset`` (target >= 0.8). ``load_dataset``'s one-off Arrow conversion is timed apart.

``--mix`` instead exports a mix of two such stores (``folder`` and ``webdataset``, png), whose chunks are of 64
samples (folder) or one part (webdataset): a mix opened per chunk (its index, both stores, their cards) shows.

``--shard-mb`` should leave several shards per worker (shards are the unit of parallel work).
Not a test: timings depend on the machine; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from occgen.core.params import BaseConfig
from occgen.run.export import export_store
from occgen.run.export_hf import HF
from occgen.run.export_shards import export_shards
from occgen.run.export_webdataset import WEBDATASET
from occgen.run.generate import generate
from occgen.settings import RandOccSettings, build_randocc_recipe
from occgen.store import open_store
from occgen.store.mix import MixPart, build_mix
from occgen.train.data import StoreDataset


def timed(function, *args, repeat: int = 1, **kwargs) -> tuple[float, float]:
    """Best wall and best CPU seconds of ``repeat`` runs (the machine is shared: the best run is the least
    disturbed one). An ``out`` keyword is made fresh for every run."""
    walls, cpus = [], []
    for _ in range(repeat):
        if "out" in kwargs:
            shutil.rmtree(kwargs["out"], ignore_errors=True)
        wall, cpu = time.perf_counter(), time.process_time()
        function(*args, **kwargs)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def read_store(store: Path, size: int) -> int:
    dataset = StoreDataset([store], input_size=size)
    count = 0
    for index in range(len(dataset)):
        image, face = dataset[index]
        count += int(image.shape[0] == 3 and face.ndim == 2)
    return count


def _decode(data: bytes, flags: int) -> torch.Tensor:
    array = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


def read_webdataset(out: Path) -> int:
    import webdataset as wds

    urls = [str(p) for p in sorted(out.glob("*.tar"))]
    pipeline = wds.WebDataset(urls, shardshuffle=False, empty_check=False).to_tuple("png", "face.png").map_tuple(
        lambda b: _decode(b, cv2.IMREAD_COLOR), lambda b: _decode(b, cv2.IMREAD_GRAYSCALE)
    )  # fmt: skip
    return sum(int(image.shape[0] == 3 and face.ndim == 2) for image, face in pipeline)


def read_hf(out: Path, cache: Path) -> tuple[int, float]:
    import datasets

    datasets.disable_progress_bars()
    started = time.perf_counter()
    train = datasets.load_dataset(str(out), cache_dir=str(cache))["train"].with_format("torch")
    prepare = time.perf_counter() - started
    count = sum(int(row["image"].shape[0] == 3) for row in train.select_columns(["image", "face"]))
    return count, prepare


def export_mix(args: argparse.Namespace) -> None:
    """Export a mix of two RandOcc stores (half of each; ``--chunk`` samples per store shard): the cost of
    opening the mix (its index and both stores) per chunk or once per worker shows as samples/s."""
    work = Path(tempfile.mkdtemp(prefix="occgen-bench-export-mix-"))
    try:
        stores = []
        for seed in (0, 1):
            recipe = build_randocc_recipe(RandOccSettings(base=BaseConfig(seed=seed, size=args.size)))
            generate(recipe, work / f"s{seed}.zarr", n=args.n, shard_size=args.chunk, workers=args.workers)
            stores.append(MixPart(work / f"s{seed}.zarr", fraction=0.5))
        mix = build_mix(stores, work / "mix.zarr", seed=0)
        n = len(open_store(mix))
        print(f"\nmix of 2 x {args.n} samples ({n} taken), {args.size}px, {args.workers} worker(s)")
        print("| export of the mix | samples/s (wall) | samples/CPU-s |")
        print("|---|---|---|")
        runs = {"folder png": timed(export_store, mix, out=work / "o", workers=args.workers, repeat=args.repeat),
                "webdataset png": timed(export_shards, mix, out=work / "w", format=WEBDATASET, shard_mb=args.shard_mb,
                                        workers=args.workers, repeat=args.repeat)}  # fmt: skip
        for name, (wall, cpu) in runs.items():
            print(f"| {name} | {n / wall:.1f} | {n / cpu:.1f} |")
    finally:
        shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=96)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--shard-mb", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    parser.add_argument("--mix", action="store_true", help="only export a mix of two stores (folder, webdataset)")
    parser.add_argument("--chunk", type=int, default=16, help="with --mix: samples per shard of the mixed stores")
    args = parser.parse_args()
    if args.mix:
        export_mix(args)
        return
    # As in a DataLoader worker (torch sets 1 thread there): with its default intra-op threads on a busy
    # 2-core machine, datasets' torch formatter ran at 8 instead of 35 samples/s (torch.tensor copies).
    torch.set_num_threads(1)
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="occgen-bench-export-"))
    try:
        store = work / "randocc.zarr"
        recipe = build_randocc_recipe(RandOccSettings(base=BaseConfig(seed=0, size=args.size)))
        generate(recipe, store, n=args.n, shard_size=16, workers=args.workers)
        n = args.n
        print(f"\n{args.size}px, {n} samples, {args.workers} worker(s), shards of {args.shard_mb} MB")
        print("| export | image | samples/s (wall) | x folder | samples/CPU-s | x folder |")
        print("|---|---|---|---|---|---|")
        for image_format in ("png", "jpg"):
            runs = {"folder": timed(export_store, store, out=work / "o", image_format=image_format,
                                    workers=args.workers, repeat=args.repeat)}  # fmt: skip
            for shard_format in (WEBDATASET, HF):
                runs[shard_format.name] = timed(
                    export_shards, store, out=work / f"{shard_format.name}-{image_format}", format=shard_format,
                    image_format=image_format, shard_mb=args.shard_mb, workers=args.workers, repeat=args.repeat,
                )  # fmt: skip
            (folder_wall, folder_cpu) = runs["folder"]
            for name, (wall, cpu) in runs.items():
                print(f"| {name} | {image_format} | {n / wall:.1f} | {folder_wall / wall:.2f} | {n / cpu:.1f} "
                      f"| {folder_cpu / cpu:.2f} |")  # fmt: skip
        print("\n| read (torch tensors) | samples/s (wall) | x StoreDataset | samples/CPU-s | x StoreDataset |")
        print("|---|---|---|---|---|")
        _, prepare = read_hf(work / "hf-png", work / "hf-cache")  # builds the Arrow cache once
        reads = {
            "StoreDataset (zarr, jpegxl)": timed(read_store, store, args.size, repeat=args.repeat),
            "webdataset (png tars, cv2 decoding)": timed(read_webdataset, work / "webdataset-png", repeat=args.repeat),
            "datasets with_format('torch') (png parquet)": timed(
                read_hf, work / "hf-png", work / "hf-cache", repeat=args.repeat
            ),
        }
        base_wall, base_cpu = reads["StoreDataset (zarr, jpegxl)"]
        for name, (wall, cpu) in reads.items():
            print(f"| {name} | {n / wall:.1f} | {base_wall / wall:.2f} | {n / cpu:.1f} | {base_cpu / cpu:.2f} |")
        print(f"\nload_dataset's one-off Arrow conversion: {prepare:.2f} s ({n / prepare:.0f} samples/s)")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
