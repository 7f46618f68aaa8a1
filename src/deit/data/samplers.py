"""Samplers: repeated augmentation (DeiT's RASampler) and an exact-coverage distributed eval sampler."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import torch
from torch.utils.data import Sampler

from deit.errors import ConfigError


def _length(dataset_or_len: int | Sized) -> int:
    n = dataset_or_len if isinstance(dataset_or_len, int) else len(dataset_or_len)
    if n <= 0:
        raise ConfigError(f"sampler needs a non-empty dataset, got {n} samples")
    return int(n)


def _check_ranks(num_replicas: int, rank: int) -> None:
    if num_replicas < 1:
        raise ConfigError(f"num_replicas must be >= 1, got {num_replicas}")
    if not 0 <= rank < num_replicas:
        raise ConfigError(f"rank must be in [0, {num_replicas - 1}], got {rank}")


class RepeatAugSampler(Sampler[int]):
    """Repeated augmentation (Hoffer et al. 2020; Berman et al. 2019), official DeiT ``RASampler`` semantics.

    Each epoch: permute the N indices (``torch.randperm`` seeded with ``seed + epoch``), repeat every index
    ``num_repeats`` times consecutively, pad to a multiple of ``num_replicas`` by wrapping around, and
    deal the list round-robin to the ranks, so the repeats of one image land on different ranks (and get
    different augmentations there). Every rank then iterates only its first
    ``num_selected = floor(N // 256 * 256 / num_replicas)`` indices, so an epoch has (about) as many
    steps as without repetition.

    Tiny datasets (N < 256, where the official formula gives 0) use ``ceil(N / num_replicas)`` instead
    (this deviation from the official code is the only one). With one process the repeats of an image are
    consecutive within the batch, i.e. about N / num_repeats distinct images are seen per epoch.
    Call ``set_epoch(epoch)`` before each epoch, as with ``DistributedSampler``.
    """

    def __init__(
        self,
        dataset_len_or_dataset: int | Sized,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        num_repeats: int = 3,
        seed: int = 0,
    ) -> None:
        self.num_total = _length(dataset_len_or_dataset)
        _check_ranks(num_replicas, rank)
        if num_repeats < 1:
            raise ConfigError(f"num_repeats must be >= 1, got {num_repeats}")
        self.num_replicas, self.rank, self.shuffle = num_replicas, rank, shuffle
        self.num_repeats, self.seed, self.epoch = num_repeats, seed, 0
        self.num_samples = math.ceil(self.num_total * num_repeats / num_replicas)
        self.total_size = self.num_samples * num_replicas
        selected = int(math.floor(self.num_total // 256 * 256 / num_replicas))
        if selected == 0:
            selected = math.ceil(self.num_total / num_replicas)
        self.num_selected_samples = min(selected, self.num_samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = torch.randperm(self.num_total, generator=g)
        else:
            indices = torch.arange(self.num_total)
        order = torch.repeat_interleave(indices, self.num_repeats).tolist()
        while len(order) < self.total_size:  # pad (wrap around; loops only if padding > len)
            order += order[: self.total_size - len(order)]
        order = order[self.rank : self.total_size : self.num_replicas]
        return iter(order[: self.num_selected_samples])

    def __len__(self) -> int:
        return self.num_selected_samples


class DistributedEvalSampler(Sampler[int]):
    """Indices ``rank, rank + num_replicas, ...``: every sample on exactly one rank, no padding/duplicates.

    Ranks may get one sample more than others; summing correct counts and totals over ranks
    (all_reduce) then gives exact dataset metrics.
    """

    def __init__(self, dataset: int | Sized, num_replicas: int = 1, rank: int = 0) -> None:
        self.num_total = _length(dataset)
        _check_ranks(num_replicas, rank)
        self.num_replicas, self.rank = num_replicas, rank

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_total, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.num_total, self.num_replicas))
