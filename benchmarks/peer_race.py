"""Race `deit train` against the official DeiT code (main.py) and timm's train.py on the same job.

The job (issue 22): DeiT-Ti at 64 px on 3,000 CIFAR-10 photos (300 per class of
``../shared/data/cifar10/train``, 10 classes), batch 64, Table-9 hyper-parameters (AdamW, lr 5e-4 x 64/512,
RandAugment m9, Mixup 0.8 / CutMix 1.0, random erasing 0.25, label smoothing 0.1, drop-path 0.1, weight EMA 0.99996 as the official default),
2 epochs. Two jobs: ``teacher`` (the distilled student, hard distillation from a RegNetY-200MF teacher;
timm's train.py builds its teacher from released weights, so it runs the ``none`` job only) and ``none``
(DeiT-Ti, no teacher).

Every program is timed the same way, from outside its code: a ``sitecustomize`` module on PYTHONPATH adds
a global ``torch.optim`` step hook that records the time of every optimizer step. img/s is the batch over
the step time, taken over non-overlapping 10-step windows after the first 10 steps (so start-up, the first
batches and the per-epoch evaluation stay out of it); the table shows the median window. The programs run
one after the other, order alternated per round, on the same photos.

Rows: ``deit (same path)`` uses the peers' data path (PIL decoding in 2 loader workers, 2 torch threads);
``deit (defaults)`` is what a user gets without data-path flags (``--data-cache auto``, auto threads).

The official code does not import on current timm (it needs ``timm.data.transforms._pil_interp``, renamed
``str_to_pil_interp``), and its model functions pass on the ``pretrained_cfg`` / ``cache_dir`` arguments
that timm 1.0's ``create_model`` now adds, which ``VisionTransformer`` refuses; the same ``sitecustomize``
adds the alias, drops those three arguments and, on a machine without CUDA, makes the
``torch.cuda.synchronize()`` its training loop calls every step a no-op (there is nothing to wait for);
nothing else. Its IMNET dataset
mode always builds a 1,000-class head (two heads of 192 x 1000 instead of 192 x 10: under 1 % of the
step's multiply-adds at 64 px).

    git clone https://github.com/facebookresearch/deit /tmp/peers/deit-official   # any checkout
    python benchmarks/peer_race.py --official /tmp/peers/deit-official \
        --timm-train /tmp/peers/timm/train.py --rounds 2 --out /tmp/race
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CIFAR = ROOT.parent / "shared" / "data" / "cifar10" / "train"
BATCH, IMG = 64, 64
LR = 5e-4 * BATCH / 512  # Table 9's rule, written out for every program
WINDOW, SKIP = 10, 10

HOOK = """
import atexit, json, os, time
if os.environ.get("RACE_PEER_SHIM"):  # both peers: Pillow >= 12 refuses posterize to 0 bits (RandAugment inc1)
    from PIL import Image, ImageOps
    from timm.data import auto_augment as _aa
    _post = _aa.posterize
    def _posterize(img, bits, **k):
        return Image.new(img.mode, img.size) if bits <= 0 else _post(img, bits, **k)
    for _name, _fn in list(_aa.NAME_TO_OP.items()):
        if _fn is _post:
            _aa.NAME_TO_OP[_name] = _posterize
if os.environ.get("RACE_PEER_SHIM") == "official":
    import timm.data.transforms as _t
    if not hasattr(_t, "_pil_interp"):
        _t._pil_interp = _t.str_to_pil_interp
    from timm.models import vision_transformer as _vt
    _init = _vt.VisionTransformer.__init__
    def _vit_init(self, *a, pretrained_cfg=None, pretrained_cfg_overlay=None, cache_dir=None, **k):
        _init(self, *a, **k)
    _vt.VisionTransformer.__init__ = _vit_init
    import torch
    if not torch.cuda.is_available():  # its engine calls torch.cuda.synchronize() every step
        torch.cuda.synchronize = lambda *a, **k: None
_log = os.environ.get("RACE_STEP_LOG")
if _log:
    from torch.optim.optimizer import register_optimizer_step_post_hook
    _times = []
    register_optimizer_step_post_hook(lambda *a, **k: _times.append(time.perf_counter()))
    atexit.register(lambda: open(_log, "w").write(json.dumps(_times)))
