"""Architectures (issue 16): the model factory, one-epoch CPU training of each family, legacy checkpoints,
strict loading of local Hugging Face encoder weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from test_train_run import demo_store

from occgen.core.errors import ConfigError
from occgen.train.architectures import (
    _transformers,
    build_model,
    count_parameters,
    load_encoder_weights,
    resnet_config,
    segformer_config,
)
from occgen.train.config import TrainConfig
from occgen.train.data import AugmentConfig
from occgen.train.evaluate import evaluate_model, open_eval_data
from occgen.train.trainer import load_checkpoint, train


@pytest.mark.parametrize("arch", ["segformer-b0", "segformer-tiny", "upernet-tiny", "unet-resnet18"])
def test_contract_shape_and_seeded_init(arch: str) -> None:
    model = build_model(arch, seed=2).eval()
    with torch.inference_mode():
        out = model(torch.rand(2, 3, 64, 96))
    assert out.shape == (2, 1, 64, 96) and out.dtype == torch.float32
    again = build_model(arch, seed=2).state_dict()
    other = build_model(arch, seed=3).state_dict()
    assert all(torch.equal(v, again[k]) for k, v in model.state_dict().items())
    assert any(not torch.equal(v, other[k]) for k, v in model.state_dict().items() if v.is_floating_point())
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.rand(1, 3, 50, 64))


@pytest.mark.parametrize("arch", ["unet-resnet18", "segformer-tiny", "upernet-tiny"])
def test_multi_output_heads_for_parsing(arch: str) -> None:
    model = build_model(arch, seed=0, outputs=23).eval()  # train.target parsing: one channel per class
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 23, 64, 64)
    with pytest.raises(ConfigError, match="at least one output"):
        build_model(arch, seed=0, outputs=0)


def test_segformer_b0_size_and_unknown_arch() -> None:
    assert count_parameters(build_model("segformer-b0", seed=0)) == 3_714_401  # MiT-b0 + all-MLP head, 1 label
    with pytest.raises(ConfigError, match="unknown architecture 'pspnet'; valid: unet-resnet18, segformer-b0"):
        build_model("pspnet", seed=0)
    with pytest.raises(ConfigError, match="train.arch must be one of"):
        TrainConfig(arch="segformer-b9")
    with pytest.raises(ConfigError, match="batch_size must be >= 2 for UperNet"):
        TrainConfig(arch="upernet-resnet50", batch_size=1)


@pytest.mark.parametrize("arch", ["segformer-tiny", "upernet-tiny"])
def test_one_epoch_demo_training_then_checkpoint_reloads(tmp_path: Path, arch: str) -> None:
    store = demo_store(tmp_path / "s.zarr", n=5)  # batch 2: a last batch of one, which UperNet drops
    config = TrainConfig(arch=arch, epochs=1, batch_size=2, lr=1e-3, input_size=64, min_kept=100, workers=0,
                         augment=AugmentConfig(enabled=False))  # fmt: skip
    report = train(config, [store], tmp_path / "run")
    logged = json.loads((tmp_path / "run" / "metrics.json").read_text())  # what the run wrote for DVC
    assert report.rows[0]["epoch"] == 1 and float(logged["epoch"]) == 1
    assert report.rows[0]["loss"] == pytest.approx(float(logged["loss"]), rel=1e-6) and 0 < report.rows[0]["loss"] < 5
    model, info = load_checkpoint(tmp_path / "run" / "epoch_001.pt")
    assert info["arch"] == arch and info["config"]["arch"] == arch
    count, items = open_eval_data(store)
    result = evaluate_model(model, items, input_size=64, batch_size=4)
    assert len(result.rows) == count == 5
    with pytest.raises(Exception, match="is not an occgen unet-resnet18 checkpoint"):
        train(TrainConfig(**{**config.__dict__, "arch": "unet-resnet18", "epochs": 2}), [store], tmp_path / "run",
              resume=True)  # fmt: skip


def test_legacy_checkpoint_loads_as_unet_resnet18(tmp_path: Path) -> None:
    state = build_model("unet-resnet18", seed=5).state_dict()
    path = tmp_path / "old.pt"
    torch.save({"arch": "resnet18-unet", "epoch": 3, "config": {"input_size": 32}, "model": state}, path)
    model, info = load_checkpoint(path)
    assert info["arch"] == "unet-resnet18" and info["epoch"] == 3
    assert torch.equal(model.state_dict()["head.weight"], state["head.weight"])


def hub_style_segformer(folder: Path, arch: str, seed: int) -> dict[str, torch.Tensor]:
    """What a local copy of nvidia/mit-bX holds: SegformerForImageClassification saved by transformers
    (hub key names ``segformer.encoder.block.*`` and a 1000-class classifier)."""
    tf = _transformers()
    config = tf.SegformerConfig(**{**segformer_config(arch).to_dict(), "num_labels": 1000})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = tf.SegformerForImageClassification(config)
    model.save_pretrained(folder)
    return load_file(folder / "model.safetensors")


def test_segformer_encoder_loads_strictly_from_folder_or_file(tmp_path: Path) -> None:
    hub = hub_style_segformer(tmp_path / "mit", "segformer-tiny", seed=7)
    assert any(k.startswith("segformer.encoder.block.0.0.attention.self.query") for k in hub)
    for source in (tmp_path / "mit", tmp_path / "mit" / "model.safetensors"):
        model = build_model("segformer-tiny", seed=0)
        head_before = model.net.decode_head.classifier.weight.clone()
        load_encoder_weights(model, "segformer-tiny", source)
        loaded = model.net.segformer.stages[0].patch_embeddings.proj.weight
        assert torch.equal(loaded, hub["segformer.encoder.patch_embeddings.0.proj.weight"])
        assert torch.equal(model.net.decode_head.classifier.weight, head_before)  # the head is not touched


def test_encoder_with_missing_or_misshaped_keys_is_refused_with_the_list(tmp_path: Path) -> None:
    hub = hub_style_segformer(tmp_path / "mit", "segformer-tiny", seed=7)
    del hub["segformer.encoder.block.0.0.attention.self.query.weight"]
    hub["segformer.encoder.patch_embeddings.1.proj.weight"] = torch.zeros(3, 3)
    bad = tmp_path / "bad.safetensors"
    save_file(hub, bad)
    with pytest.raises(ConfigError) as info:
        load_encoder_weights(build_model("segformer-tiny", seed=0), "segformer-tiny", bad)
    message = str(info.value)
    assert str(bad) in message
    assert "missing keys: stages.0.blocks.0.attention.q_proj.weight" in message
    assert "mis-shaped keys: stages.1.patch_embeddings.proj.weight (file (3, 3), model (32, 16, 3, 3))" in message
    with pytest.raises(ConfigError, match="missing keys: .* in all"):  # a b0 encoder is not a tiny one
        load_encoder_weights(build_model("segformer-b0", seed=0), "segformer-b0", tmp_path / "mit")
    with pytest.raises(ConfigError, match="encoder weights not found"):
        load_encoder_weights(build_model("segformer-tiny", seed=0), "segformer-tiny", tmp_path / "none")


def test_upernet_backbone_loads_a_resnet_classifier_folder(tmp_path: Path) -> None:
    tf = _transformers()
    fields = {k: v for k, v in resnet_config("upernet-tiny").to_dict().items() if k not in ("out_features",
                                                                                            "out_indices")}  # fmt: skip
    classifier = tf.ResNetForImageClassification(tf.ResNetConfig(**fields))
    classifier.save_pretrained(tmp_path / "resnet")
    model = build_model("upernet-tiny", seed=0)
    load_encoder_weights(model, "upernet-tiny", tmp_path / "resnet")
    assert torch.equal(model.net.backbone.embedder.embedder.convolution.weight,
                       classifier.resnet.embedder.embedder.convolution.weight)  # fmt: skip
    state = load_file(tmp_path / "resnet" / "model.safetensors")
    state.pop(next(k for k in state if k.endswith("encoder.stages.3.layers.0.shortcut.convolution.weight")))
    save_file(state, tmp_path / "cut.safetensors")
    with pytest.raises(ConfigError, match="missing keys: encoder.stages.3.layers.0.shortcut.convolution.weight"):
        load_encoder_weights(build_model("upernet-tiny", seed=0), "upernet-tiny", tmp_path / "cut.safetensors")


# SegFormer paper (Xie et al., NeurIPS 2021), Table 1: encoder / decoder parameters in millions (ADE20K
# heads); the abstract's "SegFormer-B4 ... 64M parameters" is 60.8 + 3.3.
SEGFORMER_PAPER_PARAMS_M = {
    "segformer-b1": (13.1, 0.6), "segformer-b2": (24.2, 3.3), "segformer-b3": (44.0, 3.3),
    "segformer-b4": (60.8, 3.3), "segformer-b5": (81.4, 3.3),
}  # fmt: skip


@pytest.mark.parametrize("arch", sorted(SEGFORMER_PAPER_PARAMS_M))
def test_segformer_b1_to_b5_have_the_papers_sizes(arch: str) -> None:
    """Each variant's encoder (hidden sizes, depths) and decoder width give the paper's parameter counts."""
    model = build_model(arch, seed=0)
    encoder_m = count_parameters(model.get_submodule("net.segformer")) / 1e6
    total_m = count_parameters(model) / 1e6
    encoder, decoder = SEGFORMER_PAPER_PARAMS_M[arch]
    assert encoder_m == pytest.approx(encoder, abs=0.1)  # (the table rounds; a depth off by one block is >1M)
    # our head has 1 output channel where the paper's has ADE20K's 150 (0.1M at width 768): 3% slack
    assert total_m == pytest.approx(encoder + decoder, rel=0.03)
