"""Hand matting (occgen/prep/hands/matting.py), the 11k Hands loader and the matting stage (resume, skips,
manifest), and ``occgen hands matte``. pymatting is imported once per session (``pymatting_warm``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import hand_photo, write_gray
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, EmptyOccluderError, SourceError
from occgen.core.imageio import read_rgba
from occgen.prep.hands.elevenk import HandFilter, open_hand_photos
from occgen.prep.hands.matting import BACKGROUND, FOREGROUND, UNKNOWN, MattingConfig, auto_trimap, mask_trimap, matte
from occgen.prep.hands.stage import HandsConfig, run_matting
from occgen.sources.hand_orientation import angle_difference_deg
from occgen.sources.hands import MattedHands

runner = CliRunner()
# Tolerances (stated in docs/hands.md): alpha mean absolute error, and the foreground colour in the edge band
# (true alpha in [0.1, 0.9]) within 12 of 255 levels per channel of the true skin colour (a white halo is
# about 100 off).
ALPHA_MAE = 0.05
EDGE_COLOUR_TOLERANCE = 12.0


@pytest.mark.parametrize("rot90", [0, 1])
def test_auto_matte_recovers_the_known_alpha_without_halo(pymatting_warm, rot90: int) -> None:
    image, fg, alpha, _ = hand_photo(21, rot90)
    config = MattingConfig()
    trimap = auto_trimap(image, config)
    assert set(np.unique(trimap)) == {BACKGROUND, UNKNOWN, FOREGROUND}
    assert np.all(alpha[trimap == FOREGROUND] > 0.9) and np.all(alpha[trimap == BACKGROUND] < 0.1)
    result = matte(image, trimap, config)
    assert result.alpha.dtype == np.float32 and result.alpha.shape == alpha.shape
    assert float(np.abs(result.alpha - alpha).mean()) < ALPHA_MAE
    edge = (alpha >= 0.1) & (alpha <= 0.9)
    assert edge.sum() > 100
    colour_error = np.abs(result.foreground.astype(np.float32) - fg)[edge].mean(axis=0)
    assert np.all(colour_error < EDGE_COLOUR_TOLERANCE), colour_error
    # Composited on black, the cut-out's edge is as dark as the true hand's: no bright ring.
    ours = result.foreground.astype(np.float32) * result.alpha[:, :, None]
    truth = fg.astype(np.float32) * alpha[:, :, None]
    assert float((ours - truth)[edge].mean()) < 6.0


def test_soft_cast_shadow_stays_background(pymatting_warm) -> None:
    from occgen.prep.hands.synthetic import on_background, render_hand, sample_hand_shape

    rng = np.random.default_rng(40)
    fg, alpha = render_hand(sample_hand_shape(rng=rng, rot90=0), 240, 320, rng=rng)
    image = on_background(fg, alpha, rng=rng, shadow=0.2)  # backdrop up to 20 % darker beside the hand
    result = matte(image, auto_trimap(image, MattingConfig()), MattingConfig())
    assert float(np.abs(result.alpha - alpha).mean()) < ALPHA_MAE
    assert float(result.alpha[alpha == 0].max()) < 0.5  # the shadow is not matted in as hand


def test_user_mask_trimap(pymatting_warm) -> None:
    image, _, alpha, _ = hand_photo(22, 0)
    trimap = mask_trimap((alpha > 0.5).astype(np.uint8), MattingConfig())
    result = matte(image, trimap, MattingConfig())
    assert float(np.abs(result.alpha - alpha).mean()) < ALPHA_MAE
    with pytest.raises(EmptyOccluderError, match="mask is empty"):
        mask_trimap(np.zeros((10, 10), np.uint8), MattingConfig())


def test_blank_photo_has_no_foreground() -> None:
    blank = np.full((60, 80, 3), 245, np.uint8)
    with pytest.raises(EmptyOccluderError, match="no foreground"):
        auto_trimap(blank, MattingConfig())
    with pytest.raises(ConfigError, match="solver"):
        MattingConfig(solver="magic")


def test_elevenk_loader_filters_and_reports_missing_rows(elevenk_root: Path, tmp_path: Path) -> None:
    photos, skipped = open_hand_photos(elevenk_root)
    assert [p.path.name for p in photos] == [f"Hand_000000{i}.jpg" for i in range(2, 6)]
    assert photos[0].attributes["aspectOfHand"] == "dorsal right"
    assert skipped == [{"source": "Hand_0000099.jpg", "reason": "listed in HandInfo.csv but not found"}]
    dorsal_clean = HandFilter(aspects=("dorsal right", "dorsal left"), no_accessories=True, no_irregularities=True)
    photos, _ = open_hand_photos(elevenk_root, dorsal_clean)
    assert [p.path.name for p in photos] == ["Hand_0000002.jpg", "Hand_0000005.jpg"]
    names = tmp_path / "list.txt"
    names.write_text("Hand_0000004.jpg\nHand_0000777.jpg\n")
    photos, skipped = open_hand_photos(elevenk_root, HandFilter(names_file=names))
    assert [p.path.name for p in photos] == ["Hand_0000004.jpg"]
    assert any(s["source"] == "Hand_0000777.jpg" for s in skipped)
    with pytest.raises(ConfigError, match="unknown hand aspect"):
        HandFilter(aspects=("sideways",))
    with pytest.raises(SourceError, match="no hand photos"):
        open_hand_photos(elevenk_root, HandFilter(aspects=("palmar right",)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no hand photos to matte"):
        open_hand_photos(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "HandInfo.csv").write_text("id,age\n1,2\n")
    with pytest.raises(SourceError, match="missing column"):
        open_hand_photos(tmp_path / "bad")


def test_stage_writes_manifest_resumes_and_counts_skips(pymatting_warm, elevenk_root: Path, tmp_path: Path) -> None:
    (elevenk_root / "Hands" / "Hand_0000004.jpg").write_bytes(b"not a jpeg")  # unreadable
    out = tmp_path / "matted"
    report = run_matting(elevenk_root, out, HandsConfig(), workers=1)
    assert report.written == 3 and report.resumed == 0
    reasons = {s["source"]: s["reason"] for s in report.skipped}
    assert set(reasons) == {"Hand_0000099.jpg", "Hand_0000004.jpg"} and "cannot decode" in reasons["Hand_0000004.jpg"]
    manifest = json.loads((out / "manifest.json").read_text())
    ids = [h["id"] for h in manifest["hands"]]
    assert ids == ["Hand_0000002", "Hand_0000003", "Hand_0000005"]
    for record in manifest["hands"]:
        rgb, alpha = read_rgba(out / record["file"])
        assert alpha.shape == (record["size"][1], record["size"][0])
        assert alpha.max() == 1.0 and alpha[0].max() > 0 and alpha[:, 0].max() > 0  # cropped to the hand
        assert len(record["source_sha256"]) == 64 and record["attributes"]["imageName"] == record["source"]
    # Known directions: fixture i is turned by i % 4 quarter turns (photos 2, 3, 5 -> 0, 1, 3).
    for record, expected in zip(manifest["hands"], (-90.0, 180.0, 0.0), strict=True):
        assert record["direction_method"] == "border"
        assert abs(angle_difference_deg(record["finger_angle_deg"], expected)) < 15
    assert sorted(p.name for p in (out / "hands").iterdir()) == [f"{i}.png" for i in ids]
    # Resume: nothing is matted again.
    again = run_matting(elevenk_root, out, HandsConfig(), workers=1)
    assert again.written == 0 and again.resumed == 3
    # A changed source photo is matted again.
    image, _, _, _ = hand_photo(99, 0)
    cv2.imwrite(str(elevenk_root / "Hands" / "Hand_0000002.jpg"), image[:, :, ::-1].copy())
    third = run_matting(elevenk_root, out, HandsConfig(), workers=1)
    assert third.written == 1 and third.resumed == 2
    # The matted folder is an occluder source with the manifest's directions.
    hands = MattedHands(out, max_side_px=64)
    occluder, params = hands.draw(rng=np.random.default_rng(0))
    assert occluder.kind == "hand" and max(occluder.alpha.shape) <= 64
    assert params["finger_angle_deg"] in [h["finger_angle_deg"] for h in manifest["hands"]]


def test_stage_with_user_masks_and_two_workers(pymatting_warm, elevenk_root: Path, tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    for i in range(2, 6):
        _, _, alpha, _ = hand_photo(10 + i - 2, (i - 2) % 4)
        write_gray(masks / f"Hand_000000{i}.png", ((alpha > 0.5) * 255).astype(np.uint8))
    write_gray(masks / "Hand_0000003.png", np.zeros((240, 320), np.uint8))  # an empty mask: a counted skip
    report = run_matting(elevenk_root, tmp_path / "m", HandsConfig(), mask_dir=masks, workers=2)
    assert report.written == 3
    assert any(s["source"] == "Hand_0000003.jpg" and "empty" in s["reason"] for s in report.skipped)
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert all(h["trimap"] == "mask" and len(h["mask_sha256"]) == 64 for h in manifest["hands"])
    # Resume: unchanged masks are not redone; a changed mask is; automatic trimaps redo them all.
    write_gray(masks / "Hand_0000005.png", np.zeros((240, 320), np.uint8))
    again = run_matting(elevenk_root, tmp_path / "m", HandsConfig(), mask_dir=masks, workers=1)
    assert again.resumed == 2 and again.written == 0
    assert not (tmp_path / "m" / "hands" / "Hand_0000005.png").exists()  # its re-matting failed: no stale file
    auto = run_matting(elevenk_root, tmp_path / "m", HandsConfig(), workers=1)
    assert auto.resumed == 0 and auto.written == 4


def test_cli_hands_matte(pymatting_warm, elevenk_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["hands", "matte", "--src", str(elevenk_root), "--out", str(out), "--workers", "1",
            "--aspect", "dorsal right", "--limit", "1"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "matted 1 hand(s)" in result.output and (out / "hands" / "Hand_0000002.png").is_file()
    result = runner.invoke(app, ["hands", "matte", "--src", str(tmp_path / "nowhere"), "--out", str(out)])
    assert result.exit_code == 1 and "hands folder not found" in result.output
    demo = tmp_path / "demo_hands"
    result = runner.invoke(app, ["hands", "matte", "--out", str(demo), "--workers", "1"])  # no --src: the demo
    assert result.exit_code == 0, result.output
    from occgen.sources.hands import MattedHands

    matted = MattedHands(demo)
    assert len(matted) == 4  # assets/demo/11k: four drawn hands in the 11k Hands layout
    for i in range(4):
        occluder, _ = matted.load(i)
        assert occluder.alpha.max() == 1.0 and (occluder.alpha > 0.5).mean() > 0.2


def test_matting_config_from_params(tmp_path: Path) -> None:
    from occgen.settings import load_hands_config as _load_hands_config

    params = tmp_path / "params.yaml"
    params.write_text("hands:\n  path: data/11k\n  matting:\n    solver: lkm\n")
    config = _load_hands_config(params)
    assert config.path == tmp_path / "data" / "11k" and config.matting.solver == "lkm"
    assert replace(config, limit=3).hand_filter().limit == 3
    params.write_text("hands:\n  matting:\n    sovler: cf\n")
    with pytest.raises(ConfigError, match="hands.matting.sovler"):
        _load_hands_config(params)
