"""Where a store lives: a local path or an fsspec URL (``s3://bucket/prefix/x.zarr``), one type for both.

Every command that reads or writes a store goes through :func:`parse_location`, so a URL either works
or is refused with one line (``--out s3://bucket/x.zarr`` must never become a local folder ``s3:``).
Zarr reads and writes through its own store classes: ``LocalStore`` for paths, ``FsspecStore`` for
URLs (s3fs for ``s3://``). FsspecStore rather than obstore: s3fs is needed by dvc-s3 anyway, and
obstore's edge against a local S3 (single-chunk reads 20 vs 33 ms, writes alike) matters little once
whole shards are read at a time (occgen/store/blocks.py); measurements in docs/cloud.md.

Storage options (endpoint, region, timeouts...) come from, in order: the ``storage_options``
argument (``occgen --storage-options JSON``, or ``<section>.storage_options`` in params.yaml), else the
environment variable ``OCCGEN_STORAGE_OPTIONS`` (JSON). Credentials come from the standard places only:
s3fs reads ``AWS_*`` variables, ``~/.aws/config`` / ``~/.aws/credentials`` profiles and instance roles, and
``OCCGEN_STORAGE_OPTIONS`` may hold ``key``/``secret``. They are refused on the command line (argv is visible
to every user of the host) and in params files (committed to git), and a :class:`Location` never carries
them to a dask worker: pickled, it keeps only its non-secret options, and the receiving process adds its own
credentials from its environment (:data:`SECRET_OPTION_KEYS`). Local paths are made absolute, so no task
depends on the client's working directory.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occgen.core.errors import ConfigError, StoreError

ENV_OPTIONS = "OCCGEN_STORAGE_OPTIONS"
# Protocols whose fsspec implementation comes with an occgen extra; other fsspec protocols work when their
# package is installed (fsspec's own message names it otherwise).
EXTRAS = {"s3": "s3", "s3a": "s3"}
LOCAL_PROTOCOLS = ("file", "local")
READ_ONLY_PROTOCOLS = ("http", "https")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(.*)$", re.DOTALL)  # 2+ letters: never a drive letter


#: fsspec storage options that are credentials (s3fs, gcsfs, adlfs names): never on argv, in params or in tasks.
SECRET_OPTION_KEYS = frozenset({
    "key", "secret", "token", "password", "session_token", "aws_access_key_id", "aws_secret_access_key",
    "aws_session_token", "account_key", "sas_token", "client_secret", "connection_string", "credentials",
})  # fmt: skip


def public_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` without its credentials (:data:`SECRET_OPTION_KEYS`)."""
    return {k: v for k, v in options.items() if k not in SECRET_OPTION_KEYS}


def refuse_secrets(options: Mapping[str, Any], origin: str) -> None:
    """Credentials given in ``origin`` (argv or a params file) are refused, naming the standard places."""
    secrets = sorted(k for k in options if k in SECRET_OPTION_KEYS)
    if secrets:
        raise ConfigError(
            f"{origin}: {', '.join(secrets)} is a credential; occgen takes credentials only from the environment "
            "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws/credentials, an instance role, or "
            f"{ENV_OPTIONS}), never from the command line or a params file"
        )


def default_storage_options() -> dict[str, Any]:
    """Options from ``OCCGEN_STORAGE_OPTIONS`` (a JSON object), or none."""
    text = os.environ.get(ENV_OPTIONS, "").strip()
    return parse_storage_options(text, ENV_OPTIONS) if text else {}


def parse_storage_options(text: str, origin: str = "--storage-options") -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f'{origin} is not valid JSON ({error.msg}); e.g. \'{{"endpoint_url": "http://…"}}\''
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{origin} must be a JSON object, got {type(value).__name__}")
    return value


def merged_storage_options(params_json: str | None) -> dict[str, Any] | None:
    """The params key ``<section>.storage_options`` (JSON) overridden key by key by ``--storage-options`` /
    ``OCCGEN_STORAGE_OPTIONS``; None without the key (then :func:`parse_location` uses the defaults)."""
    if not params_json:
        return None
    from_params = parse_storage_options(params_json, "storage_options")
    refuse_secrets(from_params, "storage_options (params file)")
    return {**from_params, **default_storage_options()}


