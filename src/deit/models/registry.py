"""Named DeiT configurations (paper Table 1 and small-image variants); ``deit.models.factory.create_model``
builds them."""

from __future__ import annotations

import difflib
from typing import Any

from deit.errors import ModelError
from deit.models.vit import DeiT, macs_per_image

_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"embed_dim": 192, "num_heads": 3},
    "small": {"embed_dim": 384, "num_heads": 6},
    "base": {"embed_dim": 768, "num_heads": 12},
}


def _zoo() -> dict[str, dict[str, Any]]:
    zoo: dict[str, dict[str, Any]] = {}
    for size, dims in _SIZES.items():
        for distilled in (False, True):
            tag = "_distilled" if distilled else ""
            # Paper zoo (ImageNet, 224 px, patch 16, depth 12).
            zoo[f"deit_{size}{tag}_patch16_224"] = dict(
                dims, img_size=224, patch_size=16, depth=12, distilled=distilled
            )
            # Small-image variants: 32 px, patch 4 -> an 8x8 grid of 64 patch tokens.
            zoo[f"deit_{size}{tag}_patch4_32"] = dict(
                dims, img_size=32, patch_size=4, depth=12, distilled=distilled
            )
    for distilled in (False, True):
        tag = "_distilled" if distilled else ""
        zoo[f"deit_base{tag}_patch16_384"] = dict(
            _SIZES["base"], img_size=384, patch_size=16, depth=12, distilled=distilled
        )
    # Reduced-depth students for CPU budgets (demo, CI-scale reproduction runs).
    for distilled in (False, True):
        tag = "_distilled" if distilled else ""
        zoo[f"deit_micro{tag}_patch4_32"] = dict(
            embed_dim=96, num_heads=3, depth=6, img_size=32, patch_size=4, distilled=distilled
        )
        zoo[f"deit_nano{tag}_patch4_16"] = dict(
            embed_dim=64, num_heads=2, depth=4, img_size=16, patch_size=4, distilled=distilled
        )
    return zoo


MODEL_CONFIGS: dict[str, dict[str, Any]] = _zoo()
PAPER_ZOO = [f"deit_{s}{t}_patch16_224" for s in ("tiny", "small", "base") for t in ("", "_distilled")] + [
    "deit_base_patch16_384",
    "deit_base_distilled_patch16_384",
]


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted; ``pattern`` is a shell-style filter (``"*distilled*"``)."""
    import fnmatch

    names = sorted(MODEL_CONFIGS)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def is_deit_model(name: str) -> bool:
    return name in MODEL_CONFIGS


def _unknown(name: str) -> ModelError:
    close = difflib.get_close_matches(name, list(MODEL_CONFIGS), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run `deit models` for the list"
    return ModelError(f"unknown DeiT model {name!r}{hint}")


def model_kwargs(name: str, **overrides: Any) -> dict[str, Any]:
    """The constructor arguments of ``name`` with ``overrides`` applied (None values are ignored)."""
    if name not in MODEL_CONFIGS:
        raise _unknown(name)
    kwargs = dict(MODEL_CONFIGS[name])
    allowed = set(DeiT.__init__.__code__.co_varnames[1 : DeiT.__init__.__code__.co_argcount])
    for key, value in overrides.items():
        if key not in allowed:
            raise ModelError(
                f"{name}: unknown model argument {key!r} (accepted: {', '.join(sorted(allowed))})"
            )
        if value is not None:
            kwargs[key] = value
    return kwargs


def model_info(name: str, **overrides: Any) -> dict[str, Any]:
    """Parameter count, GMACs and sizes, computed on the meta device (no memory, no init cost)."""
    import torch

    kwargs = model_kwargs(name, **overrides)
    with torch.device("meta"):
        model = DeiT(**kwargs)
    return {
        "name": name,
        "params": sum(p.numel() for p in model.parameters()),
        "gmacs": macs_per_image(model) / 1e9,
        "img_size": kwargs["img_size"],
        "patch_size": kwargs["patch_size"],
        "embed_dim": kwargs["embed_dim"],
        "depth": kwargs["depth"],
        "num_heads": kwargs["num_heads"],
        "distilled": kwargs["distilled"],
    }
