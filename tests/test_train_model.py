"""ResNet-18 U-Net: shapes, seeded init, strict torchvision-style encoder loading; OHEM loss."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from occgen.core.errors import ConfigError
from occgen.train.loss import ohem_bce_loss, ohem_keep_mask
from occgen.train.model import build_model, count_parameters, load_encoder_weights


def torchvision_style_state(seed: int) -> dict[str, torch.Tensor]:
    """What ``torch.save(torchvision.models.resnet18().state_dict())`` holds: encoder keys plus ``fc``."""
    encoder = build_model(seed=seed).encoder
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    return state


def test_output_shape_parameters_and_seeded_init() -> None:
    model = build_model(seed=3).eval()
    assert 14_000_000 < count_parameters(model) < 14_700_000
    with torch.inference_mode():
        out = model(torch.rand(2, 3, 64, 96))
    assert out.shape == (2, 1, 64, 96) and out.dtype == torch.float32
    same, other = build_model(seed=3), build_model(seed=4)
    assert torch.equal(same.head.weight, model.head.weight)
    assert not torch.equal(other.head.weight, model.head.weight)
    assert len(model.encoder.state_dict()) == 120  # torchvision resnet18: 122 keys minus fc.weight, fc.bias


def test_input_size_must_be_multiple_of_32() -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        build_model(seed=0)(torch.rand(1, 3, 50, 64))


def test_encoder_weights_load_strictly(tmp_path: Path) -> None:
    state = torchvision_style_state(seed=9)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    model = build_model(seed=0)
    load_encoder_weights(model, path)
    assert torch.equal(model.encoder.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    assert torch.equal(model.encoder.bn1.running_mean, state["bn1.running_mean"])
    wrapped = tmp_path / "wrapped.pth"  # {"state_dict": ...} with DataParallel prefixes
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    load_encoder_weights(build_model(seed=1), wrapped)


def test_encoder_weights_errors_list_keys(tmp_path: Path) -> None:
    state = torchvision_style_state(seed=0)
    del state["layer2.0.downsample.1.weight"]
    state["layer5.weight"] = torch.zeros(1)
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ConfigError) as info:
        load_encoder_weights(build_model(seed=0), path)
    message = str(info.value)
    assert "missing keys: layer2.0.downsample.1.weight" in message
    assert "unexpected keys: layer5.weight" in message
    assert "mis-shaped keys: conv1.weight (file (64, 3, 3, 3), model (64, 3, 7, 7))" in message
    assert str(path) in message
    with pytest.raises(ConfigError, match="encoder weights not found"):
        load_encoder_weights(build_model(seed=0), tmp_path / "none.pth")


def test_ohem_keeps_pixels_above_threshold() -> None:
    # Probabilities of the true class 0.9, 0.6, 0.5, 0.75, 0.2, 0.69: hard below 0.7.
    prob_true = torch.tensor([0.9, 0.6, 0.5, 0.75, 0.2, 0.69])
    target = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    prob_face = torch.where(target == 1, prob_true, 1 - prob_true)
    logits = torch.log(prob_face / (1 - prob_face)).view(1, 1, 2, 3)
    target = target.view(1, 1, 2, 3)
    pixel_loss = -torch.log(prob_true).view(1, 1, 2, 3)
    keep = ohem_keep_mask(pixel_loss, threshold=0.7, min_kept=2)
    assert keep.view(-1).tolist() == [False, True, True, False, True, True]
    expected = -(math.log(0.6) + math.log(0.5) + math.log(0.2) + math.log(0.69)) / 4
    assert float(ohem_bce_loss(logits, target, threshold=0.7, min_kept=2)) == pytest.approx(expected, rel=1e-5)


def test_ohem_min_kept_takes_the_largest_losses() -> None:
    pixel_loss = torch.tensor([0.01, 0.30, 0.05, 0.20, 0.40, 0.02]).view(1, 1, 2, 3)  # one hard pixel (0.40)
    keep = ohem_keep_mask(pixel_loss, threshold=0.7, min_kept=3)
    assert keep.view(-1).tolist() == [False, True, False, True, True, False]
    assert bool(ohem_keep_mask(pixel_loss, threshold=0.7, min_kept=100).all())  # more than the batch: all
    assert ohem_keep_mask(pixel_loss, threshold=0.7, min_kept=0).view(-1).tolist() == [False] * 4 + [True, False]
    easy = torch.full((1, 1, 2, 2), 0.01)
    logits = torch.full((1, 1, 2, 2), 5.0, requires_grad=True)
    loss = ohem_bce_loss(logits, torch.ones(1, 1, 2, 2), min_kept=0)  # nothing hard, nothing kept
    assert float(loss.detach()) == 0.0 and not bool(ohem_keep_mask(easy, threshold=0.7, min_kept=0).any())
    loss.backward()
    with pytest.raises(ConfigError, match="ohem_threshold"):
        ohem_keep_mask(pixel_loss, threshold=1.5, min_kept=1)


def test_ohem_gradient_flows_only_through_kept_pixels() -> None:
    logits = torch.tensor([[[[3.0, -3.0], [0.0, 0.1]]]], requires_grad=True)
    target = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])
    ohem_bce_loss(logits, target, threshold=0.7, min_kept=1).backward()
    grad = logits.grad.view(-1)
    assert grad[0] == 0.0 and grad[1] != 0.0 and grad[2] != 0.0 and grad[3] != 0.0
