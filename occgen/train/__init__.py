"""Training and evaluation of a face-segmentation baseline on occgen stores (issue 6).

Data flow: zarr stores (:mod:`occgen.store`) -> :mod:`occgen.train.data` (Dataset, shard-friendly
sampler, augmentation) -> :mod:`occgen.train.model` (ResNet-18 U-Net) trained with
:mod:`occgen.train.loss` (BCE + OHEM) by :mod:`occgen.train.trainer`; :mod:`occgen.train.evaluate`
scores checkpoints or mask folders with :mod:`occgen.train.metrics` (pure numpy).

Importing this package does not import torch; the metrics work without it.
"""
