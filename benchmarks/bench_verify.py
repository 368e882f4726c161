"""`occgen verify` speed against decoding: MB/s of stored bytes, both through the same store.

    python benchmarks/bench_verify.py [--n 64] [--size 512] [--codecs jpegxl zstd]

RandOcc demo samples are written once per codec (one shard of ``--n``); then ``verify_one`` hashes
every shard object and a ShardReader decodes every sample. Both rates are stored bytes per second, so
their ratio says how much faster checking a store is than reading it. Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from occgen.core.params import BaseConfig
from occgen.run.generate import make_shard_arrays
from occgen.settings import RandOccSettings, build_randocc_recipe
from occgen.store.integrity import verify_one
from occgen.store.schema import ShardReader, create_store, write_shard


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--codecs", nargs="+", default=["jpegxl", "zstd"])
    args = parser.parse_args()
    recipe = build_randocc_recipe(RandOccSettings(base=BaseConfig(seed=0, size=args.size)))
    arrays = make_shard_arrays(recipe, 0, args.n)
    root = Path(tempfile.mkdtemp())
    try:
        for codec in args.codecs:
            path = root / f"{codec}.zarr"
            group = create_store(path, n=args.n, size=args.size, shard_size=args.n, card={"recipe": "randocc"},
                                 image_codec=codec)  # fmt: skip
            write_shard(group, 0, *arrays)
            card = dict(group.attrs["occgen"])
            group.attrs["occgen"] = {**card, "complete": True}
            check = verify_one(path)
            assert check.ok, check.problems
            reader = ShardReader(path)
            started = time.perf_counter()
            for index in range(args.n):
                reader[index]
            decode_s = time.perf_counter() - started
            mb = check.bytes_read / 1e6
            print(f"{codec:8s} {mb:7.1f} MB stored  verify {mb / check.seconds:8.1f} MB/s  "
                  f"decode {mb / decode_s:7.1f} MB/s  ratio {decode_s / check.seconds:6.1f}x")  # fmt: skip
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
