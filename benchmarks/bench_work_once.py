"""Work done once (issue 29): CPU ms per sample of NatOcc and RandOcc, the compositor, texture loads and
verify MB/s, in one process. Run it on two checkouts and compare the figures (ratios, not absolutes).

    python -m benchmarks work_once [--n 8] [--sizes 256 512] [--faces 8] [--repeats 3]

- ``natocc_ms_<size>`` / ``natocc_parsing_ms_<size>``: CPU ms per sample of one in-process shard task
  (``make_shard_arrays``; the paired default, SOT, demo hands and objects) on a synthetic CelebAMask-HQ
  folder (1024² JPEG faces, 512² part PNGs, ``--faces`` of them), without and with the ``parsing`` label;
- ``randocc_ms_<size>``: the same for RandOcc (demo DTD textures) on the same faces;
- ``composite_ms_<size>``: one ``apply_composite`` of a random 0.3-0.6 x size occluder;
- ``texture_load_ms``: ``DTDTextures.load`` per call over the demo textures, each loaded ``--repeats`` times;
- ``verify_mb_s`` (wall) and ``verify_cpu_ms_per_mb``: ``verify_one`` on a RandOcc store (``--verify-shards``
  shards of 16 at 256², zstd);
- ``export_folder_ms``: CPU ms per sample of ``export_store(format="folder", image_format="jpg")`` of it.

CPU time is user + system of this process and its children (``resource.getrusage``): the machine may be
shared, so wall time is noisy. Caches are warmed on other indices first (a worker's steady state) and the
per-process face memo, where there is one, is emptied before timing (so a face is only found decoded when
the same task used it already). Each figure is the median of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.compose import CompositeConfig, apply_composite, sample_composite
from occgen.core.params import BaseConfig
from occgen.run.export import export_store
from occgen.run.generate import make_shard_arrays
from occgen.settings import NatOccSettings, RandOccSettings, build_natocc_recipe, build_randocc_recipe
from occgen.sources.faces import FacesConfig
from occgen.sources.occluder import Occluder
from occgen.sources.textures import open_textures
from occgen.store.integrity import verify_one
from occgen.store.schema import create_store, write_shard

Figure = tuple[str, float, str]  # name, value, unit


def cpu_seconds() -> float:
    """User + system seconds of this process and its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_cpu_ms(work: Callable[[], Any], repeats: int, per: int = 1) -> float:
    """Median over ``repeats`` runs of ``work``'s CPU milliseconds, divided by ``per``."""
    times = []
    for _ in range(repeats):
        started = cpu_seconds()
        work()
        times.append((cpu_seconds() - started) * 1000.0 / per)
    return statistics.median(times)


def write_celebamask(root: Path, count: int) -> Path:
    """A CelebAMask-HQ layout of ``count`` synthetic faces: 1024² JPEGs and 512² part PNGs (0/255)."""
    rng = np.random.default_rng(0)
    (root / "CelebA-HQ-img").mkdir(parents=True)
    (root / "CelebAMask-HQ-mask-anno" / "0").mkdir(parents=True)
    yy, xx = np.mgrid[0:1024, 0:1024].astype(np.float32) / 1024.0
    parts = {
        "skin": ((256, 270), (150, 190)),
        "l_eye": ((210, 240), (20, 10)),
        "r_eye": ((300, 240), (20, 10)),
        "l_brow": ((210, 215), (28, 6)),
        "r_brow": ((300, 215), (28, 6)),
        "nose": ((256, 290), (16, 30)),
        "u_lip": ((256, 345), (36, 8)),
        "l_lip": ((256, 360), (36, 8)),
        "hair": ((256, 120), (190, 90)),
        "neck": ((256, 470), (70, 60)),
        "cloth": ((256, 505), (200, 30)),
        "l_ear": ((100, 280), (18, 40)),
    }
    for face in range(count):
        phase = rng.uniform(0, 6.28, 3)
        image = np.stack([127 + 100 * np.sin(6 * xx + 9 * yy + p) for p in phase], axis=2)
        image += rng.normal(0, 8, image.shape).astype(np.float32)
        cv2.imwrite(
            str(root / "CelebA-HQ-img" / f"{face}.jpg"),
            np.clip(image, 0, 255).astype(np.uint8),
            [cv2.IMWRITE_JPEG_QUALITY, 95],
        )
        for part, (centre, axes) in parts.items():
            mask = np.zeros((512, 512), np.uint8)
            cv2.ellipse(mask, centre, axes, float(rng.uniform(-10, 10)), 0, 360, 255, -1)
            cv2.imwrite(str(root / "CelebAMask-HQ-mask-anno" / "0" / f"{face:05d}_{part}.png"), mask)
    return root


def reset_face_memo(recipe: Any) -> None:
    """Empty the recipe's per-process face memo, if this checkout has one."""
    memo = getattr(recipe, "_faces_memo", None)
    if memo is not None:
        recipe._faces_memo = type(memo)(recipe.faces)


def recipe_figures(name: str, recipe: Any, n: int, repeats: int, labels: tuple[str, ...]) -> float:
    make_shard_arrays(recipe, 10 * n, 11 * n, labels)  # warm the cut-out and texture caches

    def task() -> None:
        reset_face_memo(recipe)
        make_shard_arrays(recipe, 0, n, labels)

    return median_cpu_ms(task, repeats, per=n)


