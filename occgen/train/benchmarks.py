"""Real-occlusion benchmarks in the layouts their authors release: ``occgen evaluate --benchmark NAME --data DIR``.

Where it sits: the evaluation stage (train layer). Each benchmark reads its own released folder as it is (no
conversion step) and yields :class:`~occgen.train.evaluate.EvalItem` s, scored by
:func:`~occgen.train.evaluate.evaluate_model` like any folder. ``--data`` without ``--benchmark`` keeps the
detection of :func:`~occgen.train.evaluate.open_eval_data`. The layouts, with where each fact comes from:

- ``realocc`` / ``realocc-wild`` (Voo, Jiang, Loy, CVPRW 2022; the authors' Google Drive linked from
  github.com/kennyvoo/face-occlusion-generation): ``image/<id>.jpg``, ``mask/<id>.png`` (0/1, 1 = visible face)
  and ``split/val.txt`` (one id per line: the images scored). RealOcc's layout is the one the MMSegmentation
  configs of the paper's benchmark read (``img_dir='RealOcc/image'``, ``ann_dir='RealOcc/mask'``,
  ``split='RealOcc/split/val.txt'``, ``.jpg`` images, ``.png`` masks); RealOcc-Wild ships from the same drive
  and is read the same way. Without ``split/val.txt`` every image is scored.
- ``cofw``: FaceOcc's re-labelled COFW test set, ``COFW_test/img/*`` + ``COFW_test/mask/<stem>.png`` (0/255,
  255 = visible face; :mod:`occgen.sources.faceocc`). FaceOcc's authors test on it.
- ``maskedface-net``: the MaskedFace-Net segmentation release (github.com/baskoroadiw/MaskedFaceSegmentation-Dataset:
  500 MaskedFace-Net images at 1024²), ``testing/{CWM,IWM}/images/<id>.jpg`` +
  ``testing/{CWM,IWM}/masks/<id>_gt.png``: colour label maps, black background, (128, 0, 0) face, (0, 128, 0)
  face mask. The occluder type is the folder: ``CWM`` correctly worn mask, ``IWM`` incorrectly worn mask.
- ``faceocc``: FaceOcc's own hand-labelled real occlusions on FFHQ faces, ``ffhq/<stem>.png`` (RGBA: the
  occluded face, alpha = its occlusion) + ``ffhqMask/<stem>.pkl`` (CelebAMask-HQ label map); the visible face
  is labels 1..10 (eyeglasses included, as the authors' real data counts them) where alpha < 0.5. The authors
  train on these (and test on ``cofw``): score a FaceOcc-trained model on them only knowing that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from occgen.core.errors import ArrayContractError, ConfigError, SourceError
from occgen.core.files import require_dir
from occgen.core.imageio import IMAGE_SUFFIXES, read_binary_mask, read_image, read_rgba
from occgen.sources.faceocc import face_from_labels, load_label_pickle
from occgen.train.evaluate import EvalItem, EvalResult, ProgressCallback, cofw_test_pairs, read_prediction
from occgen.train.metrics import binarize_truth

EvalData = tuple[int, Iterator[EvalItem]]

#: MaskedFace-Net segmentation colours (RGB) and what they are.
MASKEDFACE_FACE_RGB = (128, 0, 0)
MASKEDFACE_MASK_RGB = (0, 128, 0)
MASKEDFACE_TYPES = ("CWM", "IWM")


@dataclass(frozen=True)
class Pair:
    """One benchmark image: its id, image path, ground-truth path and occluder type ("" when not stated)."""

    item_id: str
    image: Path
    truth: Path
    occluder: str = ""


def _images_by_stem(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def _wrong_folder(root: Path, name: str, layout: str) -> SourceError:
    return SourceError(f"{root}: not a {name} folder; expected {layout}")


def _check_size(image: np.ndarray, truth: np.ndarray, pair: Pair) -> None:
    if image.shape[:2] != truth.shape:
        raise SourceError(
            f"mask {pair.truth} is {truth.shape[1]}x{truth.shape[0]} but image {pair.image} is "
            f"{image.shape[1]}x{image.shape[0]}: a mask must match its image"
        )


def _items(pairs: list[Pair], read_truth: Callable[[Path], np.ndarray]) -> EvalData:
    def items() -> Iterator[EvalItem]:
        for pair in pairs:
            image, truth = read_image(pair.image), read_truth(pair.truth)
            _check_size(image, truth, pair)
            yield EvalItem(pair.item_id, truth, image, str(pair.image), pair.occluder)

    return len(pairs), items()


# RealOcc / RealOcc-Wild --------------------------------------------------------------------------------------

REALOCC_LAYOUT = "image/<id>.jpg, mask/<id>.png (0/1) and optionally split/val.txt"


def realocc_pairs(root: Path, folder_name: str = "RealOcc") -> list[Pair]:
    """The scored ``(image, mask)`` pairs of a RealOcc(-Wild) folder (or a parent holding ``folder_name``)."""
    if not (root / "image").is_dir() and (root / folder_name / "image").is_dir():
        root = root / folder_name
    if not (root / "image").is_dir() or not (root / "mask").is_dir():
        raise _wrong_folder(root, folder_name, f"{REALOCC_LAYOUT} (or a parent folder holding {folder_name}/)")
    images, masks = _images_by_stem(root / "image"), _images_by_stem(root / "mask")
    split = root / "split" / "val.txt"
    if split.is_file():
        ids = [line.strip() for line in split.read_text().splitlines() if line.strip()]
        ids = [Path(i).stem if Path(i).suffix.lower() in IMAGE_SUFFIXES else i for i in ids]
        missing = [i for i in ids if i not in images]
        if missing:
            raise SourceError(
                f"{split} lists {len(missing)} id(s) with no image in {root / 'image'} (e.g. {missing[0]})"
            )
    else:
        ids = sorted(images)
    if not ids:
        raise SourceError(f"{root / 'image'}: no image; expected {REALOCC_LAYOUT}")
    no_mask = [i for i in ids if i not in masks]
    if no_mask:
        raise SourceError(
            f"{root / 'image' / images[no_mask[0]].name}: no mask {root / 'mask' / (no_mask[0] + '.png')}"
        )
    return [Pair(i, images[i], masks[i]) for i in ids]


def read_index_mask(path: Path) -> np.ndarray:
    """A 0/1 (or 0/255) face mask as bool (H, W). A palette PNG is read as its indices, as MMSegmentation (whose
    face-occlusion configs read RealOcc) reads annotations: 1 = face whatever colour the palette gives it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode != "P":
                return read_binary_mask(path).astype(bool)
            indices = np.asarray(image)
    except (OSError, UnidentifiedImageError) as error:
        raise SourceError(f"cannot read mask {path}: {error}") from error
    try:
        return binarize_truth(indices, str(path))
    except ArrayContractError as error:
        raise SourceError(f"{error}; expected 0/1 (1 = visible face)") from error


