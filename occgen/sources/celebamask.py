"""The CelebAMask-HQ face source: ``CelebA-HQ-img/{i}.jpg`` (1024²) and
``CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png`` (512², one file per present part).

Visible face = union of the face parts minus union of the occluding parts (:mod:`occgen.sources.face_common`;
the module docstring of :mod:`occgen.sources.faces` says why). ``load_parsing`` builds the part-label map
from the same part files (precedence in :func:`occgen.core.labels.parts_parsing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from occgen.core.errors import SourceError
from occgen.core.files import list_images, require_dir
from occgen.core.fingerprint import fingerprint_files
from occgen.core.imageio import read_binary_mask, read_image, resize_image, resize_labels
from occgen.core.labels import face_class_ids, parts_parsing, reconcile_parsing
from occgen.sources.face_common import (
    CELEBAMASK_PARTS,
    DEFAULT_FACE_PARTS,
    DEFAULT_OCCLUDING_PARTS,
    Face,
    check_part_names,
    face_mask_from_parts,
    read_id_list,
)
from occgen.sources.remote import UrlRoot


@dataclass
class CelebAMaskHQ(UrlRoot):
    """CelebAMask-HQ read from its released layout. ``root`` holds ``CelebA-HQ-img`` and
    ``CelebAMask-HQ-mask-anno``; ``split`` is an optional file of ids (e.g. the NatOcc paper's
    non-occluded training partition); ``corrected_masks`` an optional folder of ``{id}.png`` masks that
    override the derived ones (e.g. the NatOcc authors' manually corrected masks)."""

    root: Path
    split: Path | None = None
    corrected_masks: Path | None = None
    face_parts: tuple[str, ...] = DEFAULT_FACE_PARTS
    occluding_parts: tuple[str, ...] = DEFAULT_OCCLUDING_PARTS
    name: str = "celebamask-hq"
    _ids: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = require_dir(
            self._local_root(self.root),
            "CelebAMask-HQ folder",
            "pass the folder holding CelebA-HQ-img/ and CelebAMask-HQ-mask-anno/",
        )
        self.image_dir = require_dir(
            self.root / "CelebA-HQ-img", "CelebAMask-HQ image folder", "the dataset must contain CelebA-HQ-img/{i}.jpg"
        )
        self.anno_dir = require_dir(
            self.root / "CelebAMask-HQ-mask-anno",
            "CelebAMask-HQ annotation folder",
            "the dataset must contain CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png",
        )
        check_part_names(self.face_parts, "face_parts")
        check_part_names(self.occluding_parts, "occluding_parts")
        if self.corrected_masks is not None:
            self.corrected_masks = require_dir(
                Path(self.corrected_masks), "corrected masks folder", "pass a folder of {id}.png masks or omit it"
            )
        if self.split is not None:
            ids = read_id_list(Path(self.split))
            bad = [i for i in ids if not i.isdigit()]
            if bad:
                raise SourceError(f"split file {self.split}: ids must be integers, got {bad[:5]}")
        else:
            ids = [p.stem for p in list_images(self.image_dir) if p.stem.isdigit()]
            ids.sort(key=int)
        if not ids:
            raise SourceError(f"no images named {{i}}.jpg in {self.image_dir}")
        self._ids = ids

    def __len__(self) -> int:
        return len(self._ids)

    def face_id(self, index: int) -> str:
        return self._ids[index]

    def image_path(self, face_id: str) -> Path:
        return self.image_dir / f"{int(face_id)}.jpg"

    def part_path(self, face_id: str, part: str) -> Path:
        number = int(face_id)
        return self.anno_dir / str(number // 2000) / f"{number:05d}_{part}.png"

    def load_face_mask(self, face_id: str, parts: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The visible-face mask at annotation resolution (512²), or the corrected mask if one exists;
        ``parts``: the face's part masks if already read (by ``load_parsing``), else they are read here."""
        if self.corrected_masks is not None:
            for candidate in (f"{int(face_id)}.png", f"{int(face_id):05d}.png"):
                path = self.corrected_masks / candidate
                if path.is_file():
                    return read_binary_mask(path)
        wanted = set(self.face_parts) | set(self.occluding_parts)
        if parts is None:
            parts = {}
            for part in wanted:
                path = self.part_path(face_id, part)
                if path.is_file():
                    parts[part] = read_binary_mask(path)
        else:
            parts = {part: mask for part, mask in parts.items() if part in wanted}
        if "skin" not in parts and not any(p in parts for p in self.face_parts):
            raise SourceError(
                f"face {face_id}: no face-part masks found (expected e.g. {self.part_path(face_id, 'skin')}); "
                "check the annotation folder or remove the id from the split"
            )
        shapes = {path_part: mask.shape for path_part, mask in parts.items()}
        if len(set(shapes.values())) > 1:
            raise SourceError(f"face {face_id}: part masks differ in size {shapes}; all parts must be the same size")
        return face_mask_from_parts(parts, self.face_parts, self.occluding_parts)

    def load_parsing(self, index: int, size: int, face_mask: np.ndarray | None = None) -> np.ndarray:
        """The part-label map of face ``index`` at ``size``² (all 18 part files, precedence of
        :func:`occgen.core.labels.parts_parsing`), reconciled with the (possibly corrected) face mask;
        ``face_mask``: that mask as :meth:`load` gave it, which saves reading the parts twice."""
        face_id = self._ids[index]
        parts = {part: read_binary_mask(path) for part in CELEBAMASK_PARTS
                 if (path := self.part_path(face_id, part)).is_file()}  # fmt: skip
        if not parts:
            raise SourceError(f"face {face_id}: no part masks found (expected e.g. {self.part_path(face_id, 'skin')})")
        parsing = resize_labels(parts_parsing(parts, self.face_parts, self.occluding_parts), (size, size))
        if face_mask is None:  # from the part files just read: each is decoded once
            face_mask = resize_labels(self.load_face_mask(face_id, parts), (size, size))
        return reconcile_parsing(parsing, face_mask, face_class_ids(self.face_parts))

    def load(self, index: int, size: int) -> Face:
        face_id = self._ids[index]
        image = read_image(self.image_path(face_id))
        face_mask = self.load_face_mask(face_id)
        if image.shape[0] != image.shape[1] or face_mask.shape[0] != face_mask.shape[1]:
            raise SourceError(
                f"face {face_id}: CelebAMask-HQ images and masks are square, got image {image.shape[:2]} "
                f"and mask {face_mask.shape}; the file {self.image_path(face_id)} looks wrong"
            )
        # Masks are 512² and images 1024² in the release: each is brought to `size` on its own.
        image = resize_image(image, (size, size))
        return Face(face_id, image, resize_labels(face_mask, (size, size)))

    def annotation_files(self) -> list[Path]:
        """Every part mask of the faces in use (``{i // 2000}/{i:05d}_{part}.png``): one listing per folder."""
        wanted = {int(i) for i in self._ids}
        files = []
        for group in sorted({i // 2000 for i in wanted}):
            folder = self.anno_dir / str(group)
            if folder.is_dir():
                files += [p for p in folder.iterdir() if p.suffix == ".png" and p.is_file()
                          and p.stem.split("_", 1)[0].isdigit() and int(p.stem.split("_", 1)[0]) in wanted]  # fmt: skip
        return files

    def describe(self) -> dict[str, Any]:
        """Where the faces are, what they are (fingerprints relative to their own folders, so a moved copy
        matches) and the face-label definition: the part lists and the corrected masks."""
        corrected = list_images(self.corrected_masks) if self.corrected_masks is not None else []
        return {
            "kind": self.name,
            "root": self.root_label(self.root),
            "count": len(self),
            "fingerprint": fingerprint_files(self.root, [*map(self.image_path, self._ids), *self.annotation_files()]),
            "face_parts": list(self.face_parts),
            "occluding_parts": list(self.occluding_parts),
            "corrected_masks": (
                fingerprint_files(self.corrected_masks, corrected) if self.corrected_masks and corrected else None
            ),
            "licence": "CelebAMask-HQ: non-commercial research and educational use only",
        }
