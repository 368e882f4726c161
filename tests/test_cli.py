from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.imageio import read_image
from occgen.store.schema import ShardReader

runner = CliRunner()


def generate_args(out: Path, face_folder: Path, dtd_root: Path, *extra: str) -> list[str]:
    return ["generate", "randocc", "--n", "6", "--size", "64", "--workers", "1", "--shard-size", "4",
            "--faces", str(face_folder), "--textures", str(dtd_root), "--out", str(out), *extra]  # fmt: skip


def test_generate_info_preview(tmp_path: Path, face_folder: Path, dtd_root: Path) -> None:
    out = tmp_path / "cli.zarr"
    result = runner.invoke(app, generate_args(out, face_folder, dtd_root))
    assert result.exit_code == 0, result.output
    assert len(ShardReader(out)) == 6
    sheet = read_image(out.with_suffix(".preview.png"))
    assert sheet.shape == (3 * 160, 6 * 160, 3)  # 6 samples (fewer than k=8), 3 rows

    info = runner.invoke(app, ["info", str(out), "--json"])
    assert info.exit_code == 0 and '"n": 6' in info.output and '"shards_done": 2' in info.output

    custom = tmp_path / "grid.png"
    result = runner.invoke(app, ["preview", str(out), "--out", str(custom), "-k", "2", "--tile", "32"])
    assert result.exit_code == 0 and read_image(custom).shape == (96, 64, 3)


def test_params_file_and_options_override(tmp_path: Path, face_folder: Path, dtd_root: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("base: {seed: 5, size: 32}\nrandocc: {n: 3, translucent_p: 1.0}\n")
    out = tmp_path / "p.zarr"
    result = runner.invoke(app, [*generate_args(out, face_folder, dtd_root, "--params", str(params)), "--no-preview"])
    assert result.exit_code == 0, result.output
    reader = ShardReader(out)
    assert reader.card["seed"] == 5 and len(reader) == 6  # --n beats the file, size comes from it
    assert reader[0].image.shape == (64, 64, 3) and all(reader[i].metadata["translucent"] for i in range(6))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n", "0"], "n (--n) must be at least 1, got 0"),
        (["--seed", "-3"], "base.seed must be >= 0"),
    ],
)
def test_user_errors_are_one_line_exit_1(tmp_path: Path, face_folder: Path, dtd_root: Path, args: list[str],
                                         message: str) -> None:  # fmt: skip
    result = runner.invoke(app, [*generate_args(tmp_path / "e.zarr", face_folder, dtd_root), *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_empty_texture_folder_is_a_clear_error(tmp_path: Path, face_folder: Path) -> None:
    empty = tmp_path / "dtd"
    (empty / "images" / "striped").mkdir(parents=True)
    result = runner.invoke(app, generate_args(tmp_path / "e.zarr", face_folder, empty))
    assert result.exit_code == 1 and "no texture images" in result.output
    assert not (tmp_path / "e.zarr").exists()


def test_info_on_missing_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", str(tmp_path / "none.zarr")])
    assert result.exit_code == 1 and "store not found" in result.output


def test_demo_assets_generate_by_default(tmp_path: Path) -> None:
    out = tmp_path / "demo.zarr"
    result = runner.invoke(app, ["generate", "randocc", "--n", "4", "--size", "128", "--workers", "1",
                                 "--out", str(out), "--no-preview"])  # fmt: skip
    assert result.exit_code == 0, result.output
    reader = ShardReader(out)
    assert reader.card["sources"]["faces"]["count"] >= 2 and reader.card["sources"]["textures"]["count"] >= 10
    for i in range(4):
        sample = reader[i]
        assert sample.face_mask.sum() > 0.05 * 128 * 128  # the demo faces carry real masks
        assert np.any(sample.occluder_mask > 0)
    # One line says the run used the embedded demo data and which options bring real data.
    notes = [line for line in result.output.splitlines() if line.startswith("note: using the embedded demo")]
    assert len(notes) == 1 and "--faces DIR" in notes[0] and "--textures DIR" in notes[0]


def test_real_sources_print_no_demo_note(tmp_path: Path, face_folder: Path, dtd_root: Path) -> None:
    result = runner.invoke(app, [*generate_args(tmp_path / "r.zarr", face_folder, dtd_root), "--no-preview"])
    assert result.exit_code == 0, result.output
    assert "embedded demo" not in result.output
    # info shows the digest export keys carry and each source's fingerprint in brackets (not eaten as markup)
    reader = ShardReader(tmp_path / "r.zarr")
    info = " ".join(runner.invoke(app, ["info", str(tmp_path / "r.zarr")], terminal_width=200).output.split())
    fingerprint = reader.card["sources"]["faces"]["fingerprint"]
    assert f"[{fingerprint}]" in info and f"digest │ {reader.parts[0].digest}" in info


def test_generate_faces_takes_and_records_seed(tmp_path: Path, face_folder: Path) -> None:
    out = tmp_path / "faces.zarr"
    result = runner.invoke(app, ["generate", "faces", "--faces", str(face_folder), "--size", "64", "--workers", "1",
                                 "--seed", "7", "--out", str(out), "--no-preview"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ShardReader(out).card["seed"] == 7


def test_hands_list_is_a_deprecated_alias_of_split(tmp_path: Path) -> None:
    missing = tmp_path / "names.txt"
    by_split = runner.invoke(app, ["hands", "matte", "--out", str(tmp_path / "h"), "--split", str(missing)])
    by_list = runner.invoke(app, ["hands", "matte", "--out", str(tmp_path / "h"), "--list", str(missing)])
    assert by_split.exit_code == by_list.exit_code == 1
    assert "hand list file not found" in by_split.output and "hand list file not found" in by_list.output
    assert "--list is deprecated, use --split" in by_list.output and "deprecated" not in by_split.output
    assert "--list" not in runner.invoke(app, ["hands", "matte", "--help"]).output  # hidden


def test_coco_images_is_a_deprecated_alias_of_src(tmp_path: Path) -> None:
    from occgen.core.files import demo_root

    annotations = str(demo_root() / "coco" / "annotations" / "instances_demo.json")
    missing = str(tmp_path / "no-images")
    by_src = runner.invoke(app, ["occluders", "coco", "--annotations", annotations, "--src", missing,
                                 "--out", str(tmp_path / "a")])  # fmt: skip
    by_images = runner.invoke(app, ["occluders", "coco", "--annotations", annotations, "--images", missing,
                                    "--out", str(tmp_path / "b")])  # fmt: skip
    assert by_src.exit_code == by_images.exit_code == 1
    for result in (by_src, by_images):  # the images folder reached the command under either spelling
        assert "no-images;passthefolderholding" in "".join(result.output.split())  # rich may wrap anywhere
    assert "--images is deprecated, use --src" in by_images.output and "deprecated" not in by_src.output
    assert "--images" not in runner.invoke(app, ["occluders", "coco", "--help"]).output  # hidden


def test_mixing_a_mix_names_the_real_cause(tmp_path: Path, face_folder: Path, dtd_root: Path) -> None:
    store = tmp_path / "s.zarr"
    assert runner.invoke(app, [*generate_args(store, face_folder, dtd_root), "--no-preview"]).exit_code == 0
    assert runner.invoke(app, ["mix", f"{store}:3", "--out", str(tmp_path / "m.zarr")]).exit_code == 0
    result = runner.invoke(app, ["mix", f"{tmp_path / 'm.zarr'}:2", f"{store}:2", "--out", str(tmp_path / "m2.zarr")])
    assert result.exit_code == 1
    assert "nested mixes are not supported" in result.output and str(store) in " ".join(result.output.split())
    assert not (tmp_path / "m2.zarr").exists()


def test_upscale_command_line_options_win_over_params(tmp_path: Path) -> None:
    from occgen.core.imageio import write_png

    src = tmp_path / "cutouts"
    src.mkdir()
    write_png(src / "a.png", np.full((8, 10, 4), 200, np.uint8))
    params = tmp_path / "params.yaml"
    params.write_text("objects: {upscale: {backend: lanczos, scale: 2}}\n")
    args = ["occluders", "upscale", "--src", str(src), "--params", str(params)]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "p")]).exit_code == 0
    assert read_image(tmp_path / "p" / "a.png").shape[:2] == (16, 20)  # the file's scale
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "c"), "--scale", "3"]).exit_code == 0
    assert read_image(tmp_path / "c" / "a.png").shape[:2] == (24, 30)  # the option's


