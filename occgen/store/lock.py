"""One writer per output: a lock file beside the target (``<target>.lock``) held while a command writes.

``generate``, ``recode``, ``export`` and ``mix`` hold it for their whole run; a second writer into the
same target is refused with a message naming the holder (command, pid, host, start time).

The lock is a kernel ``flock`` on that file, so it is released when its process dies, even by ``kill -9``:
the next writer then takes it over (the stale file's holder record is simply rewritten). On file systems
where ``flock`` is not shared between processes, the holder record is checked too: a live pid on this host
still refuses; a pid that no longer runs (or runs a different process: its start time differs) is stale.
The lock file sits beside the target, not inside it, so it never becomes part of a dataset's bytes.

A target at a URL (``s3://bucket/x.zarr``) is locked with an object beside it, ``s3://bucket/x.zarr.lock``,
holding the same record. It is created with S3's conditional write (``If-None-Match: *``), so of two runs
on any hosts exactly one creates it; the other is refused naming the holder. The holder deletes it when it
ends. On one host a per-URL lock file (``$OCCGEN_CACHE_DIR/.locks``, a ``flock`` as above) is taken first, so
an object left by a run of *this* host that died (``kill -9``) is known to be stale and is replaced; one left
by another host is respected (delete it if you know that run is gone). Other protocols than S3 have no
tested exclusive create in fsspec: there only the per-host lock applies (documented, docs/integrity.md).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from occgen.core.errors import StoreError
from occgen.store.folder_cache import cache_dir
from occgen.store.location import Location, parse_location, storage_errors

#: Protocols whose fsspec filesystem creates objects exclusively (``pipe_file(mode="create")``, S3's
#: ``If-None-Match: *``; s3fs, tested against moto).
EXCLUSIVE_CREATE = ("s3", "s3a")


def lock_path(target: Path) -> Path:
    """The lock file of ``target``: ``<target>.lock`` in the same folder."""
    target = Path(target)
    return target.with_name(f"{target.name}.lock")


def _process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux /proc), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of /proc/<pid>/stat, counted after the name


def _alive(holder: dict[str, Any]) -> bool:
    """True if the holder record names a process still running on this host (False if it is stale)."""
    if holder.get("host") != socket.gethostname():
        return True  # cannot check another host's processes: its flock is the authority
    pid = int(holder.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    recorded = holder.get("start")
    return recorded is None or _process_start(pid) in (None, recorded)


def _record(command: str) -> dict[str, Any]:
    """Who holds a lock: command, pid, host, process start time and since when."""
    return {
        "command": command, "pid": os.getpid(), "host": socket.gethostname(), "start": _process_start(os.getpid()),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip


def _describe(holder: dict[str, Any]) -> str:
    return (
        f"occgen {holder.get('command', '?')} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
        f"since {holder.get('since', '?')})"
    )


def _read_holder(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode(errors="replace")
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _refuse(target: Path, lock: Path, holder: dict[str, Any]) -> StoreError:
    return StoreError(
        f"{target} is being written by {_describe(holder)}; wait for it to finish, or stop it. If that "
        f"process is gone and {lock} remains (another host), delete {lock}"
    )


#: A URL (``s3://…``, also after ``Path`` folded ``//`` into ``/``); one-letter schemes are Windows drives.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")

#: Locks this process holds (lock path or URL -> depth): taking one again inside is allowed (repair -> generate).
_held: dict[Path | str, int] = {}


def _remote_location(target: Path | str | Location) -> Location | None:
    """The remote location of ``target``, or None for a local one."""
    if isinstance(target, Location):
        return None if target.is_local else target
    if not _URL.match(str(target)) or str(target).lower().startswith("file:"):
        return None
    return parse_location(target)


def host_lock_dir() -> Path:
    """Where this host keeps its per-URL lock files: ``.locks`` in occgen's cache folder (``$OCCGEN_CACHE_DIR``,
    default ``~/.cache/occgen/sources``; :func:`occgen.store.folder_cache.cache_dir`)."""
    return cache_dir() / ".locks"


def _read_remote(fs: Any, url: str) -> dict[str, Any] | None:
    """The holder record of the lock object at ``url``; None if there is none (any more)."""
    try:
        text = fs.cat_file(url).decode(errors="replace")
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {}


@contextmanager
def _reentrant(key: Path | str, acquire: Callable[[], AbstractContextManager[Any]]) -> Iterator[None]:
    """Hold ``acquire()`` for the block, unless this process holds ``key`` already (then only count)."""
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    with acquire():
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]


@contextmanager
def _remote_lock(location: Location, lock_url: str, command: str) -> Iterator[None]:
    """This host's lock file for ``lock_url``, then (on S3) the lock object itself; see the module doc."""
    host_lock = host_lock_dir() / f"{hashlib.sha256(lock_url.encode()).hexdigest()[:24]}.lock"
    with _exclusive(host_lock, Path(location.url), command):  # one run per host
        if location.protocol not in EXCLUSIVE_CREATE:
            yield
            return
        fs = location.filesystem()
        token = uuid.uuid4().hex
        record = {**_record(command), "token": token, "url": location.url}
        location.check_reachable()  # a missing bucket, bad credentials, a dead endpoint: one line each
        with storage_errors(location):
            _create_lock_object(fs, lock_url, record, location.url)
        try:
            yield
        finally:
            with storage_errors(location):
                current = _read_remote(fs, lock_url)
                if current is not None and current.get("token") == token:
                    fs.rm_file(lock_url)


