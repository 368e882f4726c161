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
