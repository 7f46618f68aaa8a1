"""Mixup / CutMix (timm) with graceful odd batch sizes.

timm's ``Mixup`` asserts an even batch size (it pairs sample i with sample B-1-i). ``build_mixup`` returns
``OddBatchMixup``, a ``timm.data.Mixup`` subclass that keeps the batch size instead: for an odd batch it mixes
the even-sized prefix ``x[:-1]`` and leaves the last sample unmixed with a label-smoothed one-hot target
(a batch of 1 is only label-smoothed). Nothing is dropped, so the student, the teacher and the loss all see
the same ``B`` inputs (the last, incomplete batch of an epoch is often odd).
"""

from __future__ import annotations

import torch
from timm.data import Mixup
from timm.data.mixup import mixup_target

from deit.errors import ConfigError


class OddBatchMixup(Mixup):
    """``timm.data.Mixup`` that accepts odd batch sizes (see module docstring)."""

    def __call__(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(x) % 2 == 0:
            return super().__call__(x, target)
        last_x, last_t = x[-1:], target[-1:]
        last_target = mixup_target(
            last_t,
            self.num_classes,
            1.0,
            self.label_smoothing,
            multi_label=getattr(self, "multi_label", False),
        )
        if len(x) == 1:
            return x, last_target
        head_x, head_t = super().__call__(x[:-1], target[:-1])
        return torch.cat([head_x, last_x]), torch.cat([head_t, last_target.to(head_t.dtype)])


def build_mixup(
    mixup_alpha: float = 0.8,
    cutmix_alpha: float = 1.0,
    switch_prob: float = 0.5,
    mode: str = "batch",
    label_smoothing: float = 0.1,
    num_classes: int = 1000,
    prob: float = 1.0,
    cutmix_minmax: tuple[float, float] | None = None,
) -> OddBatchMixup | None:
    """DeiT's mixup/cutmix (defaults: official DeiT); None when neither mixup nor cutmix is active.

    With mixup active the targets become soft ``[B, num_classes]`` (label smoothing folded in), so use
    a soft-target cross-entropy as the base criterion.
    """
    if mixup_alpha < 0 or cutmix_alpha < 0:
        raise ConfigError(f"mixup/cutmix alphas must be >= 0, got mixup={mixup_alpha} cutmix={cutmix_alpha}")
    if mode not in ("batch", "pair", "elem"):
        raise ConfigError(f"mixup mode must be 'batch', 'pair' or 'elem', got {mode!r}")
    if not 0.0 <= prob <= 1.0 or not 0.0 <= switch_prob <= 1.0:
        raise ConfigError(f"mixup prob / switch_prob must be in [0, 1], got {prob} / {switch_prob}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ConfigError(f"label smoothing must be in [0, 1), got {label_smoothing}")
    if num_classes < 2:
        raise ConfigError(f"mixup needs num_classes >= 2, got {num_classes}")
    if mixup_alpha == 0 and cutmix_alpha == 0 and cutmix_minmax is None:
        return None
    return OddBatchMixup(
        mixup_alpha=mixup_alpha,
        cutmix_alpha=cutmix_alpha,
        cutmix_minmax=cutmix_minmax,
        prob=prob,
        switch_prob=switch_prob,
        mode=mode,
        label_smoothing=label_smoothing,
        num_classes=num_classes,
    )
