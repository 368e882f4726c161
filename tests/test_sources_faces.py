from pathlib import Path

import numpy as np
import pytest
from conftest import ellipse_mask, write_gray, write_rgb

from occgen.core.errors import ConfigError, SourceError
from occgen.sources.faces import CelebAMaskHQ, FaceFolder, face_mask_from_parts, open_faces


def make_celeba(root: Path, ids: list[int], image_px: int = 128, mask_px: int = 64) -> Path:
    """CelebAMask-HQ layout: CelebA-HQ-img/{i}.jpg and CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png."""
    rng = np.random.default_rng(0)
    for i in ids:
        write_rgb(root / "CelebA-HQ-img" / f"{i}.jpg", rng.integers(0, 256, (image_px, image_px, 3), dtype=np.uint8))
        folder = root / "CelebAMask-HQ-mask-anno" / str(i // 2000)
        skin = ellipse_mask(mask_px, (32, 32), (20, 26))
        nose = np.zeros_like(skin)
        nose[30:36, 30:34] = 255
        hair = np.zeros_like(skin)
        hair[:14, :] = 255  # hair over the forehead
        glasses = np.zeros_like(skin)
        glasses[20:26, 16:48] = 255
        ear = np.zeros_like(skin)
        ear[28:36, 6:12] = 255
        for part, mask in (("skin", skin), ("nose", nose), ("hair", hair), ("eye_g", glasses), ("l_ear", ear)):
            write_gray(folder / f"{i:05d}_{part}.png", mask)
    return root


def test_celeba_face_mask_is_face_parts_minus_occluders(tmp_path: Path) -> None:
    root = make_celeba(tmp_path / "celeba", [3, 2001])
    source = CelebAMaskHQ(root)
    assert len(source) == 2 and [source.face_id(i) for i in range(2)] == ["3", "2001"]
    face = source.load(1, 64)  # id 2001 lives in annotation folder 1
    skin = ellipse_mask(64, (32, 32), (20, 26)) > 0
    expected = skin.copy()
    expected[:14, :] = False
    expected[20:26, 16:48] = False
    assert np.array_equal(face.face_mask.astype(bool), expected)
    assert face.face_mask[30, 8] == 0  # the ear is not face (NatOcc Table 1)
    assert face.image.shape == (64, 64, 3) and face.image.dtype == np.uint8


def test_celeba_masks_are_resized_nearest(tmp_path: Path) -> None:
    source = CelebAMaskHQ(make_celeba(tmp_path / "celeba", [5]))
    face = source.load(0, 100)
    assert face.face_mask.shape == (100, 100) and set(np.unique(face.face_mask)) == {0, 1}


def test_celeba_split_and_corrected_masks(tmp_path: Path) -> None:
    root = make_celeba(tmp_path / "celeba", [1, 2, 3])
    split = tmp_path / "wo_train.txt"
    split.write_text("3\n# a comment\n1.jpg\n")
    corrected = tmp_path / "corrected"
    corrected.mkdir()
    override = np.zeros((64, 64), np.uint8)
    override[10:20, 10:20] = 255
    write_gray(corrected / "3.png", override)
    source = CelebAMaskHQ(root, split=split, corrected_masks=corrected)
    assert [source.face_id(i) for i in range(len(source))] == ["3", "1"]
    assert source.load(0, 64).face_mask.sum() == 100
    assert source.load(1, 64).face_mask.sum() > 1000  # id 1 has no correction: derived mask


def test_celeba_configurable_parts(tmp_path: Path) -> None:
    root = make_celeba(tmp_path / "celeba", [1])
    keep_glasses = CelebAMaskHQ(root, occluding_parts=("hair",))
    assert keep_glasses.load(0, 64).face_mask[22, 32] == 1
    with pytest.raises(ConfigError, match="unknown CelebAMask-HQ part.*'beard'"):
        CelebAMaskHQ(root, face_parts=("skin", "beard"))


def test_celeba_missing_parts_and_bad_layout(tmp_path: Path) -> None:
    root = make_celeba(tmp_path / "celeba", [1])
    write_rgb(root / "CelebA-HQ-img" / "9.jpg", np.zeros((128, 128, 3), np.uint8))
    source = CelebAMaskHQ(root)
    with pytest.raises(SourceError, match="face 9: no face-part masks.*00009_skin.png"):
        source.load(source_ids(source).index("9"), 64)
    with pytest.raises(SourceError, match="CelebAMask-HQ annotation folder not found"):
        (tmp_path / "only_images" / "CelebA-HQ-img").mkdir(parents=True)
        CelebAMaskHQ(tmp_path / "only_images")


def source_ids(source: CelebAMaskHQ) -> list[str]:
    return [source.face_id(i) for i in range(len(source))]


def test_face_mask_from_parts_reference() -> None:
    skin = np.array([[1, 1, 0], [1, 1, 1]], np.uint8)
    hair = np.array([[1, 0, 0], [0, 0, 0]], np.uint8)
    out = face_mask_from_parts({"skin": skin, "hair": hair}, ("skin",), ("hair",))
    assert out.tolist() == [[0, 1, 0], [1, 1, 1]]


def test_face_folder_loads_and_binarises(face_folder: Path) -> None:
    source = FaceFolder(face_folder)
    assert len(source) == 3
    masks = [source.load(i, 48).face_mask for i in range(3)]
    for mask in masks:
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert np.array_equal(masks[0], masks[1])  # 0/255 and 0/1 files read alike


def test_face_folder_letterboxes_non_square(tmp_path: Path) -> None:
    root = tmp_path / "f"
    write_rgb(root / "images" / "wide.png", np.full((40, 80, 3), 200, np.uint8))
    write_gray(root / "masks" / "wide.png", np.full((40, 80), 255, np.uint8))
    face = FaceFolder(root).load(0, 80)
    assert face.face_mask[:20].sum() == 0 and face.face_mask[20:60].all()
    assert face.image[0, 0].tolist() == [0, 0, 0] and face.image[40, 40].tolist() == [200, 200, 200]


def test_face_folder_errors(tmp_path: Path, face_folder: Path) -> None:
    with pytest.raises(SourceError, match="face folder not found.*missing"):
        FaceFolder(tmp_path / "missing")
    (face_folder / "masks" / "face2.png").unlink()
    with pytest.raises(SourceError, match="face2.jpg needs masks/face2.png"):
        FaceFolder(face_folder)


def test_face_folder_mask_of_wrong_size(face_folder: Path) -> None:
    write_gray(face_folder / "masks" / "face0.png", np.zeros((50, 50), np.uint8))
    with pytest.raises(SourceError, match=r"mask .*face0.png is 50x50 but image .*face0.jpg is 96x96"):
        FaceFolder(face_folder).load(0, 64)


def test_face_folder_corrupt_image(face_folder: Path) -> None:
    (face_folder / "images" / "face1.jpg").write_bytes(b"garbage")
    with pytest.raises(SourceError, match="face1.jpg"):
        FaceFolder(face_folder).load(1, 64)


def test_open_faces_autodetects(tmp_path: Path, face_folder: Path) -> None:
    assert isinstance(open_faces(make_celeba(tmp_path / "c", [1])), CelebAMaskHQ)
    assert isinstance(open_faces(face_folder), FaceFolder)
    with pytest.raises(ConfigError, match="unknown face layout 'lfw'"):
        open_faces(face_folder, layout="lfw")
