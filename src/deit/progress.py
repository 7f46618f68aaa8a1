"""Progress bars: tqdm on a terminal, nothing otherwise (log files stay clean)."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable
from typing import Any


def is_interactive() -> bool:
    return sys.stderr.isatty()


def fmt_duration(seconds: float) -> str:
    """``H:MM:SS`` (durations and ETAs in the training log and on the progress bar)."""
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def progress(
    iterable: Iterable,
    desc: str,
    enabled: bool,
    total: int | None = None,
    max_items: int | None = None,
    unit: str = "it",
) -> Iterable:
    """``iterable`` (cut after ``max_items``), wrapped in a tqdm bar when ``enabled``."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if max_items is not None:
        iterable = itertools.islice(iterable, max_items)
        total = max_items if total is None else min(total, max_items)
    if not enabled:
        return iterable
    from tqdm import tqdm

    bar: Any = tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)
    return bar
