"""Rebuild ``assets/demo/11k``: a tiny stand-in for 11k Hands in its real layout (``Hands/*.jpg`` +
``HandInfo.csv``), so that the demo pipeline's matting stage (``occgen hands matte``) runs with no
dataset. The hands are drawn by :mod:`occgen.prep.hands.synthetic` (fingers-up shapes turned by 90° steps) on
a near-white, slightly shadowed background; the photos are generated here (CC0), not real 11k Hands.

    python assets/build_demo_11k.py [--out assets/demo/11k]

Deterministic: one seeded ``numpy.random.Generator`` per photo.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np

from occgen.prep.hands.synthetic import on_background, render_hand, sample_hand_shape

SEED = 2026
HEADER = "id,age,gender,skinColor,accessories,nailPolish,aspectOfHand,imageName,irregularities\n"
# (photo number, aspectOfHand, turn by 90° steps): wrists at different borders, as in 11k Hands.
PHOTOS = [(2, "dorsal right", 0), (3, "palmar left", 1), (4, "dorsal left", 2), (5, "palmar right", 3)]


def build(out: Path, height: int = 360, width: int = 480) -> None:
    if out.exists():
        shutil.rmtree(out)
    (out / "Hands").mkdir(parents=True)
    rows = []
    for number, aspect, turn in PHOTOS:
        rng = np.random.default_rng([SEED, number])
        shape = sample_hand_shape(rng=rng, rot90=turn)
        draw_h, draw_w = (height, width) if turn % 2 == 0 else (width, height)
        foreground, alpha = render_hand(shape, draw_h, draw_w, rng=rng)
        photo = on_background(foreground, alpha, rng=rng, shadow=0.1)
        name = f"Hand_{number:07d}.jpg"
        cv2.imwrite(str(out / "Hands" / name), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        rows.append(f"0000000,30,female,fair,0,0,{aspect},{name},0\n")
    (out / "HandInfo.csv").write_text(HEADER + "".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "demo" / "11k")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
