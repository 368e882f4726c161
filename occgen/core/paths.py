"""Names from untrusted input (object keys, sample ids, mix indexes, params) made into paths, safely.

Where it sits: the bottom layer. Anything a store, a bucket, a params file or a checkpoint says is input: a
name becomes a path under a target folder only through :func:`safe_relative_name` / :func:`path_inside`,
which refuse a name that would leave the folder (``..``, an absolute path, a drive letter, a backslash, NUL).
"""

from __future__ import annotations

import re
from pathlib import Path

from occgen.core.errors import OccgenError

_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeNameError(OccgenError):
    """A name from untrusted input would leave its target folder."""


def unsafe_reason(name: str) -> str | None:
    """Why ``name`` (a ``/``-separated relative name) is not safe inside a folder, or None if it is."""
    if not isinstance(name, str) or not name:
        return "it is empty"
    if "\x00" in name:
        return "it holds a NUL character"
    if "\\" in name:
        return "it holds a backslash"
    if name.startswith("/") or name.startswith("~"):
        return "it is absolute"
    if _DRIVE.match(name):
        return "it starts with a drive letter"
    parts = name.split("/")
    if any(part in ("..", ".") for part in parts):
        return "it has a '..' or '.' part"
    if any(part == "" for part in parts[:-1]):
        return "it has an empty part ('//')"
    return None


def safe_relative_name(name: str, what: str) -> str:
    """``name`` itself if it stays inside any folder it is joined to; else :class:`UnsafeNameError` naming
    ``what`` (e.g. "object key 'a/../../x' of s3://bucket/faces")."""
    reason = unsafe_reason(name)
    if reason is not None:
        raise UnsafeNameError(f"{what}: {name!r} would leave its folder ({reason}); occgen refuses it: rename it")
    return name


def path_inside(root: Path, name: str, what: str) -> Path:
    """``root / name`` after :func:`safe_relative_name`, checked once more after resolving symlinks."""
    path = Path(root) / safe_relative_name(name, what)
    resolved_root = Path(root).resolve()
    if not path.resolve().is_relative_to(resolved_root):
        raise UnsafeNameError(f"{what}: {name!r} resolves outside {root} (a symlink?); occgen refuses it")
    return path
