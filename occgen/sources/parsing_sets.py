"""Face-parsing sets whose labels are index PNGs, read in their released layouts: LaPa, HELEN* (the
relabelled "helenstar" layout), iBugMask and the CelebAMask-HQ challenge layout.

Layout facts (each cited where it was read):

- **LaPa** (github:JDAI-CV/lapa-dataset; the class enum of public LaPa loaders):
  ``{train,val,test}/images/<stem>.jpg``, ``labels/<stem>.png`` (grey, ids 0-10), ``landmarks/<stem>.txt``
  (106 points, not read here). Classes: 0 background, 1 skin, 2 left brow, 3 right brow, 4 left eye,
  5 right eye, 6 nose, 7 upper lip, 8 inner mouth, 9 lower lip, 10 hair.
- **HELEN*** (github:JPlin/Relabeled-HELEN-Dataset README): ``train/``, ``test/`` (original size) and
  ``test_resize/`` each holding ``<stem>_image.jpg``, ``<stem>_label.png`` (grey ids, the 11 LaPa classes in
  the same order; "left" is the viewer's side) and ``<stem>_viz.jpg``. Without ``--split`` the source reads
  ``train`` and ``test`` (``test_resize`` holds the same test faces at another size).
- **HELEN, SmithCVPR2013 layout** (``SmithCVPR2013_dataset_resized``; the file names as public Helen loaders
  read them): ``images/<name>.jpg``, ``labels/<name>/<name>_lbl00.png`` .. ``_lbl10.png``, one grey map per
  class in the 11-class order above (soft edges: a pixel takes the class of its largest value, background on
  ties), and the split lists ``exemplars.txt`` (train), ``tuning.txt`` (val), ``testing.txt`` (test) whose
  lines are ``<index> , <name>``.
- **iBugMask** (github:hhj1897/face_parsing README, "Label map for 11 classes"): ``ibugmask_release/{train,
  test}/<stem>.jpg`` with ``<stem>.png`` (grey ids, the same 11 classes; skin includes the scalp) and
  ``<stem>_landmark.txt`` (not read).
- **CelebAMask-HQ challenge** (the NTU AI6126 mini-challenge layout): ``{train,val}/images/<stem>.jpg`` and
  ``masks/<stem>.png``, palette PNGs whose indices are the 19 classes of CelebAMask-HQ's own ``g_mask.py``
  (0 background, then skin, nose, eye_g, l_eye, r_eye, l_brow, r_brow, l_ear, r_ear, mouth, u_lip, l_lip,
  hair, hat, ear_r, neck_l, neck, cloth): occgen's parsing ids 0-18 exactly.

What the 11-class sets cannot express: they have no ear, neck, glasses, hat or clothing classes, so what
the annotators painted there (skin, hair or background) is what the face mask gets: glasses over the eyes
are mostly labelled eye or skin (face), not occluder; iBugMask's skin includes a bald scalp.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from occgen.core.errors import SourceError
from occgen.core.labels import CELEBAMASK_LABEL_ORDER, PART_ID
from occgen.sources.label_faces import LabelledFace, LabelMapFaces, face_id, read_index_map, split_dirs

#: The 11 classes LaPa, HELEN* and iBugMask share, in id order, and their occgen parsing ids.
ELEVEN_CLASSES = ("background", "skin", "left_brow", "right_brow", "left_eye", "right_eye", "nose", "upper_lip",
                  "inner_mouth", "lower_lip", "hair")  # fmt: skip
ELEVEN_PARSING = (0, PART_ID["skin"], PART_ID["l_brow"], PART_ID["r_brow"], PART_ID["l_eye"], PART_ID["r_eye"],
                  PART_ID["nose"], PART_ID["u_lip"], PART_ID["mouth"], PART_ID["l_lip"], PART_ID["hair"])  # fmt: skip
ELEVEN_LIMITS = (
    "no ear, neck, glasses, hat or clothing classes: those pixels count as whatever was painted (skin, eye, "
    "hair or background), so glasses are not occluders; left/right are the viewer's sides"
)


def _pairs(images: list[Path], label_of: dict[Path, Path], split: str, strip: str = "") -> list[LabelledFace]:
    faces = []
    for image in images:
        label = label_of[image]
        if not label.is_file():
            raise SourceError(f"image {image} has no label file {label}; restore it or remove the image")
        stem = image.stem[: -len(strip)] if strip else image.stem
        faces.append(LabelledFace(face_id(split, stem), image, label, split))
    return faces


def _has_dirs(folder: Path, *names: str) -> bool:
    return all((folder / name).is_dir() for name in names)


class LaPa(LabelMapFaces):
    """LaPa (see the module docstring): splits ``train``, ``val``, ``test``; ``--faces`` may also name one
    split's folder."""

    layout: ClassVar[str] = "lapa"
    title: ClassVar[str] = "LaPa"
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")
    native_classes: ClassVar[tuple[str, ...]] = ELEVEN_CLASSES
    parsing_ids: ClassVar[tuple[int, ...]] = ELEVEN_PARSING
    limits: ClassVar[str] = ELEVEN_LIMITS
    licence: ClassVar[str] = "LaPa: non-commercial research use (JDAI-CV/lapa-dataset)"
    reference: ClassVar[str] = "github:JDAI-CV/lapa-dataset"

    def find_faces(self, split: str | None) -> list[LabelledFace]:
        faces = []
        for name, folder in split_dirs(self.root, self.splits, split):
            if not _has_dirs(folder, "images", "labels"):
                raise SourceError(f"LaPa split folder {folder} needs images/ and labels/")
            images = sorted((folder / "images").glob("*.jpg"))
            faces += _pairs(images, {p: folder / "labels" / f"{p.stem}.png" for p in images}, name)
        return faces


