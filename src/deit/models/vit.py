"""The DeiT network: a ViT with a class token and an optional distillation token.

Touvron et al., "Training data-efficient image transformers & distillation through attention", 2021.
Read top to bottom: patch embedding -> [cls, dist, patches] + position embedding -> pre-norm blocks
-> final norm -> two linear heads (class head on token 0, distillation head on token 1).

    from deit.models import create_model
    model = create_model("deit_tiny_distilled_patch16_224")
    model.train(); cls_logits, dist_logits = model(images)   # training: both heads
    model.eval();  logits = model(images)                     # inference: (cls + dist) / 2

State-dict keys match timm's and the official repository's, so their checkpoints load strictly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deit.errors import ModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PatchEmbed(nn.Module):
    """Non-overlapping patches by a strided convolution: [B, C, H, W] -> [B, N, D]."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        if img_size % patch_size != 0:
            raise ModelError(
                f"image size {img_size} is not divisible by patch size {patch_size}: "
                f"choose img_size as a multiple of {patch_size}"
            )
        self.img_size = img_size
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chans or x.shape[2:] != (self.img_size, self.img_size):
            raise ModelError(
                f"expected input of shape [B, {self.in_chans}, {self.img_size}, {self.img_size}], "
                f"got {list(x.shape)}"
            )
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, D, H/p, W/p] -> [B, N, D]


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection and PyTorch's SDPA kernel."""

    def __init__(self, dim: int, num_heads: int, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ModelError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv.unbind(0)  # each [B, H, T, hd]

    def forward(self, x: Tensor, num_queries: int | None = None) -> Tensor:
        """All tokens attend to all tokens; with ``num_queries`` only the first tokens are updated."""
        B, T, D = x.shape
        q, k, v = self._qkv(x)
        if num_queries is not None:
            q, T = q[:, :, :num_queries], num_queries
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        x = x.transpose(1, 2).reshape(B, T, D)
        return self.proj_drop(self.proj(x))

    def attention_weights(self, x: Tensor) -> Tensor:
        """Softmax attention [B, H, T, T] (explicit, for analysis; SDPA never materialises it)."""
        q, k, _ = self._qkv(x)
        return (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): drop a residual branch per sample, rescale the kept ones."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        drop: float,
        attn_drop: float,
        drop_path: float,
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x: Tensor, num_queries: int | None = None) -> Tensor:
        """``num_queries``: compute only the first tokens' outputs (their keys/values still see all)."""
        residual = x if num_queries is None else x[:, :num_queries]
        x = residual + self.drop_path(self.attn(self.norm1(x), num_queries))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class DeiT(nn.Module):
    """Vision transformer with class token and (if ``distilled``) a distillation token at index 1."""

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        distilled: bool = False,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ModelError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.distilled = distilled
        self.num_prefix_tokens = 2 if distilled else 1
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        num_tokens = self.patch_embed.num_patches + self.num_prefix_tokens
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if distilled else None
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        rates = [
            drop_path_rate * i / max(depth - 1, 1) for i in range(depth)
        ]  # stochastic depth grows linearly
        self.blocks = nn.Sequential(
            *[Block(embed_dim, num_heads, mlp_ratio, drop_rate, attn_drop_rate, r, norm_eps) for r in rates]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)  # 1e-6 (timm); transformers' configs say 1e-12
        self.head = nn.Linear(embed_dim, num_classes)
        self.head_dist = nn.Linear(embed_dim, num_classes) if distilled else None
        self.pretrained_cfg = {
            "img_size": img_size,
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "crop_pct": 0.875,
            "interpolation": "bicubic",
        }
        self.init_weights()

    @property
    def img_size(self) -> int:
        return self.patch_embed.img_size

    def init_weights(self) -> None:
        """DeiT init: truncated normal (std .02) for tokens, position embedding and Linear weights."""
        for p in (self.pos_embed, self.cls_token, self.dist_token):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token", "dist_token"}

    def embed(self, x: Tensor) -> Tensor:
        """[B, C, H, W] -> tokens [B, prefix + N, D] with position embedding added."""
        x = self.patch_embed(x)
        prefix = [self.cls_token.expand(x.shape[0], -1, -1)]
        if self.dist_token is not None:
            prefix.append(self.dist_token.expand(x.shape[0], -1, -1))
        x = torch.cat(prefix + [x], dim=1)
        return self.pos_drop(x + self.pos_embed)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.norm(self.blocks(self.embed(x)))  # [B, T, D]

    def forward_head(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Tokens [B, T, D] -> logits; (cls, dist) while training a distilled model, else their mean."""
        cls_logits = self.head(x[:, 0])
        if self.head_dist is None:
            return cls_logits
        dist_logits = self.head_dist(x[:, 1])
        if self.training:
            return cls_logits, dist_logits
        return (cls_logits + dist_logits) / 2  # late fusion at inference (paper Sec. 5)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return self.forward_head(self.forward_prefix(x))

    def forward_prefix(self, x: Tensor) -> Tensor:
        """Normed prefix tokens [B, prefix, D]: the heads read only these, so the last block updates only
        them (same result as ``forward_features(x)[:, :prefix]``, ~6% fewer FLOPs for DeiT-Ti/S/B)."""
        x = self.embed(x)
        for block in self.blocks[:-1]:
            x = block(x)
        return self.norm(self.blocks[-1](x, num_queries=self.num_prefix_tokens))

    def forward_heads(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """(class-head logits, distillation-head logits or None), whatever the train/eval mode."""
        x = self.forward_prefix(x)
        dist = self.head_dist(x[:, 1]) if self.head_dist is not None else None
        return self.head(x[:, 0]), dist

    def forward_intermediates(self, x: Tensor) -> list[Tensor]:
        """Tokens at the input of the first block and after every block: depth + 1 tensors [B, T, D]."""
        x = self.embed(x)
        out = [x]
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out

    def attention_maps(self, x: Tensor) -> list[Tensor]:
        """Softmax attention of every block, each [B, H, T, T] (for attention rollout)."""
        x = self.embed(x)
        maps = []
        for block in self.blocks:
            maps.append(block.attn.attention_weights(block.norm1(x)))
            x = block(x)
        return maps

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(self.embed_dim, num_classes)
        if self.head_dist is not None:
            self.head_dist = nn.Linear(self.embed_dim, num_classes)
        for head in (self.head, self.head_dist):
            if head is not None:
                nn.init.trunc_normal_(head.weight, std=0.02)
                nn.init.zeros_(head.bias)


def macs_per_image(model: DeiT) -> int:
    """Multiply-accumulates of one forward pass: matmuls and the patch conv (norms, softmax ignored).

    The paper's "FLOPs" (Table 1: Ti 1.3G, S 4.6G, B 17.6G) count multiply-adds, i.e. this number.
    """
    D = model.embed_dim
    T = model.pos_embed.shape[1]
    N = model.patch_embed.num_patches
    p, C = model.patch_embed.patch_size, model.patch_embed.in_chans
    macs = N * D * C * p * p
    for block in model.blocks:
        hidden = block.mlp.fc1.out_features
        macs += T * D * 3 * D + T * T * D * 2 + T * D * D + 2 * T * D * hidden
    macs += D * model.num_classes * (2 if model.distilled else 1)
    return macs


def grid_size(num_tokens: int) -> int:
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ModelError(f"position embedding has {num_tokens} patch tokens, which is not a square grid")
    return side
