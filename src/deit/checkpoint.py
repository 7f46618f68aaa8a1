"""What a training run writes: RNG state, resume resolution, the export, the run folder, metrics files.

Safe loading and atomic writing live in :mod:`deit.io`, reading weights in :mod:`deit.models.loading`;
their names are re-exported here for callers of the training-state API.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from safetensors.torch import save
from torch import nn

from deit.errors import CheckpointError, ConfigError
from deit.io import (
    atomic_write,
    describe_os_error,
    json_default,
    load_checkpoint,
    save_checkpoint,
    validate_plain_data,
)
from deit.models.loading import (
    RUN_FOLDER_WEIGHTS,
    load_model_and_meta,
    peek_epoch,
    resolve_weights_file,
    weights_summary,
)
from deit.models.weights import strip_prefixes

logger = logging.getLogger("deit.checkpoint")

TRAIN_FORMAT = "deit-train-v1"
EXPORT_FORMAT = "deit-export-v1"


# ------------------------------------------------------------------------------------------------- RNG
def capture_rng_state() -> dict:
    """Python, numpy (legacy global), torch CPU and every CUDA device's RNG state, as plain data."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    cuda = [s.clone() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else []
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state().clone(),
        "cuda": cuda,
    }


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state` (missing parts are left as they are)."""
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "torch" in state:
        torch.set_rng_state(torch.as_tensor(state["torch"]).cpu().to(torch.uint8))
    cuda = list(state.get("cuda") or [])
    if cuda and torch.cuda.is_available():
        n = min(len(cuda), torch.cuda.device_count())
        if n != len(cuda):
            logger.warning("checkpoint has RNG state for %d CUDA devices, restoring %d", len(cuda), n)
        for i in range(n):
            torch.cuda.set_rng_state(torch.as_tensor(cuda[i]).cpu().to(torch.uint8), i)


# ---------------------------------------------------------------------------------------------- resume
def find_last_checkpoint(output_dir: str | Path) -> Path | None:
    """``last.pt`` if it loads, else a loadable ``best.pt`` (with a warning), else None."""
    folder = Path(output_dir)
    for name in ("last.pt", "best.pt"):
        candidate = folder / name
        if not candidate.is_file():
            continue
        try:
            load_checkpoint(candidate, mmap=zipfile.is_zipfile(candidate))
        except CheckpointError as exc:
            logger.warning("ignoring %s: %s", candidate, exc)
            continue
        if name != "last.pt":
            logger.warning("no loadable last.pt in %s; resuming from %s", folder, candidate)
        return candidate
    return None


# ---------------------------------------------------------------------------------------------- export
def export_model(model_state: dict[str, torch.Tensor], meta: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``model.safetensors`` + ``model.json`` (meta + format) atomically into ``out_dir``."""
    out_dir = Path(out_dir)
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in strip_prefixes(dict(model_state)).items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"cannot export: model state entry {key!r} is a {type(value).__name__}, not a tensor"
            )
        t = value.detach().cpu()
        storage = t.untyped_storage()
        if storage.data_ptr() in seen or storage.nbytes() != t.nelement() * t.element_size():
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        tensors[key] = t.contiguous()
    try:
        text = json.dumps({**meta, "format": EXPORT_FORMAT}, indent=2, default=json_default) + "\n"
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot export: model metadata is not JSON serialisable ({exc})") from exc
    blob = save(tensors, metadata={"format": "pt", "deit_format": EXPORT_FORMAT})
    weights = atomic_write(out_dir / "model.safetensors", lambda f: f.write(blob), "model export")
    meta_path = atomic_write(
        out_dir / "model.json", lambda f: f.write(text.encode("utf-8")), "model metadata"
    )
    return weights, meta_path


# ------------------------------------------------------------------------------------------ model load
def load_model_from_checkpoint(
    path: str | Path, map_location: Any = "cpu", use_ema: bool = False
) -> tuple[nn.Module, dict]:
    """Rebuild the network recorded in a training checkpoint, export or run folder; returns (model, meta).
    (:func:`deit.models.loading.load_model_and_meta` for sources that record their architecture.)"""
    model, meta = load_model_and_meta(path, use_ema=use_ema, infer_architecture=False)
    return model.to(map_location if isinstance(map_location, (str, torch.device)) else "cpu"), meta


# ------------------------------------------------------------------------------------------ run folder
def _run_file(name: str) -> property:
    def get(self: RunFolder) -> Path:
        return self.root / name

    return property(get, doc=f"``{name}`` in the run folder")


@dataclass
class RunFolder:
    """Paths of one run's output folder (see docs/ARCHITECTURE.md, "Run folder")."""

    root: Path
    _lock: IO[bytes] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    config_path = _run_file("config.yaml")
    metrics_path = _run_file("metrics.jsonl")
    csv_path = _run_file("metrics.csv")
    last = _run_file("last.pt")
    best = _run_file("best.pt")
    log_path = _run_file("log.txt")
    curves_png = _run_file("curves.png")
    export_weights = _run_file("model.safetensors")
    export_meta = _run_file("model.json")
    skipped_path = _run_file("skipped_images.txt")  # --skip-corrupt: every unreadable image, once

    def run_files(self) -> list[Path]:
        return [
            self.config_path,
            self.metrics_path,
            self.csv_path,
            self.last,
            self.best,
            self.log_path,
            self.curves_png,
            self.export_weights,
            self.export_meta,
            self.skipped_path,
        ]

    def has_previous_run(self) -> bool:
        """A checkpoint or a recorded epoch. A start that failed before its first epoch left neither (only
        config.yaml, an empty metrics.jsonl, log.txt): that is no run to protect."""
        return self.last.exists() or self.best.exists() or bool(read_jsonl(self.metrics_path))

    def _hold_lock(self) -> None:
        """A POSIX lock on ``.lock`` while this object lives (the OS drops it when the process ends, also on a
        crash or kill): another process cannot prepare this folder meanwhile, so its --overwrite, --resume or
        failed-start clean-up never touches a live run's files. Not on Windows, nor where the file system
        has no locks."""
        if self._lock is not None:
            return
        try:
            import fcntl
        except ImportError:
            return
        try:
            handle = open(self.root / ".lock", "ab")  # noqa: SIM115 (held open: closing it drops the lock)
        except OSError:
            return  # a read-only folder: prepare's write probe says so
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                raise ConfigError(
                    f"output folder {self.root} is in use by another training process (it holds "
                    f"{self.root / '.lock'}); wait for it to end or choose another --output"
                ) from exc
            return
        self._lock = handle

    def release(self) -> None:
        """Drop the lock (a no-op when not held): the run is over."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def prepare(self, overwrite: bool = False, resume: bool = False) -> None:
        """Create the folder; refuse to mix runs. Call when the new run starts: overwrite deletes old run files."""
        if overwrite and resume:
            raise ConfigError("--resume and --overwrite cannot be used together")
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"output folder {self.root} exists and is not a folder")
        if self.root.is_dir():
            self._hold_lock()
        if self.has_previous_run() and not (resume or overwrite):
            raise ConfigError(
                f"output folder {self.root} already contains a run (last.pt, best.pt, metrics.jsonl or "
                "config.yaml); pass --resume to continue it or --overwrite to replace it"
            )
        if not (resume or overwrite) and self.config_path.exists():
            logger.warning("%s: replacing the files of a start that failed before its first epoch", self.root)
            overwrite = True
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._hold_lock()
            if overwrite:
                stale = [
                    p
                    for p in self.root.glob(".*.tmp-*")
                    if p.name.split(".tmp-")[0][1:] in {f.name for f in self.run_files()}
                ]
                for p in self.run_files() + stale:
                    if p.is_file():
                        p.unlink()
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"output folder {self.root} is not writable ({describe_os_error(exc)})"
            ) from exc


# ------------------------------------------------------------------------------------------------ jsonl
def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one JSON line, flushed and fsynced (a crash leaves at most a partial last line)."""
    line = json.dumps(record, default=json_default)
    with open(path, "a+b") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":  # a previous crash left a partial line: start a fresh one
                line = "\n" + line
        f.write((line + "\n").encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | Path) -> list[dict]:
    """Records of a JSON-lines file; a partial (crash-truncated) line is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            if i != len(lines) - 1:
                logger.warning("%s line %d is not valid JSON; skipped", path, i + 1)
    return records


__all__ = [
    "EXPORT_FORMAT",
    "RUN_FOLDER_WEIGHTS",
    "TRAIN_FORMAT",
    "RunFolder",
    "append_jsonl",
    "capture_rng_state",
    "export_model",
    "find_last_checkpoint",
    "load_checkpoint",
    "load_model_from_checkpoint",
    "peek_epoch",
    "read_jsonl",
    "resolve_weights_file",
    "restore_rng_state",
    "save_checkpoint",
    "validate_plain_data",
    "weights_summary",
]
