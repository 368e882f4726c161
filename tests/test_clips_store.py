"""Clip stores (issue 27): generate --frames, the frame-axis reader, export (folder, video), previews."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import zarr
from PIL import Image
from test_generate import assert_same_store
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, StoreError
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.clip_preview import clip_strip, write_clip_animation
from occgen.run.clips import clip_recipe, clip_shard_size
from occgen.run.export import export_store
from occgen.run.export_video import export_video
from occgen.run.generate import generate
from occgen.store import open_store
from occgen.store.clips import ClipView
from occgen.store.schema import ShardReader

runner = CliRunner()
FRAMES = 4


@pytest.fixture
def clip_store(tmp_path: Path, small_recipe: RandOccRecipe) -> Path:
    out = tmp_path / "clips.zarr"
    generate(clip_recipe(small_recipe, FRAMES), out, n=3 * FRAMES, shard_size=2 * FRAMES, labels=("parsing",))
    return out


def test_clip_store_has_a_frame_axis(clip_store: Path, small_recipe: RandOccRecipe) -> None:
    dataset = open_store(clip_store)
    assert dataset.card["frames"] == FRAMES and len(dataset) == 3 * FRAMES
    view = ClipView(dataset)
    assert len(view) == 3
    clip = view[2]
    assert clip.image.shape == (FRAMES, 64, 64, 3) and clip.image.dtype == np.uint8
    assert clip.face_mask.shape == clip.occluder_mask.shape == (FRAMES, 64, 64)
    assert clip.labels["parsing"].shape == (FRAMES, 64, 64)
    assert [m["clip"]["frame"] for m in clip.metadata] == list(range(FRAMES))
    assert clip.clip_id == "randocc-00000002"
    expected = clip_recipe(small_recipe, FRAMES).make(2 * FRAMES + 1)  # the recipe's frame, as stored
    assert np.array_equal(clip.image[1], expected.image) and np.array_equal(clip.face_mask[1], expected.face_mask)
    with pytest.raises(IndexError, match=r"frame \(3, 0\) out of range"):
        view.frame_index(3, 0)


def test_verify_checks_the_clip_layout(clip_store: Path) -> None:
    from occgen.store.clips import clip_layout_problems

    result = runner.invoke(app, ["verify", str(clip_store)])
    assert result.exit_code == 0, result.output
    card = {"n": 12, "shard_size": 8, "frames": 4}
    assert clip_layout_problems(card) == [] and clip_layout_problems({"n": 5}) == []
    (problem,) = clip_layout_problems({**card, "n": 13})
    assert problem == "n 13 is not a whole number of 4-frame clips; regenerate the store"
    assert "expected an integer >= 2" in clip_layout_problems({**card, "frames": 1})[0]


def test_stills_are_not_clips(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    generate(small_recipe, tmp_path / "s.zarr", n=2, shard_size=2)
    with pytest.raises(StoreError, match="is not a clip store"):
        ClipView(open_store(tmp_path / "s.zarr"), name="s.zarr")
    with pytest.raises(ConfigError, match="--frames must be at least 2"):
        clip_recipe(small_recipe, 1)
    assert clip_shard_size(64, 16) == 64 and clip_shard_size(10, 16) == 16 and clip_shard_size(40, 16) == 32


def test_clips_are_the_same_with_one_or_two_workers(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    one, two = tmp_path / "one.zarr", tmp_path / "two.zarr"
    generate(clip_recipe(small_recipe, FRAMES), one, n=4 * FRAMES, shard_size=FRAMES, workers=1)
    generate(clip_recipe(small_recipe, FRAMES), two, n=4 * FRAMES, shard_size=FRAMES, workers=2)
    assert_same_store(one, two)


def test_export_folder_and_video_write_every_frame(tmp_path: Path, clip_store: Path) -> None:
    export_store(clip_store, tmp_path / "folder")
    frames = sorted((tmp_path / "folder" / "images" / "randocc-00000001").glob("*.png"))
    assert [p.name for p in frames] == [f"{t:03d}.png" for t in range(FRAMES)]
    assert len(list((tmp_path / "folder" / "masks").rglob("*.png"))) == 3 * FRAMES
    assert (tmp_path / "folder" / "parsing" / "randocc-00000001" / "003.png").is_file()

    assert export_video(clip_store, tmp_path / "video") == 3
    capture = cv2.VideoCapture(str(tmp_path / "video" / "videos" / "randocc-00000000.mp4"))
    read = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        read.append(frame)
    assert len(read) == FRAMES and read[0].shape == (64, 64, 3)
    view = ClipView(open_store(clip_store))
    decoded = cv2.cvtColor(read[2], cv2.COLOR_BGR2RGB).astype(int)
    assert np.abs(decoded - view[0].image[2].astype(int)).mean() < 12  # lossy, but the same picture
    mask = cv2.imread(str(tmp_path / "video" / "masks" / "randocc-00000000" / "002.png"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(mask, view[0].face_mask[2] * 255)  # the labels stay lossless
    assert (tmp_path / "video" / "clips.csv").read_text().splitlines()[1] == f"randocc-00000000,{FRAMES},8.0"
    assert export_video(clip_store, tmp_path / "video") == 3  # a finished export is checked, not rewritten


def test_previews(tmp_path: Path, clip_store: Path) -> None:
    view = ClipView(open_store(clip_store))
    strip = clip_strip(view, [0, 1], tile_px=32)
    assert strip.shape == (2 * 2 * 32, FRAMES * 32, 3) and strip.dtype == np.uint8
    gif = write_clip_animation(view, 1, tmp_path / "c.gif", tile_px=32)
    with Image.open(gif) as image:
        assert image.n_frames == FRAMES and image.size == (64, 32)
    with pytest.raises(ConfigError, match="as .gif or .webp"):
        write_clip_animation(view, 1, tmp_path / "c.mp4")
    result = runner.invoke(app, ["preview", str(clip_store), "--out", str(tmp_path / "p.png"), "--tile", "32"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "p.png") as image:
        assert image.size == (FRAMES * 32, 3 * 2 * 32)


RUN = [sys.executable, "-m", "occgen", "generate", "randocc", "--size", "64", "--shard-size", "8", "--frames", "4",
       "--workers", "1", "--no-preview", "--seed", "11"]  # fmt: skip


@pytest.mark.slow
def test_clip_resume_after_kill_equals_uninterrupted_run(tmp_path: Path, face_folder: Path, dtd_root: Path) -> None:
    sources = ["--faces", str(face_folder), "--textures", str(dtd_root)]
    n = 60  # clips: 240 frames, 30 shards of two clips
    interrupted = tmp_path / "killed.zarr"
    process = subprocess.Popen([*RUN, *sources, "--n", str(n), "--out", str(interrupted)],
                               env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if int(zarr.open_group(str(interrupted), mode="r")["shard_complete"][:].sum()) >= 3:
                break
        except (FileNotFoundError, KeyError, ValueError, OSError):
            pass
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    flags = zarr.open_group(str(interrupted), mode="r")["shard_complete"][:]
    assert 3 <= flags.sum() < flags.size, "the run was not interrupted mid-way; raise n"
    resumed = subprocess.run([*RUN, *sources, "--n", str(n), "--out", str(interrupted)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after" in resumed.stderr
    reference = tmp_path / "reference.zarr"
    subprocess.run([*RUN, *sources, "--n", str(n), "--out", str(reference)], check=True, capture_output=True)
    assert_same_store(interrupted, reference)
    assert ShardReader(interrupted).card["frames"] == 4
