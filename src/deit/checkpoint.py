"""Atomic checkpoint saving, safe loading (``weights_only=True`` / safetensors only), RNG state, run folders.

Every ``.pt`` written here is plain data, so it always loads with ``torch.load(weights_only=True)``;
nothing in deit ever unpickles with ``weights_only=False``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import pickletools
import random
import re
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import nn

from deit.errors import CheckpointError, ConfigError, UnsafeCheckpointError

logger = logging.getLogger("deit.checkpoint")

TRAIN_FORMAT = "deit-train-v1"
EXPORT_FORMAT = "deit-export-v1"
_PREFIXES = ("module.", "_orig_mod.")
_LEAF_TYPES = {
    torch.Tensor,
    nn.Parameter,
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    type(None),
    torch.dtype,
    torch.device,
    torch.Size,
}
_META_KEYS = ("class_names", "data_mean", "data_std", "img_size", "model_spec", "metrics", "config", "epoch")
# The one rule for "a run folder" wherever weights are read (eval, predict, export, analyze, --teacher,
# --teacher-weights, --finetune): best.pt (written when validation ran), else last.pt, else the export. The
# trainer writes the folder's model.safetensors from best.pt's weights, so every choice is the same weights.
RUN_FOLDER_WEIGHTS = ("best.pt", "last.pt", "model.safetensors")


# ----------------------------------------------------------------------------------------------- saving
def _check_plain(obj: Any, where: str, active: set[int]) -> None:
    if (
        type(obj) in _LEAF_TYPES
    ):  # exact types: e.g. numpy.float64 subclasses float but needs numpy to unpickle
        return
    if type(obj) not in (dict, OrderedDict, list, tuple):
        raise CheckpointError(
            f"{where or '<root>'} is a {type(obj).__module__}.{type(obj).__qualname__}; "
            "checkpoints hold only tensors, numbers, str, bool, None and lists/tuples/dicts of them "
            "(convert it, e.g. with .item(), .tolist() or .state_dict())"
        )
    if id(obj) in active:
        raise CheckpointError(f"{where or '<root>'} contains itself (a reference cycle)")
    active.add(id(obj))
    if isinstance(obj, dict):
        for key, value in obj.items():
            if type(key) not in _LEAF_TYPES and type(key) is not tuple:
                raise CheckpointError(f"{where or '<root>'} has a key of type {type(key).__name__}")
            _check_plain(value, f"{where}.{key}" if where else str(key), active)
    else:
        for i, value in enumerate(obj):
            _check_plain(value, f"{where}[{i}]", active)
    active.discard(id(obj))


def validate_plain_data(obj: Any) -> None:
    """Raise CheckpointError naming the key path of the first value ``weights_only=True`` could not load."""
    _check_plain(obj, "", set())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _cause(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "disk full (no space left on device)"
    return f"{type(exc).__name__}: {exc}"


def _atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], what: str = "checkpoint") -> Path:
    """Write via ``.<name>.tmp-<pid>`` + flush + fsync + os.replace + directory fsync."""
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.tmp-{os.getpid()}"
        f = open(tmp, "wb")  # closed by the `with` below; removed on failure
    except OSError as exc:
        raise CheckpointError(
            f"cannot write {what} {path}: output folder {folder} is not writable ({_cause(exc)})"
        ) from exc
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            logger.warning("could not remove temporary file %s", tmp)
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: re-raised as they are
            raise
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(
            f"could not save {what} {path}: {_cause(exc)}; the previous file (if any) was left untouched"
        ) from exc
    _fsync_dir(folder)
    return path


def save_checkpoint(obj: dict, path: str | Path) -> Path:
    """Atomically ``torch.save`` a plain-data dict to ``path``; returns the path."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"cannot save checkpoint {path}: expected a dict, got {type(obj).__name__}")
    try:
        validate_plain_data(obj)
    except CheckpointError as exc:
        raise CheckpointError(f"cannot save checkpoint {path}: {exc}") from None
    return _atomic_write(path, lambda f: torch.save(obj, f))


# ---------------------------------------------------------------------------------------------- loading
def _pickle_globals(stream: IO[bytes]) -> list[str] | None:
    """Globals a pickle would import, found without executing it; None if it is not a complete pickle."""
    found: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(stream):
            if op.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL":
                found.append(".".join(strings[-2:]))
            elif op.name.startswith("EXT"):
                found.append(f"<copyreg extension {arg}>")
            elif isinstance(arg, str):
                strings.append(arg)
            if op.name == "STOP":
                return [g.replace("__builtin__.", "builtins.") for g in found]
    except Exception:
        return None
    return None


def _unsafe_globals(path: Path) -> list[str] | None:
    """Disallowed globals in the file's (main) pickle; [] if it has none, None if it is no complete pickle."""
    try:
        allowed = set(torch._weights_only_unpickler._get_allowed_globals())
    except Exception:
        allowed = {"collections.OrderedDict", "builtins.set", "builtins.complex", "_codecs.encode"}
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.endswith("data.pkl")]
                if not names:
                    return None
                with zf.open(names[0]) as stream:
                    found = _pickle_globals(stream)
        else:
            with open(path, "rb") as stream:
                found = _pickle_globals(stream)
    except Exception:
        return None
    if found is None:
        return None
    return sorted({g for g in found if g not in allowed and not g.startswith("torch.")})


