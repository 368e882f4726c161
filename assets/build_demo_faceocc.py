"""Build assets/demo/faceocc: drawn stand-ins in the FaceOcc layout, so `occgen generate faceocc` runs with no dataset.

Everything is drawn here with OpenCV primitives (CC0, our work) in the FaceOcc 256² aligned frame, placed
at the template positions documented in /work/notes/faceocc.md section 2 (eye centres about (92, 94) and
(164, 94), nose tip (128, 133), mouth corners (99, 172) and (157, 172): 128 + 116·X, 128 − 116·Y of
face_align/similarity_Lm3D_all.mat). The only photographs are the two public-domain demo faces of
assets/demo/faces (see assets/README.md), aligned into the FaceOcc frame from hand-placed landmarks with
`occgen.prep.faces.align.align_face_faceocc`: written to assets/demo/faceocc_faces (the base faces) and
used for the ffhq/ and COFW_test/ stand-ins.

    python assets/build_demo_faceocc.py [--out assets/demo/faceocc] [--faces-out assets/demo/faceocc_faces]

Deterministic: no randomness except ``default_rng(SEED)`` for the texture noise.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np

SEED = 18
SIDE = 256
HERE = Path(__file__).resolve().parent
FACES = HERE / "demo" / "faces"
#: Hand-placed landmarks of the two demo faces (512² files), in the FaceOcc order: eye centres (image-left
#: first), nose tip, mouth corners; read off the images by eye, about 3 px accurate.
LANDMARKS = {
    "astronaut": [[205, 230], [318, 233], [262, 290], [220, 335], [305, 337]],
    "grace_hopper": [[200, 222], [312, 215], [258, 280], [215, 335], [292, 335]],
}


def save_rgba(path: Path, rgb: np.ndarray, alpha: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgba = np.dstack([rgb, alpha]).astype(np.uint8)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def sunglasses() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.zeros((SIDE, SIDE, 3), np.uint8)
    alpha = np.zeros((SIDE, SIDE), np.uint8)
    for cx in (92, 164):  # over the eye centres
        cv2.ellipse(alpha, (cx, 96), (30, 19), 0, 0, 360, 255, -1)
        cv2.ellipse(rgb, (cx, 96), (30, 19), 0, 0, 360, (25, 28, 35), -1)
        cv2.ellipse(rgb, (cx - 8, 90), (10, 5), -20, 0, 360, (90, 95, 110), -1)  # a reflection
        cv2.ellipse(rgb, (cx, 96), (30, 19), 0, 0, 360, (10, 10, 10), 3)
    for canvas, value in ((alpha, 255), (rgb, (10, 10, 10))):
        cv2.line(canvas, (120, 92), (136, 92), value, 4)  # bridge
        cv2.line(canvas, (62, 90), (40, 86), value, 4)  # arms
        cv2.line(canvas, (194, 90), (216, 86), value, 4)
    return rgb, alpha


def surgical_mask() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.zeros((SIDE, SIDE, 3), np.uint8)
    alpha = np.zeros((SIDE, SIDE), np.uint8)
    outline = np.array([[76, 122], [128, 112], [180, 122], [190, 170], [170, 206], [128, 220], [86, 206], [66, 170]])
    cv2.fillPoly(alpha, [outline], 255)
    cv2.fillPoly(rgb, [outline], (150, 196, 222))
    for y in (140, 160, 180):  # pleats
        cv2.line(rgb, (74, y), (182, y), (118, 160, 190), 2)
    for canvas, value in ((alpha, 255), (rgb, (235, 235, 235))):
        cv2.line(canvas, (76, 124), (42, 118), value, 3)  # ear loops
        cv2.line(canvas, (70, 180), (44, 150), value, 3)
        cv2.line(canvas, (180, 124), (214, 118), value, 3)
        cv2.line(canvas, (186, 180), (212, 150), value, 3)
    return rgb, alpha


def microphone() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.zeros((SIDE, SIDE, 3), np.uint8)
    alpha = np.zeros((SIDE, SIDE), np.uint8)
    handle = np.array([[150, 200], [166, 196], [206, 255], [184, 255]])
    cv2.fillPoly(alpha, [handle], 255)
    cv2.fillPoly(rgb, [handle], (30, 30, 34))
    cv2.circle(alpha, (148, 182), 24, 255, -1)
    cv2.circle(rgb, (148, 182), 24, (150, 150, 155), -1)
    for offset in range(-20, 24, 6):  # the grille
        cv2.line(rgb, (128 + 20 + offset, 160), (128 + 20 + offset, 204), (100, 100, 105), 1)
        cv2.line(rgb, (126, 182 + offset), (172, 182 + offset), (100, 100, 105), 1)
    cv2.circle(alpha, (148, 182), 24, 255, 2)
    return rgb, alpha


def hand() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.zeros((SIDE, SIDE, 3), np.uint8)
    alpha = np.zeros((SIDE, SIDE), np.uint8)
    skin, line = (224, 172, 140), (180, 124, 98)
    parts = [((70, 200), (44, 56), -20)]  # palm over the left cheek and chin
    parts += [((58 + 18 * k, 140 - 6 * k), (9, 34), -30 + 6 * k) for k in range(4)]  # fingers up the cheek
    for centre, axes, angle in parts:
        cv2.ellipse(alpha, centre, axes, angle, 0, 360, 255, -1)
        cv2.ellipse(rgb, centre, axes, angle, 0, 360, skin, -1)
    for centre, axes, angle in parts[1:]:
        cv2.ellipse(rgb, centre, axes, angle, 0, 360, line, 1)
    cv2.rectangle(alpha, (20, 240), (120, 255), 255, -1)  # wrist to the bottom edge
    cv2.rectangle(rgb, (20, 240), (120, 255), skin, -1)
    return rgb, alpha


def textures(rng: np.random.Generator) -> dict[str, np.ndarray]:
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    stripes = np.where((x + y) // 16 % 2 == 0, 1.0, 0.0)[..., None] * np.array([200, 40, 40]) + np.array([30, 30, 90])
    checker = np.where((x // 32 + y // 32) % 2 == 0, 230.0, 60.0)[..., None] * np.ones(3)
    dots = np.full((SIDE, SIDE, 3), (240, 220, 160), np.float64)
    for cx, cy in rng.integers(0, SIDE, (60, 2)):
        cv2.circle(dots, (int(cx), int(cy)), int(rng.integers(4, 12)), (200, 60, 120), -1)
    return {"stripes.png": stripes, "checker.png": checker, "dots.png": dots}


def face(stem: str) -> tuple[np.ndarray, np.ndarray]:
    """A demo face and its mask (0/255) aligned into the FaceOcc frame by occgen's own alignment."""
    from occgen.prep.faces.align import align_face_faceocc

    image = cv2.cvtColor(cv2.imread(str(FACES / "images" / f"{stem}.jpg")), cv2.COLOR_BGR2RGB)
    mask = (cv2.imread(str(FACES / "masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE) > 127).astype(np.uint8)
    aligned = align_face_faceocc(image, np.array(LANDMARKS[stem], np.float64), SIDE, mask)
    assert aligned.mask is not None
    return aligned.image, aligned.mask * np.uint8(255)


def occluded(stem: str, occluder: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    image, _ = face(stem)
    rgb, alpha = occluder
    paste = alpha[..., None] > 0
    return np.where(paste, rgb, image), alpha


def build(out: Path, faces_out: Path) -> None:
    for folder in (out, faces_out):
        if folder.exists():
            shutil.rmtree(folder)
    # The base faces (a face folder, like the authors' CelebA-HQ-align): the demo faces in the FaceOcc frame.
    for stem in LANDMARKS:
        image, mask = face(stem)
        (faces_out / "images").mkdir(parents=True, exist_ok=True)
        (faces_out / "masks").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(faces_out / "images" / f"{stem}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 95])  # fmt: skip
        assert cv2.imwrite(str(faces_out / "masks" / f"{stem}.png"), mask)
    rng = np.random.default_rng(SEED)
    cutouts = {"glasses/sunglasses": sunglasses(), "mask/surgical_mask": surgical_mask(),
               "microphone/microphone": microphone(), "hand/hand": hand()}  # fmt: skip
    for name, (rgb, alpha) in cutouts.items():
        save_rgba(out / "internet" / f"{name}.png", rgb, alpha)
    for name, texture in textures(rng).items():
        (out / "texture").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(out / "texture" / name), cv2.cvtColor(texture.astype(np.uint8), cv2.COLOR_RGB2BGR))
    # ffhq/: occluded faces with their labels (ffhqMask: 1 = skin where the demo mask is face, else 0).
    for stem, occluder in (("astronaut", cutouts["hand/hand"]), ("grace_hopper", cutouts["microphone/microphone"])):
        rgb, alpha = occluded(stem, occluder)
        save_rgba(out / "ffhq" / f"{stem}.png", rgb, alpha)
        (out / "ffhqMask").mkdir(parents=True, exist_ok=True)
        labels = (face(stem)[1] > 127).astype(np.uint8)
        (out / "ffhqMask" / f"{stem}.pkl").write_bytes(pickle.dumps(labels, protocol=4))
    # CelebAHQ/: an occluded face whose CelebAMask-HQ label map is not shipped: an occluder source only.
    rgb, alpha = occluded("astronaut", cutouts["glasses/sunglasses"])
    save_rgba(out / "CelebAHQ" / "0.png", rgb, alpha)
    # COFW_test/: the two faces with their visible-face masks (0/255), standing in for the 507 test images.
    for stem in ("astronaut", "grace_hopper"):
        image, mask = face(stem)
        (out / "COFW_test" / "img").mkdir(parents=True, exist_ok=True)
        (out / "COFW_test" / "mask").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(out / "COFW_test" / "img" / f"{stem}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 90])  # fmt: skip
        binary = np.where(mask > 127, 255, 0).astype(np.uint8)
        assert cv2.imwrite(str(out / "COFW_test" / "mask" / f"{stem}.png"), binary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "demo" / "faceocc")
    parser.add_argument("--faces-out", type=Path, default=HERE / "demo" / "faceocc_faces")
    args = parser.parse_args()
    build(args.out, args.faces_out)


if __name__ == "__main__":
    main()
