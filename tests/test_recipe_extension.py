"""Adding a recipe touches only its module and one registry entry (docs/extending.md), shown end to end.

The example recipe below paints one solid square onto each face. Everything a recipe in ``occgen/recipes/``
would hold is in this file: its config, its recipe class with its stream id, its builder and one
``register_recipe`` call. Then ``params check``'s validator knows its section, ``generate_recipe`` (the body
of every ``occgen generate`` command) writes its store, ``occgen generate square`` exists, and
``occgen train --online square`` trains on it, with no other change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.generate import generate_recipe
from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.core.params import to_plain
from occgen.core.rng import register_stream, sample_rng
from occgen.recipes.base import Sample, sample_header
from occgen.recipes.inputs import RecipeInputs, open_face_source
from occgen.recipes.registry import RecipeEntry, recipe_names, register_recipe, unregister_recipe
from occgen.settings import build_named_recipe, build_recipe, load_recipe_settings, validate_params
from occgen.sources.faces import FaceSource
from occgen.store import open_store
from occgen.train.online import OnlineDataset

# --- what would be occgen/recipes/square.py ---


@dataclass(frozen=True, kw_only=True)
class SquareConfig:
    """params.yaml section ``square``."""

    side_frac: float = 0.25  # the square's side, x the image side
    color: tuple[int, int, int] = (255, 0, 255)

    def __post_init__(self) -> None:
        if not 0.0 < self.side_frac <= 1.0:
            raise ConfigError(f"square.side_frac must be in (0, 1], got {self.side_frac}")


register_stream("square", 1001)  # its fixed RNG stream id, in the recipe's module (workers import it)


@dataclass
class SquareRecipe:
    faces: FaceSource
    config: SquareConfig
    seed: int
    size: int
    name: str = "square"

    def placement(self, index: int) -> tuple[int, int, int]:
        """(top, left, side) of sample ``index``'s square, drawn from its own generator."""
        rng = sample_rng(self.seed, self.name, index)
        side = max(1, round(self.config.side_frac * self.size))
        top, left = (int(v) for v in rng.integers(0, self.size - side + 1, size=2))
        return top, left, side

    def make(self, index: int) -> Sample:
        face_index = index % len(self.faces)
        face = self.faces.load(face_index, self.size)
        top, left, side = self.placement(index)
        image, face_mask = face.image.copy(), face.face_mask.copy()
        occluder_mask = np.zeros_like(face_mask)
        image[top : top + side, left : left + side] = self.config.color
        face_mask[top : top + side, left : left + side] = 0
        occluder_mask[top : top + side, left : left + side] = 255
        metadata = {
            **sample_header(self.name, index, face_index, face.face_id), "occluder_ids": ["square"],
            "occluder_types": ["square"], "translucent": False, "attempts": 1,
            "face_px_before": int(face.face_mask.sum()), "face_px_after": int(face_mask.sum()),
            "params": {"top": top, "left": left, "side": side},
        }  # fmt: skip
        return Sample(image, face_mask, occluder_mask, metadata)

    def params(self) -> dict[str, Any]:
        return to_plain(self.config)

    def sources(self) -> dict[str, Any]:
        return {"faces": self.faces.describe()}


def build_square(inputs: RecipeInputs[SquareConfig]) -> SquareRecipe:
    faces = open_face_source(inputs.faces, inputs.storage_options)
    return SquareRecipe(faces, inputs.config, inputs.base.seed, inputs.base.size)


# --- the one registry entry (in occgen/recipes/registry.py it is a module-level call) ---

SQUARE = RecipeEntry(name="square", section="square", config=SquareConfig, build=build_square,
                     summary="A solid square on each face (an example recipe).")  # fmt: skip


@pytest.fixture
def square() -> Iterator[RecipeEntry]:
    register_recipe(SQUARE)
    try:
        yield SQUARE
    finally:
        unregister_recipe("square")
    assert "square" not in recipe_names()


@pytest.fixture
def params(tmp_path: Path, face_folder: Path) -> Path:
    path = tmp_path / "exp" / "params.yaml"
    path.parent.mkdir()
    path.write_text(
        "base: {seed: 3, size: 64}\n"
        f"faces: {{path: ../{face_folder.name}}}\n"  # relative to the params file, resolved like any path
        "square: {n: 5, shard_size: 2, side_frac: 0.25, color: [10, 200, 30]}\n"
    )
    return path


