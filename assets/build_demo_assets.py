"""Rebuild the embedded demo assets in ``assets/demo/`` (faces and DTD-layout textures).

This is a developer tool, not part of occgen at run time. It needs scikit-image and matplotlib (the
``assets`` extra: ``pip install -e .[assets]``) because every image comes from sample data those two
packages ship; nothing is downloaded.

    python assets/build_demo_assets.py            # rewrites assets/demo/faces and assets/demo/dtd
    python assets/build_demo_assets.py --out DIR  # writes DIR/faces and DIR/dtd instead

Output:

- ``faces/images/<stem>.jpg`` (RGB 512x512, JPEG quality 95) and ``faces/masks/<stem>.png`` (uint8
  512x512, 0 = background, 255 = visible face), the "face folder" layout. The visible face follows the
  NatOcc definition: face skin, eyes, brows, nose, mouth and lips; not ears, hair (also hair on the
  forehead), neck, hats, glasses (even transparent ones), clothes or background. Each mask is a
  hand-placed polygon (constants below, in the coordinates of the 512x512 crop), trimmed near its
  border by a skin-colour test, hole-filled, smoothed, minus hand-placed glasses polygons.
- ``dtd/images/<category>/<category>_<nnnn>.jpg`` (RGB, 256..400 px, JPEG quality 90) and
  ``dtd/labels/{train1,val1,test1}.txt`` (one ``<category>/<file>.jpg`` per line), the DTD layout.

The script is deterministic: every random choice comes from ``numpy.random.default_rng`` seeded with
``SEED`` (never the global numpy state), JPEGs are written without metadata, so running it twice gives
byte-identical files (with the same numpy / OpenCV / Pillow / scikit-image versions).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SEED = 20240517
FACE_SIZE = 512
FACE_JPEG_QUALITY = 95
TEXTURE_JPEG_QUALITY = 90
DEFAULT_OUT = Path(__file__).resolve().parent / "demo"

Point = tuple[int, int]
Maker = Callable[[np.random.Generator], np.ndarray]  # makes one texture from its own generator


# --------------------------------------------------------------------------------------------------
# Faces
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceSpec:
    """How one demo face is cut out of its source photo and how its mask is drawn.

    ``crop`` is ``(x0, y0, side)`` in source pixels; all polygons are ``(x, y)`` in the 512x512 crop.
    ``outline`` is the visible-face outline (hairline / hat brim, cheeks in front of the ears, jaw line).
    ``excluded`` are polygons cut out of the face afterwards (glasses). The skin-colour trim only acts
    within ``trim_band`` pixels inside the outline and above row ``trim_max_row`` (below it the outline
    meets the neck, which has the same colour as the face, so the drawn jaw line is kept as is).
    """

    stem: str
    load: Callable[[], np.ndarray]
    crop: tuple[int, int, int]
    outline: tuple[Point, ...]
    excluded: tuple[tuple[Point, ...], ...] = ()
    trim_band: int = 8
    trim_max_row: int = FACE_SIZE
    trim_threshold: float = 3.0


def load_astronaut() -> np.ndarray:
    """Eileen Collins, NASA portrait (public domain), from ``skimage.data.astronaut()``."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., :3])


def load_grace_hopper() -> np.ndarray:
    """Grace Hopper, US Navy portrait (public domain), from matplotlib's sample data."""
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        return np.asarray(image.convert("RGB"))


