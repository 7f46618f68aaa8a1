"""The README's own-data example, typed exactly as the README writes it, on a set like a user's: is it good?

    python benchmarks/own_data.py                      # seeds 0 1 2, prints a table, writes results.json
    python benchmarks/own_data.py --seeds 0 --out /tmp/own

For each seed: a fresh folder with ``mydata/`` (three shape classes, 60 images each, 32 px, random colours:
``tests/shapes_data.py``, draw seed = the seed) and ``fresh/`` (300 other images of the same kind); the
README's ``deit train`` commands (between its ``own-data`` markers) run there, one after the other, timed
(seed 0 exactly as written; other seeds append ``--seed N``); then teacher and student are scored on the
fresh images with ``deit eval``. Targets (issue 11): teacher >= 90 %, hard-distilled student (fused) >= 80 %,
both trainings together <= 5 minutes on a 2-core CPU.

Real photos (issue 22): ``--photos`` (default ``../shared/data/cifar10/train``) puts the first ``--per-class``
(200) JPEGs of each of its 10 classes in ``mydata/`` and scores on ``--held-out-per-class`` (100) other
training photos of each class (files from number 4000 on: never in ``mydata/``, not the block's
``--val-split``). Per seed, interleaved: the block as written (``default``: ``--data-cache auto``, threads and
workers auto) and the same at equal epochs on the old path (``old``: ``--data-cache none``, torch's threads, NCHW layout,
``min(4, cores)`` workers); then ``--probe-epochs`` epochs of the block on the PIL path with ``--threads 1``
and ``2``; ``--contention`` adds the block run alone and as two identical copies at once, both paths.

    python benchmarks/own_data.py --photos --out runs/own_photos                 # the full check
    python benchmarks/own_data.py --photos --per-class 10 --seeds 0 --probe-epochs 1 --epochs 1 --contention
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from shapes_data import make_shapes  # noqa: E402

from deit.config import default_workers  # noqa: E402


def readme_commands(readme: Path = ROOT / "README.md") -> list[list[str]]:
    """The ``deit train`` command lines of the README's own-data block, as argv lists."""
    text = readme.read_text(encoding="utf-8")
    try:
        block = text.split("<!-- own-data:start -->", 1)[1].split("<!-- own-data:end -->", 1)[0]
    except IndexError:
        raise SystemExit(f"{readme}: no <!-- own-data:start/end --> block") from None
    joined = block.replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip().startswith("deit train")]


