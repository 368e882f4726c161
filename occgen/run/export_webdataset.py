"""``occgen export --format webdataset``: tar shards for `webdataset`, DALI's ``readers.webdataset`` and the Hub.

Where it sits: one of the sharded exports (:mod:`occgen.run.export_shards` plans them, the one export framework
:mod:`occgen.run.export_base` runs and resumes them).

Each shard ``<split>-NNNNNN.tar`` holds, per sample, contiguous members (formats.md §1)::

    <key>.png | <key>.jpg        the image (lossless PNG, or JPEG at --jpeg-quality)
    <key>.face.png               visible face, 0/255
    <key>.occluder.png           occluder alpha x 255
    <key>.parsing.png, <key>.face_amodal.png, <key>.clean.png|jpg, <key>.occluder_class.png
                                 when the store has those label arrays
    <key>.json                   the sample's metadata (+ key, store, store_index, split)

The tars are plain USTAR with fixed headers (mode 0644, uid/gid 0, no names, mtime 0), so the same export
gives the same bytes. Beside each tar, ``<split>-NNNNNN.idx`` is its index in DALI's ``wds2idx`` v1.2
format (``v1.2 <samples>`` then per sample ``<ext> <data offset> <size> <member name>`` groups; formats.md §2).
Writing needs no library; reading back uses ``webdataset`` (``pip install 'occgen[webdataset]'``).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

from occgen.core.files import atomic_write_text
from occgen.run.export_base import write_text_atomic
from occgen.run.export_card import webdataset_card
from occgen.run.export_encode import EncodedSample, ShardSpec, metadata_json
from occgen.store.dataset import Dataset

BLOCK = 512
RECORD = tarfile.RECORDSIZE  # 10240: tarfile pads the archive to whole records


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def member_bytes(sample: EncodedSample) -> int:
    """Bytes the sample's members take in a USTAR tar (a 512-byte header each, data padded to 512)."""
    return sum(BLOCK + _padded(len(data)) for _, data in sample_members(sample))


def tar_size(members: int) -> int:
    """Size of a tar whose members take ``members`` bytes: two zero blocks, padded to a record."""
    return -(-(members + 2 * BLOCK) // RECORD) * RECORD


def sample_members(sample: EncodedSample) -> list[tuple[str, bytes]]:
    """(extension, bytes) of each member of a sample, metadata last."""
    return [(extension, data) for _, extension, data in sample.files] + [("json", metadata_json(sample.metadata))]


class TarPart:
    """One tar shard being written, and its DALI index."""

    suffix = ".tar"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temporary = path.with_name(f"{path.name}.tar.tmp")
        self.handle = self.temporary.open("wb")
        self.tar = tarfile.open(fileobj=self.handle, mode="w", format=tarfile.USTAR_FORMAT)
        self.members = 0
        self.count = 0
        self.index_lines: list[str] = []

    def size_with(self, sample: EncodedSample) -> int:
        return tar_size(self.members + member_bytes(sample))

    def add(self, sample: EncodedSample) -> None:
        components = []
        for extension, data in sample_members(sample):
            name = f"{sample.key}.{extension}"
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.type = len(data), 0, 0o644, tarfile.REGTYPE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            header_offset = self.tar.offset
            self.tar.addfile(info, io.BytesIO(data))
            components.append(f"{extension} {header_offset + BLOCK} {len(data)} {name}")
        self.members += member_bytes(sample)
        self.count += 1
        self.index_lines.append(" ".join(components))

    def close(self) -> dict[str, Any]:
        self.tar.close()
        self.handle.close()
        size = self.temporary.stat().st_size
        if size != tar_size(self.members):  # a PAX header or a long name would break the offsets in the index
            raise RuntimeError(f"{self.temporary}: {size} bytes, expected {tar_size(self.members)}")
        index = self.path.with_name(f"{self.path.name}.idx")
        atomic_write_text(index, f"v1.2 {self.count}\n" + "".join(f"{line}\n" for line in self.index_lines))
        os.replace(self.temporary, self.path.with_name(f"{self.path.name}.tar"))
        return {"path": self.path.name, "samples": self.count, "bytes": size}


def read_index(path: Path) -> list[list[tuple[str, int, int, str]]]:
    """Parse a wds2idx v1.2 index: per sample, its (extension, data offset, size, member name)."""
    lines = path.read_text().splitlines()
    version, count = lines[0].split()
    if version != "v1.2" or int(count) != len(lines) - 1:
        raise ValueError(f"{path}: expected 'v1.2 {len(lines) - 1}', got {lines[0]!r}")
    samples = []
    for line in lines[1:]:
        tokens = line.split()
        samples.append([(e, int(o), int(s), n) for e, o, s, n in zip(*[iter(tokens)] * 4, strict=True)])
    return samples


class WebDatasetFormat:
    name = "webdataset"

    def check(self) -> None:
        """Writing tars needs no library (reading them back uses ``webdataset``)."""

    def open_part(self, spec: ShardSpec, path: Path) -> TarPart:
        return TarPart(path)

    def sample_bytes(self, sample: EncodedSample) -> int:
        return member_bytes(sample)

    def part_overhead(self, shard_bytes: int) -> int:
        return RECORD  # the end-of-archive blocks and the padding to a whole record

    def shard_files(self, split: str, index: int, total: int) -> dict[str, str]:
        return {".tar": f"{split}-{index:06d}.tar", ".idx": f"{split}-{index:06d}.idx"}

    def write_card(self, spec: ShardSpec, dataset: Dataset, manifest: dict[str, Any]) -> None:
        write_text_atomic(spec.work_dir, Path(spec.out) / "README.md", webdataset_card(spec, dataset, manifest))
        write_text_atomic(spec.work_dir, Path(spec.out) / "shards.json", json.dumps(manifest, sort_keys=True, indent=1))


WEBDATASET = WebDatasetFormat()
