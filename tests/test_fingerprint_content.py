"""Source fingerprints hash every file's content (issue 23): a mask or parsing map changed in place (same
name, same size) changes the fingerprint and a resume is refused naming the source; a touched mtime does
not; re-runs read from the per-user cache, keyed by path, size and mtime."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ellipse_mask, write_gray
from test_sources_faces import make_celeba

import occgen.core.fingerprint as fingerprint
from occgen.core.errors import StoreError
from occgen.core.files import demo_root
from occgen.core.fingerprint import fingerprint_files
from occgen.recipes.randocc import RandOccConfig, RandOccRecipe
from occgen.run.generate import generate
from occgen.sources.faces import CelebAMaskHQ, FaceFolder
from occgen.sources.hands import MattedHands
from occgen.sources.objects import CocoObjects
from occgen.sources.shapes import RandomShapes
from occgen.sources.textures import DTDTextures

OLD_NS = 1_600_000_000 * 10**9  # 2020: older than the racy window


def flip_one_byte(path: Path) -> None:
    """Change one byte in the middle of the file, keeping its size (and then its old mtime)."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even the mtime is back: only the bytes differ


def age(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(OLD_NS, OLD_NS))


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OCCGEN_FINGERPRINT_CACHE", str(tmp_path / "fingerprints"))
    return tmp_path / "fingerprints"


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file whose bytes the fingerprint code reads (the cache is bypassed only through this hook)."""
    seen: list[Path] = []
    original = fingerprint.hash_file_content

    def counting(path: Path) -> str:
        seen.append(Path(path))
        return original(path)

    monkeypatch.setattr(fingerprint, "hash_file_content", counting)
    return seen


def parsing_folder(face_folder: Path) -> Path:
    for i in range(3):
        write_gray(face_folder / "parsing" / f"face{i}.png", ellipse_mask(96, (48, 50), (26, 34), 1 + i))
    return face_folder


def test_a_parsing_byte_changes_the_fingerprint_and_refuses_the_resume(
    face_folder: Path, dtd_root: Path, tmp_path: Path, private_cache: Path
) -> None:
    root = parsing_folder(face_folder)
    age(root)

    def recipe() -> RandOccRecipe:
        occluders = RandomShapes(DTDTextures(dtd_root), canvas_px=64)
        return RandOccRecipe(FaceFolder(root), occluders, RandOccConfig(canvas_px=64), seed=7, size=64)

    before = recipe().sources()["faces"]["fingerprint"]
    store = tmp_path / "store.zarr"
    generate(recipe(), store, n=4, shard_size=2)
    flip_one_byte(root / "parsing" / "face1.png")
    after = recipe().sources()["faces"]["fingerprint"]
    assert after != before
    with pytest.raises(StoreError, match=rf"sources\.faces\.fingerprint: '{before}' -> '{after}'"):
        generate(recipe(), store, n=4, shard_size=2)
    flip_one_byte(root / "parsing" / "face1.png")  # the original bytes again: the store resumes (nothing to do)
    assert generate(recipe(), store, n=4, shard_size=2).shards_written == 0


def test_a_mask_byte_changes_the_fingerprint_but_a_touched_mtime_does_not(
    face_folder: Path, private_cache: Path
) -> None:
    age(face_folder)
    before = FaceFolder(face_folder).describe()["fingerprint"]
    os.utime(face_folder / "masks" / "face0.png", ns=(OLD_NS + 10**9, OLD_NS + 10**9))
    os.utime(face_folder / "images" / "face2.jpg")  # now: hashed again, not cached, same value
    assert FaceFolder(face_folder).describe()["fingerprint"] == before
    flip_one_byte(face_folder / "masks" / "face2.png")
    assert FaceFolder(face_folder).describe()["fingerprint"] != before


def test_celebamask_annotations_are_fingerprinted(tmp_path: Path, private_cache: Path) -> None:
    root = make_celeba(tmp_path / "celeba", [0, 1, 2001])
    age(root)
    before = CelebAMaskHQ(root).describe()["fingerprint"]
    assert CelebAMaskHQ(root).describe()["fingerprint"] == before
    flip_one_byte(root / "CelebAMask-HQ-mask-anno" / "1" / "02001_hair.png")
    assert CelebAMaskHQ(root).describe()["fingerprint"] != before
    # a face outside the split does not count: its annotations are not read
    split = tmp_path / "split.txt"
    split.write_text("0\n1\n")
    only = CelebAMaskHQ(root, split=split).describe()["fingerprint"]
    flip_one_byte(root / "CelebAMask-HQ-mask-anno" / "1" / "02001_skin.png")
    assert CelebAMaskHQ(root, split=split).describe()["fingerprint"] == only


def test_the_cache_spares_reading_unchanged_files(
    face_folder: Path, private_cache: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fingerprint, "RACY_SECONDS", 0.0)  # the files were written (and aged) just now
    age(face_folder)
    first = FaceFolder(face_folder).describe()["fingerprint"]
    assert sorted(p.name for p in reads) == sorted(["face0.jpg", "face1.jpg", "face2.jpg"] + ["face0.png",
                                                   "face1.png", "face2.png"])  # fmt: skip
    assert len(list(private_cache.glob("*.json"))) == 1
    reads.clear()
    assert FaceFolder(face_folder).describe()["fingerprint"] == first
    assert reads == []  # every hash from the cache
    os.utime(face_folder / "masks" / "face1.png", ns=(OLD_NS + 5, OLD_NS + 5))
    assert FaceFolder(face_folder).describe()["fingerprint"] == first
    assert reads == [face_folder / "masks" / "face1.png"]  # only the touched file is read again


def test_a_file_written_just_now_is_never_cached(tmp_path: Path, private_cache: Path, reads: list[Path]) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a" * 100)
    (folder / "b.bin").write_bytes(b"b" * 100)
    os.utime(folder / "a.bin", ns=(OLD_NS, OLD_NS))
    files = [folder / "a.bin", folder / "b.bin"]
    stat = (folder / "b.bin").stat()
    first = fingerprint_files(folder, files)
    reads.clear()
    (folder / "b.bin").write_bytes(b"c" * 100)  # same size, maybe the same timestamp tick as the first write
    os.utime(folder / "b.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert time.time_ns() - (folder / "b.bin").stat().st_ctime_ns < fingerprint.RACY_SECONDS * 1e9
    assert fingerprint_files(folder, files) != first
    assert folder / "b.bin" in reads


def test_fingerprints_hold_no_location_or_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two copies of one folder (other paths, other mtimes, other caches) have one fingerprint."""
    rng = np.random.default_rng(0)
    here = tmp_path / "here" / "folder"
    (here / "sub").mkdir(parents=True)
    for i in range(3):
        (here / "sub" / f"{i}.bin").write_bytes(rng.bytes(64))
    there = tmp_path / "there" / "copy"
    shutil.copytree(here, there)
    age(there)
    monkeypatch.setenv("OCCGEN_FINGERPRINT_CACHE", str(tmp_path / "cache-here"))
    value = fingerprint_files(here, sorted(here.rglob("*.bin")))
    monkeypatch.setenv("OCCGEN_FINGERPRINT_CACHE", str(tmp_path / "cache-there"))
    assert fingerprint_files(there, sorted(there.rglob("*.bin"), reverse=True)) == value
    (there / "sub" / "1.bin").rename(there / "sub" / "9.bin")  # a name is part of it
    assert fingerprint_files(there, sorted(there.rglob("*.bin"))) != value


@pytest.mark.parametrize(
    ("folder", "make", "changed"),
    [
        ("objects", lambda root: CocoObjects(root), "coco_1876833_cup.png"),
        ("hands", lambda root: MattedHands(root), None),
        ("dtd", lambda root: DTDTextures(root), None),
    ],
)
def test_occluder_sources_fingerprint_their_files_content(
    folder: str, make: Callable[[Path], Any], changed: str | None, tmp_path: Path, private_cache: Path
) -> None:
    root = tmp_path / folder
    shutil.copytree(demo_root() / folder, root)
    before = make(root).describe()["fingerprint"]
    images = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".png", ".jpg"})
    flip_one_byte(root / changed if changed else images[-1])
    assert make(root).describe()["fingerprint"] != before
