"""Per-sample crops of uint8 batches, drawn in the ORIGINAL images' coordinates (``--data-cache``).

The cache stores each training image resized (aspect not kept) to one S x S square plus its original
height and width (``deit.data.cache``). Every box is drawn by torchvision's rule for the original's height
and width and mapped onto the square in normalised coordinates, so random-resized crops reach the borders
with the PIL path's scale and aspect statistics, and the small-image pad-and-crop slides along the long
side of a non-square image, as ``deit.data.transforms.build_transform`` does. Resampling is
``grid_sample`` from the square: no PIL antialiasing, and an original larger than S is seen at S pixels (a
non-square one at S along its long side).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from deit.data.transforms import SMALL_IMAGE_MAX
from deit.errors import ConfigError

INTERPOLATIONS = ("bicubic", "bilinear", "nearest", "random")  # random: bilinear or bicubic per sample (timm)


def rand(n: int) -> Tensor:
    """Per-sample uniform draws, always from the CPU generator (the same draws whatever the device)."""
    return torch.rand(n)


def is_small(img_size: int, small_image_policy: str = "auto") -> bool:
    """The CIFAR-style pipeline (pad-and-crop) rather than random-resized-crop, as ``build_transform``."""
    return small_image_policy == "small" or (small_image_policy == "auto" and img_size <= SMALL_IMAGE_MAX)


def check_interpolation(mode: str) -> str:
    if mode not in INTERPOLATIONS:
        raise ConfigError(
            f"--train-interpolation {mode}: the batched data path (--data-cache) supports "
            f"{', '.join(INTERPOLATIONS)}; use --data-cache none for others"
        )
    return mode


def sample(x: Tensor, grid: Tensor, mode: str, padding_mode: str) -> Tensor:
    """``grid_sample`` (align_corners=False) of float ``x``; ``mode`` "random" draws bilinear or bicubic per
    sample, like timm's random interpolation, and samples each group once."""
    if mode != "random":
        return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=False)
    cubic = (rand(x.shape[0]) < 0.5).to(x.device)
    out = torch.empty(*grid.shape[:1], x.shape[1], *grid.shape[1:3], dtype=x.dtype, device=x.device)
    for group, name in ((cubic, "bicubic"), (~cubic, "bilinear")):
        if group.any():
            out[group] = F.grid_sample(
                x[group], grid[group], mode=name, padding_mode=padding_mode, align_corners=False
            )
    return out


def _gather_crop(x: Tensor, oy: Tensor, ox: Tensor, padding: int) -> Tensor:
    """Zero-pad by ``padding`` and cut an H x W window at per-sample offsets (oy, ox): one gather."""
    b, c, h, w = x.shape
    wp = w + 2 * padding
    padded = F.pad(x, (padding, padding, padding, padding)).reshape(b, c, -1)
    dev = x.device
    base = (torch.arange(h, device=dev)[:, None] * wp + torch.arange(w, device=dev)[None, :]).reshape(1, -1)
    idx = (base + (oy * wp + ox).to(dev)[:, None])[:, None, :].expand(b, c, h * w)
    return padded.gather(2, idx).reshape(b, c, h, w)


def pad_crop(x: Tensor, padding: int = 4) -> Tensor:
    """torchvision RandomCrop(size, padding) per sample: zero padding, a random offset per image (one gather)."""
    b = x.shape[0]
    oy = torch.randint(0, 2 * padding + 1, (b,))
    ox = torch.randint(0, 2 * padding + 1, (b,))
    return _gather_crop(x, oy, ox, padding)


def _box_grid(boxes: Tensor, hw: Tensor, size: int, device: torch.device) -> Tensor:
    """Sampling grid of ``size`` x ``size`` outputs for (top, left, height, width) boxes given in an image
    of height/width ``hw`` [n, 2] that the stored tensor spans edge to edge (normalised coordinates)."""
    top, left, ch, cw = boxes.double().unbind(1)
    h, w = hw.double().unbind(1)
    theta = torch.zeros(len(boxes), 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 2] = cw / w, (2 * left + cw) / w - 1
    theta[:, 1, 1], theta[:, 1, 2] = ch / h, (2 * top + ch) / h - 1
    return F.affine_grid(theta.float().to(device), [len(boxes), 1, size, size], align_corners=False)


def _to_uint8(x: Tensor) -> Tensor:
    return x.round().clamp(0, 255).to(torch.uint8)


