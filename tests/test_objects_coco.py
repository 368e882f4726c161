"""COCO occluder extraction on a COCO-format annotation file the tests write (true on-disk layout:
``annotations/instances_val2017.json`` + ``val2017/<file_name>``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, SourceError
from occgen.core.imageio import read_image
from occgen.prep.objects.coco import (
    CocoFilter,
    CutOutConfig,
    cut_out,
    extract_coco,
    is_truncated,
    mask_solidity,
    read_coco,
    segmentation_to_mask,
    select_candidates,
    soft_alpha,
)
from occgen.sources.registry import make_occluder_source

W, H = 200, 160
# Permissive enough for the small fixture; the real defaults are tested separately.
FILTERS = CocoFilter(categories=("cup", "bottle", "cell phone", "book"), min_area_px=300.0, min_solidity=0.8)


def rect_polygon(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def rle_of(mask: np.ndarray, compressed: bool) -> dict:
    if compressed:
        rle = mask_utils.encode(np.asfortranarray(mask))
        return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    # Uncompressed RLE (COCO's crowd format): run lengths over the column-major flattening, starting with 0s.
    flat = mask.flatten(order="F")
    counts, current, run = [], 0, 0
    for value in flat:
        if value == current:
            run += 1
        else:
            counts.append(run)
            current, run = value, 1
    counts.append(run)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def box_mask(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


def c_shape_mask() -> np.ndarray:
    mask = box_mask(120, 90, 170, 140)
    mask[100:130, 130:170] = 0  # a "C": solidity about 0.5
    return mask


@pytest.fixture
def coco_root(tmp_path: Path) -> Path:
    """Two 200x160 PNG images and 9 annotations covering every filter."""
    rng = np.random.default_rng(3)
    root = tmp_path / "coco"
    (root / "val2017").mkdir(parents=True)
    for name in ("000000000001.png", "000000000002.png"):
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        assert cv2.imwrite(str(root / "val2017" / name), image)
    ellipse = np.zeros((H, W), np.uint8)
    cv2.ellipse(ellipse, (60, 110), (25, 30), 0, 0, 360, 1, -1)
    anns = [
        # kept: polygon cup, compressed-RLE bottle, uncompressed-RLE phone
        {"id": 10, "image_id": 1, "category_id": 47, "iscrowd": 0, "segmentation": rect_polygon(20, 20, 70, 60)},
        {"id": 11, "image_id": 1, "category_id": 44, "iscrowd": 0, "segmentation": rle_of(ellipse, True)},
        {
            "id": 12,
            "image_id": 2,
            "category_id": 77,
            "iscrowd": 0,
            "segmentation": rle_of(box_mask(80, 30, 140, 80), False),
        },  # noqa: E501
        # rejected: crowd, truncated, tiny, person, non-solid
        {
            "id": 20,
            "image_id": 2,
            "category_id": 47,
            "iscrowd": 1,
            "segmentation": rle_of(box_mask(20, 90, 70, 140), False),
        },  # noqa: E501
        {"id": 21, "image_id": 1, "category_id": 47, "iscrowd": 0, "segmentation": rect_polygon(150, 0, 199, 40)},
        {"id": 22, "image_id": 1, "category_id": 47, "iscrowd": 0, "segmentation": rect_polygon(100, 100, 110, 110)},
        {"id": 23, "image_id": 2, "category_id": 1, "iscrowd": 0, "segmentation": rect_polygon(20, 20, 60, 70)},
        {"id": 24, "image_id": 2, "category_id": 84, "iscrowd": 0, "segmentation": rle_of(c_shape_mask(), True)},
        # kept: a second, smaller cup on image 2
        {"id": 25, "image_id": 2, "category_id": 47, "iscrowd": 0, "segmentation": rect_polygon(150, 20, 180, 50)},
    ]
    for ann in anns:
        rle = segmentation_to_mask(ann["segmentation"], H, W)
        ys, xs = np.nonzero(rle)
        ann["area"] = float(rle.sum())
        ann["bbox"] = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    data = {
        "info": {"description": "occgen test fixture"},
        "licenses": [
            {"id": 4, "name": "Attribution License", "url": "http://creativecommons.org/licenses/by/2.0/"},
            {
                "id": 1,
                "name": "Attribution-NonCommercial-ShareAlike License",
                "url": "http://creativecommons.org/licenses/by-nc-sa/2.0/",
            },  # noqa: E501
        ],
        "images": [
            {
                "id": 1,
                "file_name": "000000000001.png",
                "width": W,
                "height": H,
                "license": 4,
                "coco_url": "http://images.cocodataset.org/val2017/000000000001.jpg",
                "flickr_url": "http://farm1/1.jpg",
            },
            {
                "id": 2,
                "file_name": "000000000002.png",
                "width": W,
                "height": H,
                "license": 1,
                "coco_url": "http://images.cocodataset.org/val2017/000000000002.jpg",
            },
        ],  # fmt: skip
        "categories": [
            {"id": 1, "name": "person", "supercategory": "person"},
            {"id": 44, "name": "bottle", "supercategory": "kitchen"},
            {"id": 47, "name": "cup", "supercategory": "kitchen"},
            {"id": 77, "name": "cell phone", "supercategory": "electronic"},
            {"id": 84, "name": "book", "supercategory": "indoor"},
        ],
        "annotations": anns,
    }
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    return root


def ann_path(root: Path) -> Path:
    return root / "annotations" / "instances_val2017.json"


def test_segmentation_formats_decode_to_the_same_mask() -> None:
    reference = box_mask(80, 30, 140, 80)
    for segmentation in (rle_of(reference, True), rle_of(reference, False)):
        np.testing.assert_array_equal(segmentation_to_mask(segmentation, H, W), reference)
    polygon = segmentation_to_mask(rect_polygon(80, 30, 140, 80), H, W)
    iou = (polygon & reference).sum() / (polygon | reference).sum()
    assert polygon.dtype == np.uint8 and iou > 0.95
    with pytest.raises(SourceError, match="unknown COCO segmentation format"):
        segmentation_to_mask(42, H, W)


def test_solidity_and_truncation() -> None:
    assert mask_solidity(box_mask(10, 10, 50, 40)) == pytest.approx(1.0, abs=1e-6)
    assert mask_solidity(c_shape_mask()) < 0.7
    assert mask_solidity(np.zeros((8, 8), np.uint8)) == 0.0
    assert is_truncated([0, 10, 20, 20], W, H, 2)
    assert is_truncated([10, 10, W - 11, 20], W, H, 2)
    assert not is_truncated([10, 10, 20, 20], W, H, 2)


def test_soft_alpha_and_cut_out() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    mask = box_mask(40, 30, 90, 70)
    alpha = soft_alpha(mask, erode_px=1, sigma_px=1.0)
    assert alpha.dtype == np.float32 and alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert alpha[50, 60] == pytest.approx(1.0) and alpha[5, 5] == 0.0
    assert 0.0 < alpha[50, 40] < 1.0  # soft edge
    rgba, box = cut_out(image, mask, CutOutConfig(pad_px=4))
    assert box == (36, 26, 94, 74) and rgba.shape == (48, 58, 4) and rgba.dtype == np.uint8
    np.testing.assert_array_equal(rgba[..., :3], image[26:74, 36:94])  # colour untouched
    assert rgba[0, 0, 3] == 0 and rgba[24, 29, 3] == 255
    assert not np.any(mask[26:74, 36:94] == 0) or rgba[..., 3][mask[26:74, 36:94] == 0].max() < 128


def test_filters_count_every_rejection(coco_root: Path) -> None:
    selection = select_candidates(read_coco(ann_path(coco_root)), FILTERS)
    assert [c.annotation_id for c in selection.candidates] == [10, 11, 12, 25]
    assert dict(selection.rejected) == {"crowd": 1, "truncated": 1, "area": 1, "category": 1, "solidity": 1}
    assert all(c.category != "person" for c in selection.candidates)


def test_max_per_category_keeps_the_largest(coco_root: Path) -> None:
    filters = CocoFilter(categories=("cup",), min_area_px=300.0, max_per_category=1)
    selection = select_candidates(read_coco(ann_path(coco_root)), filters)
    assert [c.annotation_id for c in selection.candidates] == [10]  # 50x40 beats 30x30
    assert selection.rejected["max_per_category"] == 1


def test_filter_config_errors(coco_root: Path) -> None:
    with pytest.raises(ConfigError, match="person"):
        CocoFilter(categories=("cup", "person"))
    with pytest.raises(ConfigError, match="min_solidity"):
        CocoFilter(min_solidity=1.5)
    with pytest.raises(ConfigError, match="none of the categories"):
        select_candidates(read_coco(ann_path(coco_root)), CocoFilter(categories=("zebra",)))


def test_default_filters_are_documented_values() -> None:
    filters = CocoFilter()
    assert len(filters.categories) == 20 and "person" not in filters.categories
    assert {"cup", "bottle", "cell phone", "book", "pizza"} <= set(filters.categories)
    assert (filters.include_crowd, filters.min_area_px, filters.border_margin_px) == (False, 2500.0, 2)
    assert (filters.min_solidity, filters.max_per_category) == (0.5, None)


def test_extract_writes_rgba_crops_and_manifest(coco_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "objects"
    report = extract_coco(ann_path(coco_root), coco_root / "val2017", out, filters=FILTERS)
    assert (report.candidates, report.written, report.skipped_existing) == (4, 4, 0)
    assert report.per_category == {"bottle": 1, "cell phone": 1, "cup": 2}
    manifest = json.loads((out / "manifest.json").read_text())
    items = {item["annotation_id"]: item for item in manifest["items"]}
    assert sorted(items) == [10, 11, 12, 25] and manifest["count"] == 4
    cup = items[10]
    assert cup["file"] == "coco_10_cup.png" and cup["image_id"] == 1 and cup["category"] == "cup"
    assert cup["licence_id"] == 4 and cup["licence_url"] == "http://creativecommons.org/licenses/by/2.0/"
    assert cup["image_url"] == "http://images.cocodataset.org/val2017/000000000001.jpg"
    assert items[12]["licence_id"] == 1 and items[12]["category"] == "cell phone"
    for item in items.values():
        data = (out / item["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"]
    # The cup's crop: colours from the source image, opaque inside, transparent outside, soft edge.
    rgba = cv2.cvtColor(cv2.imread(str(out / cup["file"]), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    x0, y0, x1, y1 = cup["crop_box"]
    source = read_image(coco_root / "val2017" / "000000000001.png")
    np.testing.assert_array_equal(rgba[..., :3], source[y0:y1, x0:x1])
    alpha = rgba[..., 3]
    assert alpha[alpha.shape[0] // 2, alpha.shape[1] // 2] == 255 and alpha[0, 0] == 0
    assert np.any((alpha > 0) & (alpha < 255))


def test_extract_resumes_and_guards_settings(coco_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "objects"
    extract_coco(ann_path(coco_root), coco_root / "val2017", out, filters=FILTERS)
    first = (out / "manifest.json").read_text()
    again = extract_coco(ann_path(coco_root), coco_root / "val2017", out, filters=FILTERS)
    assert (again.written, again.skipped_existing) == (0, 4)
    (out / "coco_11_bottle.png").unlink()
    resumed = extract_coco(ann_path(coco_root), coco_root / "val2017", out, filters=FILTERS)
    assert (resumed.written, resumed.skipped_existing) == (1, 3)
    assert (out / "manifest.json").read_text() == first
    other = CocoFilter(categories=("cup",), min_area_px=300.0)
    with pytest.raises(ConfigError, match="other settings .*filters.*--overwrite"):
        extract_coco(ann_path(coco_root), coco_root / "val2017", out, filters=other)
    replaced = extract_coco(ann_path(coco_root), coco_root / "val2017", out, filters=other, overwrite=True)
    assert replaced.candidates == 2 and sorted(p.name for p in out.glob("*.png")) == [
        "coco_10_cup.png", "coco_25_cup.png",
    ]  # fmt: skip


def test_parallel_extraction_matches_serial(coco_root: Path, tmp_path: Path) -> None:
    serial = extract_coco(ann_path(coco_root), coco_root / "val2017", tmp_path / "a", filters=FILTERS)
    parallel = extract_coco(ann_path(coco_root), coco_root / "val2017", tmp_path / "b", filters=FILTERS, workers=2)
    assert serial.candidates == parallel.candidates == 4
    a = json.loads((tmp_path / "a" / "manifest.json").read_text())["items"]
    b = json.loads((tmp_path / "b" / "manifest.json").read_text())["items"]
    assert a == b


def test_missing_inputs_are_clear_errors(coco_root: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="annotation file not found"):
        extract_coco(tmp_path / "nope.json", coco_root / "val2017", tmp_path / "o")
    with pytest.raises(SourceError, match="image folder not found"):
        extract_coco(ann_path(coco_root), tmp_path / "nope", tmp_path / "o")
    (coco_root / "val2017" / "000000000002.png").unlink()
    with pytest.raises(SourceError, match=r"000000000002.png of annotation 12 not found"):
        extract_coco(ann_path(coco_root), coco_root / "val2017", tmp_path / "o", filters=FILTERS)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(SourceError, match="not a COCO"):
        read_coco(bad)


def test_coco_objects_source_draws_registered_occluders(coco_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "objects"
    extract_coco(ann_path(coco_root), coco_root / "val2017", out, filters=FILTERS)
    source = make_occluder_source("coco-objects", root=out)
    assert len(source) == 4 and source.describe()["count"] == 4
    occluder, params = source.draw(rng=np.random.default_rng(5))
    again, params_again = source.draw(rng=np.random.default_rng(5))
    assert params == params_again and np.array_equal(occluder.rgb, again.rgb)
    assert occluder.kind == "coco-object" and occluder.occluder_id == f"coco:{params['annotation_id']}"
    assert occluder.alpha.dtype == np.float32 and occluder.alpha.max() == 1.0
    assert occluder.alpha[0].max() > 0 and occluder.alpha[:, 0].max() > 0  # cropped to its alpha
    cups = make_occluder_source("coco-objects", root=out, categories=("cup",))
    assert len(cups) == 2
    with pytest.raises(SourceError, match="no objects of categories"):
        make_occluder_source("coco-objects", root=out, categories=("pizza",))
    with pytest.raises(SourceError, match="no manifest.json"):
        make_occluder_source("coco-objects", root=coco_root)


def test_cli_extracts_and_reports(coco_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-objects"
    args = ["occluders", "coco", "--annotations", str(ann_path(coco_root)), "--src", str(coco_root / "val2017"),
            "--out", str(out), "--category", "cup", "--category", "bottle", "--category", "zebra",
            "--min-area", "300", "--min-solidity", "0.8"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 objects" in result.output and "zebra" in result.output
    assert len(list(out.glob("*.png"))) == 3
    bad = CliRunner().invoke(app, [*args[:2], "--annotations", str(tmp_path / "x.json"), *args[4:]])
    assert bad.exit_code == 1 and "annotation file not found" in bad.output


def test_embedded_demo_runs_with_default_filters(tmp_path: Path) -> None:
    """assets/demo/coco: 15 real COCO 2017 objects (CC BY photos) all pass the default filters, and the
    stage reproduces the embedded cut-outs in assets/demo/objects byte for byte."""
    demo = Path(__file__).resolve().parents[1] / "assets" / "demo"
    coco = demo / "coco"
    report = extract_coco(coco / "annotations" / "instances_demo.json", coco / "images", tmp_path / "demo")
    assert report.rejected == {} and sum(report.per_category.values()) == 15
    assert {"cup", "bowl", "banana", "cell phone"} <= set(report.per_category)
    source = make_occluder_source("coco-objects", root=tmp_path / "demo")
    occluder, params = source.draw(rng=np.random.default_rng(0))
    assert occluder.rgb.dtype == np.uint8 and params["category"] in report.per_category
    items = json.loads((tmp_path / "demo" / "manifest.json").read_text())["items"]
    embedded = json.loads((demo / "objects" / "manifest.json").read_text())["items"]
    assert [(i["file"], i["sha256"]) for i in items] == [(i["file"], i["sha256"]) for i in embedded]
    assert {item["licence_name"] for item in items} == {"Attribution License"}


def test_objects_fingerprint_ignores_the_occgen_release_but_not_the_content(coco_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "objects"
    extract_coco(ann_path(coco_root), coco_root / "val2017", out, filters=FILTERS)
    before = make_occluder_source("coco-objects", root=out).describe()["fingerprint"]
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "occgen_version": "99.0"}))
    assert make_occluder_source("coco-objects", root=out).describe()["fingerprint"] == before
    manifest["items"][0]["area"] = -1  # another object
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert make_occluder_source("coco-objects", root=out).describe()["fingerprint"] != before


def test_cli_on_the_demo_says_so_once_without_a_category_warning(tmp_path: Path) -> None:
    """Without --annotations the command runs on the embedded demo: one note says so (and how to pass COCO);
    the categories the demo's few photos do not annotate are not warned about one by one."""
    result = CliRunner().invoke(app, ["occluders", "coco", "--out", str(tmp_path / "demo-objects")])
    said = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "embedded demo COCO annotations" in said and "--annotations JSON --src DIR" in said
    assert "gave no object" not in said and "15 objects" in said
