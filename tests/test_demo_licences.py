"""Every embedded demo object is a real COCO photo under CC BY 2.0, with its attribution recorded in the
manifest, the COCO file and assets/README.md (never NC, ND or SA photos)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from occgen.core.errors import SourceError
from occgen.core.files import demo_root

CC_BY = {
    "licence_id": 4,
    "licence_name": "Attribution License",
    "licence_url": "http://creativecommons.org/licenses/by/2.0/",
}
FLICKR = re.compile(r"^http://farm\d+\.staticflickr\.com/\d+/(\d+)_[0-9a-f]+_[a-z]\.jpg$")


@pytest.fixture(scope="module")
def manifest_items() -> list[dict]:
    return json.loads((demo_root() / "objects" / "manifest.json").read_text())["items"]


def test_every_embedded_object_is_cc_by_with_its_attribution(manifest_items: list[dict]) -> None:
    files = sorted(p.name for p in (demo_root() / "objects").glob("*.png"))
    assert files == sorted(item["file"] for item in manifest_items) and len(files) >= 10
    for item in manifest_items:
        assert {key: item[key] for key in CC_BY} == CC_BY, item["file"]
        assert FLICKR.match(item["flickr_url"]), item["file"]
        assert (
            item["image_url"]
            == f"http://images.cocodataset.org/{item['image_url'].split('/')[-2]}/{item['image_file']}"
        )
        data = (demo_root() / "objects" / item["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"], item["file"]


def test_demo_coco_images_all_carry_the_cc_by_licence() -> None:
    coco = demo_root() / "coco"
    data = json.loads((coco / "annotations" / "instances_demo.json").read_text())
    licences = {lic["id"]: lic for lic in data["licenses"]}
    assert licences[4]["name"] == "Attribution License" and licences[4]["url"].endswith("/licenses/by/2.0/")
    assert {image["license"] for image in data["images"]} == {4}
    assert sorted(p.name for p in (coco / "images").iterdir()) == sorted(i["file_name"] for i in data["images"])
    for image in data["images"]:
        x0, y0, x1, y1 = image["occgen_crop"]
        assert (image["width"], image["height"]) == (x1 - x0, y1 - y0) and FLICKR.match(image["flickr_url"])


def test_readme_attributes_every_photo(manifest_items: list[dict]) -> None:
    readme = (Path(__file__).resolve().parents[1] / "assets" / "README.md").read_text()
    for item in manifest_items:
        photo_id = FLICKR.match(item["flickr_url"]).group(1)  # type: ignore[union-attr]
        assert f"https://www.flickr.com/photo.php?id={photo_id}" in readme, item["file"]
        assert item["file"] in readme


def test_the_store_card_carries_the_demo_objects_licence_and_attribution(manifest_items: list[dict]) -> None:
    from occgen.sources.objects import CocoObjects, licence_summary

    described = CocoObjects(None).describe()
    assert described["licence"] == (
        "COCO photos: Attribution License (http://creativecommons.org/licenses/by/2.0/) x15; "
        "per object the photo (flickr_url) and licence in manifest.json"
    )
    attribution = str(described["attribution"]).split("; ")
    assert sorted(attribution) == sorted(f"coco:{i['annotation_id']} {i['flickr_url']}" for i in manifest_items)
    mixed = [{"licence_name": "CC0 1.0 Universal"}, {}, {"licence_name": "CC0 1.0 Universal"}]
    assert licence_summary(mixed).startswith("COCO photos: CC0 1.0 Universal x2; unknown licence x1;")


def test_a_large_objects_folder_points_to_its_manifest_for_attribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from occgen.sources import objects

    shutil.copytree(demo_root() / "objects", tmp_path / "objects")
    assert "coco:310509 http://" in str(objects.CocoObjects(tmp_path / "objects").describe()["attribution"])
    monkeypatch.setattr(objects, "ATTRIBUTION_MAX_OBJECTS", 14)
    described = objects.CocoObjects(tmp_path / "objects").describe()
    assert "attribution" not in described and "Attribution License" in str(described["licence"])


def test_a_plain_folder_of_rgba_cutouts_plugs_in_as_objects(tmp_path: Path) -> None:
    """No manifest.json: every .png is an object, its category from its name, its id from its file."""
    import numpy as np

    from occgen.core.imageio import write_png
    from occgen.sources.objects import CocoObjects, category_from_file_name

    rgba = np.zeros((40, 30, 4), np.uint8)
    rgba[10:30, 5:25] = (200, 30, 30, 255)
    for name in ("cup_01.png", "cell-phone-2.png", "microphone.png"):
        write_png(tmp_path / name, rgba)
    (tmp_path / "notes.txt").write_text("not an image")
    source = CocoObjects(tmp_path)
    assert len(source) == 3 and category_from_file_name("teddy_bear_12.png") == "teddy bear"
    occluder, params = source.draw(rng=np.random.default_rng(1))
    assert occluder.rgb.shape == (20, 20, 3) and occluder.occluder_id == f"file:{Path(params['file']).stem}"
    assert params["category"] in {"cup", "cell phone", "microphone"} and params["image_id"] == -1
    phones = CocoObjects(tmp_path, categories=("cell phone",))
    assert len(phones) == 1 and phones.load(0).occluder_id == "file:cell-phone-2"
    described = source.describe()
    assert described["licence"] == "your cut-outs: no manifest.json, so no licence recorded (unknown licence x3)"
    for png in tmp_path.glob("*.png"):
        png.unlink()
    with pytest.raises(SourceError, match="no manifest.json in .* and no .png cut-outs"):
        CocoObjects(tmp_path)
