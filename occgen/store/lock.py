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
ends. On one host a per-URL lock file is taken first, in one folder for the whole host (``$OCCGEN_LOCK_DIR``,
default ``<tmp>/occgen-locks``, shared by every user and every cache folder), keyed on the store's URL; an
object left by a run of *this* host is replaced only when its process is gone (pid and start time checked),
one left by another host is respected (delete it if you know that run is gone). An S3 endpoint must honour
conditional writes: each endpoint is probed once per process (two exclusive creates of one probe object; the
second must fail), and one that ignores them is refused, since there a second writer would not be stopped.
Other protocols than S3 have no tested exclusive create in fsspec: there only the per-host lock applies
(documented, docs/integrity.md).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from occgen.core.errors import StoreError
from occgen.core.location import Location, parse_location, storage_errors

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


ENV_LOCK_DIR = "OCCGEN_LOCK_DIR"


def host_lock_dir() -> Path:
    """Where this host keeps its per-URL lock files: ``$OCCGEN_LOCK_DIR``, default ``<tmp>/occgen-locks``. One
    folder for the host, not per user or cache folder: two runs on one host must meet on the same file. It is
    made world-writable with the sticky bit (like /tmp), so every user's runs can lock in it."""
    override = os.environ.get(ENV_LOCK_DIR)
    if override:
        return Path(override).expanduser()
    folder = Path(tempfile.gettempdir()) / "occgen-locks"
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            folder.chmod(0o1777)
        except OSError:
            pass  # made by another user meanwhile: theirs already has the mode
    return folder


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
            check_conditional_writes(fs, lock_url, location)
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
        if holder.get("host") == socket.gethostname() and not _alive(holder):  # a dead run of this host
            fs.rm_file(lock_url)
            continue
        raise StoreError(
            f"{target} is being written by {_describe(holder)}; wait for it to finish, or stop it. If that run "
            f"is gone, delete {lock_url}"
        )
    raise StoreError(f"cannot take the lock {lock_url}: it keeps changing; is another run starting on {target}?")


#: Endpoints (protocol + endpoint URL) whose conditional writes this process has checked.
_conditional_ok: set[str] = set()


def check_conditional_writes(fs: Any, lock_url: str, location: Location) -> None:
    """Refuse an endpoint that ignores ``If-None-Match: *`` (some S3-compatible servers do): create a probe
    object beside the lock twice, exclusively; the second create must fail. Checked once per endpoint."""
    endpoint = f"{location.protocol}|{(location.storage_options or {}).get('endpoint_url', '')}"
    if endpoint in _conditional_ok:
        return
    probe = f"{lock_url}.probe-{uuid.uuid4().hex}"
    fs.pipe_file(probe, b"occgen conditional-write probe", mode="create")
    try:
        try:
            fs.pipe_file(probe, b"occgen conditional-write probe", mode="create")
        except FileExistsError:
            _conditional_ok.add(endpoint)
            return
    finally:
        fs.rm_file(probe)
    raise StoreError(
        f"{location.url}: the storage endpoint ignores conditional writes (If-None-Match: *), so occgen cannot stop "
        "two runs writing this store at once; use an endpoint that supports them (AWS S3, MinIO, moto, ...)"
    )


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
