"""Images per second of the batched training augmentation (``--data-cache``), one process, one thread.

    PYTHONPATH=src python benchmarks/batch_aug_speed.py [--before OLD/src/deit/data/batch_aug.py]

Times, interleaved in one process so that all see the same machine load, the default training recipe
(crop, flip, RandAugment, random erasing) on 224-px (stored 256) and 32-px batches: ``square`` passes the
originals' sizes, all square (what the cache holds for CIFAR); ``mixed`` passes non-square originals
(3:4, 4:3, 9:16, 1:1), whose boxes are mapped onto the stored square; ``before`` (with ``--before``) is an
older ``batch_aug.py`` called on the squares alone. Median of ``--reps`` timed batches after one warm-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable

import torch

from deit.data import IMAGENET_MEAN, IMAGENET_STD
from deit.data.batch_aug import build_batch_transform

ASPECTS = ((3, 4), (4, 3), (9, 16), (1, 1))  # (height, width) ratios of the "mixed" originals


def original_sizes(n: int, side: int, kind: str) -> torch.Tensor:
    if kind == "square":
        return torch.full((n, 2), side)
    rows = [ASPECTS[i % len(ASPECTS)] for i in range(n)]
    return torch.tensor([[side * h // min(h, w), side * w // min(h, w)] for h, w in rows])


def load_before(path: str) -> Callable:
    spec = importlib.util.spec_from_file_location("batch_aug_before", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--before {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_batch_transform


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", help="an older deit/data/batch_aug.py to time alongside")
    p.add_argument("--reps", type=int, default=7)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for img_size, stored, batch in ((224, 256, 64), (32, 32, 256)):
        x = torch.randint(0, 256, (batch, 3, stored, stored), dtype=torch.uint8)
        tf = build_batch_transform(True, img_size, IMAGENET_MEAN, IMAGENET_STD)
        calls = {kind: (tf, original_sizes(batch, stored, kind)) for kind in ("square", "mixed")}
        if a.before:
            calls["before"] = (load_before(a.before)(True, img_size, IMAGENET_MEAN, IMAGENET_STD), None)
        times: dict[str, list[float]] = {kind: [] for kind in calls}
        for rep in range(a.reps + 1):
            for kind, (f, sizes) in calls.items():
                args = () if sizes is None else (sizes,)
                t = time.perf_counter()
                f(x.clone(), *args)
                if rep:  # the first round warms up
                    times[kind].append(time.perf_counter() - t)
        cells = ", ".join(f"{kind} {batch / statistics.median(v):.0f}" for kind, v in times.items())
        print(f"img_size {img_size} (stored {stored}), batch {batch}: img/s {cells}")


if __name__ == "__main__":
    main()
