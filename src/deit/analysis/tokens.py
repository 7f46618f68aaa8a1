"""Cosine similarity between the class token and the distillation token, layer by layer (paper Sec. 4).

The paper reports that the two learned tokens start almost orthogonal (cosine ≈ 0.06 at the input) and
converge through the network to a cosine of 0.93 at the last layer: similar but not identical, since they
aim at different targets (ground truth vs. teacher). Also measured here: how similar the two heads' outputs
are (cosine between class-head and distillation-head logits) and how often they predict the same class.

    from deit.analysis.tokens import token_cosine
    result = token_cosine(model, loader, max_batches=8)
    result.per_layer      # depth + 1 values: input of block 0, then after each block (no final norm)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from deit.errors import ModelError
from deit.progress import progress

PAPER_INPUT_COSINE = 0.06
PAPER_LAST_COSINE = 0.93


@dataclass
class TokenCosine:
    per_layer: list[
        float
    ]  # depth+1 values: mean over samples of cos(cls, dist) at block-0 input, then after each block
    per_layer_std: list[float]
    head_cosine: float  # mean cosine between class-head and distillation-head logits
    head_agreement: float  # fraction of samples where both heads predict the same class
    samples: int

    def to_dict(self) -> dict:
        return asdict(self)


def _require_distilled(model: nn.Module) -> nn.Module:
    net = getattr(model, "module", model)
    net = getattr(net, "_orig_mod", net)
    if getattr(net, "dist_token", None) is None or not hasattr(net, "forward_intermediates"):
        raise ModelError(
            f"{type(net).__name__} has no distillation token: token cosine needs a distilled DeiT "
            "(a model name containing 'distilled')"
        )
    return net


@torch.no_grad()
def token_cosine(
    model: nn.Module,
    loader: Iterable,
    device: torch.device | str = "cpu",
    max_batches: int | None = None,
    show_progress: bool = False,
) -> TokenCosine:
    """Mean (and std over samples) of cos(class token, distillation token) at every depth, plus head similarity.

    ``loader`` yields ``(images, targets)`` (targets are ignored). Raises :class:`ModelError` for a model
    without a distillation token.
    """
    net = _require_distilled(model)
    device = torch.device(device)
    was_training = net.training
    net.eval()
    sums: torch.Tensor | None = None
    sq_sums: torch.Tensor | None = None
    head_cos_sum = 0.0
    agree = 0
    n = 0
    try:
        for batch in progress(loader, "token cosine", show_progress, max_items=max_batches):
            images = batch[0] if isinstance(batch, (list, tuple)) else batch
            images = images.to(device)
            layers = net.forward_intermediates(images)
            cos = torch.stack(
                [F.cosine_similarity(t[:, 0].float(), t[:, 1].float(), dim=-1) for t in layers], dim=1
            ).double()  # [B, depth+1]
            sums = cos.sum(0) if sums is None else sums + cos.sum(0)
            sq_sums = (cos**2).sum(0) if sq_sums is None else sq_sums + (cos**2).sum(0)
            cls_logits, dist_logits = net.forward_heads(images)
            head_cos_sum += (
                F.cosine_similarity(cls_logits.float(), dist_logits.float(), dim=-1).double().sum().item()
            )
            agree += int((cls_logits.argmax(-1) == dist_logits.argmax(-1)).sum().item())
            n += images.shape[0]
    finally:
        net.train(was_training)
    if n == 0 or sums is None or sq_sums is None:
        raise ModelError("token cosine: the data loader yielded no images")
    mean = sums / n
    var = (sq_sums / n - mean**2).clamp_min(0.0)
    return TokenCosine(
        per_layer=[float(v) for v in mean],
        per_layer_std=[float(v) for v in var.sqrt()],
        head_cosine=head_cos_sum / n,
        head_agreement=agree / n,
        samples=n,
    )