def resized_small(shape: Tensor, size: int) -> Tensor:
    """torchvision ``Resize(size)`` output (height, width) for images of ``shape`` [n, 2]: the shorter side
    becomes ``size``, the longer ``int(size * long / short)``."""
    h, w = shape.double().unbind(1)
    return torch.stack(
        [
            torch.where(w <= h, (size * h / w).floor(), size),
            torch.where(w <= h, size, (size * w / h).floor()),
        ],
        1,
    )


def pad_crop_sized(x: Tensor, shape: Tensor, size: int, mode: str, padding: int = 4) -> Tensor:
    """``build_transform``'s small-image crop for originals of ``shape`` [n, 2] stored as squares ``x``:
    Resize(size) (shorter side) + RandomCrop(size, padding) per sample. Square originals take the exact
    gather of ``pad_crop``; non-square ones slide along their long side, resampled from the square."""
    rhw = resized_small(shape, size)
    exact = ((rhw[:, 0] == x.shape[2]) & (rhw[:, 1] == x.shape[3])) if x.shape[2] == size else None
    if exact is not None and bool(exact.all()):  # all square (CIFAR, digits): pad_crop's own draws, so a
        return pad_crop(x, padding)  # seed gives the same crops as before sizes were stored (recorded runs)
    oy = (rand(len(x)) * (rhw[:, 0] + 2 * padding - size + 1)).floor().long()
    ox = (rand(len(x)) * (rhw[:, 1] + 2 * padding - size + 1)).floor().long()
    boxes = torch.stack([oy - padding, ox - padding, torch.full_like(oy, size), torch.full_like(ox, size)], 1)
    grid = _box_grid(boxes, rhw, size, x.device)
    out = _to_uint8(sample(x.float(), grid, mode, "zeros"))
    if exact is not None and bool(exact.any()):
        keep = exact.to(x.device)
        out[keep] = _gather_crop(x[keep], oy[exact], ox[exact], padding)
    return out


def rrc_boxes(n: int, h: int | Tensor, w: int | Tensor, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> Tensor:
    """torchvision RandomResizedCrop.get_params for ``n`` images at once, each of height/width ``h``/``w``
    (ints, or [n] tensors for images of different sizes): [n, 4] = (top, left, height, width)."""
    hh = torch.as_tensor(h, dtype=torch.float64).expand(n)
    ww = torch.as_tensor(w, dtype=torch.float64).expand(n)
    area = (hh * ww)[:, None]
    target = area * torch.empty(n, 10).uniform_(*scale).double()
    aspect = torch.exp(torch.empty(n, 10).uniform_(math.log(ratio[0]), math.log(ratio[1]))).double()
    cw = torch.sqrt(target * aspect).round()
    ch = torch.sqrt(target / aspect).round()
    ok = (cw > 0) & (ch > 0) & (cw <= ww[:, None]) & (ch <= hh[:, None])
    first = ok.float().argmax(dim=1)
    rows = torch.arange(n)
    cw, ch, has = cw[rows, first], ch[rows, first], ok.any(dim=1)
    in_ratio = ww / hh  # fallback: the whole image, clamped to the ratio range, centred
    fw = torch.where(in_ratio > ratio[1], (hh * ratio[1]).round(), ww)
    fh = torch.where(in_ratio < ratio[0], (ww / ratio[0]).round(), hh)
    cw, ch = torch.where(has, cw, fw), torch.where(has, ch, fh)
    top = torch.where(has, (torch.rand(n).double() * (hh - ch + 1)).floor(), ((hh - ch) / 2).floor())
    left = torch.where(has, (torch.rand(n).double() * (ww - cw + 1)).floor(), ((ww - cw) / 2).floor())
    return torch.stack([top, left, ch, cw], dim=1).float()


def resized_crop(x: Tensor, boxes: Tensor, size: int, mode: str, shape: Tensor | None = None) -> Tensor:
    """Crop every image to its box and resize it to ``size`` (one grid_sample call); uint8 in and out.
    ``boxes`` are in the coordinates of an image of ``shape`` [n, 2] (height, width) that ``x`` stores
    resized to its own size (default: ``x``'s size, the boxes are in its pixels)."""
    if shape is None:
        shape = torch.tensor(x.shape[2:]).expand(len(x), 2)
    return _to_uint8(sample(x.float(), _box_grid(boxes, shape, size, x.device), mode, "border"))


def random_resized_crop(x: Tensor, size: int, mode: str, shape: Tensor | None = None) -> Tensor:
    """timm's RandomResizedCropAndInterpolation(size) per sample, boxes drawn for the original ``shape``."""
    if shape is None:
        return resized_crop(x, rrc_boxes(len(x), x.shape[2], x.shape[3]), size, mode)
    return resized_crop(x, rrc_boxes(len(x), shape[:, 0], shape[:, 1]), size, mode, shape)
