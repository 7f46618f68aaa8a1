#!/usr/bin/env python
"""Read throughput: decoded + augmented training images per second from an ImageFolder, from WebDataset shards
(``deit data pack``) and from ``hf:`` (a ``datasets`` folder written by ``save_to_disk``), interleaved.

    python benchmarks/read_throughput.py                                  # synthetic JPEGs, 2 workers, 6 rounds
    python benchmarks/read_throughput.py --data ../shared/data/cifar10/train --images 5000 --img-size 32

Every source goes through the same DeiT training transform (random resized crop, flip, RandAugment
rand-m9-mstd0.5-inc1, colour jitter, random erasing 0.25) at ``--img-size`` with the trainer's loader
(``--workers`` processes, batch ``--batch-size``); one round reads every image of every source once, the
sources in a rotated order each round, so machine load hits them alike. Reported: the median img/s over
rounds and its ratio to the ImageFolder's, plus the packing rate of ``deit data pack`` and of
``save_to_disk``. The synthetic set: ``--images`` noisy JPEGs of 320 x 240 (ImageNet-like decode cost)
in 10 classes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from deit.data import build_dataset, build_transform
from deit.data.shard_pack import pack
from deit.data.shards import ShardSampler, ShardStream


def synthetic_folder(root: Path, n: int, classes: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)  # smooth blocks + noise: JPEG-like content
        pixels = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8)) + rng.integers(
            0, 24, (240, 320, 3), dtype=np.uint8
        )
        Image.fromarray(pixels).save(folder / f"{i:06d}.jpg", quality=90)
    return root


def read_all(dataset: object, args: argparse.Namespace, epoch: int) -> tuple[int, float]:
    """(images read, seconds) for one pass with the trainer's loader settings."""
    if isinstance(dataset, ShardStream):
        stream = ShardSampler(dataset, 1, 0, args.workers, args.batch_size, seed=0).epoch_stream(epoch)
        loader = DataLoader(stream, batch_size=args.batch_size, num_workers=args.workers)
    else:
        generator = torch.Generator().manual_seed(epoch)
        loader = DataLoader(
            dataset,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            drop_last=True,
            generator=generator,
        )
    start, count = time.perf_counter(), 0
    for images, _ in loader:
        count += len(images)
    return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="an ImageFolder (default: a synthetic one)")
    parser.add_argument("--images", type=int, default=2000, help="synthetic images (default 2000)")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="read_throughput_") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, work: Path) -> None:
    folder = args.data or synthetic_folder(work / "folder", args.images)
    packed = pack(folder, work / "shards", shard_size=args.shard_size)
    import datasets

    start = time.perf_counter()
    table = datasets.load_dataset("imagefolder", data_dir=str(folder), split="train")
    table.save_to_disk(str(work / "hf"))
    hf_seconds = time.perf_counter() - start
    transform = build_transform(True, args.img_size)
    sources = {
        "ImageFolder": build_dataset(folder, "train", transform),
        "shards": build_dataset(work / "shards", "train", transform),
        "hf:": build_dataset(f"hf:{work / 'hf'}", "train", transform),
    }
    rates: dict[str, list[float]] = {name: [] for name in sources}
    names = list(sources)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            count, seconds = read_all(sources[name], args, round_)
            rates[name].append(count / seconds)
            print(f"round {round_ + 1}: {name:<12} {count} images {count / seconds:8.1f} img/s", flush=True)

    n = len(sources["ImageFolder"])
    print(
        f"\n{n} images, {args.img_size} px, {args.workers} workers, batch {args.batch_size}, {args.rounds} rounds"
    )
    print(f"packing: deit data pack {packed['images_per_s']:.0f} img/s ({packed['mb_per_s']:.1f} MB/s);")
    print(f"         datasets imagefolder + save_to_disk {n / hf_seconds:.0f} img/s")
    base = statistics.median(rates["ImageFolder"])
    print("| source | median img/s | min | max | vs ImageFolder |\n|---|---:|---:|---:|---:|")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {min(values):.1f} | {max(values):.1f} | {median / base:.3f} |")
    if args.json:
        result = {"images": n, "args": {k: str(v) for k, v in vars(args).items()}, "rates": rates}
        result |= {"pack_images_per_s": packed["images_per_s"], "hf_save_images_per_s": n / hf_seconds}
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
