"""The training and evaluation settings: sections ``train`` (``base.seed`` its default seed) and ``evaluate``."""

from __future__ import annotations

from pathlib import Path

from occgen.core.params import build_config, resolve_paths
from occgen.settings.validate import read_params
from occgen.train.config import EvaluateConfig, TrainConfig


def load_train_config(params_file: Path | None) -> TrainConfig:
    """``TrainConfig`` from the ``train`` section of ``params_file`` (defaults when ``None``).

    ``base.seed`` is the default seed; a relative ``encoder_weights`` path is relative to the file.
    """
    if params_file is None:
        return TrainConfig()
    params, root = read_params(params_file)
    section = dict(params.get("train") or {})
    base_seed = (params.get("base") or {}).get("seed")
    if "seed" not in section and isinstance(base_seed, int):
        section["seed"] = base_seed
    return resolve_paths(build_config(TrainConfig, section, "train"), root)


def load_evaluate_config(params_file: Path | None) -> EvaluateConfig:
    """``EvaluateConfig`` from the ``evaluate`` section of ``params_file`` (defaults when ``None``)."""
    if params_file is None:
        return EvaluateConfig()
    params, root = read_params(params_file)
    return resolve_paths(build_config(EvaluateConfig, params.get("evaluate"), "evaluate"), root)
