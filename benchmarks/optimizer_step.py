"""The AdamW step on a CPU: torch's default there (one loop per parameter) against the multi-tensor
``foreach`` and the ``fused`` implementations (deit's default on a CPU and on CUDA: ``--fused-opt`` auto).

torch picks ``foreach`` by itself only for CUDA tensors and ``fused`` never. This prints the time of one step
for each implementation on three zoo models (gradients set, one thread by default), the speed-up of each over
the default, and whether the weights after 20 steps equal the default's bit for bit: ``foreach`` does (but is
slower on DeiT-Ti), ``fused`` rounds differently (the same update rule; ``--no-fused-opt`` gives the loop back,
which ``deit demo`` pins so that its recorded tables reproduce to the digit).

    python benchmarks/optimizer_step.py [--threads 1] [--steps 200]
"""

from __future__ import annotations

import argparse
import time

import torch

from deit.models import create_model
from deit.optim import param_groups

MODELS = (
    "deit_nano_distilled_patch4_16",
    "deit_micro_distilled_patch4_32",
    "deit_tiny_distilled_patch16_224",
)
DEFAULT = "per-parameter (default)"
IMPLS = {DEFAULT: {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def weights_after(name: str, impl: dict, steps: int = 20) -> torch.Tensor:
    torch.manual_seed(0)
    model = create_model(name, num_classes=10)
    opt = torch.optim.AdamW(param_groups(model, 0.05), lr=1e-3, **impl)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=gen)
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def step_ms(name: str, impl: dict, steps: int) -> float:
    model = create_model(name, num_classes=10)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW(param_groups(model, 0.05), lr=1e-3, **impl)
    for _ in range(5):
        opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - t0) / steps * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=200)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(
        f"torch {torch.__version__}, {a.threads} thread(s), AdamW step time (median of 3 runs of {a.steps})\n"
    )
    head = " | ".join(IMPLS) + " | foreach speed-up | fused speed-up | foreach bit-equal | fused bit-equal"
    print(f"| model | params | {head} |")
    print("|---|---:|" + "---:|" * (len(IMPLS) + 4))
    for name in MODELS:
        n = sum(p.numel() for p in create_model(name, num_classes=10).parameters())
        ms = {k: sorted(step_ms(name, impl, a.steps) for _ in range(3))[1] for k, impl in IMPLS.items()}
        ref = weights_after(name, IMPLS[DEFAULT])
        others = ("foreach", "fused")
        speed = " | ".join(f"{ms[DEFAULT] / ms[k]:.2f}x" for k in others)
        equal = " | ".join(str(torch.equal(ref, weights_after(name, IMPLS[k]))) for k in others)
        cells = " | ".join(f"{v:.2f} ms" for v in ms.values())
        print(f"| {name} | {n / 1e6:.2f} M | {cells} | {speed} | {equal} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
