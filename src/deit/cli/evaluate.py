"""`deit eval`: top-1/top-5 of the class head, the distillation head and the fused output (and a teacher).

    deit eval --checkpoint runs/deit/best.pt --data /imagenet
    deit eval --checkpoint runs/deit --data digits --teacher runs/teacher/best.pt --json
    deit eval --checkpoint deit_small_distilled_patch16_224-649709d9.pth --model deit_small_distilled_patch16_224 \\
        --data /imagenet          # official / timm weights: name the architecture (or let it be inferred)
    deit eval --pretrained --model deit_small_patch16_224 --data /imagenet   # released weights, downloaded
    deit eval --checkpoint hf_folder/ --data /imagenet   # a transformers DeiT/ViT folder

Which images are scored (the first line says how many and why): a folder with val/ (or CIFAR batches): its
validation part; the run's own training folder (no val/): the run's --val-split carve, the images it did not
train on; any other folder: the whole of it. --split train / --val-split FRACTION choose by hand
(--val-split 0 or 1: the whole folder).

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
        help="dataset (same forms as deit train): its val/ folder, the run's --val-split carve of the run's "
        "own training folder, or the whole of any other folder",
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
        help="held-out fraction for a folder without val/ (default: the checkpoint's on its training "
        "folder, the whole of any other folder); 0 or 1: the whole folder",
    )
    parser.add_argument(
        "--split",
        choices=["val", "train"],
        default=None,
        help="which part of --data to evaluate: val (the held-out part) or train (the rest) (default: see above)",
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


def _same_data(given: str, trained_on: object) -> bool:
    """Whether ``--data`` names the folder the run trained on (paths compared resolved)."""
    if not isinstance(trained_on, str) or not trained_on:
        return False
    if given.lower() == "digits" or trained_on.lower() == "digits":
        return given.lower() == trained_on.lower()
    return Path(given).expanduser().resolve() == Path(trained_on).expanduser().resolve()


def _own_validation(root: Path) -> str | None:
    """What a dataset's own validation part is (its val/ folder, CIFAR's test batch), or None."""
    from deit.data import find_cifar_dir
    from deit.data.datasets import VAL_DIR_NAMES

    if find_cifar_dir(root) is not None:
        return "its CIFAR test batch"
    if (root / "train").is_dir():
        found = next((name for name in VAL_DIR_NAMES if (root / name).is_dir()), None)
        return f"its {found}/ folder" if found else None
    return None


def choose_images(args: argparse.Namespace, meta: dict) -> str:
    """Set ``args.split``/``args.val_split`` to the images to score; return why, for the first line.

    A folder that is not the run's training data was never seen in training: it is scored whole. The
    run's training folder keeps the run's carve (its other images trained the model)."""
    cfg = meta.get("config") or {}
    val_split = args.val_split
    if val_split is not None and val_split in (0.0, 1.0) and args.split != "train":
        args.split, args.val_split = "train", 0.0  # "no carve" / "all of it": the whole folder
        return f"the whole folder (--val-split {val_split:g})"
    if args.split is not None or val_split is not None:
        args.split = args.split or "val"
        fraction = val_split if val_split is not None else float(cfg.get("val_split") or 0.0)
        return f"--split {args.split}" + (f" of a --val-split {fraction:g} carve" if fraction else "")
    args.split = "val"
    root = Path(args.data).expanduser()
    if str(args.data).lower() == "digits" or not root.is_dir():
        return "its validation split"
    own = _own_validation(root)
    if own is not None:
        return own
    if _same_data(args.data, cfg.get("data")):
        fraction = float(cfg.get("val_split") or 0.0)
        return f"the run's --val-split {fraction:g} carve (the run's training folder)"
    args.split, args.val_split = "train", 0.0
    return "the whole folder (not the run's training data)"


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
    scope = choose_images(args, meta)
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
    metrics["images"] = f"{metrics['samples']} images from {args.data}: {scope}"
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
    print(f"{metrics['images']}; checkpoint {args.checkpoint}")
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
