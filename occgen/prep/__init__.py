"""Offline preparation: turn the datasets (CelebAMask-HQ, 11k Hands, COCO) into face and cut-out folders."""
