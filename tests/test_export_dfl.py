"""``occgen export --format dfl`` (issue 26): a DeepFaceLab faceset read back with an APP15 parser written here
from the JPEG format (markers FF xx, 2-byte big-endian lengths that count themselves), not with occgen's code."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_export_resume import noise_store
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.alignment import alignment_matrix, five_points, get_template
from occgen.store import open_store

runner = CliRunner()


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker byte, payload) of the segments before the scan (SOS), in file order."""
    assert data[:2] == b"\xff\xd8", "no SOI"
    segments, position = [], 2
    while True:
        marker_prefix, marker = data[position], data[position + 1]
        assert marker_prefix == 0xFF
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        segments.append((marker, data[position + 4 : position + 2 + length]))
        position += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return segments


def read_dfl_dict(path: Path) -> dict:
    app15 = [payload for marker, payload in jpeg_segments(path.read_bytes()) if marker == 0xEF]
    assert len(app15) == 1, f"{path}: expected one APP15 segment, got {len(app15)}"
    return pickle.loads(app15[0])


def rasterise(polys: list[dict], size: int) -> np.ndarray:
    """DeepFaceLab's reading of seg_ie_polys, from its documented meaning: fill includes, then cut excludes."""
    mask = np.zeros((size, size), np.uint8)
    for poly in sorted(polys, key=lambda p: -p["type"]):
        pts = np.asarray(poly["pts"], np.float32).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1 if poly["type"] == 1 else 0)
    return mask


def face_store(tmp_path: Path) -> Path:
    """Noise images with a blob-shaped face mask (with a hole) and face points; sample 5 loses a mouth corner."""
    store = noise_store(tmp_path / "faces.zarr", n=8, size=64, points=True)
    import zarr

    group = zarr.open_group(str(store), mode="r+")
    masks = np.zeros((8, 64, 64), np.uint8)
    for i in range(8):
        cv2.ellipse(masks[i], (32, 36), (18, 24), 0, 0, 360, 1, -1)
        cv2.circle(masks[i], (32 + i % 3, 30), 4, 0, -1)  # a hole (an occluder) inside the face
    group["face_mask"][...] = masks
    points = group["landmarks"][...]
    points[5, 6] = np.nan  # mouth_left missing
    group["landmarks"][...] = points
    return store


def test_dfl_faceset_round_trips_masks_polygons_and_points(tmp_path: Path) -> None:
    store = face_store(tmp_path)
    out = tmp_path / "aligned"
    result = runner.invoke(app, ["export", str(store), "--out", str(out), "--format", "dfl", "--workers", "1"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "7 DeepFaceLab faces" in said and "(1 samples without five points skipped" in said
    reader = open_store(store)
    assert (out / "skipped.txt").read_text() == f"{reader[5].metadata['sample_id']}\n"
    faces = sorted(out.glob("*.jpg"))
    assert len(faces) == 7
    for path in faces:
        index = next(i for i in range(8) if reader[i].metadata["sample_id"] == path.stem)
        value = read_dfl_dict(path)
        assert value["face_type"] == "whole_face" and value["source_filename"] == f"{path.stem}.png"
        image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (256, 256, 3)  # the APP15 segment leaves the JPEG readable
        # the matrix is the dfl_whole_face alignment of the stored points; it moved the points and the mask
        stored_points = reader.label("landmarks", index)
        matrix = np.asarray(value["image_to_face_mat"])
        expected = alignment_matrix(five_points(stored_points), get_template("dfl_whole_face"), 256)
        assert np.allclose(matrix, expected)
        moved = stored_points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
        assert np.allclose(np.asarray(value["landmarks"]), moved, atol=1e-3)
        mask = cv2.imdecode(np.asarray(value["xseg_mask"]), cv2.IMREAD_UNCHANGED)
        warped = cv2.warpAffine(reader[index].face_mask, matrix, (256, 256), flags=cv2.INTER_NEAREST)
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
        assert np.array_equal(mask > 0, warped > 0)
        polys = value["seg_ie_polys"]["polys"]
        assert {p["type"] for p in polys} == {0, 1}  # the face outline and the hole
        drawn = rasterise(polys, 256)
        iou = np.logical_and(drawn, mask > 0).sum() / np.logical_or(drawn, mask > 0).sum()
        assert iou > 0.97
        # no NumPy-2-only names in the pickle: DeepFaceLab (NumPy 1.x) can load it
        payload = next(p for m, p in jpeg_segments(path.read_bytes()) if m == 0xEF)
        assert b"numpy._core" not in payload


def test_dfl_export_needs_landmarks(tmp_path: Path) -> None:
    store = noise_store(tmp_path / "bare.zarr", n=4)
    result = runner.invoke(app, ["export", str(store), "--out", str(tmp_path / "o"), "--format", "dfl"])
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "needs the landmarks label" in said and "--labels landmarks" in said


@pytest.mark.parametrize("size", [8000])
def test_a_dict_too_large_for_a_jpeg_segment_is_refused(size: int) -> None:
    from occgen.core.errors import StoreError
    from occgen.run.export_dfl import insert_app15

    jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    with pytest.raises(StoreError, match="more than a JPEG segment holds"):
        insert_app15(jpeg, b"x" * 70000, name="a.png")
    assert read_segments_count(insert_app15(jpeg, b"y" * size)) == 1


def read_segments_count(data: bytes) -> int:
    return sum(marker == 0xEF for marker, _ in jpeg_segments(data))


def test_a_ragged_mask_is_simplified_to_fit_one_segment() -> None:
    from test_export_resume import _point_labels

    from occgen.run.export_dfl import MAX_SEGMENT, dfl_face

    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    noise_mask = rng.integers(0, 2, (64, 64), dtype=np.uint8)  # thousands of contours at 256 px
    points = _point_labels(rng, 1, 64)["landmarks"][0]
    face = dfl_face(image, noise_mask, points, source_filename="n.png", size_px=256, jpeg_quality=90)
    assert face is not None
    payload = next(p for m, p in jpeg_segments(face) if m == 0xEF)
    value = pickle.loads(payload)
    assert len(payload) <= MAX_SEGMENT and cv2.imdecode(np.asarray(value["xseg_mask"]), 0).shape == (256, 256)
