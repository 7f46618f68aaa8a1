"""How often the demo teacher's hard label differs from the label the student is otherwise given.

Hard distillation can only teach the student something the labels do not when the teacher's argmax differs
from the training target. This replays the demo's training views (random crop, the demo's Mixup 0.8 /
CutMix 1.0, smoothing 0.1) through a trained demo teacher and counts, over a few epochs of batches:

* crop-only views: teacher argmax != ground-truth label;
* mixed views: teacher argmax != argmax of the mixed target (the label with the larger share).

    deit demo --out deit-demo && python benchmarks/demo_teacher_labels.py deit-demo/teacher/last.pt --seed 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from deit.checkpoint import load_model_from_checkpoint
from deit.demo import DEFAULT, build_configs
from deit.trainer import build_batch_mixup, build_data, seed_everything


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("teacher", help="the demo teacher's checkpoint (DEMO_OUT/teacher/last.pt)")
    p.add_argument("--seed", type=int, default=0, help="the demo's --seed (orders and augments the batches)")
    p.add_argument(
        "--epochs", type=int, default=10, help="passes over the training split (Mixup draws one λ per batch)"
    )
    args = p.parse_args(argv)
    seed_everything(args.seed)  # torch: batch order and crops; numpy: the Mixup/CutMix draws
    torch.set_num_threads(1)
    teacher, _ = load_model_from_checkpoint(args.teacher)
    teacher.eval()
    # the hard-distilled student's own config: its training split, transforms and Mixup/CutMix
    cfg = build_configs(Path(args.teacher).parent.parent, DEFAULT, args.seed)["hard_distillation"]
    data = build_data(cfg)
    mixup = build_batch_mixup(cfg, len(data.classes))
    assert mixup is not None, "the demo's students are trained with Mixup/CutMix"
    loader = torch.utils.data.DataLoader(data.train, batch_size=cfg.batch_size, shuffle=True, drop_last=True)
    n = crop_diff = mixed_diff = 0
    with torch.no_grad():
        for _ in range(args.epochs):
            for x, y in loader:
                crop_diff += int((teacher(x).argmax(1) != y).sum())
                xm, target = mixup(x, y)
                mixed_diff += int((teacher(xm).argmax(1) != target.argmax(1)).sum())
                n += len(y)
    print(f"{n} training views ({args.epochs} epochs), teacher {args.teacher}")
    print("| views | teacher argmax differs from the target's argmax |")
    print("|---|---:|")
    print(f"| random crop (the teacher's own training views) | {100 * crop_diff / n:.1f} % |")
    print(f"| random crop + Mixup 0.8 / CutMix 1.0 (the students') | {100 * mixed_diff / n:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
