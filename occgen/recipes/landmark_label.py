"""Which landmark scheme a store's ``landmarks`` label holds (issue 25): the parsing-derived ``occgen-parsing-13``
points (``derived``, the default) or the face source's own scheme (``source``: the ``ibug-68`` or ``five-point``
files beside the faces, :mod:`occgen.sources.landmark_files`).

Where it sits: the recipes layer. A recipe with ``landmark_scheme: source`` checks every face once, before the
store exists (:func:`source_scheme`): each must have a landmark file, all of one scheme (a store holds one ``K``);
each sample's label sources then give the face's own points (:func:`with_source_landmarks`), which the
``landmarks`` and ``landmark_visible`` arrays are built from (:mod:`occgen.recipes.labels`). The card names the
scheme, its points and its mirror permutation (:func:`occgen.core.labels.label_card`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from occgen.core.errors import ConfigError
from occgen.core.landmark_schemes import LandmarkScheme
from occgen.recipes.base import Sample
from occgen.recipes.labels import LabelSources

#: ``derived``: occgen-parsing-13 from the face's parsing map (every face has it); ``source``: the face's own file.
LANDMARK_SCHEME_CHOICES = ("derived", "source")


def check_scheme_choice(value: str, key: str) -> None:
    """Refuse a ``landmark_scheme`` value that is not one of :data:`LANDMARK_SCHEME_CHOICES` (``key``: its name)."""
    if value not in LANDMARK_SCHEME_CHOICES:
        raise ConfigError(f"{key} must be one of {', '.join(LANDMARK_SCHEME_CHOICES)}, got {value!r}")


def source_scheme(faces: Any, size: int, key: str) -> LandmarkScheme:
    """The one scheme of every face's own landmarks in ``faces`` (a face source with ``load_landmarks``), read
    at ``size``; a face without a landmark file, or a second scheme, raises naming the face (``key``: the
    setting to change)."""
    loader = getattr(faces, "load_landmarks", None)
    if loader is None:
        raise ConfigError(f"{key} is source but the face source {type(faces).__name__} has no landmark files; "
                          f"use a face folder with landmarks/<stem>.txt or .pts beside images/, or set {key}: derived")
    first: tuple[str, LandmarkScheme] | None = None
    for index in range(len(faces)):
        own = loader(index, size)
        face = faces.face_id(index)
        if own is None:
            raise ConfigError(f"{key} is source but face {face} has no landmark file of 5 or 68 points "
                              f"(landmarks/<stem>.txt or .pts); give it one, or set {key}: derived")  # fmt: skip
        if first is None:
            first = (face, own.scheme)
        elif own.scheme.name != first[1].name:
            raise ConfigError(
                f"{key} is source but face {face} has {own.scheme.name} landmarks and face {first[0]} has "
                f"{first[1].name}: a store holds one landmark scheme; give every face the same scheme's file, or "
                f"set {key}: derived"
            )
    if first is None:
        raise ConfigError(f"{key} is source but the face set is empty")
    return first[1]


def with_source_landmarks(sample: Sample, faces: Any, face_index: int, size: int) -> Sample:
    """``sample`` whose label sources give face ``face_index``'s own landmarks (read when a label asks for them)
    instead of deriving them from its parsing map. The face is not moved (NatOcc), so its points stay put."""
    labels = sample.labels
    if not isinstance(labels, LabelSources):
        return sample

    def points() -> Any:
        own = faces.load_landmarks(face_index, size)
        if own is None:  # checked for every face before the store was made (source_scheme)
            raise ConfigError(f"face {faces.face_id(face_index)} lost its landmark file during the run")
        return own.points

    return replace(sample, labels=replace(labels, face_landmarks=points))