def _short(text: str, limit: int = 200) -> str:
    """The first line of ``text``, cut after its last whole sentence (or word) within ``limit`` characters,
    so that a message never stops mid-sentence."""
    line = text.strip().split("\n")[0].strip() if text.strip() else ""
    if len(line) <= limit:
        return line
    head = line[:limit]
    end = head.rfind(". ")
    return head[: end + 1] if end > 0 else head[: head.rfind(" ")].rstrip(",;:") + " ..."


def _torch_load(path: Path, map_location: Any, mmap: bool = False) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pickle protocol.*")
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        match = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        bad = [match.group(1)] if match else _unsafe_globals(path)
        if bad:
            raise UnsafeCheckpointError(
                f"{path} is not a safe checkpoint: it contains Python objects that would run code when "
                f"unpickled (globals: {', '.join(bad)}); deit only loads plain tensors (weights_only=True) "
                "or safetensors"
            ) from None
        found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(exc))
        detail = _short(found.group(1) if found else str(exc))
        if bad == []:
            raise CheckpointError(
                f"{path} is a pickle that torch's weights_only loader cannot read ({detail}); "
                "re-save it with torch.save's default pickle protocol"
            ) from None
        raise CheckpointError(
            f"{path} is truncated, corrupt or not a PyTorch checkpoint ({detail})"
        ) from None
    except Exception as exc:  # garbage makes torch raise RuntimeError, EOFError, KeyError, ValueError, ...
        raise CheckpointError(
            f"{path} is truncated, corrupt or not a PyTorch checkpoint "
            f"({type(exc).__name__}: {_short(str(exc))})"
        ) from exc


def _sidecar_meta(path: Path) -> dict:
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        return {}
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read model metadata {meta_path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"model metadata {meta_path} must be a JSON object")
    return meta


