"""The NatOcc recipe (occgen/recipes/natocc.py), the matted-hands source and ``occgen generate natocc``."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_generate import assert_same_store
from typer.testing import CliRunner

from occgen.appearance.sot import SOTParams, transfer_colours
from occgen.cli.main import app
from occgen.compose import CompositeConfig, CompositeParams, apply_composite
from occgen.core.errors import ConfigError, SourceError
from occgen.core.imageio import resize_image, write_png
from occgen.prep.hands.synthetic import render_hand, sample_hand_shape
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.recipes.placement import face_centre
from occgen.run.generate import generate
from occgen.settings import load_natocc_settings
from occgen.sources.cutouts import RGBAFolder
from occgen.sources.faces import FaceFolder, open_faces
from occgen.sources.hand_orientation import angle_difference_deg, finger_direction
from occgen.sources.hands import MattedHands
from occgen.sources.occluder import Occluder
from occgen.sources.registry import make_occluder_source

runner = CliRunner()


def recipe(faces, **changes) -> NatOccRecipe:
    """A hands-only recipe (objects_frac 0) unless ``changes`` say otherwise."""
    config = replace(NatOccConfig(hand_max_side_px=96, objects_frac=0.0), **changes)
    return NatOccRecipe(faces, MattedHands(None, max_side_px=96), config, seed=3, size=64)


@pytest.fixture(scope="module")
def demo_faces():
    return open_faces(None)


def test_sample_contract_and_determinism(face_folder: Path) -> None:
    natocc = recipe(FaceFolder(face_folder))
    first, again = natocc.make(4), natocc.make(4)
    assert first.image.shape == (64, 64, 3) and first.image.dtype == np.uint8
    assert first.occluder_mask.dtype == np.uint8 and first.occluder_mask.max() > 0
    assert np.array_equal(first.image, again.image) and first.metadata == again.metadata
    meta = first.metadata
    assert meta["occluder_types"] == ["hand"] and meta["color_transfer"] == "sot" and meta["harmonised"] is False
    assert meta["face_id"] == "face1" and meta["sample_id"] == "natocc-00000004"
    assert set(meta["params"]) == {"occluder", "sot", "rotation_jitter_deg", "occluder_size_px", "composite"}
    assert not np.array_equal(first.image, natocc.make(5).image)
    # Visible face never grows; the occluder covers part of it.
    face = FaceFolder(face_folder).load(1, 64)
    assert np.all(first.face_mask <= face.face_mask)
    json.dumps(meta)  # JSON-ready


@pytest.mark.parametrize("transfer", ["sot", "none"])
def test_a_sample_replays_from_its_metadata(face_folder: Path, transfer: str) -> None:
    faces = FaceFolder(face_folder)
    natocc = recipe(faces, color_transfer=transfer)
    sample = natocc.make(7)
    meta, params = sample.metadata, sample.metadata["params"]
    occluder, _ = natocc.hands.load(natocc.hands.index_of(params["occluder"]["hand_id"]))
    size = tuple(params["occluder_size_px"])
    rgb, alpha = resize_image(occluder.rgb, size), resize_image(occluder.alpha, size)
    alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    face = faces.load(meta["face_index"], 64)
    if transfer == "sot":
        rgb = transfer_colours(rgb, alpha, face.image, face.face_mask, natocc.config.sot, SOTParams(**params["sot"]))
    composite = CompositeParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in params["composite"].items()})
    replayed = apply_composite(face.image, face.face_mask, Occluder("replay", "hand", rgb, alpha), composite)
    assert np.array_equal(replayed.image, sample.image)
    assert np.array_equal(replayed.occluder_mask, sample.occluder_mask)


def test_fingers_point_toward_the_face(demo_faces) -> None:
    natocc = NatOccRecipe(
        demo_faces,
        MattedHands(None, max_side_px=128),
        NatOccConfig(objects_frac=0.0, hand_rotation_jitter_deg=(0.0, 0.0), composite=CompositeConfig(affine_p=0.0)),
        seed=1,
        size=160,
    )
    checked = 0
    for index in range(8):
        sample = natocc.make(index)
        params = sample.metadata["params"]
        cx, cy = params["composite"]["center_xy"]
        fx, fy = face_centre(demo_faces.load(sample.metadata["face_index"], 160).face_mask)
        if math.hypot(fx - cx, fy - cy) < 10:
            continue  # the direction is undefined when the hand sits on the face centre
        toward = math.degrees(math.atan2(fy - cy, fx - cx))
        placed = params["occluder"]["finger_angle_deg"] + params["composite"]["rotation_deg"]
        assert abs(angle_difference_deg(placed, toward)) < 1e-6
        # Read back from the pixels: the placed hand's own matte points at the face too.
        seen = finger_direction(sample.occluder_mask.astype(np.float32) / 255.0)
        assert abs(angle_difference_deg(seen.angle_deg, toward)) < 30, (index, seen, toward)
        checked += 1
    assert checked >= 5


def test_jitter_stays_in_range(face_folder: Path) -> None:
    natocc = recipe(FaceFolder(face_folder), hand_rotation_jitter_deg=(-5.0, 5.0))
    jitters = [natocc.make(i).metadata["params"]["rotation_jitter_deg"] for i in range(12)]
    assert all(-5.0 <= j <= 5.0 for j in jitters) and len(set(jitters)) == 12


def test_colour_transfer_brings_the_hand_to_the_face_colour(demo_faces) -> None:
    hands_only = NatOccConfig(objects_frac=0.0)
    with_sot = NatOccRecipe(demo_faces, MattedHands(None), hands_only, seed=2, size=128)
    without = NatOccRecipe(demo_faces, MattedHands(None), replace(hands_only, color_transfer="none"), seed=2, size=128)
    gaps = {"sot": [], "none": []}
    for index in range(4):
        face = demo_faces.load(index % len(demo_faces), 128)
        face_colour = face.image[face.face_mask.astype(bool)].mean(axis=0)
        for name, natocc in (("sot", with_sot), ("none", without)):
            sample = natocc.make(index)
            assert sample.metadata["color_transfer"] == name
            hand = sample.image[sample.occluder_mask == 255]
            gaps[name].append(np.abs(hand.mean(axis=0) - face_colour).sum())
    assert np.mean(gaps["sot"]) < 0.5 * np.mean(gaps["none"]), gaps
    # The hand part draws from its own stream: the same hand and placement with or without transfer.
    a, b = with_sot.make(0).metadata, without.make(0).metadata
    assert a["params"]["occluder"] == b["params"]["occluder"] and a["params"]["composite"] == b["params"]["composite"]


def test_one_or_two_workers_give_the_same_store(tmp_path: Path, face_folder: Path) -> None:
    natocc = recipe(FaceFolder(face_folder))
    generate(natocc, tmp_path / "one.zarr", n=6, shard_size=3, workers=1)
    generate(natocc, tmp_path / "two.zarr", n=6, shard_size=3, workers=2)
    assert_same_store(tmp_path / "one.zarr", tmp_path / "two.zarr")


class Brighten:
    """A stand-in harmoniser: lifts the occluded pixels, so that its effect is visible."""

    name = "brighten"

    def apply(self, image: np.ndarray, occluder_alpha: np.ndarray) -> np.ndarray:
        lifted = image.astype(np.float32) + 40.0 * occluder_alpha[:, :, None]
        return np.clip(lifted, 0, 255).astype(np.uint8)

    def apply_batch(self, images, alphas) -> list[np.ndarray]:
        return [self.apply(image, alpha) for image, alpha in zip(images, alphas, strict=True)]


def test_objects_mix_needs_a_source_and_uses_its_own_stream(tmp_path: Path, face_folder: Path) -> None:
    faces = FaceFolder(face_folder)
    with pytest.raises(ConfigError, match="no COCO objects source is available.*objects_frac to 0"):
        recipe(faces, objects_frac=0.5)
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[8:32, 8:32] = (30, 60, 200, 255)
    write_png(tmp_path / "objects" / "cup.png", rgba)
    config = replace(NatOccConfig(hand_max_side_px=96), objects_frac=0.5)
    mixed = NatOccRecipe(faces, MattedHands(None, max_side_px=96), config, seed=3, size=64,
                         objects=RGBAFolder(tmp_path / "objects"), harmoniser=Brighten())  # fmt: skip
    samples = [mixed.make(i) for i in range(16)]
    kinds = [s.metadata["occluder_types"][0] for s in samples]
    assert 3 <= kinds.count("rgba-folder") <= 13 and "hand" in kinds
    for sample in samples:
        if sample.metadata["occluder_types"] == ["rgba-folder"]:
            assert sample.metadata["harmonised"] == "brighten"
    hands_only = recipe(faces)
    for i, sample in enumerate(samples):  # hand samples do not depend on the mix ratio
        if kinds[i] == "hand":
            assert np.array_equal(sample.image, hands_only.make(i).image)
    assert "objects" in mixed.sources() and mixed.params()["harmoniser"] == "brighten"


def test_hands_folder_without_manifest_and_bad_folders(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb, alpha = render_hand(sample_hand_shape(rng=rng, rot90=1), 120, 100, rng=rng)
    write_png(tmp_path / "cutouts" / "h1.png", np.dstack([rgb, (alpha * 255).astype(np.uint8)]))
    hands = MattedHands(tmp_path / "cutouts")
    occluder, params = hands.draw(rng=np.random.default_rng(0))
    assert occluder.occluder_id == "h1" and abs(angle_difference_deg(params["finger_angle_deg"], 180.0)) < 20
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no hand cut-outs"):
        MattedHands(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text(
        json.dumps({"version": 1, "hands": [{"id": "x", "file": "hands/x.png", "finger_angle_deg": 0}]})
    )
    with pytest.raises(SourceError, match="lists hands/x.png, which is missing"):
        MattedHands(tmp_path / "broken")
    with pytest.raises(SourceError, match="hands folder not found"):
        MattedHands(tmp_path / "nowhere")
    registered = make_occluder_source("hands", root=tmp_path / "cutouts")
    assert isinstance(registered, MattedHands) and len(registered) == 1


def test_settings_from_params(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "base:\n  seed: 5\nnatocc:\n  n: 12\n  hands_dir: matted\n  color_transfer: none\n  sot:\n    iterations: 4\n"
    )
    settings = load_natocc_settings(params)
    assert settings.base.seed == 5 and settings.run.n == 12
    assert settings.natocc.hands_dir == tmp_path / "matted" and settings.natocc.color_transfer == "none"
    assert settings.natocc.sot.iterations == 4
    params.write_text("natocc:\n  colour_transfer: sot\n")
    with pytest.raises(ConfigError, match="unknown parameter natocc.colour_transfer"):
        load_natocc_settings(params)
    params.write_text("natocc:\n  color_transfer: magic\n")
    with pytest.raises(ConfigError, match="natocc.color_transfer must be one of sot, none"):
        load_natocc_settings(params)


def test_cli_generate_natocc(tmp_path: Path, face_folder: Path) -> None:
    out = tmp_path / "n.zarr"
    args = ["generate", "natocc", "--n", "4", "--size", "64", "--workers", "1", "--no-preview", "--out", str(out),
            "--faces", str(face_folder), "--color-transfer", "none", "--seed", "9"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    from occgen.store.schema import ShardReader

    reader = ShardReader(out)
    hands_card = reader.card["sources"]["hands"]
    assert reader.card["recipe"] == "natocc" and hands_card["count"] == 6 and "demo only" in hands_card["licence"]
    assert reader[0].metadata["color_transfer"] == "none"
    for bad in ("half", "1.5"):
        result = runner.invoke(app, ["generate", "natocc", "--n", "2", "--out", str(tmp_path / "o.zarr"),
                                     "--objects-frac", bad])  # fmt: skip
        assert result.exit_code == 1 and "or a number in [0, 1]" in result.output.replace("\n", " ")
    result = runner.invoke(app, [*args, "--hands", str(tmp_path / "nowhere"), "--overwrite"])
    assert result.exit_code == 1 and "hands folder not found" in result.output


def test_natocc_with_real_coco_objects_and_harmoniser(tmp_path: Path) -> None:
    """The objects stage's output plugs into `generate natocc` (demo COCO set, lab-stats fallback)."""
    import json

    from typer.testing import CliRunner

    from occgen.cli.main import app
    from occgen.core.files import demo_root
    from occgen.store.schema import ShardReader

    coco = demo_root() / "coco"
    runner = CliRunner()
    objects = tmp_path / "objects"
    annotations = coco / "annotations" / "instances_demo.json"
    result = runner.invoke(app, ["occluders", "coco", "--annotations", str(annotations),
                                 "--src", str(coco / "images"), "--out", str(objects)])  # fmt: skip
    assert result.exit_code == 0, result.output
    base = ["generate", "natocc", "--n", "6", "--size", "64", "--workers", "1", "--no-preview"]
    out = tmp_path / "objects.zarr"
    stats = tmp_path / "stats.json"
    args = [*base, "--objects-frac", "1", "--objects", str(objects), "--out", str(out), "--stats", str(stats)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    reader = ShardReader(out)
    assert reader.card["sources"]["objects"]["kind"] == "coco-objects"
    for i in range(6):
        meta = reader[i].metadata
        assert meta["occluder_types"] == ["coco-object"] and meta["harmonised"] == "lab-stats"
        assert meta["face_px_after"] <= meta["face_px_before"]
    summary = json.loads(stats.read_text())
    assert summary["occluder_types"] == {"coco-object": 6} and summary["occluded_face_fraction"]["mean"] > 0


def kinds_and_faces(store: Path) -> list[tuple[int, str]]:
    from occgen.store.schema import ShardReader

    reader = ShardReader(store)
    return [(reader[i].metadata["face_index"], reader[i].metadata["occluder_types"][0]) for i in range(len(reader))]


def test_default_pairs_every_face_with_a_hand_and_an_object(tmp_path: Path, demo_faces) -> None:
    """The paper's C-WO-NatOcc: with no dataset, `--n 8` = two blocks of 2F (F = 2 demo faces); each block
    holds every face once with a hand and once with a (demo) COCO object, hands at even indexes."""
    out = tmp_path / "paired.zarr"
    args = ["generate", "natocc", "--n", "8", "--size", "64", "--workers", "1", "--no-preview", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    plan = kinds_and_faces(out)
    faces = len(demo_faces)
    assert faces == 2 and [kind for _, kind in plan].count("hand") == 4
    assert [kind for _, kind in plan] == ["hand", "coco-object"] * 4
    for start in range(0, 8, 2 * faces):
        block = plan[start : start + 2 * faces]
        assert sorted(block) == sorted((face, kind) for face in range(faces) for kind in ("hand", "coco-object"))
    from occgen.store.schema import ShardReader

    card = ShardReader(out).card
    assert card["params"]["objects_frac"] == "paired" and card["sources"]["objects"]["count"] == 15
    assert card["sources"]["objects"]["root"].endswith("assets/demo/objects")
    for frac, expected in (("0", {"hand"}), ("1", {"coco-object"})):
        single = tmp_path / f"frac{frac}.zarr"
        result = runner.invoke(app, [*args[:-1], str(single), "--n", "4", "--objects-frac", frac])
        assert result.exit_code == 0, result.output
        assert {kind for _, kind in kinds_and_faces(single)} == expected


def test_colour_transfer_adds_no_grain(demo_faces) -> None:
    """Issue 12: SOT moves the hand's low-frequency colour only. Inside the hand the high-frequency energy
    with transfer is at most 1.3x that without (median over demo samples) and never above the visible
    face's; the colours still land at least 3x closer to the face's (sliced Wasserstein); with the
    smoothing off (the old per-pixel map) the same samples are grainier."""
    import ot

    from occgen.appearance.sot import SOTConfig, grain

    def measure(shift_sigma_frac: float) -> dict[str, np.ndarray]:
        config = NatOccConfig(objects_frac=0.0, sot=SOTConfig(shift_sigma_frac=shift_sigma_frac))
        hands = MattedHands(None, max_side_px=192)
        with_sot = NatOccRecipe(demo_faces, hands, config, seed=3, size=192)
        without = NatOccRecipe(demo_faces, hands, replace(config, color_transfer="none"), seed=3, size=192)
        rows = []
        for index in range(8):
            a, b = with_sot.make(index), without.make(index)
            assert a.metadata["color_transfer"] == "sot" and np.array_equal(a.occluder_mask, b.occluder_mask)
            hand = a.occluder_mask >= 250
            face = demo_faces.load(a.metadata["face_index"], 192)
            palette = face.image[face.face_mask.astype(bool)].astype(np.float64)
            distance = [ot.sliced.sliced_wasserstein_distance(x.image[hand].astype(np.float64), palette,
                                                              n_projections=50, seed=0) for x in (a, b)]  # fmt: skip
            rows.append((grain(a.image, hand), grain(b.image, hand), grain(a.image, a.face_mask), *distance))
        return dict(zip(("moved", "plain", "face", "sw_moved", "sw_plain"), np.array(rows).T, strict=True))

    smooth = measure(SOTConfig().shift_sigma_frac)
    assert np.median(smooth["moved"] / smooth["plain"]) <= 1.3
    assert np.all(smooth["moved"] <= smooth["face"])
    assert 3 * np.median(smooth["sw_moved"]) <= np.median(smooth["sw_plain"])
    grainy = measure(0.0)
    assert np.median(grainy["moved"] / grainy["plain"]) > np.median(smooth["moved"] / smooth["plain"])


def test_large_object_cutouts_are_shrunk_before_the_warp(tmp_path: Path, face_folder: Path) -> None:
    """A cut-out far larger than its placement is area-downscaled to the placed size first: the same labels
    and pixels as a cut-out pre-shrunk to that size, and none of the aliasing one bilinear warp of the
    large cut-out makes (fine stripes that average to grey must not come back as a moire)."""
    from occgen.appearance.sot import grain

    faces = FaceFolder(face_folder)
    config = NatOccConfig(objects_frac=1.0, composite=CompositeConfig(affine_p=0.0, blur_p=0.0, jpeg_p=0.0))
    big = np.zeros((480, 480, 4), np.uint8)
    big[:, :, :3] = np.where((np.arange(480) // 2 % 2 == 0)[None, :, None], 230, 30)  # 4-px period stripes
    big[:, :, 3] = 255
    write_png(tmp_path / "big" / "stripes.png", big)

    def make(folder: Path):
        return NatOccRecipe(faces, MattedHands(None, max_side_px=96), config, seed=4, size=96,
                            objects=RGBAFolder(folder)).make(0)  # fmt: skip

    large = make(tmp_path / "big")
    width, height = large.metadata["params"]["occluder_size_px"]
    assert width * 4 <= 480  # placed at most a quarter of the cut-out's size
    write_png(tmp_path / "small" / "stripes.png", resize_image(big, (width, height)))  # area reference
    reference = make(tmp_path / "small")
    assert reference.metadata["params"]["occluder_size_px"] == [width, height]
    assert np.array_equal(large.occluder_mask, reference.occluder_mask)
    assert np.abs(large.image.astype(int) - reference.image).max() <= 2
    # One bilinear warp of the full-size cut-out (what happened before) aliases the stripes.
    params = CompositeParams(**{k: tuple(v) if isinstance(v, list) else v
                                for k, v in large.metadata["params"]["composite"].items()})  # fmt: skip
    params = replace(params, fit_scale=params.fit_scale * width / 480)
    face = faces.load(large.metadata["face_index"], 96)
    full = Occluder("s", "x", big[:, :, :3], np.ones((480, 480), np.float32))
    warped = apply_composite(face.image, face.face_mask, full, params)
    inside = reference.occluder_mask >= 250
    assert grain(large.image, inside) <= 1.2 * grain(reference.image, inside) + 0.5
    assert grain(warped.image, inside) > 5 * grain(reference.image, inside) + 0.5
    moire = np.abs(warped.image.astype(np.float32) - reference.image)[inside].mean()
    assert moire > 10 * (np.abs(large.image.astype(np.float32) - reference.image)[inside].mean() + 0.5), moire
