from pathlib import Path

import pytest

from occgen.compose import CompositeConfig
from occgen.core.errors import ConfigError
from occgen.core.params import build_config, to_plain
from occgen.recipes.randocc import RandOccConfig
from occgen.settings import load_randocc_settings


def test_build_nested_config_with_tuples() -> None:
    config = build_config(
        RandOccConfig,
        {
            "opacity_range": [0.5, 0.8],
            "composite": {"area_frac_range": [0.6, 0.9]},
            "shapes": {"kind_weights": [1, 0, 0]},
        },
        "randocc",
    )
    assert config.opacity_range == (0.5, 0.8)
    assert config.composite.area_frac_range == (0.6, 0.9) and config.composite.affine_p == CompositeConfig().affine_p
    assert config.shapes.kind_weights == (1.0, 0.0, 0.0)


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown parameter randocc\.composite\.area_fraction.*valid keys"):
        build_config(RandOccConfig, {"composite": {"area_fraction": [0.5, 1]}}, "randocc")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"translucent_p": "often"}, r"randocc\.translucent_p: expected a number, got 'often'"),
        ({"opacity_range": [0.4]}, r"randocc\.opacity_range: expected a list of 2 values"),
        ({"max_attempts": 2.5}, r"randocc\.max_attempts: expected an integer"),
        ({"opacity_range": [0.8, 0.4]}, r"opacity_range must satisfy"),
        ({"face_order": "shuffle"}, r"face_order must be one of cycle, random"),
    ],
)
def test_wrong_types_and_values(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(RandOccConfig, data, "randocc")


def test_params_file_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    params = tmp_path / "exp" / "params.yaml"
    params.parent.mkdir()
    params.write_text("base: {seed: 3, size: 128}\nfaces: {path: ../faces}\nrandocc: {n: 10, translucent_p: 0.5}\n")
    settings = load_randocc_settings(params)
    assert settings.base.seed == 3 and settings.run.n == 10 and settings.randocc.translucent_p == 0.5
    assert settings.faces.path == params.parent.resolve() / "../faces"


def test_params_file_errors(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("bsae: {seed: 1}\n")
    with pytest.raises(ConfigError, match="unknown section 'bsae'"):
        load_randocc_settings(params)
    params.write_text("base: {seed: -1}\n")
    with pytest.raises(ConfigError, match="base.seed must be >= 0"):
        load_randocc_settings(params)
    params.write_text("base: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_randocc_settings(params)


def test_to_plain_round_trips_through_build() -> None:
    config = RandOccConfig(opacity_range=(0.5, 0.8))
    assert build_config(RandOccConfig, to_plain(config), "randocc") == config


def test_repository_params_yaml_is_valid_and_documents_the_defaults() -> None:
    from occgen.settings import RandOccSettings

    settings = load_randocc_settings(Path(__file__).resolve().parents[1] / "params.yaml")
    defaults = RandOccSettings()
    assert settings.randocc == defaults.randocc and settings.base == defaults.base and settings.run == defaults.run
    assert settings.faces.path is None and settings.textures.path is None  # the demo pipeline needs no dataset


def test_whole_params_file_is_checked_before_any_stage(tmp_path: Path) -> None:
    from occgen.settings import validate_params

    params = tmp_path / "params.yaml"
    params.write_text("base: {seed: 1}\nrandocc: {n: 5, composite: {blur_p: 'high'}}\n")
    with pytest.raises(ConfigError, match=r"randocc\.composite\.blur_p: expected a number, got 'high'"):
        validate_params(params)
    params.write_text("base: {seed: 1}\ntextures: {path: nowhere/dtd, splitt: train1}\n")
    with pytest.raises(ConfigError, match=r"unknown parameter textures\.splitt"):
        load_randocc_settings(params)


def test_missing_dataset_path_names_the_param(tmp_path: Path) -> None:
    from occgen.settings import build_randocc_recipe

    params = tmp_path / "params.yaml"
    params.write_text("faces: {path: /no/such/celeba}\n")
    with pytest.raises(ConfigError, match=r"faces\.path /no/such/celeba does not exist: set faces\.path"):
        build_randocc_recipe(load_randocc_settings(params))
    params.write_text("textures: {path: missing_dtd}\n")
    with pytest.raises(ConfigError, match=r"textures\.path .*missing_dtd does not exist"):
        build_randocc_recipe(load_randocc_settings(params))