def load_checkpoint(path: str | Path, map_location: Any = "cpu", *, mmap: bool = False) -> dict:
    """Load a ``.pt``/``.pth`` with weights_only=True, or a ``.safetensors`` as ``{"model": sd, **meta}``."""
    path = Path(path)
    if not path.is_file():
        kind = "is a folder, not a file" if path.is_dir() else "not found"
        raise CheckpointError(f"checkpoint {path} {kind}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        device = str(map_location) if isinstance(map_location, (str, torch.device)) else "cpu"
        try:
            state = load_file(path, device=device)
        except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{path} is truncated or not a valid safetensors file ({exc})") from exc
        return {**_sidecar_meta(path), "model": state}
    obj = _torch_load(path, map_location, mmap=mmap)
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{path} contains a {type(obj).__name__}, expected a dict (a checkpoint or state dict)"
        )
    return obj


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
def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        while key.startswith(_PREFIXES):
            key = key.split(".", 1)[1]
        out[key] = value
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def export_model(model_state: dict[str, torch.Tensor], meta: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``model.safetensors`` + ``model.json`` (meta + format) atomically into ``out_dir``."""
    from safetensors.torch import save

    out_dir = Path(out_dir)
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in _strip_prefixes(dict(model_state)).items():
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
        text = json.dumps({**meta, "format": EXPORT_FORMAT}, indent=2, default=_json_default) + "\n"
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot export: model metadata is not JSON serialisable ({exc})") from exc
    blob = save(tensors, metadata={"format": "pt", "deit_format": EXPORT_FORMAT})
    weights = _atomic_write(out_dir / "model.safetensors", lambda f: f.write(blob), "model export")
    meta_path = _atomic_write(
        out_dir / "model.json", lambda f: f.write(text.encode("utf-8")), "model metadata"
    )
    return weights, meta_path


# ------------------------------------------------------------------------------------------ model load
def _strict_load(model: nn.Module, state: dict, source: Path | str) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: the model state is a {type(state).__name__}, expected a state dict")
    state = _strip_prefixes(state)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        parts = [
            f"{label} ({len(items)}): {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}"
            for label, items in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shape mismatches", shapes),
            )
            if items
        ]
        raise CheckpointError(f"weights in {source} do not match the model: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def _unwrap_state_dict(ckpt: dict) -> dict:
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return ckpt


def load_state_dict_into(model: nn.Module, path: str | Path) -> nn.Module:
    """Load official DeiT ``{"model": sd}`` / timm state dicts (weights only) strictly into ``model``."""
    try:
        from deit.models.weights import load_weights
    except ModuleNotFoundError as exc:
        if exc.name not in ("deit.models.weights", "deit.models"):
            raise
        _strict_load(model, _unwrap_state_dict(load_checkpoint(path)), path)
    else:  # our safe loader (unsafe vs corrupt), then weights.py's unwrap/adapt/strict key checks
        reinitialised = load_weights(model, load_checkpoint(path), strict=True)
        if reinitialised:
            logger.warning("%s: re-initialised %s (class count differs)", path, ", ".join(reinitialised))
    return model


def resolve_weights_file(path: str | Path) -> Path:
    """``path`` itself for a file; for a run folder the first of :data:`RUN_FOLDER_WEIGHTS` it holds."""
    path = Path(path)
    if not path.is_dir():
        return path
    for name in RUN_FOLDER_WEIGHTS:
        if (path / name).is_file():
            return path / name
    raise CheckpointError(f"run folder {path} has no {', '.join(RUN_FOLDER_WEIGHTS)}")


def peek_epoch(path: str | Path) -> int | None:
    """The training epoch recorded with a weights file (memory-mapped read of a ``.pt``, the ``.json``
    sidecar of a ``.safetensors``), or None (official/timm weights record none)."""
    path = Path(path)
    try:
        meta = _sidecar_meta(path) if path.suffix == ".safetensors" else load_checkpoint(path, mmap=True)
    except (CheckpointError, UnsafeCheckpointError, OSError, RuntimeError):
        return None
    epoch = meta.get("epoch")
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None


def weights_summary(meta: Mapping[str, Any]) -> str:
    """One line naming the file a command loaded and the epoch (and stored val top-1) of its weights."""
    parts = []
    if isinstance(meta.get("epoch"), int):
        parts.append(f"epoch {meta['epoch']}")
    top1 = (meta.get("metrics") or {}).get("top1")
    if isinstance(top1, (int, float)):
        parts.append(f"val top-1 {top1:.2f} %")
    return f"weights: {meta.get('path', '?')}" + (f" ({', '.join(parts)})" if parts else " (epoch unknown)")


def load_model_from_checkpoint(
    path: str | Path, map_location: Any = "cpu", use_ema: bool = False
) -> tuple[nn.Module, dict]:
    """Rebuild the network recorded in a training checkpoint, export or run folder; returns (model, meta)."""
    file = resolve_weights_file(path)
    ckpt = load_checkpoint(file, map_location)
    spec = ckpt.get("model_spec")
    if not isinstance(spec, dict) or not spec.get("name"):
        raise CheckpointError(
            f"{file} has no 'model_spec', so the architecture is unknown (official DeiT .pth and timm state "
            "dicts hold weights only); pass the architecture with --model NAME to load these weights"
        )
    state = ckpt.get("model")
    if use_ema:
        if isinstance(ckpt.get("ema"), dict):
            state = ckpt["ema"]
        else:
            logger.warning("%s has no EMA weights; using the regular model weights", file)
    if state is None:
        raise CheckpointError(f"{file} has a model_spec but no 'model' weights")
    from deit.teacher import build_classifier

    kwargs = dict(spec.get("kwargs") or {})
    if "num_classes" not in kwargs and isinstance(ckpt.get("class_names"), (list, tuple)):
        kwargs["num_classes"] = len(ckpt["class_names"])
    name, source = str(spec["name"]), spec.get("source")
    model, _ = build_classifier(f"{source}:{name}" if source and ":" not in name else name, **kwargs)
    _strict_load(model, state, file)
    model.to(map_location if isinstance(map_location, (str, torch.device)) else "cpu").eval()
    meta = {k: ckpt[k] for k in _META_KEYS if k in ckpt}
    if "img_size" not in meta and (spec.get("kwargs") or {}).get("img_size") is not None:
        meta["img_size"] = spec["kwargs"]["img_size"]
    meta["path"] = str(file)
    return model, meta


# ------------------------------------------------------------------------------------------ run folder
def _run_file(name: str) -> property:
    def get(self: RunFolder) -> Path:
        return self.root / name

    return property(get, doc=f"``{name}`` in the run folder")


@dataclass
class RunFolder:
    """Paths of one run's output folder (see docs/ARCHITECTURE.md, "Run folder")."""

    root: Path

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
        return any(p.exists() for p in (self.last, self.best, self.metrics_path, self.config_path))

    def prepare(self, overwrite: bool = False, resume: bool = False) -> None:
        """Create the folder; refuse to mix runs. Call when the new run starts: overwrite deletes old run files."""
        if overwrite and resume:
            raise ConfigError("--resume and --overwrite cannot be used together")
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"output folder {self.root} exists and is not a folder")
        if self.has_previous_run() and not (resume or overwrite):
            raise ConfigError(
                f"output folder {self.root} already contains a run (last.pt, best.pt, metrics.jsonl or "
                "config.yaml); pass --resume to continue it or --overwrite to replace it"
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
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
            raise ConfigError(f"output folder {self.root} is not writable ({_cause(exc)})") from exc


# ------------------------------------------------------------------------------------------------ jsonl
def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one JSON line, flushed and fsynced (a crash leaves at most a partial last line)."""
    line = json.dumps(record, default=_json_default)
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
