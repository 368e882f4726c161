"""Train and evaluate face-segmentation models on occgen stores (importing it does not import torch).

Training reads any store or mix through the dataset protocol (:mod:`occgen.store.dataset`), and augments a
sample as named targets (:mod:`occgen.core.targets`), so a new label trains by adding its target; online
training makes samples of any registered recipe (:mod:`occgen.recipes.registry`). Mask flicker on clips:
:mod:`occgen.train.flicker` (``occgen evaluate --clips``).
"""
