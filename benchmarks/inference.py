"""CPU (or CUDA) inference throughput: deit's DeiT vs timm's, same weights, same batch, interleaved.

    python benchmarks/inference.py                        # DeiT-Ti-distilled and DeiT-S-distilled, 224 px
    python benchmarks/inference.py --batch-size 64 --repeats 20 --device cuda --amp bf16

Prints a table of img/s (median, min-max over repeats) and the ratio ours / timm (target >= 1.0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform

import timm
import torch

from deit.analysis.timing import time_interleaved
from deit.models import create_model
from deit.models.loading import load_weights


def runner(model: torch.nn.Module, x: torch.Tensor, amp: contextlib.AbstractContextManager):
    def run() -> None:
        with torch.inference_mode(), amp:
            model(x)

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--models", nargs="+", default=["deit_tiny_distilled_patch16_224", "deit_small_distilled_patch16_224"]
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", choices=["none", "bf16"], default="none")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args()
    device = torch.device(args.device)
    print(
        f"torch {torch.__version__}, timm {timm.__version__}, {platform.processor() or platform.machine()}, "
        f"threads {torch.get_num_threads()}, device {device}, batch {args.batch_size}, amp {args.amp}"
    )
    print(f"{'model':34s} {'deit img/s':>18s} {'timm img/s':>18s} {'ratio':>6s}")
    results = []
    for name in args.models:
        theirs = timm.create_model(name, pretrained=False).eval().to(device)
        ours = create_model(name).eval().to(device)
        load_weights(ours, theirs.state_dict())
        x = torch.randn(args.batch_size, 3, ours.img_size, ours.img_size, device=device)
        amp = (
            torch.autocast(device.type, dtype=torch.bfloat16)
            if args.amp == "bf16"
            else contextlib.nullcontext()
        )  # re-entrant: safe to reuse for every call

        t = time_interleaved(
            {"deit": runner(ours, x, amp), "timm": runner(theirs, x, amp)},
            items_per_call=args.batch_size,
            warmup=args.warmup,
            repeats=args.repeats,
            device=device,
        )
        ratio = t["deit"].median_rate / t["timm"].median_rate
        cells = []
        for k in ("deit", "timm"):
            lo, hi = t[k].spread
            cells.append(f"{t[k].median_rate:7.1f} ({lo:.0f}-{hi:.0f})")
        print(f"{name:34s} {cells[0]:>18s} {cells[1]:>18s} {ratio:6.3f}")
        results.append({"model": name, "ratio": ratio, **{k: v.to_dict() for k, v in t.items()}})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
