"""Foundations every layer uses: errors, array contracts, image and file I/O (atomic writes in ``files``; content
fingerprints of source files, with their per-user cache, in ``fingerprint``), boxes and letterboxing
(``geometry``), locations of stores and sources (``location``: paths and URLs), names from untrusted input made
into paths (``paths``), RNG streams, params plumbing, label tables (``labels``), landmarks derived from parsing
maps (``landmarks``) and a sample's named targets with the ops that move them (``targets``).

A label that moves with the image (a new kind of map, landmarks, instances) is a ``Target`` of its kind; a new
kind or a new geometric op goes in :mod:`occgen.core.targets`, once per kind. Where other changes go:
docs/architecture.md.
"""
