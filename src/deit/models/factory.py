"""One model factory for every source: the DeiT registry, the small CNNs, timm and torchvision.

Names resolve in this order: the DeiT registry (``deit.models.registry``), the small CNNs
(``deit.models.cnn.CNN_MODELS``), timm, torchvision. A ``source:`` prefix forces one source, e.g.
``torchvision:resnet18`` (plain ``resnet18`` is timm's). Models are built with random weights or, with
``pretrained=True``, released weights (``deit.models.hub`` for DeiT and the CNNs, timm's own hub mechanism
for timm names). Files, run folders and transformers folders are read by :mod:`deit.models.loading`.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from deit.errors import CheckpointError, DeiTError, ModelError
from deit.io import load_checkpoint
from deit.models import hub
from deit.models.cnn import CNN_MODELS
from deit.models.hf import load_hf_folder
from deit.models.registry import list_models, model_kwargs
from deit.models.vit import IMAGENET_MEAN, IMAGENET_STD, DeiT
from deit.models.weights import fit_weights, unwrap_state_dict

log = logging.getLogger("deit.models")

SOURCES = ("deit", "cnn", "timm", "torchvision")
_PREFIX_ALIASES = {
    "deit": "deit",
    "cnn": "cnn",
    "timm": "timm",
    "torchvision": "torchvision",
    "tv": "torchvision",
}
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")


def create_model(
    name: str,
    pretrained: bool = False,
    *,
    weights_source: str = "official",
    offline: bool | None = None,
    **overrides: Any,
) -> DeiT:
    """Build a registered DeiT, e.g. ``create_model("deit_small_distilled_patch16_224", num_classes=10)``.

    Overrides: any ``DeiT`` argument (``img_size``, ``num_classes``, ``drop_path_rate``, ``in_chans``...).
    ``pretrained=True`` loads the released ImageNet weights (``deit.models.hub``: ``weights_source``
    official, hf or hf-facebook; cached; ``offline`` uses the cache only); a head of another class count is
    re-initialised and the position embedding resampled to ``img_size``. Otherwise weights are random.
    """
    model = DeiT(**model_kwargs(name, **overrides))
    if pretrained:
        load_pretrained(model, name, source=weights_source, offline=offline)
    return model


def load_pretrained(
    model: nn.Module,
    name: str,
    source: str = "official",
    offline: bool | None = None,
    progress: bool | None = None,
) -> list[str]:
    """Load the released weights of ``name`` into ``model`` (heads of another class count are left
    re-initialised, the position embedding is resampled to the model's grid); returns re-initialised keys."""
    path = hub.fetch(name, source=source, offline=offline, progress=progress)
    if Path(path).is_dir():  # source hf-facebook: a transformers folder
        sd = load_hf_folder(path)[0].state_dict()
    else:
        sd = unwrap_state_dict(load_checkpoint(path), source=str(path))
    dropped = _drop_other_classifier(sd, model, name)
    dropped += fit_weights(model, sd, strict=True, adapt=True, source=str(path))
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


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model: ``build_from_spec(spec)``. ``kwargs`` holds plain data only
    (``num_classes``, ``in_chans``, ``img_size`` when given, and any extra constructor arguments)."""

    name: str
    source: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        """Accepts ``{"name", "source", "kwargs"}``; a missing source (older checkpoints) is inferred."""
        if not isinstance(d, dict) or "name" not in d:
            raise CheckpointError(f"invalid model spec {d!r}: expected a dict with a 'name'")
        name, source = str(d["name"]), d.get("source")
        if not source:
            source, name = _resolve_source(name)
        if source not in SOURCES:
            raise CheckpointError(
                f"model spec {name!r}: unknown source {source!r} (expected one of {SOURCES})"
            )
        return cls(name=name, source=source, kwargs=dict(d.get("kwargs") or {}))


# ------------------------------------------------------------------------------ name resolution


def _names(source: str) -> list[str]:
    if source == "deit":
        return list_models()
    if source == "cnn":
        return sorted(CNN_MODELS)
    if source == "timm":
        import timm  # heavy (~1 s): imported on first use of a timm name

        return timm.list_models()
    import torchvision  # heavy: imported on first use

    return torchvision.models.list_models(module=torchvision.models)  # classification models only


def _in_source(source: str, name: str) -> bool:
    if source == "timm":
        import timm

        return timm.is_model(name)  # also accepts "arch.pretrained_tag"
    return name in _names(source)


def _unknown_model(name: str, source: str | None = None) -> ModelError:
    where = f"the {source} models" if source else "the DeiT registry, the CNNs, timm or torchvision"
    # deit and timm share names (deit_*), timm and torchvision too (resnet18): each name once
    candidates = list(dict.fromkeys(n for src in SOURCES for n in _names(src)))
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    hint = f"; did you mean: {', '.join(close)}?" if close else "; run `deit models` for the DeiT/CNN list"
    return ModelError(f"unknown model {name!r}: not in {where}{hint}")


def _resolve_source(name: str) -> tuple[str, str]:
    """``(source, bare_name)`` for ``name`` or ``source:name``."""
    if ":" in name:
        prefix, bare = name.split(":", 1)
        if prefix not in _PREFIX_ALIASES:
            raise ModelError(
                f"unknown model source {prefix!r} in {name!r}; use one of {sorted(_PREFIX_ALIASES)}"
            )
        source = _PREFIX_ALIASES[prefix]
        if not _in_source(source, bare):
            raise _unknown_model(bare, source)
        return source, bare
    for source in SOURCES:
        if _in_source(source, name):
            return source, name
    raise _unknown_model(name)


def check_model_name(name: str, checkpoint_ok: bool = False) -> None:
    """Raise the "unknown model ... did you mean" :class:`ModelError` for a name no source knows (cheap:
    no model is built), so that a misspelt name is reported before any other work. ``checkpoint_ok`` (a
    teacher): an existing path passes, a path-like name that does not exist is a missing checkpoint."""
    if checkpoint_ok:
        if os.path.exists(name):
            return
        if name.endswith(WEIGHT_SUFFIXES) or (os.sep in name and ":" not in name):
            raise CheckpointError(f"teacher checkpoint not found: {name}")
    _resolve_source(name)


# ----------------------------------------------------------------------------- building


def _build(
    source: str, name: str, kwargs: dict[str, Any], pretrained: bool = False, weights: dict | None = None
) -> nn.Module:
    kw = dict(kwargs)
    num_classes = kw.pop("num_classes", 1000)
    in_chans = kw.pop("in_chans", 3)
    img_size = kw.pop("img_size", None)
    try:
        if source == "deit":
            model = create_model(name, num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kw)
        elif source == "cnn":
            if img_size is not None:
                kw["img_size"] = img_size
            model = CNN_MODELS[name](num_classes=num_classes, in_chans=in_chans, **kw)
        elif source == "timm":
            if pretrained:
                return _build_timm_pretrained(name, num_classes, in_chans, img_size, kw, weights or {})
            return _build_timm(name, num_classes, in_chans, img_size, kw)
        else:
            if pretrained:
                raise ModelError(
                    f"pretrained torchvision:{name} is not supported; use timm's {name} "
                    "(timm:NAME --pretrained), or pass a weights file"
                )
            return _build_torchvision(name, num_classes, in_chans, img_size, kw)
    except DeiTError:
        raise
    except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
        raise ModelError(f"cannot build {source} model {name!r} with {kwargs}: {exc}") from exc
    if pretrained:  # deit or cnn: released weights registered in deit.models.hub
        model.pretrained_reinitialised = load_pretrained(model, name, **(weights or {}))
    return model


def _build_timm_pretrained(
    name: str, num_classes: int, in_chans: int, img_size: int | None, kw: dict, weights: dict
) -> nn.Module:
    """timm's own mechanism: ``timm.create_model(pretrained=True)`` through the Hugging Face hub cache
    (``HF_HOME``, ``HF_HUB_OFFLINE``); ``regnety_160.deit_in1k`` is the DeiT paper's teacher."""
    import timm

    if img_size is not None:
        kw = {**kw, "img_size": img_size}
    offline = hub.is_offline(weights.get("offline"))  # the flag, $DEIT_OFFLINE or $HF_HUB_OFFLINE
    cfg = timm.models.get_pretrained_cfg(name)
    repo = (getattr(cfg, "hf_hub_id", None) or f"timm/{name}").removeprefix("timm/")
    hint = (
        f"on a machine with internet run `hf download timm/{repo}` and copy the Hugging Face cache "
        "($HF_HOME/hub, default ~/.cache/huggingface/hub) here"
    )
    url = getattr(cfg, "url", None)
    if offline and cfg is not None and not cfg.hf_hub_id and url:
        from timm.models._hub import check_cached_file

        if not check_cached_file(url):  # timm would fetch it through torch.hub, past any hub offline flag
            raise hub.WeightsError(
                f"offline mode (--offline, $DEIT_OFFLINE or $HF_HUB_OFFLINE) and timm's weights of {name!r} "
                f"({url}) are not in torch.hub's cache ({timm.models._hub.get_cache_dir()})"
            )
    try:
        with hub.hf_offline(offline):
            try:
                model = timm.create_model(
                    name, pretrained=True, num_classes=num_classes, in_chans=in_chans, **kw
                )
            except TypeError as exc:
                if "img_size" not in str(exc):
                    raise
                kw.pop("img_size")
                model = timm.create_model(
                    name, pretrained=True, num_classes=num_classes, in_chans=in_chans, **kw
                )
    except (OSError, RuntimeError) as exc:  # hub errors are OSError / HTTP subclasses
        if offline:
            raise hub.WeightsError(
                f"offline mode (--offline, $DEIT_OFFLINE or $HF_HUB_OFFLINE) and timm's weights of {name!r} "
                f"are not in the Hugging Face cache; {hint}"
            ) from None
        raise hub.WeightsError(
            f"timm could not get the pretrained weights of {name!r} ({type(exc).__name__}: {exc}); {hint}"
        ) from None
    released = model.pretrained_cfg.get("num_classes")
    model.pretrained_reinitialised = ["head"] if released not in (None, num_classes) else []
    return model


def _build_timm(name: str, num_classes: int, in_chans: int, img_size: int | None, kw: dict) -> nn.Module:
    import timm

    args = dict(pretrained=False, num_classes=num_classes, in_chans=in_chans, **kw)
    if img_size is None:
        return timm.create_model(name, **args)
    try:  # transformers take img_size; convnets reject it (they need no size)
        return timm.create_model(name, img_size=img_size, **args)
    except TypeError as exc:
        if "img_size" not in str(exc):
            raise
        return timm.create_model(name, **args)


def _build_torchvision(
    name: str, num_classes: int, in_chans: int, img_size: int | None, kw: dict
) -> nn.Module:
    import torchvision

    if in_chans != 3:
        raise ModelError(f"torchvision model {name!r} takes 3-channel images, got in_chans={in_chans}")
    model = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kw)
    model.num_classes = num_classes
    model.pretrained_cfg = {
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "img_size": img_size or 224,
        "crop_pct": 0.875,
        "interpolation": "bilinear",
    }
    return model


