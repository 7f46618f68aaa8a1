"""The one loading module: weights into a model, and a model from any file, folder or name.

Two entry points:

* :func:`load_weights` ``(model, source)``: a state dict, a weights file (official DeiT ``.pth``, timm,
  safetensors, a training checkpoint), a run folder or a transformers folder, fitted strictly to ``model``;
* :func:`load_model_and_meta` ``(source)`` (and :func:`load_model`, its model only): a run folder, a
  training checkpoint (``last.pt``), a safetensors export, an official or timm weight file (architecture
  given with ``model=`` or inferred from the tensor shapes), a transformers DeiT/ViT folder, or the name of
  a model with released weights (downloaded by :mod:`deit.models.hub`).

Files are read by :mod:`deit.io` (``weights_only=True`` or safetensors: a weight file never runs code).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from deit.errors import CheckpointError, UnsafeCheckpointError
from deit.io import load_checkpoint, sidecar_meta
from deit.models import hub
from deit.models.factory import build_classifier, create_model
from deit.models.hf import is_hf_folder, load_hf_folder
from deit.models.registry import MODEL_CONFIGS
from deit.models.vit import grid_size
from deit.models.weights import fit_weights, strip_prefixes, unwrap_state_dict

log = logging.getLogger("deit.models")

IMAGENET_CLASSES = 1000
_META_KEYS = ("class_names", "data_mean", "data_std", "img_size", "model_spec", "metrics", "config", "epoch")
# The one rule for "a run folder" wherever weights are read (eval, predict, export, analyze, --teacher,
# --teacher-weights, --finetune): best.pt (written when validation ran), else last.pt, else the export. The
# trainer writes the folder's model.safetensors from best.pt's weights, so every choice is the same weights.
RUN_FOLDER_WEIGHTS = ("best.pt", "last.pt", "model.safetensors")


# ------------------------------------------------------------------------------------ which file
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
        meta = sidecar_meta(path) if path.suffix == ".safetensors" else load_checkpoint(path, mmap=True)
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


# ------------------------------------------------------------------------------- weights into a model
def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The state dict in a weights file (``{'model': sd}`` and friends unwrapped), a run folder (its
    :func:`resolve_weights_file`) or a transformers DeiT/ViT folder."""
    path = Path(path)
    if path.is_dir() and is_hf_folder(path):
        return load_hf_folder(path)[0].state_dict()
    file = resolve_weights_file(path)
    return unwrap_state_dict(load_checkpoint(file, map_location="cpu"), source=str(file))


def load_weights(
    model: nn.Module,
    weights: str | os.PathLike[str] | Mapping[str, Tensor],
    strict: bool = True,
    adapt: bool = True,
    pos_embed_interp: str = "official",
) -> list[str]:
    """Load weights (a state dict, a file, a run folder or a transformers folder) into ``model``. With
    ``strict`` every key must match (no silent partial load); only heads dropped by ``adapt`` (class-count
    change) may be missing. Returns those re-initialised keys. ``adapt`` also resamples the position
    embedding (``pos_embed_interp``: 'official' plain bicubic or 'timm' antialiased)."""
    if isinstance(weights, Mapping):
        return fit_weights(model, weights, strict, adapt, pos_embed_interp)
    sd = read_state_dict(weights)
    return fit_weights(model, sd, strict, adapt, pos_embed_interp, source=str(weights))


# ------------------------------------------------------------------------------ a model from a file
def _strict_load(model: nn.Module, state: dict, source: Path | str) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: the model state is a {type(state).__name__}, expected a state dict")
    state = strip_prefixes(state)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and isinstance(state[k], Tensor) and state[k].shape != expected[k].shape
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


