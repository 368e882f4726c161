"""Commands over stores and mixes: `preview`, `info`, `recode`, `mix`, `export`, `verify`; and `cache`
(the local copies of source folders at URLs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from occgen.cli.common import (
    WORKERS_HELP,
    SchedulerOption,
    command_group,
    console,
    err_console,
    human_bytes,
    lazy_progress,
    resolve_workers,
    size_on_disk,
    user_errors,
)

DRAW_HELP = (
    "Drawn on the overlay, comma-separated: landmarks (cyan visible, magenta covered), instances (outlines), "
    "anchors (blue crosses: where --placement anchored put each occluder) [default: none]."
)


def preview(
    store: Annotated[Path, typer.Argument(help="A zarr store written by occgen.")],
    out: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path("preview.png"),
    k: Annotated[int, typer.Option("-k", "--k", help="Number of samples.")] = 8,
    tile: Annotated[int, typer.Option(help="Tile size in px.")] = 160,
    allow_incomplete: Annotated[bool, typer.Option(help="Preview an interrupted store.")] = False,
    animation: Annotated[Path | None, typer.Option(help="A clip store: also write its first clip as an animated "
                                                   ".gif or .webp here [default: none].")] = None,
    draw: Annotated[str, typer.Option(help=DRAW_HELP)] = "",
) -> None:  # fmt: skip
    """Contact sheet: image | face (green) and occluder (red) overlay | occluder mask [| parsing palette]; for a
    clip store, each clip's frames side by side over their overlays."""
    from occgen.core.errors import ConfigError
    from occgen.run.clip_preview import write_clip_animation, write_clip_preview
    from occgen.run.preview import write_preview

    with user_errors():
        drawings = tuple(name.strip() for name in draw.split(",") if name.strip())
        path = write_clip_preview(store, out, k=k, tile_px=tile, allow_incomplete=allow_incomplete)
        if path is None:
            if animation is not None:
                raise ConfigError(f"--animation: {store} is not a clip store (generate it with --frames T)")
            path = write_preview(store, out, k=k, tile_px=tile, allow_incomplete=allow_incomplete, draw=drawings)
        else:
            if drawings:
                err_console.print("note: --draw is for still stores; a clip store's strip has no drawings yet")
            if animation is not None:
                from occgen.store import open_store
                from occgen.store.clips import ClipView

                view = ClipView(open_store(store, allow_incomplete=allow_incomplete), name=str(store))
                err_console.print(f"animation: {write_clip_animation(view, 0, animation, tile_px=tile)}")
        err_console.print(f"preview: {path}")


def info(
    store: Annotated[Path, typer.Argument(help="A zarr store written by occgen.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole dataset card as JSON.")] = False,
) -> None:
    """Counts, size, seed, params and sources of a store (its dataset card)."""
    from occgen.store import open_store

    with user_errors():
        dataset = open_store(store, allow_incomplete=True)
        card: dict[str, Any] = dataset.card
        done, total = dataset.shards_done()
        disk = size_on_disk(store)
        if as_json:
            digests = {"digest": dataset.parts[0].digest} if len(dataset.parts) == 1 else {}
            typer.echo(
                json.dumps({**card, **digests, "shards_done": done, "shards_total": total, "bytes": disk}, indent=2)
            )
            return
        table = Table(title=str(dataset.path), show_header=False)
        # A store is its own one part; a mix lists the stores it takes samples from (occgen/store/dataset.py).
        stores = [part for part in dataset.parts if part.reader is not dataset]
        codecs = dict.fromkeys(str(part.reader.card.get("image_codec") or "zstd") for part in dataset.parts)
        rows = [
            ("recipe", card.get("recipe")), ("samples", card.get("n")),
            ("complete", f"{card.get('complete')} ({done}/{total} shards)"),
            ("size", f"{card.get('size')} px"),
            ("image codec", ", ".join(codecs)), ("seed", card.get("seed")),
            ("schema", card.get("schema_version")), ("occgen", card.get("occgen_version")),
            ("on disk", f"{human_bytes(disk)} ({human_bytes(disk / max(int(card.get('n', 1)), 1))} per sample)"),
        ]  # fmt: skip
        if not stores:  # the hash of the generation settings; export keys carry its first 8 characters
            rows.append(("digest", f"{dataset.parts[0].digest} (generation settings)"))
        resolved = card.get("resolved_px", {}) if not stores else {}  # pixel values used at this size (issue 30)
        flat = {**resolved, **resolved.get("composite", {})}
        if flat:
            skip = ("composite", "size_px")
            rows.append(("pixel values", ", ".join(f"{k} {v}" for k, v in flat.items() if k not in skip)))
        for part in stores:
            recipe = part.reader.card.get("recipe")
            rows.append(
                (f"part {part.name}", f"{len(part.indices)} of {len(part.reader)} ({recipe}, digest {part.digest})")
            )
        for name, source in (card.get("sources", {}) if not stores else {}).items():
            rows.append(
                (
                    f"source {name}",
                    f"{source.get('kind')} x{source.get('count')} {source.get('root', '')} "
                    + escape(f"[{source.get('fingerprint')}]"),  # a rich table reads brackets as markup
                )
            )
        for array, entry in card.get("labels", {}).items():
            classes = entry.get("classes")
            listed = ", ".join(f"{i} {c}" for i, c in enumerate(classes)) if classes else entry.get("values", "")
            stored = f" (stored {entry['stored']})" if entry.get("stored") else ""
            rows.append((f"label {array}", f"{entry.get('dtype')} {listed}: {entry.get('meaning')}{stored}"))
        if not stores:
            rows.append(("polarity", "face_mask 1 = visible face; occluder_mask = occluder alpha x 255"))
        for key, value in rows:
            table.add_row(key, str(value))
        console.print(table)


