"""Safe reading and atomic writing of files: the only place deit unpickles or replaces a file.

Every ``.pt`` written here is plain data, so it always loads with ``torch.load(weights_only=True)``;
nothing in deit ever unpickles with ``weights_only=False``. Writes go to a temporary file that replaces
the target only once complete (fsync + ``os.replace``), so a crash never leaves a half-written file.
"""

from __future__ import annotations

import errno
import importlib
import json
import logging
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import nn

from deit.errors import CheckpointError, DataError, UnsafeCheckpointError

logger = logging.getLogger("deit.io")

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


def describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "disk full (no space left on device)"
    return f"{type(exc).__name__}: {exc}"


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], what: str = "checkpoint") -> Path:
    """Write via ``.<name>.tmp-<pid>`` + flush + fsync + os.replace + directory fsync."""
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.tmp-{os.getpid()}"
        f = open(tmp, "wb")  # closed by the `with` below; removed on failure
    except OSError as exc:
        raise CheckpointError(
            f"cannot write {what} {path}: output folder {folder} is not writable ({describe_os_error(exc)})"
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
            f"could not save {what} {path}: {describe_os_error(exc)}; the previous file (if any) was left untouched"
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
    return atomic_write(path, lambda f: torch.save(obj, f))


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


def sidecar_meta(path: Path) -> dict:
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
        return {**sidecar_meta(path), "model": state}
    obj = _torch_load(path, map_location, mmap=mmap)
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{path} contains a {type(obj).__name__}, expected a dict (a checkpoint or state dict)"
        )
    return obj


def json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# ------------------------------------------------------------------------------- plain-data pickles
_NUMPY_ALLOWED = {
    ("multiarray", "_reconstruct"),
    ("multiarray", "scalar"),
    ("numeric", "_frombuffer"),
}
_BUILTINS_ALLOWED = {"bytes", "bytearray", "set", "frozenset", "list", "dict", "tuple", "str", "int", "float"}


class _RestrictedUnpickler(pickle.Unpickler):
    """Only plain containers, bytes/str and numpy arrays; any other global is refused (no code runs)."""

    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__") and name in _BUILTINS_ALLOWED:
            return getattr(importlib.import_module("builtins"), name)
        if module == "_codecs" and name == "encode":  # how protocol-2 pickles store bytes
            import _codecs

            return _codecs.encode
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        for prefix in ("numpy._core.", "numpy.core."):
            if module.startswith(prefix) and (module[len(prefix) :], name) in _NUMPY_ALLOWED:
                sub = module[len(prefix) :]
                try:
                    mod = importlib.import_module(f"numpy._core.{sub}")
                except ImportError:  # numpy < 2
                    mod = importlib.import_module(f"numpy.core.{sub}")
                return getattr(mod, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")


def safe_unpickle(path: str | Path) -> Any:
    """Unpickle a data file allowing only containers and numpy arrays; DataError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing file: {path}")
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise DataError(f"refusing to unpickle {path}: {exc} (only plain data and numpy arrays)") from exc
    except Exception as exc:  # truncated / not a pickle
        raise DataError(f"cannot read pickle {path}: {type(exc).__name__}: {exc}") from exc
