"""Rehearsal data (issue 12): writes full-size stand-ins of the four datasets the paper pipeline reads
(CelebAMask-HQ, 11k Hands, COCO, DTD) in their true on-disk layouts from the embedded demo assets; the
writers live in tests/_rehearsal.py (shared with the tests). ``--bench-faces N`` times raw face reads
against the face store; benchmarks/bench_paper_stages.py runs the paper pipeline on the rehearsal.

    python benchmarks/rehearsal.py --out /tmp/rehearsal --faces 200 --hands 200 --coco-images 100 --dtd-per-category 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _rehearsal import celebamask_hq, coco, dtd, eleven_k_hands  # noqa: E402  (the tests' writers)


def bench_faces(out: Path, count: int, size: int = 512) -> None:
    """Per-face read time at ``size``: raw CelebAMask-HQ (1024² JPEG + part PNGs) vs the face store that
    ``occgen generate faces`` writes from it (the fast path for repeated generation)."""
    import time

    from occgen.recipes.faces import FacesRecipe
    from occgen.run.generate import generate
    from occgen.sources.faces import StoreFaces, open_faces

    raw = open_faces(out / "CelebAMask-HQ")
    started = time.perf_counter()
    for i in range(count):
        raw.load(i % len(raw), size)
    raw_ms = (time.perf_counter() - started) / count * 1000
    store = out / "faces.zarr"
    if not store.exists():
        generate(FacesRecipe(raw, 0, size), store, n=len(raw), shard_size=64)
    cached = StoreFaces(store)
    started = time.perf_counter()
    for i in range(count):
        cached.load(i % len(cached), size)
    store_ms = (time.perf_counter() - started) / count * 1000
    print(f"faces at {size}²: raw CelebAMask-HQ {raw_ms:.1f} ms/face, face store {store_ms:.1f} ms/face "
          f"({raw_ms / store_ms:.1f}x)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--faces", type=int, default=200)
    parser.add_argument("--hands", type=int, default=200)
    parser.add_argument("--coco-images", type=int, default=100)
    parser.add_argument("--coco-per-image", type=int, default=4)
    parser.add_argument("--dtd-per-category", type=int, default=4)
    parser.add_argument("--bench-faces", type=int, default=0, help="time N face reads: raw vs face store")
    args = parser.parse_args()
    if args.bench_faces:
        if not (args.out / "CelebAMask-HQ").is_dir():
            celebamask_hq(args.out, args.faces)
        bench_faces(args.out, args.bench_faces)
        return
    print(celebamask_hq(args.out, args.faces))
    print(eleven_k_hands(args.out, args.hands))
    print(coco(args.out, args.coco_images, args.coco_per_image))
    print(dtd(args.out, args.dtd_per_category))


if __name__ == "__main__":
    main()
