import numpy as np
import pytest

from occgen.core.errors import ConfigError
from occgen.sources.shapes import SHAPE_KINDS, ShapeConfig, ShapeParams, bezier_outline, render_shape, sample_shape


@pytest.mark.parametrize("kind_index", range(3))
def test_each_kind_renders_a_nonempty_alpha(kind_index: int) -> None:
    weights = [0.0, 0.0, 0.0]
    weights[kind_index] = 1.0
    config = ShapeConfig(kind_weights=tuple(weights))  # type: ignore[arg-type]
    for seed in range(20):
        params = sample_shape(rng=np.random.default_rng(seed), config=config)
        assert params.kind == SHAPE_KINDS[kind_index]
        alpha = render_shape(params, 64)
        assert alpha.shape == (64, 64) and alpha.dtype == np.float32
        assert 0.0 <= alpha.min() and alpha.max() <= 1.0
        assert (alpha > 0.5).sum() > 64  # a visible shape, not a sliver
        assert alpha[0].max() < 1.0 and alpha[-1].max() < 1.0  # fitted inside the canvas


def test_blob_point_counts_follow_config() -> None:
    config = ShapeConfig(kind_weights=(1.0, 0.0, 0.0), blob_points_range=(5, 5))
    params = sample_shape(rng=np.random.default_rng(0), config=config)
    assert len(params.points) == 5


def test_bezier_outline_passes_through_its_points() -> None:
    points = np.array([[0.2, 0.2], [0.8, 0.3], [0.6, 0.9]])
    outline = bezier_outline(points, roundness=0.3, sharpness=0.2, samples_per_segment=10)
    assert outline.shape == (30, 2)
    assert np.allclose(outline[::10], points)


def test_render_is_deterministic_and_replayable() -> None:
    params = sample_shape(rng=np.random.default_rng(5), config=ShapeConfig())
    again = ShapeParams(**{**params.__dict__})
    assert np.array_equal(render_shape(params, 48), render_shape(again, 48))


def test_bad_shape_config_and_kind() -> None:
    with pytest.raises(ConfigError, match="at least 3 points"):
        ShapeConfig(blob_points_range=(2, 5))
    with pytest.raises(ConfigError, match="kind_weights"):
        ShapeConfig(kind_weights=(0.0, 0.0, 0.0))
    with pytest.raises(ConfigError, match="unknown shape kind 'star'"):
        render_shape(ShapeParams(kind="star"), 32)
