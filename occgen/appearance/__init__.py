"""Appearance of an occluder on a face: sliced-OT colour transfer and harmonisers (RainNet, lab-stats)."""
