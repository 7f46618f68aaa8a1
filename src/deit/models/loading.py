"""One way to get a model: ``create_model(name, pretrained=True)`` and ``load_model(anything)``.

``load_model`` accepts a run folder, a training checkpoint (``last.pt``), a safetensors export, an official
or timm weight file (architecture given with ``model=`` or inferred from the tensor shapes), a transformers
DeiT/ViT folder, or the name of a model with released weights (downloaded by :mod:`deit.models.hub`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from deit.errors import CheckpointError
from deit.models import hub
from deit.models.registry import MODEL_CONFIGS, create_model
from deit.models.vit import DeiT, grid_size

log = logging.getLogger("deit.models")

IMAGENET_CLASSES = 1000


def load_pretrained(
    model: nn.Module,
    name: str,
    source: str = "official",
    offline: bool | None = None,
    progress: bool | None = None,
) -> list[str]:
    """Load the released weights of ``name`` into ``model`` (heads of another class count are left
    re-initialised, the position embedding is resampled to the model's grid); returns re-initialised keys."""
    from deit.models.weights import load_state_dict_file, load_weights

    path = hub.fetch(name, source=source, offline=offline, progress=progress)
    sd = load_state_dict_file(path)  # a file, or the transformers folder of source hf-facebook
    dropped = _drop_other_classifier(sd, model, name)
    dropped += load_weights(model, sd, strict=True, adapt=True)
    log.info("loaded %s weights of %s from %s", source, name, path)
    return dropped


def _drop_other_classifier(sd: dict[str, Tensor], model: nn.Module, name: str) -> list[str]:
    """Drop the release's classifier when its class count differs from ``model``'s (any architecture:
    the last Linear layer); DeiT's two heads are handled by ``adapt_state_dict``."""
    if isinstance(model, DeiT):
        return []
    last = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1:]
    target = model.state_dict()
    dropped = []
    for prefix in last:
        for key in (f"{prefix}.weight", f"{prefix}.bias"):
            if key in sd and key in target and sd[key].shape != target[key].shape:
                sd[key] = target[key]  # keep the model's fresh initialisation
                dropped.append(key)
    if dropped:
        log.warning(
            "%s: released classifier has another class count; re-initialised %s", name, ", ".join(dropped)
        )
    return dropped


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
    from deit.models.weights import load_state_dict_file, load_weights, unwrap_state_dict

    sd = load_state_dict_file(path) if loaded is None else unwrap_state_dict(loaded, str(path))
    head = sd.get("head.weight")
    if model is None:
        kwargs = infer_deit_kwargs(sd, str(path))
        name = _registered_name(kwargs)
        net = create_model(name, **kwargs)
        spec = {"name": name, "source": "deit", "kwargs": kwargs}
    else:
        from deit.teacher import build_classifier  # the all-sources factory (moves to models/, issue 16)

        if head is None:
            raise CheckpointError(f"{path}: no 'head.weight' to infer the class count from")
        net, model_spec = build_classifier(model, num_classes=int(head.shape[0]))
        spec = model_spec.to_dict()
    load_weights(net, sd, adapt=True)
    num_classes = int(head.shape[0]) if head is not None else None
    names = imagenet_class_names() if num_classes == IMAGENET_CLASSES else None
    return net.eval(), {"model_spec": spec, "class_names": names, "path": str(path)}


def load_model_and_meta(
    source: str | os.PathLike[str],
    model: str | None = None,
    use_ema: bool = False,
    weights_source: str = "official",
    offline: bool | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode, meta) from any accepted ``source`` (see the module docstring).

    ``meta`` holds what preprocessing and reports need: ``model_spec``, ``class_names`` (None when unknown),
    ``data_mean``/``data_std``/``img_size`` when recorded, ``path``, and for training checkpoints ``config``.
    """
    from deit.checkpoint import load_checkpoint, load_model_from_checkpoint
    from deit.models.hf import is_hf_folder, load_hf_folder

    path = Path(source)
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
        if is_hf_folder(path):
            return load_hf_folder(path)
        return load_model_from_checkpoint(path, use_ema=use_ema)
    ckpt = load_checkpoint(path)
    if model is None and isinstance(ckpt, dict) and isinstance(ckpt.get("model_spec"), dict):
        return load_model_from_checkpoint(path, use_ema=use_ema)
    return _from_weights(path, model, ckpt)


def load_model(
    source: str | os.PathLike[str],
    model: str | None = None,
    use_ema: bool = False,
    weights_source: str = "official",
    offline: bool | None = None,
) -> nn.Module:
    """The model (eval mode, CPU) in ``source``: run folder, checkpoint, export, official/timm weights
    (``model=`` names the architecture; else inferred), transformers folder, or a released model's name."""
    return load_model_and_meta(source, model, use_ema, weights_source, offline)[0]


__all__ = [
    "imagenet_class_names",
    "infer_deit_kwargs",
    "load_model",
    "load_model_and_meta",
    "load_pretrained",
]
