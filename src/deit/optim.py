"""Optimizer, learning-rate schedule and weight EMA for the DeiT recipe (paper Table 9)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: decayed weights, and no decay for biases, norms (1-D) and ``no_weight_decay()`` names
    (position embedding, class and distillation tokens), as the official code does via timm."""
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name in skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float,
    eps: float = 1e-8,
    momentum: float = 0.9,
    fused: bool = False,
) -> torch.optim.Optimizer:
    groups = param_groups(model, weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, eps=eps, betas=(0.9, 0.999), fused=fused or None)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True, fused=fused or None)
    raise ValueError(f"unknown optimizer {name!r}")


@dataclass
class LRSchedule:
    """Learning rate as a function of the (fractional) epoch, evaluated at every optimizer step.

    Default (``official=False``): linear warm-up from ``warmup_lr`` to ``base_lr`` over ``warmup_epochs``,
    then half a cosine from ``base_lr`` down to ``min_lr`` over the remaining ``epochs - warmup_epochs``,
    evaluated at every optimizer step.

    ``official=True``: exactly what the official DeiT ``main.py`` does with timm's scheduler
    (``CosineLRScheduler(t_initial=epochs, warmup_t=warmup_epochs, ...)``, or ``StepLRScheduler``): the
    cosine spans all ``epochs`` counted from 0 (the warm-up overlaps its start, so it never reaches
    ``base_lr`` exactly), the rate changes once per epoch, and since ``lr_scheduler.step(epoch)`` is called
    after epoch ``epoch``, epoch ``e`` trains at timm's value for ``max(e - 1, 0)``.
    """

    base_lr: float
    epochs: int
    warmup_epochs: float = 5
    warmup_lr: float = 1e-6
    min_lr: float = 1e-5
    kind: str = "cosine"
    decay_epochs: float = 30
    decay_rate: float = 0.1
    official: bool = False

    def timm_value(self, t: int) -> float:
        """timm's scheduler value at integer epoch ``t`` (``t_in_epochs``, one cycle, no noise)."""
        if t < self.warmup_epochs:
            return self.warmup_lr + t * (self.base_lr - self.warmup_lr) / self.warmup_epochs
        if self.kind == "constant":
            return self.base_lr
        if self.kind == "step":
            return self.base_lr * self.decay_rate ** (t // self.decay_epochs)
        if t >= self.epochs:
            return self.min_lr
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * t / self.epochs))

    def __call__(self, epoch: float) -> float:
        if self.official:
            return self.timm_value(max(math.floor(epoch) - 1, 0))
        if epoch < self.warmup_epochs:
            return self.warmup_lr + (self.base_lr - self.warmup_lr) * epoch / self.warmup_epochs
        if self.kind == "constant":
            return self.base_lr
        if self.kind == "step":
            return self.base_lr * self.decay_rate ** math.floor(epoch / self.decay_epochs)
        span = max(self.epochs - self.warmup_epochs, 1e-8)
        t = min(max((epoch - self.warmup_epochs) / span, 0.0), 1.0)
        floor = min(self.min_lr, self.base_lr)  # a scaled lr below min_lr must not make the cosine rise
        return floor + 0.5 * (self.base_lr - floor) * (1 + math.cos(math.pi * t))

    def apply(self, optimizer: torch.optim.Optimizer, epoch: float) -> float:
        lr = self(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr


class ModelEma:
    """Exponential moving average of the weights (and buffers), kept in float32 on the model's device."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.state = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, skip: torch.Tensor | None = None) -> None:
        """One EMA step towards the weights of ``model`` (the plain module: no DDP/compile wrapper).
        ``skip``: a 0/1 scalar tensor; 1 leaves the average unchanged (a skipped optimizer step) without
        reading it on the host."""
        weight: float | torch.Tensor = 1.0 - self.decay
        if skip is not None:
            weight = (1.0 - skip.float()) * (1.0 - self.decay)
        for k, v in model.state_dict().items():
            ema = self.state[k]
            if v.dtype.is_floating_point:
                ema.lerp_(
                    v.detach().float(), weight.to(ema.device) if isinstance(weight, torch.Tensor) else weight
                )
            elif skip is None:
                ema.copy_(v)
            else:
                ema.copy_(torch.where(skip > 0, ema, v))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            self.state[k].copy_(v)
