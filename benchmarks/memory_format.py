"""One training step on a CPU in torch's default layout (NCHW) against channels-last, interleaved.

The evidence for ``--channels-last`` auto (``deit.data_path_choice``): on for a convnet trained on a CPU, off for
a transformer. Each row trains the same model from the same weights on the same batch (forward, cross-entropy,
backward, AdamW step) in both layouts, alternated; img/s is the median over the repeats (min–max in brackets).

    python benchmarks/memory_format.py                  # 1 and 2 threads, batch 128
    python benchmarks/memory_format.py --threads 2 --repeats 20
"""

from __future__ import annotations

import argparse
import copy
import platform
from collections.abc import Callable

import torch
import torch.nn.functional as F

from deit.analysis.timing import time_interleaved
from deit.models.factory import build_classifier

CASES = [("resnet8_cifar", 32), ("resnet8_cifar", 16), ("deit_micro_distilled_patch4_32", 32)]


def step_fn(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, channels_last: bool
) -> Callable[[], None]:
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        out = model(x)
        loss = F.cross_entropy(out[0] if isinstance(out, tuple) else out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=12)
    a = ap.parse_args(argv)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, batch {a.batch_size}\n")
    print("| model | px | threads | NCHW img/s | channels-last img/s | channels-last / NCHW |")
    print("|---|---:|---:|---:|---:|---:|")
    for threads in a.threads:
        torch.set_num_threads(threads)
        for name, size in CASES:
            torch.manual_seed(0)
            model, _ = build_classifier(name, 10, img_size=size)
            x, y = torch.randn(a.batch_size, 3, size, size), torch.randint(0, 10, (a.batch_size,))
            fns = {
                "nchw": step_fn(copy.deepcopy(model), x, y, False),
                "channels_last": step_fn(copy.deepcopy(model), x, y, True),
            }
            t = time_interleaved(fns, a.batch_size, warmup=3, repeats=a.repeats)
            cells = [
                f"{t[k].median_rate:.0f} ({t[k].spread[0]:.0f}–{t[k].spread[1]:.0f})"
                for k in ("nchw", "channels_last")
            ]
            ratio = t["channels_last"].median_rate / t["nchw"].median_rate
            print(f"| {name} | {size} | {threads} | {cells[0]} | {cells[1]} | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
