"""Attention rollout (Abnar & Zuidema 2020) from the class and distillation tokens to the patch tokens.

Per block: average the heads, add the identity (the residual connection), renormalise the rows, then
multiply the blocks' matrices from the first to the last. Row ``i`` of the result says how much of token
``i``'s final representation flows from each input token; rows 0 (class token) and 1 (distillation
token) restricted to the patch tokens give the heat maps.

    maps = rollout_maps(model, images)          # {"cls": [B, g, g], "dist": [B, g, g]} (dist if distilled)
    plot_rollout_grid(images_01, maps, "attention.png")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deit.errors import ModelError
from deit.models.weights import unwrap_model


def attention_rollout(
    attentions: Sequence[Tensor], head_fusion: str = "mean", add_identity: bool = True
) -> Tensor:
    """Rollout ``[B, T, T]`` of per-block attentions ``[B, H, T, T]`` (first block first); rows sum to 1."""
    if not attentions:
        raise ModelError("attention rollout needs at least one attention map")
    result: Tensor | None = None
    for attn in attentions:
        if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2]:
            raise ModelError(f"attention maps must be [B, H, T, T], got {list(attn.shape)}")
        a = attn.double()
        if head_fusion == "mean":
            a = a.mean(dim=1)
        elif head_fusion == "max":
            a = a.amax(dim=1)
        elif head_fusion == "min":
            a = a.amin(dim=1)
        else:
            raise ModelError(f"head_fusion must be 'mean', 'max' or 'min', got {head_fusion!r}")
        if add_identity:
            a = a + torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        a = a / a.sum(dim=-1, keepdim=True)
        result = a if result is None else a @ result  # later block applied after the earlier ones
    assert result is not None
    return result.float()


@torch.no_grad()
def rollout_maps(model: nn.Module, images: Tensor, head_fusion: str = "mean") -> dict[str, Tensor]:
    """Rollout from the class token (``"cls"``) and, for a distilled DeiT, the distillation token (``"dist"``)
    to the patch tokens, as ``[B, grid, grid]`` maps (each sums to at most 1: the rest flows to prefix tokens)."""
    net = unwrap_model(model)
    if not hasattr(net, "attention_maps") or not hasattr(net, "num_prefix_tokens"):
        raise ModelError(
            f"{type(net).__name__} exposes no attention maps: attention rollout needs a DeiT model"
        )
    was_training = net.training
    net.eval()
    try:
        roll = attention_rollout(net.attention_maps(images), head_fusion=head_fusion)
    finally:
        net.train(was_training)
    prefix = int(net.num_prefix_tokens)
    n_patches = roll.shape[-1] - prefix
    side = int(round(n_patches**0.5))
    if side * side != n_patches:
        raise ModelError(f"{n_patches} patch tokens do not form a square grid")
    out = {"cls": roll[:, 0, prefix:].reshape(-1, side, side)}
    if prefix > 1:
        out["dist"] = roll[:, 1, prefix:].reshape(-1, side, side)
    return out


def _normalise(m: Tensor) -> Tensor:
    lo, hi = m.amin(dim=(-2, -1), keepdim=True), m.amax(dim=(-2, -1), keepdim=True)
    return (m - lo) / (hi - lo).clamp_min(1e-12)


def upsample(maps: Tensor, size: int) -> Tensor:
    """``[B, g, g]`` maps bilinearly resized to ``[B, size, size]`` and min-max normalised per map."""
    up = F.interpolate(maps[:, None].float(), size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    return _normalise(up)


def plot_rollout_grid(
    images: Tensor,
    maps: dict[str, Tensor],
    path: str | Path,
    titles: Sequence[str] | None = None,
    alpha: float = 0.55,
) -> Path:
    """PNG grid: one column per image; rows: image, class-token rollout, distillation-token rollout (if any).

    ``images``: ``[B, 3, H, W]`` in [0, 1] (un-normalised); ``maps``: output of :func:`rollout_maps`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b, size = images.shape[0], images.shape[-1]
    rows = [("image", None)] + [
        (label, maps[key])
        for key, label in (("cls", "class token"), ("dist", "distillation token"))
        if key in maps
    ]
    fig, axes = plt.subplots(
        len(rows), b, figsize=(1.9 * b + 1.4, 1.9 * len(rows)), squeeze=False, layout="constrained"
    )
    pics = images.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    for r, (label, m) in enumerate(rows):
        heat = upsample(m.cpu(), size).numpy() if m is not None else None
        for c in range(b):
            ax = axes[r][c]
            ax.imshow(pics[c], interpolation="nearest")
            if heat is not None:
                ax.imshow(heat[c], cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0, interpolation="bilinear")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and titles is not None:
                ax.set_title(str(titles[c])[:24], fontsize=7)
            if c == 0:
                ax.set_ylabel(label if m is None else f"{label}\nrollout", fontsize=8)
    if len(rows) > 1:  # what the colours mean: rollout scaled to [0, 1] per image
        scale = plt.cm.ScalarMappable(cmap="jet", norm=matplotlib.colors.Normalize(0.0, 1.0))
        bar = fig.colorbar(scale, ax=axes[1:, :].ravel().tolist(), shrink=0.9)
        bar.set_label("attention rollout\n(0 = least, 1 = most per image)", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
