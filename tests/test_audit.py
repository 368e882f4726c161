"""`occgen audit`: defects planted in stores made by the real generator (demo assets) come out on top of their
measure, the numbers of one sample agree with an independent computation (numpy, scipy, contourpy), and the
outputs (csv, summary, sheet) have the promised shape."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import zarr
from contourpy import contour_generator
from scipy import ndimage
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ArrayContractError, ConfigError
from occgen.core.imageio import read_image
from occgen.run.audit import CSV_COLUMNS, MEASURES, AuditSettings, parse_thresholds, run_audit
from occgen.run.audit_measures import edge_width_px, measure_sample, ring_radius_px
from occgen.run.audit_sheet import HOLE
from occgen.store import open_store

N, SIZE = 24, 128
runner = CliRunner()


def rgb2lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of uint8 sRGB, from the CIE and sRGB formulas (IEC 61966-2-1), in float64."""
    c = rgb.astype(np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                             [0.019334, 0.119193, 0.950227]]).T / np.array([0.950456, 1.0, 1.088754])  # fmt: skip
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def deltaE_cie76(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # noqa: N802 (the usual name of the formula)
    return np.linalg.norm(a - b, axis=-1)


def generate(out: Path, recipe: str, *args: str) -> None:
    result = runner.invoke(app, ["generate", recipe, "--n", str(N), "--size", str(SIZE), "--workers", "1",
                                 "--shard-size", "8", "--no-preview", "--out", str(out), *args])  # fmt: skip
    assert result.exit_code == 0, result.output


@dataclass(frozen=True)
class Planted:
    store: Path
    root: Path
    holed: int  # index of the sample with a hole cut into its occluder
    blurred: int  # index of the sample whose occluder was blurred
    hole_frac: float  # the hole's pixels over the silhouette's before the cut


@dataclass(frozen=True)
class Audited:
    out: Path
    output: str  # what the command printed
    rows: list[dict[str, str]]  # audit.csv
    summary: dict[str, Any]  # summary.json


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """A RandOcc store (demo faces and textures, opaque and unblurred occluders, clean and amodal labels) with two
    written samples edited: a disc cut out of one occluder (the face shows through, labelled face) and another
    occluder blurred to mush."""
    root = tmp_path_factory.mktemp("audit")
    params = root / "params.yaml"
    params.write_text("randocc:\n  translucent_p: 0.0\n  composite: {blur_p: 0.0, jpeg_p: 0.0}\n")
    store = root / "randocc.zarr"
    generate(store, "randocc", "--params", str(params), "--labels", "clean,amodal")
    dataset = open_store(store)
    occluder_px = [int(np.count_nonzero(dataset[i].occluder_mask >= 128)) for i in range(N)]
    holed = int(np.argmax(occluder_px))  # the largest occluder: room for a hole well inside it
    blurred = (holed + 5) % N

    group = zarr.open_group(store, mode="r+")
    sample, clean = dataset[holed], dataset.label("clean_image", holed)
    silhouette = sample.occluder_mask >= 128
    depth = ndimage.distance_transform_edt(silhouette)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    radius = int(depth[y, x]) - 3
    assert radius >= 2, "the largest occluder is too thin for a planted hole"
    disc = np.zeros(silhouette.shape, np.uint8)
    cv2.circle(disc, (int(x), int(y)), radius, 1, -1)
    hole = disc.astype(bool)
    occluder, image, face = sample.occluder_mask.copy(), sample.image.copy(), sample.face_mask.copy()
    occluder[hole], image[hole] = 0, clean[hole]
    face[hole] = dataset.label("face_mask_amodal", holed)[hole]
    group["occluder_mask"][holed], group["image"][holed], group["face_mask"][holed] = occluder, image, face

    sample = dataset[blurred]
    region = ndimage.binary_dilation(sample.occluder_mask > 0, iterations=2)
    mush = cv2.GaussianBlur(sample.image, (0, 0), 6)
    group["image"][blurred] = np.where(region[:, :, None], mush, sample.image)
    return Planted(store, root, holed, blurred, np.count_nonzero(hole) / np.count_nonzero(silhouette))


@pytest.fixture(scope="module")
def audited(planted: Planted) -> Audited:
    out = planted.root / "audit"
    result = runner.invoke(app, ["audit", str(planted.store), "--out", str(out), "--worst", "3"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "audit.csv").open()))
    return Audited(out, result.output, rows, json.loads((out / "summary.json").read_text()))


