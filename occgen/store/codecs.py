"""Image codecs for the ``image`` array of a store (issue: compact shards). Masks always stay zstd.

A codec is named ``NAME[:LEVEL]``:

- ``jpegxl``        lossless JPEG-XL (effort 1): the default, 2.3-2.5x smaller than zstd on photos.
- ``zstd[:L]``      lossless, zarr's own zstd (level 3 unless given); readable by any zarr 3 client
                    without occgen or imagecodecs.
- ``jpegxl:Q``      lossy JPEG-XL at quality Q (1-99).
- ``jpeg:Q``        lossy baseline JPEG at quality Q (1-100), the fastest to encode and decode.
- ``webp`` / ``webp:Q``  lossless / lossy WebP.

The non-zstd codecs are imagecodecs' numcodecs codecs wrapped for zarr 3 (zarr's
``zarr.codecs.numcodecs`` adapter, in :mod:`occgen.store.zarr_codecs`). They are registered with zarr
through this package's ``zarr.codecs`` entry points, so any zarr 3 client with ``occgen`` and ``imagecodecs`` installed
opens the stores without importing occgen; the names in ``zarr.json`` are
``numcodecs.imagecodecs_<name>``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from occgen.core.errors import ConfigError, StoreError

LOSSLESS = {"zstd", "jpegxl", "webp"}
# Chosen by benchmarks/bench_codecs.py (docs/stores.md, "Image codecs"): lossless JPEG-XL at effort 1 is 2.3x
# smaller than zstd at 512² and writes faster (4 vs 8 ms per sample); reads cost ~5 ms more.
DEFAULT_IMAGE_CODEC = "jpegxl"


@dataclass(frozen=True)
class ImageCodec:
    """A parsed ``NAME[:LEVEL]`` image codec."""

    name: str
    level: int | None = None

    @property
    def lossless(self) -> bool:
        return self.name == "zstd" or (self.name in LOSSLESS and self.level is None)

    @property
    def spec(self) -> str:
        return self.name if self.level is None else f"{self.name}:{self.level}"

    def _imagecodecs_options(self) -> dict[str, Any]:
        """Keyword arguments of imagecodecs' codec for this spec (shared by the image array and clean patches)."""
        if self.name == "jpeg":
            return {"level": self.level}
        if self.name == "jpegxl":
            if self.level is None:
                return {"lossless": True, "effort": 1}
            return {"level": self.level, "effort": 3, "lossless": False}
        if self.level is None:
            return {"lossless": True, "method": 0}
        return {"level": float(self.level), "lossless": False}

    def zarr_codecs(self) -> dict[str, Any]:
        """``serializer`` / ``compressors`` keyword arguments for ``zarr.create_array``."""
        from zarr.codecs import BytesCodec, ZstdCodec

        if self.name == "zstd":
            return {"serializer": BytesCodec(), "compressors": ZstdCodec(level=3 if self.level is None else self.level)}
        try:
            from occgen.store.zarr_codecs import ImagecodecsJpeg, ImagecodecsJpegxl, ImagecodecsWebp
        except ImportError as error:
            raise self._missing_imagecodecs() from error
        wrapper = {"jpeg": ImagecodecsJpeg, "jpegxl": ImagecodecsJpegxl, "webp": ImagecodecsWebp}[self.name]
        with warnings.catch_warnings():  # "not in the zarr v3 specification": known and documented above
            warnings.simplefilter("ignore")
            serializer = wrapper(**self._imagecodecs_options())
        return {"serializer": serializer, "compressors": None}

    def _missing_imagecodecs(self) -> ConfigError:
        return ConfigError(f"the image codec {self.spec!r} needs the `imagecodecs` package: pip install imagecodecs")

    def encode_image(self, image: np.ndarray) -> bytes:
        """One uint8 (H, W, 3) image (e.g. a clean-face patch, :mod:`occgen.store.clean`) as bytes, exactly as
        the ``image`` array's chunks are encoded (zstd: the raw pixels, zstd-compressed)."""
        image = np.ascontiguousarray(image, np.uint8)
        if self.name == "zstd":
            import numcodecs

            return bytes(numcodecs.Zstd(level=3 if self.level is None else self.level).encode(image))
        return bytes(self._numcodec().encode(image))

    def decode_image(self, data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
        """The inverse of :meth:`encode_image`; ``shape`` is the image's (H, W, 3)."""
        if self.name == "zstd":
            import numcodecs

            decoded = np.frombuffer(numcodecs.Zstd().decode(data), np.uint8)
        else:
            decoded = np.asarray(self._numcodec().decode(data), np.uint8)
        if decoded.size != int(np.prod(shape)):
            raise StoreError(f"an image encoded with {self.spec} decodes to {decoded.shape}, expected {shape}")
        return decoded.reshape(shape)

    def _numcodec(self) -> Any:
        try:
            import imagecodecs.numcodecs as codecs
        except ImportError as error:
            raise self._missing_imagecodecs() from error
        factory = {"jpeg": codecs.Jpeg, "jpegxl": codecs.Jpegxl, "webp": codecs.Webp}[self.name]
        return factory(**self._imagecodecs_options())


_RANGES = {"zstd": (1, 22), "jpeg": (1, 100), "jpegxl": (1, 99), "webp": (1, 100)}


def parse_image_codec(text: str) -> ImageCodec:
    """Parse ``NAME[:LEVEL]``; errors list the valid names and ranges."""
    name, _, level_text = text.strip().lower().partition(":")
    if name not in _RANGES:
        raise ConfigError(f"unknown image codec {text!r}; valid: zstd[:1-22], jpeg:1-100, jpegxl[:1-99], webp[:1-100]")
    if not level_text:
        if name == "jpeg":
            raise ConfigError("jpeg needs a quality, e.g. --image-codec jpeg:95 (JPEG has no lossless mode here)")
        return ImageCodec(name)
    if not level_text.isdigit():
        raise ConfigError(f"image codec level must be an integer, got {level_text!r} in {text!r}")
    low, high = _RANGES[name]
    level = int(level_text)
    if not low <= level <= high:
        raise ConfigError(f"{name} level must be in [{low}, {high}], got {level}")
    return ImageCodec(name, level)


def explain_open_error(error: Exception, spec: str | None) -> StoreError:
    """Turn a zarr failure to resolve a codec into a message naming the package to install."""
    return StoreError(
        f"cannot decode images stored with codec {spec!r}: {error}; install the codec with `pip install imagecodecs` "
        "(and occgen, which registers it with zarr)"
    )
