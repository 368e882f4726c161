"""FASSEG (Khan, Mauro, Leonardi, ICIP 2015 / ICME 2017) read in its released layout, as a face source.

On disk (github:massimomauro/FASSEG-repository; ``--faces`` names one version folder)::

    V1/ or V2/ (frontal01 / frontal02):  Train_RGB/<n>.bmp  Train_Labels/<n>.bmp  Test_RGB/  Test_Labels/
    V3/ (multipose01):                   Train_RGB/<pose>/<name>.bmp  Train_labels/<pose>/<name>.bmp  Test_...

Labels are colour BMPs with anti-aliased edges (thousands of blended colours along the borders): each pixel
is snapped to the nearest of the six class colours, read off the files themselves: red ``(255, 0, 0)``
background, dark red ``(127, 0, 0)`` hair, yellow ``(255, 255, 0)`` skin, blue ``(0, 0, 255)`` eyes, cyan
``(0, 255, 255)`` nose, green ``(0, 255, 0)`` mouth. Images without a label file (V3 ships test poses that
were never labelled) are not faces of the source; the splits are the folders (``train``, ``test``).

What it cannot express: the eyebrows are painted with the hair colour, so they are not face; glasses are
labelled as skin (face); skin runs down the neck and over the ears, so the face mask includes them; eyes are
not told left from right and the mouth class includes the lips, so those map to ``face`` (19) in the
parsing map (only the nose and hair keep a part id).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from occgen.core.errors import SourceError
from occgen.core.files import IMAGE_SUFFIXES
from occgen.core.imageio import read_image
from occgen.core.labels import GENERIC_FACE, PART_ID
from occgen.sources.label_faces import LabelledFace, LabelMapFaces, face_id, snap_to_colours

#: The class colours in native id order (background, hair, skin, eyes, nose, mouth).
FASSEG_COLOURS = np.array([(255, 0, 0), (127, 0, 0), (255, 255, 0), (0, 0, 255), (0, 255, 255), (0, 255, 0)], np.uint8)
#: Split -> (image folder, label folder spellings: V1/V2 write ``Labels``, V3 ``labels``).
SPLIT_FOLDERS = {"train": ("Train_RGB", ("Train_Labels", "Train_labels")),
                 "test": ("Test_RGB", ("Test_Labels", "Test_labels"))}  # fmt: skip


def label_folder(root: Path, split: str) -> Path | None:
    return next((root / name for name in SPLIT_FOLDERS[split][1] if (root / name).is_dir()), None)


def looks_like_fasseg(root: Path) -> bool:
    return any(label_folder(root, split) is not None for split in SPLIT_FOLDERS)


def fasseg_versions(root: Path) -> list[str]:
    """Version folders (V1, V2, V3) under a FASSEG repository root (which is not itself a face source)."""
    return [child.name for child in sorted(root.iterdir()) if child.is_dir() and looks_like_fasseg(child)]


class FASSEG(LabelMapFaces):
    """One FASSEG version folder (see the module docstring): splits ``train`` and ``test``."""

    layout: ClassVar[str] = "fasseg"
    title: ClassVar[str] = "FASSEG"
    splits: ClassVar[tuple[str, ...]] = tuple(SPLIT_FOLDERS)
    native_classes: ClassVar[tuple[str, ...]] = ("background", "hair", "skin", "eyes", "nose", "mouth")
    parsing_ids: ClassVar[tuple[int, ...]] = (0, PART_ID["hair"], GENERIC_FACE, GENERIC_FACE, PART_ID["nose"],
                                              GENERIC_FACE)  # fmt: skip
    limits: ClassVar[str] = (
        "eyebrows are labelled hair (not face); glasses are labelled skin (face); skin includes the neck and "
        "ears; eyes have no left/right and the mouth includes the lips (both map to face)"
    )
    licence: ClassVar[str] = "FASSEG: research use, cite Khan et al. ICIP 2015 / ICME 2017"
    reference: ClassVar[str] = "github:massimomauro/FASSEG-repository; colours read from its label .bmp files"

    def find_faces(self, split: str | None) -> list[LabelledFace]:
        faces = []
        for name in [split] if split is not None else list(SPLIT_FOLDERS):
            labels_dir = label_folder(self.root, name)
            if labels_dir is None:
                if split is not None:
                    raise SourceError(f"FASSEG: no {SPLIT_FOLDERS[name][1][0]}/ folder in {self.root} for split {name}")
                continue
            images_dir = self.root / SPLIT_FOLDERS[name][0]
            for label in sorted(p for p in labels_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
                relative = label.relative_to(labels_dir)
                image = images_dir / relative
                if not image.is_file():
                    raise SourceError(f"FASSEG label {label} has no image {image}; restore it or remove the label")
                faces.append(LabelledFace(face_id(name, relative.with_suffix("").as_posix()), image, label, name))
        return faces

    def native_labels(self, face: LabelledFace) -> np.ndarray:
        # Stray pixels of other colours (a few grey or white dots in V1) snap too: the release has them.
        return snap_to_colours(read_image(face.labels), FASSEG_COLOURS, face.labels, tolerance=None)
