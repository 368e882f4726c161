from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, StoreError
from occgen.core.imageio import read_image
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.export import export_store
from occgen.run.generate import generate
from occgen.sources.faces import FaceFolder
from occgen.store.schema import ShardReader


@pytest.fixture
def store(tmp_path: Path, small_recipe: RandOccRecipe) -> Path:
    generate(small_recipe, tmp_path / "s.zarr", n=10, shard_size=4)
    return tmp_path / "s.zarr"


def test_folder_export_reimports_identically(tmp_path: Path, store: Path) -> None:
    report = export_store(store, tmp_path / "out", workers=1)
    assert report.samples == 10 and report.chunks_written == 3
    reader = ShardReader(store)
    faces = FaceFolder(tmp_path / "out")  # the exported folder is a face folder again
    assert len(faces) == 10
    for index in range(10):
        sample = reader[index]
        stem = sample.metadata["sample_id"]
        again = faces.load([faces.face_id(i) for i in range(10)].index(stem), 64)
        assert np.array_equal(again.image, sample.image)  # PNG: exact
        assert np.array_equal(again.face_mask, sample.face_mask)
        raw = cv2.imread(str(tmp_path / "out" / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert set(np.unique(raw)) <= {0, 255}  # visible to a person
    rows = (tmp_path / "out" / "metadata.csv").read_text().splitlines()
    assert rows[0].startswith("sample_id,face_id") and len(rows) == 11


def test_mmseg_export_layout_and_jpeg_tolerance(tmp_path: Path, store: Path) -> None:
    export_store(store, tmp_path / "mm", format="mmseg", name="randocc", val_frac=0.3, workers=1)
    root = tmp_path / "mm" / "randocc"
    train = (root / "train.txt").read_text().split()
    val = (root / "val.txt").read_text().split()
    assert len(train) == 7 and len(val) == 3 and not set(train) & set(val)
    reader = ShardReader(store)
    for index in range(10):
        sample = reader[index]
        stem = sample.metadata["sample_id"]
        labels = cv2.imread(str(root / "mask" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(labels, sample.face_mask)  # label ids 0/1, lossless
        image = read_image(root / "img" / f"{stem}.jpg")
        bgr = cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR)
        reference = cv2.imdecode(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])[1], cv2.IMREAD_COLOR)
        assert np.array_equal(image, cv2.cvtColor(reference, cv2.COLOR_BGR2RGB))  # one JPEG q95 round trip
        assert np.abs(image.astype(int) - sample.image).mean() < 12  # and close to the original


def test_export_resumes_and_refuses_other_settings(tmp_path: Path, store: Path) -> None:
    out = tmp_path / "out"
    export_store(store, out, workers=1)
    (out / ".occgen-export" / "000001.done.json").unlink()  # one marker name for every format
    victim = sorted((out / "images").iterdir())[5]
    victim.unlink()
    report = export_store(store, out, workers=1)
    assert report.chunks_written == 1 and victim.exists()
    with pytest.raises(StoreError, match="export with other settings"):
        export_store(store, out, image_format="jpg", workers=1)
    with pytest.raises(ConfigError, match="reads .jpg images"):
        export_store(store, tmp_path / "x", format="mmseg", image_format="png")


@pytest.mark.slow
def test_export_cli_parallel(tmp_path: Path, store: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(store), "--out", str(tmp_path / "o"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "o" / "images").iterdir())) == 10