def recode(
    store: Annotated[Path, typer.Argument(help="A complete occgen store.")],
    out: Annotated[Path, typer.Option("--out", help="The new store.")],
    image_codec: Annotated[str, typer.Option(help="Target image codec NAME[:LEVEL] (see `generate --help`).")],
    workers: Annotated[int, typer.Option(help=f"{WORKERS_HELP}.")] = 0,
    scheduler: SchedulerOption = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output store.")] = False,
) -> None:
    """Copy a store into a new one with another image codec (streaming, parallel, resumable)."""
    from occgen.run.recode import recode as recode_store
    from occgen.store import open_store

    with user_errors():
        with lazy_progress(f"recode -> {out}", total=len(open_store(store))) as advance:
            report = recode_store(
                store, out, image_codec=image_codec, workers=resolve_workers(workers), scheduler=scheduler,
                overwrite=overwrite, on_progress=advance,
            )  # fmt: skip
        err_console.print(
            f"recoded {report.samples_written} samples into {report.path} ({human_bytes(size_on_disk(out))}, "
            f"was {human_bytes(size_on_disk(store))})"
        )


def mix(
    parts: Annotated[
        list[str], typer.Argument(help="STORE[:COUNT|:FRACTION] ... e.g. randocc.zarr:0.5 natocc.zarr:0.5 (clip "
                                  "stores: COUNT and FRACTION count whole clips)")
    ],
    out: Annotated[Path, typer.Option("--out", help="The mix index to write (a small zarr group).")],
    seed: Annotated[int, typer.Option(help="Seed of the random choice of samples.")] = 0,
    pick: Annotated[str, typer.Option(help="random: a random subset of each store; prefix: its first samples.")] = (
        "random"
    ),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing mix.")] = False,
    repeat: Annotated[
        bool, typer.Option(help="A COUNT above a store's size takes it whole, again, then a random rest.")
    ] = False,
) -> None:
    """Mix several stores without copying pixels: an index the readers resolve, with its own card."""
    from occgen.store.mix import build_mix, parse_part

    with user_errors():
        chosen = [parse_part(p) for p in parts]
        path = build_mix(chosen, out, seed=seed, pick=pick, overwrite=overwrite, repeat=repeat)
        err_console.print(f"mix of {len(parts)} store(s) written to {path}")


