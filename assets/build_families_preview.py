"""Draw docs/natocc-families-preview.jpg: the anchored families the demo has no cut-outs for (utensil: spoons and
forks; microphone; hat) with ``placement: anchored`` on the two demo faces, their rough hand-drawn parsing maps
made as ``build_anchored_preview.py`` makes them.

The cut-outs are **drawn stand-ins**: flat procedural RGBA shapes made below (a spoon = an elliptic bowl and a
tapered handle, a fork = four tines on a handle, a handheld microphone = a meshed ball head on a grip, a cap = a
dome and a peak, a brimmed hat = a crown, a band and a brim), written into a scratch folder in the ``rgba-folder``
layout, where each file name gives the family (``spoon_01.png`` -> utensil, ``microphone_01.png``, ``hat_01.png``;
``occgen.recipes.placement.family_of``). The picture shows where these families go on a face, not what real
cut-outs look like. Each tile shows the sample, the face's landmarks (green) and the anchor target (red cross)
with the family and anchor name. Nothing here is used at run time (deterministic, seed 5).

    python assets/build_families_preview.py [--out docs/natocc-families-preview.jpg]
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_anchored_preview import preview_main, tile  # noqa: E402

from occgen.core.imageio import write_png  # noqa: E402
from occgen.core.landmarks import landmarks_from_parsing  # noqa: E402
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe  # noqa: E402
from occgen.sources.cutouts import RGBAFolder  # noqa: E402
from occgen.sources.faces import FaceFolder  # noqa: E402

#: Tiles per stand-in (file stem without its number): two rows of four.
PER_STANDIN = {"spoon": 2, "fork": 2, "microphone": 2, "hat": 2}
AA = cv2.LINE_AA


def _rgba(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 4) from an RGB drawing and a uint8 coverage drawing (anti-aliased edges give a soft alpha)."""
    return np.dstack([rgb, alpha])


def _shaded(height: int, width: int, colour: tuple[int, int, int], light: float) -> np.ndarray:
    """A canvas of ``colour`` lit from the left: ``light`` brighter at the left edge, darker at the right."""
    ramp = np.linspace(1.0 + light, 1.0 - light, width, dtype=np.float32)[None, :, None]
    return np.clip(np.full((height, width, 3), colour, np.float32) * ramp, 0, 255).astype(np.uint8)


def draw_spoon() -> np.ndarray:
    """A steel spoon, 64 x 260, bowl up: an elliptic bowl with a highlight and a handle that widens at its end."""
    alpha = np.zeros((260, 64), np.uint8)
    cv2.ellipse(alpha, (32, 48), (26, 44), 0, 0, 360, 255, -1, AA)
    cv2.fillConvexPoly(alpha, np.array([[27, 88], [37, 88], [41, 230], [23, 230]], np.int32), 255, AA)
    cv2.ellipse(alpha, (32, 236), (11, 20), 0, 0, 360, 255, -1, AA)
    rgb = _shaded(260, 64, (176, 180, 190), 0.25)
    cv2.ellipse(rgb, (26, 40), (9, 22), -8, 0, 360, (235, 238, 245), -1, AA)  # the bowl's highlight
    cv2.ellipse(rgb, (32, 48), (25, 43), 0, 0, 360, (120, 124, 134), 2, AA)  # its rim
    return _rgba(rgb, alpha)


def draw_fork() -> np.ndarray:
    """A steel fork, 64 x 260, tines up: four tines on a rounded head, a tapered handle."""
    alpha = np.zeros((260, 64), np.uint8)
    for x in (12, 25, 38, 51):
        cv2.rectangle(alpha, (x - 3, 6), (x + 3, 60), 255, -1, AA)
        cv2.circle(alpha, (x, 6), 3, 255, -1, AA)
    cv2.ellipse(alpha, (32, 62), (25, 22), 0, 0, 180, 255, -1, AA)
    cv2.rectangle(alpha, (7, 56), (57, 64), 255, -1, AA)
    cv2.fillConvexPoly(alpha, np.array([[26, 80], [38, 80], [42, 232], [22, 232]], np.int32), 255, AA)
    cv2.ellipse(alpha, (32, 238), (11, 18), 0, 0, 360, 255, -1, AA)
    rgb = _shaded(260, 64, (170, 174, 184), 0.3)
    return _rgba(rgb, alpha)


