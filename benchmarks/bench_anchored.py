"""Anchored against random placement (issue 25): NatOcc samples/s on a CelebAMask-HQ-layout folder, and what the
instance and landmark labels cost in bytes.

    python -m benchmarks anchored [--faces 16] [--n 64] [--size 512] [--repeats 3] [--workers 1]

The faces are ``bench_work_once.write_celebamask``'s (the eye and brow sides swapped to CelebAMask-HQ's): 1024²
JPEGs and 512² part PNGs in the release's layout, with eyes, brows, nose, lips, hair, neck, cloth and an ear, so
every face has the landmarks anchored placement needs (its parsing map is read from the part files; each face's
map once, tests/test_landmark_store.py). Figures:

- ``random_samples_s`` / ``anchored_samples_s`` (wall) and ``random_cpu_ms`` / ``anchored_cpu_ms`` (CPU ms per
  sample, this process and its children): ``occgen.run.generate.generate`` of ``--n`` samples (the paired
  default: hands with SOT and demo objects), run ``--repeats`` times alternately random, anchored, random...; the
  medians;
- ``anchored_speed_ratio`` (wall) and ``anchored_cpu_ratio`` (random CPU / anchored CPU): the medians of the
  per-pair ratios (target >= 0.85);
- ``labels_bytes_ratio``: the bytes of ``occluder_instances`` + ``landmarks`` + ``landmark_visible`` over the
  whole store's bytes, for an anchored store made with ``--labels instances,landmarks`` (target <= 0.05); and
  ``labels_kb_per_sample``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_work_once import cpu_seconds, reset_face_memo, write_celebamask  # noqa: E402
from occgen.core.params import BaseConfig  # noqa: E402
from occgen.recipes.natocc import NatOccConfig  # noqa: E402
from occgen.run.generate import generate  # noqa: E402
from occgen.settings import NatOccSettings, build_natocc_recipe  # noqa: E402
from occgen.sources.faces import FacesConfig  # noqa: E402
from occgen.store.schema import ShardReader  # noqa: E402

Figure = tuple[str, float, str]
LABEL_ARRAYS = ("occluder_instances", "landmarks", "landmark_visible")


def celebamask_faces(root: Path, count: int) -> Path:
    """``write_celebamask``'s faces with the subject's left parts on the image's right, as in CelebAMask-HQ (that
    script puts ``l_eye`` on the image left, which turns the anchored face frame upside down)."""
    write_celebamask(root, count)
    folder = root / "CelebAMask-HQ-mask-anno" / "0"
    for face in range(count):
        for left, right in (("l_eye", "r_eye"), ("l_brow", "r_brow")):
            a, b = folder / f"{face:05d}_{left}.png", folder / f"{face:05d}_{right}.png"
            a.rename(folder / "swap.png")
            b.rename(a)
            (folder / "swap.png").rename(b)
    return root


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(argv: list[str]) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=16)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--shard-size", type=int, default=32)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench_anchored_"))
    try:
        faces = FacesConfig(path=celebamask_faces(root / "celebamask", args.faces), layout="celebamask-hq")
        base = BaseConfig(seed=0, size=args.size)
        recipes = {mode: build_natocc_recipe(NatOccSettings(base=base, faces=faces,
                                                            natocc=replace(NatOccConfig(), placement=mode)))
                   for mode in ("random", "anchored")}  # fmt: skip
        for mode, recipe in recipes.items():  # warm the cut-out caches (a worker's steady state)
            generate(recipe, root / f"warm-{mode}.zarr", n=min(args.n, 8), shard_size=8, workers=1)
        wall: dict[str, list[float]] = {"random": [], "anchored": []}
        cpu: dict[str, list[float]] = {"random": [], "anchored": []}
        for repeat in range(args.repeats):
            for mode, recipe in recipes.items():
                reset_face_memo(recipe)
                out = root / f"{mode}-{repeat}.zarr"
                started, started_cpu = time.perf_counter(), cpu_seconds()
                generate(recipe, out, n=args.n, shard_size=args.shard_size, workers=args.workers)
                wall[mode].append(time.perf_counter() - started)
                cpu[mode].append(cpu_seconds() - started_cpu)
                shutil.rmtree(out)
                print(f"{mode:9s} run {repeat}: {args.n / wall[mode][-1]:.2f} samples/s, "
                      f"{cpu[mode][-1] * 1000 / args.n:.1f} CPU ms/sample", flush=True)
        speed = statistics.median(r / a for r, a in zip(wall["random"], wall["anchored"], strict=True))
        cpu_ratio = statistics.median(r / a for r, a in zip(cpu["random"], cpu["anchored"], strict=True))
        labelled = root / "labelled.zarr"
        generate(recipes["anchored"], labelled, n=args.n, shard_size=args.shard_size, workers=args.workers,
                 labels=("instances", "landmarks"))  # fmt: skip
        anchored = [ShardReader(labelled)[i].metadata.get("placement", {}).get("mode") for i in range(args.n)]
        print(f"anchored samples: {anchored.count('anchored')} of {args.n} (the rest fell back to random)")
        label_bytes = sum(folder_bytes(labelled / name) for name in LABEL_ARRAYS)
        total = folder_bytes(labelled)
        figures: list[Figure] = [
            ("random_samples_s", args.n / statistics.median(wall["random"]), "samples/s"),
            ("anchored_samples_s", args.n / statistics.median(wall["anchored"]), "samples/s"),
            ("random_cpu_ms", statistics.median(cpu["random"]) * 1000 / args.n, "ms"),
            ("anchored_cpu_ms", statistics.median(cpu["anchored"]) * 1000 / args.n, "ms"),
            ("anchored_speed_ratio", speed, "x"),
            ("anchored_cpu_ratio", cpu_ratio, "x"),
            ("labels_bytes_ratio", label_bytes / total, "x"),
            ("labels_kb_per_sample", label_bytes / 1024 / args.n, "KB"),
        ]
        for name, value, unit in figures:
            print(f"{name:22s} {value:10.4f} {unit}")
        return figures
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run(sys.argv[1:])