def export(
    store: Annotated[Path, typer.Argument(help="A complete occgen store or mix.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    format: Annotated[str, typer.Option("--format", help="folder (images/ + masks/ 0/255 + metadata.csv), "
                                         "mmseg (FaceOccludedDataset: img/*.jpg, mask/*.png 0/1, splits), "
                                         "webdataset (tar shards + DALI indexes), hf (Parquet shards for "
                                         "Hugging Face datasets), dfl (DeepFaceLab faceset: whole-face "
                                         "aligned JPEGs with the APP15 dict; needs --labels landmarks), wflw "
                                         "(WFLW_images/ + WFLW-layout landmark lists with per-point occlusion "
                                         "flags; needs --labels landmarks), fiftyone "
                                         "(a FiftyOne dataset directory; occgen view opens it) or video (a clip "
                                         "store: MP4 + mask PNGs per clip).")] = "folder",
    image_format: Annotated[str | None, typer.Option(help="png (exact) or jpg [default: png; jpg for mmseg; "
                                                     "webdataset/hf: png if the store is lossless].")] = None,
    jpeg_quality: Annotated[int, typer.Option(help="JPEG quality for jpg images.")] = 95,
    name: Annotated[str | None, typer.Option(help="Dataset folder name for mmseg [default: the store's name].")] = None,
    val_frac: Annotated[float, typer.Option(help="mmseg, webdataset, hf: share of samples in the validation split."
                                            )] = 0.0,
    shard_mb: Annotated[float, typer.Option(help="webdataset, hf: largest shard in MB (1 MB = 10^6 bytes).")] = 1000.0,
    shuffle: Annotated[bool, typer.Option(help="webdataset, hf: write samples in a seeded random order (interleaves "
                                          "the stores of a mix for streaming readers).")] = False,
    push_to_hub: Annotated[str | None, typer.Option(help="hf: then upload the folder to this Hub dataset repo "
                                                    "(USER/NAME; needs a Hub token) [default: none].")] = None,
    mmseg_labels: Annotated[str, typer.Option(help="mmseg label maps: face (0/1) or parsing (the store's parsing "
                                              "ids; classes.json lists them).")] = "face",
    workers: Annotated[int, typer.Option(help=f"{WORKERS_HELP}.")] = 0,
    fps: Annotated[float, typer.Option(help="video: frames per second.")] = 8.0,
) -> None:  # fmt: skip
    """Write a store's samples as image files or training shards (streaming, parallel, resumable)."""
    from occgen.core.errors import ConfigError
    from occgen.store import open_store

    with user_errors():
        workers = resolve_workers(workers)
        formats = ("folder", "mmseg", "webdataset", "hf", "dfl", "wflw", "fiftyone", "video")
        if format not in formats:
            raise ConfigError(f"unknown export format {format!r}; valid: {', '.join(formats)}")
        if push_to_hub and format != "hf":
            raise ConfigError("--push-to-hub uploads an hf export: add --format hf")
        with lazy_progress(f"export -> {out}", total=len(open_store(store))) as advance:
            if format == "video":
                from occgen.run.export_video import export_video

                clips = export_video(store, out, fps=fps, workers=workers, on_progress=advance)
                summary = f"exported {clips} clips to {out} (video)"
            elif format == "dfl":
                from occgen.run.export_dfl import export_dfl

                manifest = export_dfl(store, out, jpeg_quality=jpeg_quality, workers=workers, on_progress=advance)
                summary = (f"exported {manifest['faces']} DeepFaceLab faces to {out} ({manifest['skipped']} samples "
                           "without five points skipped, listed in skipped.txt)")  # fmt: skip
            elif format == "wflw":
                from occgen.run.export_wflw import export_wflw

                manifest = export_wflw(store, out, image_format=image_format, jpeg_quality=jpeg_quality,
                                       workers=workers, on_progress=advance)  # fmt: skip
                summary = (f"exported {manifest['faces']} faces to {out} (wflw; {manifest['skipped']} samples with "
                           "a missing point skipped, listed in skipped.txt)")  # fmt: skip
            elif format == "fiftyone":
                from occgen.run.export_fiftyone import export_fiftyone

                manifest = export_fiftyone(store, out, image_format=image_format, jpeg_quality=jpeg_quality,
                                           workers=workers, on_progress=advance)  # fmt: skip
                summary = f"exported {manifest['samples']} samples to {out} (fiftyone; occgen view {out} opens it)"
            elif format in ("webdataset", "hf"):
                from occgen.run.export_hf import HF
                from occgen.run.export_shards import export_shards
                from occgen.run.export_webdataset import WEBDATASET

                shard_format = HF if format == "hf" else WEBDATASET
                report = export_shards(
                    store, out, format=shard_format, image_format=image_format, jpeg_quality=jpeg_quality,
                    shard_mb=shard_mb, val_frac=val_frac, shuffle=shuffle, workers=workers, on_progress=advance,
                )  # fmt: skip
                shards = ", ".join(f"{split}: {count} shard(s)" for split, count in report.shards.items())
                summary = f"exported {report.samples} samples to {out} ({format}; {shards})"
            else:
                from occgen.run.export import export_store

                folder_report = export_store(
                    store, out, format=format, image_format=image_format, jpeg_quality=jpeg_quality, name=name,
                    val_frac=val_frac, mmseg_labels=mmseg_labels, workers=workers, on_progress=advance,
                )  # fmt: skip
                summary = f"exported {folder_report.samples} samples to {out} ({format})"
        err_console.print(summary)
        if push_to_hub:
            from occgen.run.export_hf import push_to_hub as upload

            err_console.print(f"uploaded to {upload(out, push_to_hub)}")


