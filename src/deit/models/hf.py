"""Hugging Face transformers interop: a transformers DeiT/ViT folder <-> a :class:`deit.models.DeiT`.

Reading a folder (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``) needs no transformers
install: keys of ``DeiTForImageClassificationWithTeacher``, ``DeiTForImageClassification`` and
``ViTForImageClassification`` (the authors' non-distilled releases) are mapped to timm's, in both the
transformers 4 (``encoder.layer.N.attention.attention.query``) and 5 (``layers.N.attention.q_proj``) naming.
The config is honoured: ``layer_norm_eps`` (1e-12 in transformers, 1e-6 in timm), sizes, labels.
Writing (:func:`export_hf`) uses the installed transformers (``pip install deit[hf]``) so that
``AutoModelForImageClassification.from_pretrained`` of that version loads the folder.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from deit.errors import CheckpointError, ModelError
from deit.io import load_checkpoint
from deit.models.hf_preprocess import read_image_processor
from deit.models.vit import DeiT
from deit.models.weights import fit_weights, unwrap_state_dict
from deit.progress import is_interactive

log = logging.getLogger("deit.models")

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_V4_TO_V5 = [
    (re.compile(r"\.encoder\.layer\.(\d+)\."), r".layers.\1."),
    (re.compile(r"\.attention\.attention\.query\."), ".attention.q_proj."),
    (re.compile(r"\.attention\.attention\.key\."), ".attention.k_proj."),
    (re.compile(r"\.attention\.attention\.value\."), ".attention.v_proj."),
    (re.compile(r"\.attention\.output\.dense\."), ".attention.o_proj."),
    (re.compile(r"\.intermediate\.dense\."), ".mlp.fc1."),
    (re.compile(r"\.output\.dense\."), ".mlp.fc2."),
]
_BLOCK_V5 = {  # transformers 5 name inside layers.N -> timm name inside blocks.N
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.o_proj": "attn.proj",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
_TOP = {
    "embeddings.cls_token": "cls_token",
    "embeddings.distillation_token": "dist_token",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
}
_HEADS = {"cls_classifier": "head", "classifier": "head", "distillation_classifier": "head_dist"}


def is_hf_folder(path: str | Path) -> bool:
    """A folder with a transformers ``config.json`` (``model_type`` deit or vit)."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") in ("deit", "vit")
    except (OSError, ValueError, AttributeError):
        return False


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / 'config.json'}: cannot read it as JSON ({exc})") from None
    if config.get("model_type") not in ("deit", "vit"):
        raise CheckpointError(
            f"{folder / 'config.json'}: model_type {config.get('model_type')!r} is not deit or vit"
        )
    for key, want in (("hidden_act", "gelu"), ("qkv_bias", True)):
        if config.get(key, want) != want:
            raise CheckpointError(
                f"{folder / 'config.json'}: {key}={config[key]!r} is not supported ({want!r})"
            )
    return config


def _architecture(config: dict[str, Any]) -> str:
    archs = config.get("architectures") or []
    if config["model_type"] == "vit":
        return "ViTForImageClassification"
    return archs[0] if archs else "DeiTForImageClassificationWithTeacher"


def class_names_from_config(config: dict[str, Any]) -> list[str] | None:
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        return None
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


def model_kwargs_from_config(config: dict[str, Any], num_classes: int) -> dict[str, Any]:
    hidden = int(config.get("hidden_size", 768))
    return {
        "img_size": int(config.get("image_size", 224)),
        "patch_size": int(config.get("patch_size", 16)),
        "in_chans": int(config.get("num_channels", 3)),
        "num_classes": int(num_classes),
        "embed_dim": hidden,
        "depth": int(config.get("num_hidden_layers", 12)),
        "num_heads": int(config.get("num_attention_heads", 12)),
        "mlp_ratio": int(config.get("intermediate_size", 4 * hidden)) / hidden,
        "distilled": config["model_type"] == "deit",
        "norm_eps": float(config.get("layer_norm_eps", 1e-12)),
    }


def _read_weights(folder: Path) -> dict[str, Tensor]:
    for name in _WEIGHT_FILES:
        if (folder / name).is_file():
            return unwrap_state_dict(load_checkpoint(folder / name), source=str(folder / name))
    if any(folder.glob("*.index.json")):
        raise CheckpointError(f"{folder}: sharded transformers weights are not supported; re-save unsharded")
    raise CheckpointError(f"{folder}: no {' or '.join(_WEIGHT_FILES)} next to config.json")


