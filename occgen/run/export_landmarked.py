"""What the exports that need a store's landmarks share (``--format dfl`` and ``--format wflw``): opening and
checking the store and the output folder, the samples' file stems, and the writer's bookkeeping of samples left
out for want of their points (``skipped.txt``).

Where it sits: beside :mod:`occgen.run.export_base` (the one export framework: chunks, markers, resume); the
formats are :mod:`occgen.run.export_dfl` and :mod:`occgen.run.export_wflw`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occgen.core.errors import ConfigError, StoreError
from occgen.core.location import Location, parse_location
from occgen.run.export_base import check_sample_name, write_text_atomic
from occgen.store import open_store
from occgen.store.dataset import Dataset

SKIPPED = "skipped.txt"


@dataclass(frozen=True)
class LandmarkedExport:
    """An opened export: the store's ``location`` and ``reader``, the resolved local ``out`` folder and each
    sample's file ``stems`` (checked, unique)."""

    location: Location
    reader: Dataset
    out: Path
    stems: tuple[str, ...]


def open_landmarked_export(store: Path | str | Location, out: Path, *, jpeg_quality: int,
                           needs: str) -> LandmarkedExport:  # fmt: skip
    """Check the settings every landmark export shares and open ``store``: ``jpeg_quality`` in [1, 100], ``out``
    a local path, the store's ``landmarks`` label (``needs``: what the format needs it for, said in the error),
    sample ids that are safe, unique file names."""
    if not 1 <= jpeg_quality <= 100:
        raise ConfigError(f"--jpeg-quality must be in [1, 100], got {jpeg_quality}")
    location = parse_location(store)
    if not parse_location(out).is_local:
        raise ConfigError(f"export writes image files to a local folder; --out {out} must be a path, not a URL")
    reader = open_store(location)
    if "landmarks" not in reader.label_names:
        raise ConfigError(f"{location}: {needs}; generate the store with --labels landmarks")
    metadata = reader.metadata(range(len(reader)))
    stems = tuple(check_sample_name(str(m.get("sample_id") or f"{i:08d}"), store=str(location))
                  for i, m in enumerate(metadata))  # fmt: skip
    if len(set(stems)) != len(stems):
        raise StoreError(f"{location}: sample ids repeat; exporting would overwrite files (mix stores with occgen mix)")
    return LandmarkedExport(location, reader, Path(out).resolve(), stems)


@dataclass(frozen=True, kw_only=True)
class LandmarkedWriter(ABC):
    """The part of an :class:`occgen.run.export_base.ExportWriter` that the landmark exports share: the store,
    the output folder, the stems (client side only: workers get none) and the ``skipped`` bookkeeping. A
    subclass says which files hold the written faces (:meth:`face_files`) and lists its skipped stems in each
    chunk's marker under ``skipped``."""

    store: str
    out: str
    storage_options: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    stems: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "stems": ()}

    @abstractmethod
    def face_files(self) -> Iterable[Path]:
        """The files on disk, one per written face, named by its stem."""

    def check_faces(self, skipped: Sequence[str]) -> None:
        """Raise unless exactly the stems not ``skipped`` have a face file."""
        expected = set(self.stems) - set(skipped)
        on_disk = {path.stem for path in self.face_files()}
        if on_disk != expected:
            raise StoreError(f"export to {self.out}: {len(on_disk)} faces on disk for {len(expected)} samples; "
                             f"delete {Path(self.out) / '.occgen-export'} and re-run")  # fmt: skip

    def finish_skipped(self, markers: list[dict[str, Any]], work: Path) -> dict[str, Any]:
        """Check the faces against the markers' skipped stems, write ``skipped.txt``; returns the manifest."""
        skipped = [stem for marker in markers for stem in marker["skipped"]]
        self.check_faces(skipped)
        write_text_atomic(work, Path(self.out) / SKIPPED, "".join(f"{stem}\n" for stem in skipped))
        return {"samples": len(self.stems), "faces": len(self.stems) - len(skipped), "skipped": len(skipped)}

    def skipped_on_disk(self) -> list[str]:
        """The stems a finished export left out (its ``skipped.txt``)."""
        return (Path(self.out) / SKIPPED).read_text().split()
