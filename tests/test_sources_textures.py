from pathlib import Path

import numpy as np
import pytest

from occgen.core.errors import SourceError
from occgen.sources.textures import DTDTextures


def test_dtd_lists_images_by_category(dtd_root: Path) -> None:
    textures = DTDTextures(dtd_root)
    assert len(textures) == 4
    assert textures.texture_id(0) == "banded/banded_0001.jpg"
    image = textures.load(3)
    assert image.shape == (80, 120, 3) and image.dtype == np.uint8


def test_dtd_accepts_parent_folder_and_split(dtd_root: Path) -> None:
    textures = DTDTextures(dtd_root.parent, split="train1")
    assert [textures.texture_id(i) for i in range(len(textures))] == [
        "banded/banded_0001.jpg",
        "dotted/dotted_0001.jpg",
    ]


def test_dtd_errors(tmp_path: Path, dtd_root: Path) -> None:
    with pytest.raises(SourceError, match="DTD split 'val9' not found"):
        DTDTextures(dtd_root, split="val9")
    empty = tmp_path / "empty_dtd"
    (empty / "images" / "banded").mkdir(parents=True)
    with pytest.raises(SourceError, match="no texture images in .*empty_dtd/images"):
        DTDTextures(empty)
    with pytest.raises(SourceError, match="DTD images folder not found"):
        DTDTextures(empty / "images" / "banded")
    (dtd_root / "labels" / "train1.txt").write_text("banded/gone.jpg\n")
    with pytest.raises(SourceError, match="missing image.*gone.jpg"):
        DTDTextures(dtd_root, split="train1")
