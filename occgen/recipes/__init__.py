"""Recipes that make one sample from one RNG: RandOcc, NatOcc, clean faces (the Sample type)."""
