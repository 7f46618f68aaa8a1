"""`deit eval`: top-1/top-5 of the class head, the distillation head and the fused output (and a teacher).

    deit eval --checkpoint runs/deit/best.pt --data /imagenet
    deit eval --checkpoint runs/deit --data digits --teacher runs/teacher/best.pt --json
    deit eval --checkpoint deit_small_distilled_patch16_224-649709d9.pth --model deit_small_distilled_patch16_224 \\
        --data /imagenet          # official / timm weights: name the architecture (or let it be inferred)
    deit eval --pretrained --model deit_small_patch16_224 --data /imagenet   # released weights, downloaded
    deit eval --checkpoint hf_folder/ --data /imagenet   # a transformers DeiT/ViT folder

The official DeiT main.py evaluation lines work as they are (`python main.py --eval` -> `deit eval --eval`):
--resume is --checkpoint, --data-path/--model/--input-size/--num_workers are understood.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deit.cli.common import eval_dataset, load_for_eval
from deit.cli.weights_args import add_weights_arguments, model_source, weights_options
from deit.config import default_workers
from deit.official_flags import add_official_arguments, translate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument(
        "--checkpoint",
        "--resume",
        default=None,
        help="run folder, .pt checkpoint, .safetensors, official/timm weights (architecture inferred, or "
        "--model), transformers folder, or a released model's name",
    )
    parser.add_argument(
        "--data",
        "--data-dir",
        "--data-path",
        dest="data",
        required=True,
        help="dataset (same forms as deit train); its validation split is evaluated",
    )
    parser.add_argument("--model", default=None, help="architecture for official/timm weight files")
    parser.add_argument(
        "--teacher",
        default=None,
        help="also evaluate a teacher: a model name (e.g. regnety_160, with --teacher-weights) or a "
        "checkpoint / run folder of deit train",
    )
    parser.add_argument(
        "--teacher-weights", default=None, help="weights file or run folder for a teacher given by name"
    )
    parser.add_argument(
        "--teacher-pretrained",
        action="store_true",
        help="load --teacher NAME's released weights (timm; e.g. regnety_160.deit_in1k)",
    )
    parser.add_argument(
        "--val-split",
        type=float,
        default=None,
        help="held-out fraction for datasets without val/ (default: the checkpoint's)",
    )
    parser.add_argument(
        "--split", choices=["val", "train"], default="val", help="which split of --data to evaluate"
    )
    parser.add_argument("--seed", type=int, default=None, help="split seed (default: the checkpoint's)")
    parser.add_argument("-b", "--batch-size", type=int, default=128, help="images per forward pass")
    parser.add_argument(
        "-j",
        "--workers",
        type=int,
        default=default_workers(),
        help="data-loader worker processes (default: the CPU cores, at most 4)",
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if available, else CPU), cpu, cuda, cuda:N or mps"
    )
    parser.add_argument("--amp", choices=["none", "bf16"], default="none", help="bf16 autocast on CUDA/CPU")
    parser.add_argument("--use-ema", action="store_true", help="evaluate the EMA weights of a checkpoint")
    parser.add_argument(
        "--skip-corrupt",
        action="store_true",
        help="skip unreadable images (counted at the end) instead of failing",
    )
    parser.add_argument(
        "--img-size",
        "--input-size",
        type=int,
        default=None,
        help="input size; must equal the model's (default: the checkpoint's or the --model's)",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_weights_arguments(parser)
    add_official_arguments(parser, "eval")  # hidden: official main.py spellings (--eval, --num_workers, ...)


def run(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import DataLoader

    from deit.distributed import resolve_device
    from deit.engine import evaluate
    from deit.progress import is_interactive
    from deit.teacher import build_teacher

    given = {k: v for k, v in vars(args).items() if k != "workers"}  # -j has a default: --num_workers wins
    official, notes = translate(given, "eval", {"workers"})  # or a one-line refusal
    for key, value in official.items():
        setattr(args, key, value)
    for note in notes:
        print(f"deit eval: {note}", file=sys.stderr)
    device = resolve_device(args.device)
    args.checkpoint = model_source(args)
    model, meta = load_for_eval(args.checkpoint, args.model, args.use_ema, *weights_options(args))
    img_size, mean, std, dataset = eval_dataset(args, meta, model)
    num_classes = len(dataset.classes)
    teacher = None
    if args.teacher:
        teacher = build_teacher(
            args.teacher,
            num_classes,
            weights=args.teacher_weights,
            img_size=img_size,
            student_mean=mean,
            student_std=std,
            device=device,
            class_names=dataset.classes,
            pretrained=getattr(args, "teacher_pretrained", False),
            offline=weights_options(args)[1],
        )
        print(teacher.source, file=sys.stderr)
    skip_log = None
    if args.skip_corrupt:  # one list across the loader's workers: each unreadable file counted once
        import tempfile

        from deit.data import set_skip_log

        skip_log = Path(tempfile.mkdtemp(prefix="deit-eval-")) / "skipped_images.txt"
        set_skip_log(dataset, skip_log)
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers)
    amp = torch.bfloat16 if args.amp == "bf16" else None
    metrics = evaluate(
        model.to(device),
        loader,
        device,
        teacher=teacher,
        amp_dtype=amp,
        show_progress=is_interactive() and not args.json,
    )
    metrics["checkpoint"] = str(Path(args.checkpoint))
    if skip_log is not None:
        from deit.data import read_skip_log

        skipped = sorted(read_skip_log(skip_log))
        skip_log.unlink(missing_ok=True)
        skip_log.parent.rmdir()
        metrics["skipped_images"] = skipped
        print(f"--skip-corrupt: {len(skipped)} unreadable image(s) skipped in total", file=sys.stderr)
        for path in skipped:
            print(f"  {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    print(f"{metrics['samples']} images from {args.data} ({args.split}), checkpoint {args.checkpoint}")
    print(f"{'output':22s} {'top-1':>7s} {'top-5':>7s}")
    for key, label in (
        ("teacher", "teacher"),
        ("cls", "class head"),
        ("dist", "distillation head"),
        ("fused", "fused (cls+dist)/2" if "cls_top1" in metrics else "model"),
    ):
        if f"{key}_top1" in metrics:
            print(f"{label:22s} {metrics[f'{key}_top1']:7.2f} {metrics[f'{key}_top5']:7.2f}")
    return 0
