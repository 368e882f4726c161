"""Train and evaluate face-segmentation models on occgen stores (importing it does not import torch)."""
