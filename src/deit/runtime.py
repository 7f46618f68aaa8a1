"""The process around a training run: logging, seeding, signals, CPU threads, which checkpoint resumes.

Nothing here builds a model or reads data; :mod:`deit.trainer` uses these around its loop.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deit import checkpoint as ckpt
from deit.config import TrainConfig
from deit.errors import CheckpointError, ConfigError, DeiTError

log = logging.getLogger("deit")
AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def setup_logging(log_file: Path | None, is_main: bool) -> None:
    root = logging.getLogger("deit")
    root.handlers.clear()
    root.setLevel(logging.INFO if is_main else logging.WARNING)
    root.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    root.addHandler(stream)
    if log_file is not None and is_main:
        fh = logging.FileHandler(log_file)
        fh.setFormatter(fmt)
        root.addHandler(fh)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(cfg: TrainConfig, epoch: int, rank: int) -> int:
    # Every epoch restarts all random streams from (seed, epoch, rank): resuming at an epoch boundary
    # reproduces the uninterrupted run exactly, whatever happened to the RNGs before.
    return (cfg.seed * 1_000_003 + epoch * 10_007 + rank) % 2**63


def seed_worker(worker_id: int) -> None:
    s = torch.initial_seed() % 2**32
    random.seed(s)
    np.random.seed(s)


class StopFlag:
    """SIGTERM/SIGINT (SLURM pre-emption, Ctrl-C) ask the loop to stop after the current step."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        log.warning("%s received: finishing this step, then saving a checkpoint", self.signal_name)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def blame(flag: str, value: Any) -> Iterator[None]:
    """Prefix a user error raised while handling one option with that option, e.g. ``--model x: ...``."""
    try:
        yield
    except DeiTError as exc:
        if str(exc).startswith(flag):
            raise
        raise type(exc)(f"{flag} {value}: {exc}") from exc


def resolve_resume(cfg: TrainConfig, run: ckpt.RunFolder) -> Path | None:
    if cfg.resume is None:
        return None
    if cfg.resume == "auto":
        found = ckpt.find_last_checkpoint(run.root)
        unreadable = [str(p) for p in (run.last, run.best) if p.is_file()]
        if (
            found is None and unreadable
        ):  # never silently restart (and overwrite) a run whose checkpoints are bad
            raise CheckpointError(
                f"--resume: no loadable checkpoint in {run.root} ({', '.join(unreadable)} cannot "
                "be loaded); pass --resume PATH to choose one, or --overwrite (without --resume) "
                "to start the run again"
            )
        if found is None:
            log.info("--resume: no checkpoint in %s yet, starting a new run", run.root)
        return found
    path = Path(cfg.resume)
    if not path.is_file():
        raise CheckpointError(f"--resume {path}: no such checkpoint file")
    return path


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """torch's CPU threads set to ``n`` (None: unchanged) inside the block, restored after it: training also
    runs inside other programs (``deit demo``, tests)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def tensorboard_writer(root: Path) -> Any:
    """A TensorBoard SummaryWriter into ``root/tensorboard`` (optional dependency)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ConfigError(
            "--tensorboard needs the tensorboard package: pip install 'deit[tensorboard]'"
        ) from exc
    return SummaryWriter(str(root / "tensorboard"))
