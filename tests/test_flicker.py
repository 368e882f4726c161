"""The flicker metric (issue 27): 0 for the true masks, grows with per-frame noise; folders of frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from occgen.core.errors import ConfigError, SourceError
from occgen.core.imageio import write_png
from occgen.train.flicker import (
    face_iou,
    moved,
    relative_motion,
    score_clip,
    score_clip_folders,
    summarise,
)


def moving_disc(frames: int = 8, size: int = 48) -> list[np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    return [((xx - 14 - 2 * t) ** 2 + (yy - 24) ** 2 < 100) for t in range(frames)]


def noisy(masks: list[np.ndarray], share: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [m ^ (rng.random(m.shape) < share) for m in masks]


def test_flicker_is_zero_for_the_truth_and_grows_with_noise() -> None:
    truth = moving_disc()
    exact = score_clip("c", truth, truth)
    assert exact.flicker == 0.0 and exact.drops == 0 and all(i == 1.0 for i in exact.iou)
    assert exact.true_change[0] > 0  # the face moves: the truth itself changes
    flickers = [score_clip("c", noisy(truth, share, 1), truth).flicker for share in (0.01, 0.05, 0.2)]
    assert 0 < flickers[0] < flickers[1] < flickers[2]
    frozen = score_clip("c", [truth[0]] * len(truth), truth)  # copies the first mask: lags the motion
    assert frozen.flicker < 0 and frozen.drops > 0


def test_reference_values() -> None:
    empty, full = np.zeros((4, 4), bool), np.ones((4, 4), bool)
    half = np.zeros((4, 4), bool)
    half[:2] = True
    assert face_iou(empty, empty) == 1.0 and face_iou(half, full) == 0.5
    score = score_clip("c", [full, half, full], [full, full, full])
    assert score.pred_change == (0.5, 0.5) and score.true_change == (0.0, 0.0) and score.flicker == 0.5
    assert score.iou == (1.0, 0.5, 1.0) and score.drops == 1  # 100 -> 50: one drop of more than 5 points
    summary = summarise([score, score_clip("d", [full, full], [full, full])])
    assert summary["transitions"] == 3 and summary["flicker"] == pytest.approx(1.0 / 3)
    assert summary["iou_drop_share"] == pytest.approx(1.0 / 3)


def test_known_face_motion_is_not_flicker() -> None:
    truth = moving_disc()
    shift = [np.array([[1.0, 0, 2.0 * t], [0, 1.0, 0]]) for t in range(len(truth))]  # the disc moves 2 px/frame
    assert np.allclose(relative_motion(shift[2], shift[3]), [[1, 0, 2], [0, 1, 0]])
    assert np.array_equal(moved(truth[2], relative_motion(shift[2], shift[3])), truth[3])
    warped = score_clip("c", truth, truth, shift)
    assert max(warped.true_change) == 0.0  # warped by the motion, the truth does not change at all
    lagging = score_clip("c", [truth[0]] * len(truth), truth, shift)
    assert lagging.flicker > 0  # a frozen mask does change relative to the moving face


def test_bad_input_raises() -> None:
    with pytest.raises(ConfigError, match="need >= 2"):
        score_clip("c", [np.zeros((4, 4), bool)], [np.zeros((4, 4), bool)])
    with pytest.raises(Exception, match="expected two"):
        score_clip("c", [np.zeros((4, 4), bool)] * 2, [np.zeros((5, 4), bool)] * 2)


def test_folders_of_predicted_frames(tmp_path: Path) -> None:
    truth = moving_disc(5)
    for t, mask in enumerate(truth):
        write_png(tmp_path / "gt" / "masks" / "clip-a" / f"{t:03d}.png", mask.astype(np.uint8) * 255)
        write_png(tmp_path / "pred" / "clip-a" / f"{t:03d}.png", mask.astype(np.uint8) * 255)
    (scored,) = score_clip_folders(tmp_path / "pred", tmp_path / "gt")
    assert scored.clip_id == "clip-a" and scored.flicker == 0.0 and len(scored.iou) == 5
    (tmp_path / "pred" / "clip-a" / "004.png").unlink()
    with pytest.raises(SourceError, match="004.png has no prediction"):
        score_clip_folders(tmp_path / "pred", tmp_path / "gt")
    with pytest.raises(SourceError, match="no clip folders"):
        score_clip_folders(tmp_path / "pred", tmp_path / "nothing")


def test_a_model_on_a_clip_store(tmp_path: Path, small_recipe) -> None:
    from occgen.recipes.clips import ClipRecipe
    from occgen.recipes.motion import ClipConfig
    from occgen.run.generate import generate
    from occgen.train.flicker import score_clip_store

    store = tmp_path / "clips.zarr"
    recipe = ClipRecipe(small_recipe, ClipConfig(frames=5))
    generate(recipe, store, n=10, shard_size=5)
    truths = {recipe.make(i).image.tobytes(): recipe.make(i).face_mask.astype(bool) for i in range(10)}

    def oracle(frames: list[np.ndarray]) -> list[np.ndarray]:  # a "model" that knows the true masks
        return [truths[frame.tobytes()] for frame in frames]

    rng = np.random.default_rng(0)

    def jittery(frames: list[np.ndarray]) -> list[np.ndarray]:
        return [mask ^ (rng.random(mask.shape) < 0.05) for mask in oracle(frames)]

    exact = summarise(score_clip_store(store, oracle))
    assert exact["clips"] == 2 and exact["frames"] == 10
    assert exact["flicker"] == 0.0 and exact["iou_drop_share"] == 0.0 and exact["face_iou_per_frame_mean"] == 1.0
    assert summarise(score_clip_store(store, jittery))["flicker"] > 0.02


def test_evaluate_clips_command_on_folders(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from occgen.cli.main import app

    truth = moving_disc(4)
    rng = np.random.default_rng(3)
    for t, mask in enumerate(truth):
        write_png(tmp_path / "gt" / "masks" / "clip-b" / f"{t:03d}.png", mask.astype(np.uint8) * 255)
        jitter = mask ^ (rng.random(mask.shape) < 0.1)
        write_png(tmp_path / "pred" / "clip-b" / f"{t:03d}.png", jitter.astype(np.uint8) * 255)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["evaluate", "--clips", "--pred", str(tmp_path / "pred"), "--gt",
                                      str(tmp_path / "gt"), "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    import json

    summary = json.loads((out / "flicker.json").read_text())
    assert summary["clips"] == 1 and summary["frames"] == 4 and summary["flicker"] > 0.05
    assert (out / "per_clip.csv").read_text().startswith("clip_id,frames,flicker")
