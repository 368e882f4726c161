"""Typed configs from ``params.yaml`` (STYLE.md habit 5).

Each stage owns one frozen dataclass; :func:`build_config` turns the stage's section (plus ``base``)
into it, rejecting unknown keys and wrong types with the dotted key name, before any work starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from occgen.core.errors import ConfigError
from occgen.core.files import is_url

T = TypeVar("T")


def load_params(path: Path) -> dict[str, Any]:
    """Read a ``params.yaml`` file into a dict; a missing or malformed file is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def _convert(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):  # type: ignore[arg-type]  # annotation is a dataclass type here
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return build_config(annotation, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(item, args[0], f"{where}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected a list of {len(args)} values, got {list(value)!r}")
        return tuple(
            _convert(item, arg, f"{where}[{i}]") for i, (item, arg) in enumerate(zip(value, args, strict=True))
        )
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if annotation is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    raise ConfigError(f"{where}: unsupported parameter type {annotation!r}")  # a bug in a config class


def build_config(cls: type[T], data: dict[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise, naming ``where.key``."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown parameter {where}.{unknown[0]}"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
            + f"; valid keys of {where}: {', '.join(sorted(fields))}"
        )
    kwargs = {name: _convert(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ConfigError(f"{where}: {error}") from error
    except ConfigError as error:  # a value the config's own checks refuse: say which section it is in
        raise ConfigError(f"{where}: {error}") from error


def to_plain(value: Any) -> Any:
    """A JSON-ready copy of a config or params object (dataclasses -> dicts, tuples -> lists, paths -> str)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.name.startswith("_")
        }
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


#: Field metadata (``field(..., metadata=ADDED)``) of a key added after stores were made without it, whose
#: default makes exactly the samples those stores hold: a store's spec without the key and a run's spec with it
#: at its default describe the same samples, so the run resumes, repairs or verifies that store.
ADDED = {"spec": "added"}
#: Field metadata of a key that decides no sample's bytes (a cache size): never a difference between specs.
NO_EFFECT = {"spec": "no-effect"}


@dataclass(frozen=True)
class SpecExemptions:
    """What a spec comparison forgives: ``added`` (dotted key -> its default, flattened as the spec is) and
    ``no_effect`` (dotted keys whose value, and everything under them, never counts)."""

    added: dict[str, Any] = dataclasses.field(default_factory=dict)
    no_effect: tuple[str, ...] = ()


def flatten_keys(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict of dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``); an empty dict or any
    other value is a leaf."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten_keys(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def spec_exemptions(config: Any, prefix: str) -> SpecExemptions:
    """The :data:`ADDED` and :data:`NO_EFFECT` fields of the config dataclass ``config`` (an instance or its
    class) and of the config dataclasses nested in its defaults, as keys under ``prefix`` (e.g. ``params``)."""
    added: dict[str, Any] = {}
    no_effect: list[str] = []
    for config_field in dataclasses.fields(config):
        key = f"{prefix}.{config_field.name}"
        if config_field.default is not dataclasses.MISSING:
            default = config_field.default
        elif config_field.default_factory is not dataclasses.MISSING:
            default = config_field.default_factory()
        else:
            continue
        mark = config_field.metadata.get("spec")
        if mark == ADDED["spec"]:
            added.update(flatten_keys(to_plain(default), key))
        elif mark == NO_EFFECT["spec"]:
            no_effect.append(key)
        elif dataclasses.is_dataclass(default):
            inner = spec_exemptions(default, key)
            added.update(inner.added)
            no_effect.extend(inner.no_effect)
    return SpecExemptions(added, tuple(no_effect))


def resolve_path(path: Path | None, root: Path) -> Path | None:
    """``path`` made absolute against ``root`` (the params file's folder); ``None``, absolute paths and URLs
    (``s3://bucket/faces``) pass."""
    if path is None or path.is_absolute() or is_url(path):
        return path
    return root / path


def is_path_field(annotation: Any) -> bool:
    """Whether a config field annotated ``annotation`` holds a path (``Path`` or ``Path | None``): such fields
    are the ones :func:`resolve_paths` makes absolute."""
    if annotation is Path:
        return True
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and Path in typing.get_args(annotation)


def resolve_paths(config: T, root: Path) -> T:
    """``config`` (a config dataclass) with every path field (:func:`is_path_field`), in it and in the configs
    nested in it, made absolute against ``root`` (the params file's folder) by :func:`resolve_path`.

    So a config class marks its paths once, by their annotation, and every loader resolves them alike.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"resolve_paths expects a config dataclass instance, got {config!r}")
    hints = typing.get_type_hints(type(config))
    changes: dict[str, Any] = {}
    for config_field in dataclasses.fields(config):
        value = getattr(config, config_field.name)
        if not config_field.init:
            continue
        resolved: Any
        if isinstance(value, Path) and is_path_field(hints[config_field.name]):
            resolved = resolve_path(value, root)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            resolved = resolve_paths(value, root)
        else:
            continue
        if resolved is not value:
            changes[config_field.name] = resolved
    return dataclasses.replace(config, **changes) if changes else config


@dataclass(frozen=True, kw_only=True)
class BaseConfig:
    seed: int = 0
    size: int = 512

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError(f"base.seed must be >= 0, got {self.seed}")
        if not 16 <= self.size <= 4096:
            raise ConfigError(f"base.size must be between 16 and 4096 px, got {self.size}")
