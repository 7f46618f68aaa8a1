"""`deit analyze`: class vs distillation token cosine, Table-4 disagreement, attention rollout.

    deit analyze tokens --checkpoint runs/deit_dist --data /imagenet --max-images 1000
    deit analyze agreement --checkpoints runs/deit runs/deit_dist --teacher runs/regnet --data /imagenet
    deit analyze attention --checkpoint runs/deit_dist --images photos/ cat.jpg --out figs/

tokens: mean cos(class token, distillation token) at the input of the first block and after every block
(paper: about 0.06 at the input, 0.93 at the last layer), plus the similarity of the two heads' outputs.
agreement: fraction of validation images two classifiers label differently (paper Table 4), for the
teacher, each checkpoint and, for distilled DeiTs, their class / distillation / fused outputs.
attention: attention rollout (Abnar & Zuidema 2020) from the class and distillation tokens to the patches.
Results go to --out (default: <checkpoint folder>/analysis, or ./analysis if that is not writable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from deit.cli.weights_args import add_weights_arguments, model_source, weights_options
from deit.config import default_workers


def _common(
    p: argparse.ArgumentParser,
    data: bool = True,
    out: str = "output folder (default: <checkpoint folder>/analysis, or ./analysis if not writable)",
) -> None:
    p.add_argument("--model", default=None, help="architecture for official/timm weight files")
    p.add_argument(
        "--device", default="auto", help="auto (CUDA if available, else CPU), cpu, cuda, cuda:N or mps"
    )
    p.add_argument("--use-ema", action="store_true", help="use the EMA weights of a checkpoint")
    p.add_argument("--out", default=None, help=out)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    if data:
        p.add_argument(
            "--data",
            "--data-dir",
            "--data-path",
            dest="data",
            required=True,
            help="dataset (same forms as deit train); its validation split is used",
        )
        p.add_argument(
            "--split", choices=["val", "train"], default="val", help="which split of --data to use"
        )
        p.add_argument(
            "--val-split", type=float, default=None, help="held-out fraction (default: the checkpoint's)"
        )
        p.add_argument(
            "--seed", type=int, default=None, help="split/sampling seed (default: the checkpoint's)"
        )
        p.add_argument("-b", "--batch-size", type=int, default=64, help="images per forward pass")
        p.add_argument(
            "-j", "--workers", type=int, default=default_workers(), help="data-loader worker processes"
        )
        p.add_argument("--skip-corrupt", action="store_true", help="skip unreadable images in the dataset")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    t = sub.add_parser(
        "tokens",
        help="cosine between class and distillation tokens per layer",
        description="Mean cosine between the class and distillation tokens at the input of the first block "
        "and after every block (paper: about 0.06 at the input, 0.93 at the last layer), plus the similarity "
        "of the two heads' outputs, on a sample of the validation split. Writes a JSON file and a plot.",
    )
    t.add_argument("--checkpoint", default=None, help="a distilled DeiT: run folder, .pt or .safetensors")
    add_weights_arguments(t)
    t.add_argument("--max-images", type=int, default=1000, help="random sample of the split (default 1000)")
    _common(t)
    a = sub.add_parser(
        "agreement",
        help="pairwise disagreement between classifiers (paper Table 4)",
        description="Fraction of validation images that two classifiers label differently (paper Table 4), "
        "for the teacher, each checkpoint and, for distilled DeiTs, their class / distillation / fused "
        "outputs. Prints the matrix and writes agreement.json to --out.",
    )
    a.add_argument(
        "--checkpoints", nargs="+", required=True, help="run folders / checkpoints / released model names"
    )
    add_weights_arguments(a, pretrained=False)
    a.add_argument(
        "--teacher",
        default=None,
        help="teacher: a model name (with --teacher-weights) or a checkpoint / run folder of deit train",
    )
    a.add_argument(
        "--teacher-weights", default=None, help="weights file or run folder for a teacher given by name"
    )
    a.add_argument(
        "--teacher-pretrained",
        action="store_true",
        help="load --teacher NAME's released weights (timm; e.g. regnety_160.deit_in1k)",
    )
    a.add_argument(
        "--names", nargs="+", default=None, help="labels of the checkpoints (default: folder names)"
    )
    a.add_argument("--max-images", type=int, default=None, help="random sample of the split (default: all)")
    _common(a, out="output folder (default: <first of --checkpoints' folder>/analysis, or ./analysis)")
    r = sub.add_parser(
        "attention",
        help="attention rollout maps from the class and distillation tokens",
        description="Attention rollout (Abnar & Zuidema 2020) from the class and distillation tokens to the "
        "patches, drawn over each image with a colour bar; PNG grids of --per-grid images go to --out.",
    )
    r.add_argument("--checkpoint", default=None, help="a DeiT: run folder, .pt or .safetensors")
    add_weights_arguments(r)
    r.add_argument("--images", nargs="+", required=True, help="image files and/or folders")
    r.add_argument("--per-grid", type=int, default=8, help="images per PNG grid")
    r.add_argument(
        "--head-fusion",
        choices=["mean", "max", "min"],
        default="mean",
        help="how the attention heads of a block are combined before the rollout",
    )
    _common(r, data=False)


def out_dir(out: str | None, checkpoint: str) -> Path:
    """--out, else <checkpoint folder>/analysis if writable, else ./analysis."""
    if out:
        folder = Path(out)
    else:
        p = Path(checkpoint)
        base = p if p.is_dir() else p.parent
        folder = base / "analysis" if os.access(base, os.W_OK) else Path("analysis")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from deit.errors import ConfigError

        raise ConfigError(f"output folder {folder} cannot be created ({exc})") from exc
    return folder


def _loader(args: argparse.Namespace, meta: dict, model: Any, max_images: int | None):
    """Seeded random sample (``max_images``) of the split, preprocessed as ``deit eval`` does."""
    import torch
    from torch.utils.data import DataLoader, Subset

    from deit.cli.common import eval_dataset
    from deit.errors import ConfigError

    img_size, mean, std, dataset = eval_dataset(args, meta, model)
    seed = args.seed if args.seed is not None else int((meta.get("config") or {}).get("seed", 0))
    if max_images is not None and max_images < len(dataset):
        if max_images < 1:
            raise ConfigError(f"--max-images must be >= 1, got {max_images}")
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:max_images]
        dataset_view: Any = Subset(dataset, sorted(order.tolist()))
    else:
        dataset_view = dataset
    loader = DataLoader(dataset_view, batch_size=args.batch_size, num_workers=args.workers)
    return loader, dataset, (img_size, mean, std)


def _show_progress(args: argparse.Namespace) -> bool:
    from deit.progress import is_interactive

    return is_interactive() and not args.json


def _write_json(path: Path, obj: Any) -> Path:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def run_tokens(args: argparse.Namespace) -> int:
    from deit.analysis.tokens import PAPER_INPUT_COSINE, PAPER_LAST_COSINE, token_cosine
    from deit.cli.common import load_for_eval
    from deit.distributed import resolve_device
    from deit.plots import plot_token_cosine

    device = resolve_device(args.device)
    args.checkpoint = model_source(args)
    model, meta = load_for_eval(args.checkpoint, args.model, args.use_ema, *weights_options(args))
    result = token_cosine(
        model.to(device),
        _loader(args, meta, model, args.max_images)[0],
        device,
        show_progress=_show_progress(args),
    )
    out = out_dir(args.out, args.checkpoint)
    png = plot_token_cosine(
        {Path(meta.get("path", args.checkpoint)).parent.name or "model": result.per_layer},
        out / "token_cosine.png",
        title="class vs distillation token (paper: 0.06 -> 0.93)",
    )
    report = {
        "checkpoint": str(args.checkpoint),
        **result.to_dict(),
        "paper": {"input": PAPER_INPUT_COSINE, "last_layer": PAPER_LAST_COSINE},
        "png": str(png),
        "json": str(out / "token_cosine.json"),
    }
    _write_json(out / "token_cosine.json", report)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    last = len(result.per_layer) - 1
    print(f"cos(class token, distillation token), {result.samples} images from {args.data} ({args.split})")
    print(f"{'layer':>14s} {'mean':>7s} {'std':>7s} {'paper':>7s}")
    for i, (m, s) in enumerate(zip(result.per_layer, result.per_layer_std)):
        label = "input" if i == 0 else f"after block {i}"
        paper = f"{PAPER_INPUT_COSINE:7.2f}" if i == 0 else (f"{PAPER_LAST_COSINE:7.2f}" if i == last else "")
        print(f"{label:>14s} {m:7.3f} {s:7.3f} {paper}")
    print(
        f"head outputs: mean cosine of class vs distillation logits {result.head_cosine:.3f}, "
        f"same top-1 class on {100 * result.head_agreement:.1f}% of images"
    )
    print(f"wrote {png} and {out / 'token_cosine.json'}")
    return 0


def _labels(args: argparse.Namespace) -> list[str]:
    from deit.errors import ConfigError

    if args.names is not None:
        if len(args.names) != len(args.checkpoints):
            raise ConfigError(f"--names has {len(args.names)} labels for {len(args.checkpoints)} checkpoints")
        labels = list(args.names)
    else:
        labels = []
        for c in args.checkpoints:
            p = Path(c)
            labels.append(p.name if p.is_dir() else (p.parent.name or p.stem))
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return unique


def run_agreement(args: argparse.Namespace) -> int:
    from deit.analysis.agreement import (
        Renormalised,
        accuracies,
        collect_predictions,
        disagreement_matrix,
        model_outputs,
        to_markdown,
    )
    from deit.cli.common import load_for_eval, preprocessing
    from deit.distributed import resolve_device
    from deit.errors import ConfigError
    from deit.teacher import build_teacher

    device = resolve_device(args.device)
    labels = _labels(args)
    loaded = [load_for_eval(c, args.model, args.use_ema, *weights_options(args)) for c in args.checkpoints]
    first_model, first_meta = loaded[0]
    loader, dataset, (img_size, mean, std) = _loader(args, first_meta, first_model, args.max_images)
    outputs: dict = {}
    if args.teacher:
        if (
            not os.path.exists(args.teacher)
            and args.teacher_weights is None
            and not getattr(args, "teacher_pretrained", False)
        ):
            print(
                f"deit analyze agreement: warning: teacher {args.teacher!r} is a model name without "
                "--teacher-weights, so it is randomly initialised",
                file=sys.stderr,
            )
        teacher = build_teacher(
            args.teacher,
            len(dataset.classes),
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
        outputs.update(model_outputs("teacher", teacher))

    for label, (model, meta), ckpt in zip(labels, loaded, args.checkpoints):
        size, m_mean, m_std, _ = preprocessing(model, meta)
        if size != img_size:
            raise ConfigError(
                f"{ckpt} expects {size} px images but {args.checkpoints[0]} expects {img_size} px: "
                "compare checkpoints of the same image size"
            )
        names = meta.get("class_names")
        if names is not None and list(names) != list(dataset.classes):
            raise ConfigError(f"{ckpt} was trained on other classes than --data {args.data}")
        model.to(device).eval()
        if (m_mean, m_std) != (mean, std):  # re-normalise the shared batch for this model's statistics
            model = Renormalised(model, mean, std, m_mean, m_std).to(device)
        outputs.update(model_outputs(label, model))
    preds, targets = collect_predictions(outputs, loader, device, show_progress=_show_progress(args))
    matrix = disagreement_matrix(preds)
    acc = accuracies(preds, targets)
    out = out_dir(args.out, args.checkpoints[0])
    report = {
        "checkpoints": dict(zip(labels, map(str, args.checkpoints))),
        "teacher": args.teacher,
        "samples": int(targets.numel()),
        "disagreement": matrix,
        "top1": acc,
        "json": str(out / "agreement.json"),
    }
    _write_json(out / "agreement.json", report)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"Disagreement (% of {targets.numel()} images from {args.data} classified differently; paper Table 4)\n"
    )
    print(to_markdown(matrix, acc))
    print(f"\nwrote {out / 'agreement.json'}")
    return 0


def run_attention(args: argparse.Namespace) -> int:
    import torch

    from deit.analysis.attention import plot_rollout_grid, rollout_maps
    from deit.cli.common import collect_images, load_for_eval, load_tensors, preprocessing
    from deit.distributed import resolve_device
    from deit.errors import ConfigError

    if args.per_grid < 1:
        raise ConfigError(f"--per-grid must be >= 1, got {args.per_grid}")
    device = resolve_device(args.device)
    args.checkpoint = model_source(args)
    model, meta = load_for_eval(args.checkpoint, args.model, args.use_ema, *weights_options(args))
    model.to(device).eval()
    _, mean, std, transform = preprocessing(model, meta)
    files, errors = collect_images(args.images)
    out = out_dir(args.out, args.checkpoint)
    written, done = [], []
    m, s = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    from deit.progress import progress

    starts = range(0, len(files), args.per_grid)
    starts = progress(starts, "attention rollout", _show_progress(args) and len(starts) > 4, unit="grid")
    for start in starts:
        good, bad = load_tensors(files[start : start + args.per_grid], transform)
        errors.extend(bad)
        if not good:
            continue
        x = torch.stack([t for _, t in good])
        maps = rollout_maps(model, x.to(device), head_fusion=args.head_fusion)
        png = out / f"attention_rollout_{len(written):03d}.png"
        written.append(str(plot_rollout_grid(x * s + m, maps, png, titles=[p.name for p, _ in good])))
        done.extend(str(p) for p, _ in good)
    for path, reason in errors:
        print(f"deit analyze attention: error: {path}: {reason}", file=sys.stderr)
    report = {
        "checkpoint": str(args.checkpoint),
        "images": done,
        "png": written,
        "errors": [{"file": p, "reason": r} for p, r in errors],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for w in written:
            print(f"wrote {w}")
        print(f"{len(done)} image(s) analysed, {len(errors)} failed")
    return 1 if errors else 0


def run(args: argparse.Namespace) -> int:
    return {"tokens": run_tokens, "agreement": run_agreement, "attention": run_attention}[args.analysis](args)
