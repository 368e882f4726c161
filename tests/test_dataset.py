"""The dataset protocol (occgen/store/dataset.py): a store and a mix answer the same calls consistently, and no
code outside store/ tells them apart."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import zarr

import occgen
from occgen.core.errors import StoreError
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.generate import generate
from occgen.store import Dataset, ShardReader, open_store
from occgen.store.mix import MixPart, build_mix

PACKAGE = Path(occgen.__file__).parent
STORE_PACKAGE = PACKAGE / "store"


@pytest.fixture
def stores(tmp_path: Path, small_recipe: RandOccRecipe) -> tuple[Path, Path, Path]:
    """Two stores (6 and 5 samples, shards of 4) and a mix of 4 + 5 of them."""
    generate(small_recipe, tmp_path / "a.zarr", n=6, shard_size=4)
    generate(replace(small_recipe, seed=8), tmp_path / "b.zarr", n=5, shard_size=4)
    parts = [MixPart(tmp_path / "a.zarr", count=4), MixPart(tmp_path / "b.zarr", count=5)]
    return tmp_path / "a.zarr", tmp_path / "b.zarr", Path(build_mix(parts, tmp_path / "m.zarr", seed=3))


def protocol_members() -> set[str]:
    members = {name for name in vars(Dataset) if not name.startswith("_")} | set(Dataset.__annotations__)
    return members | {"__len__", "__getitem__"}


def test_store_and_mix_answer_every_protocol_call(stores: tuple[Path, Path, Path]) -> None:
    a, _, mix = stores
    for dataset in (open_store(a), open_store(mix)):
        missing = sorted(name for name in protocol_members() if not hasattr(dataset, name))
        assert not missing, f"{type(dataset).__name__} lacks {missing}"
    assert {"parts", "locate", "metadata", "label_names", "size", "card"} <= protocol_members()


def test_a_store_is_a_dataset_of_one_part(stores: tuple[Path, Path, Path]) -> None:
    a, _, _ = stores
    store = open_store(a)
    (part,) = store.parts
    assert part.reader is store and part.number == 0 and part.name == "a.zarr"
    assert np.array_equal(part.indices, np.arange(6)) and np.array_equal(part.store_indices, np.arange(6))
    raw = [json.loads(str(t)) for t in np.asarray(zarr.open_group(str(a), mode="r")["metadata"][:])]
    assert store.metadata([5, 0, 3]) == [raw[5], raw[0], raw[3]]
    for index in range(6):
        located, local = store.locate(index)
        assert located is part and local == index
    assert store.locate(-1)[1] == 5
    with pytest.raises(IndexError, match="out of range"):
        store.locate(6)


def test_mix_protocol_equals_reading_its_parts(stores: tuple[Path, Path, Path]) -> None:
    a, b, mix_path = stores
    mix = open_store(mix_path)
    direct = {"a.zarr": ShardReader(a), "b.zarr": ShardReader(b)}
    assert len(mix) == 9 and [p.name for p in mix.parts] == ["a.zarr", "b.zarr"]
    assert [p.location.path for p in mix.parts] == [a, b]
    # The parts' global indices cover the mix exactly once, ascending within each part.
    covered = np.concatenate([p.indices for p in mix.parts])
    assert sorted(covered.tolist()) == list(range(9))
    assert [len(p.indices) for p in mix.parts] == [4, 5]
    for part in mix.parts:
        assert np.all(np.diff(part.indices) > 0)
        for global_index, local in zip(part.indices, part.store_indices, strict=True):
            located, located_local = mix.locate(int(global_index))
            assert located is part and located_local == int(local)
            store = direct[part.name]
            sample, stored = mix[int(global_index)], store[int(local)]
            assert np.array_equal(sample.image, stored.image) and np.array_equal(sample.face_mask, stored.face_mask)
            assert np.array_equal(mix.sample_array("occluder_mask", int(global_index)), stored.occluder_mask)
    # Batched metadata in any order equals each part's own metadata, the id qualified by the part.
    order = [8, 0, 5, 2, 7]
    for index, metadata in zip(order, mix.metadata(order), strict=True):
        part, local = mix.locate(index)
        own = direct[part.name].metadata([local])[0]
        assert metadata == {**own, "sample_id": f"p{part.number}-{own['sample_id']}",
                            "store_sample_id": own["sample_id"], "mix_source": part.name}  # fmt: skip
        assert metadata == mix[index].metadata
    assert mix.size == direct["a.zarr"].size == 64 and mix.label_names == direct["a.zarr"].label_names
    assert mix.recipes() == ["randocc"] and mix.shards_done() == (4, 4)
    assert mix.content_key != direct["a.zarr"].content_key


def test_a_mix_index_pointing_outside_its_stores_is_refused(stores: tuple[Path, Path, Path]) -> None:
    _, _, mix_path = stores
    group = zarr.open_group(str(mix_path), mode="a")
    group["sample_index"][0] = 10_000  # the index is input, like any file
    with pytest.raises(StoreError, match="samples beyond the 6 of a.zarr"):
        open_store(mix_path)


def test_a_shard_reader_refuses_a_mix(stores: tuple[Path, Path, Path]) -> None:
    with pytest.raises(StoreError, match="is a mix index, not a store"):
        ShardReader(stores[2])


# --- no reader type sniffing outside occgen/store/ ------------------------------------------------------------


def store_classes() -> set[str]:
    """The dataset classes of occgen/store/: the protocol's own, and every class there that implements ``locate``
    (the readers, and whatever reader comes next)."""
    names = {"Dataset", "DatasetPart"}
    for path in STORE_PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(item, ast.FunctionDef) and item.name == "locate" for item in node.body
            ):
                names.add(node.name)
    return names


def sniffing(path: Path, classes: set[str], members: set[str]) -> list[str]:
    """What in ``path`` tells datasets apart instead of using the protocol."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        shown = path.relative_to(PACKAGE.parent) if PACKAGE in path.parents else path
        where = f"{shown}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Name | ast.Attribute | ast.alias):
            name = {ast.Name: "id", ast.Attribute: "attr", ast.alias: "name"}[type(node)]
            if str(getattr(node, name)).split(".")[-1] == "MixReader":
                found.append(f"{where}: names MixReader")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("isinstance", "issubclass", "type") and len(node.args) >= 1:
                named = {n.id for arg in node.args[1:] for n in ast.walk(arg) if isinstance(n, ast.Name)}
                named |= {n.attr for arg in node.args[1:] for n in ast.walk(arg) if isinstance(n, ast.Attribute)}
                if named & classes:
                    found.append(f"{where}: {node.func.id}(..., {sorted(named & classes)})")
            if node.func.id in ("hasattr", "getattr") and len(node.args) >= 2:
                attribute = node.args[1]
                if isinstance(attribute, ast.Constant) and attribute.value in members:
                    found.append(f"{where}: {node.func.id}(..., {attribute.value!r}) probes the reader")
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value == "mix" for o in operands):
                found.append(f"{where}: compares with 'mix' (card sniffing)")
        if isinstance(node, ast.Subscript | ast.Call) and _reads_kind(node):
            found.append(f"{where}: reads a card's 'kind'")
    return found


