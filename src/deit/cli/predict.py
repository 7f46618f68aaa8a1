"""`deit predict`: top-k classes and probabilities (softmax of the fused output) for image files or folders.

    deit predict --checkpoint runs/deit photo.jpg scans/ --topk 5
    deit predict --checkpoint runs/deit/model.safetensors images/ --json > predictions.json

Folders are searched recursively for image files. An unreadable file prints one error line (file and
reason) and the others are still predicted; the exit code is then 1 (0 when every file was predicted).
Preprocessing is the evaluation transform with the checkpoint's image size, mean, std and crop_pct; for a
transformers folder, what its preprocessor_config.json makes transformers.pipeline do.
"""

from __future__ import annotations

import argparse
import json
import sys

from deit.cli.common import class_names_for, collect_images, load_for_eval, load_tensors, preprocessing
from deit.cli.weights_args import add_weights_arguments, model_source, weights_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="run folder, .pt checkpoint, .safetensors export, official/timm weights (architecture inferred "
        "or --model), transformers folder, or a released model's name",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGES_OR_FOLDER", help="image files and/or folders")
    parser.add_argument("--model", default=None, help="architecture for official/timm weight files")
    parser.add_argument("--topk", type=int, default=5, help="classes printed per image")
    parser.add_argument("-b", "--batch-size", type=int, default=32, help="images per forward pass")
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if available, else CPU), cpu, cuda, cuda:N or mps"
    )
    parser.add_argument("--use-ema", action="store_true", help="use the EMA weights of a checkpoint")
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")
    add_weights_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import torch

    from deit.distributed import resolve_device
    from deit.errors import ConfigError
    from deit.progress import is_interactive, progress

    if args.topk < 1:
        raise ConfigError(f"--topk must be >= 1, got {args.topk}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    device = resolve_device(args.device)
    args.checkpoint = model_source(args)
    model, meta = load_for_eval(args.checkpoint, args.model, args.use_ema, *weights_options(args))
    model = model.to(device).eval()
    _, _, _, transform = preprocessing(model, meta)
    files, errors = collect_images(args.images)
    results: list[dict] = []
    batches = progress(
        range(0, len(files), args.batch_size),
        "predict",
        is_interactive() and len(files) > 4 * args.batch_size,
        unit="batch",
    )
    names: list[str] | None = None
    for start in batches:
        good, bad = load_tensors(files[start : start + args.batch_size], transform)
        errors.extend(bad)
        if not good:
            continue
        with torch.inference_mode():
            out = model(torch.stack([t for _, t in good]).to(device))
        if isinstance(out, (tuple, list)):  # a distilled model left in training mode: fuse as at inference
            out = (out[0] + out[1]) / 2
        probs = out.float().softmax(dim=-1).cpu()
        names = names or class_names_for(meta, probs.shape[-1])
        top = probs.topk(min(args.topk, probs.shape[-1]), dim=-1)
        for (path, _), p, i in zip(good, top.values.tolist(), top.indices.tolist()):
            results.append(
                {"file": str(path), "top": [{"class": names[c], "index": c, "prob": q} for c, q in zip(i, p)]}
            )
    for path, reason in errors:
        print(f"deit predict: error: {path}: {reason}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "checkpoint": str(args.checkpoint),
                    "predictions": results,
                    "errors": [{"file": p, "reason": r} for p, r in errors],
                },
                indent=2,
            )
        )
    else:
        for r in results:
            print(r["file"])
            for k, t in enumerate(r["top"], 1):
                print(f"  {k}. {t['class']:24s} {100 * t['prob']:6.2f}%")
        print(f"{len(results)} image(s) predicted, {len(errors)} failed")
    return 1 if errors else 0
