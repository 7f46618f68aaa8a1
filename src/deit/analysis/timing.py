"""Interleaved timing of competing implementations in one process (fair on noisy shared machines)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Timing:
    name: str
    seconds: list[float]
    items_per_call: int

    @property
    def rates(self) -> list[float]:
        return [self.items_per_call / s for s in self.seconds]

    @property
    def median_rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def spread(self) -> tuple[float, float]:
        """(min, max) of the per-repeat rates."""
        return min(self.rates), max(self.rates)

    def to_dict(self) -> dict:
        lo, hi = self.spread
        return {
            "name": self.name,
            "median_per_s": self.median_rate,
            "min_per_s": lo,
            "max_per_s": hi,
            "repeats": len(self.seconds),
            "items_per_call": self.items_per_call,
        }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    items_per_call: int,
    warmup: int = 2,
    repeats: int = 10,
    device: torch.device | str = "cpu",
) -> dict[str, Timing]:
    """Call every function ``warmup`` times, then ``repeats`` rounds of one call each, in rotating order.

    Rotating the order inside each round spreads drifts of a shared machine (thermal, neighbours) evenly
    over the contestants. On CUDA each call is bracketed by CUDA events.
    """
    device = torch.device(device)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    names = list(fns)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            if device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fns[name]()
                end.record()
                torch.cuda.synchronize(device)
                seconds[name].append(start.elapsed_time(end) / 1000.0)
            else:
                t0 = time.perf_counter()
                fns[name]()
                seconds[name].append(time.perf_counter() - t0)
    return {n: Timing(n, seconds[n], items_per_call) for n in names}