def _reads_kind(node: ast.AST) -> bool:
    """``card["kind"]`` or ``card.get("kind")`` on something named like a card (a source entry's kind is fine)."""
    if isinstance(node, ast.Subscript):
        target, key = node.value, node.slice
    elif isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:  # type: ignore[attr-defined]
        target, key = node.func.value, node.args[0]  # type: ignore[attr-defined]
    else:
        return False
    text = ast.unparse(target)
    return isinstance(key, ast.Constant) and key.value == "kind" and ("card" in text or "attrs" in text)


def test_sniffing_check_finds_what_it_is_meant_to(tmp_path: Path) -> None:
    sample = tmp_path / "probe.py"
    sample.write_text(
        "from occgen.store.mix import MixReader\n"
        "def f(reader, card):\n"
        "    if isinstance(reader, ShardReader): pass\n"
        "    if card.get('kind') == 'mix': pass\n"
        "    if reader.card['kind'] != 'x': pass\n"
        "    return getattr(reader, 'label_names', ())\n"
    )
    found = sniffing(sample, store_classes(), protocol_members())
    assert len(found) == 6, found  # MixReader, isinstance, 'mix', two kind reads, getattr


def test_no_reader_type_sniffing_outside_store() -> None:
    classes, members = store_classes(), protocol_members() - {"path", "location", "card", "size"}
    assert {"ShardReader", "MixReader", "DatasetPart"} <= classes
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if STORE_PACKAGE not in path.parents:
            found += sniffing(path, classes, members)
    assert not found, "use the dataset protocol (occgen/store/dataset.py) instead:\n" + "\n".join(found)
