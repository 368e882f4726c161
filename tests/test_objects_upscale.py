"""Super-resolution backends for RGBA cut-outs: classical (Lanczos + edge-aware alpha) and RRDBNet."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.checkpoint import CheckpointError
from occgen.core.errors import ConfigError, ImageReadError, SourceError
from occgen.core.imageio import read_rgba
from occgen.prep.objects.coco import soft_alpha
from occgen.prep.objects.upscale import (
    LanczosUpscaler,
    RRDBUpscaler,
    build_rrdbnet,
    esrgan_keys,
    make_upscaler,
    upscale_alpha,
    upscale_folder,
)


def square_cutout(side: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((side, side, 3), 30, np.uint8)
    rgb[10:30, 10:30] = (220, 180, 60)
    mask = np.zeros((side, side), np.uint8)
    mask[10:30, 10:30] = 1
    return rgb, soft_alpha(mask, erode_px=0, sigma_px=1.0)


def write_rgba(path: Path, rgb: np.ndarray, alpha: np.ndarray) -> None:
    rgba = np.dstack([rgb, np.round(alpha * 255).astype(np.uint8)])
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))


def test_lanczos_upscaler_shapes_and_invariants() -> None:
    rgb, alpha = square_cutout()
    rgb_before, alpha_before = rgb.copy(), alpha.copy()
    up_rgb, up_alpha = LanczosUpscaler(4).upscale(rgb, alpha)
    assert up_rgb.shape == (160, 160, 3) and up_rgb.dtype == np.uint8
    assert up_alpha.shape == (160, 160) and up_alpha.dtype == np.float32
    assert up_alpha.min() == 0.0 and up_alpha.max() == 1.0
    assert up_alpha[80, 80] == 1.0 and up_alpha[0, 0] == 0.0  # interior opaque, background transparent
    np.testing.assert_array_equal(up_rgb[70:90, 70:90], np.broadcast_to([220, 180, 60], (20, 20, 3)))
    assert np.array_equal(rgb, rgb_before) and np.array_equal(alpha, alpha_before)  # inputs not mutated


def test_edge_aware_alpha_is_steeper_than_bicubic_at_a_colour_edge() -> None:
    rgb, alpha = square_cutout()
    up_rgb = LanczosUpscaler(4).upscale(rgb, alpha)[0]
    guided = upscale_alpha(alpha, up_rgb, 4)
    cubic = np.clip(cv2.resize(alpha, (160, 160), interpolation=cv2.INTER_CUBIC), 0, 1)
    mid_guided = int(((guided > 0.25) & (guided < 0.75)).sum())
    mid_cubic = int(((cubic > 0.25) & (cubic < 0.75)).sum())
    assert mid_guided < mid_cubic
    assert (guided > 0).sum() <= (cubic > 0).sum()  # never spreads beyond the bicubic footprint


def test_rrdbnet_has_the_esrgan_layout() -> None:
    model = build_rrdbnet(num_blocks=23)
    state = model.state_dict()
    assert sum(v.numel() for v in state.values()) == 16_697_987  # ESRGAN RRDB_ESRGAN_x4
    assert len(state) == 702
    names = list(state)
    assert names[:4] == ["conv_first.weight", "conv_first.bias", "RRDB_trunk.0.RDB1.conv1.weight",
                         "RRDB_trunk.0.RDB1.conv1.bias"]  # fmt: skip
    assert names[-10:] == [f"{m}.{p}" for m in ("trunk_conv", "upconv1", "upconv2", "HRconv", "conv_last")
                           for p in ("weight", "bias")]  # fmt: skip
    assert tuple(state["RRDB_trunk.22.RDB3.conv5.weight"].shape) == (64, 192, 3, 3)


def test_basicsr_keys_are_renamed() -> None:
    basicsr = {"conv_first.weight": 0, "body.3.rdb2.conv4.bias": 1, "conv_body.weight": 2, "conv_up1.bias": 3,
               "conv_up2.weight": 4, "conv_hr.bias": 5, "conv_last.weight": 6}  # fmt: skip
    assert esrgan_keys(basicsr) == {"conv_first.weight": 0, "RRDB_trunk.3.RDB2.conv4.bias": 1,
                                    "trunk_conv.weight": 2, "upconv1.bias": 3, "upconv2.weight": 4,
                                    "HRconv.bias": 5, "conv_last.weight": 6}  # fmt: skip


@pytest.fixture
def small_rrdb_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "rrdb.pth"
    torch.save(build_rrdbnet(num_blocks=1, num_feat=8, num_grow=4).state_dict(), path)
    return path


def test_rrdb_upscaler_loads_strictly_and_tiles_seamlessly(small_rrdb_checkpoint: Path, tmp_path: Path) -> None:
    whole = RRDBUpscaler(small_rrdb_checkpoint, num_blocks=1, num_feat=8, num_grow=4, tile_px=0)
    tiled = RRDBUpscaler(small_rrdb_checkpoint, num_blocks=1, num_feat=8, num_grow=4, tile_px=16, tile_pad_px=16)
    rgb, alpha = square_cutout(36)
    up_rgb, up_alpha = whole.upscale(rgb, alpha)
    assert up_rgb.shape == (144, 144, 3) and up_alpha.shape == (144, 144)
    # With as much context as the receptive field needs, tiles reproduce the whole-image result.
    assert np.abs(tiled.upscale_rgb(rgb).astype(int) - up_rgb.astype(int)).max() <= 1
    basicsr = {  # the same weights under BasicSR names load too
        k.replace("RRDB_trunk.", "body.").replace("RDB", "rdb").replace("trunk_conv", "conv_body"): v
        for k, v in torch.load(small_rrdb_checkpoint, weights_only=True).items()
    }
    basicsr = {k.replace("upconv", "conv_up").replace("HRconv", "conv_hr"): v for k, v in basicsr.items()}
    torch.save({"params_ema": basicsr}, tmp_path / "basicsr.pth")
    again = RRDBUpscaler(tmp_path / "basicsr.pth", num_blocks=1, num_feat=8, num_grow=4, tile_px=0)
    np.testing.assert_array_equal(again.upscale_rgb(rgb), up_rgb)


def test_rrdb_wrong_checkpoint_lists_keys(small_rrdb_checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match=r"missing: RRDB_trunk\.1\.RDB1\.conv1\.weight"):
        RRDBUpscaler(small_rrdb_checkpoint, num_blocks=2, num_feat=8, num_grow=4)
    with pytest.raises(CheckpointError, match="mis-shaped: conv_first.weight"):
        RRDBUpscaler(small_rrdb_checkpoint, num_blocks=1, num_feat=16, num_grow=4)


def test_make_upscaler_errors(small_rrdb_checkpoint: Path) -> None:
    with pytest.raises(ConfigError, match="needs --checkpoint"):
        make_upscaler("rrdb")
    with pytest.raises(ConfigError, match="valid: lanczos, rrdb"):
        make_upscaler("glean")
    with pytest.raises(ConfigError, match="x4 only"):
        make_upscaler("rrdb", scale=2, checkpoint=small_rrdb_checkpoint)
    with pytest.raises(ConfigError, match="uses no weights"):
        make_upscaler("lanczos", checkpoint=small_rrdb_checkpoint)


def test_upscale_folder_resumes_and_carries_the_manifest(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    rgb, alpha = square_cutout()
    write_rgba(src / "coco_1_cup.png", rgb, alpha)
    write_rgba(src / "coco_2_cup.png", rgb[:, ::-1].copy(), alpha[:, ::-1].copy())
    items = [{"file": "coco_1_cup.png", "annotation_id": 1, "width": 40, "height": 40, "sha256": "x"},
             {"file": "coco_2_cup.png", "annotation_id": 2, "width": 40, "height": 40, "sha256": "y"}]  # fmt: skip
    (src / "manifest.json").write_text(json.dumps({"kind": "coco-objects", "items": items}))
    report = upscale_folder(src, out, LanczosUpscaler(4))
    assert (report.written, report.skipped_existing, report.too_large) == (2, 0, 0)
    up_rgb, up_alpha = read_rgba(out / "coco_1_cup.png")
    assert up_rgb.shape == (160, 160, 3) and up_alpha[80, 80] == 1.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["upscale"] == {"backend": "lanczos", "scale": 4}
    first = manifest["items"][0]
    assert (first["width"], first["height"]) == (160, 160)
    assert first["sha256"] == hashlib.sha256((out / "coco_1_cup.png").read_bytes()).hexdigest()
    again = upscale_folder(src, out, LanczosUpscaler(4))
    assert (again.written, again.skipped_existing) == (0, 2)
    with pytest.raises(ConfigError, match="upscaled with other settings"):
        upscale_folder(src, out, LanczosUpscaler(2))
    redone = upscale_folder(src, out, LanczosUpscaler(2), overwrite=True)
    assert redone.written == 2 and read_rgba(out / "coco_1_cup.png")[0].shape == (80, 80, 3)
    capped = upscale_folder(src, tmp_path / "capped", LanczosUpscaler(4), max_side_px=100)
    assert capped.too_large == 2 and read_rgba(tmp_path / "capped" / "coco_1_cup.png")[0].shape == (40, 40, 3)


def test_upscale_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cut-out folder not found"):
        upscale_folder(tmp_path / "nope", tmp_path / "out", LanczosUpscaler(4))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no .png cut-outs"):
        upscale_folder(tmp_path / "empty", tmp_path / "out", LanczosUpscaler(4))
    rgb = np.zeros((8, 8, 3), np.uint8)
    (tmp_path / "rgb").mkdir()
    assert cv2.imwrite(str(tmp_path / "rgb" / "x.png"), rgb)
    with pytest.raises(ImageReadError, match="expected an 8-bit RGBA image"):
        upscale_folder(tmp_path / "rgb", tmp_path / "out", LanczosUpscaler(4))
    with pytest.raises(ConfigError, match="must differ"):
        upscale_folder(tmp_path / "rgb", tmp_path / "rgb", LanczosUpscaler(4))


def test_cli_upscale(tmp_path: Path, small_rrdb_checkpoint: Path) -> None:
    rgb, alpha = square_cutout()
    write_rgba(tmp_path / "hands" / "hand_0001.png", rgb, alpha)  # any RGBA folder, no manifest
    result = CliRunner().invoke(
        app, ["occluders", "upscale", "--src", str(tmp_path / "hands"), "--out", str(tmp_path / "up")]
    )
    assert result.exit_code == 0, result.output
    assert "1 cut-outs upscaled with lanczos" in result.output
    assert read_rgba(tmp_path / "up" / "hand_0001.png")[0].shape == (160, 160, 3)
    bad = CliRunner().invoke(
        app, ["occluders", "upscale", "--src", str(tmp_path / "hands"), "--out", str(tmp_path / "up2"),
              "--backend", "rrdb", "--checkpoint", str(small_rrdb_checkpoint)],
    )  # fmt: skip
    assert bad.exit_code == 1 and "mis-shaped" in bad.output  # default 64 features vs an 8-feature checkpoint


def test_rrdbnet_matches_reference_values_from_esrgan() -> None:
    """Reference values computed once with xinntao/ESRGAN's own ``RRDBNet_arch.RRDBNet(3, 3, 16, 2, gc=8)``
    from the same weights and input (not vendored; our forward matched it exactly, max abs difference 0.0)."""
    model = build_rrdbnet(num_blocks=2, num_feat=16, num_grow=8)
    rng = np.random.default_rng(0)
    state = {
        key: torch.from_numpy(rng.normal(0.0, 0.05, tuple(value.shape)).astype(np.float32))
        for key, value in model.state_dict().items()
    }
    model.load_state_dict(state, strict=True)
    x = torch.from_numpy(np.random.default_rng(1).uniform(0, 1, (1, 3, 24, 20)).astype(np.float32))
    with torch.no_grad():
        out = model.eval()(x)
    assert out.shape == (1, 3, 96, 80)
    assert float(out.mean()) == pytest.approx(-0.0021410331, abs=1e-6)
    assert float(out.std()) == pytest.approx(0.0308561064, abs=1e-6)
    assert float(out[0, 0, 5, 7]) == pytest.approx(-0.0011934643, abs=1e-5)
    assert float(out[0, 2, 90, 70]) == pytest.approx(-0.0424433909, abs=1e-5)


def test_matted_hands_folder_upscales_through_its_manifest(tmp_path: Path) -> None:
    """Hands (manifest.json + hands/*.png) go through the same upscale stage and stay usable by NatOcc."""
    import json

    from occgen.core.files import demo_root
    from occgen.prep.objects.upscale import LanczosUpscaler, upscale_folder
    from occgen.sources.hands import MattedHands

    src = demo_root() / "hands"
    report = upscale_folder(src, tmp_path / "hands_x2", LanczosUpscaler(scale=2))
    assert report.written == 6
    before = json.loads((src / "manifest.json").read_text())["hands"]
    after = json.loads((tmp_path / "hands_x2" / "manifest.json").read_text())["hands"]
    for old, new in zip(before, after, strict=True):
        assert new["size"] == [2 * old["size"][0], 2 * old["size"][1]]
        assert new["finger_angle_deg"] == old["finger_angle_deg"]
    assert len(MattedHands(tmp_path / "hands_x2")) == 6


def test_scale_one_keeps_cut_outs_byte_for_byte(tmp_path: Path) -> None:
    from occgen.core.files import demo_root
    from occgen.prep.objects.upscale import LanczosUpscaler, upscale_folder

    src = demo_root() / "hands"
    upscale_folder(src, tmp_path / "same", LanczosUpscaler(scale=1))
    for path in sorted((src / "hands").glob("*.png")):
        assert (tmp_path / "same" / "hands" / path.name).read_bytes() == path.read_bytes()
