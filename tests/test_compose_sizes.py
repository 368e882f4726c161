"""Size-relative edges and blur (issue 30): the compositor's pixel values are given at 512² and scaled to the
image, so an occluder's soft edge is the same width relative to the face at every ``--size``.

The soft-edge band is measured on the occluder mask (pixels between 10 % and 90 % alpha per pixel of outline
at 50 %), never computed from the parameters; 512² stores keep their bytes (tests/test_store_digest.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.compose import (
    CompositeConfig,
    CompositeParams,
    apply_composite,
    composite_record,
    resolve_pixels,
    sample_composite,
)
from occgen.core.errors import ConfigError
from occgen.settings import validate_params
from occgen.settings.recipes import build_recipe, load_recipe_settings
from occgen.sources.occluder import Occluder
from occgen.store.schema import ShardReader

runner = CliRunner()
SIZES = (256, 512, 1024)


def soft_band_px(occluder_mask: np.ndarray) -> float:
    """Mean width in px of an opaque occluder's soft edge: pixels with alpha in (0.1, 0.9) per pixel of the
    outline (the 0.5 contour's length)."""
    soft = int(((occluder_mask > 25) & (occluder_mask < 230)).sum())
    contours, _ = cv2.findContours((occluder_mask >= 128).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = sum(cv2.arcLength(contour, True) for contour in contours)
    assert outline > 0, "no occluder in the mask"
    return soft / outline


def face_scene(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey image with an elliptic face filling the same share of the frame at every size."""
    image = np.full((size, size, 3), 128, np.uint8)
    face_mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(face_mask, (size // 2, size // 2), (size * 3 // 10, size * 2 // 5), 0, 0, 360, 1, -1)
    return image, face_mask


def hard_disc(side: int = 400) -> Occluder:
    """An occluder with a hard edge of its own: any soft band comes from the compositor (and the warp)."""
    alpha = np.zeros((side, side), np.float32)
    cv2.circle(alpha, (side // 2, side // 2), side // 2 - 2, 1.0, -1)
    return Occluder("disc", "test", np.full((side, side, 3), 200, np.uint8), alpha)


def disc_bands(config: CompositeConfig, seed: int) -> dict[int, float]:
    """The soft band (px) of one seed's composite of the hard disc at each size in SIZES."""
    disc, bands = hard_disc(), {}
    for size in SIZES:
        image, face_mask = face_scene(size)
        params = sample_composite(rng=np.random.default_rng(seed), config=config, face_mask=face_mask,
                                  occluder_shape=disc.alpha.shape)  # fmt: skip
        bands[size] = soft_band_px(apply_composite(image, face_mask, disc, params).occluder_mask)
    return bands


@pytest.mark.parametrize("seed", range(3))
def test_soft_edge_band_follows_the_image_size(seed: int) -> None:
    bands = disc_bands(CompositeConfig(), seed)
    assert 0.42 <= bands[256] / bands[512] <= 0.58  # half as wide at 256²
    assert 1.8 <= bands[1024] / bands[512] <= 2.2  # twice at 1024²
    in_face_units = [bands[size] / size for size in SIZES]  # the faces fill the same share of every frame
    assert max(in_face_units) / min(in_face_units) < 1.16
    # The old fixed-pixel compositor (reference_size_px: null) fails the same measurement.
    fixed = disc_bands(CompositeConfig(reference_size_px=None), seed)
    assert fixed[256] / fixed[512] > 0.8 and fixed[1024] / fixed[512] < 1.3


def test_randocc_edges_keep_their_width_in_face_units() -> None:
    """RandOcc on the demo faces and textures, one seed at three sizes: its shapes' canvas and the compositor's
    edges both scale, so an opaque shape's soft band stays about the same share of the face (the pixel grid's
    own sub-pixel edge keeps 256² a little softer); with fixed pixels it was 1.8x wider at 256²."""

    def recipe(size: int, reference: int | None) -> object:
        settings = load_recipe_settings("randocc", None)
        config = replace(settings.config, composite=replace(settings.config.composite, reference_size_px=reference))
        return build_recipe(replace(settings, config=config, base=replace(settings.base, size=size)))

    for reference, low, high in ((512, 0.8, 1.3), (None, 1.6, 2.2)):
        recipes = {size: recipe(size, reference) for size in SIZES}
        ratios: dict[int, list[float]] = {256: [], 1024: []}
        for index in range(6):
            samples = {size: made.make(index) for size, made in recipes.items()}  # type: ignore[attr-defined]
            if samples[512].metadata["translucent"]:
                continue
            band = {size: soft_band_px(sample.occluder_mask) / size for size, sample in samples.items()}
            ratios[256].append(band[256] / band[512])
            ratios[1024].append(band[1024] / band[512])
        assert len(ratios[256]) >= 3
        assert low <= float(np.median(ratios[256])) <= high, (reference, ratios)
        if reference is not None:
            assert 0.8 <= float(np.median(ratios[1024])) <= 1.2, ratios


def test_reference_size_resolves_to_the_configured_values() -> None:
    rng = np.random.default_rng(30)
    for _ in range(20):
        odd = lambda: int(rng.integers(0, 8)) * 2 + 1  # noqa: E731
        low, erode, seam_width = odd(), int(rng.integers(0, 9)), int(rng.integers(0, 6))
        config = CompositeConfig(blur_kernel_range_px=(low, low + 2 * int(rng.integers(0, 4))), alpha_erode_px=erode,
                                 alpha_blur_px=odd(), seam_blur_px=odd(), seam_width_px=seam_width)  # fmt: skip
        pixels = resolve_pixels(config, 512)
        assert pixels.factor == 1.0 and pixels.blur_kernel_range_px == config.blur_kernel_range_px
        assert (pixels.alpha_erode_px, pixels.alpha_blur_px, pixels.seam_blur_px, pixels.seam_width_px) == (
            config.alpha_erode_px, config.alpha_blur_px, config.seam_blur_px, config.seam_width_px)  # fmt: skip
        assert pixels.alpha_blur_sigma_px == 0.0 and pixels.seam_blur_sigma_px == 0.0  # OpenCV's own call
        # Without a reference size every size gets the values as given (the old meaning of the keys).
        fixed = resolve_pixels(replace(config, reference_size_px=None), 256)
        assert (fixed.alpha_erode_px, fixed.alpha_blur_px, fixed.alpha_blur_sigma_px) == (
            config.alpha_erode_px, config.alpha_blur_px, 0.0)  # fmt: skip


def test_resolved_values_scale_with_the_size() -> None:
    config = CompositeConfig()
    by_size = {size: resolve_pixels(config, size) for size in (64, 128, 256, 384, 1024, 2048)}
    assert by_size[1024].alpha_blur_sigma_px == pytest.approx(4 * by_size[256].alpha_blur_sigma_px, abs=1e-3)
    assert by_size[2048].seam_blur_sigma_px == pytest.approx(2 * by_size[1024].seam_blur_sigma_px, abs=1e-3)
    previous = None
    for _, pixels in sorted(by_size.items()):
        for kernel, sigma in ((pixels.alpha_blur_px, pixels.alpha_blur_sigma_px),
                              (pixels.seam_blur_px, pixels.seam_blur_sigma_px)):  # fmt: skip
            assert kernel % 2 == 1 and sigma > 0 and (kernel - 1) / 2 >= 3 * sigma  # odd, and holds the Gaussian
        assert all(k % 2 == 1 for k in pixels.blur_kernel_range_px)
        if previous is not None:  # never smaller at a larger size
            assert pixels.alpha_erode_px >= previous.alpha_erode_px
            assert pixels.seam_width_px >= previous.seam_width_px
            assert pixels.blur_kernel_range_px[1] >= previous.blur_kernel_range_px[1]
        previous = pixels
    assert by_size[2048].alpha_erode_px > config.alpha_erode_px > by_size[64].alpha_erode_px


def test_sample_records_sigma_only_away_from_the_reference_size() -> None:
    disc = hard_disc(64)
    records = {}
    for size in (256, 512):
        _, face_mask = face_scene(size)
        params = sample_composite(rng=np.random.default_rng(1), config=CompositeConfig(), face_mask=face_mask,
                                  occluder_shape=disc.alpha.shape)  # fmt: skip
        records[size] = composite_record(params)
        replayed = CompositeParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in records[size].items()})
        assert replayed == params
    assert "alpha_blur_sigma_px" not in records[512] and records[512]["alpha_blur_px"] == 5  # as before issue 30
    assert records[256]["alpha_blur_sigma_px"] == pytest.approx(0.5) and records[256]["alpha_erode_px"] == 2


def test_bad_reference_size_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"composite\.reference_size_px must be the image side .* or null"):
        CompositeConfig(reference_size_px=8)
    params = tmp_path / "params.yaml"
    params.write_text("randocc: {composite: {reference_size_px: 0}}\n")
    with pytest.raises(ConfigError, match=r"^randocc\.composite: composite\.reference_size_px must be .*got 0$"):
        validate_params(params)
    params.write_text("natocc: {composite: {reference_size_px: 512px}}\n")
    with pytest.raises(ConfigError, match=r"natocc\.composite\.reference_size_px: expected an integer, got '512px'"):
        validate_params(params)
    result = runner.invoke(app, ["params", "check", "--params", str(params)])
    lines = [line for line in result.output.strip().splitlines() if line.strip() and not line.startswith("note:")]
    assert result.exit_code == 1 and len(lines) == 1 and "natocc.composite.reference_size_px" in lines[0]
    params.write_text("randocc: {composite: {reference_size_px: null, alpha_erode_px: 3}}\n")  # the old meaning
    assert "randocc" in validate_params(params)