def _from_checkpoint(file: Path, use_ema: bool, ckpt: dict | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the network recorded in a training checkpoint or export (its ``model_spec``)."""
    ckpt = load_checkpoint(file) if ckpt is None else ckpt
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
            log.warning("%s has no EMA weights; using the regular model weights", file)
    if state is None:
        raise CheckpointError(f"{file} has a model_spec but no 'model' weights")
    kwargs = dict(spec.get("kwargs") or {})
    if "num_classes" not in kwargs and isinstance(ckpt.get("class_names"), (list, tuple)):
        kwargs["num_classes"] = len(ckpt["class_names"])
    name, source = str(spec["name"]), spec.get("source")
    model, _ = build_classifier(f"{source}:{name}" if source and ":" not in name else name, **kwargs)
    _strict_load(model, state, file)
    model.eval()
    meta = {k: ckpt[k] for k in _META_KEYS if k in ckpt}
    if "img_size" not in meta and (spec.get("kwargs") or {}).get("img_size") is not None:
        meta["img_size"] = spec["kwargs"]["img_size"]
    meta["path"] = str(file)
    return model, meta


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids in index order (the class folder names of an ImageNet copy), from
    timm's bundled metadata."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_label_name(i) for i in range(info.num_classes())]


def infer_deit_kwargs(sd: dict[str, Tensor], source: str = "weights") -> dict[str, Any]:
    """DeiT constructor arguments read off a timm-format state dict. The head count is not in the shapes:
    it is taken from a registered model of the same width/depth/patch, else embed_dim // 64 (as DeiT-Ti/S/B)."""
    needed = ("cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.mlp.fc1.weight", "head.weight")
    missing = [k for k in needed if k not in sd]
    if missing:
        raise CheckpointError(
            f"{source}: not a DeiT state dict (missing {', '.join(missing)}); pass the architecture with --model"
        )
    dim = int(sd["cls_token"].shape[-1])
    _, in_chans, patch, _ = sd["patch_embed.proj.weight"].shape
    distilled = "dist_token" in sd
    prefix = 2 if distilled else 1
    grid = grid_size(int(sd["pos_embed"].shape[1]) - prefix)
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    kwargs = {
        "img_size": grid * int(patch),
        "patch_size": int(patch),
        "in_chans": int(in_chans),
        "num_classes": int(sd["head.weight"].shape[0]),
        "embed_dim": dim,
        "depth": depth,
        "mlp_ratio": int(sd["blocks.0.mlp.fc1.weight"].shape[0]) / dim,
        "distilled": distilled,
    }
    same = [
        c
        for c in MODEL_CONFIGS.values()
        if (c["embed_dim"], c["depth"], c["patch_size"]) == (dim, depth, int(patch))
    ]
    kwargs["num_heads"] = same[0]["num_heads"] if same else max(1, dim // 64)
    if not same:
        log.warning("%s: head count not recorded in the weights; assuming %d", source, kwargs["num_heads"])
    return kwargs


def _registered_name(kwargs: dict[str, Any]) -> str:
    """The registered name whose config equals ``kwargs`` (ignoring class count), else a carrier name."""
    for name, config in MODEL_CONFIGS.items():
        if all(kwargs.get(k) == v for k, v in config.items()) and kwargs.get("mlp_ratio", 4.0) == 4.0:
            return name
    return "deit_tiny_distilled_patch16_224" if kwargs["distilled"] else "deit_tiny_patch16_224"


def _from_weights(path: Path, model: str | None, loaded: Any = None) -> tuple[nn.Module, dict[str, Any]]:
    sd = read_state_dict(path) if loaded is None else unwrap_state_dict(loaded, str(path))
    head = sd.get("head.weight")
    if model is None:
        kwargs = infer_deit_kwargs(sd, str(path))
        name = _registered_name(kwargs)
        net = create_model(name, **kwargs)
        spec = {"name": name, "source": "deit", "kwargs": kwargs}
    else:
        if head is None:
            raise CheckpointError(f"{path}: no 'head.weight' to infer the class count from")
        net, model_spec = build_classifier(model, num_classes=int(head.shape[0]))
        spec = model_spec.to_dict()
    fit_weights(net, sd, adapt=True, source=str(path))
    num_classes = int(head.shape[0]) if head is not None else None
    names = imagenet_class_names() if num_classes == IMAGENET_CLASSES else None
    return net.eval(), {"model_spec": spec, "class_names": names, "path": str(path)}


def load_model_and_meta(
    source: str | os.PathLike[str],
    model: str | None = None,
    use_ema: bool = False,
    weights_source: str = "official",
    offline: bool | None = None,
    infer_architecture: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode on the CPU, meta) from any accepted ``source`` (see the module docstring).

    ``meta`` holds what preprocessing and reports need: ``model_spec``, ``class_names`` (None when unknown),
    ``data_mean``/``data_std``/``img_size`` when recorded, ``path``, and for training checkpoints ``config``.
    ``infer_architecture=False`` accepts only sources that record their architecture (a deit checkpoint,
    export or run folder, a transformers folder): weights without one raise, naming ``--model``.
    """
    path = Path(source)
    if path.is_dir() and is_hf_folder(path):
        return load_hf_folder(path)
    if not infer_architecture:
        return _from_checkpoint(resolve_weights_file(path), use_ema)
    if not path.exists():
        name = str(source)
        if hub.has_released_weights(name):
            weights = hub.fetch(name, source=weights_source, offline=offline)
            if weights.is_dir():
                return load_hf_folder(weights)
            return _from_weights(weights, model or name)
        raise CheckpointError(
            f"{source}: no such file or folder, and not a model with released weights "
            f"({', '.join(sorted(hub.RELEASED))})"
        )
    if path.is_dir():
        return _from_checkpoint(resolve_weights_file(path), use_ema)
    ckpt = load_checkpoint(path)
    if model is None and isinstance(ckpt, dict) and isinstance(ckpt.get("model_spec"), dict):
        return _from_checkpoint(path, use_ema, ckpt)
    return _from_weights(path, model, ckpt)


def load_model(
    source: str | os.PathLike[str],
    model: str | None = None,
    use_ema: bool = False,
    weights_source: str = "official",
    offline: bool | None = None,
) -> nn.Module:
    """The model alone of :func:`load_model_and_meta` (eval mode, CPU)."""
    return load_model_and_meta(source, model, use_ema, weights_source, offline)[0]


__all__ = [
    "RUN_FOLDER_WEIGHTS",
    "imagenet_class_names",
    "infer_deit_kwargs",
    "load_model",
    "load_model_and_meta",
    "load_weights",
    "peek_epoch",
    "read_state_dict",
    "resolve_weights_file",
    "weights_summary",
]