def _create_lock_object(fs: Any, lock_url: str, record: dict[str, Any], target: str) -> None:
    """Create the lock object exclusively; replace one left by a dead run of this host; refuse otherwise."""
    for _ in range(5):  # (an object that vanishes between the failed create and its read: try again)
        try:
            fs.pipe_file(lock_url, json.dumps(record).encode(), mode="create")
            return
        except FileExistsError:
            holder = _read_remote(fs, lock_url)
        if holder is None:
            continue
        if holder.get("host") == socket.gethostname():  # its run would hold this host's lock: it is gone
            fs.rm_file(lock_url)
            continue
        raise StoreError(
            f"{target} is being written by {_describe(holder)}; wait for it to finish, or stop it. If that run "
            f"is gone, delete {lock_url}"
        )
    raise StoreError(f"cannot take the lock {lock_url}: it keeps changing; is another run starting on {target}?")


@contextmanager
def store_lock(target: Path | str | Location, command: str) -> Iterator[Path | str]:
    """Hold the lock of ``target`` (a path, or a URL / remote :class:`Location`) for the ``with`` block, or
    raise :class:`StoreError` naming its holder; yields the lock file's path (or the lock object's URL).

    Re-entrant within one process: an inner ``store_lock`` of a target this process already holds passes.
    """
    remote = _remote_location(target)
    if remote is not None:
        lock_url = remote.with_name(f"{remote.name}.lock").url
        with _reentrant(lock_url, lambda: _remote_lock(remote, lock_url, command)):
            yield lock_url
        return
    local = target.path if isinstance(target, Location) else Path(target)
    lock = lock_path(local.absolute())
    with _reentrant(lock, lambda: _exclusive(lock, local, command)):
        yield lock


@contextmanager
def _exclusive(lock: Path, target: Path, command: str) -> Iterator[None]:
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create {lock.parent}: {error.strerror or error}; choose a writable --out") from error
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StoreError(
                f"cannot create lock {lock}: {error.strerror or error}; choose a writable --out"
            ) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _read_holder(fd)
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _refuse(target, lock, holder) from None
            raise StoreError(f"cannot lock {lock}: {error.strerror or error}") from error
        try:
            same_file = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same_file = False
        if not same_file:  # the holder released (and removed) it between our open and flock: try again
            os.close(fd)
            continue
        holder = _read_holder(fd)
        if holder and holder.get("pid") != os.getpid() and _alive(holder):
            os.close(fd)  # flock not shared on this file system, but the holder still runs
            raise _refuse(target, lock, holder)
        break
    record = _record(command)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(record).encode())
    try:
        yield
    finally:
        try:
            lock.unlink()
        except FileNotFoundError:
            pass
        os.close(fd)
