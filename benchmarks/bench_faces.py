"""Face preparation speed: BiSeNet face parsing per 512² image (CPU), landmark polygon and FFHQ alignment.

    python benchmarks/bench_faces.py [--repeats 3] [--batches 1 4] [--threads 0]

The parser has random weights (the speed does not depend on them; the real checkpoint is not shipped).
Inputs are the embedded demo faces (512²). Reported: milliseconds per image, median of ``--repeats``, for
fp32 and channels_last. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from occgen.core.imageio import read_image
from occgen.prep.faces.align import align_face
from occgen.prep.faces.bisenet import BiSeNet
from occgen.prep.faces.landmarks import landmark_face_mask
from occgen.prep.faces.parsing import FaceParser

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo" / "faces" / "images"


def timed(function: Callable[[], object], repeats: int) -> float:
    """Median wall seconds (see :func:`cpu_timed` for CPU seconds, steadier on a shared machine)."""
    return _median(function, repeats, time.perf_counter)


def cpu_timed(function: Callable[[], object], repeats: int) -> float:
    """Median process CPU seconds (all threads)."""
    return _median(function, repeats, time.process_time)


def _median(function: Callable[[], object], repeats: int, clock: Callable[[], float]) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = clock()
        function()
        times.append(clock() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    faces = [read_image(p) for p in sorted(DEMO.glob("*.jpg"))]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), input {faces[0].shape}")
    torch.manual_seed(0)
    for layout in ("fp32", "channels_last"):
        model = BiSeNet().eval()
        if layout == "channels_last":
            model = model.to(memory_format=torch.channels_last)
        face_parser = FaceParser(model)
        for batch in args.batches:
            images = [faces[i % len(faces)] for i in range(batch)]
            wall = timed(lambda p=face_parser, im=images: p.parse(im), args.repeats)
            cpu = cpu_timed(lambda p=face_parser, im=images: p.parse(im), args.repeats)
            print(
                f"parser {layout:13s} batch {batch}: {1000 * wall / batch:7.1f} ms wall, "
                f"{1000 * cpu / batch:7.1f} ms CPU per 512² image"
            )
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from _faces_synthetic import face68  # the tests' synthetic 68-point face

    landmarks = face68() * 120 + [256, 220]
    print(f"landmark mask 512²:  {1000 * timed(lambda: landmark_face_mask(landmarks, (512, 512)), 20):.2f} ms")
    image = faces[0]
    mask = landmark_face_mask(landmarks, (512, 512))
    print(
        f"FFHQ align 512²->512² with mask: {1000 * timed(lambda: align_face(image, landmarks, 512, mask), 20):.2f} ms"
    )
    landmarks2 = face68() * 120 + [512, 440]
    big = np.ascontiguousarray(np.tile(image, (2, 2, 1)))
    print(f"FFHQ align 1024²->256²: {1000 * timed(lambda: align_face(big, landmarks2, 256), 20):.2f} ms")


if __name__ == "__main__":
    main()
