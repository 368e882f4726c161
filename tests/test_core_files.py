"""Atomic writes (occgen/core/files.py): the target is replaced whole or not at all, and no temporary file
is left behind either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from occgen.core.files import atomic_path, atomic_write_bytes, atomic_write_text


def test_atomic_write_bytes_and_text_replace_the_target_and_leave_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"\x00new\xff")
    assert target.read_bytes() == b"\x00new\xff"
    atomic_write_text(tmp_path / "note.json", '{"a": "é"}\n')
    assert (tmp_path / "note.json").read_text(encoding="utf-8") == '{"a": "é"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["note.json", "out.bin"]


class WriterFailed(RuntimeError):
    pass


def test_a_writer_that_raises_leaves_the_old_target_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"complete old checkpoint")
    with pytest.raises(WriterFailed), atomic_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary != target
        temporary.write_bytes(b"half of a new")  # a partial write, then the writer dies
        raise WriterFailed("disk full")
    assert target.read_bytes() == b"complete old checkpoint"  # never the partial content
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_a_writer_that_raises_before_any_target_exists_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new.csv"
    with pytest.raises(WriterFailed), atomic_path(target) as temporary:
        temporary.write_text("a,b\n1,")
        raise WriterFailed("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writers_of_one_target_get_their_own_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second
        first.write_text("first")
        second.write_text("second")
    assert target.read_text() == "first"  # the outer block finished last: its content wins
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
