"""Base classification losses and the DeiT distillation loss.

The distillation loss follows Touvron et al., "Training data-efficient image transformers & distillation
through attention" (2021), section 5:

* soft:  ``(1 - a) * CE(cls, y) + a * tau^2 * KL(softmax(z_t / tau) || softmax(z_dist / tau))``
  (paper: ``tau = 3``, ``a = 0.1``);
* hard:  ``(1 - a) * CE(cls, y) + a * CE(z_dist, argmax z_t)`` (paper: ``a = 0.5``).

``cls`` is the class-token head; the teacher term always trains the distillation-token head ``dist``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from deit.errors import ConfigError

DistillationType = Literal["none", "soft", "hard"]
SoftNormalization = Literal["official", "batchmean"]

_DISTILLATION_TYPES = ("none", "soft", "hard")
_SOFT_NORMALIZATIONS = ("official", "batchmean")


class SoftTargetCrossEntropy(nn.Module):
    """Cross-entropy against soft targets: ``mean_b sum_c -target[b, c] * log_softmax(logits)[b, c]``.

    Used when Mixup/CutMix produce ``[B, C]`` label distributions. Integer class targets ``[B]`` are also
    accepted (converted to one-hot), so the same criterion can score a validation batch.
    """

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if target.ndim == logits.ndim - 1 and not target.is_floating_point():
            target = F.one_hot(target.long(), num_classes=logits.shape[-1])
        if target.shape != logits.shape:
            raise ValueError(
                f"soft targets must have the logits' shape {tuple(logits.shape)}, got {tuple(target.shape)}"
            )
        log_probs = F.log_softmax(logits.float(), dim=-1)
        return torch.sum(-target.to(log_probs.dtype) * log_probs, dim=-1).mean()


def build_base_criterion(mixup_active: bool, smoothing: float) -> nn.Module:
    """The label loss of the class head.

    * Mixup/CutMix active: :class:`SoftTargetCrossEntropy` (smoothing is already folded into the mixed
      targets by the mixup transform, as in the official DeiT code);
    * else ``smoothing > 0``: label-smoothing cross-entropy;
    * else plain cross-entropy.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ConfigError(f"smoothing must be in [0, 1), got {smoothing}")
    if mixup_active:
        return SoftTargetCrossEntropy()
    if smoothing > 0.0:
        return nn.CrossEntropyLoss(label_smoothing=smoothing)
    return nn.CrossEntropyLoss()


