"""Image and mask file I/O: the edge where files become contract arrays (see :mod:`occgen.core.arrays`).

Decoding uses OpenCV (fast JPEG/PNG); every failure names the file and what to do about it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from occgen.core.errors import ImageReadError, StoreError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def _decode(path: Path, flags: int) -> np.ndarray:
    if not path.is_file():
        raise ImageReadError(f"file not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    decoded = cv2.imdecode(data, flags) if data.size else None
    if decoded is None:
        raise ImageReadError(f"cannot decode {path}: the file is empty or corrupt; replace or remove it")
    return decoded


def read_image(path: Path) -> np.ndarray:
    """Read an image file as ``uint8 (H, W, 3)`` RGB (grey and RGBA files are converted)."""
    decoded = _decode(Path(path), cv2.IMREAD_UNCHANGED)
    if decoded.dtype != np.uint8:
        raise ImageReadError(f"{path}: expected an 8-bit image, got {decoded.dtype}; convert it to 8 bits")
    if decoded.ndim == 2:
        return cv2.cvtColor(decoded, cv2.COLOR_GRAY2RGB)
    if decoded.shape[2] == 4:
        return cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def read_rgba(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an image with alpha: ``(uint8 (H, W, 3) RGB, float32 (H, W) alpha in [0, 1])``.

    Files without an alpha channel raise: an occluder cut-out needs one.
    """
    decoded = _decode(Path(path), cv2.IMREAD_UNCHANGED)
    if decoded.dtype != np.uint8 or decoded.ndim != 3 or decoded.shape[2] != 4:
        raise ImageReadError(f"{path}: expected an 8-bit RGBA image (PNG with alpha), got {decoded.shape}")
    rgb = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGB)
    alpha = decoded[:, :, 3].astype(np.float32) / 255.0
    return rgb, alpha


def read_binary_mask(path: Path) -> np.ndarray:
    """Read a label mask as ``uint8 (H, W)`` in {0, 1}.

    Accepts 0/1 and 0/255 files (and colour files whose channels agree, as CelebAMask-HQ ships some).
    Any other value is an error rather than a silent threshold.
    """
    decoded = _decode(Path(path), cv2.IMREAD_UNCHANGED)
    if decoded.ndim == 3:
        decoded = decoded[:, :, :3].max(axis=2)
    if decoded.dtype == np.uint8:  # the usual case, without np.unique's sort (about 1 ms at 512²)
        if decoded.size == 0 or int(decoded.max()) <= 1:
            return decoded
        on = decoded == 255
        if cv2.countNonZero(decoded) == cv2.countNonZero(on.view(np.uint8)):
            return on.view(np.uint8)
    values = np.unique(decoded)
    if values.size and values.max() <= 1:
        return decoded.astype(np.uint8)
    if np.all(np.isin(values, (0, 255))):
        return (decoded == 255).astype(np.uint8)
    raise ImageReadError(
        f"{path}: a mask must hold 0/1 or 0/255, found values {values[:8].tolist()}"
        f"{'...' if values.size > 8 else ''}; binarise it first"
    )


def read_labels(path: Path) -> np.ndarray:
    """Read a single-channel label map (e.g. parsing ids) as ``uint8 (H, W)``, values unchanged."""
    decoded = _decode(Path(path), cv2.IMREAD_UNCHANGED)
    if decoded.ndim != 2 or decoded.dtype != np.uint8:
        raise ImageReadError(f"{path}: a label map must be a single-channel 8-bit PNG, got {decoded.shape} "
                             f"{decoded.dtype}")  # fmt: skip
    return decoded


def encode_png(array: np.ndarray, what: str = "an image") -> bytes:
    """PNG bytes of ``uint8 (H, W)`` grey, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA."""
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise StoreError(f"cannot encode PNG for {what}")
    return encoded.tobytes()


def write_png(path: Path, array: np.ndarray) -> None:
    """Write ``uint8 (H, W)`` grey, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA as PNG."""
    path = Path(path)
    encoded = encode_png(array, str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encoded)
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror}; choose a writable path") from error


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an image to ``(width, height)``: area filter when shrinking, cubic when enlarging."""
    width, height = size
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrinking = width < image.shape[1] and height < image.shape[0]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a label map to ``(width, height)`` with nearest neighbour: labels are never interpolated."""
    width, height = size
    if labels.shape[1] == width and labels.shape[0] == height:
        return labels
    return cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
