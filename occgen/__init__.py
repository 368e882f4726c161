"""occgen: synthetic occlusion data (NatOcc / RandOcc) for occlusion-aware face segmentation.

Data flow: sources (faces, textures, occluders) -> compositor (pure numpy) -> recipes (one sample
from one RNG) -> shards (zarr v3 stores written in parallel with dask) -> readers / trainers.
"""

__version__ = "0.3.0"
