"""``--data hf:PATH``: a Hugging Face ``datasets`` dataset on local disk, read with the ``datasets`` library
(no network): a folder written by ``save_to_disk``, a folder of parquet files, or an image folder read by
the ``imagefolder`` builder.

The dataset is map-style (a torch Dataset over the Arrow table), so samplers, ``--data-cache``, the recipe and
``--train-per-class`` work unchanged. Images are decoded from their bytes by the same code as image files
(EXIF orientation, RGB conversion). Rows are put in (label, file name) order when the image column keeps file
names, the order of an ImageFolder, so ``hf:`` and the folder it came from give the same batches.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from deit.data.datasets import SkippingDataset, Transform, check_dir, split_dataset, unreadable
from deit.data.transforms import ImageLoadError, decode_image_bytes
from deit.errors import ConfigError, DataError

logger = logging.getLogger("deit.data")
PREFIX = "hf:"
TRAIN_SPLITS = ("train",)
VAL_SPLITS = ("validation", "val", "valid", "test")  # "test" last: many hub datasets have train + test only


def is_hf_source(path: Any) -> bool:
    return str(path).startswith(PREFIX)


def _datasets() -> Any:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local files only: never a hub lookup
    try:
        import datasets
    except ImportError as exc:
        raise ConfigError("--data hf:PATH needs the datasets package: pip install 'deit[hf]'") from exc
    return datasets


def load_splits(path: str | Path) -> dict[str, Any]:
    """The splits of the dataset at ``path`` by name (a lone ``save_to_disk`` Dataset is "train")."""
    datasets = _datasets()
    root = check_dir(path, "hf: dataset folder")
    try:
        if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
            loaded = datasets.load_from_disk(str(root))
        elif any(root.rglob("*.parquet")):
            loaded = datasets.load_dataset("parquet", data_dir=str(root))
        else:
            loaded = datasets.load_dataset("imagefolder", data_dir=str(root))
    except (ValueError, FileNotFoundError, OSError) as exc:
        raise DataError(f"--data hf:{root}: cannot read it with datasets ({exc})") from exc
    return dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}


def _find_column(table: Any, named: str | None, kind: str, names: tuple[str, ...], flag: str) -> str:
    features = table.features
    if named is not None:
        if named not in features:
            raise DataError(f"{flag} {named}: no such column; the dataset has {list(features)}")
        return named
    datasets = _datasets()
    typed = [c for c, f in features.items() if type(f).__name__ == kind]
    found = typed or [c for c in names if c in features]
    if not found:
        raise DataError(f"no {kind} column among {list(features)}; name it with {flag}")
    if kind == "Image" and not isinstance(features[found[0]], datasets.Image):
        raise DataError(f"column {found[0]} holds {features[found[0]]}, not images; name one with {flag}")
    return found[0]


class HFImageDataset(SkippingDataset, Dataset):
    """One split of a ``datasets`` dataset: ``(transform(RGB image), label)``, with ``classes`` from the
    label column's ClassLabel names (else its sorted distinct values) and ``targets``."""

    def __init__(
        self,
        table: Any,
        name: str,
        transform: Transform = None,
        skip_corrupt: bool = False,
        image_column: str | None = None,
        label_column: str | None = None,
        classes: list[str] | None = None,
    ) -> None:
        datasets = _datasets()
        self.name = name
        self.image_column = _find_column(table, image_column, "Image", ("image", "img"), "--hf-image-column")
        self.label_column = _find_column(
            table, label_column, "ClassLabel", ("label", "labels"), "--hf-label-column"
        )
        table = table.select_columns([self.image_column, self.label_column])
        self.table = table.cast_column(self.image_column, datasets.Image(decode=False))
        labels = self.table.data.column(self.label_column).to_pylist()
        feature = table.features[self.label_column]
        names = (
            list(feature.names)
            if isinstance(feature, datasets.ClassLabel)
            else sorted({str(v) for v in labels})
        )
        self.classes = list(classes) if classes is not None else names
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        if not isinstance(feature, datasets.ClassLabel):
            missing = sorted({str(v) for v in labels} - set(self.classes))
            if missing:
                raise DataError(f"{name}: labels {missing[:5]} are not training classes")
            labels = [self.class_to_idx[str(v)] for v in labels]
        elif classes is not None and list(feature.names) != self.classes:
            raise DataError(f"{name}: its label names differ from the training split's {self.classes[:5]}...")
        self.rows, self.targets = self._order(labels)
        self.transform = transform
        self.skip_corrupt = skip_corrupt
        self.skipped: set[str] = set()
        self.skip_log: Path | None = None

    def _order(self, labels: list[int]) -> tuple[np.ndarray, list[int]]:
        import pyarrow.compute as pc

        files = pc.struct_field(self.table.data.column(self.image_column), "path").to_pylist()
        if any(f is None for f in files):
            return np.arange(len(labels)), [int(v) for v in labels]
        rows = sorted(range(len(labels)), key=lambda i: (labels[i], Path(files[i]).name))
        return np.asarray(rows, dtype=np.int64), [int(labels[i]) for i in rows]

    @property
    def source(self) -> str:
        return self.name

    def __len__(self) -> int:
        return len(self.rows)

    def sample_name(self, index: int) -> str:
        return f"{self.name}[{int(self.rows[index])}]"

    def load(self, index: int) -> tuple[Any, int]:
        cell = self.table[int(self.rows[index])][self.image_column]
        name = cell.get("path") or self.sample_name(index)
        try:
            data = cell["bytes"] if cell.get("bytes") is not None else Path(cell["path"]).read_bytes()
            img = decode_image_bytes(data, f"{self.sample_name(index)} ({name})")
        except ImageLoadError as exc:
            raise unreadable(exc, self.skip_corrupt) from exc
        except OSError as exc:
            raise DataError(f"unreadable image {self.sample_name(index)} ({name}): {exc}") from exc
        return (self.transform(img) if self.transform is not None else img), self.targets[index]


def hf_dataset(
    spec: str,
    split: str,
    transform: Transform,
    val_split: float,
    seed: int,
    skip_corrupt: bool,
    image_column: str | None = None,
    label_column: str | None = None,
) -> Any:
    """``build_dataset`` for ``hf:PATH``: the train split, or the validation split (validation / val / test),
    else ``val_split`` of train held out (stratified, ``seed``)."""
    path = spec[len(PREFIX) :]
    splits = load_splits(path)
    train_name = next((s for s in TRAIN_SPLITS if s in splits), None)
    if train_name is None:
        raise DataError(f"--data {spec}: no train split (splits: {sorted(splits)})")
    columns = dict(image_column=image_column, label_column=label_column)
    train = HFImageDataset(splits[train_name], f"{spec}:{train_name}", None, skip_corrupt, **columns)
    val_name = next((s for s in VAL_SPLITS if s in splits), None)
    if val_name is not None:
        if val_split > 0:
            logger.info("%s has a %s split; val_split=%g is ignored", spec, val_name, val_split)
        if split == "train":
            train.transform = transform
            return train
        return HFImageDataset(
            splits[val_name], f"{spec}:{val_name}", transform, skip_corrupt, classes=train.classes, **columns
        )
    if val_split <= 0:
        if split == "train":
            train.transform = transform
            return train
        raise DataError(
            f"no validation data: {spec} has no validation/val/test split; pass --val-split FRACTION "
            "to hold out a stratified part of the training rows"
        )
    train.transform = transform
    train_set, val_set = split_dataset(train, val_split, seed)
    return train_set if split == "train" else val_set
