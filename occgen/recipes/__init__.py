"""Recipes that make one sample from one RNG: RandOcc, NatOcc, FaceOcc, clean faces (the Sample type).

:mod:`occgen.recipes.registry` names them (params section, config class, builder): a new recipe is a
module here plus one ``register_recipe`` entry, and nothing outside this package changes (docs/extending.md).
Clips (docs/clips.md): :mod:`occgen.recipes.clips` renders frames of a recipe that splits a sample into
``draw`` and render (:mod:`occgen.recipes.drawn`), with a motion from :mod:`occgen.recipes.motion`.
"""
