"""The FaceOcc loader on fixtures written in the authors' layout."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from _faceocc_fixture import face_labels, write_faceocc

from occgen.core.errors import SourceError
from occgen.sources.faceocc import FACEOCC_LICENCE, face_from_labels, load_label_pickle, open_faceocc


def test_scan_counts_every_part(tmp_path: Path) -> None:
    data = open_faceocc(write_faceocc(tmp_path))
    assert data.counts == {"CelebAHQ": 2, "ffhq": 2, "ffhqMask": 2, "internet": 2, "texture": 2,
                           "COFW_test/img": 3, "COFW_test/mask": 3}  # fmt: skip
    assert [kind for kind, _ in data.internet] == ["glasses", "mask"]
    assert sorted(data.ffhq_labels) == ["00001", "00007"]
    assert len(data.cofw) == 3 and data.unreadable == [] and data.other_files == []
    card = data.describe()
    assert card["licence"] == FACEOCC_LICENCE and "MIT" in card["licence"]
    assert card["internet_types"] == {"glasses": 1, "mask": 1}


def test_rgba_split_colour_is_image_alpha_is_occlusion(tmp_path: Path) -> None:
    data = open_faceocc(write_faceocc(tmp_path))
    rgb, alpha = data.occluder(data.celebahq[0], 64)
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3)
    assert alpha.dtype == np.float32 and set(np.unique(alpha)) == {0.0, 1.0}
    assert alpha[40:, 10:54].all() and alpha[:40].sum() == 0
    rgb32, alpha32 = data.occluder(data.celebahq[0], 32)  # resized frame: alpha nearest, still binary
    assert rgb32.shape == (32, 32, 3) and set(np.unique(alpha32)) <= {0.0, 1.0}


def test_unreadable_files_are_counted_and_reported(tmp_path: Path) -> None:
    data = open_faceocc(write_faceocc(tmp_path, bad=True))
    assert data.counts["ffhq"] == 3 and len(data.ffhq) == 2
    assert data.counts["internet"] == 3 and len(data.internet) == 2
    reported = {u.path: u.reason for u in data.unreadable}
    assert set(reported) == {"ffhq/broken.png", "internet/mask/no_alpha.png"}
    assert "RGBA" in reported["internet/mask/no_alpha.png"]
    assert len(data.describe()["unreadable"]) == 2


def test_labels_and_face_rule(tmp_path: Path) -> None:
    data = open_faceocc(write_faceocc(tmp_path))
    labels = data.labels(data.ffhq[0])
    assert labels is not None and labels.dtype == np.uint8 and labels.shape == (64, 64)
    assert data.labels(data.celebahq[0]) is None  # no CelebAMask-HQ-align folder beside FaceOcc
    with_glasses = face_from_labels(labels, eye_glasses_are_face=True)
    without = face_from_labels(labels, eye_glasses_are_face=False)
    assert (without <= with_glasses).all() and with_glasses[(labels == 4)].all() and not without[labels == 4].any()
    assert not with_glasses[labels == 11].any()


def test_celebahq_labels_from_sibling_folder(tmp_path: Path) -> None:
    root = write_faceocc(tmp_path)
    (tmp_path / "CelebAMask-HQ-align").mkdir()
    (tmp_path / "CelebAMask-HQ-align" / "12.pkl").write_bytes(pickle.dumps(face_labels()))
    data = open_faceocc(root)
    assert list(data.celebahq_labels) == ["12"]
    assert data.labels(data.celebahq[0]) is not None


def test_cofw_pairs(tmp_path: Path) -> None:
    data = open_faceocc(write_faceocc(tmp_path))
    image, mask = data.cofw_pair(0)
    assert image.shape == (64, 64, 3) and mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}


class _Exploit:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Exploit(target)))
    with pytest.raises(SourceError, match="evil.pkl.*refused global"):
        load_label_pickle(path)
    assert not target.exists()


def test_label_pickle_rejects_non_arrays(tmp_path: Path) -> None:
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({"labels": 1}))
    with pytest.raises(SourceError, match="dict.pkl"):
        load_label_pickle(tmp_path / "dict.pkl")
    (tmp_path / "3d.pkl").write_bytes(pickle.dumps(np.zeros((2, 2, 2))))
    with pytest.raises(SourceError, match="2-D"):
        load_label_pickle(tmp_path / "3d.pkl")
    (tmp_path / "ok.pkl").write_bytes(pickle.dumps(np.arange(4, dtype=np.float64).reshape(2, 2)))
    assert load_label_pickle(tmp_path / "ok.pkl").tolist() == [[0, 1], [2, 3]]


def test_not_faceocc_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not look like FaceOcc"):
        open_faceocc(tmp_path)
