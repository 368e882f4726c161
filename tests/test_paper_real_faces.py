"""pipelines/paper on non-CelebAMask-HQ faces (issue 24, the rehearsal on real sources): params that name a
public layout (`faces.layout: lfw-parts`, a split) must still let the later stages read the C-WO store the
`faces` stage wrote (`--faces data/faces.zarr`). Fixture: LFW Part Labels in its released layout."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from test_sources_layouts import lfw_labels, make_lfw
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import SourceError
from occgen.sources.faces import open_faces
from occgen.store.schema import ShardReader


def lfw_params(tmp_path: Path) -> Path:
    """A params file as pipelines/paper's, pointed at LFW Part Labels (layout and official split named)."""
    root = make_lfw(tmp_path / "lfw")
    params = tmp_path / "params.yaml"
    faces = {"path": str(root), "layout": "lfw-parts", "split": "train"}
    params.write_text(yaml.safe_dump({"base": {"seed": 0, "size": 32}, "faces": faces}))
    return params


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--workers", "1", "--no-preview"])
    return result.exit_code, result.output


def test_stages_after_faces_read_the_store_despite_a_public_layout_in_params(tmp_path: Path) -> None:
    params = lfw_params(tmp_path)
    faces_store = tmp_path / "data" / "faces.zarr"
    code, output = invoke("generate", "faces", "--params", str(params), "--out", str(faces_store))
    assert code == 0, output
    faces = ShardReader(faces_store)
    assert len(faces) == 2 and faces.card["sources"]["faces"]["kind"] == "lfw-parts"
    for index in range(2):
        assert np.array_equal(faces[index].face_mask, (lfw_labels() == 1).astype(np.uint8))

    for recipe in ("randocc", "natocc"):  # the paper's cmds: --params params.yaml --faces data/faces.zarr
        out = tmp_path / "data" / f"{recipe}.zarr"
        code, output = invoke("generate", recipe, "--params", str(params), "--faces", str(faces_store), "--n", "4",
                              "--out", str(out))  # fmt: skip
        assert code == 0, output
        reader = ShardReader(out)
        assert len(reader) == 4 and reader.card["sources"]["faces"]["kind"] == "store"
        for index in range(4):  # occluders only take face away: the mask stays inside LFW's skin
            sample = reader[index]
            assert sample.image.shape == (32, 32, 3) and sample.face_mask.dtype == np.uint8
            assert not bool((sample.face_mask.astype(bool) & ~(lfw_labels() == 1)).any())


def test_faces_format_still_wins_over_the_reset(tmp_path: Path) -> None:
    params = lfw_params(tmp_path)
    faces_store = tmp_path / "faces.zarr"
    assert invoke("generate", "faces", "--params", str(params), "--out", str(faces_store))[0] == 0
    code, output = invoke("generate", "randocc", "--params", str(params), "--faces", str(faces_store),
                          "--faces-format", "lfw-parts", "--n", "2", "--out", str(tmp_path / "r.zarr"))  # fmt: skip
    assert code == 1 and "LFW Part Labels" in output and "lfw_funneled not found" in output


def test_a_split_file_with_ids_that_name_no_face_is_refused(tmp_path: Path) -> None:
    """LFW's own split files write `Ann_Lee 1`; occgen's face ids are `Ann_Lee_0001`. An id file copied in the
    wrong spelling used to give a silently smaller C-WO (206 of 300 LFW faces on the real run)."""
    root = make_lfw(tmp_path / "lfw")
    ids = tmp_path / "ids.txt"
    ids.write_text("Ann_Lee_0001\nBob_Roe_0003\n")
    assert [open_faces(root, split=ids).face_id(i) for i in range(2)] == ["Ann_Lee_0001", "Bob_Roe_0003"]
    ids.write_text("Ann_Lee_0001\nBob_Roe_3\nAnn_Lee 2\n")
    with pytest.raises(SourceError) as error:
        open_faces(root, split=ids)
    message = str(error.value)
    assert "\n" not in message and str(ids) in message
    assert "2 of 3 ids name no LFW Part Labels face (e.g. 'Bob_Roe_3')" in message and "'Ann_Lee_0001'" in message
