"""Key layouts of ResNet-18 encoder checkpoints, mapped onto occgen's encoder (torchvision names).

What a user may have saved locally (nothing is downloaded):

- **torchvision** ``resnet18().state_dict()``: ``conv1``, ``bn1``, ``layer1.0.conv1`` ... ``fc`` (occgen's own names);
- **timm** ``resnet18``: the same names as torchvision (timm kept them), often wrapped as ``{"state_dict": ...}``;
- **Hugging Face** ``microsoft/resnet-18`` (``model.safetensors`` or ``pytorch_model.bin``, a file or the model
  folder): ``resnet.embedder.embedder.convolution`` ... ``resnet.encoder.stages.S.layers.B.layer.I.*``,
  ``...shortcut.*`` and ``classifier.1`` (``ResNetModel`` / ``ResNetBackbone`` drop the ``resnet.`` prefix).

:func:`read_encoder_state` reads any of them as a torchvision-named state dict; the classifier head is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from occgen.core.errors import ConfigError

#: Keys of a classification checkpoint the encoder has no use for (torchvision/timm ``fc``, HF ``classifier``).
CLASSIFIER_PREFIXES = ("fc.", "classifier.")
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

_HF_RULES = (
    (re.compile(r"^embedder\.embedder\.convolution\.(.+)$"), lambda m: f"conv1.{m[1]}"),
    (re.compile(r"^embedder\.embedder\.normalization\.(.+)$"), lambda m: f"bn1.{m[1]}"),
    (
        re.compile(r"^encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.convolution\.(.+)$"),
        lambda m: f"layer{int(m[1]) + 1}.{m[2]}.conv{int(m[3]) + 1}.{m[4]}",
    ),
    (
        re.compile(r"^encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.normalization\.(.+)$"),
        lambda m: f"layer{int(m[1]) + 1}.{m[2]}.bn{int(m[3]) + 1}.{m[4]}",
    ),
    (
        re.compile(r"^encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution\.(.+)$"),
        lambda m: f"layer{int(m[1]) + 1}.{m[2]}.downsample.0.{m[3]}",
    ),
    (
        re.compile(r"^encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization\.(.+)$"),
        lambda m: f"layer{int(m[1]) + 1}.{m[2]}.downsample.1.{m[3]}",
    ),
)


def hf_to_torchvision(key: str) -> str:
    """A Hugging Face ResNet key as torchvision names it (``resnet.`` prefix removed); other keys unchanged."""
    bare = key.removeprefix("resnet.")
    for pattern, rename in _HF_RULES:
        match = pattern.match(bare)
        if match:
            return rename(match)
    return key


def is_hf_layout(keys: list[str]) -> bool:
    return any(k.removeprefix("resnet.").startswith(("embedder.embedder.", "encoder.stages.")) for k in keys)


def _weights_file(path: Path) -> Path:
    """``path`` itself, or the weights file inside a Hugging Face model folder."""
    if not path.is_dir():
        return path
    for name in HF_WEIGHT_FILES:
        if (path / name).is_file():
            return path / name
    raise ConfigError(
        f"encoder weights folder {path} holds none of {', '.join(HF_WEIGHT_FILES)}; pass the weights file itself"
    )


def read_encoder_state(path: Path, read_torch: Callable[[Path, str, str], Any]) -> dict[str, Any]:
    """The tensors of a torchvision, timm or Hugging Face ResNet checkpoint at ``path`` (a ``.safetensors`` or
    torch file, or an HF model folder) under torchvision's names, classifier head dropped. A wrapper
    ``{"state_dict": ...}`` / ``{"model": ...}`` is unwrapped and a ``module.`` prefix removed. ``read_torch``
    reads a torch file (:func:`occgen.train.model.read_torch_file`)."""
    import torch

    path = _weights_file(Path(path))
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise ConfigError(f"encoder weights not found: {path}; pass a saved resnet18 state dict")
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise ConfigError(f"cannot read encoder weights {path}: {error}; pass a .safetensors file") from error
    else:
        state = read_torch(path, "encoder weights", "pass a saved torchvision, timm or HF resnet18 state dict")
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path}: expected a state dict of tensors (torch.save(resnet18().state_dict(), path))")
    state = {str(k).removeprefix("module."): v for k, v in state.items()}
    if is_hf_layout(list(state)):
        state = {hf_to_torchvision(k): v for k, v in state.items()}
    return {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIXES)}