def test_planted_hole_and_blur_top_their_measures(planted: Planted, audited: Audited) -> None:
    summary = audited.summary["measures"]
    holed, blurred = planted.holed, planted.blurred
    ids = {int(row["index"]): row["sample_id"] for row in audited.rows}
    assert summary["hole_frac"]["beyond"] == 1 and summary["hole_frac"]["worst"][0][0] == ids[holed]
    # the planted hole is the only one, and its size is what was cut out of the (hole-free) silhouette
    assert summary["hole_frac"]["worst"][0][1] == pytest.approx(planted.hole_frac, rel=1e-6)
    assert [value for _, value in summary["hole_frac"]["worst"][1:]] == [0.0, 0.0]
    # the source of the planted hole is named, with how many samples use it
    (source,) = open_store(planted.store).metadata([holed])[0]["occluder_ids"]
    used = sum(source in row["occluder_ids"].split("+") for row in audited.rows)
    assert summary["hole_frac"]["beyond_by_occluder"] == [[source, 1, used]]
    assert next(row for row in audited.rows if row["sample_id"] == ids[holed])["occluder_ids"] == source
    sharpness = summary["sharpness_ratio"]
    assert sharpness["worst"][0][0] == ids[blurred] and sharpness["worst"][0][1] < 0.1
    assert sharpness["worst"][0][1] < 0.25 * sharpness["worst"][1][1]  # well apart from the unblurred occluders
    # the command prints the counts, one line per measure
    output = audited.output
    assert "hole_frac" in output and f"1 of {N} measured above 0.01" in output
    assert all(measure.name in output for measure in MEASURES)


def test_csv_and_summary_have_every_sample_and_measure(planted: Planted, audited: Audited) -> None:
    rows = audited.rows
    dataset = open_store(planted.store)
    assert [row["sample_id"] for row in rows] == [m["sample_id"] for m in dataset.metadata(range(N))]
    assert tuple(rows[0]) == CSV_COLUMNS and CSV_COLUMNS[0] == "sample_id"
    summary = audited.summary
    assert summary["n"] == N and summary["thresholds"]["hole_frac_max"] == 0.01
    for measure in MEASURES:
        entry = summary["measures"][measure.name]
        values = [float(row[measure.name]) for row in rows if row[measure.name]]
        assert entry["measured"] == len(values) == N and entry["missing"] == 0
        assert entry["distribution"]["p50"] == pytest.approx(float(np.median(values)), rel=1e-4)
        limit = entry["threshold"]["value"]
        assert entry["beyond"] == sum(v > limit if measure.bad == "above" else v < limit for v in values)


def test_sheet_size_and_labelled_tiles(planted: Planted, audited: Audited) -> None:
    sheet = read_image(audited.out / "worst.png")
    tile, header, label = 96, 18, 28
    assert sheet.shape == (len(MEASURES) * (header + tile + label), 3 * 2 * tile, 3) == (994, 576, 3)
    # row 0 (holes), tile 0: the planted sample; its alpha panel shows the hole in red
    alpha_panel = sheet[header : header + tile, tile : 2 * tile].reshape(-1, 3)
    assert np.count_nonzero(np.all(np.abs(alpha_panel.astype(int) - HOLE) < 40, axis=1)) > 20
    label_strip = sheet[header + tile : header + tile + label, : 2 * tile]
    assert label_strip.max() > 200  # the id and value are written under the tile


