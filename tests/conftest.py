"""Suite-wide settings.

- One intra-op thread per test process: tiny models are faster with one than two on 2 cores, subprocess
  tests run beside the test process, and results match subprocesses started with OMP_NUM_THREADS=1.
- The trainer reconfigures the "deit" logger (handlers, level, propagate=False): undo it after each test.
"""

import logging
from collections.abc import Iterator

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _restore_deit_logger() -> Iterator[None]:
    logger = logging.getLogger("deit")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    for handler in logger.handlers:
        if handler not in handlers:
            handler.close()
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
