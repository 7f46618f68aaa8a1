"""`deit demo`: the whole DeiT distillation story on scikit-learn's bundled digits, offline, on a CPU.

    deit demo                          # about 3-4 minutes on 2 CPU cores: writes ./deit-demo
    deit demo --quick --out /tmp/demo  # under a minute: a smoke test (accuracies are not meaningful)
    deit demo --seed 1 --overwrite     # another seed (same held-out split), replacing ./deit-demo

Trains a convnet teacher, then the same small DeiT student without distillation, with soft and with hard
distillation, and the paper's control (two class tokens, no teacher), every run on the same 72 images per
class (ordinary `deit train` runs), and prints a table laid out like the paper's Table 3 plus the per-layer cosine
between the class token and the second token. The run folder holds table.md / table.json, curves.png,
token_cosine.png, commands.sh (the `deit train` commands of every run) and one sub-folder per run. Ten seeds
are in benchmarks/RESULTS.md (soft distillation gains +2.5 points on average, and on every seed).
"""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument(
        "--out",
        "--output",
        dest="out",
        default="deit-demo",
        help="run folder (default: ./deit-demo); must be empty or absent unless --overwrite",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of every run (default: 0); the held-out split stays the same",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu (default: the table is deterministic there), auto, cuda, cuda:N or mps",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a tiny version (under a minute) for smoke tests"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the demo runs in a non-empty --out")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1: faster than 2 for these tiny models on a shared 2-core machine)",
    )


def run(args: argparse.Namespace) -> int:
    import time

    from deit.demo import THREADS, run_demo

    threads = args.threads if args.threads is not None else THREADS
    if threads < 1:
        from deit.errors import ConfigError

        raise ConfigError(f"--threads must be >= 1, got {threads}")
    t0 = time.perf_counter()
    table = run_demo(
        args.out,
        seed=args.seed,
        device=args.device,
        quick=args.quick,
        overwrite=args.overwrite,
        threads=min(threads, os.cpu_count() or threads),
    )
    from deit.demo import RUNS
    from deit.demo_report import format_table

    print()
    print(format_table(table), end="")
    print(
        f"\nrun folder {args.out}: table.md, table.json, curves.png, token_cosine.png, commands.sh (the "
        f"`deit train` command of every run) and the runs {', '.join(f'{r}/' for r in RUNS)}; "
        f"total {time.perf_counter() - t0:.0f} s"
    )
    return 0
