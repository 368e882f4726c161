"""The public face-parsing layouts (occgen/sources/face_layouts.py and its readers), each on a fixture written
in the layout's true on-disk format: class maps checked pixel by pixel, detection, ambiguity, splits, errors,
and `occgen generate natocc` end to end on LFW Part Labels."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_gray, write_rgb
from PIL import Image
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, SourceError
from occgen.core.labels import GENERIC_FACE, PART_ID
from occgen.sources.face_layouts import detect_layout
from occgen.sources.faces import open_faces
from occgen.store.schema import ShardReader

S = 32  # fixture side: square, so no letterboxing and no resize at size S
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def stripes(classes: list[int], size: int = S) -> np.ndarray:
    """A label map with one horizontal band per class, in order (uint8 (size, size))."""
    out = np.zeros((size, size), np.uint8)
    for band, value in enumerate(np.array_split(np.arange(size), len(classes))):
        out[value] = classes[band]
    return out


def photo(seed: int, size: int = S) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


# ---- LFW Part Labels ----------------------------------------------------------------------------------------


def lfw_labels() -> np.ndarray:
    """Hair on top, skin in the middle, background around: the native ids 0 bg, 1 skin, 2 hair."""
    native = np.zeros((S, S), np.uint8)
    native[4:12, 6:26] = 2
    native[12:28, 8:24] = 1
    return native


def make_lfw(root: Path, names: tuple[str, ...] = ("Ann_Lee_0001", "Ann_Lee_0002", "Bob_Roe_0003")) -> Path:
    colours = np.array([BLUE, GREEN, RED], np.uint8)
    for seed, stem in enumerate(names):
        person = stem.rsplit("_", 1)[0]
        write_rgb(root / "lfw_funneled" / person / f"{stem}.jpg", photo(seed))
        rgb = colours[lfw_labels()]
        path = root / "parts_lfw_funneled_gt_images" / f"{stem}.ppm"
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))  # binary PPM (P6), as released
    (root / "parts_train.txt").write_text("Ann_Lee 1\nBob_Roe 0003\n")  # both spellings of the number occur
    (root / "parts_validation.txt").write_text("Ann_Lee 0002\n")
    (root / "parts_test.txt").write_text("Ann_Lee 2\n")
    return root


def test_lfw_parts_class_map_pixel_by_pixel(tmp_path: Path) -> None:
    root = make_lfw(tmp_path / "lfw")
    assert Path(root / "parts_lfw_funneled_gt_images" / "Ann_Lee_0001.ppm").read_bytes()[:2] == b"P6"
    source = open_faces(root)
    assert type(source).__name__ == "LFWPartLabels" and len(source) == 3
    native = lfw_labels()
    face = source.load(0, S)
    assert face.face_id == "Ann_Lee_0001"
    assert np.array_equal(face.face_mask, (native == 1).astype(np.uint8))  # skin (with the neck) is the face
    parsing = source.load_parsing(0, S)
    assert np.array_equal(parsing, np.choose(native, [0, GENERIC_FACE, PART_ID["hair"]]).astype(np.uint8))
    card = source.describe()
    assert card["kind"] == "lfw-parts" and "neck" in str(card["cannot_express"])
    assert card["class_map"] == {"background": "background", "skin": "face", "hair": "hair"}


def test_lfw_parts_official_splits(tmp_path: Path) -> None:
    root = make_lfw(tmp_path / "lfw")
    train = open_faces(root, split=Path("train"))
    assert [train.face_id(i) for i in range(len(train))] == ["Ann_Lee_0001", "Bob_Roe_0003"]
    for name in ("validation", "val", "test"):
        split = open_faces(root, split=tmp_path / "elsewhere" / name)  # the CLI makes --split absolute
        assert [split.face_id(i) for i in range(len(split))] == ["Ann_Lee_0002"]
    ids = tmp_path / "ids.txt"
    ids.write_text("Bob_Roe_0003\n")
    assert open_faces(root, split=ids).face_id(0) == "Bob_Roe_0003"  # a file of ids still works
    with pytest.raises(ConfigError, match="lfw-parts has the splits train, validation, test"):
        open_faces(root, split=Path("holdout"))


def test_lfw_parts_errors_name_the_file(tmp_path: Path) -> None:
    root = make_lfw(tmp_path / "lfw")
    bad = root / "parts_lfw_funneled_gt_images" / "Ann_Lee_0002.ppm"
    rgb = np.full((S, S, 3), 255, np.uint8)  # white is no LFW class colour
    assert cv2.imwrite(str(bad), rgb)
    source = open_faces(root)
    with pytest.raises(SourceError, match=r"Ann_Lee_0002\.ppm: a pixel's colour is .* not a label image"):
        source.load(1, S)
    bad.write_bytes(b"P6 not really")
    with pytest.raises(SourceError, match=r"cannot decode .*Ann_Lee_0002\.ppm"):
        source.load(1, S)
    (root / "lfw_funneled" / "Bob_Roe" / "Bob_Roe_0003.jpg").unlink()
    with pytest.raises(SourceError, match=r"Bob_Roe_0003: .*Bob_Roe_0003\.jpg not found"):
        open_faces(root)


# ---- FASSEG -------------------------------------------------------------------------------------------------

FASSEG_COLOURS = [RED, (127, 0, 0), (255, 255, 0), BLUE, (0, 255, 255), GREEN]  # bg hair skin eyes nose mouth
#: Anti-aliased blends as the released BMPs hold them, and the class each belongs to, worked out by hand
#: (squared distances): (218, 182, 0) is 6,698 from skin yellow and 34,493 from red; (150, 0, 0) is 529 from
#: dark red and 11,025 from red; (254, 254, 0) is 2 from yellow; (40, 40, 230) is 3,300 from blue.
BLENDS = [((218, 182, 0), 2), ((150, 0, 0), 1), ((254, 254, 0), 2), ((40, 40, 230), 3), ((255, 32, 0), 0)]


def fasseg_native() -> np.ndarray:
    native = stripes([1, 2, 3, 2, 4, 5, 0])
    for column, (_, cls) in enumerate(BLENDS):  # a blended border pixel in row 0, one per blend
        native[0, column] = cls
    return native


def fasseg_rgb() -> np.ndarray:
    rgb = np.array(FASSEG_COLOURS, np.uint8)[fasseg_native()]
    for column, (colour, _) in enumerate(BLENDS):
        rgb[0, column] = colour
    return rgb


def write_bmp(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)  # 24-bit BMP, as FASSEG ships


def make_fasseg(root: Path, nested: bool = False) -> Path:
    """V1/V2 layout (Train_RGB/<n>.bmp + Train_Labels/<n>.bmp), or V3's (Train_labels/<pose>/<name>.bmp)."""
    labels = "Train_labels" if nested else "Train_Labels"
    for n in (1, 2):
        relative = Path("+30" if nested else "", f"{n}.bmp")
        write_bmp(root / "Train_RGB" / relative, photo(n))
        write_bmp(root / labels / relative, fasseg_rgb())
    write_bmp(root / "Test_RGB" / "3.bmp", photo(3))
    write_bmp(root / ("Test_labels" if nested else "Test_Labels") / "3.bmp", fasseg_rgb())
    write_bmp(root / "Test_RGB" / "4.bmp", photo(4))  # released without a label: not a face of the source
    return root


