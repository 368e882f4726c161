"""The FaceOcc dataset (Yin & Chen 2022, arXiv 2201.08425) in its published on-disk layout.

Where it sits: a source (below recipes). :func:`open_faceocc` scans a ``FaceOcc`` folder once, counts every
file and reports the unreadable ones; :class:`FaceOcc` then loads its parts as contract arrays
(``uint8 (H, W, 3)`` RGB, ``float32 (H, W)`` alpha in [0, 1], ``uint8 (H, W)`` masks). Facts about the layout
come from the authors' code (face3d0725/FaceExtraction @ e75d4a8, cited ``file:line``):

    FaceOcc/
      CelebAHQ/<celebahq id>.png   RGBA 256²: RGB = the aligned occluded face, alpha = its labelled occlusion
                                   (dataset.py:23,115); its label map lives outside FaceOcc, in the locally made
                                   CelebAMask-HQ-align/<id>.pkl (dataset.py:116,120)
      ffhq/<stem>.png              RGBA 256², like CelebAHQ (dataset.py:24)
      ffhqMask/<stem>.pkl          pickled numpy label map (CelebAMask-HQ indices) per ffhq image (dataset.py:116-118)
      internet/<type>/*.png        RGBA occluder cut-outs in the aligned frame; a type containing "mask" gets the
                                   face-mask treatment (dataset.py:25,55,61)
      texture/*                    texture images, replacing occluder colours (dataset.py:26,60-70)
      COFW_test/img/*              the evaluation images (dataset.py:19,145)
      COFW_test/mask/<stem>.png    0/255, 255 = visible face (dataset.py:154-156; evaluation_cofw.py:46)

Pickles downloaded from the internet can run code when loaded, so ``*.pkl`` files are read by
:func:`load_label_pickle`, an unpickler that admits numpy arrays and nothing else.

Licence (README.md:43-50 of the authors' repo): the dataset and pretrained model are under the MIT licence. The
CelebAHQ/ffhq PNGs embed CelebA-HQ and FFHQ images and the labels derive from CelebAMask-HQ, which keep their
own (non-commercial / CC BY-NC-SA) terms; recorded in :data:`FACEOCC_LICENCE`.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ImageReadError, SourceError
from occgen.core.files import require_dir
from occgen.core.fingerprint import fingerprint_files
from occgen.core.imageio import IMAGE_SUFFIXES, read_binary_mask, read_image, read_rgba

FACEOCC_LICENCE = (
    "FaceOcc dataset: MIT licence (face3d0725/FaceExtraction README.md:43-50); the CelebAHQ/ffhq images and "
    "label maps derive from CelebA-HQ, FFHQ and CelebAMask-HQ, which keep their own (non-commercial) terms"
)

#: CelebAMask-HQ label indices used by the FaceOcc label maps (process_CelebAMaskHQ.py:24,31): 1 skin,
#: 2 l_brow, 3 r_brow, 4 eye_g, 5 l_eye, 6 r_eye, 7 nose, 8 mouth, 9 u_lip, 10 l_lip, 11 hair, 12 hat.
EYE_GLASSES_LABEL = 4
LAST_FACE_LABEL = 10

#: The parts of the layout, in the order they are reported.
PARTS = ("CelebAHQ", "ffhq", "ffhqMask", "internet", "texture", "COFW_test/img", "COFW_test/mask")

# What the restricted unpickler admits: the functions numpy's own pickles of arrays and dtypes call.
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}: only numpy arrays are admitted")


def load_label_pickle(path: Path) -> np.ndarray:
    """A FaceOcc label map (``*.pkl``) as ``uint8 (H, W)`` CelebAMask-HQ indices, read without running code.

    The pickle must hold one 2-D numpy array of integral values 0..12 (float32 from PIL mode "F" is accepted,
    process_CelebAMaskHQ.py:79-82 / align.py:66-68). Anything else (other globals, other objects) raises a
    :class:`SourceError` naming the file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror}") from error
    try:
        value = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise SourceError(f"{path}: not a plain numpy label-map pickle ({error}); replace or remove the file") from None
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        kind = f"array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
        raise SourceError(f"{path}: expected a 2-D numpy label map, got {kind}")
    if value.dtype.kind not in "iuf" or value.size == 0:
        raise SourceError(f"{path}: expected a numeric label map, got dtype {value.dtype}")
    if not np.all(np.isfinite(value)) or value.min() < 0 or value.max() > 255 or np.any(value != np.round(value)):
        raise SourceError(f"{path}: label map values must be whole numbers 0..255 (CelebAMask-HQ indices)")
    return value.astype(np.uint8)


