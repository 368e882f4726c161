"""The ``photo`` face-mask style: MaskTheFace's photographed masks (MIT), scaled to the eye distance, with the
mouth's place as the anchor, like the drawn masks."""

from __future__ import annotations

import numpy as np
import pytest

from occgen.core.errors import ConfigError
from occgen.core.files import demo_root
from occgen.sources.face_masks import ProceduralFaceMasks
from occgen.sources.mask_templates import (
    MASK_TEMPLATES,
    MOUTH_FROM_TOP,
    TemplateMaskParams,
    load_template,
    render_template_mask,
    sample_template_mask,
)
from occgen.sources.wearables import Wearables


def test_every_template_is_embedded_with_the_mit_licence() -> None:
    folder = demo_root() / "face_mask_templates"
    assert "MIT License" in (folder / "LICENSE").read_text() and "Aqeel Anwar" in (folder / "LICENSE").read_text()
    for name in MASK_TEMPLATES:
        rgb, alpha = load_template(name)
        assert rgb.dtype == np.uint8 and rgb.shape[:2] == alpha.shape and alpha.dtype == np.float32
        assert alpha.max() == 1.0 and alpha[0].max() > 0 and alpha[:, 0].max() > 0  # cropped to its alpha
        assert rgb[alpha > 0.9].std() > 5  # a photograph: texture, not a flat fill


def test_render_scales_to_the_eye_distance_and_anchors_at_the_mouth() -> None:
    params = TemplateMaskParams(template="surgical_blue", iod_px=100, width_iod=2.0)
    occluder, draw = render_template_mask(params)
    assert occluder.rgb.shape[1] == 200 and occluder.alpha.shape == occluder.rgb.shape[:2]
    assert occluder.kind == "face-mask" and occluder.occluder_id == "face-mask:photo-surgical_blue"
    x, y = draw["anchor_xy"]
    assert x == pytest.approx(99.5) and y == pytest.approx(MOUTH_FROM_TOP * (occluder.alpha.shape[0] - 1))
    assert occluder.alpha[int(y), int(x)] > 0.99  # the mouth is behind the mask
    assert draw["style"] == "photo" and draw["iod_px"] == 100 and draw["template"] == "surgical_blue"
    blue = occluder.rgb[occluder.alpha > 0.99].mean(axis=0)
    assert blue[2] > blue[0] + 20  # the blue surgical mask stays blue after resizing


def test_sampling_is_replayable_and_the_source_takes_the_option() -> None:
    first = sample_template_mask(rng=np.random.default_rng(3), iod_px=64)
    assert first == sample_template_mask(rng=np.random.default_rng(3), iod_px=64)
    assert first.template in MASK_TEMPLATES and 1.9 <= first.width_iod <= 2.3
    source = ProceduralFaceMasks(styles=("photo",), iod_px=64)
    occluder, params = source.draw(rng=np.random.default_rng(3))
    assert params["style"] == "photo" and occluder.occluder_id.startswith("face-mask:photo-")
    assert "MIT" in str(source.describe()["licence"])
    assert "licence" not in ProceduralFaceMasks().describe()
    with pytest.raises(ConfigError, match="some of surgical, cloth, n95, photo, got \\['paper'\\]"):
        ProceduralFaceMasks(styles=("paper",))
    with pytest.raises(ConfigError, match="template must be one of"):
        load_template("gas")


def test_wearables_pass_the_styles_on_and_say_so_in_the_card() -> None:
    wearables = Wearables(eyewear_frac=0.0, face_mask_styles=("photo",))
    _, params = wearables.draw(rng=np.random.default_rng(0))
    assert params["style"] == "photo"
    assert wearables.describe()["styles"] == "photo" and "MIT" in str(wearables.describe()["licence"])
    assert set(Wearables().describe()) == {"kind", "root", "count", "eyewear_frac"}