def verify(
    store: Annotated[Path, typer.Argument(help="An occgen store, or a mix (its stores are checked).")],
    repair: Annotated[
        bool,
        typer.Option(
            help="Delete the bad shards and mark them unwritten; it regenerates nothing: re-run the command "
            "that wrote the store (`generate ... --repair` does both)."
        ),
    ] = False,
) -> None:
    """Check every shard against the digest recorded when it was written; exit 1 on any problem."""
    from occgen.store.integrity import mark_for_repair
    from occgen.store.integrity import verify as verify_store

    with user_errors():
        checks = verify_store(store)
        bad = 0
        for check in checks:
            speed = check.bytes_read / 1e6 / check.seconds if check.seconds > 0 else 0.0
            state = "ok" if check.ok else f"{len(check.bad_shards)} bad shard(s), {len(check.problems)} problem(s)"
            err_console.print(
                f"{check.path}: {check.shards} shards, {human_bytes(check.bytes_read)} hashed "
                f"({speed:.0f} MB/s): {state}"
            )
            for problem in check.problems:
                typer.echo(f"{check.path}: {problem}")
            bad += len(check.problems)
            if repair and check.bad_shards:
                mark_for_repair(check.path, check.bad_shards)
                err_console.print(
                    f"{check.path}: shard(s) {', '.join(map(str, check.bad_shards))} removed (deleted, nothing "
                    "regenerated); re-run the command that wrote this store (same settings): it "
                    "regenerates exactly these, then run occgen verify"
                )
        if bad:
            raise typer.Exit(1)


cache_app = command_group(help="Source folders at URLs copied to this machine (docs/cloud.md).", no_args_is_help=True)


@cache_app.command("list")
def cache_list() -> None:
    """The cached copies, least recently used first: folder, URL, size, last use."""
    import time

    from occgen.sources.folder_cache import cache_dir, cached

    with user_errors():
        entries = cached()
        table = Table(title=str(cache_dir()))
        for column in ("copy", "url", "size", "last used"):
            table.add_column(column)
        for entry in entries:
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.last_used))
            table.add_row(entry.path.name, entry.url or "?", human_bytes(entry.bytes), used)
        console.print(table)
        err_console.print(f"{len(entries)} cached folder(s), {human_bytes(sum(e.bytes for e in entries))}")


@cache_app.command("prune")
def cache_prune(
    older_than: Annotated[
        float | None, typer.Option(help="Delete the copies no run used for this many days [default: none, or --all].")
    ] = None,
    all_copies: Annotated[bool, typer.Option("--all", help="Delete every copy (runs download again).")] = False,
) -> None:
    """Delete cached copies of source folders (by last use, or all)."""
    from occgen.core.errors import ConfigError
    from occgen.sources.folder_cache import prune

    with user_errors():
        if (older_than is None) == (not all_copies):
            raise ConfigError("pass --older-than DAYS or --all")
        removed = prune(older_than_days=None if all_copies else older_than)
        for entry in removed:
            typer.echo(f"removed {entry.path.name} ({entry.url or '?'}, {human_bytes(entry.bytes)})")
        err_console.print(f"removed {len(removed)} cached folder(s), {human_bytes(sum(e.bytes for e in removed))}")