def face_from_labels(labels: np.ndarray, *, eye_glasses_are_face: bool) -> np.ndarray:
    """The face mask ``uint8 (H, W)`` in {0, 1} of a CelebAMask-HQ label map: labels 1..10 (utils.py:6-12).

    Eyeglasses (4) count as face for FaceOcc's real images, whose manual occlusion already covers them
    (utils.py:11; dataset.py:124), and as non-face for the synthetic base faces (utils.py:9).
    """
    face = (labels > 0) & (labels <= LAST_FACE_LABEL)
    if not eye_glasses_are_face:
        face &= labels != EYE_GLASSES_LABEL
    return face.astype(np.uint8)


@dataclass(frozen=True)
class Unreadable:
    path: str
    reason: str


@dataclass
class FaceOcc:
    """A scanned FaceOcc folder: the readable files of each part (sorted) and the unreadable ones.

    ``internet`` holds ``(type, path)`` pairs; ``ffhq_labels`` / ``celebahq_labels`` map a PNG stem to its
    label pickle; ``cofw`` holds ``(image, mask)`` pairs.
    """

    root: Path
    celebahq: list[Path] = field(default_factory=list)
    ffhq: list[Path] = field(default_factory=list)
    internet: list[tuple[str, Path]] = field(default_factory=list)
    textures: list[Path] = field(default_factory=list)
    cofw: list[tuple[Path, Path]] = field(default_factory=list)
    ffhq_labels: dict[str, Path] = field(default_factory=dict)
    celebahq_labels: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # every file found per part, readable or not
    unreadable: list[Unreadable] = field(default_factory=list)
    other_files: list[str] = field(default_factory=list)  # files outside the known parts (reported, unused)

    def describe(self) -> dict[str, Any]:
        files = [*self.celebahq, *self.ffhq, *(p for _, p in self.internet), *self.textures,
                 *(p for pair in self.cofw for p in pair), *self.ffhq_labels.values(),
                 *self.celebahq_labels.values()]  # fmt: skip
        types: dict[str, int] = {}
        for kind, _ in self.internet:
            types[kind] = types.get(kind, 0) + 1
        return {
            "kind": "faceocc", "root": str(self.root), "licence": FACEOCC_LICENCE,
            "files": dict(self.counts), "internet_types": types,
            "usable": {"celebahq": len(self.celebahq), "ffhq": len(self.ffhq), "internet": len(self.internet),
                       "texture": len(self.textures), "cofw_test": len(self.cofw),
                       "ffhq_labels": len(self.ffhq_labels), "celebahq_labels": len(self.celebahq_labels)},
            "unreadable": [{"path": u.path, "reason": u.reason} for u in self.unreadable],
            "other_files": list(self.other_files),
            "fingerprint": fingerprint_files(self.root, files),
        }  # fmt: skip

    def occluder(self, path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
        """An RGBA file of the aligned frame at ``size``²: ``(uint8 (S, S, 3), float32 (S, S) alpha)``."""
        rgb, alpha = read_rgba(path)
        return fit_frame(rgb, alpha, size, path)

    def texture(self, path: Path, size: int) -> np.ndarray:
        """A texture resized to ``size``² (INFERRED to be 256², see module docstring)."""
        return cv2.resize(read_image(path), (size, size), interpolation=cv2.INTER_AREA)

    def labels(self, png: Path) -> np.ndarray | None:
        """The label map of a CelebAHQ/ffhq PNG, or None when there is none."""
        table = self.ffhq_labels if png.parent.name == "ffhq" else self.celebahq_labels
        label_path = table.get(png.stem)
        return None if label_path is None else load_label_pickle(label_path)

    def cofw_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """COFW_test image ``uint8 (H, W, 3)`` and visible-face mask ``uint8 (H, W)`` in {0, 1}."""
        image_path, mask_path = self.cofw[index]
        image, mask = read_image(image_path), read_binary_mask(mask_path)
        if image.shape[:2] != mask.shape:
            raise SourceError(f"{mask_path}: mask {mask.shape} and image {image.shape[:2]} differ in size")
        return image, mask


def fit_frame(rgb: np.ndarray, alpha: np.ndarray, size: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Resize a square aligned-frame RGBA pair to ``size``² (nearest for alpha, so no new alpha values)."""
    if rgb.shape[0] != rgb.shape[1]:
        raise SourceError(f"{path}: FaceOcc files are square aligned frames (256²), got {rgb.shape[:2]}")
    if rgb.shape[0] != size:
        interp = cv2.INTER_AREA if rgb.shape[0] > size else cv2.INTER_LINEAR
        rgb = cv2.resize(rgb, (size, size), interpolation=interp)
        alpha = cv2.resize(alpha, (size, size), interpolation=cv2.INTER_NEAREST)
    return rgb, alpha


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []


def _check_rgba(path: Path) -> str | None:
    try:
        rgb, _ = read_rgba(path)
    except ImageReadError as error:
        return str(error)
    if rgb.shape[0] != rgb.shape[1]:
        return f"expected a square aligned frame, got {rgb.shape[:2]}"
    return None


def _check(reader: Any, path: Path) -> str | None:
    try:
        reader(path)
    except (ImageReadError, SourceError) as error:
        return str(error)
    return None


def cofw_mask_name(image: Path) -> str:
    """The mask file name of a COFW_test image: ``name.split('.')[0] + '.png'`` (dataset.py:154)."""
    return image.name.split(".")[0] + ".png"


def cofw_pairs(folder: Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """``(image, mask)`` pairs of a ``COFW_test`` folder (``img/`` + ``mask/``) and the images without a mask."""
    masks = {p.name: p for p in _files(Path(folder) / "mask")}
    pairs, missing = [], []
    for image in _files(Path(folder) / "img"):
        mask = masks.get(cofw_mask_name(image))
        if mask is None:
            missing.append(image)
        else:
            pairs.append((image, mask))
    return pairs, missing


def open_faceocc(root: Path, *, celebahq_labels: Path | None = None, verify: bool = True) -> FaceOcc:
    """Scan a ``FaceOcc`` folder: count every file, decode each one (``verify``) and keep the readable ones.

    ``celebahq_labels`` is the folder of ``<id>.pkl`` label maps of the CelebAHQ part (the authors make it
    locally as ``CelebAMask-HQ-align``, process_CelebAMaskHQ.py:18); by default the sibling folder
    ``<root>/../CelebAMask-HQ-align`` when it exists. Unreadable files are listed in ``unreadable``, not
    raised: the caller decides (the recipe refuses them unless told to skip).
    """
    root = require_dir(Path(root), "FaceOcc folder", "pass the folder holding CelebAHQ/, ffhq/, internet/, texture/")
    found = [part for part in ("CelebAHQ", "ffhq", "internet", "texture", "COFW_test") if (root / part).is_dir()]
    if not found:
        raise SourceError(
            f"{root} does not look like FaceOcc: none of CelebAHQ/, ffhq/, internet/, texture/, COFW_test/ is in it"
        )
    out = FaceOcc(root=root)

    def keep(path: Path, problem: str | None) -> bool:
        if problem is not None:
            shown = path.relative_to(root) if path.is_relative_to(root) else path
            out.unreadable.append(Unreadable(str(shown), problem))
        return problem is None

    def rgba_ok(path: Path) -> bool:
        return keep(path, _check_rgba(path) if verify else None)

    celebahq = _files(root / "CelebAHQ")
    ffhq = _files(root / "ffhq")
    pickles = _files(root / "ffhqMask")
    internet = [(d.name, p) for d in sorted(p for p in (root / "internet").glob("*") if p.is_dir()) for p in _files(d)]
    textures = _files(root / "texture")
    cofw_images = _files(root / "COFW_test" / "img")
    cofw_masks = _files(root / "COFW_test" / "mask")
    out.counts = {
        "CelebAHQ": len(celebahq), "ffhq": len(ffhq), "ffhqMask": len(pickles), "internet": len(internet),
        "texture": len(textures), "COFW_test/img": len(cofw_images), "COFW_test/mask": len(cofw_masks),
    }  # fmt: skip
    known = {*celebahq, *ffhq, *pickles, *(p for _, p in internet), *textures, *cofw_images, *cofw_masks}
    out.other_files = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p not in known and not p.name.startswith(".")
    )
    out.celebahq = [p for p in celebahq if rgba_ok(p)]
    out.ffhq = [p for p in ffhq if rgba_ok(p)]
    out.internet = [(kind, p) for kind, p in internet if rgba_ok(p)]
    out.textures = [p for p in textures if p.suffix.lower() in IMAGE_SUFFIXES and keep(
        p, _check(read_image, p) if verify else None)]  # fmt: skip
    for path in textures:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            keep(path, f"not an image file (suffixes: {', '.join(IMAGE_SUFFIXES)})")
    out.ffhq_labels = {p.stem: p for p in pickles if p.suffix == ".pkl" and keep(
        p, _check(load_label_pickle, p) if verify else None)}  # fmt: skip
    pairs, missing = cofw_pairs(root / "COFW_test")
    for image in missing:
        keep(image, f"no mask COFW_test/mask/{cofw_mask_name(image)}")
    for image, mask in pairs:
        if not verify or (keep(image, _check(read_image, image)) and keep(mask, _check(read_binary_mask, mask))):
            out.cofw.append((image, mask))
    labels_dir = celebahq_labels if celebahq_labels is not None else root.parent / "CelebAMask-HQ-align"
    if celebahq_labels is not None:
        require_dir(labels_dir, "CelebAHQ label folder", "pass the folder of <id>.pkl label maps (CelebAMask-HQ-align)")
    if labels_dir.is_dir():
        stems = {p.stem for p in out.celebahq}
        out.celebahq_labels = {
            p.stem: p for p in _files(labels_dir)
            if p.suffix == ".pkl" and p.stem in stems and keep(p, _check(load_label_pickle, p) if verify else None)
        }  # fmt: skip
    return out
