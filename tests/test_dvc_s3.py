"""A DVC remote on S3 (dvc-s3) against the local moto server: push, wipe, pull, byte-identical."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from s3_server import moto_s3  # noqa: E402
from test_dvc import GIT, same_tree  # noqa: E402


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.mark.slow
def test_dvc_push_pull_through_an_s3_remote(tmp_path: Path) -> None:
    with moto_s3() as s3:
        s3.make_bucket("dvcstore")
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        # credentials from the environment, as on a CI runner (never in .dvc/config)
        env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": path, "AWS_ACCESS_KEY_ID": s3.key,
               "AWS_SECRET_ACCESS_KEY": s3.secret, "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
        repo = tmp_path / "repo"
        repo.mkdir()
        run([*GIT, "init", "-q", "-b", "main"], repo, env)
        run(["dvc", "init", "-q"], repo, env)
        run([sys.executable, "-m", "occgen", "generate", "randocc", "--n", "4", "--size", "32", "--shard-size", "2",
             "--workers", "1", "--no-preview", "--out", "data/randocc.zarr"], repo, env)  # fmt: skip
        run(["dvc", "add", "data/randocc.zarr"], repo, env)
        run(["dvc", "remote", "add", "-d", "s3", "s3://dvcstore/cache"], repo, env)
        run(["dvc", "remote", "modify", "s3", "endpointurl", s3.endpoint], repo, env)
        run(["dvc", "push"], repo, env)
        kept = tmp_path / "kept.zarr"
        shutil.copytree(repo / "data" / "randocc.zarr", kept)
        shutil.rmtree(repo / "data" / "randocc.zarr")
        shutil.rmtree(repo / ".dvc" / "cache")
        run(["dvc", "pull"], repo, env)
        assert same_tree(kept, repo / "data" / "randocc.zarr")
