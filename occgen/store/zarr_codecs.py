"""zarr 3 array->bytes codecs wrapping imagecodecs' numcodecs codecs (one chunk = one image).

Registered with zarr through the ``zarr.codecs`` entry points in pyproject.toml, so a store written
with them opens in any zarr 3 client that has occgen and imagecodecs installed. Importing this module
requires imagecodecs; :mod:`occgen.store.codecs` imports it only when such a codec is asked for.
"""

from __future__ import annotations

import warnings
from typing import Any

import imagecodecs.numcodecs

# zarr's own adapter from numcodecs codecs to zarr 3 codecs; the public numcodecs.zarr3 module is
# deprecated in its favour (zarr >= 3.1.3).
from zarr.codecs.numcodecs._codecs import _NumcodecsArrayBytesCodec

imagecodecs.numcodecs.register_codecs(verbose=False)
# zarr warns each time such a codec is built (on every array open) that it is outside the v3 spec;
# occgen documents that once (occgen/store/codecs.py), so the repeated warning is silenced for these codecs only.
warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3", category=UserWarning)
_Base: Any = _NumcodecsArrayBytesCodec


class ImagecodecsJpeg(_Base, codec_name="imagecodecs_jpeg"):  # type: ignore[call-arg]  # _Base is Any
    pass


class ImagecodecsJpegxl(_Base, codec_name="imagecodecs_jpegxl"):  # type: ignore[call-arg]
    pass


class ImagecodecsWebp(_Base, codec_name="imagecodecs_webp"):  # type: ignore[call-arg]
    pass
