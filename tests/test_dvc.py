"""The demo DVC pipeline from a clean copy of the repository: repro, status, no-op re-run, push/pull."""

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from occgen.store import open_store
from occgen.store.schema import ShardReader

ROOT = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=occgen-test", "-c", "user.email=test@occgen.invalid"]


def run(cmd: list[str], cwd: Path, *, stdout_only: bool = False) -> str:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout if stdout_only else result.stdout + result.stderr


def copy_tracked_files(destination: Path) -> None:
    """The repository as a fresh clone would have it (tracked files, as in the working tree)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in filter(None, files.stdout.split("\0")):
        source = ROOT / name
        if source.is_file() and not name.startswith(("tests/", "docs/")):
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def same_tree(a: Path, b: Path) -> bool:
    comparison = filecmp.dircmp(a, b)
    if comparison.left_only or comparison.right_only or comparison.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, comparison.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(a / d, b / d) for d in comparison.common_dirs)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # the whole demo pipeline twice, and a remote: about 3 min on a loaded machine
def test_demo_pipeline_repro_status_and_remote_round_trip(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_tracked_files(repo)
    run([*GIT, "init", "-q", "-b", "main"], repo)
    run([*GIT, "add", "-A"], repo)
    run([*GIT, "commit", "-qm", "clean copy"], repo)

    run(["dvc", "repro"], repo)
    store = repo / "data" / "randocc.zarr"
    assert len(ShardReader(store)) == 200
    assert "up to date" in run(["dvc", "status"], repo)
    again = run(["dvc", "repro"], repo)
    assert "didn't change, skipping" in again and "Running stage" not in again
    assert len(open_store(repo / "data" / "mix.zarr")) == 300  # half of RandOcc + C-WO-NatOcc (hands + objects)

    # Changing one parameter invalidates only the stage that reads it.
    params = repo / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("translucent_p: 0.3", "translucent_p: 0.5"))
    changed = json.loads(run(["dvc", "status", "--json"], repo, stdout_only=True))
    assert set(changed) == {"randocc"}
    params.write_text(original)

    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "team", str(remote)], repo)
    run(["dvc", "push"], repo)
    run([*GIT, "add", "-A"], repo)
    run([*GIT, "commit", "-qm", "pipeline results"], repo)

    clone = tmp_path / "clone"
    run([*GIT, "clone", "-q", str(repo), str(clone)], tmp_path)
    run(["dvc", "pull"], clone)
    pulled = clone / "data" / "randocc.zarr"
    assert same_tree(store, pulled)
    assert ShardReader(pulled).card == ShardReader(store).card
    assert "up to date" in run(["dvc", "status"], clone)


def test_paper_pipeline_is_valid() -> None:
    """pipelines/paper (its own DVC project) parses with every templated stage, and its params validate."""
    paper = ROOT / "pipelines" / "paper"
    stages = run(["dvc", "stage", "list"], paper, stdout_only=True).split()
    expected = {"faces", "randocc", "natocc@natocc_sot", "mix", "train@natocc", "evaluate@mix-cofw",
                "train_arch@upernet-resnet50-mix", "evaluate_arch@segformer-b0-randocc-cofw"}
    assert expected <= set(stages)
    assert "params.yaml: 9 section(s) valid" in run([sys.executable, "-m", "occgen", "params", "check"], paper)
