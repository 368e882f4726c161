"""Configs of the training and evaluation stages (``params.yaml`` sections ``train`` and ``evaluate``).

Kept free of torch so that validating a params file (which every stage does first) stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from occgen.core.alignment import TEMPLATES
from occgen.core.errors import ConfigError

DEVICES = ("cpu", "cuda")
#: Config fields that may change between a run and its resume (how it runs, not what it learns).
RESUMABLE_CHANGES = ("epochs", "workers", "device", "checkpoint_every", "channels_last", "steps", "max_samples",
                     "checkpoint_every_steps")


DTYPES = ("fp32", "bf16")
#: Segmentation architectures (built in occgen.train.architectures); the tiny ones are for tests and demos.
ARCHITECTURES = ("unet-resnet18", *(f"segformer-b{i}" for i in range(6)), "upernet-resnet50", "segformer-tiny",
                 "upernet-tiny")  # fmt: skip
DEFAULT_ARCH = "unet-resnet18"
#: Names written by older occgen versions -> today's names.
LEGACY_ARCHES = {"resnet18-unet": "unet-resnet18"}


@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    """Training augmentation. Photometric ranges follow MMSegmentation's ``PhotoMetricDistortion``
    defaults (the NatOcc experiments ran in MMSegmentation); each photometric op applies with ``photometric_p``."""

    enabled: bool = True
    flip_p: float = 0.5
    rotate_p: float = 0.5
    rotation_range_deg: tuple[float, float] = (-30.0, 30.0)
    photometric_p: float = 0.5
    brightness_delta_range: tuple[float, float] = (-32.0, 32.0)
    contrast_range: tuple[float, float] = (0.5, 1.5)
    saturation_range: tuple[float, float] = (0.5, 1.5)
    hue_delta_range_deg: tuple[float, float] = (-18.0, 18.0)

    def __post_init__(self) -> None:
        for name in ("flip_p", "rotate_p", "photometric_p"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"train.augment.{name} must be in [0, 1], got {value}")
        for name in ("rotation_range_deg", "brightness_delta_range", "contrast_range", "saturation_range",
                     "hue_delta_range_deg"):  # fmt: skip
            low, high = getattr(self, name)
            if low > high:
                raise ConfigError(f"train.augment.{name} must be [low, high] with low <= high, got {[low, high]}")
        if self.contrast_range[0] < 0 or self.saturation_range[0] < 0:
            raise ConfigError("train.augment contrast_range and saturation_range must be >= 0")


@dataclass(frozen=True, kw_only=True)
class CropConfig:
    """Training-time re-framing (issue 26, :mod:`occgen.train.crops`): each sample is re-aligned by its five
    points to one of ``templates`` (:data:`occgen.core.alignment.TEMPLATES`), drawn with ``weights`` (empty:
    equal), cut at the input size or, with ``pixel_boost_p``, at a side drawn from ``pixel_boost_range_px`` and
    resized to the input size; ``channel_swap_p``: the image is given in BGR order instead of RGB."""

    templates: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    pixel_boost_p: float = 0.0
    pixel_boost_range_px: tuple[int, int] = (512, 1024)
    channel_swap_p: float = 0.0

    def __post_init__(self) -> None:
        unknown = [name for name in self.templates if name not in TEMPLATES]
        checks = [
            (not unknown, f"train.crops.templates: unknown template {unknown[0] if unknown else ''!r}; "
                          f"valid: {', '.join(TEMPLATES)}"),
            (len(set(self.templates)) == len(self.templates), "train.crops.templates: a template is named twice"),
            (not self.weights or (len(self.weights) == len(self.templates) and min(self.weights) >= 0
                                  and sum(self.weights) > 0),
             "train.crops.weights: give one non-negative weight per template (not all 0), or none"),
            (0.0 <= self.pixel_boost_p <= 1.0,
             f"train.crops.pixel_boost_p must be in [0, 1], got {self.pixel_boost_p}"),
            (32 <= self.pixel_boost_range_px[0] <= self.pixel_boost_range_px[1],
             f"train.crops.pixel_boost_range_px must be [low, high] with 32 <= low <= high, "
             f"got {list(self.pixel_boost_range_px)}"),
            (0.0 <= self.channel_swap_p <= 1.0,
             f"train.crops.channel_swap_p must be in [0, 1], got {self.channel_swap_p}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @property
    def enabled(self) -> bool:
        """True when samples are re-framed or their channel order may change."""
        return bool(self.templates) or self.channel_swap_p > 0


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Section ``train`` of params.yaml."""

    arch: str = DEFAULT_ARCH  # see ARCHITECTURES
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-4
    lr_drop_epoch: int = 20  # epochs 1..lr_drop_epoch use lr, later ones lr_after_drop
    lr_after_drop: float = 1e-5
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    input_size: int = 256
    ohem_threshold: float = 0.7  # keep pixels whose true-class probability is below this
    min_kept: int = 100_000  # ... and at least this many pixels per batch
    seed: int = 0
    workers: int = 2  # DataLoader worker processes (0 = in the main process)
    device: str = "cpu"
    # Local encoder weights, loaded strictly: a torchvision resnet18 state dict (unet-resnet18), a copy of
    # nvidia/mit-bX (segformer-*) or microsoft/resnet-50 (upernet-resnet50), folder or weights file.
    encoder_weights: Path | None = None
    checkpoint_every: int = 1
    # A budget that fits a comparison (issue 24): stop after this many optimizer steps (or training samples,
    # rounded up to whole batches), wherever it falls in an epoch; `epochs` is then only an upper bound.
    steps: int | None = None
    max_samples: int | None = None
    checkpoint_every_steps: int = 0  # also write step_NNNNNN.pt every N steps (0: at epoch ends only)
    channels_last: bool = False  # NHWC memory format: faster on CPU (benchmarks/bench_train.py)
    bf16: bool = False  # bf16 autocast for the forward pass (weights, loss and optimizer stay fp32)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    crops: CropConfig = field(default_factory=CropConfig)  # template crops and channel order (issue 26)
    # face: binary visible-face segmentation (BCE + OHEM); parsing: the stores' `parsing` label, 23 classes of
    # occgen/core/labels.py (softmax cross-entropy + OHEM, occgen/train/multiclass.py).
    target: str = "face"
    class_weights: tuple[float, ...] | None = None  # parsing: one weight per class, in PARSING_CLASSES order

    def __post_init__(self) -> None:
        checks = [
            (self.arch in ARCHITECTURES, f"train.arch must be one of {', '.join(ARCHITECTURES)}, got {self.arch!r}"),
            (self.target in ("face", "parsing"), f"train.target must be face or parsing, got {self.target!r}"),
            (self.class_weights is None or (self.target == "parsing" and len(self.class_weights) == 23
                                            and min(self.class_weights) >= 0),
             "train.class_weights needs target parsing and 23 non-negative weights (occgen/core/labels.py order)"),
            (self.epochs >= 1, f"train.epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"train.batch_size must be >= 1, got {self.batch_size}"),
            (self.batch_size >= 2 or not self.arch.startswith("upernet"),
             "train.batch_size must be >= 2 for UperNet (BatchNorm after its global pooling)"),
            (self.lr > 0 and self.lr_after_drop > 0, "train.lr and train.lr_after_drop must be > 0"),
            (self.lr_drop_epoch >= 0, f"train.lr_drop_epoch must be >= 0, got {self.lr_drop_epoch}"),
            (self.weight_decay >= 0, f"train.weight_decay must be >= 0, got {self.weight_decay}"),
            (self.input_size >= 32 and self.input_size % 32 == 0,
             f"train.input_size must be a positive multiple of 32 (e.g. 256 or 512), got {self.input_size}"),
            (0 < self.ohem_threshold <= 1, f"train.ohem_threshold must be in (0, 1], got {self.ohem_threshold}"),
            (self.min_kept >= 0, f"train.min_kept must be >= 0, got {self.min_kept}"),
            (self.seed >= 0, f"train.seed must be >= 0, got {self.seed}"),
            (self.workers >= 0, f"train.workers must be >= 0, got {self.workers}"),
            (self.device in DEVICES, f"train.device must be one of {', '.join(DEVICES)}, got {self.device!r}"),
            (self.checkpoint_every >= 1, f"train.checkpoint_every must be >= 1, got {self.checkpoint_every}"),
            (self.steps is None or self.steps >= 1, f"train.steps must be >= 1 (or null), got {self.steps}"),
            (self.max_samples is None or self.max_samples >= 1,
             f"train.max_samples must be >= 1 (or null), got {self.max_samples}"),
            (self.steps is None or self.max_samples is None,
             "train.steps and train.max_samples are two ways to set one budget: give one of them"),
            (self.checkpoint_every_steps >= 0,
             f"train.checkpoint_every_steps must be >= 0, got {self.checkpoint_every_steps}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @property
    def step_budget(self) -> int | None:
        """Optimizer steps to run in all (``steps``, or ``max_samples`` in whole batches); None: ``epochs``."""
        if self.max_samples is not None:
            return -(-self.max_samples // self.batch_size)
        return self.steps

    def lr_at(self, epoch: int) -> float:
        """Learning rate of 1-based ``epoch``."""
        return self.lr if epoch <= self.lr_drop_epoch else self.lr_after_drop


@dataclass(frozen=True, kw_only=True)
class ClipTrainConfig:
    """``occgen train --clips`` (issue 27, :mod:`occgen.train.clip_pairs`): train on pairs of consecutive frames
    of clip stores, adding ``weight`` (``--clip-weight``) x the temporal-consistency loss to the OHEM BCE."""

    weight: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight < float("inf"):
            raise ConfigError(f"--clip-weight must be a finite number >= 0, got {self.weight}")


@dataclass(frozen=True, kw_only=True)
class EvaluateConfig:
    """Section ``evaluate`` of params.yaml: how `occgen evaluate` runs (command-line options win)."""

    batch_size: int = 8
    input_size: int | None = None  # None: the checkpoint's training input size
    device: str = "cpu"
    dtype: str = "fp32"  # fp32 | bf16 (autocast)
    channels_last: bool = False
    threshold: float = 0.5  # --pred: a grey mask is face where value / 255 >= threshold
    worst: int = 8  # images in worst.png
    fps_iterations: int = 10  # batches timed for FPS; 0 skips the measurement

    def __post_init__(self) -> None:
        checks = [
            (self.batch_size >= 1, f"evaluate.batch_size must be >= 1, got {self.batch_size}"),
            (self.input_size is None or (self.input_size >= 32 and self.input_size % 32 == 0),
             f"evaluate.input_size must be a positive multiple of 32, got {self.input_size}"),
            (self.device in ("cpu", "cuda"), f"evaluate.device must be cpu or cuda, got {self.device!r}"),
            (self.dtype in DTYPES, f"evaluate.dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}"),
            (0.0 <= self.threshold <= 1.0, f"evaluate.threshold must be in [0, 1], got {self.threshold}"),
            (self.worst >= 0, f"evaluate.worst must be >= 0, got {self.worst}"),
            (self.fps_iterations >= 0, f"evaluate.fps_iterations must be >= 0, got {self.fps_iterations}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