def test_fasseg_snaps_antialiased_colours_pixel_by_pixel(tmp_path: Path) -> None:
    root = make_fasseg(tmp_path / "V2")
    source = open_faces(root)
    assert type(source).__name__ == "FASSEG" and [source.face_id(i) for i in range(3)] == ["train/1", "train/2",
                                                                                          "test/3"]  # fmt: skip
    native = fasseg_native()
    face = source.load(0, S)
    assert np.array_equal(face.face_mask, np.isin(native, [2, 3, 4, 5]).astype(np.uint8))  # skin eyes nose mouth
    expected = np.array([0, PART_ID["hair"], GENERIC_FACE, GENERIC_FACE, PART_ID["nose"], GENERIC_FACE])[native]
    assert np.array_equal(source.load_parsing(0, S), expected.astype(np.uint8))
    assert "eyebrows are labelled hair" in str(source.describe()["cannot_express"])
    assert len(open_faces(root, split=Path("test"))) == 1


def test_snap_matches_brute_force_nearest_colour() -> None:
    from scipy.spatial.distance import cdist

    from occgen.sources.label_faces import snap_to_colours

    colours = np.array(FASSEG_COLOURS, np.uint8)
    rng = np.random.default_rng(3)
    rgb = colours[rng.integers(0, 6, (40, 40))]  # exact class colours ...
    blend = rng.random((40, 40)) < 0.3
    rgb[blend] = rng.integers(0, 256, (int(blend.sum()), 3), dtype=np.uint8)  # ... and arbitrary others
    expected = cdist(rgb.reshape(-1, 3).astype(float), colours.astype(float)).argmin(1).reshape(40, 40)
    assert np.array_equal(snap_to_colours(rgb, colours, Path("x.bmp"), tolerance=None), expected)