def fresh_scores(run: Path, fresh: Path) -> dict[str, float]:
    out = subprocess.run(
        ["deit", "eval", "--checkpoint", str(run), "--data", str(fresh), "--split", "train"]
        + ["--val-split", "0", "--json", "--workers", "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    metrics = json.loads(out.stdout)
    return {k: v for k, v in metrics.items() if k.endswith("top1")}


def run_seed(seed: int, out: Path, commands: list[list[str]]) -> dict:
    work = out / f"seed{seed}"
    make_shapes(work / "mydata", per_class=60, size=32, seed=seed)
    make_shapes(work / "fresh", per_class=100, size=32, seed=1000 + seed)
    times = []
    for argv in commands:
        argv = argv + (["--seed", str(seed)] if seed else []) + ["--overwrite"]
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    outputs = [Path(a[a.index("--output") + 1]) for a in commands]
    scores = [fresh_scores(work / o, work / "fresh") for o in outputs]
    return {"seed": seed, "seconds": times, "total_seconds": sum(times), "fresh": scores}


def _mean_std(xs: list[float]) -> str:
    return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}" if len(xs) > 1 else f"{xs[0]:.2f}"


CIFAR_TRAIN = ROOT / ".." / "shared" / "data" / "cifar10" / "train"
HELD_OUT_FROM = 4000  # held-out photos are files 4000.. of each class: never among the first --per-class


def photo_folders(src: Path, work: Path, per_class: int, held_out: int) -> None:
    """``work/mydata``: the first ``per_class`` photos of each class of ``src``; ``work/fresh``: ``held_out``
    others from file number 4000 on (copies: the block must not see the source folder)."""
    if not src.is_dir():
        raise SystemExit(
            f"--photos {src}: no such folder; it needs CIFAR-10 as JPEGs in class folders "
            "(../shared/data/cifar10/train from the repository root, or pass --photos DIR)"
        )
    classes = sorted(d for d in src.iterdir() if d.is_dir())
    if per_class > HELD_OUT_FROM:
        raise SystemExit(
            f"--per-class {per_class}: at most {HELD_OUT_FROM} (the held-out photos start there)"
        )
    for d in classes:
        files = sorted(d.iterdir())
        if len(files) < HELD_OUT_FROM + held_out:
            raise SystemExit(f"{d}: {len(files)} photos, fewer than {HELD_OUT_FROM + held_out}")
        for name, chosen in (("mydata", files[:per_class]), ("fresh", files[HELD_OUT_FROM:][:held_out])):
            (work / name / d.name).mkdir(parents=True, exist_ok=True)
            for f in chosen:
                target = work / name / d.name / f.name
                if not target.exists():
                    shutil.copyfile(f, target)


def old_path_flags() -> list[str]:
    """The path before issue 22's auto choices: PIL streaming, torch's threads, min(4, cores) workers, the
    default (NCHW) memory layout."""
    return [
        "--no-channels-last",
        "--data-cache",
        "none",
        "--threads",
        str(torch.get_num_threads()),
        "--workers",
        str(default_workers()),
    ]


def train_block(work: Path, commands: list[list[str]], extra: list[str], log_name: str) -> list[dict]:
    """Run the block's commands in ``work`` (``mydata`` linked in) with ``extra`` flags: per command the wall
    time, the per-epoch img/s and the data path the run resolved."""
    out = []
    for argv in commands:
        t0 = time.perf_counter()
        with open(work / f"{log_name}.log", "a") as log:
            subprocess.run(argv + extra + ["--overwrite"], cwd=work, check=True, stdout=log, stderr=log)
        run = work / argv[argv.index("--output") + 1]
        epochs = ckpt_rows(run / "metrics.jsonl")
        saved = yaml.safe_load((run / "config.yaml").read_text())
        out.append(
            {
                "run": str(run),
                "seconds": time.perf_counter() - t0,
                "epoch_img_s": [r["train_img_per_s"] for r in epochs],
                "img_s": statistics.median(r["train_img_per_s"] for r in epochs),
                "epochs": len(epochs),
                **{k: saved[k] for k in ("data_cache", "threads", "workers")},
            }
        )
    return out


def ckpt_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def variant_dir(root: Path, name: str) -> Path:
    """``root/name``, a work folder whose ``mydata`` is ``root/mydata``."""
    work = root / name
    work.mkdir(parents=True, exist_ok=True)
    link = work / "mydata"
    if not link.exists():
        link.symlink_to(root / "mydata", target_is_directory=True)
    return work


def contention(root: Path, name: str, commands: list[list[str]], extra: list[str]) -> dict:
    """img/s of the block alone, then of two identical copies started together (each on its own folder)."""
    alone = train_block(variant_dir(root, f"{name}-alone"), commands, extra, "train")
    pair = [variant_dir(root, f"{name}-pair{i}") for i in (0, 1)]
    procs = []
    for work in pair:
        code = (
            "import json, sys; sys.argv[1:] = []; import own_data as o; "
            f"print(json.dumps(o.train_block(o.Path({str(work)!r}), {commands!r}, {extra!r}, 'train')))"
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code], cwd=Path(__file__).parent, stdout=subprocess.PIPE, text=True
            )
        )
    together = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    kept = [min(t[i]["img_s"] for t in together) / alone[i]["img_s"] for i in range(len(commands))]
    return {"alone": alone, "together": together, "kept": kept}


def run_photos(a: argparse.Namespace, commands: list[list[str]]) -> dict:
    root = a.out
    photo_folders(a.photos, root, a.per_class, a.held_out_per_class)
    epochs = ["--epochs", str(a.epochs)] if a.epochs else []  # smoke tests only: the README sets none
    probe = ["--epochs", str(a.probe_epochs)]
    res: dict = {"commands": commands, "old_flags": old_path_flags(), "seeds": {}, "pil_threads": {}}
    print(
        "seed | path | teacher s | student s | teacher img/s | student img/s | teacher top-1 | student cls/dist/fused"
    )
    for seed in a.seeds:
        seed_flags = ["--seed", str(seed)] if seed else []
        for path, flags in (("default", []), ("old", old_path_flags())):  # interleaved: same load for both
            work = variant_dir(root, f"{path}-seed{seed}")
            runs = train_block(work, commands, seed_flags + flags + epochs, "train")
            fresh = [fresh_scores(Path(r["run"]), root / "fresh") for r in runs]
            res["seeds"].setdefault(str(seed), {})[path] = {"runs": runs, "fresh": fresh}
            t, st = fresh
            print(
                f"{seed} | {path} ({runs[0]['data_cache']}, {runs[0]['threads']} threads, {runs[0]['workers']} "
                f"workers) | {runs[0]['seconds']:.0f} | {runs[1]['seconds']:.0f} | {runs[0]['img_s']:.0f} | "
                f"{runs[1]['img_s']:.0f} | {t['top1']:.2f} | {st['cls_top1']:.2f} / {st['dist_top1']:.2f} / "
                f"{st['fused_top1']:.2f}",
                flush=True,
            )
    for threads in (1, 2) if a.probe_epochs else ():
        runs = train_block(
            variant_dir(root, f"pil-threads{threads}"),
            commands,
            ["--data-cache", "none", "--threads", str(threads)] + probe,
            "train",
        )
        res["pil_threads"][str(threads)] = runs
        print(
            f"PIL path, --threads {threads} (workers {runs[0]['workers']}): per-epoch img/s teacher "
            f"{[round(x) for x in runs[0]['epoch_img_s']]}, student {[round(x) for x in runs[1]['epoch_img_s']]}"
        )
    if a.contention:
        res["contention"] = {
            path: contention(root, f"contention-{path}", commands, flags + probe)
            for path, flags in (("default", []), ("old", old_path_flags()))
        }
        for path, c in res["contention"].items():
            print(
                f"contention, {path} path: two copies at once keep {c['kept'][0]:.0%} (teacher) and "
                f"{c['kept'][1]:.0%} (student) of the img/s alone"
            )
    return res