class DistillationLoss(nn.Module):
    """Label loss plus, optionally, the DeiT teacher loss on the distillation head.

    Args:
        base_criterion: the label loss (see :func:`build_base_criterion`).
        distillation_type: ``"none"``, ``"soft"`` or ``"hard"``.
        alpha: weight of the teacher term (the paper's lambda); the label term gets ``1 - alpha``.
        tau: softmax temperature of soft distillation (the KL term is scaled by ``tau**2``).
        soft_normalization: how the summed soft KL is normalised:

            * ``"official"`` (default): ``sum / (B * C)`` (``B`` batch size, ``C`` classes), exactly what
              the official DeiT code does (``F.kl_div(..., reduction="sum") / outputs_kd.numel()``);
            * ``"batchmean"``: ``sum / B``, the textbook KL divergence per sample.

            The two differ by a factor of ``C`` (``official = batchmean / C``): with 1000 classes the
            official soft term is 1000x smaller than the textbook one for the same ``alpha``, so a
            ``alpha`` tuned for one normalisation does not transfer to the other.
        distilled_student: whether the student has a distillation token (outputs ``(cls, dist)`` in
            training). Used for early validation: a teacher loss needs a distilled student.

    ``forward(outputs, targets, teacher_logits=None)`` returns ``(total, parts)``; ``parts`` holds
    detached scalar tensors: always ``"base"`` (label loss of the class head) and ``"total"``, plus
    ``"distill"`` (the un-weighted teacher term) when ``distillation_type != "none"``, plus ``"base_dist"``
    (label loss of the distillation head) when training a distilled student without a teacher.
    """

    def __init__(
        self,
        base_criterion: nn.Module,
        distillation_type: DistillationType = "none",
        alpha: float = 0.5,
        tau: float = 1.0,
        soft_normalization: SoftNormalization = "official",
        distilled_student: bool = True,
    ) -> None:
        super().__init__()
        if distillation_type not in _DISTILLATION_TYPES:
            raise ConfigError(
                f"distillation_type must be one of {_DISTILLATION_TYPES}, got {distillation_type!r}"
            )
        if soft_normalization not in _SOFT_NORMALIZATIONS:
            raise ConfigError(
                f"soft_normalization must be one of {_SOFT_NORMALIZATIONS}, got {soft_normalization!r}"
            )
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"distillation alpha must be in [0, 1], got {alpha}")
        if not tau > 0.0:
            raise ConfigError(f"distillation tau must be > 0, got {tau}")
        if distillation_type != "none" and not distilled_student:
            raise ConfigError(_NOT_DISTILLED_MSG)
        self.base_criterion = base_criterion
        self.distillation_type = distillation_type
        self.alpha = float(alpha)
        self.tau = float(tau)
        self.soft_normalization = soft_normalization
        self.distilled_student = distilled_student

    def extra_repr(self) -> str:
        return (
            f"distillation_type={self.distillation_type!r}, alpha={self.alpha}, tau={self.tau}, "
            f"soft_normalization={self.soft_normalization!r}"
        )

    def teacher_term(self, dist_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        """The un-weighted teacher loss of the distillation head (computed in float32)."""
        teacher_logits = teacher_logits.detach().float()
        dist_logits = dist_logits.float()
        if teacher_logits.shape != dist_logits.shape:
            raise ConfigError(
                f"teacher logits have shape {tuple(teacher_logits.shape)} but the student's distillation "
                f"head gives {tuple(dist_logits.shape)}: teacher and student must predict the same classes"
            )
        if self.distillation_type == "hard":
            return F.cross_entropy(dist_logits, teacher_logits.argmax(dim=1))
        t = self.tau
        log_p_student = F.log_softmax(dist_logits / t, dim=1)
        log_p_teacher = F.log_softmax(teacher_logits / t, dim=1)
        if self.soft_normalization == "official":
            kl = F.kl_div(log_p_student, log_p_teacher, reduction="sum", log_target=True)
            kl = kl / dist_logits.numel()
        else:
            kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
        return kl * (t * t)

    def forward(
        self,
        outputs: Tensor | tuple[Tensor, Tensor | None],
        targets: Tensor,
        teacher_logits: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if isinstance(outputs, (tuple, list)):
            if len(outputs) != 2:
                raise ValueError(f"expected outputs (cls_logits, dist_logits), got {len(outputs)} tensors")
            cls_logits, dist_logits = outputs
        else:
            cls_logits, dist_logits = outputs, None

        base = self.base_criterion(cls_logits, targets)
        parts: dict[str, Tensor] = {"base": base.detach()}

        if self.distillation_type == "none":
            if dist_logits is None:
                total = base
            else:
                # Train both heads on the labels (the official code leaves the dist head untrained but
                # still averages it into the eval prediction).
                base_dist = self.base_criterion(dist_logits, targets)
                parts["base_dist"] = base_dist.detach()
                total = (base + base_dist) / 2
        else:
            if dist_logits is None:
                raise ConfigError(_NOT_DISTILLED_MSG)
            if teacher_logits is None:
                raise ConfigError(
                    f"distillation_type={self.distillation_type!r} needs teacher logits, got None "
                    "(is a teacher configured?)"
                )
            distill = self.teacher_term(dist_logits, teacher_logits)
            parts["distill"] = distill.detach()
            total = (1.0 - self.alpha) * base + self.alpha * distill

        parts["total"] = total.detach()
        return total, parts


_NOT_DISTILLED_MSG = (
    "a non-distilled student cannot be distilled: use a *_distilled_* model "
    "(or set distillation type to 'none')"
)

__all__ = [
    "DistillationLoss",
    "SoftTargetCrossEntropy",
    "build_base_criterion",
]
