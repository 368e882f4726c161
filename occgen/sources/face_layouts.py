"""The registry of face-dataset layouts that ``--faces DIR`` reads in their own on-disk form: each layout's
name (``--faces-format NAME``, params key ``faces.layout``), how it is recognised, its official splits and
the class that reads it.

Where it sits: :func:`occgen.sources.faces.open_faces` asks :func:`detect_layout` which layouts a folder
looks like (more than one is an error that lists them and says to pass ``--faces-format``), then opens the
chosen one with :func:`open_layout`. CelebAMask-HQ, face folders and stores are opened by ``open_faces``
itself; they take part in detection here so that a folder matching two layouts is refused rather than
guessed. Adding a layout: a :class:`~occgen.sources.label_faces.LabelMapFaces` subclass in its family's
module and one entry in :data:`PUBLIC_LAYOUTS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from occgen.core.errors import ConfigError
from occgen.sources.face_common import DEFAULT_FACE_PARTS
from occgen.sources.fasseg import FASSEG, fasseg_versions, looks_like_fasseg
from occgen.sources.label_faces import LabelMapFaces
from occgen.sources.lfw_parts import LFWPartLabels, looks_like_lfw_parts
from occgen.sources.parsing_sets import (
    CelebAMaskChallenge,
    HelenSmith,
    HelenStar,
    IBugMask,
    LaPa,
    looks_like_helen_smith,
    looks_like_helenstar,
    looks_like_ibugmask,
    looks_like_lapa,
    mask_kind,
)


@dataclass(frozen=True)
class FaceLayout:
    """A public face-parsing layout: its reader class and the cheap test that a folder looks like it."""

    source: type[LabelMapFaces]
    detect: Callable[[Path], bool]

    @property
    def name(self) -> str:
        return self.source.layout


PUBLIC_LAYOUTS: dict[str, FaceLayout] = {
    layout.name: layout
    for layout in (
        FaceLayout(LFWPartLabels, looks_like_lfw_parts),
        FaceLayout(FASSEG, looks_like_fasseg),
        FaceLayout(LaPa, looks_like_lapa),
        FaceLayout(HelenStar, looks_like_helenstar),
        FaceLayout(HelenSmith, looks_like_helen_smith),
        FaceLayout(IBugMask, looks_like_ibugmask),
        FaceLayout(CelebAMaskChallenge, lambda root: mask_kind(root) in ("palette", "ids")),
    )
}
#: Every ``faces.layout`` value: ``auto``, the layouts ``open_faces`` reads itself, the public ones.
FACE_LAYOUTS = ("celebamask-hq", "folder", "store", *PUBLIC_LAYOUTS)
#: Split-name spellings accepted beside each layout's own.
SPLIT_ALIASES = {"val": "validation", "validation": "val", "valid": "val"}


def detect_layout(root: Path) -> str:
    """The one layout ``root`` looks like: ``celebamask-hq``, a public layout, else ``folder``. Two or more
    matches raise a :class:`ConfigError` naming them and ``--faces-format``."""
    root = Path(root)
    versions = fasseg_versions(root) if root.is_dir() and not looks_like_fasseg(root) else []
    if versions:
        raise ConfigError(f"{root} is a FASSEG repository with versions {', '.join(versions)}: pass one of them "
                          f"(--faces {root / versions[-1]})")  # fmt: skip
    matches = [name for name, layout in PUBLIC_LAYOUTS.items() if layout.detect(root)]
    if (root / "CelebA-HQ-img").is_dir():
        matches.insert(0, "celebamask-hq")
    if (root / "images").is_dir() and (root / "masks").is_dir() and mask_kind(root) in ("binary", "ids"):
        matches.append("folder")
    if len(matches) > 1:
        hint = ""
        if set(matches) == {"folder", "celebamask-challenge"}:
            hint = " (its masks hold class ids other than 0/1/255: challenge label maps, or broken binary masks?)"
        raise ConfigError(f"{root} looks like several face layouts: {', '.join(matches)}{hint}; pass "
                          f"--faces-format NAME (params faces.layout) with one of them")  # fmt: skip
    return matches[0] if matches else "folder"


def resolve_split(layout: str, split: Path | str | None) -> tuple[str | None, Path | None]:
    """``--split`` for a public layout: ``(official split name, None)`` when ``split`` is not an existing
    file and its last path part names one of the layout's splits (``val`` and ``validation`` are one),
    ``(None, file of ids)`` for a file, ``(None, None)`` for none. Anything else raises."""
    if split is None:
        return None, None
    if Path(split).is_file():
        return None, Path(split)
    splits = PUBLIC_LAYOUTS[layout].source.splits
    name = Path(split).name
    name = name if name in splits else SPLIT_ALIASES.get(name, name)
    if name in splits:
        return name, None
    raise ConfigError(f"--split {split}: not a file of face ids, and {layout} has the splits {', '.join(splits)}")


def open_layout(
    layout: str, root: object, split: Path | str | None = None, face_parts: tuple[str, ...] = DEFAULT_FACE_PARTS
) -> LabelMapFaces:
    """Open public layout ``layout`` at ``root`` (a path or a cached URL folder) with ``--split``'s value."""
    if layout not in PUBLIC_LAYOUTS:
        raise ConfigError(f"unknown face layout {layout!r}; valid: auto, {', '.join(FACE_LAYOUTS)}")
    split_name, id_file = resolve_split(layout, split)
    source = PUBLIC_LAYOUTS[layout].source
    return source(root, split=split_name, id_file=id_file, face_parts=tuple(face_parts))  # type: ignore[arg-type]