def test_fasseg_v3_pose_folders_and_repository_root(tmp_path: Path) -> None:
    make_fasseg(tmp_path / "repo" / "V3", nested=True)
    make_fasseg(tmp_path / "repo" / "V2")
    source = open_faces(tmp_path / "repo" / "V3", split=Path("train"))
    assert [source.face_id(i) for i in range(len(source))] == ["train/+30/1", "train/+30/2"]
    with pytest.raises(ConfigError, match=r"FASSEG repository with versions V2, V3: pass one of them"):
        open_faces(tmp_path / "repo")


# ---- LaPa, HELEN*, iBugMask, CelebAMask-HQ challenge ---------------------------------------------------------

#: The 11 classes' occgen parsing ids, written out by name (LaPa / HELEN* / iBugMask order).
ELEVEN = {0: 0, 1: PART_ID["skin"], 2: PART_ID["l_brow"], 3: PART_ID["r_brow"], 4: PART_ID["l_eye"],
          5: PART_ID["r_eye"], 6: PART_ID["nose"], 7: PART_ID["u_lip"], 8: PART_ID["mouth"], 9: PART_ID["l_lip"],
          10: PART_ID["hair"]}  # fmt: skip
ELEVEN_NATIVE = stripes(list(range(11)))


def make_lapa(root: Path) -> Path:
    for split, stems in (("train", ["a", "b"]), ("val", ["c"]), ("test", ["d"])):
        for seed, stem in enumerate(stems):
            write_rgb(root / split / "images" / f"{stem}.jpg", photo(seed))
            write_gray(root / split / "labels" / f"{stem}.png", ELEVEN_NATIVE)
            (root / split / "landmarks").mkdir(parents=True, exist_ok=True)
            (root / split / "landmarks" / f"{stem}.txt").write_text("106\n" + "1.0 2.0\n" * 106)
    return root


def make_helenstar(root: Path) -> Path:
    for split in ("train", "test", "test_resize"):
        write_rgb(root / split / f"{split}1_image.jpg", photo(1))
        write_gray(root / split / f"{split}1_label.png", ELEVEN_NATIVE)
        write_rgb(root / split / f"{split}1_viz.jpg", photo(2))
    return root


def make_ibugmask(root: Path) -> Path:
    for split in ("train", "test"):
        write_rgb(root / split / f"{split}_face.jpg", photo(1))
        write_gray(root / split / f"{split}_face.png", ELEVEN_NATIVE)
        (root / split / f"{split}_face_landmark.txt").write_text("1 2\n")
    return root


def make_helen_smith(root: Path) -> Path:
    """SmithCVPR2013_dataset_resized: images/<name>.jpg, labels/<name>/<name>_lblNN.png (one soft grey map per
    class) and the split lists with `<index> , <name>` lines."""
    for seed, stem in enumerate(("10405146_1", "2968560214_1")):
        write_rgb(root / "images" / f"{stem}.jpg", photo(seed))
        for class_id in range(11):
            soft = np.where(ELEVEN_NATIVE == class_id, 200, 0).astype(np.uint8)
            soft[ELEVEN_NATIVE == (class_id + 1) % 11] = 90  # a softer second guess: the largest value wins
            write_gray(root / "labels" / stem / f"{stem}_lbl{class_id:02d}.png", soft)
    (root / "exemplars.txt").write_text("1 , 10405146_1\n")
    (root / "tuning.txt").write_text("")
    (root / "testing.txt").write_text("  7 , 2968560214_1\n")
    return root