def hf_to_timm_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """transformers DeiT/ViT keys (either naming) -> timm keys; q/k/v are concatenated into qkv."""
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, Tensor]] = {}
    unknown = []
    for key, value in sd.items():
        for pattern, repl in _V4_TO_V5:
            key = pattern.sub(repl, key)
        base = re.sub(r"^(deit|vit)\.", "", key)
        head, _, leaf = base.partition(".")
        if base in _TOP:
            out[_TOP[base]] = value
        elif head in _HEADS:
            out[f"{_HEADS[head]}.{leaf}"] = value
        elif base.startswith("pooler.") or base == "embeddings.mask_token":
            continue  # not used by the classifiers
        elif m := re.fullmatch(r"layers\.(\d+)\.attention\.([qkv])_proj\.(weight|bias)", base):
            qkv.setdefault((int(m[1]), m[3]), {})[m[2]] = value
        elif m := re.fullmatch(r"layers\.(\d+)\.(.+)\.(weight|bias)", base):
            if m[2] not in _BLOCK_V5:
                unknown.append(key)
                continue
            out[f"blocks.{m[1]}.{_BLOCK_V5[m[2]]}.{m[3]}"] = value
        else:
            unknown.append(key)
    for (i, leaf), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise CheckpointError(f"layer {i}: incomplete query/key/value {leaf}s ({sorted(parts)})")
        out[f"blocks.{i}.attn.qkv.{leaf}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    if unknown:
        raise CheckpointError(f"unexpected transformers keys: {', '.join(unknown[:8])}")
    return out


def load_hf_folder(path: str | Path) -> tuple[DeiT, dict[str, Any]]:
    """A DeiT (eval mode) equal to the transformers model saved in ``path``, and its meta (``class_names``,
    ``data_mean``/``data_std`` from ``preprocessor_config.json``, ``img_size``, ``model_spec``)."""
    folder = Path(path)
    config = _read_config(folder)
    arch = _architecture(config)
    sd = hf_to_timm_state_dict(_read_weights(folder))
    if "head.weight" not in sd:
        raise CheckpointError(
            f"{folder}: no classifier weights (a bare DeiTModel/ViTModel is not a classifier)"
        )
    kwargs = model_kwargs_from_config(config, sd["head.weight"].shape[0])
    if arch == "DeiTForImageClassification":
        # Only the class token feeds transformers' classifier: keep our fused (cls + dist) / 2 equal to it
        # with a zero distillation head and a doubled class head (x2 is exact in floating point).
        log.warning(
            "%s: DeiTForImageClassification reads only the class token; loaded as a distilled DeiT whose "
            "class head is doubled and distillation head zero (fused logits equal; per-head outputs are not)",
            folder,
        )
        sd["head_dist.weight"] = torch.zeros_like(sd["head.weight"])
        sd["head_dist.bias"] = torch.zeros_like(sd["head.bias"])
        sd["head.weight"], sd["head.bias"] = sd["head.weight"] * 2, sd["head.bias"] * 2
    try:
        model = DeiT(**kwargs)
    except ModelError as exc:
        raise CheckpointError(f"{folder / 'config.json'}: {exc}") from None
    fit_weights(model, sd, strict=True, adapt=False, source=str(folder))
    meta: dict[str, Any] = {
        "model_spec": {"name": _spec_name(kwargs), "source": "deit", "kwargs": kwargs},
        "class_names": class_names_from_config(config),
        "img_size": kwargs["img_size"],
        "path": str(folder),
        "hf_architecture": arch,
    }
    processor = read_image_processor(folder)
    if processor is not None:
        meta["image_processor"] = processor
        meta["data_mean"], meta["data_std"] = processor["image_mean"], processor["image_std"]
    model.pretrained_cfg = {
        **model.pretrained_cfg,
        "mean": meta.get("data_mean", model.pretrained_cfg["mean"]),
    }
    model.pretrained_cfg["std"] = meta.get("data_std", model.pretrained_cfg["std"])
    return model.eval(), meta


def _spec_name(kwargs: dict[str, Any]) -> str:
    """A registered name to carry the architecture kwargs (they override every size field)."""
    tag = "_distilled" if kwargs["distilled"] else ""
    return f"deit_tiny{tag}_patch16_224"


def _timm_to_hf(sd: dict[str, Tensor], prefix: str, v5: bool, distilled: bool) -> dict[str, Tensor]:
    top = {v: k for k, v in _TOP.items()}
    block = {v: k for k, v in _BLOCK_V5.items()}
    heads = {"head": "cls_classifier" if distilled else "classifier", "head_dist": "distillation_classifier"}
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        if key in top:
            out[f"{prefix}.{top[key]}"] = value
            continue
        head, _, leaf = key.partition(".")
        if head in heads:
            out[f"{heads[head]}.{leaf}"] = value
            continue
        m = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(weight|bias)", key)
        if m is None:
            raise CheckpointError(f"cannot map {key!r} to transformers")
        i, name, leaf = m[1], m[2], m[3]
        if name == "attn.qkv":
            for part, chunk in zip("qkv", value.chunk(3, dim=0)):
                out[f"{prefix}.layers.{i}.attention.{part}_proj.{leaf}"] = chunk.clone()
        else:
            out[f"{prefix}.layers.{i}.{block[name]}.{leaf}"] = value
    if v5:
        return out
    old = {}  # transformers 4 naming
    for key, value in out.items():
        key = re.sub(r"\.layers\.(\d+)\.", r".encoder.layer.\1.", key)
        for new, legacy in (
            (".attention.q_proj.", ".attention.attention.query."),
            (".attention.k_proj.", ".attention.attention.key."),
            (".attention.v_proj.", ".attention.attention.value."),
            (".attention.o_proj.", ".attention.output.dense."),
            (".mlp.fc1.", ".intermediate.dense."),
            (".mlp.fc2.", ".output.dense."),
        ):
            key = key.replace(new, legacy)
        old[key] = value
    return old


def export_hf(
    model: DeiT,
    out_dir: str | Path,
    class_names: list[str] | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    resize_size: int | None = None,
    crop_pct: float = 0.875,
) -> Path:
    """Write ``model`` as a transformers folder: ``DeiTForImageClassificationWithTeacher`` (distilled) or
    ``ViTForImageClassification``, with ``id2label`` and a ``preprocessor_config.json`` that preprocesses as
    deit's eval transform: shorter side resized (bicubic) to ``resize_size`` (default
    ``floor(img_size / crop_pct)``), centre crop of ``img_size``, ``mean``/``std`` normalisation."""
    if not isinstance(model, DeiT):
        raise ModelError(f"--format hf exports DeiT models only, not {type(model).__name__}")
    try:
        import transformers
    except ImportError:
        raise ModelError("--format hf needs transformers: pip install 'deit[hf]'") from None
    blocks = model.blocks
    names = list(class_names) if class_names else [f"LABEL_{i}" for i in range(model.num_classes)]
    if len(names) != model.num_classes:
        raise ModelError(f"{len(names)} class names for a model with {model.num_classes} classes")
    common = dict(
        hidden_size=model.embed_dim,
        num_hidden_layers=len(blocks),
        num_attention_heads=blocks[0].attn.num_heads,
        intermediate_size=blocks[0].mlp.fc1.out_features,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        layer_norm_eps=model.norm.eps,
        image_size=model.img_size,
        patch_size=model.patch_embed.patch_size,
        num_channels=model.patch_embed.in_chans,
        qkv_bias=True,
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
    )
    if model.distilled:
        config = transformers.DeiTConfig(**common)
        hf_model = transformers.DeiTForImageClassificationWithTeacher(config)
        prefix = "deit"
    else:
        config = transformers.ViTConfig(**common)
        hf_model = transformers.ViTForImageClassification(config)
        prefix = "vit"
    target = hf_model.state_dict()
    v5 = f"{prefix}.layers.0.layernorm_before.weight" in target
    sd = _timm_to_hf(
        {k: v.detach().float().cpu() for k, v in model.state_dict().items()}, prefix, v5, model.distilled
    )
    missing, unexpected = set(target) - set(sd), set(sd) - set(target)
    if missing or unexpected:
        raise CheckpointError(
            f"transformers {transformers.__version__} layout differs: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    hf_model.load_state_dict(sd, strict=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bars = transformers.utils.logging.is_progress_bar_enabled()
    if bars and not is_interactive():  # no shard progress bar in logs and pipes
        transformers.utils.logging.disable_progress_bar()
    try:
        hf_model.save_pretrained(out, safe_serialization=True)
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    size = model.img_size
    cfg = model.pretrained_cfg
    # a shorter-side resize (not a square squash) and the run's crop_pct, as `deit predict` does
    resize = int(resize_size or math.floor(size / crop_pct))
    processor = transformers.DeiTImageProcessor(
        do_resize=True,
        size={"shortest_edge": resize},
        resample=3,  # PIL bicubic: deit's eval interpolation
        do_center_crop=True,
        crop_size={"height": size, "width": size},
        crop_pct=crop_pct,  # informative: transformers' DeiT processor reads only size and crop_size
        image_mean=list(mean or cfg["mean"]),
        image_std=list(std or cfg["std"]),
    )
    processor.save_pretrained(out)
    return out


__all__ = [
    "class_names_from_config",
    "export_hf",
    "hf_to_timm_state_dict",
    "is_hf_folder",
    "load_hf_folder",
    "model_kwargs_from_config",
    "read_image_processor",
]
