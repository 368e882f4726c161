"""Build ``assets/demo/hands``: procedurally drawn, demo-only hand cut-outs in the layout that
``occgen hands matte`` writes (``hands/<id>.png`` RGBA + ``manifest.json``).

Deterministic (seeded ``numpy.random.default_rng``); needs only occgen itself. See assets/README.md.

    python assets/build_demo_hands.py [--out assets/demo/hands]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from occgen.core.imageio import write_png
from occgen.prep.hands.synthetic import finger_angle_deg, render_hand, sample_hand_shape
from occgen.sources.hand_orientation import finger_direction
from occgen.sources.hands import HANDS_DIR, MANIFEST, MANIFEST_VERSION
from occgen.sources.occluder import crop_to_alpha

SEED = 20260
COUNT = 6
HEIGHT, WIDTH = 300, 240  # fingers up; turned by rot90 afterwards


def build(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    rng = np.random.default_rng(SEED)
    records = []
    for i in range(COUNT):
        shape = sample_hand_shape(rng=rng, rot90=i % 4)
        rgb, alpha = render_hand(shape, HEIGHT, WIDTH, rng=rng, grain=1.5)
        angle = finger_angle_deg(shape.rot90)
        measured = finger_direction(alpha)  # a check that the drawing reads as intended
        assert abs((measured.angle_deg - angle + 180) % 360 - 180) < 20, (i, measured, angle)
        crop_rgb, crop_alpha = crop_to_alpha(rgb, alpha)
        alpha8 = np.clip(crop_alpha * 255 + 0.5, 0, 255).astype(np.uint8)
        hand_id = f"demo_hand_{i:02d}"
        write_png(out / HANDS_DIR / f"{hand_id}.png", np.dstack([crop_rgb, alpha8]))
        records.append({
            "id": hand_id, "file": f"{HANDS_DIR}/{hand_id}.png", "source": "synthetic (occgen.prep.hands.synthetic)",
            "finger_angle_deg": angle, "wrist_side": measured.wrist_side, "direction_method": "drawn",
            "size": [int(crop_alpha.shape[1]), int(crop_alpha.shape[0])], "attributes": {"demo_only": "1"},
        })  # fmt: skip
    manifest = {"version": MANIFEST_VERSION, "source": "synthetic demo hands", "hands": records, "skipped": []}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "demo" / "hands")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
