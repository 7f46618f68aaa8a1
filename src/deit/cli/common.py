"""What the reading commands share (eval, predict, analyze, export): loading a model with a printed
summary, its preprocessing, the dataset it is evaluated on, and image files.

Imports of torch-heavy deit modules stay inside the functions, so that ``deit --help`` and argument errors
do not pay for importing torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def load_for_eval(
    checkpoint: str,
    model_name: str | None,
    use_ema: bool = False,
    weights_source: str = "official",
    offline: bool = False,
):
    """(model in eval mode, meta) through ``deit.load_model``'s loader (every accepted source); prints the
    file and epoch of the weights used."""
    from deit.models.loading import load_model_and_meta, weights_summary

    model, meta = load_model_and_meta(checkpoint, model_name, use_ema, weights_source, offline)
    print(weights_summary(meta) + (" [EMA]" if use_ema else ""), file=sys.stderr)
    return model, meta


def collect_images(paths: Sequence[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named directly (any extension) plus image files found recursively in folders, and
    ``(path, reason)`` for paths that do not exist or folders without images."""
    from deit.data import is_image_file

    files: list[Path] = []
    errors: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and is_image_file(f))
            if not found:
                errors.append((raw, "folder contains no image files"))
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            errors.append((raw, "no such file or folder"))
    return files, errors


def preprocessing(model: Any, meta: dict) -> tuple[int, tuple, tuple, Callable]:
    """(img_size, mean, std, eval transform) of a loaded checkpoint, exactly as ``deit eval`` uses them."""
    from deit.data import IMAGENET_MEAN, IMAGENET_STD, build_transform

    img_size = int(meta.get("img_size") or getattr(model, "img_size", None) or 224)
    mean = tuple(meta.get("data_mean") or IMAGENET_MEAN)
    std = tuple(meta.get("data_std") or IMAGENET_STD)
    if meta.get("image_processor"):  # a transformers folder: as its preprocessor_config.json says
        from deit.data.hf_processor import processor_transform

        return img_size, mean, std, processor_transform(meta["image_processor"])
    return img_size, mean, std, build_transform(False, img_size, mean, std, crop_pct=run_crop_pct(meta))


def run_crop_pct(meta: dict) -> float:
    """The run's ``--crop-pct`` (0.875 when the checkpoint does not record one)."""
    return float((meta.get("config") or {}).get("crop_pct") or 0.875)


def load_tensors(
    files: Sequence[Path], transform: Callable
) -> tuple[list[tuple[Path, Any]], list[tuple[str, str]]]:
    """Decode + transform every file; unreadable ones become ``(path, reason)`` errors."""
    from deit.data import ImageLoadError, load_image

    good, bad = [], []
    for f in files:
        try:
            good.append((f, transform(load_image(f))))
        except ImageLoadError as exc:
            bad.append((str(f), exc.reason))
        except (OSError, ValueError) as exc:
            bad.append((str(f), f"{type(exc).__name__}: {exc}"))
    return good, bad


def class_names_for(meta: dict, num_classes: int) -> list[str]:
    names = meta.get("class_names")
    if isinstance(names, (list, tuple)) and len(names) == num_classes:
        return [str(n) for n in names]
    return [f"class_{i}" for i in range(num_classes)]


def eval_dataset(args: argparse.Namespace, meta: dict, model: Any) -> tuple[int, tuple, tuple, Any]:
    """(img_size, mean, std, dataset): ``args.data``'s ``args.split`` preprocessed as the checkpoint was
    evaluated in training (its image size, statistics, val split and seed unless ``--val-split``/``--seed``
    override them); the dataset's classes must equal the checkpoint's."""
    from deit.data import build_dataset
    from deit.errors import ConfigError

    cfg = meta.get("config") or {}
    img_size, mean, std, transform = preprocessing(model, meta)
    if getattr(args, "img_size", None) not in (None, img_size):
        raise ConfigError(
            f"--input-size {args.img_size}: {meta.get('path', 'the checkpoint')} is a {img_size} px model; "
            f"drop the flag or pass {img_size} (another size is another model, e.g. a *_384 name)"
        )
    val_split = args.val_split if args.val_split is not None else float(cfg.get("val_split", 0.0))
    # runs written before split_seed existed split with their training seed
    seed = args.seed if args.seed is not None else int(cfg.get("split_seed", cfg.get("seed", 0)))
    dataset = build_dataset(
        args.data,
        args.split,
        transform,
        val_split=val_split,
        seed=seed,
        skip_corrupt=args.skip_corrupt,
        img_size=img_size,
        hf_columns=(cfg.get("hf_image_column"), cfg.get("hf_label_column")),  # --data hf:PATH's, as trained
    )
    names = meta.get("class_names")
    if names is not None and list(names) != list(dataset.classes):
        raise ConfigError(
            f"--data {args.data} has classes {list(dataset.classes)[:5]}... but {meta.get('path', 'the checkpoint')} "
            f"was trained on {list(names)[:5]}... ({len(names)} classes): they must match"
        )
    return img_size, mean, std, dataset
