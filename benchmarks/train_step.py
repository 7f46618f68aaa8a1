"""One distillation training step, img/s: deit's engine vs timm's TokenDistillationTask, interleaved.

    python benchmarks/train_step.py                       # DeiT-Ti-distilled student, ResNet-18 teacher, 224 px
    python benchmarks/train_step.py --batch-size 64 --device cuda --amp bf16

Both sides: the same student weights, the same frozen teacher weights, hard distillation with equal
weights (0.5 / 0.5), label smoothing 0.1 on the class head, AdamW (lr 5e-4, wd 0.05), one optimizer step
per batch. Ours runs ``deit.engine.train_one_epoch`` on a one-batch epoch, i.e. the real training loop.
Prints img/s (median, min-max) and the ratio ours / timm (target >= 1.0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform

import timm
import torch
from timm.task import TokenDistillationTask
from torch import nn

from deit.analysis.timing import time_interleaved
from deit.engine import StepContext, train_one_epoch
from deit.losses import DistillationLoss, build_base_criterion
from deit.models import create_model
from deit.models.loading import load_weights
from deit.optim import build_optimizer
from deit.teacher import TeacherWrapper


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--student", default="deit_tiny_distilled_patch16_224")
    p.add_argument("--teacher", default="resnet18", help="timm name of the teacher")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", choices=["none", "bf16"], default="none")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    device = torch.device(args.device)
    amp_dtype = torch.bfloat16 if args.amp == "bf16" else None
    torch.manual_seed(0)

    # Same weights on both sides.
    student_timm = timm.create_model(args.student, pretrained=False, num_classes=1000).to(device)
    student_ours = create_model(args.student, num_classes=1000).to(device)
    load_weights(student_ours, student_timm.state_dict())
    teacher_net = timm.create_model(args.teacher, pretrained=False, num_classes=1000).to(device).eval()
    teacher_copy = timm.create_model(args.teacher, pretrained=False, num_classes=1000).to(device).eval()
    teacher_copy.load_state_dict(teacher_net.state_dict())
    mean, std = student_ours.pretrained_cfg["mean"], student_ours.pretrained_cfg["std"]

    # deit: the engine's own loop, on a one-batch "epoch".
    teacher_ours = TeacherWrapper(teacher_net, mean, std, mean, std).to(device)
    opt_ours = build_optimizer(student_ours, "adamw", 5e-4, 0.05, fused=device.type == "cuda")
    ctx = StepContext(
        optimizer=opt_ours,
        criterion=DistillationLoss(build_base_criterion(False, 0.1), "hard", alpha=0.5),
        lr_at=lambda opt, epoch: 5e-4,
        device=device,
        steps_per_epoch=1,
        teacher=teacher_ours,
        amp_dtype=amp_dtype,
        log_interval=0,
    )

    # timm: TokenDistillationTask with the same loss weights (task 0.5, distillation 0.5).
    task = TokenDistillationTask(
        student_timm,
        teacher_copy,
        criterion=nn.CrossEntropyLoss(label_smoothing=0.1),
        distill_type="hard",
        task_loss_weight=0.5,
        device=device,
        verbose=False,
    ).train()
    opt_timm = torch.optim.AdamW(
        [
            {
                "params": [
                    p
                    for n, p in student_timm.named_parameters()
                    if p.ndim > 1 and n not in student_timm.no_weight_decay()
                ],
                "weight_decay": 0.05,
            },
            {
                "params": [
                    p
                    for n, p in student_timm.named_parameters()
                    if p.ndim <= 1 or n in student_timm.no_weight_decay()
                ],
                "weight_decay": 0.0,
            },
        ],
        lr=5e-4,
        fused=device.type == "cuda" or None,
    )

    x = torch.randn(args.batch_size, 3, student_ours.img_size, student_ours.img_size)
    y = torch.randint(0, 1000, (args.batch_size,))
    batch = [(x, y)]

    def step_ours() -> None:
        train_one_epoch(student_ours, batch, ctx, epoch=0)

    def step_timm() -> None:
        opt_timm.zero_grad(set_to_none=True)
        amp = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
        with amp:
            out = task(x.to(device), y.to(device))
        out["loss"].backward()
        opt_timm.step()

    print(
        f"torch {torch.__version__}, timm {timm.__version__}, {platform.machine()}, threads "
        f"{torch.get_num_threads()}, device {device}, batch {args.batch_size}, amp {args.amp}, "
        f"student {args.student}, teacher {args.teacher}"
    )
    t = time_interleaved(
        {"deit": step_ours, "timm": step_timm},
        items_per_call=args.batch_size,
        warmup=args.warmup,
        repeats=args.repeats,
        device=device,
    )
    ratio = t["deit"].median_rate / t["timm"].median_rate
    print(f"{'implementation':16s} {'img/s median':>13s} {'min':>7s} {'max':>7s}")
    for name, timing in t.items():
        lo, hi = timing.spread
        print(f"{name:16s} {timing.median_rate:13.2f} {lo:7.2f} {hi:7.2f}")
    print(f"ratio deit / timm: {ratio:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"args": vars(args), "ratio": ratio, **{k: v.to_dict() for k, v in t.items()}}, f, indent=2
            )


if __name__ == "__main__":
    main()
