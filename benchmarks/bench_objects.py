"""NatOcc objects stages on CPU: RainNet harmonisation, the lab-stats fallback, COCO extraction, upscaling.

    python benchmarks/bench_objects.py [--batch 8] [--objects 200] [--threads 0]

Measures (random-init weights: speed does not depend on the values; nothing is downloaded):
- RainNet (ngf 64) forward at 256², batch ``--batch``: images/s in fp32, fp32 + channels_last,
  bf16 autocast, bf16 + channels_last;
- the harmonisers end to end on a 512² composite (crop, resize, network, paste back): ms per sample,
  RainNet (fp32, bf16) and lab-stats;
- COCO extraction on a synthetic COCO-format dataset (640x480 JPEGs, polygon objects): objects/s with 1
  and 2 workers;
- x4 upscaling of the extracted cut-outs with the lanczos backend: cut-outs/s.
Not a test: absolute times drift between runs (and with other load on the machine); compare ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from occgen.appearance.harmonise import make_harmoniser
from occgen.appearance.rainnet import RainNet
from occgen.prep.objects.coco import CocoFilter, extract_coco
from occgen.prep.objects.upscale import LanczosUpscaler, upscale_folder


def rainnet_rate(batch: int, dtype: torch.dtype, channels_last: bool, repeats: int = 3) -> float:
    model = RainNet(ngf=64).eval()
    x = torch.rand(batch, 4, 256, 256) * 2 - 1
    mask = torch.zeros(batch, 1, 256, 256)
    mask[:, :, 64:192, 64:192] = 1.0
    x[:, 3:] = mask
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=dtype == torch.bfloat16):
        model(x, mask)  # warm-up
        started = time.perf_counter()
        for _ in range(repeats):
            model(x, mask)
    return batch * repeats / (time.perf_counter() - started)


def composite_512() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal((200, 150, 120), 12, (512, 512, 3)), 0, 255).astype(np.uint8)
    alpha = np.zeros((512, 512), np.float32)
    cv2.ellipse(alpha, (256, 300), (110, 80), 0, 0, 360, 1.0, -1)
    image[alpha > 0] = (40, 60, 200)
    return image, cv2.GaussianBlur(alpha, (5, 5), 0)


def harmoniser_ms(harmoniser, repeats: int) -> float:
    image, alpha = composite_512()
    harmoniser.apply(image, alpha)
    started = time.perf_counter()
    for _ in range(repeats):
        harmoniser.apply(image, alpha)
    return (time.perf_counter() - started) / repeats * 1000.0


def harmoniser_batch_ms(harmoniser, batch: int) -> float:
    image, alpha = composite_512()
    images, alphas = [image] * batch, [alpha] * batch
    harmoniser.apply_batch(images[:1], alphas[:1])
    started = time.perf_counter()
    harmoniser.apply_batch(images, alphas)
    return (time.perf_counter() - started) / batch * 1000.0


def synthetic_coco(root: Path, objects: int) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    per_image = 4
    for image_id in range(1, objects // per_image + 1):
        name = f"{image_id:012d}.jpg"
        cv2.imwrite(str(root / "images" / name), rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
        images.append({"id": image_id, "file_name": name, "width": 640, "height": 480, "license": 1})
        for k in range(per_image):
            cx, cy = 100 + 150 * k, 240
            rx, ry = rng.uniform(40, 70), rng.uniform(60, 120)
            angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
            poly = np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], 1).ravel().round(1).tolist()
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 47, "iscrowd": 0,
                         "area": float(np.pi * rx * ry), "bbox": [cx - rx, cy - ry, 2 * rx, 2 * ry],
                         "segmentation": [poly]})  # fmt: skip
    data = {"images": images, "annotations": anns, "categories": [{"id": 47, "name": "cup"}],
            "licenses": [{"id": 1, "name": "test", "url": ""}]}  # fmt: skip
    path = root / "instances_bench.json"
    path.write_text(json.dumps(data))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    variants = [("fp32", torch.float32, False), ("fp32 channels_last", torch.float32, True),
                ("bf16", torch.bfloat16, False), ("bf16 channels_last", torch.bfloat16, True)]  # fmt: skip
    for label, dtype, cl in variants:
        rate = rainnet_rate(args.batch, dtype, cl)
        print(f"RainNet 256², batch {args.batch}, {label:<18}: {rate:6.2f} images/s ({1000 / rate:6.0f} ms/image)")
    workdir = Path(tempfile.mkdtemp(prefix="occgen-bench-objects-"))
    try:
        checkpoint = workdir / "rainnet.pth"
        torch.save(RainNet(ngf=64).state_dict(), checkpoint)
        for label, kwargs in (("rainnet fp32", {}), ("rainnet bf16", {"dtype": "bfloat16"})):
            harmoniser = make_harmoniser(checkpoint, batch_size=args.batch, **kwargs)
            ms = harmoniser_ms(harmoniser, repeats=2)
            batched = harmoniser_batch_ms(harmoniser, args.batch)
            print(f"harmonise 512² composite, {label:<13}: {ms:7.1f} ms/sample one at a time, "
                  f"{batched:7.1f} ms/sample in batches of {args.batch}")  # fmt: skip
        print(f"harmonise 512² composite, {'lab-stats':<13}: {harmoniser_ms(make_harmoniser(None), 20):7.1f} ms/sample")
        annotations = synthetic_coco(workdir / "coco", args.objects)
        filters = CocoFilter(categories=("cup",))
        for workers in (1, 2):
            report = extract_coco(annotations, workdir / "coco" / "images", workdir / f"out{workers}",
                                  filters=filters, workers=workers)  # fmt: skip
            print(f"COCO extraction, {workers} worker(s): {report.objects_per_second:6.1f} objects/s "
                  f"({report.written} objects, {report.seconds:.2f} s incl. reading annotations)")  # fmt: skip
        report = upscale_folder(workdir / "out1", workdir / "up", LanczosUpscaler(4))
        print(f"upscale x4 lanczos: {report.written / report.seconds:6.1f} cut-outs/s")
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