def check_squares(image: np.ndarray, face_mask: np.ndarray, occluder_mask: np.ndarray,
                  placement: tuple[int, int, int]) -> None:  # fmt: skip
    top, left, side = placement
    inside = np.zeros(face_mask.shape, bool)
    inside[top : top + side, left : left + side] = True
    assert side == 16 and inside.sum() == 256
    assert (occluder_mask[inside] == 255).all() and (occluder_mask[~inside] == 0).all()
    assert (face_mask[inside] == 0).all() and face_mask[~inside].any()
    assert (image[inside] == (10, 200, 30)).all()


def test_the_section_is_validated_only_once_registered(params: Path, square: RecipeEntry) -> None:
    assert set(validate_params(params)) == {"base", "faces", "square"}
    checked = CliRunner().invoke(app, ["params", "check", "--params", str(params)])
    assert checked.exit_code == 0 and "3 section(s) valid (base, faces, square)" in " ".join(checked.output.split())
    bad = params.with_name("bad.yaml")
    bad.write_text("square: {side_frac: 2.0}\n")
    with pytest.raises(ConfigError, match=r"square: square\.side_frac must be in \(0, 1\], got 2\.0"):
        validate_params(bad)
    bad.write_text("square: {sidefrac: 0.5}\n")
    with pytest.raises(ConfigError, match=r"unknown parameter square\.sidefrac; valid keys of square: color"):
        validate_params(bad)
    unregister_recipe("square")
    try:
        with pytest.raises(ConfigError, match="unknown section 'square'"):
            validate_params(params)
    finally:
        register_recipe(SQUARE)


def test_a_registered_recipe_generates_a_store(tmp_path: Path, params: Path, face_folder: Path,
                                               square: RecipeEntry) -> None:  # fmt: skip
    settings = load_recipe_settings("square", params)
    assert settings.config == SquareConfig(side_frac=0.25, color=(10, 200, 30)) and settings.run.n == 5
    assert settings.faces.path == params.parent.resolve() / ".." / face_folder.name
    recipe = build_recipe(settings)
    assert isinstance(recipe, SquareRecipe) and recipe.size == 64 and recipe.seed == 3
    out = tmp_path / "square.zarr"
    generate_recipe("square", out, params=params, workers=1, preview=False)
    reader = open_store(out)
    assert len(reader) == 5 and reader.card["generation"]["recipe"] == "square"
    images, face_masks = reader.arrays("image"), reader.arrays("face_mask")
    occluder_masks = reader.arrays("occluder_mask")
    assert images.shape == (5, 64, 64, 3) and face_masks.dtype == np.uint8
    placements = {recipe.placement(i) for i in range(5)}
    assert len(placements) > 1  # each sample draws its own square
    for i in range(5):
        check_squares(images[i], face_masks[i], occluder_masks[i], recipe.placement(i))
    # the generic command `occgen generate square` exists for it, and writes the same store
    again = tmp_path / "again.zarr"
    result = CliRunner().invoke(app, ["generate", "square", "--params", str(params), "--out", str(again),
                                      "--workers", "1", "--no-preview", "--n", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert np.array_equal(open_store(again).arrays("occluder_mask")[:], occluder_masks[:3])
    textures = CliRunner().invoke(app, ["generate", "square", "--textures", str(tmp_path), "--out", str(again)])
    assert textures.exit_code == 1 and "recipe square reads no textures" in textures.output


def test_train_online_makes_the_registered_recipe(tmp_path: Path, params: Path, square: RecipeEntry) -> None:
    recipe, n = build_named_recipe("square", params)
    assert n == 5
    online = OnlineDataset(recipe, n, input_size=64)
    image, face_mask = online[(1, 2)]  # epoch 1, index 2: recipe sample 7
    sample = recipe.make(7)
    assert np.array_equal(face_mask.numpy(), sample.face_mask)
    check_squares(image.numpy().transpose(1, 2, 0), face_mask.numpy(), sample.occluder_mask, recipe.placement(7))
    params.write_text(params.read_text() + "train: {epochs: 1, batch_size: 2, input_size: 32, min_kept: 100, "
                      "workers: 0, augment: {enabled: false}}\n")  # fmt: skip
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--online", "square", "--online-n", "2", "--out", str(out),
                                      "--params", str(params)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert '"online": "square"' in (out / "config.json").read_text()
