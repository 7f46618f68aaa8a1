"""deit: DeiT vision transformers — train, distil, fine-tune, evaluate, analyse, export.

Public API (imported lazily, so ``import deit`` stays cheap for the CLI)::

    model = deit.create_model("deit_small_distilled_patch16_224", pretrained=True, num_classes=10)
    model = deit.load_model("runs/deit")  # run folder, checkpoint, export, official/timm file, HF folder, name
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from deit.models.factory import create_model
    from deit.models.loading import load_model, load_model_and_meta
    from deit.models.registry import list_models

_LAZY = {
    "create_model": "deit.models.factory",
    "list_models": "deit.models.registry",
    "load_model": "deit.models.loading",
    "load_model_and_meta": "deit.models.loading",
}
__all__ = ["__version__", "create_model", "list_models", "load_model", "load_model_and_meta"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deit' has no attribute {name!r}")
