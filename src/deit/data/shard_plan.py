"""The order a shard stream reads in (the rule: :mod:`deit.data.shards`): which slice of an epoch's sample
stream a rank's loader worker reads, and the bounded shuffle buffer it reads through."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EpochPlan:
    world: int
    rank: int
    workers: int
    batch_size: int
    seed: int
    epoch: int = 0
    start_step: int = 0

    def batches_per_rank(self, num_samples: int) -> int:
        return num_samples // self.world // self.batch_size

    def worker_slice(self, num_samples: int, worker: int) -> tuple[int, int]:
        """[start, stop) in the epoch's sample stream: this rank's worker-th run of whole batches."""
        steps, per_rank = self.batches_per_rank(num_samples), num_samples // self.world
        runs = [steps // self.workers + (w < steps % self.workers) for w in range(self.workers)]
        start = self.rank * per_rank + sum(runs[:worker]) * self.batch_size
        return start, start + runs[worker] * self.batch_size

    def batches_done(self, worker: int) -> int:
        """Batches of ``worker``'s run the loader's round-robin handed out before ``start_step``."""
        return self.start_step // self.workers + (worker < self.start_step % self.workers)


def buffer_shuffle(samples: Iterator[Any], size: int, rng: np.random.Generator) -> Iterator[Any]:
    """Bounded-memory shuffle: keep ``size`` samples, emit a random one as each new one arrives."""
    buffer: list[Any] = []
    for sample in samples:
        if len(buffer) < size:
            buffer.append(sample)
            continue
        i = int(rng.integers(len(buffer)))
        buffer[i], sample = sample, buffer[i]
        yield sample
    rng.shuffle(buffer)
    yield from buffer
