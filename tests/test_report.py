"""`occgen report`: the page's numbers against the store's own arrays and metadata, and the page itself in a real
headless Chromium (the system package, driven by Playwright on a file URL)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.run.audit import CSV_NAME, MEASURES, SUMMARY_NAME, AuditSettings, run_audit
from occgen.run.report_html import GALLERY_PAGE, require_matplotlib, write_report
from occgen.run.report_stats import COVERAGE_EDGES, ReportSettings, choose_samples, summarise
from occgen.store import open_store

N = 32  # samples per store; the mix takes all of both


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A NatOcc store (hands and objects), a RandOcc store and a mix of the two, 64 px, from the demo assets."""
    root = tmp_path_factory.mktemp("report")
    runner = CliRunner()
    for recipe in ("natocc", "randocc"):
        result = runner.invoke(app, ["generate", recipe, "--n", str(N), "--size", "64", "--workers", "1",
                                     "--shard-size", "16", "--out", str(root / f"{recipe}.zarr")])  # fmt: skip
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["mix", str(root / "natocc.zarr"), str(root / "randocc.zarr"),
                                 "--out", str(root / "mix.zarr")])  # fmt: skip
    assert result.exit_code == 0, result.output
    return {"natocc": root / "natocc.zarr", "randocc": root / "randocc.zarr", "mix": root / "mix.zarr", "root": root}


def page_data(page: str, element_id: str = "occgen-report-data") -> Any:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert match, f"no {element_id} block in the page"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def mix_report(stores: dict[str, Path]) -> Path:
    """The report of the whole mix: every sample in the gallery and in the array statistics."""
    out = stores["root"] / "mix.html"
    write_report(stores["mix"], out, ReportSettings(gallery=2 * N, array_samples=2 * N, extremes=4))
    return out


def test_report_numbers_equal_the_stores_own(stores: dict[str, Path], mix_report: Path) -> None:
    page = mix_report.read_text(encoding="utf-8")
    data = page_data(page)
    dataset = open_store(stores["mix"])
    metadata = dataset.metadata(range(len(dataset)))
    assert data["n"] == len(dataset) == 2 * N
    types = Counter(kind for m in metadata for kind in set(m["occluder_types"]))
    assert dict(data["occluder_types"]) == dict(types) and "hand" in types and "random-shape" in types
    assert dict(data["recipes"]) == {"natocc": N, "randocc": N}
    assert dict(data["faces"]["top"]) == dict(Counter(m["face_id"] for m in metadata))

    # Coverage from the arrays: the face before occlusion (metadata) minus the face the mask still shows.
    samples = [dataset[i] for i in range(len(dataset))]
    before = np.array([m["face_px_before"] for m in metadata], np.float64)
    visible = np.array([int(s.face_mask.sum()) for s in samples], np.float64)
    expected, _ = np.histogram((before - visible) / before, bins=np.linspace(0, 1, 21))
    assert data["coverage"]["counts"] == expected.tolist() and sum(expected) == 2 * N
    assert data["coverage"]["edges"] == pytest.approx(COVERAGE_EDGES.tolist()) and data["coverage"]["outside_0_1"] == 0
    assert data["arrays"]["coverage_check"] == {"checked": 2 * N, "agree": 2 * N, "max_abs_difference_px": 0}

    area = [float((s.occluder_mask > 0).mean()) for s in samples]
    assert (
        data["arrays"]["all"]
        and data["arrays"]["area"]["counts"] == np.histogram(area, bins=np.linspace(0, 1, 21))[0].tolist()
    )
    assert data["arrays"]["area"]["mean"] == pytest.approx(np.mean(area))

    # Hand/skin colour distance: whole-image CIELAB conversion, then the two masked means.
    distances = []
    for s, m in zip(samples, metadata, strict=True):
        if "hand" in m["occluder_types"]:
            lab = cv2.cvtColor(s.image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
            hand, face = s.occluder_mask >= 128, (s.face_mask == 1) & (s.occluder_mask < 128)
            if hand.sum() >= 16 and face.sum() >= 16:
                distances.append(np.linalg.norm(lab[hand].mean(0) - lab[face].mean(0)))
    assert distances and data["arrays"]["delta_e"]["samples"] == len(distances)
    assert data["arrays"]["delta_e"]["mean"] == pytest.approx(np.mean(distances), abs=1e-3)

    coverage = (before - visible) / before
    order = sorted(range(len(coverage)), key=lambda i: (-coverage[i], i))
    assert [e["index"] for e in data["most_covered"]] == order[:4]
    assert [e["index"] for e in data["least_covered"]] == order[::-1][:4]  # least covered first
    assert data["least_covered"][0]["coverage"] == pytest.approx(coverage.min())
    assert [e["id"] for e in data["gallery"]] == [m["sample_id"] for m in metadata]


def test_page_is_self_contained(mix_report: Path) -> None:
    page = mix_report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page), "the page must not load anything from the network"
    assert "<link" not in page and "@import" not in page
    thumbs = page_data(page, "occgen-report-thumbs")
    assert len(thumbs) == 2 * N and all(v.startswith("data:image/jpeg;base64,") for v in thumbs.values())
    # coverage, area, heat map, colour distance, the audit histograms (one figure)
    assert page.count('src="data:image/png;base64,') == 5