def test_card_records_the_resolved_pixel_values(tmp_path: Path) -> None:
    cards, first_samples = {}, {}
    for size in (256, 512):
        out = tmp_path / f"r{size}.zarr"
        args = ["generate", "randocc", "--out", str(out), "--n", "2", "--size", str(size), "--workers", "1",
                "--seed", "3", "--shard-size", "2", "--no-preview"]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        reader = ShardReader(out)
        cards[size], first_samples[size] = reader.card, reader[0].metadata
    resolved = cards[256]["resolved_px"]
    assert resolved["canvas_px"] == 128 and cards[256]["params"]["canvas_px"] == 256  # the setting, at 512²
    composite = resolved["composite"]
    assert composite["size_px"] == 256 and composite["factor"] == 0.5
    assert composite["alpha_blur_sigma_px"] == pytest.approx(0.5) and composite["seam_width_px"] == 2
    assert composite["alpha_erode_px"] == 2 and composite["blur_kernel_range_px"] == [3, 5]
    # Each sample's record holds the values it used, the same as the card's.
    assert first_samples[256]["params"]["composite"]["alpha_erode_px"] == composite["alpha_erode_px"]
    assert first_samples[256]["params"]["composite"]["alpha_blur_sigma_px"] == composite["alpha_blur_sigma_px"]
    at_reference = cards[512]["resolved_px"]
    assert at_reference["canvas_px"] == 256
    settings = cards[512]["params"]["composite"]
    for key in ("alpha_erode_px", "alpha_blur_px", "seam_blur_px", "seam_width_px", "blur_kernel_range_px"):
        assert at_reference["composite"][key] == settings[key], key
    json.dumps(cards[256])
    shown = runner.invoke(app, ["info", str(tmp_path / "r256.zarr")])
    text = " ".join(shown.output.replace("│", " ").split())  # the table's cells, rows unwrapped
    assert shown.exit_code == 0 and "alpha_erode_px 2," in text and "alpha_blur_sigma_px 0.5," in text


def test_natocc_card_and_samples_hold_the_values_used_at_1024(tmp_path: Path) -> None:
    out = tmp_path / "n1024.zarr"
    args = ["generate", "natocc", "--out", str(out), "--n", "2", "--size", "1024", "--workers", "1", "--seed", "3",
            "--shard-size", "2", "--no-preview"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    reader = ShardReader(out)
    composite = reader.card["resolved_px"]["composite"]
    assert set(reader.card["resolved_px"]) == {"composite"} and composite["factor"] == 2.0
    assert composite["alpha_blur_sigma_px"] == pytest.approx(2.0) and composite["seam_width_px"] == 6
    for index in range(2):  # a hand and an object, each with the card's edge values
        used = reader[index].metadata["params"]["composite"]
        for key in ("alpha_erode_px", "alpha_blur_px", "alpha_blur_sigma_px", "seam_blur_sigma_px", "seam_width_px"):
            assert used[key] == composite[key], key
