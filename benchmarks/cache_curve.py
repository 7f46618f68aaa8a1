"""Training curves through the PIL path and the cached path (``--data-cache memory``) on non-square images.

    PYTHONPATH=src python benchmarks/cache_curve.py --out /tmp/cache_curve [--task disc|bands] [--seeds 0 1 2]

Writes a generated ImageFolder (4 classes, 60 images each, non-square: 40x64, 64x40, 56x72, 48x48, on
smooth noise), trains ``tiny_cnn`` at 40 px (the ImageNet-style random-resized-crop pipeline: RandAugment,
random erasing, flip) through both paths for every seed, and prints per-epoch train loss and val top-1,
mean ± SD over seeds. ``disc``: a class-coloured disc at a random place. ``bands``: the class colour only
in bands at both ends of the long side (1/8 of it each), nothing in the centre: only crops that reach the
borders can learn it (train loss; the eval centre crop never sees the bands, so val top-1 stays at chance).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
from PIL import Image

from deit.checkpoint import read_jsonl
from deit.config import TrainConfig
from deit.trainer import train

COLOURS = ((220, 40, 40), (40, 200, 40), (40, 60, 220), (220, 200, 40))
SHAPES = ((40, 64), (64, 40), (56, 72), (48, 48))  # (height, width)


def write_data(root: Path, task: str, per_class: int = 60, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for c, colour in enumerate(COLOURS):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = SHAPES[i % len(SHAPES)]
            noise = rng.integers(60, 196, (4, 6, 3), dtype=np.uint8)
            img = np.array(Image.fromarray(noise).resize((w, h), Image.BICUBIC)).astype(np.float32)
            yy, xx = np.mgrid[:h, :w]
            if task == "bands":
                pos, long = (xx, w) if w >= h else (yy, h)
                img[(pos < long // 8) | (pos >= long - long // 8)] = colour
            else:
                cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), min(h, w) * rng.uniform(0.15, 0.3)
                img[((yy - cy) ** 2 + (xx - cx) ** 2) < r * r] = colour
            Image.fromarray(img.astype(np.uint8)).save(root / f"c{c}" / f"{i}.png")


def run(data: Path, out: Path, cache: str, seed: int, epochs: int) -> list[dict]:
    cfg = TrainConfig(
        data=str(data),
        val_split=0.25,
        model="tiny_cnn",
        img_size=40,
        batch_size=32,
        workers=0,
        threads=1,
        epochs=epochs,
        warmup_epochs=0,
        lr=1e-2,
        aa="rand-m9-mstd0.5-inc1",
        reprob=0.25,
        mixup=0.0,
        cutmix=0.0,
        repeated_aug=False,
        seed=seed,
        data_cache=cache,
        output=str(out / f"{cache}-s{seed}"),
        log_interval=1000,
    )
    train(cfg)
    return read_jsonl(out / f"{cache}-s{seed}" / "metrics.jsonl")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--task", choices=["disc", "bands"], default="disc")
    a = p.parse_args()
    write_data(a.out / "data", a.task)
    curves = {
        cache: [run(a.out / "data", a.out, cache, s, a.epochs) for s in a.seeds]
        for cache in ("none", "memory")
    }
    table = []
    for e in range(a.epochs):
        row = {"epoch": e}
        for cache, runs in curves.items():
            for key in ("train_loss", "val_top1"):
                vals = [r[e][key] for r in runs]
                row[f"{cache}_{key}"] = round(statistics.mean(vals), 3)
                row[f"{cache}_{key}_sd"] = round(statistics.stdev(vals), 3) if len(vals) > 1 else 0.0
        table.append(row)
        print(
            f"epoch {e}: train loss PIL {row['none_train_loss']:.3f} ± {row['none_train_loss_sd']:.3f} "
            f"cache {row['memory_train_loss']:.3f} ± {row['memory_train_loss_sd']:.3f} | val top-1 PIL "
            f"{row['none_val_top1']:.1f} ± {row['none_val_top1_sd']:.1f} cache {row['memory_val_top1']:.1f} "
            f"± {row['memory_val_top1_sd']:.1f}"
        )
    (a.out / "curves.json").write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