def open_realocc(root: Path) -> EvalData:
    return _items(realocc_pairs(root, "RealOcc"), read_index_mask)


def open_realocc_wild(root: Path) -> EvalData:
    return _items(realocc_pairs(root, "RealOcc-Wild"), read_index_mask)


# COFW (FaceOcc's COFW_test) ---------------------------------------------------------------------------------

COFW_LAYOUT = "img/<stem>.* + mask/<stem>.png (0/255) in COFW_test/, or a FaceOcc root holding COFW_test/"


def open_cofw(root: Path) -> EvalData:
    if (root / "COFW_test").is_dir():
        root = root / "COFW_test"
    if not (root / "img").is_dir() or not (root / "mask").is_dir():
        raise _wrong_folder(root, "COFW_test", COFW_LAYOUT)
    pairs = [Pair(image.stem, image, mask) for image, mask in cofw_test_pairs(root)]
    return _items(pairs, lambda p: read_binary_mask(p).astype(bool))


# MaskedFace-Net segmentation ----------------------------------------------------------------------------------

MASKEDFACE_LAYOUT = "testing/{CWM,IWM}/images/<id>.jpg + testing/{CWM,IWM}/masks/<id>_gt.png (colour label maps)"


def maskedface_pairs(root: Path) -> list[Pair]:
    """Pairs of the release's ``testing/`` part (or of the ``testing``/``training`` folder given itself)."""
    if (root / "testing").is_dir():
        root = root / "testing"
    kinds = [kind for kind in MASKEDFACE_TYPES if (root / kind / "images").is_dir()]
    if not kinds:
        raise _wrong_folder(root, "MaskedFace-Net segmentation", MASKEDFACE_LAYOUT)
    pairs: list[Pair] = []
    for kind in kinds:
        masks = root / kind / "masks"
        for stem, image in _images_by_stem(root / kind / "images").items():
            mask = masks / f"{stem}_gt.png"
            if not mask.is_file():
                raise SourceError(f"{image}: no mask {mask}; expected {MASKEDFACE_LAYOUT}")
            pairs.append(Pair(f"{kind}/{stem}", image, mask, kind))
    if not pairs:
        raise SourceError(f"{root}: no image in {'/, '.join(kinds)}/images; expected {MASKEDFACE_LAYOUT}")
    return pairs


def maskedface_face(path: Path) -> np.ndarray:
    """The visible face (bool (H, W)) of a MaskedFace-Net label map: its (128, 0, 0) pixels. Any colour other
    than background, face and face mask is an error naming the file (the release has exactly these three)."""
    labels = read_image(path)  # RGB

    def colour(rgb: tuple[int, int, int]) -> np.ndarray:
        return cv2.inRange(labels, rgb, rgb)  # 255 where the pixel is exactly that colour

    face = colour(MASKEDFACE_FACE_RGB)
    known = cv2.bitwise_or(cv2.bitwise_or(face, colour(MASKEDFACE_MASK_RGB)), colour((0, 0, 0)))
    if cv2.countNonZero(known) != known.size:
        other = labels[known == 0][0].tolist()
        raise SourceError(
            f"{path}: colour {other} is none of background (0, 0, 0), face {MASKEDFACE_FACE_RGB} and face mask "
            f"{MASKEDFACE_MASK_RGB}; is it a MaskedFace-Net segmentation label map?"
        )
    return face > 0


