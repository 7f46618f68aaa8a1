"""``deit data``: inspect and check datasets without training.

``deit data check PATH [--json]`` scans every image (decoding it exactly as training would) and exits
0 when the dataset is usable, 1 when problems were found (2: bad arguments / path not found).
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="scan a dataset: class counts, unreadable/odd/extreme images, empty classes",
        description="Scan a dataset (ImageFolder root, train/val root, CIFAR python batches or 'digits') "
        "and report problems. Exit 0: ok; 1: problems found.",
    )
    check.add_argument("path", help="dataset folder, or 'digits'")
    check.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    check.add_argument(
        "--max-list",
        type=int,
        default=20,
        metavar="N",
        help="list at most N files per problem kind in the text report (default 20)",
    )
    check.add_argument(
        "--workers", type=int, default=None, metavar="N", help="decoding threads (default: min(8, CPUs + 2))"
    )
    check.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(_data_parser=parser)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "data_command", None) != "check":
        args._data_parser.print_help()
        return 2
    from deit.data.check import check_dataset

    report = check_dataset(args.path, progress=False if args.no_progress else None, workers=args.workers)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format(max_list=max(0, args.max_list)))
    return 0 if report.ok else 1
