"""DeiT models: the network, the named zoo, and weight loading/saving."""

from deit.models.factory import create_model
from deit.models.registry import (
    MODEL_CONFIGS,
    PAPER_ZOO,
    is_deit_model,
    list_models,
    model_info,
    model_kwargs,
)
from deit.models.vit import DeiT, macs_per_image

__all__ = [
    "DeiT",
    "MODEL_CONFIGS",
    "PAPER_ZOO",
    "create_model",
    "is_deit_model",
    "list_models",
    "macs_per_image",
    "model_info",
    "model_kwargs",
]
