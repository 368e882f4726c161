"""RainNet re-implementation: official state-dict layout, RAIN maths, strict loading, forward contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from occgen.appearance.rainnet import RAIN, RainNet, blend_prediction, load_rainnet
from occgen.core.checkpoint import CheckpointError
from occgen.core.errors import ArrayContractError


def official_layout(ngf: int = 64) -> dict[str, tuple[int, ...]]:
    """The state-dict layout of junleen/RainNet's generator (input_nc 4, output_nc 3), written out by hand."""
    c1, c2, c4, c8 = ngf, 2 * ngf, 4 * ngf, 8 * ngf

    def rain(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
        names = ("foreground_gamma", "foreground_beta", "background_gamma", "background_beta")
        return {f"{prefix}.{name}": (channels,) for name in names}

    inner = "unet_block.submodule.submodule.submodule"
    layout = {
        "model_layer0.weight": (c1, 4, 4, 4),
        "model_layer1.1.weight": (c2, c1, 4, 4),
        "model_layer2.1.weight": (c4, c2, 4, 4),
        "model_layer3.1.weight": (c8, c4, 4, 4),
        "unet_block.down.1.weight": (c8, c8, 4, 4),
        "unet_block.submodule.down.1.weight": (c8, c8, 4, 4),
        "unet_block.submodule.submodule.down.1.weight": (c8, c8, 4, 4),
        f"{inner}.up.1.weight": (c8, c8, 4, 4),
        f"{inner}.up.3.weight": (c8, c8, 4, 4),
        **rain(f"{inner}.upnorm", c8),
        "unet_block.submodule.submodule.up.1.weight": (2 * c8, c8, 4, 4),
        **rain("unet_block.submodule.submodule.upnorm", c8),
        "unet_block.submodule.up.1.weight": (2 * c8, c8, 4, 4),
        **rain("unet_block.submodule.upnorm", c8),
        "unet_block.up.1.weight": (2 * c8, c8, 4, 4),
        **rain("unet_block.upnorm", c8),
        "model_layer11.1.weight": (2 * c8, c4, 4, 4),
        **rain("model_layer11norm", c4),
        "model_layer11att.0.weight": (c8, c8, 1, 1),
        "model_layer11att.0.bias": (c8,),
        "model_layer12.1.weight": (c8, c2, 4, 4),
        **rain("model_layer12norm", c2),
        "model_layer12att.0.weight": (c4, c4, 1, 1),
        "model_layer12att.0.bias": (c4,),
        "model_layer13.1.weight": (c4, c1, 4, 4),
        **rain("model_layer13norm", c1),
        "model_layer13att.0.weight": (c2, c2, 1, 1),
        "model_layer13att.0.bias": (c2,),
        "model_out.1.weight": (c2, 3, 4, 4),
        "model_out.1.bias": (3,),
    }
    return layout


def test_state_dict_matches_official_layout_and_parameter_count() -> None:
    model = RainNet(ngf=64)
    state = model.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == official_layout(64)
    assert list(state) == list(official_layout(64))  # same order as the official module registration
    assert len(state) == 51
    assert sum(p.numel() for p in model.parameters()) == 54_760_067


def test_save_random_init_and_load_strictly(tmp_path: Path) -> None:
    torch.manual_seed(0)  # torch's own init; occgen code never seeds globally
    model = RainNet(ngf=64)
    path = tmp_path / "net_G_last.pth"
    torch.save(model.state_dict(), path)
    loaded = load_rainnet(path)
    assert not loaded.training
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_dataparallel_prefix_is_removed(tmp_path: Path) -> None:
    model = RainNet(ngf=8)
    path = tmp_path / "dp.pth"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)
    loaded = load_rainnet(path, ngf=8)
    expected = model.state_dict()
    state = loaded.state_dict()
    assert set(state) == set(expected)  # no "module." left on any key
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


def test_wrong_key_lists_missing_and_unexpected(tmp_path: Path) -> None:
    state = RainNet(ngf=8).state_dict()
    state["model_out.1.bias_renamed"] = state.pop("model_out.1.bias")
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        load_rainnet(path, ngf=8)
    message = str(info.value)
    assert "1 missing: model_out.1.bias" in message
    assert "1 unexpected: model_out.1.bias_renamed" in message
    assert str(path) in message


