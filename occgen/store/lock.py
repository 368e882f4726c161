"""One writer per output: a lock file beside the target (``<target>.lock``) held while a command writes.

``generate``, ``recode``, ``export`` and ``mix`` hold it for their whole run; a second writer into the
same target is refused with a message naming the holder (command, pid, host, start time).

The lock is a kernel ``flock`` on that file, so it is released when its process dies, even by ``kill -9``:
the next writer then takes it over (the stale file's holder record is simply rewritten). On file systems
where ``flock`` is not shared between processes, the holder record is checked too: a live pid on this host
still refuses; a pid that no longer runs (or runs a different process: its start time differs) is stale.
The lock file sits beside the target, not inside it, so it never becomes part of a dataset's bytes.
Remote targets (URLs) are not locked (partial: there is no shared file system to hold a lock on).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from occgen.core.errors import StoreError


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

#: Locks this process holds (lock path -> depth): taking one again inside is allowed (e.g. repair -> generate).
_held: dict[Path, int] = {}


@contextmanager
def store_lock(target: Path, command: str) -> Iterator[Path]:
    """Hold the lock of ``target`` for the ``with`` block, or raise :class:`StoreError` naming its holder.

    Re-entrant within one process: an inner ``store_lock`` of a target this process already holds passes.
    """
    if _URL.match(str(target)):  # a remote store (s3://...): no shared file system to lock on
        yield Path(str(target))
        return
    lock = lock_path(Path(target).absolute())
    if lock in _held:
        _held[lock] += 1
        try:
            yield lock
        finally:
            _held[lock] -= 1
        return
    with _exclusive(lock, target, command):
        _held[lock] = 1
        try:
            yield lock
        finally:
            del _held[lock]


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
    record = {
        "command": command, "pid": os.getpid(), "host": socket.gethostname(), "start": _process_start(os.getpid()),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
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