class HelenStar(LabelMapFaces):
    """HELEN* (see the module docstring): splits ``train``, ``test``, ``test_resize``."""

    layout: ClassVar[str] = "helenstar"
    title: ClassVar[str] = "HELEN*"
    splits: ClassVar[tuple[str, ...]] = ("train", "test", "test_resize")
    native_classes: ClassVar[tuple[str, ...]] = ELEVEN_CLASSES
    parsing_ids: ClassVar[tuple[int, ...]] = ELEVEN_PARSING
    limits: ClassVar[str] = ELEVEN_LIMITS
    licence: ClassVar[str] = "HELEN / HELEN*: research use (Le et al. 2012; Lin et al. CVPR 2019)"
    reference: ClassVar[str] = "github:JPlin/Relabeled-HELEN-Dataset"

    def find_faces(self, split: str | None) -> list[LabelledFace]:
        faces = []
        for name, folder in split_dirs(self.root, self.splits, split):
            if split is None and name == "test_resize":
                continue  # the test faces again, resized
            images = sorted(folder.glob("*_image.jpg"))
            label_of = {p: p.with_name(p.name[: -len("_image.jpg")] + "_label.png") for p in images}
            faces += _pairs(images, label_of, name, strip="_image")
        return faces


#: SmithCVPR2013 split name -> its list file.
SMITH_SPLIT_FILES = {"train": "exemplars.txt", "val": "tuning.txt", "test": "testing.txt"}


class HelenSmith(LabelMapFaces):
    """HELEN in the SmithCVPR2013 layout (see the module docstring): splits ``train``, ``val``, ``test``."""

    layout: ClassVar[str] = "helen-smith"
    title: ClassVar[str] = "HELEN (SmithCVPR2013)"
    splits: ClassVar[tuple[str, ...]] = tuple(SMITH_SPLIT_FILES)
    native_classes: ClassVar[tuple[str, ...]] = ELEVEN_CLASSES
    parsing_ids: ClassVar[tuple[int, ...]] = ELEVEN_PARSING
    limits: ClassVar[str] = ELEVEN_LIMITS + "; soft per-class maps are resolved to their largest class"
    licence: ClassVar[str] = "HELEN: research use (Le et al. ECCV 2012; Smith et al. CVPR 2013)"
    reference: ClassVar[str] = "SmithCVPR2013_dataset_resized (pages.cs.wisc.edu/~lizhang/projects/face-parsing)"

    def find_faces(self, split: str | None) -> list[LabelledFace]:
        faces = []
        for name in [split] if split is not None else list(SMITH_SPLIT_FILES):
            path = self.root / SMITH_SPLIT_FILES[name]
            if not path.is_file():
                if split is None:
                    continue
                raise SourceError(f"HELEN split list {path} not found; it ships with SmithCVPR2013_dataset_resized")
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                fields = [field.strip() for field in line.split(",")]
                if len(fields) != 2 or not fields[1]:
                    raise SourceError(f"{path} line {number}: expected '<index> , <name>', got {line.strip()!r}")
                stem = fields[1]
                image = self.root / "images" / f"{stem}.jpg"
                faces += _pairs([image], {image: self.label_file(stem, 0)}, name)
        return faces

    def label_file(self, stem: str, class_id: int) -> Path:
        return self.root / "labels" / stem / f"{stem}_lbl{class_id:02d}.png"

    def native_labels(self, face: LabelledFace) -> np.ndarray:
        stem = Path(face.face_id).name
        maps = np.stack([read_index_map(self.label_file(stem, c)) for c in range(len(ELEVEN_CLASSES))])
        return maps.argmax(axis=0).astype(np.uint8)  # ties go to the lower id: background first


