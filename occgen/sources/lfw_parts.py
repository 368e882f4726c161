"""LFW Part Labels (Kae et al., CVPR 2013) read in its released layout, as a face source.

On disk (the official archives extracted side by side, ``--faces DIR``)::

    DIR/parts_lfw_funneled_gt_images/<Name>_<nnnn>.ppm   2,927 label images, 250x250, colour-coded
    DIR/lfw_funneled/<Name>/<Name>_<nnnn>.jpg            the funneled LFW photos, 250x250
    DIR/parts_train.txt, parts_validation.txt, parts_test.txt   the official splits (1,500 / 500 / 927)

A split file line is ``<Name> <n>`` (``Clara_Harris 1`` or ``Ted_Turner 0001``), meaning
``<Name>_<n:04d>``; the split files may also sit one folder down (``DIR/*/parts_train.txt``). The labels
are three pure colours, learnt from the 2,927 files themselves (a copy in github:fuguigui/Lfw): red
``(255, 0, 0)`` hair, green ``(0, 255, 0)`` skin, blue ``(0, 0, 255)`` background; a pixel is snapped to the
nearest of them.

What it cannot express (the card's ``cannot_express``): the skin class is the whole visible skin, so the
face mask includes the neck and ears and the eyes, brows, nose and mouth inside it; glasses and beards are
labelled as whatever the annotators saw (mostly skin or hair); there are no part classes, so the parsing map
holds ``face`` (19), ``hair`` and background only.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from occgen.core.errors import SourceError
from occgen.core.imageio import read_image
from occgen.core.labels import GENERIC_FACE, PART_ID
from occgen.sources.label_faces import LabelledFace, LabelMapFaces, snap_to_colours

LABELS_DIR = "parts_lfw_funneled_gt_images"
IMAGES_DIR = "lfw_funneled"
#: Split name -> the official list's file name.
SPLIT_FILES = {"train": "parts_train.txt", "validation": "parts_validation.txt", "test": "parts_test.txt"}
#: The class colours in native id order (background, skin, hair).
LFW_COLOURS = np.array([(0, 0, 255), (0, 255, 0), (255, 0, 0)], np.uint8)


def looks_like_lfw_parts(root: Path) -> bool:
    return (root / LABELS_DIR).is_dir()


def split_file(root: Path, split: str) -> Path:
    """The official list of ``split``: in ``root`` or one folder down."""
    name = SPLIT_FILES[split]
    candidates = [root / name, *sorted(root.glob(f"*/{name}"))]
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        raise SourceError(f"LFW Part Labels split file {name} not found in {root} (nor one folder down); "
                          "put the official parts_*.txt lists beside the image folders")  # fmt: skip
    return found


def read_split(path: Path) -> list[str]:
    """``<Name> <n>`` lines -> ``<Name>_<n:04d>`` ids, in file order."""
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if len(words) != 2 or not words[1].isdigit():
            raise SourceError(f"{path} line {number}: expected '<Name> <number>', got {line.strip()!r}")
        ids.append(f"{words[0]}_{int(words[1]):04d}")
    return ids


class LFWPartLabels(LabelMapFaces):
    """LFW Part Labels (see the module docstring): splits ``train``, ``validation``, ``test``."""

    layout: ClassVar[str] = "lfw-parts"
    title: ClassVar[str] = "LFW Part Labels"
    splits: ClassVar[tuple[str, ...]] = tuple(SPLIT_FILES)
    native_classes: ClassVar[tuple[str, ...]] = ("background", "skin", "hair")
    parsing_ids: ClassVar[tuple[int, ...]] = (0, GENERIC_FACE, PART_ID["hair"])
    limits: ClassVar[str] = (
        "skin is all visible skin: the face mask includes the neck and ears; no part classes (parsing holds "
        "face, hair, background only); glasses and beards are labelled as skin or hair, not as occluders"
    )
    licence: ClassVar[str] = "LFW / LFW Part Labels: research use, see vis-www.cs.umass.edu/lfw"
    reference: ClassVar[str] = "vis-www.cs.umass.edu/lfw/part_labels; colours read from the released .ppm files"

    def find_faces(self, split: str | None) -> list[LabelledFace]:
        labels_dir = self.root / LABELS_DIR
        images_dir = self.root / IMAGES_DIR
        if not images_dir.is_dir():
            raise SourceError(f"LFW Part Labels: {images_dir} not found; extract lfw_funneled.tgz beside {LABELS_DIR}")
        if split is None:
            stems = sorted(p.stem for p in labels_dir.glob("*.ppm"))
            split_of = {stem: "" for stem in stems}
        else:
            stems = read_split(split_file(self.root, split))
            split_of = {stem: split for stem in stems}
        faces = []
        for stem in stems:
            label = labels_dir / f"{stem}.ppm"
            person = stem.rsplit("_", 1)[0]
            image = images_dir / person / f"{stem}.jpg"
            for path in (label, image):
                if not path.is_file():
                    raise SourceError(f"LFW Part Labels face {stem}: {path} not found; restore it or use another split")
            faces.append(LabelledFace(stem, image, label, split_of[stem]))
        return faces

    def native_labels(self, face: LabelledFace) -> np.ndarray:
        return snap_to_colours(read_image(face.labels), LFW_COLOURS, face.labels)
