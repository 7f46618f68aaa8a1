"""How close the README's distillation step runs to this CPU's matrix-multiply ceiling (issue 22).

    python benchmarks/step_ceiling.py                  # 2 threads, batch 128, 32 px, 10 rounds
    python benchmarks/step_ceiling.py --threads 1 --batch-size 64

Three contestants, timed interleaved in one process (``deit.analysis.timing``), reported as GFLOP/s:
- ``step``: one hard-distillation training step of the README's student (``deit_micro_distilled_patch4_32``,
  forward + backward + AdamW) with the frozen ``resnet8_cifar`` teacher's forward, the work of every
  ``deit train`` step of the own-data block (the step of ``deit benchmark --mode train``: torch's default
  AdamW, where ``deit train`` uses the fused one; the optimizer is about 1 % of this step either way);
- ``student linears``: the student's own matrix products alone (its qkv, projection and MLP shapes over
  batch x 66 tokens, forward + both backward products): the part of the step a faster data path cannot touch;
- ``ceiling``: one square fp32 matrix product (1024^3), the best rate torch's BLAS reaches here.

The ratio ``step / ceiling`` says how much a faster implementation of the same computation could still give:
near 1, the step is bound by arithmetic and only fewer steps (or a faster machine) make the run shorter.
FLOPs are counted by ``torch.utils.flop_counter`` (2 per multiply-add) as in ``deit benchmark``.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable

import torch

from deit.analysis.benchmark import forward_flops, make_step
from deit.analysis.timing import time_interleaved
from deit.models import MODEL_CONFIGS, create_model
from deit.models.factory import build_classifier

STUDENT, TEACHER = "deit_micro_distilled_patch4_32", "resnet8_cifar"


def linears_step(
    batch: int, tokens: int, dim: int, hidden: int, depth: int
) -> tuple[Callable[[], None], float]:
    """Forward + backward of the student's linear layers as plain matrix products; (callable, FLOPs)."""
    gen = torch.Generator().manual_seed(0)
    rows = batch * tokens
    shapes = [(dim, 3 * dim), (dim, dim), (dim, hidden), (hidden, dim)] * depth
    xs = [torch.randn(rows, k, generator=gen) for k, _ in shapes]
    ws = [torch.randn(k, n, generator=gen) for k, n in shapes]
    gs = [torch.randn(rows, n, generator=gen) for _, n in shapes]

    def run() -> None:
        for x, w, g in zip(xs, ws, gs, strict=True):
            x @ w  # forward
            g @ w.T  # gradient of the input
            x.T @ g  # gradient of the weight

    return run, sum(3 * 2 * rows * k * n for k, n in shapes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = MODEL_CONFIGS[STUDENT]
    student = create_model(STUDENT, num_classes=10)
    teacher, _ = build_classifier(TEACHER, 10)
    teacher.eval().requires_grad_(False)
    images = torch.randn(a.batch_size, 3, 32, 32)
    targets = torch.randint(0, 10, (a.batch_size,))
    step = make_step(student, images, targets, "train", torch.device("cpu"), None, teacher)
    step_flops = 3 * forward_flops(student, images[:1], executed=True) + forward_flops(teacher, images[:1])
    tokens = (32 // cfg["patch_size"]) ** 2 + 2
    dim = cfg["embed_dim"]
    linears, linear_flops = linears_step(
        a.batch_size, tokens, dim, int(dim * cfg.get("mlp_ratio", 4)), cfg["depth"]
    )
    size = 1024
    x, w = torch.randn(size, size), torch.randn(size, size)
    fns = {"step": step, "student linears": linears, "ceiling": lambda: x @ w}
    flops = {"step": step_flops * a.batch_size, "student linears": linear_flops, "ceiling": 2.0 * size**3}
    # one "item" per call: the rate is calls/s; FLOP/s = calls/s x FLOPs per call
    timings = time_interleaved(fns, 1, warmup=3, repeats=a.repeats)
    rate = {k: t.median_rate * flops[k] / 1e9 for k, t in timings.items()}
    lo_hi = {k: tuple(r * flops[k] / 1e9 for r in t.spread) for k, t in timings.items()}
    report = {
        "cpu": platform.processor() or platform.machine(),
        "threads": a.threads,
        "batch_size": a.batch_size,
        "gflop_per_call": {k: v / 1e9 for k, v in flops.items()},
        "gflops": rate,
        "gflops_min_max": lo_hi,
        "step_img_per_s": timings["step"].median_rate * a.batch_size,
        "step_vs_ceiling": rate["step"] / rate["ceiling"],
        "linears_vs_ceiling": rate["student linears"] / rate["ceiling"],
    }
    if a.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{STUDENT} + {TEACHER} teacher, batch {a.batch_size} x 32 px, {a.threads} threads, {a.repeats} rounds"
    )
    print(f"{'contestant':18s} {'GFLOP/call':>10s} {'GFLOP/s':>9s} {'min':>7s} {'max':>7s}")
    for k in fns:
        lo, hi = lo_hi[k]
        print(f"{k:18s} {flops[k] / 1e9:10.2f} {rate[k]:9.1f} {lo:7.1f} {hi:7.1f}")
    print(f"step: {report['step_img_per_s']:.0f} img/s")
    print(
        f"step / ceiling: {report['step_vs_ceiling']:.2f}x; student linears / ceiling: "
        f"{report['linears_vs_ceiling']:.2f}x"
    )


if __name__ == "__main__":
    main()