def challenge_native() -> np.ndarray:
    return stripes(list(range(19)))


def make_challenge(root: Path, palette: bool = True) -> Path:
    for split in ("train", "val"):
        write_rgb(root / split / "images" / "0.jpg", photo(0))
        path = root / split / "masks" / "0.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(challenge_native(), mode="L")
        if palette:
            image = image.convert("P")
            colours = np.random.default_rng(1).integers(0, 256, (256, 3), dtype=np.uint8)  # colours != indices
            image.putpalette(colours.ravel().tolist())
        image.save(path)
    return root


@pytest.mark.parametrize(
    ("maker", "name", "ids"),
    [(make_lapa, "LaPa", ["train/a", "train/b", "val/c", "test/d"]),
     (make_helenstar, "HelenStar", ["train/train1", "test/test1"]),
     (make_ibugmask, "IBugMask", ["train/train_face", "test/test_face"]),
     (make_helen_smith, "HelenSmith", ["train/10405146_1", "test/2968560214_1"])],
)  # fmt: skip
def test_eleven_class_layouts_pixel_by_pixel(tmp_path: Path, maker, name: str, ids: list[str]) -> None:
    source = open_faces(maker(tmp_path / "set"))
    assert type(source).__name__ == name
    assert [source.face_id(i) for i in range(len(source))] == ids
    face = source.load(0, S)
    assert np.array_equal(face.face_mask, np.isin(ELEVEN_NATIVE, range(1, 10)).astype(np.uint8))  # not bg, hair
    expected = np.vectorize(ELEVEN.get)(ELEVEN_NATIVE).astype(np.uint8)
    assert np.array_equal(source.load_parsing(0, S), expected)


def test_eleven_class_splits(tmp_path: Path) -> None:
    lapa = make_lapa(tmp_path / "LaPa")
    assert len(open_faces(lapa, split=Path("val"))) == 1 and len(open_faces(lapa, split=Path("train"))) == 2
    assert open_faces(lapa / "test").face_id(0) == "d"  # one split's folder is a LaPa source too
    helen = make_helenstar(tmp_path / "helen")
    assert open_faces(helen, split=Path("test_resize")).face_id(0) == "test_resize/test_resize1"
    smith = make_helen_smith(tmp_path / "SmithCVPR2013_dataset_resized")
    assert [open_faces(smith, split=Path(name)).face_id(0) for name in ("train", "test")] == [
        "train/10405146_1", "test/2968560214_1"]  # fmt: skip
    (smith / "labels" / "2968560214_1" / "2968560214_1_lbl04.png").unlink()
    with pytest.raises(SourceError, match=r"label file not found: .*2968560214_1_lbl04\.png"):
        open_faces(smith, split=Path("test")).load(0, S)
    with pytest.raises(ConfigError, match="ibugmask has the splits train, test"):
        open_faces(make_ibugmask(tmp_path / "ibug"), split=Path("val"))