FACES = (
    FaceSpec(
        stem="astronaut",
        load=load_astronaut,
        crop=(124, 14, 196),
        outline=(
            # hairline under the fringe, left to right
            (158, 188), (165, 180), (176, 173), (192, 170), (208, 168), (224, 166), (240, 168),
            (256, 171), (272, 172), (288, 174), (304, 178), (320, 182), (336, 186), (352, 192),
            (362, 200), (365, 212),
            # her left cheek, in front of the ear
            (368, 240), (373, 270), (375, 300), (372, 330), (365, 350), (356, 366),
            # jaw line and chin
            (348, 372), (336, 388), (320, 405), (304, 420), (288, 430), (272, 436), (256, 438),
            (240, 436), (224, 430), (208, 422), (192, 410), (176, 392), (163, 372),
            # her right cheek, in front of the ear
            (160, 345), (155, 320), (152, 285), (148, 255), (150, 225), (154, 205),
        ),
        trim_max_row=330,
    ),
    FaceSpec(
        stem="grace_hopper",
        load=load_grace_hopper,
        crop=(72, 24, 384),
        outline=(
            # hat brim and the grey hair at the temples, left to right
            (150, 172), (160, 158), (176, 150), (192, 145), (224, 142), (256, 142), (288, 144),
            (320, 150), (336, 157), (352, 168), (366, 182), (374, 198),
            # her left cheek, in front of the ear and the hair below it
            (376, 220), (372, 245), (370, 275), (366, 305), (360, 330), (352, 352), (347, 368),
            # jaw line and chin, down to the collar
            (344, 384), (336, 386), (320, 393), (304, 399), (288, 403), (272, 405), (256, 405),
            (240, 403), (224, 400), (208, 395), (192, 390), (178, 383),
            # her right cheek, in front of the ear
            (174, 370), (168, 350), (162, 330), (158, 300), (155, 270), (150, 245), (146, 220),
            (145, 195),
        ),
        excluded=(
            # right lens (image left) with its frame
            (
                (140, 203), (160, 200), (190, 200), (215, 202), (236, 207), (243, 218), (244, 240),
                (241, 258), (229, 271), (208, 279), (185, 279), (164, 271), (151, 259), (146, 240),
                (142, 225),
            ),
            # bridge
            ((236, 207), (282, 205), (282, 227), (242, 227)),
            # left lens (image right) with its frame
            (
                (280, 206), (300, 198), (330, 196), (355, 194), (379, 195), (383, 210), (373, 226),
                (369, 245), (361, 263), (346, 275), (322, 281), (299, 278), (284, 266), (277, 246),
                (277, 225),
            ),
        ),
        trim_max_row=385,
    ),
)  # fmt: skip


def crop_square(image: np.ndarray, crop: tuple[int, int, int], size: int = FACE_SIZE) -> np.ndarray:
    """Cut the square ``(x0, y0, side)`` out of ``image`` and resize it to ``size`` x ``size``."""
    x0, y0, side = crop
    if x0 < 0 or y0 < 0 or y0 + side > image.shape[0] or x0 + side > image.shape[1]:
        raise ValueError(f"crop {crop} does not fit in an image of shape {image.shape}")
    square = image[y0 : y0 + side, x0 : x0 + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interpolation)


def polygon_mask(points: tuple[Point, ...], size: int = FACE_SIZE) -> np.ndarray:
    """Boolean (size, size) mask of a filled polygon."""
    canvas = np.zeros((size, size), np.uint8)
    cv2.fillPoly(canvas, [np.array(points, np.int32)], 1, lineType=cv2.LINE_8)
    return canvas.astype(bool)


def disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def skin_distance(image: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of every pixel's chroma (Lab a*, b*) to the skin sampled under ``sample``.

    The sample is made robust by keeping its 80 % of pixels nearest the median (drops eyes, brows,
    lips, glasses frames) before the mean and covariance are taken.
    """
    chroma = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 1:].astype(np.float64)
    pixels = chroma[sample]
    centred = pixels - np.median(pixels, axis=0)
    spread = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(np.cov(centred.T)), centred)
    pixels = pixels[spread <= np.quantile(spread, 0.8)]
    mean, inverse = pixels.mean(axis=0), np.linalg.inv(np.cov(pixels.T))
    delta = chroma - mean
    return np.sqrt(np.einsum("hwj,jk,hwk->hw", delta, inverse, delta))


def largest_component(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    if count <= 1:
        return mask.astype(bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill every background region not connected to the image border."""
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    return (padded | (1 - flood)).astype(bool)[1:-1, 1:-1]


def smooth(mask: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Round off single-pixel notches: blur and re-threshold at one half."""
    blurred = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    return blurred >= 0.5


def face_mask(image: np.ndarray, spec: FaceSpec) -> np.ndarray:
    """The visible-face mask of the cropped ``image`` as uint8 {0, 255}."""
    outline = polygon_mask(spec.outline)
    excluded = np.zeros_like(outline)
    for polygon in spec.excluded:
        excluded |= polygon_mask(polygon)
    inner = cv2.erode(outline.astype(np.uint8), disk(spec.trim_band)).astype(bool)
    sample = cv2.erode(outline.astype(np.uint8), disk(20)).astype(bool) & ~excluded
    is_skin = skin_distance(image, sample) < spec.trim_threshold
    is_skin[spec.trim_max_row :] = True
    mask = outline & (inner | is_skin)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, disk(2)).astype(bool)
    mask = smooth(fill_holes(largest_component(mask)))
    mask &= ~excluded
    return np.where(mask, 255, 0).astype(np.uint8)


def build_faces(out: Path) -> list[Path]:
    written = []
    for spec in FACES:
        image = crop_square(spec.load(), spec.crop)
        mask = face_mask(image, spec)
        written.append(write_jpeg(out / "faces" / "images" / f"{spec.stem}.jpg", image, FACE_JPEG_QUALITY))
        written.append(write_mask(out / "faces" / "masks" / f"{spec.stem}.png", mask))
    return written


# --------------------------------------------------------------------------------------------------
# Textures
# --------------------------------------------------------------------------------------------------


def random_colours(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` saturated colours with well-spread hues, uint8 (count, 3) RGB."""
    hues = (rng.uniform(0, 180) + np.arange(count) * 180 / count + rng.uniform(-12, 12, count)) % 180
    saturation, value = rng.uniform(140, 255, count), rng.uniform(120, 255, count)
    hsv = np.stack([hues, saturation, value], axis=-1).astype(np.uint8)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0]


def supersampled(size: int, draw: Callable[[int], np.ndarray], factor: int = 2) -> np.ndarray:
    """Draw at ``factor`` times the size and shrink, for anti-aliased edges."""
    big = draw(size * factor)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


def add_grain(image: np.ndarray, rng: np.random.Generator, sigma: float = 5.0) -> np.ndarray:
    """Mild Gaussian grain so the flat synthetic colours look less like clip art."""
    noisy = image.astype(np.float32) + rng.normal(0, sigma, image.shape[:2])[..., None]
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def coordinates(size: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel grids rotated by ``angle`` radians."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    return x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)


def value_noise(rng: np.random.Generator, size: int, octaves: int = 5) -> np.ndarray:
    """Fractal value noise in [0, 1]: bicubically upsampled random grids, halving amplitude per octave."""
    total = np.zeros((size, size), np.float64)
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        grid = rng.random((cells + 1, cells + 1))
        total += cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC) / 2**octave
    return (total - total.min()) / (total.max() - total.min())


def striped(rng: np.random.Generator, size: int) -> np.ndarray:
    colours = random_colours(rng, 3)
    angle, period = rng.uniform(0, np.pi), rng.uniform(24, 48)
    widths = rng.dirichlet([2, 2, 2])

    def draw(n: int) -> np.ndarray:
        u, _ = coordinates(n, angle)
        phase = (u / (period * n / size)) % 1
        index = np.searchsorted(np.cumsum(widths)[:-1], phase, side="right")
        return colours[index]

    return supersampled(size, draw)


def chequered(rng: np.random.Generator, size: int) -> np.ndarray:
    colours = random_colours(rng, 2)
    angle, cell = rng.uniform(0, np.pi / 2), rng.uniform(28, 52)

    def draw(n: int) -> np.ndarray:
        u, v = coordinates(n, angle)
        scale = cell * n / size
        return colours[(np.floor(u / scale) + np.floor(v / scale)).astype(np.int64) % 2]

    return supersampled(size, draw)


def polka_dotted(rng: np.random.Generator, size: int) -> np.ndarray:
    background, dot = random_colours(rng, 2)
    pitch, radius = rng.uniform(36, 56), rng.uniform(0.22, 0.34)

    def draw(n: int) -> np.ndarray:
        y, x = np.mgrid[0:n, 0:n] / (pitch * n / size)
        x = x + 0.5 * (np.floor(y) % 2)  # staggered rows
        dist = np.hypot(x % 1 - 0.5, y % 1 - 0.5)
        return np.where((dist < radius)[..., None], dot, background).astype(np.uint8)

    return supersampled(size, draw)


def dotted(rng: np.random.Generator, size: int) -> np.ndarray:
    colours = random_colours(rng, 4)
    count = int(rng.integers(140, 220))
    centres = rng.uniform(0, size, (count, 2))
    radii = rng.uniform(3, 7, count)
    picks = rng.integers(1, len(colours), count)

    def draw(n: int) -> np.ndarray:
        scale = n / size
        canvas = np.empty((n, n, 3), np.uint8)
        canvas[:] = colours[0]
        for (cx, cy), r, k in zip(centres, radii, picks, strict=True):
            centre = (round(cx * scale), round(cy * scale))
            cv2.circle(canvas, centre, round(r * scale), tuple(int(c) for c in colours[k]), -1)
        return canvas

    return supersampled(size, draw)


def zigzagged(rng: np.random.Generator, size: int) -> np.ndarray:
    colours = random_colours(rng, 3)
    period, amplitude, wavelength = rng.uniform(30, 50), rng.uniform(8, 16), rng.uniform(30, 60)

    def draw(n: int) -> np.ndarray:
        s = n / size
        y, x = np.mgrid[0:n, 0:n].astype(np.float64)
        tri = np.abs((x / (wavelength * s)) % 1 - 0.5) * 2  # triangle wave in [0, 1]
        band = np.floor((y + amplitude * s * tri) / (period * s / len(colours))).astype(np.int64)
        return colours[band % len(colours)]

    return supersampled(size, draw)


def crosshatched(rng: np.random.Generator, size: int) -> np.ndarray:
    """Two sets of thin parallel dark lines crossing at an oblique angle."""
    background, ink = random_colours(rng, 2)
    ink = (ink * 0.45).astype(np.uint8)  # dark ink on a bright ground
    pitch, width = rng.uniform(7, 11), rng.uniform(0.9, 1.5)
    first = rng.uniform(0, np.pi)
    second = first + rng.uniform(np.pi / 3, np.pi / 2)

    def draw(n: int) -> np.ndarray:
        s = n / size
        on_line = np.zeros((n, n), bool)
        for angle in (first, second):
            u, _ = coordinates(n, angle)
            on_line |= (u % (pitch * s)) < width * s
        return np.where(on_line[..., None], ink, background).astype(np.uint8)

    return supersampled(size, draw, factor=4)


def grid(rng: np.random.Generator, size: int) -> np.ndarray:
    background, line = random_colours(rng, 2)
    pitch, width = rng.uniform(30, 46), rng.uniform(3, 6)

    def draw(n: int) -> np.ndarray:
        s = n / size
        y, x = np.mgrid[0:n, 0:n].astype(np.float64)
        on_line = ((x % (pitch * s)) < width * s) | ((y % (pitch * s)) < width * s)
        return np.where(on_line[..., None], line, background).astype(np.uint8)

    return supersampled(size, draw)


def banded(rng: np.random.Generator, size: int) -> np.ndarray:
    """Broad bands of uneven width with soft borders, slightly wavy."""
    count = int(rng.integers(5, 8))
    colours = random_colours(rng, count).astype(np.float64)
    edges = np.cumsum(rng.dirichlet(np.full(count, 3.0))) * size
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    wavy = y + 6 * np.sin(2 * np.pi * x / size * rng.uniform(1, 2) + rng.uniform(0, 2 * np.pi))
    index = np.clip(np.searchsorted(edges, wavy), 0, count - 1)
    image = colours[index]
    return cv2.GaussianBlur(image, (0, 0), 2.0).astype(np.uint8)


def marbled(rng: np.random.Generator, size: int) -> np.ndarray:
    """Classic marble: sine veins displaced by fractal noise, mapped onto a three-colour ramp."""
    base, vein, accent = random_colours(rng, 3).astype(np.float64)
    u, _ = coordinates(size, rng.uniform(0, np.pi))
    turbulence = value_noise(rng, size)
    t = (np.sin(u / size * 2 * np.pi * rng.uniform(2, 4) + 10 * turbulence) + 1) / 2
    t = t[..., None] ** 2
    image = base * (1 - t) + vein * t
    image = image * 0.85 + accent * 0.15 * value_noise(rng, size, octaves=3)[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class TextureSpec:
    """One texture: its DTD category, a function making it and where it comes from (for readers)."""

    category: str
    make: Maker
    source: str


def gray_texture(name: str, size: int) -> Maker:
    """A grayscale ``skimage.data`` texture, resized and stored as 3-channel RGB."""

    def make(rng: np.random.Generator) -> np.ndarray:
        from skimage import data

        gray = cv2.resize(getattr(data, name)(), (size, size), interpolation=cv2.INTER_AREA)
        return np.repeat(gray[..., None], 3, axis=2)

    return make


def photo_crop(name: str, crop: tuple[int, int, int], size: int) -> Maker:
    """A square ``(x0, y0, side)`` crop of a colour ``skimage.data`` photo, resized to ``size``."""

    def make(rng: np.random.Generator) -> np.ndarray:
        from skimage import data

        return crop_square(getattr(data, name)()[..., :3], crop, size)

    return make


def generated(draw: Callable[[np.random.Generator, int], np.ndarray], size: int, grain: float = 4.0) -> Maker:
    """A procedural texture of ``size`` x ``size`` with a little grain; colours come from the generator."""

    def make(rng: np.random.Generator) -> np.ndarray:
        return add_grain(draw(rng, size), rng, grain)

    return make


TEXTURES = (
    TextureSpec("grid", gray_texture("brick", 384), "skimage.data.brick()"),
    TextureSpec("fibrous", gray_texture("grass", 384), "skimage.data.grass()"),
    TextureSpec("pitted", gray_texture("gravel", 384), "skimage.data.gravel()"),
    TextureSpec("grooved", photo_crop("coffee", (464, 0, 136), 256), "skimage.data.coffee(), wooden table"),
    TextureSpec("matted", photo_crop("chelsea", (200, 0, 110), 256), "skimage.data.chelsea(), forehead fur"),
    TextureSpec("flecked", photo_crop("hubble_deep_field", (500, 420, 400), 400), "Hubble deep field"),
    TextureSpec("veined", photo_crop("retina", (508, 130, 508), 384), "skimage.data.retina(), blood vessels"),
    TextureSpec("striped", generated(striped, 320), "generated"),
    TextureSpec("chequered", generated(chequered, 320), "generated"),
    TextureSpec("polka-dotted", generated(polka_dotted, 320), "generated"),
    TextureSpec("dotted", generated(dotted, 288), "generated"),
    TextureSpec("zigzagged", generated(zigzagged, 320), "generated"),
    TextureSpec("crosshatched", generated(crosshatched, 256), "generated"),
    TextureSpec("grid", generated(grid, 288), "generated"),
    TextureSpec("banded", generated(banded, 352), "generated"),
    TextureSpec("marbled", generated(marbled, 384), "generated"),
)  # fmt: skip


def texture_names(specs: tuple[TextureSpec, ...]) -> list[str]:
    """``<category>/<category>_<nnnn>.jpg`` for each spec, numbered from 1 within its category."""
    seen: dict[str, int] = {}
    names = []
    for spec in specs:
        seen[spec.category] = seen.get(spec.category, 0) + 1
        names.append(f"{spec.category}/{spec.category}_{seen[spec.category]:04d}.jpg")
    return names


def write_splits(labels_dir: Path, names: list[str], rng: np.random.Generator) -> list[Path]:
    """DTD split files: ``train1`` lists everything, ``val1`` and ``test1`` a disjoint third each."""
    order = rng.permutation(len(names))
    third = len(names) // 3
    splits = {
        "train1": names,
        "val1": [names[i] for i in order[:third]],
        "test1": [names[i] for i in order[third : 2 * third]],
    }
    written = []
    for split, members in splits.items():
        path = labels_dir / f"{split}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{name}\n" for name in sorted(members)), encoding="ascii")
        written.append(path)
    return written


