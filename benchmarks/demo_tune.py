"""Choose the `deit demo` settings on a validation split carved from the digits *training* part.

The demo's held-out test split is never touched here: ``deit.builders.build_dataset`` is wrapped so that, for
``digits``, "val" is a stratified, seeded carve of the digits training split (``--val-fraction``, default 20 %)
and "train" the rest (from which ``--train-per-class`` draws, when set), and
everything else is the demo's own code path (``deit.demo.build_configs`` -> ``deit.trainer.train``). The
score of a run is its *last* epoch on that validation carve (as the demo reports the last checkpoint).

    python benchmarks/demo_tune.py --seeds 0 1 --set student_lr=4e-3 --set hard_alpha=0.5
    python benchmarks/demo_tune.py --seeds 0 --set hflip=0.5 --runs teacher hard_distillation
    python benchmarks/demo_tune.py --seeds 0 1 2 --json tune.jsonl  # append one JSON line per setting
    # data-starved: 5 images per class drawn from a 10 % carve, the other 90 % (1,294 images) to score on
    python benchmarks/demo_tune.py --val-fraction 0.9 --seeds 0 1 2 3 4 --runs teacher
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from dataclasses import fields, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

import deit.builders as builders_mod
from deit.data import build_transform
from deit.data.datasets import DigitsDataset, SubsetDataset, split_indices
from deit.demo import DEFAULT, RUNS, DemoSettings, build_configs

VAL_FRACTION = 0.2
_build_dataset = builders_mod.build_dataset


def carved_digits(
    path: Any,
    split: str,
    transform: Any = None,
    val_split: float = 0.0,
    seed: int = 0,
    skip_corrupt: bool = False,
    img_size: int = 32,
    val_fraction: float = VAL_FRACTION,
) -> Any:
    """Digits: train/val = a stratified carve (val_fraction to val) of the digits *training* split; else unchanged."""
    if str(path).lower() != "digits":
        return _build_dataset(path, split, transform, val_split, seed, skip_corrupt, img_size)
    full = DigitsDataset(
        img_size=img_size, train=True, test_fraction=val_split or 0.2, seed=seed, transform=transform
    )
    train_idx, val_idx = split_indices(full.targets, val_fraction, seed + 1000)
    return SubsetDataset(full, train_idx if split == "train" else val_idx)


def _parse_value(text: str, current: Any) -> Any:
    if isinstance(current, bool):
        return text.lower() in ("1", "true", "yes")
    if text.lower() == "none":
        return None
    if current is None:
        return int(text)
    return type(current)(text)


def settings_from(pairs: list[str], base: DemoSettings) -> DemoSettings:
    known = {f.name: getattr(base, f.name) for f in fields(DemoSettings)}
    changes: dict[str, Any] = {}
    extra, student_extra = dict(base.extra), dict(base.student_extra)
    for pair in pairs:
        key, _, text = pair.partition("=")
        if key in known and key not in ("extra", "student_extra"):
            changes[key] = _parse_value(text, known[key])
            continue
        value = json.loads(text) if text[:1] in "[{0123456789-" or text in ("true", "false") else text
        if key.startswith("student."):  # a TrainConfig field for the students only: --set student.mixup=0.8
            student_extra[key.removeprefix("student.")] = value
        else:  # any other TrainConfig field for every run, e.g. --set weight_decay=0.1
            extra[key] = value
    return replace(
        base,
        **changes,
        extra=tuple(sorted(extra.items())),
        student_extra=tuple(sorted(student_extra.items())),
    )


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def tune_one(settings: DemoSettings, seed: int, out: Path, runs: list[str], reuse_teacher: bool) -> dict:
    from deit.analysis.tokens import token_cosine
    from deit.checkpoint import load_model_from_checkpoint
    from deit.trainer import train

    cfgs = build_configs(out, settings, seed, "cpu", overwrite=True)
    result: dict[str, Any] = {"seed": seed}
    have_teacher = (out / "teacher" / "last.pt").is_file()
    for run in RUNS:
        cfg = cfgs[run]
        if run == "teacher" and have_teacher and (reuse_teacher or "teacher" not in runs):
            continue
        if run != "teacher" and run not in runs:
            continue
        t_wall, t_cpu = time.perf_counter(), cpu_seconds()
        metrics = train(cfg)["metrics"]
        result[run] = {k: round(v, 2) for k, v in metrics.items() if k.endswith("top1")}
        result[run]["wall_s"] = round(time.perf_counter() - t_wall, 1)
        result[run]["cpu_s"] = round(cpu_seconds() - t_cpu, 1)
        if run == "hard_distillation":
            model, meta = load_model_from_checkpoint(out / run / "last.pt")
            val = builders_mod.build_dataset(
                "digits",
                "val",
                build_transform(False, meta["img_size"]),
                seed=cfg.split_seed,
                img_size=meta["img_size"],
            )
            loader = torch.utils.data.DataLoader(val, batch_size=256)
            result[run]["cosine"] = [round(v, 3) for v in token_cosine(model, loader).per_layer]
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a DemoSettings field, any TrainConfig field (every run) or student.FIELD (students only)",
    )
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS)
    p.add_argument("--out", default="/tmp/deit-demo-tune")
    p.add_argument("--reuse-teacher", action="store_true", help="keep out/seedN/teacher if it exists")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="append the result as one JSON line to this file")
    p.add_argument("--tag", default="")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=VAL_FRACTION,
        help="share of the digits training split carved off to score on (default %(default)s)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    builders_mod.build_dataset = partial(carved_digits, val_fraction=args.val_fraction)
    settings = settings_from(args.set, DEFAULT)
    logging.getLogger("deit").setLevel(logging.WARNING)
    results = []
    for seed in args.seeds:
        r = tune_one(settings, seed, Path(args.out) / f"seed{seed}", args.runs, args.reuse_teacher)
        print(json.dumps(r), flush=True)
        results.append(r)
    summary = {"tag": args.tag, "set": args.set, "val_fraction": args.val_fraction, "results": results}
    for run in RUNS:
        vals = [r[run]["top1"] for r in results if run in r]
        if vals:
            summary[f"{run}_mean_top1"] = round(sum(vals) / len(vals), 2)
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}), flush=True)
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
