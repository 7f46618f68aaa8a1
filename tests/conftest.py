"""Suite-wide settings.

- One intra-op thread per test process: tiny models are faster with one than two on 2 cores, subprocess
  tests run beside the test process, and results match subprocesses started with OMP_NUM_THREADS=1.
- The trainer reconfigures the "deit" logger (handlers, level, propagate=False): undo it after each test.
- The most expensive files start first (``@pytest.mark.slow(seconds=N)``, N measured with ``--durations``):
  pytest-xdist hands out whole files (``--dist loadfile``) in collection order, so a long file that
  starts last would keep one core busy while the other waits (longest-first scheduling).
"""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


def _seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("slow")
    return float(marker.kwargs.get("seconds", 5)) if marker else 0.2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    cost: dict[Path, float] = {}
    for item in items:
        cost[item.path] = cost.get(item.path, 0.0) + _seconds(item)
    items.sort(key=lambda item: -cost[item.path])  # stable: a file keeps its own order


# The "deit" logger as the suite starts: restored after every test, also after a module-scoped fixture that
# trained in-process (the per-test fixture would otherwise record, and keep, that fixture's settings).
_DEIT_LOGGER = logging.getLogger("deit")
_BASELINE = (list(_DEIT_LOGGER.handlers), _DEIT_LOGGER.level, _DEIT_LOGGER.propagate)


@pytest.fixture(autouse=True)
def _restore_deit_logger() -> Iterator[None]:
    yield
    handlers, level, propagate = _BASELINE
    for handler in _DEIT_LOGGER.handlers:
        if handler not in handlers:
            handler.close()
    _DEIT_LOGGER.handlers[:] = handlers
    _DEIT_LOGGER.setLevel(level)
    _DEIT_LOGGER.propagate = propagate
