"""The recipe registry and the settings it drives: unknown names, every section valid, paths resolved."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from occgen.core.errors import ConfigError
from occgen.core.params import is_path_field, resolve_paths, to_plain
from occgen.recipes.registry import RecipeEntry, build_faces, recipe_entries, recipe_entry, register_recipe
from occgen.settings import (
    build_named_recipe,
    load_evaluate_config,
    load_hands_config,
    load_objects_config,
    load_recipe_settings,
    load_train_config,
    validate_params,
)
from occgen.settings.validate import FIXED_SECTIONS


def path_fields(cls: type, prefix: str = "") -> list[str]:
    """The dotted names of every path field of config class ``cls`` and of the configs nested in it."""
    hints = typing.get_type_hints(cls)
    names = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if is_path_field(hint):
            names.append(prefix + field.name)
        elif dataclasses.is_dataclass(hint):
            names.extend(path_fields(hint, f"{prefix}{field.name}."))  # type: ignore[arg-type]
    return names


def nested(dotted_values: dict[str, str]) -> dict[str, Any]:
    section: dict[str, Any] = {}
    for dotted, value in dotted_values.items():
        *parents, leaf = dotted.split(".")
        node = section
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return section


def get_dotted(config: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def test_unknown_recipe_lists_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown recipe 'bogus'; valid: randocc, natocc, faceocc, faces$"):
        recipe_entry("bogus")
    with pytest.raises(ConfigError, match=r"unknown recipe 'randoc'; valid: randocc, natocc, faceocc, faces$"):
        load_recipe_settings("randoc", None)
    # the faces are a recipe (generate faces) but not one to train on online
    with pytest.raises(ConfigError, match=r"unknown recipe 'faces' for --online; valid: randocc, natocc, faceocc$"):
        build_named_recipe("faces", None)


def test_a_taken_name_or_section_is_refused() -> None:
    with pytest.raises(ConfigError, match="'randocc' is already registered"):
        register_recipe(recipe_entry("randocc"))
    clash = RecipeEntry(name="other", section="natocc", config=dict, build=build_faces)
    with pytest.raises(ConfigError, match="section 'natocc' is already read by recipe natocc"):
        register_recipe(clash)
    with pytest.raises(ConfigError, match="unknown source section 'hands'"):
        RecipeEntry(name="other", section="other", config=dict, build=build_faces, sources=("hands",))
    with pytest.raises(ConfigError, match="lower-case identifier"):
        RecipeEntry(name="Rand-Occ", section=None, config=None, build=build_faces)


@pytest.mark.parametrize("entry", [e for e in recipe_entries() if e.section is not None], ids=lambda e: e.name)
def test_every_registered_section_validates(tmp_path: Path, entry: RecipeEntry) -> None:
    assert entry.section is not None and entry.config is not None
    params = tmp_path / "params.yaml"
    # the recipe's defaults written out, plus run keys, are a valid section and load back unchanged
    section = {**to_plain(entry.config()), "n": 3, "shard_size": 2}
    params.write_text(yaml.safe_dump({"base": {"seed": 1}, entry.section: section}))
    assert set(validate_params(params)) == {"base", entry.section}
    settings = load_recipe_settings(entry.name, params)
    assert settings.run.n == 3 and settings.run.shard_size == 2 and settings.base.seed == 1
    assert settings.config == resolve_paths(entry.config(), params.parent)
    params.write_text(yaml.safe_dump({entry.section: {"no_such_key": 1}}))
    with pytest.raises(ConfigError, match=rf"unknown parameter {entry.section}\.no_such_key; valid keys"):
        validate_params(params)


def section_loaders() -> dict[str, Any]:
    """How each section's config is loaded from a params file, for every section that has path fields."""
    loaders: dict[str, Any] = {
        "faces": lambda p: load_recipe_settings("randocc", p).faces,
        "textures": lambda p: load_recipe_settings("randocc", p).textures,
        "hands": load_hands_config, "objects": load_objects_config, "train": load_train_config,
        "evaluate": load_evaluate_config,
    }  # fmt: skip
    for entry in recipe_entries():
        if entry.section is not None:
            loaders[entry.section] = lambda p, name=entry.name: load_recipe_settings(name, p).config
    return loaders


def all_sections() -> list[tuple[str, type]]:
    recipes = [(e.section, e.config) for e in recipe_entries() if e.section is not None and e.config is not None]
    return [*FIXED_SECTIONS.items(), *recipes]


@pytest.mark.parametrize(("section", "cls"), all_sections(), ids=lambda value: str(getattr(value, "__name__", value)))
def test_path_fields_resolve_against_the_params_file(tmp_path: Path, section: str, cls: type) -> None:
    fields = path_fields(cls)
    if not fields:
        return
    params = tmp_path / "exp" / "params.yaml"
    params.parent.mkdir()
    root = params.parent.resolve()
    relative = {name: f"rel/{name.replace('.', '_')}" for name in fields}
    # absolute paths and URLs pass as they are
    passing = {name: str(tmp_path / "elsewhere") if i % 2 == 0 else "s3://bucket/data" for i, name in enumerate(fields)}
    for values in (relative, passing):
        params.write_text(yaml.safe_dump({section: nested(values)}))
        config = section_loaders()[section](params)
        for name, value in values.items():
            expected = root / value if values is relative else Path(value)
            assert get_dotted(config, name) == expected, f"{section}.{name}"


def test_every_path_field_of_the_known_configs_is_found() -> None:
    # the loaders above cover these; a new path field in any config is resolved without a line of code
    found = {section: path_fields(cls) for section, cls in all_sections()}
    assert found["faces"] == ["path", "split", "corrected_masks"]
    assert found["natocc"] == ["hands_dir", "objects_dir", "harmonise.checkpoint"]
    assert found["faceocc"] == ["faceocc_dir", "celebahq_labels"]
    assert found["objects"] == ["annotations", "images", "upscale.checkpoint"]
    assert found["train"] == ["encoder_weights"] and found["base"] == []


def test_resolve_paths_rejects_a_class_and_keeps_an_unchanged_config() -> None:
    from occgen.sources.faces import FacesConfig

    with pytest.raises(TypeError, match="config dataclass instance"):
        resolve_paths(FacesConfig, Path("/x"))
    config = FacesConfig()
    assert resolve_paths(config, Path("/x")) is config  # no paths set: the same object


def test_a_stream_id_is_given_once() -> None:
    from occgen.core.rng import STREAM_IDS, register_stream, stream_id

    register_stream("randocc", 1)  # the same pair again: nothing changes
    with pytest.raises(ConfigError, match="recipe 'randocc' already has stream id 1; stream ids never change"):
        register_stream("randocc", 99)
    with pytest.raises(ConfigError, match=r"stream id 4 for recipe 'mine' is taken \(by natocc\)"):
        register_stream("mine", 4)
    with pytest.raises(ConfigError, match="unknown recipe 'mine'"):
        stream_id("mine")
    assert "mine" not in STREAM_IDS
