"""Does ``--recipe auto`` land near the best setting of a small sweep? CIFAR-10 subsets, validation split only.

    python benchmarks/recipe_sweep.py --per-class 100 --jobs 2          # ../shared/data/cifar10/train
    python benchmarks/recipe_sweep.py --per-class 100 --sweep lr=5e-4 lr=2e-3 aa=rand-m5-mstd0.5-inc1

Data: the first ``--per-class`` images of every class of ``../shared/data/cifar10/train`` (sorted file names)
train; the last 100 of every class are the validation split (never trained on, the same for every run; the
official test split is not used). Each run is ``deit train`` with the auto recipe plus at most one changed
flag; the table gives the final and best validation top-1 and the time. Runs already finished are reused.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CIFAR = ROOT.parent / "shared" / "data" / "cifar10" / "train"
VAL_PER_CLASS = 100


def make_split(out: Path, per_class: int) -> Path:
    """``out/train`` and ``out/val`` as ImageFolders of symbolic links into the shared CIFAR-10 folder."""
    if not CIFAR.is_dir():
        raise SystemExit(f"{CIFAR} not found: this benchmark needs the shared CIFAR-10 training split")
    for cls_dir in sorted(p for p in CIFAR.iterdir() if p.is_dir()):
        files = sorted(cls_dir.iterdir())
        if len(files) < per_class + VAL_PER_CLASS:
            raise SystemExit(f"{cls_dir}: {len(files)} images, fewer than {per_class} + {VAL_PER_CLASS}")
        for split, chosen in (("train", files[:per_class]), ("val", files[-VAL_PER_CLASS:])):
            dst = out / split / cls_dir.name
            dst.mkdir(parents=True, exist_ok=True)
            for f in chosen:
                link = dst / f.name
                if not link.exists():
                    link.symlink_to(f)
    return out


def train(name: str, data: Path, out: Path, model: str, extra: list[str], threads: int) -> dict:
    run = out / "runs" / name
    metrics = run / "metrics.jsonl"
    argv = ["deit", "train", "--data", str(data), "--model", model, "--output", str(run)]
    argv += ["--workers", "1", "--threads", str(threads), *extra]
    t0 = time.perf_counter()
    if not (run / "model.safetensors").is_file():
        subprocess.run(
            [*argv, "--overwrite"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    vals = [r["val_top1"] for r in rows if "val_top1" in r]
    recipe = {k: v for k, v in _config(run).items() if k in _SHOWN}
    return {
        "name": name,
        "command": shlex.join(argv),
        "epochs": rows[-1]["epoch"],
        "final": vals[-1],
        "best": max(vals),
        "minutes": (time.perf_counter() - t0) / 60,
        "recipe": recipe,
    }


_SHOWN = ("epochs", "batch_size", "lr", "warmup_epochs", "aa", "mixup", "cutmix", "drop_path", "reprob")


def _config(run: Path) -> dict:
    import yaml

    return yaml.safe_load((run / "config.yaml").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-class", type=int, default=100, help="training images per class (default: 100)")
    p.add_argument("--model", default="deit_micro_patch4_32", help="student (default: deit_micro_patch4_32)")
    p.add_argument(
        "--sweep",
        nargs="*",
        default=["lr=5e-4", "lr=2e-3", "aa=rand-m5-mstd0.5-inc1"],
        help="one-flag changes to the auto recipe, FIELD=VALUE (default: lr=5e-4 lr=2e-3 aa=rand-m5-mstd0.5-inc1)",
    )
    p.add_argument("--jobs", type=int, default=2, help="runs at the same time (default: 2)")
    p.add_argument("--out", type=Path, default=Path("runs/recipe_sweep"), help="work folder")
    a = p.parse_args()
    data = make_split(a.out / f"cifar10_{a.per_class}", a.per_class)
    variants = [("auto", [])] + [
        (s, [f"--{s.split('=')[0].replace('_', '-')}", s.split("=", 1)[1]]) for s in a.sweep
    ]
    out = a.out / f"n{a.per_class}"
    with ThreadPoolExecutor(a.jobs) as pool:
        results = list(pool.map(lambda v: train(v[0], data, out, a.model, v[1], 1), variants))
    print(f"CIFAR-10, {a.per_class} training images per class, val {VAL_PER_CLASS}/class, {a.model}")
    print("run | epochs | val top-1 final | best | minutes | recipe")
    for r in results:
        print(
            f"{r['name']} | {r['epochs']} | {r['final']:.2f} | {r['best']:.2f} | {r['minutes']:.1f} | {r['recipe']}"
        )
    best = max(results, key=lambda r: r["final"])
    gap = best["final"] - results[0]["final"]
    print(
        f"auto {results[0]['final']:.2f} vs best of sweep ({best['name']}) {best['final']:.2f}: gap {gap:.2f} points"
    )
    (out / "results.json").write_text(json.dumps(results, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