def test_gallery_and_array_sample_come_from_the_seed(stores: dict[str, Path]) -> None:
    first = choose_samples(1000, 40, seed=3)
    assert np.array_equal(choose_samples(1000, 10, seed=3), first[:10])  # a smaller count is a prefix
    assert not np.array_equal(choose_samples(1000, 40, seed=4), first)
    assert len(set(first.tolist())) == 40

    out = stores["root"] / "natocc.html"
    write_report(stores["natocc"], out, ReportSettings(gallery=8, array_samples=12, seed=5, extremes=2))
    data = page_data(out.read_text(encoding="utf-8"))
    assert [e["index"] for e in data["gallery"]] == sorted(choose_samples(N, 8, seed=5).tolist())
    assert data["arrays"]["samples"] == 12 and data["arrays"]["of"] == N and not data["arrays"]["all"]
    assert sum(data["arrays"]["area"]["counts"]) == 12
    assert sum(data["coverage"]["counts"]) == N  # statistics over every sample's metadata


def test_bad_settings_and_missing_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--workers must be at least 1"):
        ReportSettings(workers=0)
    with pytest.raises(ConfigError, match="--gallery must be >= 0"):
        ReportSettings(gallery=-1)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigError, match=r"pip install 'occgen\[report\]'"):
        require_matplotlib()


