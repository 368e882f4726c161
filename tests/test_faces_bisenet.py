"""The face-parsing BiSeNet: public checkpoint layout, strict loading, forward shapes."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from occgen.core.errors import SourceError
from occgen.prep.faces.bisenet import N_CLASSES, BiSeNet, load_bisenet

# Layout of zllrunning/face-parsing.PyTorch's 79999_iter.pth (BiSeNet(n_classes=19) state dict): 191 entries in
# this order, 31 of them BatchNorm num_batches_tracked counters. Verified once against the reference model
# definition (entry names, order and shapes identical; outputs equal to 2e-7 on random weights).
PUBLIC_LAYOUT = {
    "cp.resnet.conv1.weight": (64, 3, 7, 7),
    "cp.resnet.bn1.running_mean": (64,),
    "cp.resnet.layer1.0.conv1.weight": (64, 64, 3, 3),
    "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
    "cp.resnet.layer2.0.downsample.1.running_var": (128,),
    "cp.resnet.layer3.1.bn2.weight": (256,),
    "cp.resnet.layer4.0.conv1.weight": (512, 256, 3, 3),
    "cp.resnet.layer4.1.bn2.running_var": (512,),
    "cp.arm16.conv.conv.weight": (128, 256, 3, 3),
    "cp.arm16.conv_atten.weight": (128, 128, 1, 1),
    "cp.arm32.conv.conv.weight": (128, 512, 3, 3),
    "cp.arm32.bn_atten.bias": (128,),
    "cp.conv_head32.conv.weight": (128, 128, 3, 3),
    "cp.conv_head16.bn.running_mean": (128,),
    "cp.conv_avg.conv.weight": (128, 512, 1, 1),
    "ffm.convblk.conv.weight": (256, 256, 1, 1),
    "ffm.conv1.weight": (64, 256, 1, 1),
    "ffm.conv2.weight": (256, 64, 1, 1),
    "conv_out.conv.conv.weight": (256, 256, 3, 3),
    "conv_out.conv_out.weight": (19, 256, 1, 1),
    "conv_out16.conv.conv.weight": (64, 128, 3, 3),
    "conv_out16.conv_out.weight": (19, 64, 1, 1),
    "conv_out32.conv.bn.num_batches_tracked": (),
    "conv_out32.conv_out.weight": (19, 64, 1, 1),
}


@pytest.fixture(scope="module")
def model() -> BiSeNet:
    torch.manual_seed(0)
    return BiSeNet(N_CLASSES).eval()


@pytest.fixture(scope="module")
def checkpoint(model: BiSeNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "79999_iter.pth"
    torch.save(model.state_dict(), path)
    return path


def test_state_dict_matches_public_layout(model: BiSeNet) -> None:
    state = model.state_dict()
    assert len(state) == 191
    assert sum(k.endswith("num_batches_tracked") for k in state) == 31
    assert next(iter(state)) == "cp.resnet.conv1.weight" and list(state)[-1] == "conv_out32.conv_out.weight"
    for name, shape in PUBLIC_LAYOUT.items():
        assert tuple(state[name].shape) == shape, name
    assert not any(k.startswith(("module.", "sp.", "cp.resnet.fc")) for k in state)
    assert sum(p.numel() for p in model.parameters()) == 13_300_416
    assert all(m.bias is None for m in model.modules() if isinstance(m, torch.nn.Conv2d))


def test_saved_random_init_reloads_strictly_and_identically(model: BiSeNet, checkpoint: Path) -> None:
    loaded = load_bisenet(checkpoint)
    assert not loaded.training
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_forward_shapes(model: BiSeNet) -> None:
    x = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        logits = model(x)
        main, aux16, aux32 = model(x, aux=True)
    assert logits.shape == (2, 19, 96, 64) and logits.dtype == torch.float32
    assert aux16.shape == aux32.shape == (2, 19, 96, 64)
    assert torch.equal(main, logits)


def _save(tmp_path: Path, state: dict) -> Path:
    path = tmp_path / "edited.pth"
    torch.save(state, path)
    return path


def test_missing_key_is_named(model: BiSeNet, tmp_path: Path) -> None:
    state = OrderedDict(model.state_dict())
    del state["ffm.conv1.weight"]
    with pytest.raises(SourceError, match=r"1 missing key\(s\): ffm\.conv1\.weight.*79999_iter\.pth"):
        load_bisenet(_save(tmp_path, state))


def test_unexpected_key_and_shape_mismatch_are_named(model: BiSeNet, tmp_path: Path) -> None:
    state = OrderedDict(model.state_dict())
    state["sp.conv1.conv.weight"] = torch.zeros(64, 3, 7, 7)
    state["conv_out.conv_out.weight"] = torch.zeros(2, 256, 1, 1)  # a 2-class head
    with pytest.raises(SourceError) as info:
        load_bisenet(_save(tmp_path, state))
    message = str(info.value)
    assert "1 unexpected key(s): sp.conv1.conv.weight" in message
    assert "conv_out.conv_out.weight: checkpoint (2, 256, 1, 1) vs model (19, 256, 1, 1)" in message


def test_wrapped_and_old_checkpoints_load(model: BiSeNet, tmp_path: Path) -> None:
    state = model.state_dict()
    wrapped = {f"module.{k}": v for k, v in state.items()}
    load_bisenet(_save(tmp_path, {"state_dict": wrapped}))
    # Checkpoints from torch < 0.4.1 have no BatchNorm counters; they still load.
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    loaded = load_bisenet(_save(tmp_path, old))
    assert torch.equal(loaded.state_dict()["ffm.conv2.weight"], state["ffm.conv2.weight"])


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="checkpoint not found: .*nope.pth; pass the 79999_iter.pth"):
        load_bisenet(tmp_path / "nope.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(SourceError, match="cannot read the checkpoint .*garbage.pth"):
        load_bisenet(garbage)
    tensor = _save(tmp_path, torch.zeros(3))
    with pytest.raises(SourceError, match="holds a Tensor, not a state dict"):
        load_bisenet(tensor)
