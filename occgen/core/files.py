"""Helpers shared by the loaders and writers: listing files, file digests, atomic writes, the demo asset
location (content fingerprints of source folders: :mod:`occgen.core.fingerprint`)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from occgen.core.errors import SourceError
from occgen.core.imageio import IMAGE_SUFFIXES

#: A scheme of 2+ letters then ":/" (``s3://b/k``, or ``s3:/b/k`` as ``pathlib`` folds it); never a drive letter.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def is_url(value: str | os.PathLike[str]) -> bool:
    """Whether ``value`` is a URL (``s3://bucket/x``, ``file:///x``) rather than a path."""
    return bool(_URL.match(os.fspath(value)))


def require_dir(path: Path, what: str, fix: str) -> Path:
    """Return ``path`` if it is a directory, else raise a :class:`SourceError` naming ``what`` and ``fix``."""
    path = Path(path)
    if not path.is_dir():
        state = "is not a directory" if path.exists() else "not found"
        raise SourceError(f"{what} {state}: {path}; {fix}")
    return path


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of a file's bytes (read in 1 MB blocks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path, temporary_dir: Path | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` (or in ``temporary_dir``, on the same file system) to write to; when the
    block ends without an error it replaces ``path`` in one step (``os.replace``), so ``path`` is never seen
    half-written. On an error the temporary file is removed and ``path`` is left as it was. The name is unique
    per call (process id and a random part), so concurrent writers of one target never share a temporary file;
    the last one to finish wins. Temporary names end in ``.tmp``."""
    path = Path(path)
    name = f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    temporary = Path(temporary_dir) / name if temporary_dir is not None else path.with_name(name)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes, temporary_dir: Path | None = None) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path, temporary_dir) as temporary:
        temporary.write_bytes(data)


def atomic_write_text(path: Path, text: str, temporary_dir: Path | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path, temporary_dir) as temporary:
        temporary.write_text(text, encoding="utf-8")


DEMO_LICENCE = "occgen demo assets: public domain / CC0, see assets/README.md"


def demo_root() -> Path:
    """Where the embedded demo assets live: ``$OCCGEN_ASSETS`` or ``assets/demo`` beside the package."""
    override = os.environ.get("OCCGEN_ASSETS")
    root = Path(override) if override else Path(__file__).resolve().parents[2] / "assets" / "demo"
    if not root.is_dir():
        raise SourceError(
            f"demo assets not found at {root}; install occgen from a clone with `pip install -e .`, "
            "set OCCGEN_ASSETS to the assets/demo folder, or pass dataset paths explicitly"
        )
    return root