def summarize_photos(res: dict) -> str:
    """The verdict lines (and Markdown for results.md): time, accuracy, the speed ratio, the targets."""
    seeds = res["seeds"]
    speed = {
        name: statistics.mean(
            v["default"]["runs"][i]["img_s"] / v["old"]["runs"][i]["img_s"] for v in seeds.values()
        )
        for i, name in enumerate(("teacher", "student"))
    }
    total = [sum(r["seconds"] for r in v["default"]["runs"]) for v in seeds.values()]
    acc = {
        path: (
            [v[path]["fresh"][0]["top1"] for v in seeds.values()],
            [v[path]["fresh"][1]["fused_top1"] for v in seeds.values()],
        )
        for path in ("default", "old")
    }
    lines = [
        f"both trainings (default path): {_mean_std(total)} s (max {max(total):.0f} s; target <= 600)",
        f"held-out top-1, default: teacher {_mean_std(acc['default'][0])} %, student fused "
        f"{_mean_std(acc['default'][1])} % (targets >= 50, >= 45)",
        f"held-out top-1, old path: teacher {_mean_std(acc['old'][0])} %, student fused {_mean_std(acc['old'][1])} %",
        f"img/s default / old: teacher {speed['teacher']:.2f}x (target >= 1.8), student {speed['student']:.2f}x "
        "(target >= 1.3)",
    ]
    if "contention" in res:
        kept = res["contention"]["default"]["kept"]
        lines.append(
            f"under contention the default keeps {min(kept):.0%} of its img/s alone (target >= 40 %)"
        )
    met = (
        max(total) <= 600
        and min(acc["default"][0]) >= 50
        and min(acc["default"][1]) >= 45
        and speed["teacher"] >= 1.8
        and speed["student"] >= 1.3
        and ("contention" not in res or min(res["contention"]["default"]["kept"]) >= 0.4)
    )
    lines.append(f"targets: {'met' if met else 'NOT met'}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: 0 1 2; photos: 0 1)")
    p.add_argument("--out", type=Path, default=None, help="work folder (default: runs/own_data[_photos])")
    p.add_argument("--photos", type=Path, nargs="?", const=CIFAR_TRAIN, default=None, help="real-photo mode")
    p.add_argument("--per-class", type=int, default=200, help="photos: training photos per class")
    p.add_argument("--held-out-per-class", type=int, default=100, help="photos: scoring photos per class")
    p.add_argument(
        "--probe-epochs", type=int, default=3, help="photos: epochs of the --threads 1/2 probes (0: none)"
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="photos: override the block's epochs (smoke tests)"
    )
    p.add_argument("--contention", action="store_true", help="photos: also two identical trainings at once")
    a = p.parse_args()
    commands = readme_commands()
    if len(commands) != 2:
        raise SystemExit(f"expected the teacher and the student command in README.md, found {len(commands)}")
    print("commands (README.md):", *(shlex.join(c) for c in commands), sep="\n  ")
    print(f"machine: {os.cpu_count()} CPUs; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    if a.photos is not None:
        a.seeds = a.seeds or [0, 1]
        a.out = (a.out or Path("runs/own_data_photos")).resolve()
        a.out.mkdir(parents=True, exist_ok=True)
        res = run_photos(a, commands)
        summary = summarize_photos(res)
        print(summary)
        (a.out / "results.json").write_text(json.dumps(res, indent=1))
        (a.out / "results.md").write_text("```\n" + summary + "\n```\n")
        return
    a.seeds, a.out = a.seeds or [0, 1, 2], a.out or Path("runs/own_data")
    results = []
    print("seed | teacher s | student s | total s | teacher top-1 | student cls / dist / fused")
    for seed in a.seeds:
        r = run_seed(seed, a.out, commands)
        t, s = r["fresh"]
        print(
            f"{seed} | {r['seconds'][0]:.0f} | {r['seconds'][1]:.0f} | {r['total_seconds']:.0f} | "
            f"{t['top1']:.2f} | {s['cls_top1']:.2f} / {s['dist_top1']:.2f} / {s['fused_top1']:.2f}",
            flush=True,
        )
        results.append(r)
    teacher = [r["fresh"][0]["top1"] for r in results]
    fused = [r["fresh"][1]["fused_top1"] for r in results]
    total = [r["total_seconds"] for r in results]
    print(
        f"mean | teacher {_mean_std(teacher)} % | student fused {_mean_std(fused)} % | "
        f"both trainings {_mean_std(total)} s (max {max(total):.0f} s)"
    )
    verdict = min(teacher) >= 90 and min(fused) >= 80 and max(total) <= 300
    print(
        f"targets (teacher >= 90, student >= 80, <= 300 s) on every seed: {'met' if verdict else 'NOT met'}"
    )
    (a.out / "results.json").write_text(json.dumps({"commands": commands, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
