"""`deit models`: the zoo with parameter counts, GMACs (multiply-adds per image: the paper's "FLOPs") and sizes.

The same convention as `deit benchmark`'s GMACs/img column (which adds TFLOP/s at 2 FLOPs per multiply-add).
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "pattern",
        nargs="?",
        default=None,
        help="shell-style filter, e.g. '*distilled*' (default: every model)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from deit.models import PAPER_ZOO, list_models, model_info

    rows = [model_info(name) for name in list_models(args.pattern)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{'model':36s} {'params':>12s} {'GMACs':>8s} {'img':>4s} {'patch':>5s} {'dim':>4s} "
        f"{'depth':>5s} {'heads':>5s}  paper"
    )
    for r in rows:
        print(
            f"{r['name']:36s} {r['params']:>12,d} {r['gmacs']:>8.4g} {r['img_size']:>4d} {r['patch_size']:>5d} "
            f"{r['embed_dim']:>4d} {r['depth']:>5d} {r['num_heads']:>5d}  {'yes' if r['name'] in PAPER_ZOO else ''}"
        )
    print(
        "GMACs: billions of multiply-adds per image (the paper's Table 1 calls them FLOPs); "
        "`deit benchmark` uses the same column. Paper models have released ImageNet weights: "
        "--pretrained, or deit.create_model(name, pretrained=True)."
    )
    return 0
