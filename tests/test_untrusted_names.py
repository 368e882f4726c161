"""Untrusted names never leave their folder: object keys of a source bucket (copied into the local cache),
and the checks every exporter uses (occgen/core/paths.py). Against a real local S3 server (moto, 127.0.0.1)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from occgen.core.location import ENV_OPTIONS, parse_location
from occgen.core.paths import UnsafeNameError, path_inside, safe_relative_name, unsafe_reason
from occgen.sources.folder_cache import ENV_CACHE_DIR, cached, materialise, prune

sys.path.insert(0, str(Path(__file__).parent))
from s3_server import S3Server, moto_s3  # noqa: E402

BUCKET = "untrusted"


@pytest.fixture(scope="module")
def s3() -> Any:
    with moto_s3() as server:
        server.make_bucket(BUCKET)
        yield server


def _fs(server: S3Server) -> Any:
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, **server.options())


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "key",
    ["faces/images/../../../../escape.txt", "faces//abs-escape.txt", "faces/images/..\\..\\escape.txt"],
)
def test_a_bucket_key_that_leaves_the_copy_is_refused(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    fs = _fs(s3)
    prefix = f"{BUCKET}/case-{abs(hash(key)) % 10**8}"
    fs.pipe_file(f"{prefix}/faces/images/a.jpg", b"ok")
    fs.pipe_file(f"{prefix}/{key}", b"escaped")
    cache = tmp_path / "deep" / "er" / "cache"
    monkeypatch.setenv(ENV_OPTIONS, json.dumps(s3.options()))
    monkeypatch.setenv(ENV_CACHE_DIR, str(cache))
    with pytest.raises(UnsafeNameError, match=r"object key under s3://.*would leave its folder"):
        materialise(parse_location(f"s3://{prefix}/faces"))
    assert not any("escape" in p.name for p in _files_under(tmp_path))  # nothing written, anywhere
    assert not Path("/abs-escape.txt").exists()


def test_prune_all_removes_only_what_occgen_cached(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs = _fs(s3)
    fs.pipe_file(f"{BUCKET}/plain/images/a.jpg", b"ok")
    cache = tmp_path / "cache"
    monkeypatch.setenv(ENV_OPTIONS, json.dumps(s3.options()))
    monkeypatch.setenv(ENV_CACHE_DIR, str(cache))
    copy = materialise(parse_location(f"s3://{BUCKET}/plain"))
    mine = cache / "my-notes"  # the user's own folder and files in the same directory
    mine.mkdir()
    (mine / "n.txt").write_text("keep")
    hidden = cache / ".something.else"
    hidden.write_text("keep")
    lookalike = cache / "photos-0123456789abcdef"  # named like a copy, but occgen recorded no manifest for it
    lookalike.mkdir()
    (lookalike / "p.jpg").write_bytes(b"keep")
    old = time.time() - 5 * 86400
    for path in (mine, hidden, lookalike):
        os.utime(path, (old, old))
    assert [entry.path for entry in cached()] == [copy.local]
    removed = prune(older_than_days=None)
    assert [entry.path for entry in removed] == [copy.local] and not copy.local.exists()
    assert (mine / "n.txt").read_text() == "keep" and hidden.read_text() == "keep"
    assert (lookalike / "p.jpg").read_bytes() == b"keep"


@pytest.mark.parametrize(
    "name", ["", "..", "../x", "a/../../x", "/etc/passwd", "C:evil", "a\\..\\x", "a\x00b", "a//b", "./a", "~root"]
)
def test_unsafe_names_are_refused_naming_the_input(name: str) -> None:
    with pytest.raises(UnsafeNameError, match="sample id of s.zarr"):
        safe_relative_name(name, "sample id of s.zarr")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab./\\:~\x00C")), max_size=12))
def test_any_name_is_refused_or_stays_inside(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    root = tmp_path_factory.getbasetemp() / "inside"
    root.mkdir(exist_ok=True)
    if unsafe_reason(name) is not None:
        with pytest.raises(UnsafeNameError):
            path_inside(root, name, "key")
        return
    path = path_inside(root, name, "key")
    assert os.path.normpath(path).startswith(str(root) + os.sep)
