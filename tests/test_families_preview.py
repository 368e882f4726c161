"""The drawn stand-ins of ``assets/build_families_preview.py`` (docs/natocc-families-preview.jpg): written in the
``rgba-folder`` layout, their file names give the families the picture claims to show, and each is a solid
cut-out with a soft edge whose long axis is where the placement expects it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from occgen.recipes.placement import alpha_axes, family_of
from occgen.sources.cutouts import RGBAFolder

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "assets"))

from build_families_preview import write_standins  # noqa: E402


def test_standins_are_cut_outs_of_the_utensil_microphone_and_hat_families(tmp_path: Path) -> None:
    source = RGBAFolder(write_standins(tmp_path / "standins"))
    families, axes = {}, {}
    for index in range(len(source)):
        cutout = source.load(index)
        name = f"{cutout.occluder_id}.png"
        families[name] = family_of("rgba-folder", {"file": name})
        assert cutout.alpha.dtype == np.float32 and cutout.alpha.max() == 1.0
        assert (cutout.alpha == 1.0).mean() > 0.4  # solid, not an outline
        assert ((cutout.alpha > 0) & (cutout.alpha < 1)).any()  # anti-aliased edge
        axes[name] = alpha_axes(cutout.alpha)[1]
    assert families == {"fork_01.png": "utensil", "hat_01.png": "hat", "hat_02.png": "hat",
                        "microphone_01.png": "microphone", "spoon_01.png": "utensil"}  # fmt: skip
    for name in ("fork_01.png", "spoon_01.png", "microphone_01.png"):  # long-axis families: drawn upright
        assert abs(abs(axes[name]) - 90.0) < 5.0, (name, axes[name])
    for name in ("hat_01.png", "hat_02.png"):  # hats: wider than tall, brim horizontal
        assert abs(axes[name]) < 5.0, (name, axes[name])
