"""Runtime readers behind one registry: faces, textures, random shapes, matted hands, object cut-outs, FaceOcc.

A new occluder source is a class implementing :class:`occgen.sources.occluder.OccluderSource` and one entry in
:mod:`occgen.sources.registry`; source folders at URLs are copied once per machine
(:mod:`occgen.sources.folder_cache`). Where other changes go: docs/architecture.md.
"""
