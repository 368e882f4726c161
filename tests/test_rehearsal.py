"""tests/_rehearsal.py (benchmarks/rehearsal.py's writers): the four datasets' stand-ins, read by occgen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _rehearsal import celebamask_hq, coco, dtd, eleven_k_hands
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.imageio import read_image
from occgen.prep.hands.elevenk import open_hand_photos
from occgen.sources.faces import CelebAMaskHQ, open_faces
from occgen.sources.objects import CocoObjects
from occgen.sources.textures import open_textures


def test_rehearsal_fixtures_in_true_layouts(tmp_path: Path) -> None:
    faces_root = celebamask_hq(tmp_path, 3)
    faces = open_faces(faces_root, split=faces_root / "splits" / "train.txt")
    assert isinstance(faces, CelebAMaskHQ) and len(faces) == 3
    assert read_image(faces_root / "CelebA-HQ-img" / "2.jpg").shape == (1024, 1024, 3)
    assert (faces_root / "CelebAMask-HQ-mask-anno" / "0" / "00001_skin.png").is_file()
    face = faces.load(1, 64)
    assert 0.05 < face.face_mask.mean() < 0.6  # skin minus hair and cloth

    hands_root = eleven_k_hands(tmp_path, 2)
    photos, skipped = open_hand_photos(hands_root)
    assert len(photos) == 2 and not skipped
    assert read_image(hands_root / "Hands" / "Hand_0000001.jpg").shape == (1200, 1600, 3)

    coco_root = coco(tmp_path, 2, 3)
    instances = json.loads((coco_root / "annotations" / "instances_rehearsal.json").read_text())
    kinds = {type(a["segmentation"]).__name__ for a in instances["annotations"]}
    assert len(instances["annotations"]) == 6 and kinds == {"list", "dict"}  # polygons and RLE
    out = tmp_path / "objects"
    annotations = coco_root / "annotations" / "instances_rehearsal.json"
    args = ["occluders", "coco", "--out", str(out), "--src", str(coco_root / "images"),
            "--annotations", str(annotations)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(CocoObjects(out)) >= 4

    textures = open_textures(dtd(tmp_path, 1), split="train1")
    assert len(textures) == 47 and textures.load(0).dtype == np.uint8