def build_classifier(
    name: str,
    num_classes: int,
    in_chans: int = 3,
    img_size: int | None = None,
    pretrained: bool = False,
    weights: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[nn.Module, ModelSpec]:
    """Build a classifier by name; returns it with the spec that rebuilds it (random weights).

    Resolution order: DeiT registry, :data:`deit.models.cnn.CNN_MODELS`, timm, torchvision; a
    ``deit:``/``cnn:``/``timm:``/``torchvision:`` (``tv:``) prefix forces a source. Unknown names raise
    :class:`ModelError` listing close matches across all sources. ``pretrained=True`` loads released
    weights (DeiT/CNN: ``deit.models.hub``; timm: timm's own ``pretrained=True``); ``weights`` holds
    ``source``/``offline`` for the hub. ``model.pretrained_reinitialised`` lists heads left random
    (another class count than the release).
    """
    if num_classes < 1:
        raise ModelError(f"num_classes must be >= 1, got {num_classes}")
    source, bare = _resolve_source(name)
    spec_kwargs: dict[str, Any] = {"num_classes": int(num_classes), "in_chans": int(in_chans)}
    if img_size is not None:
        spec_kwargs["img_size"] = int(img_size)
    spec_kwargs.update(kwargs)
    spec = ModelSpec(name=bare, source=source, kwargs=spec_kwargs)
    if pretrained:
        return _build(source, bare, spec.kwargs, pretrained=True, weights=weights), spec
    return build_from_spec(spec), spec


def build_from_spec(spec: ModelSpec | dict[str, Any]) -> nn.Module:
    """Rebuild a (randomly initialised) model from a :class:`ModelSpec` or its ``to_dict()``."""
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    if not _in_source(spec.source, spec.name):
        raise _unknown_model(spec.name, spec.source)
    return _build(spec.source, spec.name, spec.kwargs)


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SOURCES",
    "ModelSpec",
    "build_classifier",
    "build_from_spec",
    "check_model_name",
    "create_model",
    "load_pretrained",
]
