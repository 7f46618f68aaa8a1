"""deit: DeiT vision transformers — train, distil, fine-tune, evaluate, analyse, export.

Public API (imported lazily, so ``import deit`` stays cheap for the CLI)::

    model = deit.create_model("deit_small_distilled_patch16_224", pretrained=True, num_classes=10)
    model = deit.load_model("runs/deit")  # run folder, checkpoint, export, official/timm file, HF folder, name
    deit.train(deit.TrainConfig(data="digits", model="deit_nano_distilled_patch4_16", output="runs/x"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from deit.config import TrainConfig
    from deit.models.factory import create_model
    from deit.models.loading import load_model, load_model_and_meta
    from deit.models.registry import list_models
    from deit.trainer import train

_LAZY = {
    "create_model": "deit.models.factory",
    "list_models": "deit.models.registry",
    "load_model": "deit.models.loading",
    "load_model_and_meta": "deit.models.loading",
    "TrainConfig": "deit.config",
    "train": "deit.trainer",
}
__all__ = [
    "TrainConfig",
    "__version__",
    "create_model",
    "list_models",
    "load_model",
    "load_model_and_meta",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