def open_maskedface_net(root: Path) -> EvalData:
    return _items(maskedface_pairs(root), maskedface_face)


# FaceOcc's own labelled real occlusions -----------------------------------------------------------------------

FACEOCC_LAYOUT = "ffhq/<stem>.png (RGBA) + ffhqMask/<stem>.pkl (label map) in a FaceOcc root"


def faceocc_pairs(root: Path) -> list[Pair]:
    if not (root / "ffhq").is_dir() or not (root / "ffhqMask").is_dir():
        raise _wrong_folder(root, "FaceOcc", FACEOCC_LAYOUT)
    pairs = []
    for stem, image in _images_by_stem(root / "ffhq").items():
        labels = root / "ffhqMask" / f"{stem}.pkl"
        if not labels.is_file():
            raise SourceError(f"{image}: no label map {labels}; expected {FACEOCC_LAYOUT}")
        pairs.append(Pair(stem, image, labels))
    if not pairs:
        raise SourceError(f"{root / 'ffhq'}: no image; expected {FACEOCC_LAYOUT}")
    return pairs


def open_faceocc_real(root: Path) -> EvalData:
    pairs = faceocc_pairs(root)

    def items() -> Iterator[EvalItem]:
        for pair in pairs:
            image, alpha = read_rgba(pair.image)
            labels = load_label_pickle(pair.truth)
            if labels.shape != alpha.shape:
                raise SourceError(f"{pair.truth}: label map {labels.shape} and image {alpha.shape} differ in size")
            truth = face_from_labels(labels, eye_glasses_are_face=True).astype(bool) & (alpha < 0.5)
            yield EvalItem(pair.item_id, truth, image, str(pair.image))

    return len(pairs), items()


# The registry -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: its name on the command line, what it is, its layout (for errors and docs) and its reader."""

    name: str
    description: str
    layout: str
    read: Callable[[Path], EvalData]


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("realocc", "RealOcc: 550 aligned real occluded faces (NatOcc paper)", f"RealOcc/{{{REALOCC_LAYOUT}}}",
                  open_realocc),
        Benchmark("realocc-wild", "RealOcc-Wild: 270 in-the-wild photographs (NatOcc paper)",
                  f"RealOcc-Wild/{{{REALOCC_LAYOUT}}}", open_realocc_wild),
        Benchmark("cofw", "COFW test re-labelled with face masks by FaceOcc (507 images)", COFW_LAYOUT, open_cofw),
        Benchmark("maskedface-net", "MaskedFace-Net segmentation test part (50 images, CWM/IWM)", MASKEDFACE_LAYOUT,
                  open_maskedface_net),
        Benchmark("faceocc", "FaceOcc's hand-labelled real occlusions on FFHQ faces", FACEOCC_LAYOUT,
                  open_faceocc_real),
    )
}  # fmt: skip


def open_benchmark(name: str, root: Path | str) -> EvalData:
    """``(count, items)`` of benchmark ``name`` read from its released folder ``root``."""
    benchmark = BENCHMARKS.get(name.lower())
    if benchmark is None:
        raise ConfigError(f"unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}")
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"{benchmark.name} data not found: {root}; pass the folder holding {benchmark.layout}")
    return benchmark.read(root)


def evaluate_benchmark_predictions(
    items: Iterator[EvalItem],
    pred_dir: Path,
    *,
    threshold: float = 0.5,
    worst_k: int = 8,
    tile_px: int = 160,
    on_progress: ProgressCallback | None = None,
) -> EvalResult:
    """Score another model's masks on a benchmark: ``pred_dir/<id>.png`` (any image suffix) per benchmark item,
    at the ground truth's size (``<id>`` may hold a subfolder, e.g. MaskedFace-Net's ``CWM/03042``)."""
    pred_dir = require_dir(Path(pred_dir), "prediction folder", "pass the folder of predicted <id>.png masks")
    result = EvalResult()
    for item in items:
        found = [pred_dir / f"{item.item_id}{suffix}" for suffix in IMAGE_SUFFIXES]
        pred_path = next((path for path in found if path.is_file()), None)
        if pred_path is None:
            expected = pred_dir / f"{item.item_id}.png"
            raise SourceError(f"{item.source}: no prediction {expected} (predictions are named by benchmark id)")
        pred = read_prediction(pred_path, threshold)
        if pred.shape != item.truth.shape:
            raise SourceError(
                f"prediction {pred_path} is {pred.shape[1]}x{pred.shape[0]} but {item.source} is "
                f"{item.truth.shape[1]}x{item.truth.shape[0]}: masks must have the same size (no silent resize)"
            )
        result.add(item, pred, worst_k=worst_k, tile_px=tile_px)
        if on_progress:
            on_progress(1)
    return result
