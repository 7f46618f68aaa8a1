"""Data pipeline: datasets, transforms, samplers, mixup and dataset checks.

Public API::

    build_dataset(path, split, transform=None, val_split=0.0, seed=0, skip_corrupt=False, img_size=32)
    ImageFolderDataset(root, transform=None, skip_corrupt=False, classes=None)
    CIFARPickleDataset(root, train=True, transform=None)
    DigitsDataset(img_size=32, train=True, test_fraction=0.2, seed=0, transform=None)
    split_dataset(dataset, val_fraction, seed=0) -> (SubsetDataset, SubsetDataset)
    build_transform(is_train, img_size, mean, std, *, auto_augment, interpolation, reprob, remode, recount,
                    color_jitter, crop_pct, small_image_policy)
    load_image(path) -> PIL RGB image;  to_rgb(img)
    RepeatAugSampler(dataset_len_or_dataset, num_replicas=1, rank=0, shuffle=True, num_repeats=3, seed=0)
    DistributedEvalSampler(dataset, num_replicas=1, rank=0)
    build_mixup(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, mode="batch", label_smoothing=0.1,
                num_classes=1000) -> OddBatchMixup | None
    check_dataset(path) -> DatasetReport
    ShardStream / ShardFiles / ShardSampler: WebDataset shards (``deit.data.shards``; packing: ``shard_pack``)
    HFImageDataset: ``hf:PATH`` (``deit.data.hf_datasets``)
"""

from deit.data.build import build_dataset
from deit.data.check import DatasetReport, FileIssue, SplitReport, check_dataset
from deit.data.datasets import (
    CIFARPickleDataset,
    DigitsDataset,
    ImageFolderDataset,
    SubsetDataset,
    find_cifar_dir,
    is_image_file,
    per_class_subset,
    read_skip_log,
    set_skip_log,
    set_transform,
    split_dataset,
    split_indices,
)
from deit.data.hf_datasets import HFImageDataset
from deit.data.mixup import OddBatchMixup, build_mixup
from deit.data.samplers import DistributedEvalSampler, RepeatAugSampler
from deit.data.shards import ShardFiles, ShardSampler, ShardStream
from deit.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    IMG_EXTENSIONS,
    ImageLoadError,
    build_transform,
    compute_mean_std,
    load_image,
    open_image,
    to_rgb,
)
from deit.io import safe_unpickle

__all__ = [
    "CIFARPickleDataset",
    "DatasetReport",
    "DigitsDataset",
    "DistributedEvalSampler",
    "FileIssue",
    "HFImageDataset",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMG_EXTENSIONS",
    "ImageFolderDataset",
    "ImageLoadError",
    "OddBatchMixup",
    "RepeatAugSampler",
    "ShardFiles",
    "ShardSampler",
    "ShardStream",
    "SplitReport",
    "SubsetDataset",
    "build_dataset",
    "build_mixup",
    "build_transform",
    "check_dataset",
    "compute_mean_std",
    "find_cifar_dir",
    "is_image_file",
    "per_class_subset",
    "load_image",
    "open_image",
    "read_skip_log",
    "safe_unpickle",
    "set_transform",
    "set_skip_log",
    "split_dataset",
    "split_indices",
    "to_rgb",
]
