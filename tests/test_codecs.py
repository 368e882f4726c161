import subprocess
import sys
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, StoreError
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.generate import generate
from occgen.run.recode import recode
from occgen.store.codecs import parse_image_codec
from occgen.store.schema import ShardReader, create_store, write_shard


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def smooth_images(count: int = 2, size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = []
    for k in range(count):
        images.append(np.stack([xx * 3 + k * 10, yy * 3, (xx + yy) * 1.5], axis=2))
    noise = np.random.default_rng(0).normal(0, 4, (count, size, size, 3))
    return np.clip(np.stack(images) + noise, 0, 255).astype(np.uint8)


def write_store(path: Path, codec: str, images: np.ndarray) -> ShardReader:
    n, size = images.shape[0], images.shape[1]
    group = create_store(path, n=n, size=size, shard_size=n, card={"recipe": "randocc", "seed": 0}, image_codec=codec)
    masks = (images[..., 0] > 100).astype(np.uint8)
    write_shard(group, 0, images, masks, masks * 255, [{"i": i} for i in range(n)])
    group.attrs["occgen"] = {**group.attrs["occgen"], "complete": True}
    return ShardReader(path)


@pytest.mark.parametrize("codec", ["zstd", "zstd:9", "jpegxl", "webp"])
def test_lossless_codecs_round_trip_exactly(tmp_path: Path, codec: str) -> None:
    images = smooth_images()
    reader = write_store(tmp_path / "s.zarr", codec, images)
    assert reader.card["image_codec"] == codec
    for i in range(len(images)):
        assert np.array_equal(reader[i].image, images[i])
        assert np.array_equal(reader[i].face_mask, (images[i, ..., 0] > 100).astype(np.uint8))


@pytest.mark.parametrize(("codec", "min_psnr"), [("jpeg:95", 34.0), ("jpegxl:90", 32.0), ("webp:90", 32.0)])
def test_lossy_codecs_stay_above_psnr_bound_and_masks_stay_exact(tmp_path: Path, codec: str, min_psnr: float) -> None:
    images = smooth_images()
    reader = write_store(tmp_path / "s.zarr", codec, images)
    for i in range(len(images)):
        decoded = reader[i].image
        assert decoded.shape == images[i].shape and decoded.dtype == np.uint8
        assert not np.array_equal(decoded, images[i])  # really lossy
        assert psnr(decoded, images[i]) > min_psnr
        assert np.array_equal(reader[i].occluder_mask, (images[i, ..., 0] > 100).astype(np.uint8) * 255)


@pytest.mark.parametrize(
    ("text", "message"),
    [("png", "unknown image codec 'png'"), ("jpeg", "jpeg needs a quality"), ("jpeg:0", r"\[1, 100\]"),
     ("zstd:x", "must be an integer")],
)  # fmt: skip
def test_bad_codec_names(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_image_codec(text)


def test_recode_keeps_samples(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    generate(small_recipe, tmp_path / "zstd.zarr", n=6, shard_size=4)
    recode(tmp_path / "zstd.zarr", tmp_path / "jxl.zarr", image_codec="jpegxl")
    recode(tmp_path / "jxl.zarr", tmp_path / "jpeg.zarr", image_codec="jpeg:95", workers=1)
    source, lossless, lossy = (ShardReader(tmp_path / f"{n}.zarr") for n in ("zstd", "jxl", "jpeg"))
    assert lossless.card["image_codec"] == "jpegxl" and lossy.card["image_codec"] == "jpeg:95"
    assert lossless.card["params"] == source.card["params"] and lossless.card["seed"] == source.card["seed"]
    for i in range(6):
        assert np.array_equal(lossless[i].image, source[i].image)
        assert np.array_equal(lossy[i].face_mask, source[i].face_mask)
        assert lossy[i].metadata == source[i].metadata
        reference = imagecodecs.jpeg_decode(imagecodecs.jpeg_encode(source[i].image, level=95))
        assert np.array_equal(lossy[i].image, reference)  # exactly one JPEG round trip at quality 95


def test_missing_codec_package_is_named(tmp_path: Path) -> None:
    write_store(tmp_path / "s.zarr", "jpeg:90", smooth_images(1))
    script = (
        "import sys; sys.modules['imagecodecs'] = None\n"
        "from occgen.store.schema import ShardReader\n"
        "from occgen.core.errors import StoreError\n"
        f"try:\n    ShardReader({str(tmp_path / 's.zarr')!r})\n"
        "except StoreError as error:\n    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "codec 'jpeg:90'" in result.stdout and "pip install imagecodecs" in result.stdout


def test_cli_image_codec_and_recode(tmp_path: Path, face_folder: Path, dtd_root: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "j.zarr"
    args = ["generate", "randocc", "--n", "4", "--size", "64", "--workers", "1", "--faces", str(face_folder),
            "--textures", str(dtd_root), "--out", str(out), "--no-preview", "--image-codec", "jpeg:90"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert ShardReader(out).card["image_codec"] == "jpeg:90"
    info = runner.invoke(app, ["info", str(out)])
    assert "jpeg:90" in info.output
    result = runner.invoke(app, ["recode", str(out), "--out", str(tmp_path / "z.zarr"), "--image-codec", "zstd",
                                 "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ShardReader(tmp_path / "z.zarr").card["image_codec"] == "zstd"
    bad = runner.invoke(app, [*args[:-1], "gif"])
    assert bad.exit_code == 1 and "unknown image codec 'gif'" in bad.output


def test_store_error_is_raised_for_unknown_codec_in_metadata(tmp_path: Path) -> None:
    reader = write_store(tmp_path / "s.zarr", "zstd", smooth_images(1))
    meta = tmp_path / "s.zarr" / "image" / "zarr.json"
    meta.write_text(meta.read_text().replace('"zstd"', '"numcodecs.nonexistent_codec"'))
    with pytest.raises(StoreError, match="pip install imagecodecs"):
        ShardReader(reader.path)
