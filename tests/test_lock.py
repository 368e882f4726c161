"""One writer per store: a second writer is refused while the first runs, and allowed once it is killed."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from occgen.core.errors import StoreError
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.export import export_store
from occgen.run.export_shards import export_shards
from occgen.run.export_webdataset import WEBDATASET
from occgen.run.generate import generate
from occgen.store.lock import lock_path, store_lock
from occgen.store.mix import MixPart, build_mix


def wait_for(condition, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the first writer never got going")


def test_a_second_generate_is_refused_while_the_first_runs_and_allowed_after_sigkill(
    tmp_path: Path, small_recipe: RandOccRecipe
) -> None:
    store = tmp_path / "s.zarr"
    # A real first generate that runs far longer than this test (it is killed below).
    command = [sys.executable, "-m", "occgen", "generate", "randocc", "--n", "100000", "--size", "32",
               "--shard-size", "1", "--workers", "1", "--out", str(store), "--no-preview"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (store / "shard_complete" / "c" / "0").exists(), first)  # writing shards by now
        holder = json.loads(lock_path(store).read_text())
        assert holder["pid"] == first.pid and holder["command"] == "generate"
        with pytest.raises(StoreError, match=rf"being written by occgen generate \(pid {first.pid} on "):
            generate(small_recipe, store, n=3, shard_size=2, overwrite=True)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert lock_path(store).exists()  # kill -9 leaves the file behind: a stale lock
    report = generate(small_recipe, store, n=3, shard_size=2, overwrite=True)
    assert report.samples_written == 3 and not lock_path(store).exists()


HOLD = """
import sys, time
from pathlib import Path
from occgen.store.lock import store_lock
with store_lock(Path(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


@contextmanager
def held_elsewhere(target: Path, command: str) -> Iterator[subprocess.Popen]:
    """``target``'s lock held by another process for the ``with`` block."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(target), command], env=env, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_export_and_mix_hold_their_output_lock(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    generate(small_recipe, tmp_path / "s.zarr", n=2, shard_size=2)
    with held_elsewhere(tmp_path / "out", "export") as holder:
        with pytest.raises(StoreError, match=rf"occgen export \(pid {holder.pid} on {socket.gethostname()}"):
            export_store(tmp_path / "s.zarr", tmp_path / "out", workers=1)
    with held_elsewhere(tmp_path / "shards", "export"):
        with pytest.raises(StoreError, match="being written by occgen export"):
            export_shards(tmp_path / "s.zarr", tmp_path / "shards", format=WEBDATASET, workers=1)
    with held_elsewhere(tmp_path / "m.zarr", "mix"):
        with pytest.raises(StoreError, match="being written by occgen mix"):
            build_mix([MixPart(tmp_path / "s.zarr")], tmp_path / "m.zarr")
    build_mix([MixPart(tmp_path / "s.zarr")], tmp_path / "m.zarr")  # its holder was killed: allowed
    assert not lock_path(tmp_path / "m.zarr").exists()


def test_the_lock_is_reentrant_within_a_process(tmp_path: Path) -> None:
    with store_lock(tmp_path / "s.zarr", "repair"):
        with store_lock(tmp_path / "s.zarr", "generate"):
            assert json.loads(lock_path(tmp_path / "s.zarr").read_text())["command"] == "repair"
        assert lock_path(tmp_path / "s.zarr").exists()
    assert not lock_path(tmp_path / "s.zarr").exists()


def test_a_stale_record_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = lock_path(tmp_path / "s.zarr")
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "command": "generate"}))
    with store_lock(tmp_path / "s.zarr", "generate"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_url_without_exclusive_create_gets_the_per_host_lock_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsspec's memory:// (like gs://) has no tested exclusive create: no lock object, a host lock file only
    (S3 lock objects: tests/test_cloud.py)."""
    import fsspec

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OCCGEN_LOCK_DIR", str(tmp_path / "locks"))
    with store_lock(Path("memory://bucket/s.zarr"), "generate") as lock:
        assert lock == "memory://bucket/s.zarr.lock" and not fsspec.filesystem("memory").exists(lock)
        held = list((tmp_path / "locks").glob("*.lock"))
        assert len(held) == 1 and json.loads(held[0].read_text())["pid"] == os.getpid()
    assert not any((tmp_path / "locks").glob("*.lock"))
    assert not any(tmp_path.glob("*.lock"))  # nothing beside a local folder named like the URL


def test_the_host_lock_of_a_url_does_not_depend_on_the_cache_folder(tmp_path: Path) -> None:
    """Two runs on one host with different OCCGEN_CACHE_DIR (two users, two configs) still meet on one lock."""
    url = "memory://bucket/shared.zarr"
    with store_lock(url, "generate"):
        env = {**os.environ, "OCCGEN_CACHE_DIR": str(tmp_path / "other-cache")}
        second = subprocess.run(
            [sys.executable, "-c", f"from occgen.store.lock import store_lock\nwith store_lock({url!r}, 'mix'): pass"],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
    assert second.returncode != 0 and f"(pid {os.getpid()} on {socket.gethostname()}" in second.stderr


class IgnoresConditionalWrites:
    """An object store that, like some S3-compatible servers, ignores If-None-Match: every create succeeds."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def pipe_file(self, path: str, data: bytes, mode: str = "overwrite") -> None:
        self.objects[path] = data

    def rm_file(self, path: str) -> None:
        del self.objects[path]


def test_an_endpoint_that_ignores_conditional_writes_is_refused() -> None:
    from occgen.core.errors import StoreError
    from occgen.core.location import parse_location
    from occgen.store.lock import check_conditional_writes

    fs = IgnoresConditionalWrites()
    location = parse_location("memory://bucket/x.zarr")
    with pytest.raises(StoreError, match="ignores conditional writes"):
        check_conditional_writes(fs, "memory://bucket/x.zarr.lock", location)
    assert fs.objects == {}  # the probe object is removed
