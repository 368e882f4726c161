"""Data sources: faces (with visible-face masks), textures and occluders, each read from its dataset's
own on-disk layout. Everything downstream sees contract arrays (:mod:`occgen.arrays`) and string ids.
"""
