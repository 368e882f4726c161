"""Issue 26, the contracts: each exported model called the way its consumer calls it (written from the facts
in occgen/train/model_contracts.py, not from their code) gives the mask of `occgen predict` on the same crop;
facefusion's .hash sidecar; the stated polarity; TorchScript = native ONNX; no asymmetric ConvTranspose."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper
from test_models_export import random_bn_stats
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.core.imageio import read_binary_mask
from occgen.train.architectures import build_model
from occgen.train.export_model import export_onnx
from occgen.train.model_contracts import TEMPLATE_NONE, check_portable_ops, portable_ops_problems, template_metadata
from occgen.train.predict import load_predictor, predict_folder

runner = CliRunner()
TOOL_CONTRACTS = ("facefusion", "visomaster", "xseg")


def synthetic_crop(side: int, seed: int) -> np.ndarray:
    """A smooth uint8 RGB 'face crop': colour gradients and a few blurred discs (no real faces offline)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / side
    image = np.stack([x, y, 1 - x * y], axis=-1) * 200 + 20
    for _ in range(6):
        centre = rng.integers(0, side, 2)
        cv2.circle(image, (int(centre[0]), int(centre[1])), int(rng.integers(side // 10, side // 4)),
                   rng.integers(0, 256, 3).tolist(), -1)  # fmt: skip
    return np.clip(cv2.GaussianBlur(image, (0, 0), 3), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A seeded segformer-tiny checkpoint (input 256), two crops (320² and 256²), `occgen predict`'s masks
    of them, and the model exported with every contract and as TorchScript through `occgen export-model`."""
    root = tmp_path_factory.mktemp("contracts")
    model = random_bn_stats(build_model("segformer-tiny", seed=7), seed=8)
    # Centre the seeded logits on the crop (their median to 0) so that its mask has both classes.
    (head,) = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == 1]
    large = cv2.resize(synthetic_crop(320, 1), (256, 256))
    with torch.inference_mode():
        logits = model(torch.from_numpy(large).permute(2, 0, 1)[None].float() / 255)
        head.bias -= logits.median()
    checkpoint = root / "seeded.pt"
    torch.save({"arch": "segformer-tiny", "epoch": 1, "config": {"input_size": 256, "target": "face"},
                "model": model.state_dict()}, checkpoint)  # fmt: skip
    crops = root / "crops"
    crops.mkdir()
    for name, side, seed in (("large", 320, 1), ("tool", 256, 2)):
        assert cv2.imwrite(str(crops / f"{name}.png"), synthetic_crop(side, seed)[:, :, ::-1])
    result = runner.invoke(app, ["predict", "--model", str(checkpoint), "--src", str(crops), "--out",
                                 str(root / "predicted")])  # fmt: skip
    assert result.exit_code == 0, result.output
    paths = {"checkpoint": checkpoint, "crops": crops, "predicted": root / "predicted"}
    paths["facefusion"] = root / "xseg_1.onnx"  # the user's path, through the CLI (with its card)
    result = runner.invoke(app, ["export-model", str(checkpoint), "--contract", "facefusion", "--out",
                                 str(paths["facefusion"])])  # fmt: skip
    assert result.exit_code == 0, result.output
    for contract in ("native", "visomaster", "xseg"):  # the same function, without the card (time)
        paths[contract] = root / f"{contract}.onnx"
        export_onnx(model, "segformer-tiny", paths[contract], contract=contract, input_size=256)
    paths["torchscript"] = root / "seeded.torchscript.pt"
    result = runner.invoke(app, ["export-model", str(checkpoint), "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    return paths


def crop_bgr(paths: dict[str, Path], name: str) -> np.ndarray:
    return cv2.imread(str(paths["crops"] / f"{name}.png"))  # what OpenCV-based tools hold: BGR uint8


def predicted(paths: dict[str, Path], name: str) -> np.ndarray:
    return read_binary_mask(paths["predicted"] / f"{name}.png").astype(bool)


# --- the consumers, as their source reads (occgen/train/model_contracts.py states the facts) ---------------
def facefusion_face(model: Path, crop: np.ndarray) -> np.ndarray:
    """facefusion: resize to the model's (w, h), BGR / 255 NHWC into the first input, run()[0][0], clip,
    resize back to the crop; its blur and 0.5..1 remap feather the edge, so 1 = face where prob > 0.5."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    size = tuple(session.get_inputs()[0].shape[1:3][::-1])
    x = np.expand_dims(cv2.resize(crop, size), axis=0).astype(np.float32) / 255
    mask = session.run(None, {session.get_inputs()[0].name: x})[0][0].clip(0, 1)
    return cv2.resize(mask, crop.shape[:2][::-1]) > 0.5


def visomaster_keep(model: Path, crop_rgb_256: np.ndarray) -> np.ndarray:
    """VisoMaster: the (3, 256, 256) RGB crop tensor / 255 bound as `img`, output `output` (1, 1, 256, 256), > 0."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = (crop_rgb_256.transpose(2, 0, 1)[None].astype(np.float32) / 255).copy()
    out = session.run(["output"], {"img": x})[0]
    assert out.shape == (1, 1, 256, 256)
    return out[0, 0] > 0


def roop_xseg_restore(model: Path, crop: np.ndarray) -> np.ndarray:
    """roop-unleashed's XSeg plugin: bilinear resize to 256, / 255, [None] (NHWC BGR), first input, [0][0],
    clip, < 0.1 -> 0, then 1 - result: 1 = area to restore (not face)."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = cv2.resize(crop, (256, 256)).astype(np.float32)[None] / 255.0
    result = np.clip(session.run(None, {session.get_inputs()[0].name: x})[0][0], 0, 1.0)
    result[result < 0.1] = 0
    return cv2.resize(1.0 - result, crop.shape[:2][::-1])


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float((a == b).mean())


def test_reference_masks_are_not_trivial(exported: dict[str, Path]) -> None:
    for name in ("large", "tool"):
        assert 0.05 < predicted(exported, name).mean() < 0.95  # both classes, so agreement means something


@pytest.mark.parametrize("name", ["large", "tool"])
def test_facefusion_call_gives_predicts_mask(exported: dict[str, Path], name: str) -> None:
    graph = onnx.load(str(exported["facefusion"]))
    dims = [[d.dim_value for d in v.type.tensor_type.shape.dim] for v in (graph.graph.input[0], graph.graph.output[0])]
    assert [graph.graph.input[0].name, graph.graph.output[0].name] == ["input", "output"]
    assert dims == [[1, 256, 256, 3], [1, 256, 256, 1]]
    face = facefusion_face(exported["facefusion"], crop_bgr(exported, name))
    assert agreement(face, predicted(exported, name)) > 0.995


def test_facefusion_hash_sidecar_is_crc32_of_the_file(exported: dict[str, Path]) -> None:
    model = exported["facefusion"]
    sidecar = model.with_name("xseg_1.hash")  # facefusion: <file name without extension>.hash, same folder
    text = sidecar.read_bytes()
    assert text == format(zlib.crc32(model.read_bytes()), "08x").encode() and len(text) == 8  # no newline
    card = json.loads(Path(f"{model}.card.json").read_text())
    assert card["export"]["hash_sidecar"] == {"path": "xseg_1.hash", "crc32": text.decode()}


def test_visomaster_call_gives_predicts_mask(exported: dict[str, Path]) -> None:
    session = ort.InferenceSession(str(exported["visomaster"]), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("img", [1, 3, 256, 256])]
    rgb = cv2.cvtColor(crop_bgr(exported, "tool"), cv2.COLOR_BGR2RGB)
    assert agreement(visomaster_keep(exported["visomaster"], rgb), predicted(exported, "tool")) > 0.995
    assert not exported["visomaster"].with_suffix(".hash").exists()


@pytest.mark.parametrize("name", ["large", "tool"])
def test_xseg_polarity_is_stated_and_holds(exported: dict[str, Path], name: str) -> None:
    session = ort.InferenceSession(str(exported["xseg"]), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape, out.name, out.shape) == ("in_face:0", [1, 256, 256, 3], "out_mask:0", [1, 256, 256, 1])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["occgen_polarity"].startswith("1 = face") and "invert" in meta["occgen_polarity"]
    assert (meta["occgen_layout"], meta["occgen_colour_order"], meta["occgen_output"]) == ("NHWC", "BGR", "probability")
    restore = roop_xseg_restore(exported["xseg"], crop_bgr(exported, name))  # the inverting consumer
    face = predicted(exported, name)
    assert agreement(restore < 0.5, face) > 0.995
    assert restore[face].mean() < 0.5 < restore[~face].mean()  # inverted: low on the face, high off it


@pytest.mark.parametrize("contract", ["native", *TOOL_CONTRACTS])
def test_occgen_predict_reads_every_contract(exported: dict[str, Path], contract: str, tmp_path: Path) -> None:
    predict_folder(load_predictor(exported[contract]), exported["crops"], tmp_path)
    for name in ("large", "tool"):
        ours = read_binary_mask(tmp_path / f"{name}.png").astype(bool)
        assert agreement(ours, predicted(exported, name)) > 0.995
    assert "ConvTranspose" not in check_portable_ops(exported[contract])  # the check, on every contract's file
    meta = ort.InferenceSession(str(exported[contract])).get_modelmeta().custom_metadata_map
    assert meta["occgen_contract"] == contract and meta["occgen_input_size"] == "256"
    stated = {"occgen_layout", "occgen_colour_order", "occgen_value_range", "occgen_polarity", "occgen_template"}
    assert stated <= set(meta)
    assert meta["occgen_template"] == TEMPLATE_NONE  # the seeded checkpoint's config has no train.crops
    if contract == "facefusion":
        card = Path(f"{exported[contract]}.card.md").read_text()
        assert "Input contract: facefusion" in card and meta["occgen_polarity"] in card and "CRC32" in card


def test_torchscript_equals_native_onnx(exported: dict[str, Path]) -> None:
    files = {"occgen.json": ""}
    module = torch.jit.load(str(exported["torchscript"]), _extra_files=files)
    meta = json.loads(files["occgen.json"])
    native = ort.InferenceSession(str(exported["native"]))
    onnx_meta = native.get_modelmeta().custom_metadata_map
    assert {k: meta[k] for k in ("occgen_contract", "occgen_layout", "occgen_polarity")} == {
        k: onnx_meta[k] for k in ("occgen_contract", "occgen_layout", "occgen_polarity")
    }
    x = np.random.default_rng(5).random((1, 3, 256, 256), dtype=np.float32)
    with torch.inference_mode():
        scripted = module(torch.from_numpy(x)).numpy()
    assert scripted.shape == (1, 1, 256, 256)
    assert np.abs(scripted - native.run(None, {"input": x})[0]).max() < 1e-4
    other = np.random.default_rng(6).random((2, 3, 128, 96), dtype=np.float32)  # traced at 1x256x256
    with torch.inference_mode():
        scripted = module(torch.from_numpy(other)).numpy()
    assert meta["occgen_fixed"] == "false" and scripted.shape == (2, 1, 128, 96)
    assert np.abs(scripted - native.run(None, {"input": other})[0]).max() < 1e-4
    assert Path(f"{exported['torchscript']}.card.json").is_file()


def test_face_tool_name_still_means_facefusion(exported: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "xseg_2.onnx"
    result = runner.invoke(app, ["export-model", str(exported["checkpoint"]), "--contract", "face-tool", "--out",
                                 str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ort.InferenceSession(str(out)).get_modelmeta().custom_metadata_map["occgen_contract"] == "facefusion"
    assert (tmp_path / "xseg_2.hash").read_text() == format(zlib.crc32(out.read_bytes()), "08x")
    result = runner.invoke(app, ["export-model", str(exported["checkpoint"]), "--contract", "roop"])
    assert result.exit_code == 1 and "valid: native, facefusion, visomaster, xseg, face-tool" in result.output


def test_exports_state_the_crop_templates_of_training(exported: dict[str, Path], tmp_path: Path) -> None:
    """`train --crops ffhq_512:2,arcface_128` records train.crops in the checkpoint's config; every export
    (ONNX of each contract, TorchScript) states those templates, so a consumer knows the framing expected."""
    info = torch.load(exported["checkpoint"], weights_only=False)
    crops = {"templates": ["ffhq_512", "arcface_128"], "weights": [2.0, 1.0], "pixel_boost_p": 0.25,
             "pixel_boost_range_px": [512, 1024], "channel_swap_p": 0.5}  # fmt: skip
    info["config"] = {**info["config"], "crops": crops}
    checkpoint = tmp_path / "cropped.pt"
    torch.save(info, checkpoint)
    onnx_path = tmp_path / "xseg_3.onnx"
    result = runner.invoke(app, ["export-model", str(checkpoint), "--contract", "facefusion", "--out", str(onnx_path)])
    assert result.exit_code == 0, result.output
    meta = ort.InferenceSession(str(onnx_path)).get_modelmeta().custom_metadata_map
    assert meta["occgen_template"] == "ffhq_512:2,arcface_128:1"
    assert json.loads(meta["occgen_crops"]) == crops
    assert "crop template: ffhq_512:2,arcface_128:1" in Path(f"{onnx_path}.card.md").read_text()
    result = runner.invoke(app, ["export-model", str(checkpoint), "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    files = {"occgen.json": ""}
    torch.jit.load(str(checkpoint.with_suffix(".torchscript.pt")), _extra_files=files)
    assert json.loads(files["occgen.json"])["occgen_template"] == "ffhq_512:2,arcface_128:1"


def test_template_metadata_reads_the_crops_section() -> None:
    equal = template_metadata({"templates": ["mtcnn_512", "dfl_whole_face"], "weights": []})
    assert equal["occgen_template"] == "mtcnn_512,dfl_whole_face"  # the names alone, as `train --crops` takes them
    assert template_metadata(None)["occgen_template"] == TEMPLATE_NONE
    assert template_metadata({"templates": [], "channel_swap_p": 0.5})["occgen_template"] == TEMPLATE_NONE
    with pytest.raises(ConfigError, match="2 template\\(s\\) but 1 weight"):
        template_metadata({"templates": ["ffhq_512", "arcface_128"], "weights": [1.0]})


def conv_transpose_model(pads: list[int]) -> onnx.ModelProto:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 2, 2], [1.0] * 4)
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", strides=[2, 2], pads=pads)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])  # fmt: skip
    return helper.make_model(graph)


def test_asymmetric_conv_transpose_is_refused(tmp_path: Path) -> None:
    assert portable_ops_problems(conv_transpose_model([0, 0, 0, 0])) == []
    assert portable_ops_problems(conv_transpose_model([1, 1, 1, 1])) == []
    asymmetric = tmp_path / "asymmetric.onnx"
    onnx.save(conv_transpose_model([0, 0, 1, 1]), str(asymmetric))
    with pytest.raises(ConfigError, match="ConvTranspose up has asymmetric padding"):
        check_portable_ops(asymmetric)


@pytest.mark.parametrize(
    "arch",
    ["unet-resnet18", "segformer-tiny", pytest.param("upernet-tiny", marks=pytest.mark.slow)],
)
def test_every_architecture_exports_portable_ops(tmp_path: Path, arch: str) -> None:
    """The check runs inside every export; the graphs hold no ConvTranspose at all (the decoders resize).
    What keeps onnxruntime fast on them (docs/models.md, "Why the U-Net stays near 1.4x"): every BatchNorm is
    folded into its Conv at export, and each upsampling is one bilinear half-pixel Resize (align_corners=False)."""
    path = tmp_path / f"{arch}.onnx"
    record = export_onnx(build_model(arch, seed=0).eval(), arch, path, contract="native", input_size=64)
    assert "ConvTranspose" not in record["ops"] and "Resize" in record["ops"]
    assert check_portable_ops(path) == record["ops"]
    assert "BatchNormalization" not in record["ops"]
    for node in (n for n in onnx.load(str(path)).graph.node if n.op_type == "Resize"):
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        assert (attributes["mode"], attributes["coordinate_transformation_mode"]) == (b"linear", b"half_pixel")
