"""pipelines/paper end to end (issue 12): every stage of its dvc.yaml runs with `dvc repro` in a clean copy of
the repository, on a small rehearsal of the four datasets in their true on-disk layouts (tests/_rehearsal.py)
and three tiny evaluation sets. Only params.yaml (dataset paths, tiny n / sizes / epochs) and
architectures.yaml (Table 4's architectures in their tiny configurations) change; the pipeline itself is the
repository's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from _rehearsal import celebamask_hq, coco, dtd, eleven_k_hands, eval_set
from test_dvc import GIT, copy_tracked_files, run

from occgen.store import open_store

FACES = 4  # C-WO; the synthetic sets are 2 x FACES (one hand and one object sample per face)
EVAL_SETS = ("realocc", "realocc_wild", "cofw")


def rehearsal_params(params: dict, data: Path) -> dict:
    """The paper's params.yaml pointed at the rehearsal data, with tiny n / sizes / epochs (CPU, seconds)."""
    faces = data / "CelebAMask-HQ"
    params["base"]["size"] = 64
    params["faces"].update(path=str(faces), split=str(faces / "splits" / "train.txt"))
    params["textures"].update(path=str(data / "dtd"), split="train1")
    params["randocc"].update(n=2 * FACES, shard_size=4, workers=1, image_codec="zstd")
    params["hands"].update(path=str(data / "11k"), names_file=None)
    params["hands"]["matting"]["max_side_px"] = 256
    params["objects"].update(annotations=str(data / "coco" / "annotations" / "instances_rehearsal.json"),
                             images=str(data / "coco" / "images"))  # fmt: skip
    params["objects"]["coco"]["max_per_category"] = 2
    params["natocc"].update(n=2 * FACES, shard_size=4, workers=1)
    params["natocc"]["sot"]["fit_pixels"] = 1024
    params["train"].update(epochs=1, batch_size=4, input_size=32, min_kept=64, workers=0, lr_drop_epoch=1)
    params["evaluate"].update(batch_size=4, worst=2, fps_iterations=0)
    return params


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 61 DVC stages: about 6.5 min on a loaded 2-core machine
def test_paper_pipeline_runs_end_to_end_on_the_rehearsal(tmp_path: Path) -> None:
    data = tmp_path / "rehearsal"
    celebamask_hq(data, FACES)
    eleven_k_hands(data, 3, size=(400, 300))  # matted at 256 px anyway
    coco(data, 3, 3)
    dtd(data, 1)

    repo = tmp_path / "repo"
    copy_tracked_files(repo)
    paper = repo / "pipelines" / "paper"
    params_file = paper / "params.yaml"
    params = rehearsal_params(yaml.safe_load(params_file.read_text()), data)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    architectures = paper / "architectures.yaml"
    assert yaml.safe_load(architectures.read_text())["architectures"] == ["segformer-b0", "upernet-resnet50"]
    architectures.write_text(yaml.safe_dump({"architectures": ["segformer-tiny", "upernet-tiny"]}))
    for name in EVAL_SETS:
        eval_set(paper / "data" / "eval", name, 2, side=64)
    run([*GIT, "init", "-q", "-b", "main"], repo)
    run([*GIT, "add", "-A"], repo)
    run([*GIT, "commit", "-qm", "clean copy"], repo)

    run(["dvc", "config", "--local", "cache.type", "hardlink,symlink"], paper)  # no copies of checkpoints
    try:
        stages = run(["dvc", "stage", "list", "--name-only"], paper, stdout_only=True).split()
        assert len(stages) == 61  # 9 data stages, 5 + 8 trainings, 15 + 24 evaluations
        log = run(["dvc", "repro"], paper)
        assert all(f"Running stage '{stage}'" in log for stage in stages)
        assert "up to date" in run(["dvc", "status"], paper)

        assert len(open_store(paper / "data" / "faces.zarr")) == FACES
        for name in ("randocc", "natocc", "natocc_sot"):
            assert len(open_store(paper / "data" / f"{name}.zarr")) == 2 * FACES
        assert len(open_store(paper / "data" / "mix.zarr")) == 3 * FACES  # half of RandOcc + NatOcc
        assert len(sorted((paper / "models").rglob("last.pt"))) == 5 + 2 * 4
        summaries = sorted((paper / "evaluation").rglob("summary.json"))
        assert len(summaries) == 5 * 3 + 2 * 4 * 3
        assert all(json.loads(path.read_text()) for path in summaries)
    finally:  # the U-Net checkpoints are ~170 MB each: leave no copy in the temp folder
        shutil.rmtree(repo, ignore_errors=True)
