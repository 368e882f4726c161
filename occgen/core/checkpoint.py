"""Strict checkpoint loading shared by the torch models of :mod:`occgen.prep.objects` (RainNet, RRDBNet).

Users supply the weights; nothing is downloaded. A checkpoint whose keys or shapes differ from the
architecture is an error that lists every missing, unexpected and mis-shaped key: loaders that skip keys
silently (as RainNet's own ``copy_state_dict`` does) produce plausible-looking garbage. Weights that shape
samples are recorded in the generation spec by :func:`weights_identity` (name, sha256, torch version), and a
reload can be held to the recorded sha256.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from occgen.core.errors import ConfigError, SourceError


class CheckpointError(SourceError):
    """A checkpoint file is missing, unreadable, or does not match the architecture it is loaded into."""


def check_device(device: str) -> str:
    """Return ``device`` if torch can use it (``cpu``, ``cuda``, ``cuda:N``), else a ConfigError saying so."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device} asked for, but torch sees no CUDA device; use --device cpu")
    if not device.startswith(("cpu", "cuda")):
        raise ConfigError(f"unknown --device {device!r}; valid: cpu, cuda, cuda:N")
    return device


def weights_identity(path: Path, sha256: str) -> dict[str, str]:
    """What a generation spec records of a model's weights: the file's name (not where it is), the sha256
    of its bytes and the torch version that runs it."""
    import torch

    return {"file": Path(path).name, "sha256": sha256, "torch": str(torch.__version__)}


def read_state_dict(
    path: Path, *, wrappers: tuple[str, ...] = ("state_dict", "params_ema", "params"), sha256: str | None = None
) -> dict[str, Any]:
    """Read a state dict from ``path`` (``torch.load`` with ``weights_only=True``: no code is executed).

    A dict holding one of ``wrappers`` (e.g. BasicSR's ``params_ema``) is unwrapped; a ``module.`` prefix
    on every key (saved from ``DataParallel``) is removed. With ``sha256``, the bytes read must have that
    digest (the weights a run recorded, reloaded in a worker): other bytes are an error naming both digests.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}; pass the path of a .pth file you downloaded")
    data = path.read_bytes()
    if sha256 is not None and (found := hashlib.sha256(data).hexdigest()) != sha256:
        raise CheckpointError(
            f"checkpoint {path} changed while in use (sha256 {sha256[:16]}... when the run began, now "
            f"{found[:16]}...); put the original weights back, or start a new run with the new ones"
        )
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for a bad file; re-raised with the path
        raise CheckpointError(f"cannot read checkpoint {path}: {error}; is it a PyTorch .pth state dict?") from error
    if isinstance(loaded, Mapping):
        for key in wrappers:
            if key in loaded and isinstance(loaded[key], Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(isinstance(k, str) for k in loaded):
        raise CheckpointError(f"{path}: expected a state dict (a mapping of parameter names to tensors)")
    state = dict(loaded)
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def check_state_dict(expected: Mapping[str, Any], got: Mapping[str, Any], what: str, *, limit: int = 12) -> None:
    """Raise :class:`CheckpointError` unless ``got`` has exactly the keys and shapes of ``expected``."""
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    misshaped = [
        f"{k} (expected {tuple(expected[k].shape)}, got {tuple(got[k].shape)})"
        for k in expected
        if k in got and tuple(getattr(got[k], "shape", ())) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or misshaped):
        return

    def listing(name: str, keys: list[str]) -> str:
        shown = ", ".join(keys[:limit]) + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")
        return f"{len(keys)} {name}: {shown}"

    parts = [listing(n, k) for n, k in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))]
    raise CheckpointError(
        f"{what} does not match the architecture; " + "; ".join(p for p in parts if not p.startswith("0 "))
    )


def load_strict(
    model: Any,
    path: Path,
    *,
    what: str,
    rename: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    sha256: str | None = None,
) -> Any:
    """Load the checkpoint at ``path`` into ``model`` strictly (after ``rename``), put it in ``eval()`` mode;
    ``sha256``: the digest the file's bytes must have (:func:`read_state_dict`)."""
    state = read_state_dict(path, sha256=sha256)
    if rename is not None:
        state = rename(state)
    check_state_dict(model.state_dict(), state, f"{what} {path}")
    model.load_state_dict(state, strict=True)
    return model.eval()