def test_challenge_palette_indices_are_parsing_ids(tmp_path: Path) -> None:
    root = make_challenge(tmp_path / "challenge")
    assert Image.open(root / "train" / "masks" / "0.png").mode == "P"
    source = open_faces(root)
    assert type(source).__name__ == "CelebAMaskChallenge" and len(source) == 2
    native = challenge_native()
    face_ids = [PART_ID[p] for p in ("skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "mouth", "u_lip", "l_lip")]
    assert np.array_equal(source.load(0, S).face_mask, np.isin(native, face_ids).astype(np.uint8))
    assert np.array_equal(source.load_parsing(0, S), native)  # the indices, not the palette colours
    assert len(open_faces(root / "val")) == 1  # a split folder (images/ + palette masks/) alone


# ---- detection, ambiguity, errors ---------------------------------------------------------------------------


def test_detection_names_each_layout(tmp_path: Path, face_folder: Path) -> None:
    assert detect_layout(make_lfw(tmp_path / "lfw")) == "lfw-parts"
    assert detect_layout(make_fasseg(tmp_path / "V1")) == "fasseg"
    assert detect_layout(make_lapa(tmp_path / "lapa")) == "lapa"
    assert detect_layout(make_helenstar(tmp_path / "helen")) == "helenstar"
    assert detect_layout(make_ibugmask(tmp_path / "ibug")) == "ibugmask"
    assert detect_layout(make_helen_smith(tmp_path / "smith")) == "helen-smith"
    assert detect_layout(make_challenge(tmp_path / "challenge")) == "celebamask-challenge"
    assert detect_layout(face_folder) == "folder"  # 0/255 grey masks: a face folder, as before


def test_ambiguous_folders_are_refused_with_the_names(tmp_path: Path) -> None:
    both = make_lfw(tmp_path / "both")
    (both / "CelebA-HQ-img").mkdir()
    with pytest.raises(ConfigError, match=r"several face layouts: celebamask-hq, lfw-parts; pass --faces-format"):
        open_faces(both)
    assert type(open_faces(both, layout="lfw-parts")).__name__ == "LFWPartLabels"
    with pytest.raises(ConfigError, match=r"unknown face layout 'lfw'; valid: auto, celebamask-hq, .*lfw-parts"):
        open_faces(both, layout="lfw")
    grey = tmp_path / "grey"  # images/ + grey masks/ holding class ids: challenge maps or broken binary masks?
    write_rgb(grey / "images" / "0.jpg", photo(0))
    write_gray(grey / "masks" / "0.png", challenge_native())
    with pytest.raises(ConfigError, match=r"folder, celebamask-challenge|celebamask-challenge, folder"):
        open_faces(grey)
    source = open_faces(grey, layout="celebamask-challenge")
    assert np.array_equal(source.load_parsing(0, S), challenge_native())


def test_bad_label_files_give_one_line_naming_the_file(tmp_path: Path) -> None:
    lapa = make_lapa(tmp_path / "lapa")
    write_gray(lapa / "train" / "labels" / "a.png", np.full((S, S), 12, np.uint8))  # no class 12 in LaPa
    source = open_faces(lapa)
    with pytest.raises(SourceError, match=r"a\.png: class id 12 is not a LaPa class .*--faces-format") as error:
        source.load(0, S)
    assert "\n" not in str(error.value)
    (lapa / "train" / "labels" / "b.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(SourceError, match=r"cannot decode label file .*b\.png"):
        source.load(1, S)
    (lapa / "val" / "labels" / "c.png").unlink()
    with pytest.raises(SourceError, match=r"c\.jpg has no label file .*c\.png"):
        open_faces(lapa)
    write_gray(lapa / "val" / "labels" / "c.png", np.zeros((S + 2, S), np.uint8))
    with pytest.raises(SourceError, match=r"c\.png is 32x34 but image .*c\.jpg is 32x32"):
        open_faces(lapa, split=Path("val")).load(0, S)


def test_generate_natocc_on_lfw_parts_end_to_end(tmp_path: Path) -> None:
    root = make_lfw(tmp_path / "lfw")
    out = tmp_path / "natocc.zarr"
    args = ["generate", "natocc", "--faces", str(root), "--faces-format", "lfw-parts", "--n", "4", "--size", "32",
            "--workers", "1", "--no-preview"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--split", "train", "--out", str(out)])
    assert result.exit_code == 0, result.output
    reader = ShardReader(out)
    assert len(reader) == 4
    faces = reader.card["sources"]["faces"]
    assert faces["kind"] == "lfw-parts" and faces["split"] == "train" and faces["count"] == 2
    for index in range(4):  # paired NatOcc: samples 2k and 2k + 1 share face k; the face survives only on skin
        sample = reader[index]
        assert sample.image.shape == (32, 32, 3)
        assert not bool((sample.face_mask.astype(bool) & ~(lfw_labels() == 1)).any())
    bad = CliRunner().invoke(app, [*args, "--split", "holdout", "--out", str(tmp_path / "x.zarr")])
    lines = [line for line in bad.output.strip().splitlines() if line.strip() and not line.startswith("note:")]
    assert bad.exit_code == 1 and len(lines) == 1 and "lfw-parts has the splits" in lines[0]
