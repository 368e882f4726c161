"""Parser labels → face masks (the CelebAMask-HQ rule), batch parsing, and `occgen faces masks --method parser`."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ArrayContractError, ConfigError
from occgen.core.imageio import read_binary_mask
from occgen.prep.faces.bisenet import BiSeNet
from occgen.prep.faces.parsing import PARSER_LABELS, FaceParser, face_mask_from_labels, parts_from_labels, to_batch
from occgen.prep.faces.stage import masks_with_parser
from occgen.sources.faces import CELEBAMASK_PARTS, DEFAULT_FACE_PARTS, CelebAMaskHQ, FaceFolder

runner = CliRunner()


def test_label_order_is_the_checkpoints() -> None:
    # face-parsing.PyTorch prepropess_data.py: label i (1..18) is the i-th CelebAMask-HQ part; 0 background.
    assert PARSER_LABELS[:6] == ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye")
    assert PARSER_LABELS[10] == "nose" and PARSER_LABELS[17] == "hair" and PARSER_LABELS[18] == "hat"
    assert PARSER_LABELS[1:] == CELEBAMASK_PARTS and len(PARSER_LABELS) == 19


def _random_labels(seed: int, size: int = 32) -> np.ndarray:
    coarse = np.random.default_rng(seed).integers(0, 19, (size // 4, size // 4), dtype=np.uint8)
    return np.kron(coarse, np.ones((4, 4), np.uint8))


def test_parser_and_celebamask_paths_agree(tmp_path: Path) -> None:
    labels = _random_labels(0)
    # The same label map as CelebAMask-HQ part files (its real layout), read by the dataset loader.
    root = tmp_path / "CelebAMask-HQ"
    (root / "CelebA-HQ-img").mkdir(parents=True)
    cv2.imwrite(str(root / "CelebA-HQ-img" / "7.jpg"), np.zeros((32, 32, 3), np.uint8))
    for index, part in enumerate(CELEBAMASK_PARTS, start=1):
        if (labels == index).any():
            path = root / "CelebAMask-HQ-mask-anno" / "0" / f"00007_{part}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), (labels == index).astype(np.uint8) * 255)
    from_dataset = CelebAMaskHQ(root).load_face_mask("7")
    from_parser = face_mask_from_labels(labels)
    np.testing.assert_array_equal(from_parser, from_dataset)
    # Independent reference: one label per pixel, so the face is exactly the face-part labels.
    face_ids = [PARSER_LABELS.index(p) for p in DEFAULT_FACE_PARTS]
    np.testing.assert_array_equal(from_parser, np.isin(labels, face_ids).astype(np.uint8))
    assert from_parser.dtype == np.uint8 and 0 < from_parser.sum() < from_parser.size


def test_face_parts_are_configurable_and_background_is_no_face() -> None:
    labels = np.full((8, 8), PARSER_LABELS.index("nose"), np.uint8)
    labels[:2] = PARSER_LABELS.index("hair")
    assert face_mask_from_labels(labels).sum() == 48
    assert face_mask_from_labels(labels, face_parts=("skin",)).sum() == 0
    assert face_mask_from_labels(np.zeros((4, 4), np.uint8)).sum() == 0
    assert set(parts_from_labels(labels)) == {"nose", "hair"}


def test_bad_label_maps_raise() -> None:
    with pytest.raises(ArrayContractError, match="expected labels 0..18, got max 19"):
        face_mask_from_labels(np.full((2, 2), 19, np.uint8))
    with pytest.raises(ArrayContractError, match=r"expected \(H, W\) uint8 parser labels, got \(2, 2\) int64"):
        face_mask_from_labels(np.zeros((2, 2), np.int64))


def test_to_batch_normalises_like_the_checkpoint() -> None:
    image = np.zeros((10, 20, 3), np.uint8)
    image[..., 0] = 255
    batch = to_batch([image], size=32)
    assert batch.shape == (1, 3, 32, 32) and batch.dtype == torch.float32
    assert batch[0, 0, 5, 5].item() == pytest.approx((1 - 0.485) / 0.229)
    assert batch[0, 2, 5, 5].item() == pytest.approx(-0.406 / 0.225)


@pytest.fixture(scope="module")
def parser() -> FaceParser:
    torch.manual_seed(0)
    return FaceParser(BiSeNet(), input_size=64)


def test_parser_returns_labels_at_each_image_size(parser: FaceParser) -> None:
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)]
    labels = parser.parse(images)
    assert [lab.shape for lab in labels] == [(40, 56), (64, 64)]
    assert all(lab.dtype == np.uint8 and lab.max() < 19 for lab in labels)
    np.testing.assert_array_equal(parser.parse(images[1:])[0], labels[1])  # batch composition does not matter
    assert parser.parse([]) == []


def test_parser_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="multiple of 32, got 65"):
        FaceParser(BiSeNet(), input_size=65)
    with pytest.raises(ConfigError, match="unknown device 'tpu'; valid: cpu, cuda, cuda:N"):
        FaceParser(BiSeNet(), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device is available here; use --device cpu"):
            FaceParser(BiSeNet(), device="cuda")


class EllipseParser:
    """Stands in for the network: skin ellipse with a hair band, or nothing on a black image."""

    def parse(self, images: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for image in images:
            labels = np.zeros(image.shape[:2], np.uint8)
            if image.max() > 0:
                h, w = labels.shape
                cv2.ellipse(labels, (w // 2, h // 2), (w // 3, h // 3), 0, 0, 360, 1, -1)
                labels[: h // 3] = np.where(labels[: h // 3] == 1, 17, 0)  # hair over the forehead
            out.append(labels)
        return out


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    rng = np.random.default_rng(4)
    for name in ("a.jpg", "b.png"):
        cv2.imwrite(str(src / "images" / name), rng.integers(1, 256, (48, 40, 3), dtype=np.uint8))
    cv2.imwrite(str(src / "images" / "dark.png"), np.zeros((48, 40, 3), np.uint8))
    (src / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    return src


def test_parser_stage_writes_a_face_folder_and_lists_failures(tmp_path: Path) -> None:
    src, out = _source(tmp_path), tmp_path / "out"
    seen: list[int] = []
    report = masks_with_parser(src, out, EllipseParser(), batch_size=3, on_progress=seen.append)  # type: ignore[arg-type]
    assert (report.total, report.written, sum(seen)) == (4, 2, 4)
    with (out / "failed.csv").open() as handle:
        rows = {row["file"]: row["reason"] for row in csv.DictReader(handle)}
    assert set(rows) == {"dark.png", "broken.jpg"}
    assert rows["dark.png"].startswith("no face: parsed face covers 0.0000 < 0.01")
    assert rows["broken.jpg"].startswith("unreadable: cannot decode")
    for name in ("a.jpg", "b.png"):
        assert (out / "images" / name).read_bytes() == (src / "images" / name).read_bytes()  # copied, not re-encoded
        raw = cv2.imread(str(out / "masks" / f"{Path(name).stem}.png"), cv2.IMREAD_UNCHANGED)
        assert raw.dtype == np.uint8 and set(np.unique(raw)) == {0, 255}
        expected = face_mask_from_labels(EllipseParser().parse([np.ones((48, 40, 3), np.uint8)])[0])
        np.testing.assert_array_equal(read_binary_mask(out / "masks" / f"{Path(name).stem}.png"), expected)
    assert len(FaceFolder(out)) == 2
    # A rerun in which a face is no longer found removes its earlier output: the folder stays consistent.
    cv2.imwrite(str(src / "images" / "b.png"), np.zeros((48, 40, 3), np.uint8))
    report = masks_with_parser(src, out, EllipseParser())  # type: ignore[arg-type]
    assert report.written == 1 and not (out / "images" / "b.png").exists() and not (out / "masks" / "b.png").exists()
    assert len(FaceFolder(out)) == 1


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("ckpt") / "79999_iter.pth"
    torch.save(BiSeNet().state_dict(), path)
    return path


def test_cli_parser_masks(tmp_path: Path, random_checkpoint: Path) -> None:
    src, out = _source(tmp_path), tmp_path / "out"
    args = ["faces", "masks", "--src", str(src), "--out", str(out), "--model", str(random_checkpoint)]
    result = runner.invoke(app, [*args, "--min-face-frac", "0", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "masked 3 of 4 face(s)" in result.output and "1 failed" in result.output
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["a.png", "b.png", "dark.png"]

    missing = runner.invoke(app, ["faces", "masks", "--src", str(src), "--out", str(out)])
    assert missing.exit_code == 1 and "--method parser needs --model FILE" in missing.output
    for target in (src, src.parent / "src" / "."):
        same = runner.invoke(app, [*args[:4], "--out", str(target), "--model", str(random_checkpoint)])
        assert same.exit_code == 1 and "is the source folder" in same.output
    inner = runner.invoke(app, [*args[:2], "--src", str(src / "images"), "--out", str(src), *args[6:]])
    assert inner.exit_code == 1 and "is the source folder" in inner.output
    assert len(list((src / "images").iterdir())) == 4  # nothing touched


@pytest.mark.slow
def test_parser_output_feeds_generate(tmp_path: Path, random_checkpoint: Path) -> None:
    src, out = _source(tmp_path), tmp_path / "out"
    result = runner.invoke(
        app, ["faces", "masks", "--src", str(src), "--out", str(out), "--model", str(random_checkpoint),
              "--min-face-frac", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    store = tmp_path / "r.zarr"
    result = runner.invoke(
        app, ["generate", "randocc", "--n", "2", "--size", "32", "--workers", "1", "--faces", str(out),
              "--out", str(store), "--no-preview"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from occgen.store import open_store

    assert len(open_store(store)) == 2