def composite_ms(size: int, repeats: int) -> float:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    face_mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(face_mask, (size // 2, size // 2), (size // 3, size * 2 // 5), 0, 0, 360, 1, -1)
    cases = []
    for _ in range(32):
        side = int(size * rng.uniform(0.3, 0.6))
        alpha = np.zeros((side, side), np.float32)
        cv2.ellipse(alpha, (side // 2, side // 2), (side // 2 - 2, side // 3), 0, 0, 360, 1.0, -1)
        occluder = Occluder("bench", "test", rng.integers(0, 256, (side, side, 3), dtype=np.uint8), alpha)
        params = sample_composite(rng=rng, config=CompositeConfig(), face_mask=face_mask, occluder_shape=alpha.shape)
        cases.append((occluder, params))
    return median_cpu_ms(lambda: [apply_composite(image, face_mask, o, p) for o, p in cases], repeats, per=len(cases))


def store_figures(root: Path, shards: int, repeats: int) -> list[Figure]:
    """``verify_one`` and a folder export (1 worker) of a RandOcc store of ``shards`` shards of 16 at 256²."""
    recipe = build_randocc_recipe(RandOccSettings(base=BaseConfig(seed=0, size=256)))
    shard = 16
    path = root / "verify.zarr"
    group = create_store(path, n=shards * shard, size=256, shard_size=shard, card={"recipe": "randocc"},
                         image_codec="zstd")  # fmt: skip
    for number in range(shards):
        write_shard(group, number, *make_shard_arrays(recipe, number * shard, (number + 1) * shard))
    group.attrs["occgen"] = {**dict(group.attrs["occgen"]), "complete": True}
    walls, cpus, megabytes = [], [], 0.0
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), cpu_seconds()
        check = verify_one(path)
        walls.append(time.perf_counter() - started)
        cpus.append(cpu_seconds() - started_cpu)
        assert check.ok, check.problems
        megabytes = check.bytes_read / 1e6
    exports = iter(range(repeats))
    export_ms = median_cpu_ms(
        lambda: export_store(path, root / f"export{next(exports)}", format="folder", image_format="jpg"),
        repeats, per=shards * shard,
    )  # fmt: skip
    return [
        ("verify_mb_s", megabytes / statistics.median(walls), "MB/s"),
        ("verify_cpu_ms_per_mb", 1000.0 * statistics.median(cpus) / megabytes, "ms/MB"),
        ("export_folder_ms", export_ms, "ms"),
    ]


def s3_verify_figures(repeats: int) -> list[Figure]:
    """``verify_one`` wall MB/s of a RandOcc store (8 shards of 16 at 256², zstd) on a local moto S3 server:
    every shard object is a request, so reading them in parallel overlaps the round trips."""
    from benchmarks.bench_s3 import start_moto
    from occgen.core.location import parse_location
    from occgen.run.generate import generate

    process, endpoint = start_moto()
    try:
        options = {"endpoint_url": endpoint, "key": "bench", "secret": "bench"}
        parse_location("s3://bench", options).filesystem().mkdir("bench")
        remote = parse_location("s3://bench/verify.zarr", options)
        recipe = build_randocc_recipe(RandOccSettings(base=BaseConfig(seed=0, size=256)))
        generate(recipe, remote, n=128, shard_size=16, workers=1, image_codec="zstd")
        walls, megabytes = [], 0.0
        for _ in range(repeats):
            started = time.perf_counter()
            check = verify_one(remote)
            walls.append(time.perf_counter() - started)
            assert check.ok, check.problems
            megabytes = check.bytes_read / 1e6
    finally:
        process.kill()
        process.wait()
    return [("verify_s3_mb_s", megabytes / statistics.median(walls), "MB/s")]


def run(argv: list[str]) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks work_once")
    parser.add_argument("--n", type=int, default=8, help="samples per timed shard task")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--faces", type=int, default=8, help="synthetic CelebAMask-HQ faces")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only-verify", action="store_true", help="only the verify and export figures")
    parser.add_argument("--s3", action="store_true", help="also verify a store on a local moto S3 server")
    parser.add_argument("--verify-shards", type=int, default=8, help="shards of 16 samples (256²) to verify and export")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp())
    figures: list[Figure] = []
    try:
        faces = FacesConfig(path=write_celebamask(root / "celebamask", args.faces), layout="celebamask-hq")
        for size in [] if args.only_verify else args.sizes:
            base = BaseConfig(seed=0, size=size)
            natocc = build_natocc_recipe(NatOccSettings(base=base, faces=faces))
            figures.append((f"natocc_ms_{size}", recipe_figures("natocc", natocc, args.n, args.repeats, ()), "ms"))
            parsing = recipe_figures("natocc", natocc, args.n, args.repeats, ("parsing",))
            figures.append((f"natocc_parsing_ms_{size}", parsing, "ms"))
            randocc = build_randocc_recipe(RandOccSettings(base=base, faces=faces))
            figures.append((f"randocc_ms_{size}", recipe_figures("randocc", randocc, args.n, args.repeats, ()), "ms"))
            figures.append((f"composite_ms_{size}", composite_ms(size, args.repeats), "ms"))
        textures = open_textures(None)
        loads = len(textures) * args.repeats
        figures.append(
            (
                "texture_load_ms",
                median_cpu_ms(
                    lambda: [textures.load(i) for _ in range(args.repeats) for i in range(len(textures))], 1, per=loads
                ),
                "ms",
            )
        )
        figures += store_figures(root, args.verify_shards, args.repeats)
        if args.s3:
            figures += s3_verify_figures(args.repeats)
    finally:
        shutil.rmtree(root)
    for name, value, unit in figures:
        print(f"{name:28s} {value:10.3f} {unit}")
    return figures


if __name__ == "__main__":
    import sys

    run(sys.argv[1:])