"""


def make_data(root: Path, per_class: int, val_per_class: int) -> int:
    """train/ and val/ ImageFolders of symlinks to the shared photos (first ``per_class`` of each class
    train, the next ``val_per_class`` validate)."""
    if not CIFAR.is_dir():
        sys.exit(f"peer_race: {CIFAR} not found (the shared CIFAR-10 photos); nothing to race on")
    n = 0
    for cls in sorted(p.name for p in CIFAR.iterdir() if p.is_dir()):
        files = sorted((CIFAR / cls).iterdir())
        for split, chosen in (
            ("train", files[:per_class]),
            ("val", files[per_class : per_class + val_per_class]),
        ):
            d = root / split / cls
            d.mkdir(parents=True, exist_ok=True)
            for f in chosen:
                link = d / f.name
                if not link.exists():
                    link.symlink_to(f)
            n += len(chosen) if split == "train" else 0
    return n


def make_teachers(out: Path) -> dict[int, Path]:
    """Random-weight RegNetY-200MF checkpoints ({"model": state_dict}) for a 10- and a 1000-class head: speed
    only, so the weights do not matter; both programs load the file they are given."""
    import timm
    import torch

    paths = {}
    for classes in (10, 1000):
        path = out / f"regnety_002_{classes}.pth"
        if not path.exists():
            torch.manual_seed(0)
            model = timm.create_model("regnety_002", num_classes=classes)
            torch.save({"model": model.state_dict()}, path)
        paths[classes] = path
    return paths


def commands(args: argparse.Namespace, data: Path, teachers: dict[int, Path], out: Path) -> dict:
    """{(job, program): (argv, cwd, extra env)}."""
    aug = ["--aa", "rand-m9-mstd0.5-inc1", "--reprob", "0.25", "--mixup", "0.8", "--cutmix", "1.0"]
    aug += ["--smoothing", "0.1", "--drop-path", "0.1", "--model-ema-decay", "0.99996"]
    student = {"teacher": "deit_tiny_distilled_patch16_224", "none": "deit_tiny_patch16_224"}
    runs: dict = {}
    for job in ("teacher", "none"):
        deit = [sys.executable, "-m", "deit", "train", "--data", str(data), "--model", student[job]]
        deit += ["--img-size", str(IMG), "-b", str(BATCH), "--epochs", str(args.epochs), "--recipe", "paper"]
        deit += [
            "--lr",
            f"{LR:g}",
            "--weight-decay",
            "0.05",
            "--warmup-epochs",
            "5",
            "--no-repeated-aug",
            *aug,
        ]
        deit += ["--model-ema", "--log-interval", "10", "--overwrite"]
        if job == "teacher":
            deit += ["--teacher", "timm:regnety_002", "--teacher-weights", str(teachers[10])]
            deit += ["--distillation-type", "hard"]
        same = ["--data-cache", "none", "--workers", "2", "--threads", "2"]
        runs[(job, "deit (same path)")] = (
            [*deit, *same, "--output", str(out / f"deit_same_{job}")],
            ROOT,
            {},
        )
        runs[(job, "deit (defaults)")] = ([*deit, "--output", str(out / f"deit_default_{job}")], ROOT, {})
        official = [sys.executable, "main.py", "--model", student[job], "--input-size", str(IMG)]
        official += ["--data-path", str(data), "--data-set", "IMNET", "--batch-size", str(BATCH)]
        official += [
            "--epochs",
            str(args.epochs),
            "--lr",
            f"{5e-4:g}",
            "--weight-decay",
            "0.05",
            "--warmup-epochs",
            "5",
        ]
        official += [*aug, "--num_workers", "2", "--model-ema", "--device", "cpu"]
        official += ["--output_dir", str(out / f"official_{job}")]
        if job == "teacher":
            official += ["--teacher-model", "regnety_002", "--teacher-path", str(teachers[1000])]
            official += ["--distillation-type", "hard"]
        runs[(job, "official main.py")] = (official, Path(args.official), {"RACE_PEER_SHIM": "official"})
        if job == "none" and args.timm_train:
            timm_cmd = [sys.executable, str(Path(args.timm_train).resolve()), "--data-dir", str(data)]
            timm_cmd += ["--train-split", "train", "--val-split", "val", "--model", student[job]]
            timm_cmd += [
                "--img-size",
                str(IMG),
                "--num-classes",
                "10",
                "-b",
                str(BATCH),
                "--epochs",
                str(args.epochs),
            ]
            timm_cmd += ["--opt", "adamw", "--lr", f"{LR:g}", "--weight-decay", "0.05", "--sched", "cosine"]
            timm_cmd += [
                "--warmup-epochs",
                "5",
                *aug,
                "--model-ema",
                "--model-kwargs",
                f"img_size={IMG}",
                "--workers",
                "2",
                "--device",
                "cpu",
                "--log-interval",
                "10",
            ]
            timm_cmd += ["--output", str(out / "timm_none")]
            runs[(job, "timm train.py")] = (
                timm_cmd,
                Path(args.timm_train).resolve().parent,
                {"RACE_PEER_SHIM": "timm"},
            )
    return runs


def window_rates(times: list[float]) -> list[float]:
    """img/s of each non-overlapping WINDOW-step window after the first SKIP steps."""
    t = times[SKIP:]
    return [BATCH * WINDOW / (t[i + WINDOW] - t[i]) for i in range(0, len(t) - WINDOW, WINDOW)]


def run_one(argv: list[str], cwd: Path, env_extra: dict, hook_dir: Path, log: Path) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook_dir), os.environ.get("PYTHONPATH", "")]))
    env.update(env_extra, RACE_STEP_LOG=str(log))
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not log.exists():
        sys.exit(f"peer_race: {' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    rates = window_rates(json.loads(log.read_text()))
    if not rates:
        sys.exit(f"peer_race: too few optimizer steps recorded for {' '.join(argv)}")
    return statistics.median(rates), wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", required=True, help="a checkout of facebookresearch/deit (main.py)")
    p.add_argument("--timm-train", help="timm's train.py from a pytorch-image-models checkout")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--per-class", type=int, default=300)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--jobs", nargs="+", default=["teacher", "none"], choices=["teacher", "none"])
    p.add_argument("--out", type=Path, default=Path("runs/peer_race"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "data"
    n = make_data(data, args.per_class, 50)
    teachers = make_teachers(args.out)
    hook_dir = args.out / "hook"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(textwrap.dedent(HOOK))
    runs = {k: v for k, v in commands(args, data, teachers, args.out).items() if k[0] in args.jobs}
    results: dict = {f"{job}|{prog}": [] for job, prog in runs}
    for r in range(args.rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for job, prog in order:
            argv, cwd, env = runs[(job, prog)]
            rate, wall = run_one(argv, cwd, env, hook_dir, args.out / f"steps_{len(results)}_{r}.json")
            results[f"{job}|{prog}"].append({"round": r, "img_s": rate, "wall_s": wall})
            print(
                f"round {r} {job:8s} {prog:18s} {rate:7.1f} img/s (median {WINDOW}-step window), {wall:.0f} s wall"
            )
    lines = [f"{n} photos, {IMG} px, batch {BATCH}, {args.epochs} epochs, {args.rounds} rounds", ""]
    lines += [
        "| job | program | img/s per round | mean img/s | vs official | vs timm |",
        "|---|---|---|---:|---:|---:|",
    ]
    for job in args.jobs:
        mean = {
            prog: statistics.mean(x["img_s"] for x in v)
            for key, v in results.items()
            for j, prog in [key.split("|")]
            if j == job
        }
        for prog, m in mean.items():
            per = ", ".join(f"{x['img_s']:.0f}" for x in results[f"{job}|{prog}"])
            vs_off = f"{m / mean['official main.py']:.2f}x" if "official main.py" in mean else "-"
            vs_timm = f"{m / mean['timm train.py']:.2f}x" if "timm train.py" in mean else "-"
            lines.append(f"| {job} | {prog} | {per} | {m:.1f} | {vs_off} | {vs_timm} |")
    table = "\n".join(lines)
    print(table)
    (args.out / "race.md").write_text(table + "\n")
    (args.out / "race.json").write_text(
        json.dumps(
            {"results": results, "commands": {f"{j}|{p}": v[0] for (j, p), v in runs.items()}}, indent=1
        )
    )


if __name__ == "__main__":
    main()
