"""Parsing maps with left/right parts for the ``face_folder`` fixture (96² faces, elliptic masks), and the
mirrored, swapped reference a flip must produce (written here independently of occgen's swap code)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from occgen.core.imageio import write_png

#: parsing ids of CelebAMask-HQ's order (skin 1 ... hair 13), spelled out: l_eye 4, r_eye 5, l_brow 6, r_brow 7,
#: l_ear 8, r_ear 9.
LEFT_RIGHT = {4: 5, 5: 4, 6: 7, 7: 6, 8: 9, 9: 8}


def sided_parsing(mask: np.ndarray) -> np.ndarray:
    """skin on the face, hair elsewhere; the subject's left eye / brow / ear on the image's right (as in a
    photo of a person facing the camera), the right ones on the image's left; ears outside the face mask."""
    labels = np.where(mask > 0, 1, 13).astype(np.uint8)
    labels[40:46, 56:63] = 4  # l_eye
    labels[40:46, 33:40] = 5  # r_eye
    labels[32:35, 55:64] = 6  # l_brow
    labels[32:35, 32:41] = 7  # r_brow
    labels[44:56, 78:84] = 8  # l_ear (the mask's ellipse spans columns 22..74)
    labels[44:56, 12:18] = 9  # r_ear
    return labels


def write_sided_parsing(face_folder: Path) -> None:
    """``parsing/<stem>.png`` beside every mask of the folder."""
    for mask_path in sorted((face_folder / "masks").glob("*.png")):
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 0
        write_png(face_folder / "parsing" / mask_path.name, sided_parsing(mask.astype(np.uint8)))


def mirrored_reference(parsing: np.ndarray) -> np.ndarray:
    """What a horizontal flip of ``parsing`` must be: mirrored, each left/right id replaced by its partner."""
    mirrored = parsing[:, ::-1]
    out = mirrored.copy()
    for old, new in LEFT_RIGHT.items():
        out[mirrored == old] = new
    return out
