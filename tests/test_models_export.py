"""Models out of occgen (issue 16): ONNX export (native and face-tool contracts) against torch, model
cards, weights-only checkpoints, and `occgen predict` against `occgen evaluate`'s own predictions."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from test_train_run import demo_store
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.core.imageio import read_binary_mask, read_image
from occgen.run.export import export_store
from occgen.train.architectures import build_model
from occgen.train.evaluate import predict_batch
from occgen.train.export_model import export_onnx, onnx_session
from occgen.train.predict import letterbox, load_predictor, predict_folder
from occgen.train.trainer import load_checkpoint

runner = CliRunner()


def random_bn_stats(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics, so that the exported graph's folding of them is exercised."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


def assert_onnx_matches_torch(session: object, model: torch.nn.Module, shapes: list[tuple[int, ...]]) -> None:
    """onnxruntime's logits equal torch's within 1e-4 on random inputs of each shape."""
    generator = torch.Generator().manual_seed(3)
    for shape in shapes:
        x = torch.rand(*shape, generator=generator)
        with torch.inference_mode():
            expected = model(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]  # type: ignore[attr-defined]
        assert got.shape == expected.shape == (shape[0], 1, *shape[2:])
        assert np.abs(got - expected).max() < 1e-4


@pytest.mark.parametrize(
    ("arch", "shapes"),
    [
        ("segformer-tiny", [(1, 3, 64, 64), (2, 3, 128, 96)]),
        # Fixed size (UperNet's pyramid pooling); the dynamo exporter takes about 10 s.
        pytest.param("upernet-tiny", [(1, 3, 64, 64), (3, 3, 64, 64)], marks=pytest.mark.slow),
    ],
)
def test_native_onnx_equals_torch(tmp_path: Path, arch: str, shapes: list[tuple[int, ...]]) -> None:
    model = random_bn_stats(build_model(arch, seed=1), seed=2)
    path = tmp_path / f"{arch}.onnx"
    record = export_onnx(model, arch, path, contract="native", input_size=64)
    assert record["check"]["max_abs_diff_vs_torch"] < 1e-4
    session = onnx_session(path)
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("input", "logits")
    fixed = arch.startswith("upernet")
    assert inp.shape == (["N", 3, 64, 64] if fixed else ["N", 3, "H", "W"]) and out.shape[1] == 1
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["occgen_arch"] == arch and meta["occgen_fixed"] == str(fixed).lower()
    assert_onnx_matches_torch(session, model, shapes)


def test_face_tool_contract_is_facefusions_occluder(tmp_path: Path) -> None:
    model = random_bn_stats(build_model("segformer-tiny", seed=4), seed=5)
    path = tmp_path / "xseg_1.onnx"
    export_onnx(model, "segformer-tiny", path, contract="face-tool")
    graph = onnx.load(str(path))
    dims = [[d.dim_value for d in v.type.tensor_type.shape.dim] for v in (graph.graph.input[0], graph.graph.output[0])]
    assert [v.name for v in graph.graph.input] == ["input"] and dims == [[1, 256, 256, 3], [1, 256, 256, 1]]
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    # What facefusion feeds: the BGR crop / 255, NHWC; what it reads: run()[0][0], (256, 256, 1) in [0, 1].
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    mask = onnx_session(path).run(None, {"input": bgr[None].astype(np.float32) / 255.0})[0][0]
    with torch.inference_mode():
        expected = torch.sigmoid(model(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0))[0, 0].numpy()
    assert mask.shape == (256, 256, 1) and 0.0 <= mask.min() and mask.max() <= 1.0
    assert np.abs(mask[:, :, 0] - expected).max() < 1e-4


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A one-epoch unet-resnet18 on six demo-derived 64² samples, those samples as a folder dataset,
    `occgen evaluate`'s report on them and the model exported with `occgen export-model` (native ONNX)."""
    root = tmp_path_factory.mktemp("trained")
    store = demo_store(root / "demo.zarr", n=6)
    result = runner.invoke(app, ["train", "--data", str(store), "--out", str(root / "run"), "--epochs", "1",
                                 "--batch-size", "2", "--input-size", "64", "--workers", "1", "--no-augment"])
    assert result.exit_code == 0, result.output
    checkpoint = root / "run" / "epoch_001.pt"
    export_store(store, root / "folder", format="folder", workers=1)
    result = runner.invoke(app, ["evaluate", "--model", str(checkpoint), "--data", str(root / "folder"), "--out",
                                 str(root / "eval"), "--fps-iterations", "0", "--worst", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export-model", str(checkpoint), "--out", str(root / "m.onnx"), "--metrics",
                                 str(root / "eval" / "summary.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    return {"checkpoint": checkpoint, "folder": root / "folder", "summary": root / "eval" / "summary.json",
            "onnx": root / "m.onnx"}  # fmt: skip


def test_unet_native_onnx_equals_torch_at_other_sizes(trained: dict[str, Path]) -> None:
    """The CLI export of the trained unet-resnet18 (traced at 64², batch 2) at other batch sizes and sizes."""
    model, _ = load_checkpoint(trained["checkpoint"])
    session = onnx_session(trained["onnx"])
    assert session.get_inputs()[0].shape == ["N", 3, "H", "W"]
    assert_onnx_matches_torch(session, model, [(1, 3, 64, 64), (3, 3, 96, 128)])


def test_export_model_card_and_weights_only_checkpoint(tmp_path: Path, trained: dict[str, Path]) -> None:
    checkpoint, onnx_path = trained["checkpoint"], trained["onnx"]
    card = json.loads(Path(f"{onnx_path}.card.json").read_text())
    assert card["architecture"] == "unet-resnet18" and card["export"]["contract"]["name"] == "native"
    assert card["export"]["check"]["max_abs_diff_vs_torch"] < 1e-4 and card["bytes"] == onnx_path.stat().st_size
    (store,) = card["training"]["stores"]
    assert store["n"] == 6 and len(store["digest"]) == 16 and store["licences"]["faces"]
    logged = json.loads((checkpoint.parent / "metrics.json").read_text())  # the trainer's own record of epoch 1
    assert card["metrics"]["training_epoch"]["epoch"] == 1.0
    assert card["metrics"]["training_epoch"]["loss"] == pytest.approx(float(logged["loss"]), rel=1e-6)
    evaluation = json.loads(trained["summary"].read_text())
    assert card["metrics"]["evaluations"][0]["face_iou"] == evaluation["face_iou"]
    markdown = Path(f"{onnx_path}.card.md").read_text()
    assert "`unet-resnet18`" in markdown and store["digest"] in markdown and "face_iou" in markdown

    shared = tmp_path / "shared.pt"
    result = runner.invoke(app, ["export-model", str(checkpoint), "--format", "pt", "--out", str(shared), "--fp16"])
    assert result.exit_code == 0, result.output
    content = torch.load(shared, weights_only=True)
    assert "optimizer" not in content and content["weights_dtype"] == "fp16"
    assert shared.stat().st_size < 0.6 * checkpoint.stat().st_size
    last = checkpoint.parent / "last.pt"
    assert "optimizer" in torch.load(last, weights_only=True)  # what the shared file leaves out
    original = load_predictor(checkpoint)
    half = load_predictor(shared)
    batch = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    assert torch.allclose(original.logits(batch), half.logits(batch), atol=0.05)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def test_predict_matches_evaluates_predictions(tmp_path: Path, trained: dict[str, Path]) -> None:
    checkpoint, folder = trained["checkpoint"], trained["folder"]
    out = tmp_path / "pred"
    result = runner.invoke(app, ["predict", "--model", str(checkpoint), "--src", str(folder / "images"), "--out",
                                 str(out), "--batch-size", "4", "--soft", "--overlay"])  # fmt: skip
    assert result.exit_code == 0, result.output
    images = sorted((folder / "images").glob("*.png"))
    assert len(images) == 6
    model, _ = load_checkpoint(checkpoint)
    theirs = predict_batch(model, [read_image(p) for p in images], input_size=64, device=torch.device("cpu"))
    for path, expected in zip(images, theirs, strict=True):
        mask = read_binary_mask(out / f"{path.stem}.png").astype(bool)
        assert mask.shape == expected.shape and iou(mask, expected) == 1.0
        assert read_image(out / "overlay" / f"{path.stem}.jpg").shape == (64, 64, 3)
        soft = cv2.imread(str(out / "soft" / f"{path.stem}.png"), cv2.IMREAD_UNCHANGED)
        assert soft.shape == (64, 64) and soft.dtype == np.uint8
        assert soft[mask].min() >= 127 and soft[~mask].max() <= 128  # probability x 255, rounded
    # The same masks through the exported ONNX model (onnxruntime).
    report = predict_folder(load_predictor(trained["onnx"]), folder / "images", tmp_path / "onnx_pred", batch_size=3)
    assert report.images == 6
    for path, expected in zip(images, theirs, strict=True):
        assert iou(read_binary_mask(tmp_path / "onnx_pred" / f"{path.stem}.png").astype(bool), expected) >= 0.999


def test_non_square_images_are_letterboxed_and_mapped_back(tmp_path: Path, trained: dict[str, Path]) -> None:
    checkpoint, folder = trained["checkpoint"], trained["folder"]
    image = read_image(sorted((folder / "images").glob("*.png"))[0])[:, 8:48]  # 64 high, 40 wide
    square, box = letterbox(image, 64)
    assert square.shape == (64, 64, 3) and (box.side, box.top, box.left) == (64, 0, 12)
    padded = np.zeros((64, 64, 3), np.uint8)
    padded[:, 12:52] = image
    src = tmp_path / "src"
    src.mkdir()
    for name, array in (("narrow", image), ("padded", padded)):
        assert cv2.imwrite(str(src / f"{name}.png"), array[:, :, ::-1])
    predict_folder(load_predictor(checkpoint), src, tmp_path / "out")
    narrow = read_binary_mask(tmp_path / "out" / "narrow.png").astype(bool)
    padded_mask = read_binary_mask(tmp_path / "out" / "padded.png").astype(bool)
    assert narrow.shape == (64, 40)
    assert np.array_equal(narrow, padded_mask[:, 12:52])  # the crop of the letterboxed square's mask


def test_predict_errors(tmp_path: Path, trained: dict[str, Path]) -> None:
    checkpoint, folder = trained["checkpoint"], trained["folder"]
    result = runner.invoke(app, ["predict", "--model", str(tmp_path / "none.onnx"), "--src", str(folder), "--out",
                                 str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1 and "model not found" in result.output
    with pytest.raises(ConfigError, match="masks would overwrite images"):
        predict_folder(load_predictor(checkpoint), folder / "images", folder / "images")
    with pytest.raises(ConfigError, match="multiple of 32"):
        load_predictor(checkpoint, input_size=50)
    parsing = tmp_path / "parsing.pt"
    torch.save({"arch": "unet-resnet18", "epoch": 1, "config": {"input_size": 64, "target": "parsing"},
                "model": build_model("unet-resnet18", seed=0, outputs=23).state_dict()}, parsing)  # fmt: skip
    with pytest.raises(ConfigError, match="drop --soft"):
        predict_folder(load_predictor(parsing), folder / "images", tmp_path / "p", soft=True)
    face_tool = ["export-model", str(parsing), "--contract", "face-tool", "--out", str(tmp_path / "p.onnx")]
    result = runner.invoke(app, face_tool)
    assert result.exit_code == 1 and "exports with --contract native only" in result.output
    depth = tmp_path / "depth.pt"
    torch.save({"arch": "unet-resnet18", "epoch": 1, "config": {"input_size": 64, "target": "depth"},
                "model": build_model("unet-resnet18", seed=0, outputs=1).state_dict()}, depth)  # fmt: skip
    with pytest.raises(ConfigError, match="train.target depth; occgen knows face and parsing"):
        load_predictor(depth)
