"""The paper pipeline (pipelines/paper) on a rehearsal of its four datasets at their real sizes (issue 12):
writes the rehearsal (tests/_rehearsal.py: CelebAMask-HQ 1024² faces with 512² part PNGs, 11k Hands
1600x1200 photos, COCO 640x480 images with polygon and RLE instances, DTD's 47 categories), copies the
repository as a clean clone would have it, points the copy's params.yaml at the rehearsal, and runs the
data stages plus one training and one evaluation with `dvc repro -s STAGE` one at a time. Prints per stage
items/s (wall time, including DVC's own ~2 s per stage) and the peak RSS summed over all processes of the
stage (DVC, occgen and its workers; sampled from /proc every 0.1 s), then the share of NatOcc-SOT
generation time per step (benchmarks/bench_natocc_stages.py, one worker under cProfile) on the rehearsal
faces, matted hands and upscaled objects.

    python benchmarks/bench_paper_stages.py --faces 64 --hands 32 --coco-images 80 [--keep /tmp/paper-rehearsal]

The full stage matrix (every training and evaluation) is run at tiny sizes by tests/test_paper_pipeline.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _rehearsal import celebamask_hq, coco, dtd, eleven_k_hands, eval_set  # noqa: E402  (the tests' writers)
from bench_natocc_stages import print_shares, profile_stages  # noqa: E402
from test_dvc import GIT, copy_tracked_files  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Bytes resident in ``root`` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError):
                continue
    family, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in family]
        family.update(children)
        frontier = children
    total = 0
    for pid in family:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError):
            continue
    return total


def run_stage(stage: str, cwd: Path) -> tuple[float, int]:
    """``dvc repro -s stage``: wall seconds and peak RSS (bytes) summed over its process tree."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(["dvc", "repro", "-s", stage], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_rss(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    if process.returncode:
        raise SystemExit(f"dvc repro -s {stage} failed:\n{output}")
    return seconds, peak[0]


def paper_params(params: dict, data: Path, args: argparse.Namespace) -> dict:
    faces = data / "CelebAMask-HQ"
    params["base"]["size"] = args.size
    params["faces"].update(path=str(faces), split=str(faces / "splits" / "train.txt"))
    params["textures"].update(path=str(data / "dtd"), split="train1")
    params["randocc"].update(n=2 * args.faces)
    params["hands"].update(path=str(data / "11k"), names_file=None)
    params["objects"].update(annotations=str(data / "coco" / "annotations" / "instances_rehearsal.json"),
                             images=str(data / "coco" / "images"))  # fmt: skip
    params["natocc"].update(n=2 * args.faces)
    params["train"].update(epochs=1, workers=0)
    params["evaluate"].update(fps_iterations=0)
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=64)
    parser.add_argument("--hands", type=int, default=32)
    parser.add_argument("--coco-images", type=int, default=80)
    parser.add_argument("--coco-per-image", type=int, default=4)
    parser.add_argument("--dtd-per-category", type=int, default=2)
    parser.add_argument("--eval-images", type=int, default=16)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it (default: a temp folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        data = work / "rehearsal"
        started = time.perf_counter()
        celebamask_hq(data, args.faces)
        eleven_k_hands(data, args.hands)
        coco(data, args.coco_images, args.coco_per_image)
        dtd(data, args.dtd_per_category)
        instances = args.coco_images * args.coco_per_image
        print(f"rehearsal written in {time.perf_counter() - started:.0f} s: {args.faces} faces, {args.hands} hands, "
              f"{instances} COCO instances, 47 x {args.dtd_per_category} textures")  # fmt: skip

        repo = work / "repo"
        copy_tracked_files(repo)
        paper = repo / "pipelines" / "paper"
        params_file = paper / "params.yaml"
        params = paper_params(yaml.safe_load(params_file.read_text()), data, args)
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        eval_set(paper / "data" / "eval", "cofw", args.eval_images, side=args.size)
        for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "clean copy"]):
            subprocess.run([*GIT, *command], cwd=repo, check=True, capture_output=True)

        from occgen.sources.objects import CocoObjects
        from occgen.store import open_store

        n = 2 * args.faces
        stages = {  # stage: (items, unit) given the stage's outputs
            "faces": lambda: (args.faces, "faces"),
            "randocc": lambda: (n, "samples"),
            "objects": lambda: (instances, "instances read"),
            "objects_sr": lambda: (len(CocoObjects(paper / "data" / "objects_sr")), "cut-outs"),
            "hands": lambda: (args.hands, "photos"),
            "hands_sr": lambda: (args.hands, "hands"),
            "natocc@natocc": lambda: (n, "samples"),
            "natocc@natocc_sot": lambda: (n, "samples"),
            "mix": lambda: (len(open_store(paper / "data" / "mix.zarr")), "index entries"),
            "train@natocc": lambda: (args.faces + n, "samples (1 epoch)"),
            "evaluate@natocc-cofw": lambda: (args.eval_images, "images"),
        }
        print("\n| stage | items | seconds | items/s | peak RSS, all processes |\n|---|---|---|---|---|")
        for stage, items in stages.items():
            seconds, rss = run_stage(stage, paper)
            count, unit = items()
            print(f"| {stage} | {count} {unit} | {seconds:.1f} | {count / seconds:.2f} | {rss / 2**20:.0f} MB |",
                  flush=True)  # fmt: skip

        from occgen.settings import build_natocc_recipe, load_natocc_settings

        settings = load_natocc_settings(params_file)
        natocc = replace(settings.natocc, hands_dir=paper / "data" / "hands_sr",
                         objects_dir=paper / "data" / "objects_sr", color_transfer="sot")  # fmt: skip
        total, seconds_by_step = profile_stages(build_natocc_recipe(replace(settings, natocc=natocc)), args.faces)
        print(f"\nNatOcc-SOT generation, {args.faces} samples at {args.size}² on the rehearsal: {total:.1f} s "
              f"({args.faces / total:.1f} samples/s, 1 worker, profiled)")  # fmt: skip
        print_shares(total, seconds_by_step)


if __name__ == "__main__":
    main()