def test_numbers_of_one_sample_equal_an_independent_computation(planted: Planted) -> None:
    dataset = open_store(planted.store)
    index = planted.holed
    sample = dataset[index]
    image, face, alpha8 = sample.image, sample.face_mask.astype(bool), sample.occluder_mask
    clean, amodal = dataset.label("clean_image", index), dataset.label("face_mask_amodal", index).astype(bool)
    got = measure_sample(image, sample.face_mask, alpha8, face_px=sample.metadata["face_px_before"], clean_image=clean)
    alpha = alpha8 / alpha8.max()
    silhouette = alpha >= 0.5

    # holes: background components (4-connected) that do not touch the border
    labels, count = ndimage.label(~silhouette)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
    holes = np.isin(labels, [k for k in range(1, count + 1) if k not in border])
    assert got.hole_frac == pytest.approx(holes.sum() / (holes.sum() + silhouette.sum()), rel=1e-9)

    # sharpness: numpy Laplacian over pixels whose 4 neighbours are in the region, away from the border
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    lap = np.zeros_like(gray)
    lap[1:-1, 1:-1] = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4 * gray[1:-1, 1:-1]

    def inner(region: np.ndarray) -> np.ndarray:
        region = region.copy()
        region[[0, -1], :] = region[:, [0, -1]] = False
        return ndimage.binary_erosion(region, structure=ndimage.generate_binary_structure(2, 1))

    ratio = lap[inner(alpha >= 0.95)].var() / lap[inner(face & (alpha8 == 0))].var()
    assert got.sharpness_ratio == pytest.approx(ratio, rel=1e-4)

    # colour distance: Lab from the formulas (above); the ring from scipy's exact distance transform
    lab = rgb2lab(image)
    distance = ndimage.distance_transform_edt(~silhouette)
    ring = face & (alpha8 == 0) & (distance <= ring_radius_px(sample.metadata["face_px_before"]))
    expected = deltaE_cie76(lab[silhouette].mean(axis=0), lab[ring].mean(axis=0))
    assert got.delta_e == pytest.approx(float(expected), abs=0.05)

    # soft-edge width: band area over the length of contourpy's marching-squares outline (a digital outline's length
    # has no exact value: two estimators agree within a few percent on a 128² sample; the exact check is the ramp)
    band = np.count_nonzero((alpha > 0.05) & (alpha < 0.95))
    lines = contour_generator(z=silhouette.astype(np.float64)).lines(0.5)
    length = sum(float(np.hypot(*np.diff(line, axis=0).T).sum()) for line in lines)
    assert got.edge_width_px == pytest.approx(band / length, rel=0.08)
    assert got.edge_width_face == pytest.approx(got.edge_width_px / np.sqrt(amodal.sum()), rel=1e-9)

    assert got.coverage_frac == pytest.approx((amodal & ~face).sum() / amodal.sum(), abs=1e-9)
    visible_as_clean = deltaE_cie76(rgb2lab(image[silhouette][None]), rgb2lab(clean[silhouette][None])) < 2.3
    assert got.invisible_frac == pytest.approx(float(visible_as_clean.mean()), abs=0.01)


def test_soft_edge_width_of_a_known_ramp() -> None:
    """A disc of radius 40 whose alpha falls linearly over 10 px: the band 0.05 < alpha < 0.95 is 9 px wide."""
    yy, xx = np.mgrid[:128, :128]
    radius = np.hypot(yy - 64, xx - 64)
    alpha = np.clip((40 - radius) / 10 + 0.5, 0, 1)
    assert edge_width_px(np.round(alpha * 255).astype(np.uint8)) == pytest.approx(9.0, rel=0.03)
    # halving the ramp (same disc) halves the width: the measure follows the edge, not the shape
    sharp = np.clip((40 - radius) / 5 + 0.5, 0, 1)
    assert edge_width_px(np.round(sharp * 255).astype(np.uint8)) == pytest.approx(4.5, rel=0.03)


def test_fragments_of_an_occluder_in_two_pieces() -> None:
    """A disc and a far smaller one apart from it: the share outside the largest piece is the small disc's."""
    alpha = np.zeros((96, 96), np.uint8)
    cv2.circle(alpha, (30, 40), 20, 255, -1)
    cv2.circle(alpha, (80, 80), 5, 255, -1)
    small = np.count_nonzero(alpha[70:, 70:])
    image, face = np.full((96, 96, 3), 90, np.uint8), np.ones((96, 96), np.uint8)
    got = measure_sample(image, face, alpha, face_px=96 * 96)
    assert got.fragment_frac == pytest.approx(small / np.count_nonzero(alpha), rel=1e-9) and 0 < small < 200
    cv2.line(alpha, (30, 40), (80, 80), 255, 1)  # joined by a one-pixel (8-connected) line: one piece
    assert measure_sample(image, face, alpha, face_px=96 * 96).fragment_frac == 0.0


