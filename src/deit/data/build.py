"""``build_dataset``: which dataset a ``--data`` value means (the bundled digits, CIFAR batches, an
ImageFolder with or without train/ and val/, WebDataset shards, ``hf:PATH``), and its train or validation
split. No downloads."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from deit.data.datasets import (
    VAL_DIR_NAMES,
    CIFARPickleDataset,
    DigitsDataset,
    ImageFolderDataset,
    Transform,
    check_dir,
    find_cifar_dir,
    find_classes,
    split_dataset,
)
from deit.data.hf_datasets import hf_dataset, is_hf_source
from deit.data.shards import is_shard_source, shard_dataset
from deit.errors import ConfigError, DataError

logger = logging.getLogger("deit.data")


def find_val_dir(root: Path) -> Path | None:
    return next((root / n for n in VAL_DIR_NAMES if (root / n).is_dir()), None)


def build_dataset(
    path: str | Path,
    split: str,
    transform: Transform = None,
    val_split: float = 0.0,
    seed: int = 0,
    skip_corrupt: bool = False,
    img_size: int = 32,
    hf_columns: tuple[str | None, str | None] = (None, None),
) -> Any:
    """Resolve a dataset source (no downloads) and return the ``split`` ("train" | "val") dataset.

    * ``"digits"``: DigitsDataset (``img_size`` px; val = stratified ``val_split`` or 0.2 of it).
    * a folder with CIFAR python batches (or their parent): train / test batches.
    * a folder with ``train/`` (+ ``val/`` or ``validation/``): ImageFolder of that split; val uses the
      train class list. ``train/`` without a val folder: ``val_split`` carves val out of train.
    * a plain ImageFolder: the whole folder is train, unless ``val_split > 0`` carves a stratified val
      split (same ``seed`` -> the same split for both calls).
    * WebDataset shards written by ``deit data pack``: ``OUT/``, ``OUT/index.json`` or ``OUT/train-{..}.tar``;
      train streams (:mod:`deit.data.shards`), val reads the val shards (or ``val_split`` of train).
    * ``hf:PATH``: a local Hugging Face ``datasets`` dataset (:mod:`deit.data.hf_datasets`); ``hf_columns``
      names its (image, label) columns, found by type when None.
    """
    if split not in ("train", "val"):
        raise ConfigError(f"split must be 'train' or 'val', got {split!r}")
    if not 0.0 <= val_split < 1.0:
        raise ConfigError(f"val_split must be in [0, 1), got {val_split}")
    is_train = split == "train"
    if str(path).lower() == "digits":
        return DigitsDataset(
            img_size=img_size, train=is_train, test_fraction=val_split or 0.2, seed=seed, transform=transform
        )
    if is_hf_source(path):
        image_column, label_column = hf_columns
        return hf_dataset(
            str(path), split, transform, val_split, seed, skip_corrupt, image_column, label_column
        )
    if is_shard_source(path):
        return shard_dataset(path, split, transform, val_split, seed, skip_corrupt)
    root = check_dir(path)
    if find_cifar_dir(root) is not None:
        if val_split > 0:
            logger.info("CIFAR data has its own test batch; val_split=%g is ignored", val_split)
        return CIFARPickleDataset(root, train=is_train, transform=transform)

    train_dir = root / "train"
    if train_dir.is_dir():
        val_dir = find_val_dir(root)
        if val_dir is not None:
            if val_split > 0:
                logger.info("%s exists; val_split=%g is ignored", val_dir, val_split)
            if is_train:
                return ImageFolderDataset(train_dir, transform, skip_corrupt)
            classes = find_classes(check_dir(train_dir))
            return ImageFolderDataset(val_dir, transform, skip_corrupt, classes=classes)
        source, hint = train_dir, f"{root} has train/ but no val/ folder"
    else:
        source, hint = root, f"{root} has no train/ and val/ folders"

    if val_split <= 0:
        if is_train:
            return ImageFolderDataset(source, transform, skip_corrupt)
        raise DataError(
            f"no validation data: {hint}; pass --val-split FRACTION (e.g. --val-split 0.1) "
            "to hold out a stratified part of the training images"
        )
    full = ImageFolderDataset(source, transform, skip_corrupt)
    train_set, val_set = split_dataset(full, val_split, seed)
    return train_set if is_train else val_set