def build_textures(out: Path) -> list[Path]:
    root = out / "dtd"
    names = texture_names(TEXTURES)
    written = []
    for index, (spec, name) in enumerate(zip(TEXTURES, names, strict=True)):
        rng = np.random.default_rng([SEED, index])  # one stream per texture: edits stay local
        written.append(write_jpeg(root / "images" / name, spec.make(rng), TEXTURE_JPEG_QUALITY))
    written += write_splits(root / "labels", names, np.random.default_rng([SEED, len(TEXTURES)]))
    return written


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> Path:
    """Baseline JPEG, 4:2:0, no EXIF / ICC / comment, so the bytes depend on the pixels only."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"{path.name}: expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb, "RGB").save(path, "JPEG", quality=quality, subsampling="4:2:0", optimize=True)
    return path


def write_mask(path: Path, mask: np.ndarray) -> Path:
    """Single-channel 8-bit PNG with values 0 and 255 only."""
    if mask.dtype != np.uint8 or mask.ndim != 2 or not np.isin(mask, (0, 255)).all():
        raise ValueError(f"{path.name}: expected a uint8 (H, W) mask of 0 and 255")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask, "L").save(path, "PNG", optimize=True)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: assets/demo)")
    args = parser.parse_args(argv)
    for sub in ("faces", "dtd"):  # start clean so renamed or dropped files do not linger
        shutil.rmtree(args.out / sub, ignore_errors=True)
    written = build_faces(args.out) + build_textures(args.out)
    total = sum(path.stat().st_size for path in written)
    for path in written:
        print(f"{path.stat().st_size:>9,d}  {path.relative_to(args.out)}")
    print(f"{total:>9,d}  total ({len(written)} files) in {args.out}")


if __name__ == "__main__":
    main()