def use_storage_options(text: str) -> None:
    """Make ``text`` (JSON) the default storage options of this process (``occgen --storage-options``), on top
    of those of the environment; credentials are refused here (:func:`refuse_secrets`)."""
    options = parse_storage_options(text)
    refuse_secrets(options, "--storage-options")
    os.environ[ENV_OPTIONS] = json.dumps({**default_storage_options(), **options})


@dataclass(frozen=True)
class Location:
    """An absolute local path (``protocol == "file"``) or a URL with the fsspec options to open it."""

    url: str
    protocol: str
    storage_options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __str__(self) -> str:
        return self.url

    def __reduce__(self) -> tuple[Any, tuple[str, str, dict[str, Any]]]:
        """Pickled (dask tasks) without credentials; the receiving process adds its own (module doc)."""
        return _unpickle_location, (self.url, self.protocol, public_options(self.storage_options))

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def path(self) -> Path:
        if not self.is_local:
            raise StoreError(f"{self.url} is not a local path")
        return Path(self.url)

    @property
    def name(self) -> str:
        return posixpath.basename(self.url.rstrip("/"))

    @property
    def bucket(self) -> str:
        return self.url.split("://", 1)[1].split("/", 1)[0] if not self.is_local else ""

    @property
    def parent(self) -> Location:
        if self.is_local:
            return Location(str(self.path.parent), "file")
        return Location(posixpath.dirname(self.url.rstrip("/")), self.protocol, self.storage_options)

    def with_name(self, name: str) -> Location:
        return self.parent.join(name)

    def join(self, relative: str) -> Location:
        """``relative`` (a relative path, or any path or URL) resolved against this directory."""
        if _SCHEME.match(relative) or os.path.isabs(relative):
            return parse_location(relative, self.storage_options or None)
        if self.is_local:
            return Location(str((self.path / relative).resolve()), "file")
        scheme, rest = self.url.split("://", 1)
        joined = posixpath.normpath(posixpath.join(rest, relative))
        if joined.split("/", 1)[0] != self.bucket:
            raise StoreError(f"{relative!r} leaves the bucket of {self.url}")
        return Location(f"{scheme}://{joined}", self.protocol, self.storage_options)

    def relative_from(self, directory: Location) -> str:
        """This location written relative to ``directory`` when both are on one filesystem (and bucket),
        else in full (a URL)."""
        if self.is_local and directory.is_local:
            return os.path.relpath(self.url, directory.url)
        if self.protocol == directory.protocol and self.bucket == directory.bucket:
            return posixpath.relpath(self.url.split("://", 1)[1], directory.url.split("://", 1)[1])
        return self.url

    # --- filesystem access ----------------------------------------------------------------------------------

    def filesystem(self) -> Any:
        """The (synchronous) fsspec filesystem of this location."""
        import fsspec

        return fsspec.filesystem(self.protocol, **self.storage_options)

    def exists(self) -> bool:
        if self.is_local:
            return self.path.exists()
        with storage_errors(self):
            return bool(self.filesystem().exists(self.url))

    def is_empty_dir(self) -> bool:
        if self.is_local:
            return self.path.is_dir() and not any(self.path.iterdir())
        with storage_errors(self):
            fs = self.filesystem()
            return fs.isdir(self.url) and not fs.ls(self.url, detail=False)

    def remove(self) -> None:
        if self.is_local:
            shutil.rmtree(self.path)
            return
        with storage_errors(self):
            self.filesystem().rm(self.url, recursive=True)

    def size_bytes(self) -> int:
        if self.is_local:
            return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        with storage_errors(self):
            return int(self.filesystem().du(self.url))

    def write_bytes(self, data: bytes) -> None:
        if self.is_local:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(data)
            return
        with storage_errors(self):
            self.filesystem().pipe_file(self.url, data)

    def check_reachable(self) -> None:
        """One request to the bucket, so that wrong credentials, a missing bucket or a dead endpoint fail
        here with a clear line rather than later as "not a store" (zarr reports all three as not found)."""
        if self.is_local:
            return
        with storage_errors(self):
            try:
                self.filesystem().info(self.bucket)
            except FileNotFoundError:
                raise StoreError(
                    f"{self.url}: bucket {self.bucket!r} does not exist; create it first (e.g. "
                    f"`aws s3 mb {self.protocol}://{self.bucket}`): occgen does not create buckets"
                ) from None

    def zarr_store(self, *, read_only: bool) -> Any:
        """What ``zarr.open_group`` takes: the path for a local store, an ``FsspecStore`` for a URL."""
        if self.is_local:
            return self.url
        from zarr.storage import FsspecStore

        with storage_errors(self):
            return FsspecStore.from_url(self.url, storage_options=dict(self.storage_options), read_only=read_only)


