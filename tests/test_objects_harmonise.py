"""Harmonisers: the lab-stats fallback and RainNet (random-init checkpoints; no weights downloaded)."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from occgen.appearance.harmonise import (
    LabStatsHarmoniser,
    RainNetHarmoniser,
    context_square,
    make_harmoniser,
)
from occgen.appearance.rainnet import RainNet
from occgen.core.checkpoint import CheckpointError
from occgen.core.errors import ArrayContractError, ConfigError


def composite(size: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """A skin-coloured noisy 'face' with a saturated blue square 'object' (soft alpha) composited on it."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal((200, 150, 120), 12, (size, size, 3)), 0, 255).astype(np.uint8)
    obj = np.clip(rng.normal((40, 60, 200), 6, (size, size, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[50:110, 60:120] = 1
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0)
    out = (alpha[..., None] * obj + (1 - alpha[..., None]) * image).round().astype(np.uint8)
    return out, alpha.astype(np.float32)


def lab_gap(image: np.ndarray, alpha: np.ndarray) -> float:
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    inside = lab[alpha >= 0.99].mean(axis=0)
    ring = np.zeros(alpha.shape, bool)
    ring[35:125, 45:135] = True
    ring &= alpha == 0
    return float(np.linalg.norm(inside - lab[ring].mean(axis=0)))


def test_fallback_narrows_the_lab_gap_and_keeps_outside_pixels() -> None:
    image, alpha = composite()
    before = image.copy()
    harmoniser = make_harmoniser(None)
    assert harmoniser.name == "lab-stats"
    out = harmoniser.apply(image, alpha)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(image, before)  # input not mutated
    np.testing.assert_array_equal(out[alpha == 0], image[alpha == 0])
    assert lab_gap(out, alpha) < 0.7 * lab_gap(image, alpha)
    full = LabStatsHarmoniser(strength=1.0).apply(image, alpha)
    assert lab_gap(full, alpha) < 0.2 * lab_gap(image, alpha)  # strength 1: the surroundings' statistics
    np.testing.assert_array_equal(LabStatsHarmoniser(strength=0.0).apply(image, alpha), image)
    np.testing.assert_array_equal(harmoniser.apply(image, alpha), out)  # deterministic


def test_fallback_edge_cases_and_bad_input() -> None:
    image, alpha = composite(64)
    np.testing.assert_array_equal(make_harmoniser(None).apply(image, np.zeros_like(alpha)), image)
    np.testing.assert_array_equal(make_harmoniser(None).apply(image, np.ones_like(alpha)), image)  # no ring
    with pytest.raises(ArrayContractError, match=r"expected \(H, W, 3\) uint8"):
        make_harmoniser(None).apply(image.astype(np.float32), alpha)
    with pytest.raises(ArrayContractError, match="must match"):
        make_harmoniser(None).apply(image, alpha[:32])
    with pytest.raises(ConfigError, match="strength"):
        LabStatsHarmoniser(strength=2.0)


def test_context_square_fits_the_image() -> None:
    assert context_square((40, 40, 60, 80), (200, 200), 0.5) == (10, 20, 90, 100)
    assert context_square((0, 0, 30, 30), (200, 200), 0.5) == (0, 0, 60, 60)  # shifted inside
    assert context_square((0, 0, 150, 100), (120, 200), 0.5) == (0, 0, 200, 120)  # clipped to the image


@pytest.fixture
def small_rainnet(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = RainNet(ngf=8)
    with torch.no_grad():  # non-zero RAIN affine parameters so the output depends on them
        for name, param in model.named_parameters():
            if "gamma" in name or "beta" in name:
                param.normal_(0.0, 0.2)
    path = tmp_path / "rainnet_ngf8.pth"
    torch.save(model.state_dict(), path)
    return path


def test_rainnet_harmoniser_changes_only_the_occluder(small_rainnet: Path) -> None:
    image, alpha = composite(300)
    harmoniser = make_harmoniser(small_rainnet, ngf=8)
    assert harmoniser.name == "rainnet" and not harmoniser._model.training
    out = harmoniser.apply(image, alpha)
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[alpha == 0], image[alpha == 0])
    assert np.abs(out[alpha > 0.99].astype(int) - image[alpha > 0.99].astype(int)).mean() > 1.0
    np.testing.assert_array_equal(harmoniser.apply(image, alpha), out)  # eval(): deterministic
    assert harmoniser.describe()["checkpoint"] == "rainnet_ngf8.pth"


def test_rainnet_batches_match_single_calls_and_pickle(small_rainnet: Path) -> None:
    first, alpha_a = composite(200)
    second = np.ascontiguousarray(first[::-1])
    alpha_b = np.ascontiguousarray(alpha_a[::-1])
    empty = np.zeros_like(alpha_a)
    harmoniser = RainNetHarmoniser(small_rainnet, ngf=8, batch_size=2)
    batch = harmoniser.apply_batch([first, second, first], [alpha_a, alpha_b, empty])
    singles = [harmoniser.apply(first, alpha_a), harmoniser.apply(second, alpha_b)]
    for got, want in zip(batch[:2], singles, strict=True):
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # batched BLAS may round differently
    np.testing.assert_array_equal(batch[2], first)  # empty alpha: unchanged
    clone = pickle.loads(pickle.dumps(harmoniser))
    assert clone._model is None  # weights are not pickled; reloaded on first use
    assert np.abs(clone.apply(first, alpha_a).astype(int) - singles[0].astype(int)).max() <= 1


def test_rainnet_bf16_and_channels_last_options(small_rainnet: Path) -> None:
    image, alpha = composite(128)
    fp32 = make_harmoniser(small_rainnet, ngf=8).apply(image, alpha)
    fast = make_harmoniser(small_rainnet, ngf=8, dtype="bfloat16", channels_last=True).apply(image, alpha)
    np.testing.assert_array_equal(fast[alpha == 0], image[alpha == 0])
    assert np.abs(fast.astype(int) - fp32.astype(int)).mean() < 4.0  # bf16 rounding only


def test_rainnet_harmoniser_config_errors(small_rainnet: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="multiple of 256"):
        make_harmoniser(small_rainnet, ngf=8, size_px=300)
    with pytest.raises(ConfigError, match="dtype"):
        make_harmoniser(small_rainnet, ngf=8, dtype="float16")
    with pytest.raises(CheckpointError, match="mis-shaped"):
        make_harmoniser(small_rainnet)  # an ngf 8 checkpoint into the ngf 64 network
    with pytest.raises(CheckpointError, match="not found"):
        make_harmoniser(tmp_path / "net_G_last.pth")


def test_rainnet_official_width_end_to_end(tmp_path: Path) -> None:
    """The one ngf 64 forward pass of the suite (256² crop, CPU)."""
    torch.manual_seed(1)
    path = tmp_path / "net_G_last.pth"
    torch.save(RainNet(ngf=64).state_dict(), path)
    image, alpha = composite(256)
    out = make_harmoniser(path).apply(image, alpha)
    np.testing.assert_array_equal(out[alpha == 0], image[alpha == 0])
    assert not np.array_equal(out[alpha > 0.99], image[alpha > 0.99])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when no CUDA device exists")
def test_device_errors(small_rainnet: Path) -> None:
    with pytest.raises(ConfigError, match="no CUDA device"):
        make_harmoniser(small_rainnet, device="cuda", ngf=8)
    with pytest.raises(ConfigError, match="unknown --device 'tpu'"):
        make_harmoniser(small_rainnet, device="tpu", ngf=8)


def test_harmoniser_from_params_section(small_rainnet: Path) -> None:
    from occgen.appearance.harmonise import HarmoniseConfig, harmoniser_from_config
    from occgen.core.params import build_config

    assert harmoniser_from_config(build_config(HarmoniseConfig, {}, "objects.harmonise")).name == "lab-stats"
    config = build_config(
        HarmoniseConfig, {"checkpoint": str(small_rainnet), "ngf": 8, "dtype": "bfloat16"}, "objects.harmonise"
    )
    harmoniser = harmoniser_from_config(config)
    assert harmoniser.name == "rainnet" and harmoniser.describe()["dtype"] == "bfloat16"
    with pytest.raises(ConfigError, match="unknown parameter objects.harmonise.ckpt"):
        build_config(HarmoniseConfig, {"ckpt": "x"}, "objects.harmonise")


def test_rainnet_translucent_and_tiny_occluders(small_rainnet: Path) -> None:
    image, alpha = composite(256)
    harmoniser = make_harmoniser(small_rainnet, ngf=8)
    translucent = (alpha * 0.4).astype(np.float32)
    out = harmoniser.apply(image, translucent)
    np.testing.assert_array_equal(out[translucent == 0], image[translucent == 0])
    assert not np.array_equal(out[alpha > 0.99], image[alpha > 0.99])  # still harmonised
    big = np.full((1024, 1024, 3), 128, np.uint8)
    speck = np.zeros((1024, 1024), np.float32)
    speck[500, 700] = 1.0  # a one-pixel occluder: its crop is a few pixels, upsampled to 256²
    out = harmoniser.apply(big, speck)
    changed = np.argwhere(np.any(out != big, axis=2))
    assert out.shape == big.shape and all(tuple(p) == (500, 700) for p in changed)


def test_rainnet_network_batches_equal_single_crops(small_rainnet: Path) -> None:
    """The network itself: a batch of crops gives each crop's single-crop output to 1e-5 (in [-1, 1])."""
    harmoniser = RainNetHarmoniser(small_rainnet, ngf=8, batch_size=4)
    rng = np.random.default_rng(3)
    crops = rng.integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    masks = np.zeros((3, 256, 256), np.float32)
    masks[0, 40:200, 60:180], masks[1, 10:90, 10:250], masks[2, 100:240, 20:120] = 1.0, 1.0, 1.0
    batch = harmoniser._harmonise_crops(crops, masks)
    for i in range(3):
        single = harmoniser._harmonise_crops(crops[i : i + 1], masks[i : i + 1])[0]
        assert np.abs(batch[i] - single).max() / 127.5 <= 1e-5


def test_natocc_harmonises_a_shard_of_objects_in_one_batch(small_rainnet: Path) -> None:
    """NatOccRecipe.make_batch (what a shard task calls) harmonises its object samples together: each
    sample matches make(i) (to one level), objects are changed by RainNet, hands are not harmonised."""
    from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
    from occgen.sources.faces import open_faces
    from occgen.sources.hands import MattedHands
    from occgen.sources.objects import CocoObjects

    def recipe(harmoniser):
        hands, objects = MattedHands(None, max_side_px=96), CocoObjects(None, max_side_px=96)
        config = NatOccConfig(color_transfer="none")
        return NatOccRecipe(open_faces(None), hands, config, seed=2, size=96, objects=objects, harmoniser=harmoniser)

    calls = []

    class Counting(RainNetHarmoniser):
        def _harmonise_crops(self, crops, masks):
            calls.append(len(crops))
            return super()._harmonise_crops(crops, masks)

    natocc = recipe(Counting(small_rainnet, ngf=8, batch_size=8))
    batch = natocc.make_batch(range(6))
    assert calls == [3]  # the three object samples (1, 3, 5) in one forward pass
    plain = recipe(None)
    for i, sample in enumerate(batch):
        single = natocc.make(i)
        assert np.abs(sample.image.astype(int) - single.image.astype(int)).max() <= 1
        assert np.array_equal(sample.occluder_mask, single.occluder_mask)
        kind = sample.metadata["occluder_types"][0]
        assert sample.metadata["harmonised"] == ("rainnet" if kind == "coco-object" else False)
        changed = not np.array_equal(sample.image, plain.make(i).image)
        assert changed == (kind == "coco-object")
