#!/usr/bin/env python
"""Augmented training batches per second: the PIL DataLoader vs the batched data path (``--data-cache``).

    python benchmarks/data_path.py                         # CIFAR-10 JPEGs from ../shared, CPU, 2 workers
    python benchmarks/data_path.py --device cuda --data-cache device
    python benchmarks/data_path.py --img-size 32 64 96 128 --threads 2 --synthetic   # --data-cache auto's size rule

Both sides produce the same thing: normalised ``[B, 3, 32, 32]`` batches with the default DeiT small-image
training augmentation (pad-4 crop, flip, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25), on
``--images`` images. The PIL side is the trainer's DataLoader with ``--workers`` processes; the batched
side decodes the images once (timed apart: it is paid once per run, not per epoch) and then augments
whole batches in the main process with ``--threads`` torch threads (default 1: one core against the
PIL side's two worker processes; on our loaded 2-core machine 2 threads were slower than 1).
Mixup/CutMix is left out of both: the engine applies it to either path's batches alike. ``--img-size``
repeats the comparison at larger sizes (ImageNet-style pipeline above 32 px) on JPEGs of that size
(``--synthetic``: random-colour JPEGs generated at each size): the size above which PIL workers outrun the
batched CPU path is ``deit.data_path_choice.CPU_CACHE_MAX_SIDE``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from deit.data import IMAGENET_MEAN, IMAGENET_STD, build_dataset, build_transform
from deit.data.batch_aug import build_batch_transform
from deit.data.cache import CachedLoader, build_cache, cache_size, cache_transform

ROOT = Path(__file__).resolve().parents[1]
CIFAR = ROOT / ".." / "shared" / "data" / "cifar10" / "train"


def synthetic_folder(n: int, size: int = 32) -> Path:
    import numpy as np
    from PIL import Image

    root = Path(tempfile.mkdtemp(prefix="data_path_"))
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / f"c{i % 10}"
        d.mkdir(exist_ok=True)
        # smooth images (blurred noise) decode like photos; pure noise would overstate JPEG decoding
        small = rng.integers(0, 256, (max(2, size // 8), max(2, size // 8), 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.BICUBIC).save(d / f"{i:05d}.jpg", quality=90)
    return root


def rate(loader, batches: int, batch_size: int) -> tuple[float, float]:
    """(img/s after the first batch, seconds to the first batch)."""
    t0 = time.perf_counter()
    it = iter(loader)
    next(it)
    t1 = time.perf_counter()
    n = 0
    for _ in range(batches):
        try:
            x, _ = next(it)
        except StopIteration:
            it = iter(loader)
            x, _ = next(it)
        n += x.shape[0]
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t1), t1 - t0


def compare(data: Path, size: int, a: argparse.Namespace, device: torch.device) -> dict:
    """img/s of the PIL DataLoader and of the batched path on ``data`` at ``size`` px."""
    pil_ds = build_dataset(str(data), "train", build_transform(True, size, IMAGENET_MEAN, IMAGENET_STD))
    pil_ds = Subset(pil_ds, range(min(a.images, len(pil_ds))))
    pil = DataLoader(pil_ds, batch_size=a.batch_size, shuffle=True, num_workers=a.workers, drop_last=True)
    pil_rate, pil_first = rate(pil, a.batches, a.batch_size)

    raw = build_dataset(str(data), "train", cache_transform(cache_size(size)))
    raw = Subset(raw, range(min(a.images, len(raw))))
    t0 = time.perf_counter()
    cache = build_cache(raw, a.data_cache, device, a.workers)
    decode_s = time.perf_counter() - t0
    tf = build_batch_transform(True, size, IMAGENET_MEAN, IMAGENET_STD, device=device)
    loader = CachedLoader(cache, torch.randperm(len(cache)).tolist(), a.batch_size, tf, device)
    ours_rate, ours_first = rate(loader, a.batches, a.batch_size)
    return {
        "data": str(data),
        "img_size": size,
        "images": len(raw),
        "batch_size": a.batch_size,
        "workers": a.workers,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "pil_img_s": pil_rate,
        "pil_first_batch_s": pil_first,
        "batched_img_s": ours_rate,
        "batched_first_batch_s": ours_first,
        "decode_once_s": decode_s,
        "ratio": ours_rate / pil_rate,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(CIFAR), help="ImageFolder (default: ../shared CIFAR-10 JPEGs)")
    p.add_argument("--synthetic", action="store_true", help="generated JPEGs at each --img-size instead")
    p.add_argument("--img-size", type=int, nargs="+", default=[32], help="training image sizes to compare")
    p.add_argument("--images", type=int, default=10_000, help="first N images (a subset)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--batches", type=int, default=30, help="timed batches per side")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the batched side")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-cache", choices=["memory", "device"], default="memory")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    results = []
    print(
        f"size | PIL ({a.workers} workers) img/s | batched ({a.data_cache}, {a.threads} threads) img/s | ratio"
    )
    for size in a.img_size:
        torch.manual_seed(0)
        real = Path(a.data).is_dir() and not a.synthetic
        data = Path(a.data) if real else synthetic_folder(a.images, size)
        res = compare(data, size, a, device)
        results.append(res)
        print(
            f"{size} | {res['pil_img_s']:.0f} | {res['batched_img_s']:.0f} (+ {res['decode_once_s']:.1f} s decoding "
            f"{res['images']} images once) | {res['ratio']:.2f}x",
            flush=True,
        )
    if a.json:
        Path(a.json).write_text(json.dumps(results if len(results) > 1 else results[0], indent=1))


if __name__ == "__main__":
    main()
