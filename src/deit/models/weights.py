"""State-dict surgery, no file I/O: unwrapping, prefix stripping, position-embedding resampling, head
dropping, and the strict key check that fits a state dict to a model. Files are read by
:mod:`deit.models.loading` (the one loading module), through :mod:`deit.io`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deit.errors import CheckpointError
from deit.models.vit import DeiT, grid_size

log = logging.getLogger("deit.models")

_WRAPPER_KEYS = ("model", "state_dict", "model_state", "module")
_PREFIXES = ("module.", "_orig_mod.")


def unwrap_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, Tensor]:
    """Find the tensors: ``{'model': sd}`` (official DeiT), ``{'state_dict': sd}``, or a bare state dict;
    strip DDP (``module.``) and torch.compile (``_orig_mod.``) prefixes."""
    while isinstance(obj, Mapping) and not _is_state_dict(obj):
        inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            raise CheckpointError(
                f"{source}: no state dict found (top-level keys: {sorted(map(str, obj))[:10]}); "
                f"expected tensors or one of {list(_WRAPPER_KEYS)}"
            )
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a state dict, found {type(obj).__name__}")
    return strip_prefixes(obj)


def strip_prefixes(state: Mapping[str, Any]) -> dict[str, Any]:
    """Keys without DDP (``module.``) and torch.compile (``_orig_mod.``) prefixes."""
    out = {}
    for key, value in state.items():
        while key.startswith(_PREFIXES):
            key = key.split(".", 1)[1]
        out[key] = value
    return out


def _is_state_dict(obj: Mapping) -> bool:
    return len(obj) > 0 and all(isinstance(v, Tensor) for v in obj.values())


POS_EMBED_INTERP = ("official", "timm")


def resample_pos_embed(
    pos_embed: Tensor, new_grid: int, num_prefix_tokens: int, antialias: bool = False
) -> Tensor:
    """Resize the patch part of a position embedding [1, prefix + g*g, D] to ``new_grid`` (bicubic).

    Prefix tokens (class, distillation) are kept bit-identical, as for fine-tuning at 384 (paper Sec. 6.5).
    ``antialias=False`` (default) is the official DeiT fine-tuning script's plain bicubic (a=-0.75);
    ``antialias=True`` equals timm's ``resample_abs_pos_embed`` (PyTorch's antialiased kernel, a=-0.5).
    Upsampling 14->24 the two differ by up to ~0.45 on unit-variance embeddings.
    """
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    old = grid_size(grid.shape[1])
    if old == new_grid:
        return pos_embed
    dim = grid.shape[-1]
    grid = grid.float().reshape(1, old, old, dim).permute(0, 3, 1, 2)  # [1, D, g, g]
    grid = F.interpolate(
        grid, size=(new_grid, new_grid), mode="bicubic", align_corners=False, antialias=antialias
    )
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, dim).to(pos_embed.dtype)
    return torch.cat([prefix, grid], dim=1)


def _check_prefix_tokens(sd: Mapping[str, Tensor], model: DeiT) -> None:
    if "cls_token" not in sd:
        return
    has = 2 if "dist_token" in sd else 1
    if has != model.num_prefix_tokens:
        words = {1: "one prefix token (class)", 2: "two prefix tokens (class + distillation)"}
        hint = (
            "a *_distilled_* model needs distilled weights; load these into the non-distilled model"
            if has == 1
            else "load these into the matching *_distilled_* model"
        )
        raise CheckpointError(
            f"the checkpoint has {words[has]} but the model {words[model.num_prefix_tokens]}: {hint}"
        )


def adapt_state_dict(
    state_dict: Mapping[str, Tensor], model: nn.Module, pos_embed_interp: str = "official"
) -> dict[str, Tensor]:
    """Make a DeiT state dict fit ``model``: resample the position embedding to the model's grid
    (``pos_embed_interp``: 'official' plain bicubic or 'timm' antialiased) and drop classifier heads whose
    class count differs (logged). Other shape mismatches are left for ``load_weights`` to report."""
    if pos_embed_interp not in POS_EMBED_INTERP:
        raise CheckpointError(f"pos_embed_interp must be one of {POS_EMBED_INTERP}, got {pos_embed_interp!r}")
    sd = dict(state_dict)
    target = model.state_dict()
    if isinstance(model, DeiT):
        _check_prefix_tokens(sd, model)
    if isinstance(model, DeiT) and "pos_embed" in sd and sd["pos_embed"].shape != target["pos_embed"].shape:
        src, dst = sd["pos_embed"], target["pos_embed"]
        prefix = model.num_prefix_tokens
        if src.shape[-1] == dst.shape[-1]:
            new_grid = model.patch_embed.grid_size
            antialias = pos_embed_interp == "timm"
            sd["pos_embed"] = resample_pos_embed(src, new_grid, prefix, antialias=antialias)
            log.info(
                "resampled pos_embed %s -> %s (%s bicubic, prefix tokens kept)",
                list(src.shape),
                list(sd["pos_embed"].shape),
                "antialiased (timm)" if antialias else "plain (official)",
            )
    for head in ("head", "head_dist"):
        w = f"{head}.weight"
        if (
            w in sd
            and w in target
            and sd[w].shape != target[w].shape
            and sd[w].shape[1:] == target[w].shape[1:]
        ):
            log.warning(
                "dropping %s: checkpoint has %d classes, model has %d (head re-initialised)",
                head,
                sd[w].shape[0],
                target[w].shape[0],
            )
            sd.pop(w)
            sd.pop(f"{head}.bias", None)
    return sd


def fit_weights(
    model: nn.Module,
    weights: Mapping[str, Tensor],
    strict: bool = True,
    adapt: bool = True,
    pos_embed_interp: str = "official",
    source: str = "state dict",
) -> list[str]:
    """Load a (possibly wrapped) state dict into ``model``. With ``strict`` every key must match (no silent
    partial load); only heads dropped by ``adapt`` (class-count change) may be missing. Returns those
    re-initialised keys. ``adapt`` also resamples the position embedding (:func:`adapt_state_dict`).
    """
    sd = unwrap_state_dict(weights, source=source)
    if adapt:
        before = set(sd)
        sd = adapt_state_dict(sd, model, pos_embed_interp)
        dropped = sorted(before - set(sd))
    else:
        dropped = []
    target = model.state_dict()
    missing = sorted(set(target) - set(sd) - set(dropped))
    unexpected = sorted(set(sd) - set(target))
    mismatched = [
        f"{k}: checkpoint {list(sd[k].shape)} vs model {list(target[k].shape)}"
        for k in sorted(set(sd) & set(target))
        if sd[k].shape != target[k].shape
    ]
    problems = []
    if missing and strict:
        problems.append(f"missing keys: {', '.join(missing[:12])}" + (" ..." if len(missing) > 12 else ""))
    if unexpected and strict:
        problems.append(
            f"unexpected keys: {', '.join(unexpected[:12])}" + (" ..." if len(unexpected) > 12 else "")
        )
    if mismatched:
        problems.append("shape mismatch: " + "; ".join(mismatched[:8]))
    if problems:
        raise CheckpointError(f"{source} does not fit {type(model).__name__}: " + " | ".join(problems))
    model.load_state_dict(sd, strict=False)
    return dropped


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module under DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers, whose
    state-dict keys carry no ``module.``/``_orig_mod.`` prefix."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model
