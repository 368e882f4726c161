"""``occgen table``: the NatOcc paper's Table 4 protocol on any face set (issue 24).

The command makes each condition's training set with occgen's own generators from the same faces
(``generate faces``, ``natocc``, ``randocc``, optionally ``faceocc``; ``--hands``/``--objects``/``--textures``
passed through), mixes them to equal sizes (:func:`occgen.store.mix.build_mix` with ``repeat``), then hands
the conditions to :func:`occgen.train.table.run_table`, which trains one model per condition with the same
config and scores each on every ``--eval`` set. It lives in the cli layer because it is the one place that may
call both the generators (``run``) and the trainer (``train``); the DVC stage (``pipelines/table``) calls it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from occgen.cli.common import WORKERS_HELP, Device, FacesOption, SplitOption, err_console, user_errors
from occgen.core.errors import ConfigError

#: The synthetic store each condition adds to the clean faces, and the share of the condition it takes.
CONDITION_PARTS: dict[str, tuple[tuple[str, float], ...]] = {
    "c-wo": (("faces", 1.0),),
    "c-wo+natocc": (("faces", 0.5), ("natocc", 0.5)),
    "c-wo+randocc": (("faces", 0.5), ("randocc", 0.5)),
    "c-wo+both": (("faces", 0.5), ("natocc", 0.25), ("randocc", 0.25)),
    "faceocc": (("faces", 0.5), ("faceocc", 0.5)),
    "natocc": (("natocc", 1.0),),  # NatOcc samples alone, no clean faces (issue 30)
}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


def parse_eval(text: str) -> tuple[str, Path]:
    """``NAME=DIR`` (NAME: letters, digits, ``._+-``; it names the report's folder and column)."""
    name, sep, path = text.partition("=")
    if not sep or not NAME.match(name) or not path:
        raise ConfigError(
            f"--eval {text!r}: expected NAME=DIR with NAME of letters, digits, . _ + - "
            "(e.g. --eval realocc=/data/RealOcc)"
        )
    return name, Path(path)


def parse_conditions(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in CONDITION_PARTS]
    if unknown or not names:
        raise ConfigError(
            f"--conditions: unknown {', '.join(unknown) or '(none given)'}; valid: {', '.join(CONDITION_PARTS)}"
        )
    return list(dict.fromkeys(names))


def condition_counts(condition: str, samples: int) -> list[tuple[str, int]]:
    """How many samples of each store ``condition`` takes so that it holds ``samples`` in all."""
    parts = CONDITION_PARTS[condition]
    counts = [int(samples * share) for _, share in parts]
    counts[-1] += samples - sum(counts)
    return [(store, count) for (store, _), count in zip(parts, counts, strict=True)]


def _make_stores(
    needed: set[str],
    data: Path,
    *,
    faces: Path | None,
    split: Path | None,
    hands: Path | None,
    objects: Path | None,
    textures: Path | None,
    params: Path | None,
    size: int,
    n: int | None,
    seed: int,
    workers: int | None,
) -> dict[str, Path]:
    """Generate (or find complete) the stores the conditions need, all from the same faces; their paths."""
    from occgen.cli.common import with_overrides
    from occgen.cli.generate import generate_recipe
    from occgen.store import open_store

    common: dict[str, Any] = {"params": params, "seed": seed, "workers": workers, "preview": False}
    stores = {"faces": data / "faces.zarr"}
    generate_recipe("faces", stores["faces"], faces=faces, split=split, size=size, n=n, **common)
    count = len(open_store(stores["faces"]))
    if "natocc" in needed:
        stores["natocc"] = data / "natocc.zarr"
        generate_recipe(
            "natocc",
            stores["natocc"],
            faces=stores["faces"],
            size=size,
            n=count,
            configure=lambda c: with_overrides(c, hands_dir=hands, objects_dir=objects),
            **common,
        )
    if "randocc" in needed:
        stores["randocc"] = data / "randocc.zarr"
        generate_recipe(
            "randocc", stores["randocc"], faces=stores["faces"], textures=textures, size=size, n=count, **common
        )
    if "faceocc" in needed:  # FaceOcc transplants onto faces aligned in its own frame: the given faces as they are
        stores["faceocc"] = data / "faceocc.zarr"
        generate_recipe(
            "faceocc",
            stores["faceocc"],
            faces=faces,
            split=split,
            n=count,
            configure=lambda c: with_overrides(c, size_px=size),
            **common,
        )
    return stores


def table_command(
    eval_sets: Annotated[
        list[str],
        typer.Option(
            "--eval",
            help="NAME=DIR evaluation set, repeatable (or NAME=DIR,NAME=DIR): a folder (images/ + masks/), a "
            "benchmark root `occgen evaluate` reads, or a store.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder: data/, runs/, table.csv, report.md.")],
    faces: FacesOption = None,
    split: SplitOption = None,
    conditions: Annotated[
        str, typer.Option(help=f"Comma-separated conditions, of: {', '.join(CONDITION_PARTS)}.")
    ] = "c-wo,c-wo+natocc,c-wo+randocc,c-wo+both",
    steps: Annotated[
        int | None,
        typer.Option(help="Budget per condition in optimizer steps [default: params train.steps, else 1000]."),
    ] = None,
    max_samples: Annotated[
        int | None, typer.Option(help="Budget per condition in training samples instead of --steps [default: none].")
    ] = None,
    samples: Annotated[
        int | None, typer.Option(help="Samples in each condition's training set [default: twice the faces].")
    ] = None,
    n: Annotated[int | None, typer.Option("--n", help="Faces to use [default: every face].")] = None,
    hands: Annotated[Path | None, typer.Option(help="NatOcc hands folder [default: params, else the demo].")] = None,
    objects: Annotated[
        Path | None, typer.Option(help="NatOcc objects folder [default: params, else the demo].")
    ] = None,
    textures: Annotated[Path | None, typer.Option(help="RandOcc DTD folder [default: params, else the demo].")] = None,
    params: Annotated[
        Path | None,
        typer.Option("--params", help="params.yaml (base, faces, recipes, train, evaluate) [default: none]."),
    ] = None,
    size: Annotated[int, typer.Option(help="Image side of the stores and the model input, px.")] = 256,
    arch: Annotated[str | None, typer.Option(help="Architecture [default: params, else unet-resnet18].")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size [default: params, else 16].")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate [default: params, else 1e-4].")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the stores, the mixes and every training run.")] = 0,
    encoder_weights: Annotated[
        Path | None, typer.Option(help="Local pretrained encoder (see `occgen train`) [default: params, else none].")
    ] = None,
    device: Annotated[Device | None, typer.Option(help="Device [default: params, else cpu].")] = None,
    workers: Annotated[int | None, typer.Option(help=f"{WORKERS_HELP} [default: params].")] = None,
    log_every: Annotated[int, typer.Option(help="One training progress line every N steps.")] = 25,
    train_eval_samples: Annotated[
        int, typer.Option(help="Training samples (a fixed seeded subset of each condition's own) scored for the "
                          "training face IoU column.")
    ] = 256,
) -> None:  # fmt: skip
    """Train one model per condition (C-WO, +NatOcc, +RandOcc, +both[, FaceOcc, NatOcc alone]) made from the same
    faces, with the same budget, and score each on every --eval set and on its own training samples: table.csv and
    report.md (the NatOcc paper's Table 4)."""
    with user_errors():
        from occgen.cli.train import dataloader_workers
        from occgen.settings import load_evaluate_config, load_train_config
        from occgen.store.mix import MixPart, build_mix
        from occgen.train.progress import ProgressLines
        from occgen.train.table import Condition, EvalSet, TableRun, run_table

        chosen = parse_conditions(conditions)
        pairs = [parse_eval(part) for value in eval_sets for part in value.split(",") if part.strip()]
        evals = [EvalSet(name=name, path=path) for name, path in pairs]
        for eval_set in evals:
            if not eval_set.path.exists():
                raise ConfigError(f"--eval {eval_set.name}: {eval_set.path} does not exist; pass an evaluation folder")
        config = load_train_config(params)
        budget: dict[str, int | None] = {"steps": steps, "max_samples": max_samples}
        if steps is None and max_samples is None and config.step_budget is None:
            budget["steps"] = 1000
        overrides: dict[str, Any] = {
            "arch": arch,
            "batch_size": batch_size,
            "lr": lr,
            "input_size": size,
            "seed": seed,
            "encoder_weights": encoder_weights,
            "device": device.value if device else None,
            "workers": dataloader_workers(workers),
            **budget,
        }
        if any(v is not None for v in budget.values()):
            config = replace(config, steps=None, max_samples=None)
        # epochs: only the step budget ends a run; epoch checkpoints: only the last (last.pt is what is scored)
        config = replace(
            config,
            **{k: v for k, v in overrides.items() if v is not None},
            epochs=1_000_000,
            checkpoint_every=1_000_000,
        )
        out.mkdir(parents=True, exist_ok=True)
        needed = {store for name in chosen for store, _ in CONDITION_PARTS[name]}
        stores = _make_stores(
            needed,
            out / "data",
            faces=faces,
            split=split,
            hands=hands,
            objects=objects,
            textures=textures,
            params=params,
            size=size,
            n=n,
            seed=seed,
            workers=workers,
        )
        from occgen.store import open_store

        total = samples or 2 * len(open_store(stores["faces"]))
        built = []
        for name in chosen:
            mix = out / "data" / f"{name}.mix.zarr"
            parts = [MixPart(stores[store], count=count) for store, count in condition_counts(name, total) if count]
            build_mix(parts, mix, seed=seed, overwrite=True, repeat=True)
            built.append(Condition(name=name, data=(mix,)))
        command = [
            "occgen",
            "table",
            *(f"--eval={e}" for e in eval_sets),
            f"--out={out}",
            f"--conditions={','.join(chosen)}",
            f"--size={size}",
            f"--seed={seed}",
            f"--samples={total}",
            f"--train-eval-samples={train_eval_samples}",
        ]
        for option, value in (
            ("faces", faces),
            ("split", split),
            ("n", n),
            ("hands", hands),
            ("objects", objects),
            ("textures", textures),
            ("params", params),
            ("steps", steps),
            ("max-samples", max_samples),
            ("arch", arch),
            ("batch-size", batch_size),
            ("lr", lr),
            ("encoder-weights", encoder_weights),
            ("device", device.value if device else None),
            ("workers", workers),
        ):
            if value is not None:
                command.append(f"--{option}={value}")
        run = TableRun(command=shlex.join(command), evaluate=replace(load_evaluate_config(params), fps_iterations=0),
                       train_eval_samples=train_eval_samples)  # fmt: skip

        def progress() -> Any:
            return ProgressLines(err_console.file, every=log_every, budget=config.step_budget).on_batch

        rows = run_table(
            built, evals, config, out, run, say=lambda text: err_console.print(text, highlight=False), progress=progress
        )
        err_console.print(f"{len(rows)} rows in {out / 'table.csv'}; report in {out / 'report.md'}", highlight=False)
