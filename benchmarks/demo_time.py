"""Wall-clock time of `deit demo` end to end (a fresh subprocess, imports included) and the table it prints.

    python benchmarks/demo_time.py                       # the default demo, seed 0, into a temporary folder
    python benchmarks/demo_time.py --seeds 0 1 2         # one demo per seed
    python benchmarks/demo_time.py --quick --json t.json # the --quick smoke version; also write the results
    python benchmarks/demo_time.py --summarize DIR       # mean ± std over DIR/seed*/table.json, paired gains

Prints, per seed: the command, the wall-clock seconds, the CPU seconds of the child (user + system; on a
shared machine this is the better measure of the work, since wall-clock time includes waiting for a core),
the machine's load average before and after, and the demo's table (``table.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reproduce_cifar10 as rc  # noqa: E402  (the shared mean ± std and paired-difference helpers)


def child_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_demo(out: Path, seed: int, quick: bool, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "deit", "demo", "--out", str(out), "--seed", str(seed), *extra]
    if quick:
        cmd.append("--quick")
    load_before = os.getloadavg()
    cpu0, t0 = child_cpu_seconds(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, child_cpu_seconds() - cpu0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit(f"deit demo failed with exit code {proc.returncode}")
    table = json.loads((out / "table.json").read_text(encoding="utf-8"))
    return {
        "command": "deit " + " ".join(shlex.quote(a) for a in cmd[3:]),
        "seed": seed,
        "quick": quick,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "table_md": (out / "table.md").read_text(encoding="utf-8"),
        "rows": {r["key"]: round(r["top1"], 2) for r in table["rows"]},
        "cosine": [round(v, 3) for v in table["token_cosine"]["hard_distillation"]["per_layer"]],
        "checks": table["checks"],
    }


def _paired(a: list[float], b: list[float]) -> str:
    """Mean of b - a over seeds, its standard error, and on how many seeds it is > 0."""
    c = rc.compare(a, b, paired=True)
    wins = sum(y > x for x, y in zip(a, b))
    return f"{c['diff']:+.2f} ± {c['se']:.2f} (> 0 on {wins} of {len(a)})"


def summarize(parent: Path) -> str:
    """Markdown over ``parent/seed*/table.json``: every seed's fused rows, then mean ± std and paired gains."""
    tables = sorted(
        (json.loads(f.read_text(encoding="utf-8")) for f in parent.glob("seed*/table.json")),
        key=lambda t: t["seed"],
    )
    if not tables:
        raise SystemExit(f"demo_time: no seed*/table.json under {parent}")
    tops = [{r["key"]: r["top1"] for r in t["rows"]} for t in tables]
    keys = ("teacher", "no_distillation", "soft_fused", "hard_fused", "control")
    col = {k: [top[k] for top in tops] for k in keys}
    head = tables[0].get("headline", "hard")
    lines = [
        "| seed | teacher | no distillation | soft cls / dist / fused | hard cls / dist / fused | control "
        f"| {head} − none | cos(cls, dist) hard: input → last | control: input → last |",
        "|---:|---:|---:|---|---|---:|---:|---|---|",
    ]
    for t, top in zip(tables, tops):
        hard, ctrl = (t["token_cosine"][k]["per_layer"] for k in ("hard_distillation", "control"))
        heads = {
            kind: " / ".join(f"{top[f'{kind}_{h}']:.2f}" for h in ("cls", "dist", "fused"))
            for kind in ("soft", "hard")
        }
        lines.append(
            f"| {t['seed']} | {top['teacher']:.2f} | {top['no_distillation']:.2f} | {heads['soft']} | "
            f"{heads['hard']} | {top['control']:.2f} | {top[f'{head}_fused'] - top['no_distillation']:+.2f} | "
            f"{hard[0]:.3f} → {hard[-1]:.3f} | {ctrl[0]:.3f} → {ctrl[-1]:.3f} |"
        )
    lines.append(
        f"| mean ± std | {rc.fmt(col['teacher'])} | {rc.fmt(col['no_distillation'])} | fused "
        f"{rc.fmt(col['soft_fused'])} | fused {rc.fmt(col['hard_fused'])} | {rc.fmt(col['control'])} | | | |"
    )
    lines += ["", "| paired gain over seeds (mean ± SE) | soft fused | hard fused |", "|---|---|---|"]
    for base, name in (
        ("no_distillation", "over no distillation"),
        ("control", "over the control (two class tokens)"),
    ):
        lines.append(
            f"| {name} | {_paired(col[base], col['soft_fused'])} | {_paired(col[base], col['hard_fused'])} |"
        )
    checks = [t["checks"] for t in tables]
    lines += [
        "",
        "checks true on: " + ", ".join(f"{k} {sum(c[k] for c in checks)}/{len(checks)}" for k in checks[0]),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None, help="parent folder of the demo folders (default: a temporary one)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("extra", nargs="*", help="further `deit demo` arguments (after --)")
    p.add_argument("--summarize", default=None, metavar="DIR", help="only summarise DIR/seed*/table.json")
    args = p.parse_args(argv)
    if args.summarize:
        print(summarize(Path(args.summarize)), end="")
        return 0
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    print(f"machine: {machine}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="deit-demo-time-") as tmp:
        parent = Path(args.out) if args.out else Path(tmp)
        for seed in args.seeds:
            out = parent / f"seed{seed}"
            r = time_demo(out, seed, args.quick, args.extra)
            results.append(r)
            print(
                f"\n$ {r['command']}\nwall-clock {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, load average "
                f"{r['loadavg_before'][0]:.2f} -> {r['loadavg_after'][0]:.2f}\n\n{r['table_md']}",
                flush=True,
            )
    if len(results) > 1:
        print("seed  wall_s  cpu_s  " + "  ".join(results[0]["rows"]) + "  checks")
        for r in results:
            print(
                f"{r['seed']:4d}  {r['wall_s']:6.1f}  {r['cpu_s']:5.1f}  "
                + "  ".join(f"{v:.2f}" for v in r["rows"].values())
                + f"  {all(r['checks'].values())}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
