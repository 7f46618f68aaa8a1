"""Suite-wide settings.

- One intra-op thread per test process: tiny models are faster with one than two on 2 cores, subprocess
  tests run beside the test process, and results match subprocesses started with OMP_NUM_THREADS=1.
- The trainer reconfigures the "deit" logger (handlers, level, propagate=False): after each test it is put
  back as it was when the suite started (not as the test found it: a module-scoped fixture that trains may
  have changed it before a test began).
"""

import logging
from collections.abc import Iterator

import pytest
import torch

torch.set_num_threads(1)
_DEIT_LOGGER = logging.getLogger("deit")
_PRISTINE = (list(_DEIT_LOGGER.handlers), _DEIT_LOGGER.level, _DEIT_LOGGER.propagate)


@pytest.fixture(autouse=True)
def _restore_deit_logger() -> Iterator[None]:
    logger = _DEIT_LOGGER
    handlers, level, propagate = _PRISTINE
    logger.handlers[:] = list(handlers)
    logger.setLevel(level)
    logger.propagate = propagate
    yield
    for handler in logger.handlers:
        if handler not in handlers:
            handler.close()
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
