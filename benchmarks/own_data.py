"""The README's own-data example, typed exactly as the README writes it, on a set like a user's: is it good?

    python benchmarks/own_data.py                      # seeds 0 1 2, prints a table, writes results.json
    python benchmarks/own_data.py --seeds 0 --out /tmp/own

For each seed: a fresh folder with ``mydata/`` (three shape classes, 60 images each, 32 px, random colours:
``tests/shapes_data.py``, draw seed = the seed) and ``fresh/`` (300 other images of the same kind); the
README's ``deit train`` commands (between its ``own-data`` markers) run there, one after the other, timed
(seed 0 exactly as written; other seeds append ``--seed N``); then teacher and student are scored on the
fresh images with ``deit eval``. Targets (issue 11): teacher >= 90 %, hard-distilled student (fused) >= 80 %,
both trainings together <= 5 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from shapes_data import make_shapes  # noqa: E402


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="data and training seeds")
    p.add_argument(
        "--out", type=Path, default=Path("runs/own_data"), help="work folder (default: runs/own_data)"
    )
    a = p.parse_args()
    commands = readme_commands()
    if len(commands) != 2:
        raise SystemExit(f"expected the teacher and the student command in README.md, found {len(commands)}")
    print("commands (README.md):", *(shlex.join(c) for c in commands), sep="\n  ")
    print(f"machine: {os.cpu_count()} CPUs; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
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