def test_evaluate_summary_has_the_per_image_mean_beside_the_pooled_iou() -> None:
    from occgen.train.evaluate import EvalResult
    from occgen.train.metrics import Confusion

    result = EvalResult()
    # Image a: 10 face pixels all found (IoU 1); image b: 1 face pixel missed (IoU 0); image c: no face (NaN).
    for item, (tp, fp, fn, tn) in {"a": (10, 0, 0, 0), "b": (0, 0, 1, 9), "c": (0, 0, 0, 10)}.items():
        counts = Confusion(tp=tp, fp=fp, fn=fn, tn=tn)
        iou = tp / (tp + fp + fn) if tp + fp + fn else float("nan")
        result.rows.append({"id": item, "face_iou": iou})
        result.total = result.total + counts
    summary = result.summary()
    assert summary["face_iou"] == pytest.approx(10 / 11)  # pooled: 10 / (10 + 1)
    assert summary["face_iou_per_image_mean"] == pytest.approx(0.5)  # mean of 1 and 0 (c undefined)


def test_verify_repair_says_it_only_deletes(tmp_path: Path, face_folder: Path, dtd_root: Path) -> None:
    store = tmp_path / "v.zarr"
    assert runner.invoke(app, [*generate_args(store, face_folder, dtd_root), "--no-preview"]).exit_code == 0
    help_text = " ".join(runner.invoke(app, ["verify", "--help"]).output.split())
    assert "it regenerates nothing" in help_text and "generate ... --repair" in help_text
    shard = store / "metadata" / "c" / "1"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = runner.invoke(app, ["verify", str(store), "--repair"])
    flat = " ".join(result.output.split())
    assert result.exit_code == 1 and "shard(s) 1 removed (deleted, nothing regenerated)" in flat
    assert not shard.exists()


def test_evaluate_prints_pooled_and_per_image_face_iou(tmp_path: Path) -> None:
    from occgen.core.imageio import write_png

    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    truth = np.zeros((8, 8), np.uint8)
    truth[:4] = 255  # 32 face pixels
    write_png(gt / "a.png", truth)
    write_png(pred / "a.png", truth)  # a: IoU 1
    small = np.zeros((8, 8), np.uint8)
    small[:1] = 255  # 8 face pixels
    write_png(gt / "b.png", small)
    write_png(pred / "b.png", np.zeros((8, 8), np.uint8))  # b: IoU 0
    result = runner.invoke(app, ["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(tmp_path / "e"),
                                 "--worst", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "face IoU pooled over all pixels 0.8000, per-image mean 0.5000" in flat  # 32 / 40 vs (1 + 0) / 2
