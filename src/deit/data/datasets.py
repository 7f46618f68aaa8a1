"""Datasets: ImageFolder, CIFAR python pickles (safely unpickled), scikit-learn digits; splits.

Every dataset exposes ``classes`` (list[str]), ``targets`` (list[int]) and returns ``(transform(img), label)``
where ``img`` is an RGB ``PIL.Image`` (no transform: the PIL image itself).
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from deit.data.transforms import IMG_EXTENSIONS, ImageLoadError, load_image
from deit.errors import ConfigError, DataError
from deit.io import safe_unpickle

logger = logging.getLogger("deit.data")
Transform = Callable[[Any], Any] | None
VAL_DIR_NAMES = ("val", "validation")


def is_image_file(name: str | Path) -> bool:
    """Image extension (case-insensitive) and not a hidden / macOS resource-fork file (``._x.jpg``)."""
    name = Path(name).name
    return not name.startswith(".") and name.lower().endswith(IMG_EXTENSIONS)


def find_classes(root: Path) -> list[str]:
    """Sorted names of the visible sub-folders of ``root`` (class folders)."""
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def list_class_files(class_dir: Path) -> tuple[list[Path], list[Path]]:
    """(image files, ignored non-image files) under ``class_dir``, recursively, sorted."""
    images: list[Path] = []
    ignored: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            (images if is_image_file(f) else ignored).append(Path(dirpath) / f)
    return images, ignored


def check_dir(root: str | Path, what: str = "dataset folder") -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"{what} not found: {root}")
    if not root.is_dir():
        raise DataError(f"{what} is not a directory: {root}")
    return root


class SkipLog:
    """``--skip-corrupt`` bookkeeping shared by every dataset that can skip: ``skipped`` (this process) and an
    optional ``skip_log`` file counting each unreadable sample once across workers, ranks and epochs."""

    skipped: set[str]
    skip_log: Path | None = None

    def _skip(self, path: str, exc: DataError) -> None:
        self.skipped.add(path)
        if self.skip_log is None:
            logger.warning("skipping %s (%d skipped so far in this process)", exc, len(self.skipped))
            return
        known = read_skip_log(self.skip_log)
        if path in known:  # another worker, or an earlier epoch, already reported it
            return
        try:
            with open(self.skip_log, "a", encoding="utf-8") as fh:  # one short append: atomic enough
                fh.write(path + "\n")
        except OSError as write_error:
            logger.warning("cannot record skipped image in %s: %s", self.skip_log, write_error)
        logger.warning("skipping %s (%d skipped so far)", exc, len(known) + 1)


class SkippingDataset(SkipLog, ABC):
    """A map-style dataset whose unreadable samples ``skip_corrupt`` replaces by the next readable one in the
    order being read (deterministic)."""

    skip_corrupt: bool

    @property
    @abstractmethod
    def source(self) -> Any:
        """What the samples come from, for messages (a folder, a shard, a dataset path)."""

    @abstractmethod
    def sample_name(self, index: int) -> str:
        """The name of sample ``index`` in messages and the skip log (a file path, a shard member...)."""

    @abstractmethod
    def load(self, index: int) -> tuple[Any, int]:
        """Sample ``index`` decoded and transformed; raises DataError naming it if it is unreadable."""

    def get_from(self, order: Sequence[int], pos: int) -> tuple[Any, int]:
        """Sample ``order[pos]``; if corrupt and ``skip_corrupt``, the next readable one in ``order``."""
        if not self.skip_corrupt:
            return self.load(order[pos])
        n = len(order)
        for step in range(n):
            index = order[(pos + step) % n]
            path = self.sample_name(index)
            if path in self.skipped:
                continue
            try:
                return self.load(index)
            except DataError as exc:
                self._skip(path, exc)
        raise DataError(f"no readable image left in {self.source} ({len(self.skipped)} unreadable files)")

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.get_from(range(len(self)), index)


class ImageFolderDataset(SkippingDataset, Dataset):
    """``root/<class>/**/<image>`` (torchvision ImageFolder layout), images decoded to RGB by ``load_image``.

    ``classes`` fixes the class list (e.g. a val folder must use the train folder's label indices);
    class folders missing from ``root`` are then allowed, extra ones are an error.
    ``skip_corrupt=True``: an unreadable image is logged (logger "deit.data"), recorded in ``skipped``
    and replaced by the next readable sample (deterministic). ``skipped`` is per process: with
    DataLoader workers each worker has its own copy. Set ``skip_log`` to a file path to count across
    processes and epochs: every skipped file is appended to it once and logged once (see
    :func:`read_skip_log`).
    """

    def __init__(
        self,
        root: str | Path,
        transform: Transform = None,
        skip_corrupt: bool = False,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.root = check_dir(root)
        found = find_classes(self.root)
        if not found:
            raise DataError(
                f"no class folders in {self.root}: expected {self.root}/<class_name>/<image files>"
            )
        if classes is None:
            self.classes = found
        else:
            self.classes = list(classes)
            extra = sorted(set(found) - set(self.classes))
            if extra:
                raise DataError(f"{self.root} has class folders not in the training classes: {extra}")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples: list[tuple[str, int]] = []
        for cls in found:
            files, _ = list_class_files(self.root / cls)
            if not files:
                raise DataError(
                    f"empty class folder (no image files {'/'.join(IMG_EXTENSIONS)}): {self.root / cls}"
                )
            self.samples += [(str(f), self.class_to_idx[cls]) for f in files]
        self.targets = [t for _, t in self.samples]
        self.transform = transform
        self.skip_corrupt = skip_corrupt
        self.skipped: set[str] = set()
        self.skip_log: Path | None = None

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def source(self) -> Path:
        return self.root

    def sample_name(self, index: int) -> str:
        return self.samples[index][0]

    def load(self, index: int) -> tuple[Any, int]:
        """Load one sample; raises DataError naming the file if it is unreadable."""
        path, target = self.samples[index]
        try:
            img = load_image(path)
        except ImageLoadError as exc:
            raise unreadable(exc, self.skip_corrupt) from exc
        return (self.transform(img) if self.transform is not None else img), target


def unreadable(exc: ImageLoadError, skip_corrupt: bool) -> DataError:
    """The error for an image that cannot be decoded, naming it (a file, a shard member, a dataset row);
    without ``--skip-corrupt`` it names the way past it."""
    hint = "" if skip_corrupt else " (--skip-corrupt skips such files and lists them in skipped_images.txt)"
    return DataError(f"unreadable image {exc.path}: {exc.reason}{hint}")


def read_skip_log(path: str | Path) -> set[str]:
    """The image paths recorded in a ``skip_log`` file (empty if it does not exist yet)."""
    try:
        return {line for line in Path(path).read_text(encoding="utf-8").splitlines() if line}
    except FileNotFoundError:
        return set()


def set_skip_log(dataset: Any, path: str | Path) -> None:
    """Point every skipping dataset inside ``dataset`` (subsets included) at ``path``."""
    while dataset is not None:
        if isinstance(dataset, SkipLog):
            dataset.skip_log = Path(path)
        dataset = getattr(dataset, "dataset", None)


class SubsetDataset(Dataset):
    """A subset that still exposes ``classes``, ``class_to_idx`` and ``targets``.

    Corrupt-file replacement (``skip_corrupt``) stays inside the subset, so a skipped train image is never
    replaced by a validation image.
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.classes: list[str] = list(dataset.classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.targets = [int(dataset.targets[i]) for i in self.indices]

    @property
    def skipped(self) -> set[str]:
        return getattr(self.dataset, "skipped", set())

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        if hasattr(self.dataset, "get_from"):
            return self.dataset.get_from(self.indices, i)
        return self.dataset[self.indices[i]]


# ----------------------------------------------------------------------------------------------- CIFAR
def find_cifar_dir(root: str | Path) -> tuple[Path, str] | None:
    """(batches folder, "cifar10" | "cifar100") if ``root`` is or contains CIFAR python batches."""
    root = Path(root)
    for cand in (root, root / "cifar-10-batches-py", root / "cifar-100-python"):
        if (cand / "data_batch_1").is_file() or (cand / "batches.meta").is_file():
            return cand, "cifar10"
        if (cand / "train").is_file() and (cand / "meta").is_file():
            return cand, "cifar100"
    return None


def _get(d: Any, key: str, path: Path) -> Any:
    if not isinstance(d, dict):
        raise DataError(f"{path}: expected a dict, got {type(d).__name__}")
    for k in (key, key.encode()):
        if k in d:
            return d[k]
    raise DataError(f"{path}: missing key {key!r}")


def _as_str(x: Any) -> str:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)


class CIFARPickleDataset(Dataset):
    """CIFAR-10/100 "python version" batches from a local folder (no download)."""

    def __init__(self, root: str | Path, train: bool = True, transform: Transform = None) -> None:
        found = find_cifar_dir(check_dir(root))
        if found is None:
            raise DataError(
                f"no CIFAR python batches in {root} (expected data_batch_1..5/test_batch/"
                "batches.meta or train/test/meta, possibly in cifar-10-batches-py/)"
            )
        self.root, self.variant = found
        if self.variant == "cifar10":
            files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
            meta_file, names_key, label_key = "batches.meta", "label_names", "labels"
        else:
            files = ["train"] if train else ["test"]
            meta_file, names_key, label_key = "meta", "fine_label_names", "fine_labels"
        meta_path = self.root / meta_file
        self.classes = [_as_str(c) for c in _get(safe_unpickle(meta_path), names_key, meta_path)]
        chunks, labels = [], []
        for name in files:
            path = self.root / name
            entry = safe_unpickle(path)
            data = np.asarray(_get(entry, "data", path))
            lab = [int(v) for v in _get(entry, label_key, path)]
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(lab):
                raise DataError(
                    f"{path}: expected uint8 data [N, 3072] and N labels, got data "
                    f"{data.dtype}{list(data.shape)} and {len(lab)} labels"
                )
            chunks.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels += lab
        self.data = np.ascontiguousarray(np.concatenate(chunks))
        bad = [v for v in labels if not 0 <= v < len(self.classes)]
        if bad:
            raise DataError(f"{self.root}: label {bad[0]} outside 0..{len(self.classes) - 1} ({meta_file})")
        self.targets = labels
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        img = Image.fromarray(self.data[index])
        return (self.transform(img) if self.transform is not None else img), self.targets[index]


# ---------------------------------------------------------------------------------------------- digits
@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return images, d.target.astype(np.int64)


class DigitsDataset(Dataset):
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes) as RGB PIL images of ``img_size``.

    Stratified, seeded train/test split; images upsampled with bilinear interpolation on access.
    """

    def __init__(
        self,
        img_size: int = 32,
        train: bool = True,
        test_fraction: float = 0.2,
        seed: int = 0,
        transform: Transform = None,
    ) -> None:
        from sklearn.model_selection import train_test_split

        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
        images, labels = _digits()
        tr, te = train_test_split(
            np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=seed
        )
        self.indices = np.sort(tr if train else te)
        self.images = images[self.indices]
        self.targets = [int(v) for v in labels[self.indices]]
        self.classes = [str(i) for i in range(10)]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.img_size = int(img_size)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        img = Image.fromarray(self.images[index])
        if self.img_size != 8:
            img = img.resize((self.img_size, self.img_size), Image.Resampling.BILINEAR)
        img = img.convert("RGB")
        return (self.transform(img) if self.transform is not None else img), self.targets[index]


# ---------------------------------------------------------------------------------------------- splits
def split_indices(targets: Sequence[int], val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Stratified, deterministic split: each class gives round(n * val_fraction) samples to val, at least 1
    and at most n - 1 when it has >= 2 samples (a single-sample class stays in train)."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_split must be in (0, 1), got {val_fraction}")
    targets_arr = np.asarray(targets, dtype=np.int64)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(targets_arr):
        idx = np.flatnonzero(targets_arr == c)
        idx = idx[rng.permutation(len(idx))]
        k = 0 if len(idx) < 2 else min(max(int(round(len(idx) * val_fraction)), 1), len(idx) - 1)
        val += idx[:k].tolist()
        train += idx[k:].tolist()
    if not val:
        raise DataError(
            f"too few images to carve a validation split of {val_fraction:g} "
            "(every class needs at least 2 images)"
        )
    return sorted(train), sorted(val)


def per_class_subset(dataset: Any, per_class: int, seed: int = 0) -> Any:
    """At most ``per_class`` images of every class, drawn once with ``seed`` (the same images for every run
    with that seed); a subset of a :class:`SubsetDataset` indexes the dataset underneath."""
    targets = np.asarray(dataset.targets, dtype=np.int64)
    rng = np.random.default_rng([seed, 7919])  # apart from split_indices' draw with the same seed
    keep: list[int] = []
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        keep += idx[rng.permutation(len(idx))[:per_class]].tolist()
    keep.sort()
    if hasattr(dataset, "subset"):  # shards: the stream reads only the kept members
        return dataset.subset(keep)
    if isinstance(dataset, SubsetDataset):
        return SubsetDataset(dataset.dataset, [dataset.indices[i] for i in keep])
    return SubsetDataset(dataset, keep)


def set_transform(dataset: Any, transform: Transform) -> None:
    """Give ``dataset`` (or the dataset under a :class:`SubsetDataset`) its transform after it is built."""
    (dataset.dataset if isinstance(dataset, SubsetDataset) else dataset).transform = transform


def split_dataset(dataset: Any, val_fraction: float, seed: int = 0) -> tuple[SubsetDataset, SubsetDataset]:
    """Stratified (by ``dataset.targets``) deterministic split into (train, val) subsets."""
    train, val = split_indices(dataset.targets, val_fraction, seed)
    return SubsetDataset(dataset, train), SubsetDataset(dataset, val)