def test_wrong_width_lists_misshaped_keys(tmp_path: Path) -> None:
    path = tmp_path / "ngf8.pth"
    torch.save(RainNet(ngf=8).state_dict(), path)
    with pytest.raises(CheckpointError, match=r"mis-shaped: model_layer0.weight \(expected \(16, 4, 4, 4\), got \(8"):
        load_rainnet(path, ngf=16)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_rainnet(tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_rainnet(bad)


def test_rain_gives_the_foreground_the_background_statistics() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, (1, 2, 8, 8)).astype(np.float32)
    x[:, :, 2:6, 2:6] = x[:, :, 2:6, 2:6] * 3.0 + 5.0  # foreground with other statistics
    mask = np.zeros((1, 1, 8, 8), np.float32)
    mask[:, :, 2:6, 2:6] = 1.0
    out = RAIN(2)(torch.from_numpy(x), torch.from_numpy(mask)).detach().numpy()
    fg, bg = mask[0, 0] > 0, mask[0, 0] == 0
    for c in range(2):
        # Zero gamma/beta: the background is instance-normalised; the foreground takes the background's
        # mean and std (reference: numpy statistics of the input).
        np.testing.assert_allclose(out[0, c][bg].mean(), 0.0, atol=1e-5)
        np.testing.assert_allclose(out[0, c][bg].std(), 1.0, atol=1e-3)
        np.testing.assert_allclose(out[0, c][fg].mean(), x[0, c][bg].mean(), atol=1e-4)
        np.testing.assert_allclose(out[0, c][fg].std(), x[0, c][bg].std(), rtol=1e-3)


def test_forward_shape_dtype_range_and_eval_determinism() -> None:
    torch.manual_seed(1)
    model = RainNet(ngf=8).eval()
    mask = torch.zeros(2, 1, 256, 256)
    mask[:, :, 64:160, 80:200] = 1.0
    x = torch.cat([torch.rand(2, 3, 256, 256) * 2 - 1, mask], dim=1)
    with torch.no_grad():
        first, second = model(x, mask), model(x, mask)
    assert first.shape == (2, 3, 256, 256) and first.dtype == torch.float32
    assert float(first.abs().max()) <= 1.0
    assert torch.equal(first, second)  # eval(): dropout off
    blended = blend_prediction(first, x[:, :3], mask)
    assert torch.equal(blended[:, :, :64], x[:, :3, :64])  # outside the mask: the composite, untouched


def test_forward_rejects_bad_shapes() -> None:
    model = RainNet(ngf=8).eval()
    with pytest.raises(ArrayContractError, match="multiples of 256"):
        model(torch.zeros(1, 4, 200, 256), torch.zeros(1, 1, 200, 256))
    with pytest.raises(ArrayContractError, match=r"expected x \(B, 4, H, W\)"):
        model(torch.zeros(1, 3, 256, 256), torch.zeros(1, 1, 256, 256))


def test_output_matches_reference_values_from_the_official_code() -> None:
    """Reference values computed once with junleen/RainNet's own ``RainNet`` (ngf 8, eval mode) from the same
    weights and input (not vendored: the check was run against a checkout of the official repository;
    our forward matched it exactly, max abs difference 0.0). Catches any drift in the architecture, e.g.
    skips carrying the pre-activation feature instead of the activated one."""
    rng = np.random.default_rng(0)
    model = RainNet(ngf=8)
    state = {
        key: torch.from_numpy(rng.normal(0.0, 0.1, tuple(value.shape)).astype(np.float32))
        for key, value in model.state_dict().items()
    }
    model.load_state_dict(state, strict=True)
    model.eval()
    comp = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (1, 3, 256, 256)).astype(np.float32))
    mask = torch.zeros(1, 1, 256, 256)
    mask[:, :, 64:192, 48:160] = 1
    with torch.no_grad():
        out = model(torch.cat([comp, mask], 1), mask)
    assert float(out.mean()) == pytest.approx(0.0052108862, abs=1e-5)
    assert float(out.std()) == pytest.approx(0.2235454023, abs=1e-5)
    expected = {(0, 0, 0): -0.0916666016, (1, 100, 100): 0.2572194636, (2, 128, 64): 0.1958620250,
                (0, 200, 230): -0.2256438881, (1, 70, 150): 0.1379174739}  # fmt: skip
    for (c, y, x), value in expected.items():
        assert float(out[0, c, y, x]) == pytest.approx(value, abs=1e-4), (c, y, x)