class IBugMask(LabelMapFaces):
    """iBugMask (see the module docstring): splits ``train`` and ``test``."""

    layout: ClassVar[str] = "ibugmask"
    title: ClassVar[str] = "iBugMask"
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    native_classes: ClassVar[tuple[str, ...]] = ELEVEN_CLASSES
    parsing_ids: ClassVar[tuple[int, ...]] = ELEVEN_PARSING
    limits: ClassVar[str] = ELEVEN_LIMITS + "; skin includes a bald scalp"
    licence: ClassVar[str] = "iBugMask: research use (Lin et al., Image and Vision Computing 2021)"
    reference: ClassVar[str] = "github:hhj1897/face_parsing (iBugMask Dataset, Label Maps)"

    def find_faces(self, split: str | None) -> list[LabelledFace]:
        faces = []
        for name, folder in split_dirs(self.root, self.splits, split):
            images = sorted(folder.glob("*.jpg"))
            faces += _pairs(images, {p: p.with_suffix(".png") for p in images}, name)
        return faces


class CelebAMaskChallenge(LabelMapFaces):
    """The CelebAMask-HQ challenge layout (see the module docstring): splits ``train``, ``val``, ``test``
    (a split without ``masks/`` is skipped unless asked for)."""

    layout: ClassVar[str] = "celebamask-challenge"
    title: ClassVar[str] = "CelebAMask-HQ challenge"
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")
    native_classes: ClassVar[tuple[str, ...]] = ("background", *CELEBAMASK_LABEL_ORDER)
    parsing_ids: ClassVar[tuple[int, ...]] = tuple(range(len(CELEBAMASK_LABEL_ORDER) + 1))
    limits: ClassVar[str] = (
        "one class per pixel (CelebAMask-HQ's g_mask.py painting order): a face part under hair or glasses "
        "is whatever was painted last, as in CelebAMask-HQ's own merged masks"
    )
    licence: ClassVar[str] = "CelebAMask-HQ: non-commercial research and educational use only"
    reference: ClassVar[str] = "switchablenorms/CelebAMask-HQ face_parsing/Data_preprocessing/g_mask.py"

    def find_faces(self, split: str | None) -> list[LabelledFace]:
        faces = []
        for name, folder in split_dirs(self.root, self.splits, split):
            if not _has_dirs(folder, "images", "masks"):
                if split is None and (folder / "images").is_dir():
                    continue  # e.g. a test split released without masks
                raise SourceError(f"{self.title} split folder {folder} needs images/ and masks/")
            images = sorted((folder / "images").glob("*.jpg"))
            faces += _pairs(images, {p: folder / "masks" / f"{p.stem}.png" for p in images}, name)
        return faces


# Detection: cheap looks at the folder names and at most one label file.
def looks_like_lapa(root: Path) -> bool:
    folders = (root, *(root / s for s in LaPa.splits))
    return any(_has_dirs(f, "images", "labels") and next((f / "labels").glob("*.png"), None) for f in folders)


def looks_like_helen_smith(root: Path) -> bool:
    return any((root / name).is_file() for name in SMITH_SPLIT_FILES.values()) and _has_dirs(root, "images", "labels")


def looks_like_helenstar(root: Path) -> bool:
    folders = (root, *(root / s for s in HelenStar.splits))
    return any(folder.is_dir() and next(folder.glob("*_label.png"), None) is not None for folder in folders)


def looks_like_ibugmask(root: Path) -> bool:
    for folder in (root, *(root / s for s in IBugMask.splits)):
        if folder.is_dir():
            for image, _ in zip(folder.glob("*.jpg"), range(20), strict=False):
                if not image.stem.endswith("_image") and image.with_suffix(".png").is_file():
                    return True
    return False


def mask_kind(root: Path) -> str | None:
    """What the first mask of an ``images/`` + ``masks/`` folder (or of its split folders) holds:
    ``palette`` (a palette PNG: the challenge layout), ``ids`` (grey with values other than 0/1/255),
    ``binary`` (0/1 or 0/255: a face folder), or None (no such folder)."""
    for folder in (root, *(root / s for s in CelebAMaskChallenge.splits)):
        if _has_dirs(folder, "images", "masks"):
            first = next(iter(sorted((folder / "masks").glob("*.png"))), None)
            if first is None:
                return "binary"
            try:
                with Image.open(first) as image:
                    if image.mode == "P":
                        return "palette"
                values = set(np.unique(read_index_map(first)).tolist())
            except (OSError, SourceError):
                return "binary"  # not an index map: the face folder reader names the file and the fix
            return "binary" if values <= {0, 1} or values <= {0, 255} else "ids"
    return None