def _unpickle_location(url: str, protocol: str, options: dict[str, Any]) -> Location:
    if protocol == "file":
        return Location(url, protocol, options)
    credentials = {k: v for k, v in default_storage_options().items() if k in SECRET_OPTION_KEYS}
    return Location(url, protocol, {**options, **credentials})


def _filesystem_class(protocol: str) -> None:
    """Fail with one line when ``protocol`` is unknown to fsspec or its package is not installed."""
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as error:
        if protocol in EXTRAS:
            raise ConfigError(f"{protocol}:// URLs need s3fs: pip install 'occgen[{EXTRAS[protocol]}]'") from None
        raise ConfigError(f"{protocol}:// URLs need another package: {error}") from None
    except ValueError:
        raise ConfigError(
            f"unsupported URL scheme {protocol!r}; use a local path or an fsspec URL such as s3://bucket/x.zarr"
        ) from None


def parse_location(
    value: str | os.PathLike[str] | Location, storage_options: Mapping[str, Any] | None = None
) -> Location:
    """A :class:`Location` for a path or URL; unsupported or garbled URLs raise :class:`ConfigError`.

    ``pathlib.Path`` folds ``s3://b/k`` into ``s3:/b/k``; a ``Path`` of that shape is read back as the URL
    it came from (the CLI's path options pass through ``Path``). A *string* ``s3:/b/k`` is refused.
    """
    if isinstance(value, Location):
        return value
    text = os.fspath(value)
    match = _SCHEME.match(text)
    if match is None:
        return Location(str(Path(text).expanduser().resolve()), "file")
    scheme, rest = match.group(1).lower(), match.group(2)
    if isinstance(value, os.PathLike) and rest.startswith("/") and not rest.startswith("//"):
        rest = ("//" if scheme in LOCAL_PROTOCOLS else "/") + rest  # undo Path's folding of "//" (file:/// -> file:/)
    if not rest.startswith("//") or (scheme not in LOCAL_PROTOCOLS and not rest[2:].strip("/")):
        raise ConfigError(f"{text!r} is neither a path nor a URL; write {scheme}://bucket/path (two slashes)")
    if scheme in LOCAL_PROTOCOLS:
        return Location(str(Path(rest[2:] or "/").resolve()), "file")
    _filesystem_class(scheme)
    options = dict(storage_options) if storage_options is not None else default_storage_options()
    return Location(f"{scheme}://{rest[2:].rstrip('/')}", scheme, options)


def _is_connection_error(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        name = type(seen).__name__
        if isinstance(seen, ConnectionError) or "Connect" in name or "Timeout" in name:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def explain_storage_error(location: Location, error: BaseException) -> StoreError | None:
    """A one-line :class:`StoreError` for a storage failure at ``location``, or None when it is not one."""
    if isinstance(error, StoreError):
        return error
    if location.is_local:
        return None
    options = ", ".join(sorted(location.storage_options)) or "none"
    if isinstance(error, PermissionError):
        return StoreError(
            f"{location.url}: access denied ({error}); check the credentials (AWS_ACCESS_KEY_ID/"
            f"AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws/credentials, or key/secret in {ENV_OPTIONS}; on a "
            "cluster, in each worker's environment) and the bucket policy"
        )
    if _is_connection_error(error):
        endpoint = location.storage_options.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL") or "default"
        return StoreError(
            f"{location.url}: cannot reach the storage endpoint ({endpoint}); check endpoint_url "
            f"(--storage-options or AWS_ENDPOINT_URL) and the network [storage options given: {options}]"
        )
    return None


@contextmanager
def storage_errors(location: Location) -> Iterator[None]:
    """Re-raise storage failures at ``location`` as one-line :class:`StoreError` s; others pass through."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - botocore/aiohttp errors share no base class with OSError
        explained = explain_storage_error(location, error)
        if explained is None or explained is error:
            raise
        raise explained from error
