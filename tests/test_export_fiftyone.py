"""``occgen export --format fiftyone`` and ``occgen view`` (occgen/run/export_fiftyone.py, occgen/cli/view.py).

The layout is checked here without FiftyOne (it is written without it); the import by FiftyOne itself runs when
the ``view`` extra is installed (``pip install 'occgen[view]'``) and is skipped otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from test_export_resume import noise_store
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.core.labels import PARSING_CLASSES
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.export_fiftyone import (
    consistent_fields,
    export_fiftyone,
    field_name,
    fiftyone_dataset,
    metadata_fields,
)
from occgen.run.generate import generate
from occgen.store import open_store
from occgen.store.mix import MixPart, build_mix

runner = CliRunner()


def read_png(path: str | Path) -> np.ndarray:
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert array is not None, path
    return array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_BGR2RGB)


def samples_of(out: Path) -> list[dict]:
    return json.loads((out / "samples.json").read_text())["samples"]


def test_one_sample_per_store_sample_with_the_store_pixels_and_metadata(
    tmp_path: Path, small_recipe: RandOccRecipe
) -> None:
    store = tmp_path / "randocc.zarr"
    generate(small_recipe, store, n=6, shard_size=4)
    out = tmp_path / "fo"
    manifest = export_fiftyone(store, out)
    reader = open_store(store)
    samples = samples_of(out)
    assert manifest["samples"] == len(samples) == len(reader) == 6
    assert len({s["filepath"] for s in samples}) == 6
    for index, sample in enumerate(samples):
        stored = reader[index]
        assert sample["store_index"] == index and sample["sample_id"] == stored.metadata["sample_id"]
        assert np.array_equal(read_png(out / sample["filepath"]), stored.image)  # lossless store: PNG, exact
        assert sample["face"]["_cls"] == "Segmentation" and Path(sample["face"]["mask_path"]).is_absolute()
        assert np.array_equal(read_png(sample["face"]["mask_path"]), stored.face_mask * 255)
        assert sample["occluder"] == {"_cls": "Heatmap", "map_path": sample["occluder"]["map_path"], "range": [0, 255]}
        assert np.array_equal(read_png(sample["occluder"]["map_path"]), stored.occluder_mask)
        before, after = stored.metadata["face_px_before"], stored.metadata["face_px_after"]
        assert sample["coverage"] == pytest.approx((before - after) / before)
        assert sample["occluder_types"] == stored.metadata["occluder_types"]
        assert sample["face_id"] == stored.metadata["face_id"] and sample["recipe"] == "randocc"
        assert not [k for k in sample if k.startswith("_") or "." in k]  # FiftyOne field names
    metadata = json.loads((out / "metadata.json").read_text())
    assert "version" not in metadata  # read by FiftyOne's JSON importer, no database dump
    assert metadata["media_type"] == "image" and metadata["name"] == "randocc"
    assert metadata["info"]["mask_targets"]["face"] == {"255": "face"}


def test_a_mix_exports_each_store_sample_once_under_keys_unique_across_stores(
    tmp_path: Path, small_recipe: RandOccRecipe
) -> None:
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    generate(small_recipe, a, n=4, shard_size=4)
    generate(small_recipe, b, n=4, shard_size=4)  # the same samples: only the keys tell them apart
    mix = build_mix([MixPart(a, count=3), MixPart(b, count=2)], tmp_path / "m.zarr", seed=1)
    export_fiftyone(mix, tmp_path / "fo")
    samples = samples_of(tmp_path / "fo")
    assert len(samples) == 5 and len({s["key"] for s in samples}) == 5
    assert sorted(s["store"] for s in samples) == ["a.zarr"] * 3 + ["b.zarr"] * 2


def test_metadata_becomes_flat_fiftyone_fields_of_one_type_each() -> None:
    fields = metadata_fields({"id": "x", "params": {"scale_frac": 0.5, "ids": [1, 2]}, "7up": 1, "a.b": True})
    assert fields == {"occgen_id": "x", "params_scale_frac": 0.5, "params_ids": [1, 2], "occgen_7up": 1, "a_b": True}
    assert field_name("_private") == "private" and field_name("face") == "occgen_face"
    records = [{"n": 1, "types": ["hand"], "points": [[1, 2]], "mixed": "a", "flag": True},
               {"n": 2.5, "types": [], "points": [], "mixed": [1], "flag": None}]  # fmt: skip
    consistent_fields(records, ["n", "types", "points", "mixed", "flag"])
    assert [r["n"] for r in records] == [1.0, 2.5] and isinstance(records[0]["n"], float)
    assert [r["types"] for r in records] == [["hand"], []]  # lists of str stay lists (filterable)
    assert [r["points"] for r in records] == ["[[1, 2]]", "[]"]  # one type per field: JSON text
    assert [r["mixed"] for r in records] == ['"a"', "[1]"] and [r["flag"] for r in records] == [True, None]


def test_view_without_fiftyone_is_one_line_naming_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fiftyone", None)  # import fiftyone -> ImportError, as when not installed
    store = noise_store(tmp_path / "s.zarr", n=4)
    result = runner.invoke(app, ["view", str(store), "--out", str(tmp_path / "fo")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'occgen[view]'" in lines[0], result.output
    assert not (tmp_path / "fo").exists()  # refused before exporting anything
    with pytest.raises(ConfigError, match=r"occgen\[view\]"):
        fiftyone_dataset(store, out=tmp_path / "fo")


def test_export_cli_names_the_format(tmp_path: Path) -> None:
    store = noise_store(tmp_path / "s.zarr", n=5)
    result = runner.invoke(app, ["export", str(store), "--format", "fiftyone", "--out", str(tmp_path / "fo"),
                                 "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "exported 5 samples" in result.output and len(samples_of(tmp_path / "fo")) == 5


def labelled_store(path: Path, face_folder: Path) -> Path:
    """A 5-sample RandOcc store with the parsing, amodal face and occluder class labels."""
    result = runner.invoke(app, ["generate", "randocc", "--n", "5", "--size", "48", "--workers", "1", "--no-preview",
                                 "--faces", str(face_folder), "--out", str(path),
                                 "--labels", "parsing,amodal,occluder-class"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


def test_label_arrays_become_segmentation_fields_with_class_tables(tmp_path: Path, face_folder: Path) -> None:
    store = labelled_store(tmp_path / "rich.zarr", face_folder)
    export_fiftyone(store, tmp_path / "fo")
    reader = open_store(store)
    for sample in samples_of(tmp_path / "fo"):
        index = sample["store_index"]
        assert np.array_equal(read_png(sample["parsing"]["mask_path"]), reader.label("parsing", index))
        assert np.array_equal(read_png(sample["occluder_class"]["mask_path"]), reader.label("occluder_class", index))
        amodal = reader.label("face_mask_amodal", index)
        assert np.array_equal(read_png(sample["face_amodal"]["mask_path"]), amodal * 255)
    targets = json.loads((tmp_path / "fo" / "metadata.json").read_text())["info"]["mask_targets"]
    assert targets["parsing"]["1"] == PARSING_CLASSES[1] and "0" not in targets["parsing"]
    assert targets["occluder_class"] == {"1": "hand", "2": "object", "3": "random_shape"}


def test_fiftyone_reads_the_export_with_the_store_masks(tmp_path: Path, face_folder: Path) -> None:
    """The real import (needs the view extra and FiftyOne's MongoDB: its bundled one, or FIFTYONE_DATABASE_URI)."""
    environ = dict(os.environ)  # importing fiftyone sets FIFTYONE_CONTEXT and OpenMP variables: put back after
    try:
        fo = pytest.importorskip("fiftyone", reason="FiftyOne is not installed (pip install 'occgen[view]')")
        check_fiftyone_import(fo, tmp_path, face_folder)
    finally:
        os.environ.clear()
        os.environ.update(environ)


def check_fiftyone_import(fo: Any, tmp_path: Path, face_folder: Path) -> None:
    store = labelled_store(tmp_path / "randocc.zarr", face_folder)
    dataset = fiftyone_dataset(store, out=tmp_path / "fo")
    try:
        reader = open_store(store)
        assert len(dataset) == len(reader) == 5
        schema = dataset.get_field_schema()
        assert {"face", "occluder", "coverage", "occluder_types", "face_id", "sample_id"} <= set(schema)
        assert dataset.mask_targets.get("face") == {255: "face"}
        assert dataset.mask_targets["occluder_class"] == {1: "hand", 2: "object", 3: "random_shape"}
        for sample in dataset.sort_by("store_index"):
            stored = reader[sample["store_index"]]
            assert isinstance(sample["face"], fo.Segmentation) and isinstance(sample["occluder"], fo.Heatmap)
            assert np.array_equal(sample["face"].get_mask(), stored.face_mask * 255)
            assert np.array_equal(sample["occluder"].get_map(), stored.occluder_mask)
            assert sample["sample_id"] == stored.metadata["sample_id"]
            assert np.array_equal(sample["parsing"].get_mask(), reader.label("parsing", sample["store_index"]))
        assert len(dataset.match(fo.ViewField("coverage") >= 0.0)) == 5  # filterable in the app
    finally:
        dataset.delete()
