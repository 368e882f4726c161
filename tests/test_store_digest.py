"""Pinned store digests: the bytes a fixed seed and settings write must not change by accident.

A refactor (for example moving modules) must leave these digests unchanged. A change that is meant to
alter samples updates the pinned value in the same commit and says why in its message.
"""

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from occgen.cli.main import app

runner = CliRunner()

# sha256 over every array file of the store (the root card holds paths and run times and is left out).
PINNED = {
    "randocc": "9656200396f233285dec4d8392ed9e5257d853bc80351ee19dfee8bfa34d5b0c",
    "natocc": "c8c06e9c4e0c793d31c994e63f0cff8b2b1f1e7d71ddad7fa15c2e36418a092c",
}


def store_digest(store: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in store.rglob("*") if p.is_file()):
        relative = path.relative_to(store).as_posix()
        if relative == "zarr.json":
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("recipe", sorted(PINNED))
def test_demo_store_bytes_are_pinned(tmp_path: Path, recipe: str) -> None:
    out = tmp_path / f"{recipe}.zarr"
    args = ["generate", recipe, "--out", str(out), "--n", "5", "--size", "64", "--workers", "1", "--seed", "7",
            "--shard-size", "3", "--no-preview"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert store_digest(out) == PINNED[recipe]