def test_report_command(stores: dict[str, Path]) -> None:
    out = stores["root"] / "cli" / "randocc.html"
    result = CliRunner().invoke(app, ["report", str(stores["randocc"]), "--out", str(out), "--gallery", "5",
                                      "--array-samples", "10", "--seed", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = page_data(out.read_text(encoding="utf-8"))
    assert len(data["gallery"]) == 5 and dict(data["occluder_types"]) == {"random-shape": N}
    missing = CliRunner().invoke(app, ["report", str(stores["root"] / "nope.zarr"), "--out", str(out)])
    assert missing.exit_code == 1 and "nope.zarr" in missing.output


def audit_csv(store: Path, out: Path) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """`occgen audit` of ``store`` (every sample): its audit.csv rows by sample id, and its summary.json."""
    run_audit(store, out, AuditSettings())
    with (out / CSV_NAME).open(newline="") as handle:
        rows = {row["sample_id"]: row for row in csv.DictReader(handle)}
    return rows, json.loads((out / SUMMARY_NAME).read_text())


def test_audit_section_equals_occgen_audit(stores: dict[str, Path], mix_report: Path) -> None:
    """Every sample audited: the page's per-measure summary is `occgen audit`'s summary.json, value for value, and
    each sample's numbers are its audit.csv row."""
    audit = page_data(mix_report.read_text(encoding="utf-8"))["audit"]
    rows, summary = audit_csv(stores["mix"], stores["root"] / "audit-mix")
    assert audit["all"] and audit["samples"] == audit["of"] == 2 * N
    assert audit["measures"] == summary["measures"] and audit["thresholds"] == summary["thresholds"]
    assert audit["measures"]["hole_frac"]["measured"] > 0 and audit["measures"]["invisible_frac"]["measured"] == 0
    assert audit["values"]["sample_id"] == list(rows)  # index order, ids qualified by their store as audit names them
    for measure in MEASURES:
        for sample_id, value in zip(audit["values"]["sample_id"], audit["values"][measure.name], strict=True):
            cell = rows[sample_id][measure.name]
            assert (value is None and cell == "") or value == pytest.approx(float(cell), rel=1e-5, abs=1e-9)
        histogram = audit["histograms"][measure.name]
        measured = [v for v in audit["values"][measure.name] if v is not None]
        assert sum(histogram["counts"]) == len(measured) == summary["measures"][measure.name]["measured"]
        worst = [[w["id"], w["value"]] for w in audit["worst"][measure.name]]
        assert worst == summary["measures"][measure.name]["worst"]


def test_audit_section_on_a_seeded_sample_and_without(stores: dict[str, Path]) -> None:
    out = stores["root"] / "natocc-audit.html"
    write_report(stores["natocc"], out, ReportSettings(gallery=4, array_samples=6, audit_samples=10, seed=2))
    page = out.read_text(encoding="utf-8")
    audit = page_data(page)["audit"]
    assert audit["values"]["index"] == sorted(choose_samples(N, 10, seed=2).tolist())
    assert audit["samples"] == 10 and audit["of"] == N and not audit["all"] and audit["seed"] == 2
    assert "10 of 32 samples picked at random (seed 2)" in page
    assert page_data(page)["arrays"]["samples"] == 6  # audit-only samples stay out of the pixel statistics
    rows, _ = audit_csv(stores["natocc"], stores["root"] / "audit-natocc")
    for k, sample_id in enumerate(audit["values"]["sample_id"]):
        assert audit["values"]["hole_frac"][k] == pytest.approx(float(rows[sample_id]["hole_frac"]), abs=1e-9)
        assert audit["values"]["edge_width_face"][k] == pytest.approx(float(rows[sample_id]["edge_width_face"]),
                                                                      rel=1e-5)  # fmt: skip
    for entries in audit["worst"].values():  # each measure's worst tiles are in the page
        for entry in entries:
            assert f'class="tile audit-tile" data-sample-id="{entry["id"]}"' in page

    bare = stores["root"] / "cli" / "no-audit.html"
    result = CliRunner().invoke(app, ["report", str(stores["natocc"]), "--out", str(bare), "--gallery", "4",
                                      "--array-samples", "4", "--no-audit"])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = bare.read_text(encoding="utf-8")
    assert page_data(page)["audit"] is None and 'id="audit"' not in page and 'href="#audit"' not in page


# --- the page in a real browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_page(mix_report: Path) -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium binary on PATH (CI installs Debian's chromium package: see .ci/run)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: None if request.url.startswith(("file:", "data:"))
                else errors.append(f"network request {request.url}"))  # fmt: skip
        page.goto(mix_report.as_uri())
        page.errors = errors
        yield page
        browser.close()


def shown_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all("#gallery-tiles figure.tile", "tiles => tiles.map(t => t.dataset.sampleId)")


def reset(page: Any) -> None:
    page.select_option("#filter-type", "")
    page.fill("#filter-coverage-min", "0")
    page.fill("#filter-coverage-max", "100")


def test_browser_renders_the_page(browser_page: Any, stores: dict[str, Path]) -> None:
    page = browser_page
    assert page.errors == []
    assert page.is_visible("text=Dataset card") and page.is_visible("#card >> text=natocc, randocc")
    assert page.locator("#card").inner_text().count("occgen demo assets") >= 2  # licences
    broken = page.eval_on_selector_all(
        "img", "images => images.filter(i => !(i.complete && i.naturalWidth > 0)).length"
    )
    assert broken == 0
    assert len(shown_ids(page)) == GALLERY_PAGE
    assert page.inner_text("#gallery-page") == f"page 1 of {-(-2 * N // GALLERY_PAGE)}"


def test_browser_renders_the_audit_section(browser_page: Any, mix_report: Path) -> None:
    page = browser_page
    audit = page_data(mix_report.read_text(encoding="utf-8"))["audit"]
    assert page.is_visible("#audit >> text=Audit") and page.is_visible("#audit >> text=every sample")
    cells = page.eval_on_selector_all(
        "#audit table.audit-table tbody tr", "rows => rows.map(r => [r.cells[0].innerText, r.cells[3].innerText])"
    )
    assert cells == [[m.name, str(audit["measures"][m.name]["beyond"])] for m in MEASURES]
    tiles = page.eval_on_selector_all(
        "#audit figure.audit-tile img", "images => images.map(i => i.complete && i.naturalWidth === 192)"
    )
    assert tiles and all(tiles) and len(tiles) == sum(len(w) for w in audit["worst"].values())
    assert page.locator('#audit img[alt="audit measure histograms"]').evaluate("i => i.naturalWidth") > 0
    page.click('nav a[href="#audit"]')
    assert page.is_visible("#audit h2") and page.errors == []


def test_browser_gallery_pages(browser_page: Any) -> None:
    page = browser_page
    reset(page)
    first = shown_ids(page)
    page.click("#gallery-next")
    second = shown_ids(page)
    assert second and not set(first) & set(second)
    assert page.inner_text("#gallery-page").startswith("page 2 of")
    page.click("#gallery-previous")
    assert shown_ids(page) == first
    assert page.is_disabled("#gallery-previous")


def test_browser_type_filter_hides_other_types(browser_page: Any, mix_report: Path) -> None:
    page = browser_page
    reset(page)
    data = page_data(mix_report.read_text(encoding="utf-8"))
    hands = [e["id"] for e in data["gallery"] if "hand" in e["types"]]
    page.select_option("#filter-type", "hand")
    types = page.eval_on_selector_all("#gallery-tiles figure.tile", "tiles => tiles.map(t => t.dataset.types)")
    assert types and all(t.split() == ["hand"] for t in types)
    assert shown_ids(page) == hands[:GALLERY_PAGE]
    assert page.inner_text("#gallery-count") == f"{len(hands)} of {2 * N} gallery samples match"


def test_browser_coverage_filter_changes_the_count(browser_page: Any, mix_report: Path) -> None:
    page = browser_page
    reset(page)
    data = page_data(mix_report.read_text(encoding="utf-8"))
    assert page.inner_text("#gallery-count") == f"{2 * N} of {2 * N} gallery samples match"
    page.fill("#filter-coverage-min", "20")
    page.fill("#filter-coverage-max", "50")
    inside = [e for e in data["gallery"] if 0.2 - 1e-9 <= e["coverage"] <= 0.5 + 1e-9]
    assert 0 < len(inside) < 2 * N
    assert page.inner_text("#gallery-count") == f"{len(inside)} of {2 * N} gallery samples match"
    assert shown_ids(page) == [e["id"] for e in inside][:GALLERY_PAGE]
    assert page.errors == []


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_workers_give_the_same_numbers(stores: dict[str, Path]) -> None:
    """The array statistics in dask worker processes (tasks of contiguous samples, merged here) equal one process's."""
    dataset = open_store(stores["natocc"])
    one = summarise(dataset, ReportSettings(gallery=6, array_samples=N, workers=1))
    two = summarise(dataset, ReportSettings(gallery=6, array_samples=N, workers=2))
    assert one[0] == two[0]
    assert one[1].alpha_sum is not None and two[1].alpha_sum is not None
    assert np.array_equal(one[1].alpha_sum, two[1].alpha_sum) and one[1].thumbs == two[1].thumbs