def draw_microphone() -> np.ndarray:
    """A handheld microphone, 96 x 300, head up: a meshed silver ball head, a collar, a black tapered grip."""
    alpha = np.zeros((300, 96), np.uint8)
    cv2.circle(alpha, (48, 44), 42, 255, -1, AA)
    cv2.fillConvexPoly(alpha, np.array([[26, 80], [70, 80], [60, 292], [36, 292]], np.int32), 255, AA)
    cv2.ellipse(alpha, (48, 292), (12, 6), 0, 0, 360, 255, -1, AA)
    rgb = _shaded(300, 96, (40, 40, 44), 0.5)  # the grip
    head = _shaded(300, 96, (168, 170, 176), 0.35)
    inside_head = np.zeros((300, 96), np.uint8)
    cv2.circle(inside_head, (48, 44), 42, 255, -1, AA)
    rgb[inside_head > 0] = head[inside_head > 0]
    for step in range(-84, 96, 9):  # the mesh: two families of diagonal wires, clipped to the head
        mesh = np.zeros_like(inside_head)
        cv2.line(mesh, (step, 0), (step + 90, 90), 255, 1, AA)
        cv2.line(mesh, (step + 90, 0), (step, 90), 255, 1, AA)
        rgb[(mesh > 0) & (inside_head > 0)] = (96, 98, 104)
    cv2.circle(rgb, (34, 30), 11, (226, 228, 232), -1, AA)  # a highlight on the ball
    cv2.rectangle(rgb, (24, 80), (72, 96), (130, 132, 138), -1, AA)  # the collar
    return _rgba(rgb, alpha)


def draw_cap() -> np.ndarray:
    """A baseball cap seen from the front, 260 x 150: a red dome with seams, a button and a curved peak."""
    alpha = np.zeros((150, 260), np.uint8)
    cv2.ellipse(alpha, (130, 112), (104, 100), 0, 180, 360, 255, -1, AA)
    cv2.ellipse(alpha, (130, 116), (124, 30), 0, 0, 180, 255, -1, AA)
    cv2.rectangle(alpha, (26, 100), (234, 116), 255, -1, AA)
    rgb = _shaded(150, 260, (190, 40, 44), 0.25)
    for x in (84, 130, 176):  # the crown's seams meet at the button
        cv2.line(rgb, (130, 14), (x, 112), (140, 26, 30), 2, AA)
    cv2.circle(rgb, (130, 14), 7, (150, 30, 34), -1, AA)
    cv2.ellipse(rgb, (130, 116), (124, 30), 0, 0, 180, (150, 28, 32), -1, AA)  # the peak, in shadow
    cv2.line(rgb, (28, 112), (232, 112), (110, 20, 24), 3, AA)
    return _rgba(rgb, alpha)


def draw_brimmed_hat() -> np.ndarray:
    """A felt hat seen from the front, 300 x 160: a rounded crown, a dark band and a wide brim."""
    alpha = np.zeros((160, 300), np.uint8)
    cv2.ellipse(alpha, (150, 128), (140, 26), 0, 0, 360, 255, -1, AA)  # the brim
    cv2.rectangle(alpha, (80, 36), (220, 128), 255, -1, AA)  # the crown
    cv2.ellipse(alpha, (150, 38), (70, 30), 0, 180, 360, 255, -1, AA)
    rgb = _shaded(160, 300, (120, 92, 62), 0.3)
    cv2.line(rgb, (150, 12), (150, 60), (90, 68, 44), 3, AA)  # the crown's crease
    cv2.rectangle(rgb, (80, 98), (220, 120), (40, 30, 24), -1, AA)  # the band
    cv2.ellipse(rgb, (150, 132), (138, 22), 0, 0, 180, (96, 72, 48), -1, AA)  # the brim's underside, in shadow
    return _rgba(rgb, alpha)


def write_standins(root: Path) -> Path:
    """The stand-ins as ``rgba-folder`` cut-outs under ``root``: spoon_01, fork_01, microphone_01, hat_01 (cap),
    hat_02 (brimmed hat)."""
    drawings = {"spoon_01": draw_spoon(), "fork_01": draw_fork(), "microphone_01": draw_microphone(),
                "hat_01": draw_cap(), "hat_02": draw_brimmed_hat()}  # fmt: skip
    for stem, rgba in drawings.items():
        write_png(root / f"{stem}.png", rgba)
    return root


def _standin_tiles(recipe: NatOccRecipe, faces: FaceFolder, size: int) -> list[np.ndarray]:
    """The first samples of each stand-in, PER_STANDIN of each (hats: one cap, one brimmed hat)."""
    tiles: list[np.ndarray] = []
    shown: Counter[str] = Counter()
    for index in range(400):
        sample = recipe.make(index)
        stem = Path(sample.metadata["params"]["occluder"]["file"]).stem
        kind = stem.split("_")[0]
        wanted = PER_STANDIN[kind] if kind != "hat" else 1  # each hat file once
        if shown[kind if kind != "hat" else stem] >= wanted:
            continue
        shown[kind if kind != "hat" else stem] += 1
        parsing = faces.load_parsing(sample.metadata["face_index"], size)
        tiles.append(tile(sample.image, landmarks_from_parsing(parsing), sample.metadata["placement"], size))
        if len(tiles) == sum(PER_STANDIN.values()):
            break
    return tiles


def main() -> None:
    config = NatOccConfig(placement="anchored", objects_frac=1.0, face_order="random")
    preview_main(__doc__ or "", "natocc-families-preview.jpg", config, _standin_tiles,
                 objects=lambda scratch, size: RGBAFolder(write_standins(scratch / "standins")))  # fmt: skip


if __name__ == "__main__":
    main()
