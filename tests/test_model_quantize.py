"""Issue 26, `export-model --quantize int8`: the quantized file holds QuantizeLinear/DequantizeLinear, runs through
each contract's consumer-style call (tests/test_model_contracts.py), agrees with fp32 on the calibration images,
states its calibration, and is refused below the agreement bound with a message naming the fix.

A tiny seeded model is not representative of a trained one: its logits sit near 0 (centred on purpose so that
its mask has both classes), so small int8 errors flip more pixels than they would on a trained model. It agrees
on about 97 % of pixels here: the tests ask > 95 % (the function's bound) and use the default 99 % bound to plant
a refusal."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from test_model_contracts import facefusion_face, roop_xseg_restore, synthetic_crop, visomaster_keep
from test_models_export import random_bn_stats
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.store import open_store
from occgen.store.schema import card_digest, create_store, write_shard
from occgen.train.architectures import build_model
from occgen.train.model_contracts import resolve_contract
from occgen.train.quantize import _quantize_static, export_onnx_int8

runner = CliRunner()
TINY_BOUND = 0.95


def write_crop_store(path: Path, images: np.ndarray) -> Path:
    n, size = images.shape[:2]
    group = create_store(path, n=n, size=size, shard_size=n, card={"recipe": "randocc", "seed": 0})
    masks = (images[..., 0] > 100).astype(np.uint8)
    write_shard(group, 0, images, masks, masks * 255, [{"i": i} for i in range(n)])
    group.attrs["occgen"] = {**group.attrs["occgen"], "complete": True}
    return path


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A seeded segformer-tiny checkpoint, a store of 6 synthetic 128² crops, and int8 exports: facefusion
    through the CLI (--force: the tiny model is below the 99 % bound), visomaster and xseg through the function."""
    root = tmp_path_factory.mktemp("int8")
    model = random_bn_stats(build_model("segformer-tiny", seed=7), seed=8)
    (head,) = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == 1]
    with torch.inference_mode():
        crop = cv2.resize(synthetic_crop(128, 1), (256, 256))
        head.bias -= model(torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255).median()
    checkpoint = root / "seeded.pt"
    torch.save({"arch": "segformer-tiny", "epoch": 1, "config": {"input_size": 256, "target": "face"},
                "model": model.state_dict()}, checkpoint)  # fmt: skip
    store = write_crop_store(root / "crops.zarr", np.stack([synthetic_crop(128, seed) for seed in range(6)]))
    paths = {"checkpoint": checkpoint, "store": store, "facefusion": root / "xseg_1.onnx"}
    result = runner.invoke(app, ["export-model", str(checkpoint), "--contract", "facefusion", "--out",
                                 str(paths["facefusion"]), "--quantize", "int8", "--calibration", str(store),
                                 "--calibration-n", "4", "--force"])  # fmt: skip
    assert result.exit_code == 0, result.output
    for contract in ("visomaster", "xseg"):
        paths[contract] = root / f"{contract}.int8.onnx"
        export_onnx_int8(model, "segformer-tiny", paths[contract], contract=contract, input_size=256,
                         calibration=store, calibration_n=4, bound=TINY_BOUND)  # fmt: skip
    return paths


def fp32_of(paths: dict[str, Path], contract: str, tmp_path: Path) -> Path:
    out = tmp_path / f"{contract}.fp32.onnx"
    result = runner.invoke(app, ["export-model", str(paths["checkpoint"]), "--contract", contract, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("contract", ["facefusion", "visomaster", "xseg"])
def test_int8_graph_is_quantized_and_states_its_calibration(quantized: dict[str, Path], contract: str) -> None:
    ops = {node.op_type for node in onnx.load(str(quantized[contract])).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    meta = ort.InferenceSession(str(quantized[contract])).get_modelmeta().custom_metadata_map
    digest = card_digest(open_store(quantized["store"]).card)
    assert meta["occgen_quantized"] == "int8" and meta["occgen_contract"] == contract
    assert meta["occgen_calibration"] == f"store digest {digest}, n 4, seed 0"
    assert float(meta["occgen_int8_agreement"]) > TINY_BOUND
    assert meta["occgen_layout"] == resolve_contract(contract).layout  # the fp32 graph's metadata is kept


def test_facefusion_int8_has_its_own_hash_and_card(quantized: dict[str, Path]) -> None:
    path = quantized["facefusion"]
    assert path.with_suffix(".hash").read_text() == format(zlib.crc32(path.read_bytes()), "08x")
    card = Path(f"{path}.card.md").read_text()
    assert "Quantized: int8 (static QDQ), calibrated on 4 image(s)" in card and "agree with fp32" in card
    assert not list(path.parent.glob(".xseg_1*"))  # no staged or fp32 file left beside it


@pytest.mark.parametrize("contract", ["facefusion", "visomaster", "xseg"])
def test_consumer_call_agrees_with_fp32(quantized: dict[str, Path], contract: str, tmp_path: Path) -> None:
    """Each tool's call (as in test_model_contracts) on the int8 and the fp32 file, on calibration-like crops."""
    fp32 = fp32_of(quantized, contract, tmp_path)
    crops_rgb = [cv2.resize(synthetic_crop(128, seed), (256, 256)) for seed in range(4)]
    shares = []
    for rgb in crops_rgb:
        if contract == "facefusion":
            int8_mask, fp32_mask = (facefusion_face(m, rgb[:, :, ::-1].copy()) for m in (quantized[contract], fp32))
        elif contract == "visomaster":
            int8_mask, fp32_mask = (visomaster_keep(m, rgb) for m in (quantized[contract], fp32))
        else:
            int8_mask, fp32_mask = (
                roop_xseg_restore(m, rgb[:, :, ::-1].copy()) < 0.5 for m in (quantized[contract], fp32)
            )
        assert int8_mask.shape == (256, 256) and 0.05 < fp32_mask.mean() < 0.95
        shares.append(float((int8_mask == fp32_mask).mean()))
    assert np.mean(shares) > TINY_BOUND


def test_agreement_below_the_bound_is_refused_with_the_fix(quantized: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "refused.onnx"
    result = runner.invoke(app, ["export-model", str(quantized["checkpoint"]), "--contract", "visomaster", "--out",
                                 str(out), "--quantize", "int8", "--calibration", str(quantized["store"]),
                                 "--calibration-n", "2"])  # fmt: skip
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "agrees with fp32 on" in text and "(bound 99%)" in text and "--calibration" in text and "--force" in text
    assert not out.exists() and not list(tmp_path.glob(".refused*"))


def test_quantize_options_are_checked(quantized: dict[str, Path]) -> None:
    result = runner.invoke(app, ["export-model", str(quantized["checkpoint"]), "--quantize", "int8"])
    assert result.exit_code == 1 and "--calibration STORE" in result.output
    result = runner.invoke(app, ["export-model", str(quantized["checkpoint"]), "--quantize", "int4"])
    assert result.exit_code == 1 and "valid are none and int8" in result.output


def test_missing_onnx_extra_names_the_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)  # as if onnxruntime were not installed
    with pytest.raises(ConfigError, match=r"pip install 'occgen\[onnx\]'"):
        _quantize_static(tmp_path / "in.onnx", tmp_path / "out.onnx", resolve_contract("visomaster"), [])
