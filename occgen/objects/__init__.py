"""NatOcc objects (paper section 3.1-3.2): COCO occluder extraction (:mod:`.coco`), super-resolution of
the cut-outs (:mod:`.upscale`), and harmonisation of a composited object with its face (:mod:`.rainnet`,
:mod:`.harmonise`). Torch is imported only by the modules that need it.
"""
