"""One error hierarchy for every user-facing failure.

The CLI turns any :class:`OccgenError` into a one-line message and exit code 1; anything else is a bug
and keeps its traceback. Messages name the file or parameter at fault and say how to fix it.
"""

from __future__ import annotations


class OccgenError(Exception):
    """Base class: a problem the user can fix (bad input, bad parameter, bad path)."""


class ConfigError(OccgenError):
    """A parameter is unknown, of the wrong type or out of range."""


class SourceError(OccgenError):
    """A dataset on disk is missing, malformed or unreadable."""


class ImageReadError(SourceError):
    """An image or mask file cannot be decoded."""


class ArrayContractError(OccgenError, ValueError):
    """An array has the wrong shape, dtype or range for the function it was given to."""


class StoreError(OccgenError):
    """A zarr store cannot be created, resumed or read."""


class SampleError(OccgenError):
    """A sample could not be made within the allowed number of attempts."""


class EmptyOccluderError(SampleError):
    """A drawn occluder has no opaque pixel; the sample is redrawn (a bounded number of times)."""