def test_invisible_share_of_a_half_hidden_occluder() -> None:
    """An occluder whose left half was composited with no effect (the composite equals the clean face there)."""
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    alpha = np.zeros((64, 64), np.uint8)
    alpha[20:40, 10:50] = 255
    image = clean.copy()
    image[20:40, 30:50] = 255 - clean[20:40, 30:50]  # the right half changed
    face = np.ones((64, 64), np.uint8)
    got = measure_sample(image, face, alpha, face_px=4096, clean_image=clean)
    assert got.invisible_frac == pytest.approx(0.5, abs=0.01)


def test_no_occluder_and_bad_arrays() -> None:
    image = np.full((64, 64, 3), 128, np.uint8)
    face = np.zeros((64, 64), np.uint8)
    face[16:48, 16:48] = 1
    empty = measure_sample(image, face, np.zeros((64, 64), np.uint8), face_px=1024)
    assert empty.hole_frac is None and empty.sharpness_ratio is None and empty.edge_width_px is None
    assert empty.coverage_frac == 0.0 and empty.occluder_px == 0
    with pytest.raises(ArrayContractError, match=r"occluder_mask: expected \(H, W\) uint8, got \(64, 64\) float64"):
        measure_sample(image, face, np.zeros((64, 64)), face_px=1024)
    with pytest.raises(ArrayContractError, match="differ in size"):
        measure_sample(image, face, np.zeros((32, 32), np.uint8), face_px=1024)


def test_a_mix_in_parallel_gives_the_same_rows(planted: Planted, audited: Audited) -> None:
    """A mix of the planted store and a NatOcc store without labels, read by two worker processes: the planted
    rows are unchanged (ids qualified by the part), and the measure the mix cannot give says what it needs."""
    root = planted.root
    generate(root / "natocc.zarr", "natocc")
    mix = ["mix", str(planted.store), str(root / "natocc.zarr"), "--out", str(root / "mix.zarr")]
    result = runner.invoke(app, mix)
    assert result.exit_code == 0, result.output
    out = root / "mix-audit"
    result = run_audit(root / "mix.zarr", out, AuditSettings(worst=2, workers=2))
    assert result.samples == 2 * N
    rows = list(csv.DictReader((out / "audit.csv").open()))
    ids = [m["sample_id"] for m in open_store(root / "mix.zarr").metadata(range(2 * N))]
    assert [row["sample_id"] for row in rows] == ids
    by_id = {row["sample_id"]: row for row in audited.rows}
    mixed = [row for row in rows if row["recipe"] == "randocc"]
    assert len(mixed) == N
    for row in mixed:
        plain = next(value for key, value in by_id.items() if row["sample_id"].endswith(key))
        assert [row[m.name] for m in MEASURES if m.name != "invisible_frac"] == [
            plain[m.name] for m in MEASURES if m.name != "invisible_frac"
        ]
    invisible = result.summary["measures"]["invisible_frac"]
    assert invisible["measured"] == 0 and "--labels clean" in invisible["unavailable"]
    assert read_image(out / "worst.png").shape == (994, 2 * 2 * 96, 3)


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", str(tmp_path / "missing.zarr"), "--out", str(tmp_path / "a")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and lines == [f"error: store not found: {tmp_path / 'missing.zarr'}"]
    with pytest.raises(ConfigError, match="NAME one of hole_frac_max, fragment_frac_max, sharpness_ratio_min"):
        parse_thresholds(["holes=0.5"])
    with pytest.raises(ConfigError, match="audit threshold delta_e_min must be a number >= 0"):
        parse_thresholds(["delta_e_min=-1"])
    assert parse_thresholds(["hole_frac_max=0.05"]).hole_frac_max == 0.05
    with pytest.raises(ConfigError, match="--worst must be between 1 and 64"):
        AuditSettings(worst=0)


def test_out_inside_the_store_is_refused(planted: Planted) -> None:
    before = sorted(p.name for p in planted.store.iterdir())
    with pytest.raises(ConfigError, match=r"--out .* is inside the store .*; choose a folder outside it"):
        run_audit(planted.store, planted.store / "audit", AuditSettings())
    assert sorted(p.name for p in planted.store.iterdir()) == before
