"""Train and evaluate face-segmentation models on occgen stores (importing it does not import torch).

Training reads any store or mix through the dataset protocol (:mod:`occgen.store.dataset`), and augments a
sample as named targets (:mod:`occgen.core.targets`), so a new label trains by adding its target; online
training makes samples of any registered recipe (:mod:`occgen.recipes.registry`). A run stops at an epoch
count or at a step / sample budget (:mod:`occgen.train.trainer`); :mod:`occgen.train.table` trains and
scores several training conditions alike (``occgen table``). Evaluation reads real-occlusion
benchmarks in their released layouts (:mod:`occgen.train.benchmarks`) and reports IoUs, Boundary IoU and scores
per occluder type and face size (:mod:`occgen.train.metrics`). Mask flicker on clips:
:mod:`occgen.train.flicker` (``occgen evaluate --clips``); training on pairs of clip frames with a
temporal-consistency loss: :mod:`occgen.train.clip_pairs` (``occgen train --clips``). Whether bf16 autocast has
hardware behind it on this CPU: :mod:`occgen.train.speed` (docs/training.md, "Speed").
"""
