"""The DeiT training augmentation applied to whole uint8 batches on the training device.

``build_batch_transform`` mirrors ``deit.data.transforms.build_transform`` for images already decoded
into a uint8 ``[B, 3, H, W]`` tensor (``deit.data.cache``): pad-and-crop (small images) or
random-resized-crop, horizontal flip, timm's RandAugment ops (or colour jitter), normalisation and timm's
``RandomErasing``. Mixup/CutMix stay in the engine (``deit.data.mixup``), after this transform, so the
teacher sees the same batch as the student.

Why not ``torchvision.transforms.v2`` transforms on the batch: a v2 transform called on a ``[B, C, H, W]``
tensor draws ONE set of random parameters for the whole batch (every image flipped, or none), while the
PIL pipeline draws per image. So every random parameter here is drawn per sample (on the CPU generator,
the same draws whatever the device) and applied in one vectorised call: per-sample affine matrices through
``torch.nn.functional.affine_grid``/``grid_sample``, per-sample blend factors, and torchvision's
``v2.functional`` kernels (autocontrast, equalize, invert, grayscale, normalize), which are per image.
RandAugment groups the samples by the op they drew and runs each op once on its group.

Deliberate differences from the PIL path (same distribution of parameters, not bit-identical pixels):
sub-pixel interpolation details of the geometric ops, and colour jitter applies its three factors in one
random order per batch instead of per image.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from deit.data.transforms import SMALL_IMAGE_MAX, _aa_enabled, _check_stats
from deit.errors import ConfigError

GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
RAND_OPS = (  # timm's _RAND_INCREASING_TRANSFORMS ("inc1"; "inc0": RAND_OPS_INC0)
    "AutoContrast",
    "Equalize",
    "Invert",
    "Rotate",
    "PosterizeIncreasing",
    "SolarizeIncreasing",
    "SolarizeAdd",
    "ColorIncreasing",
    "ContrastIncreasing",
    "BrightnessIncreasing",
    "SharpnessIncreasing",
    "ShearX",
    "ShearY",
    "TranslateXRel",
    "TranslateYRel",
)


RAND_OPS_INC0 = tuple(op.replace("Increasing", "") for op in RAND_OPS)  # timm's _RAND_TRANSFORMS


def _rand(n: int) -> Tensor:
    return torch.rand(n)


def parse_rand_augment(policy: str) -> dict:
    """``rand-m9-mstd0.5-inc1`` -> magnitude, magnitude_std, num_layers, prob, magnitude_max, increasing
    (timm's grammar; weighted op choice ``-t...`` is not supported)."""
    parts = policy.split("-")
    if parts[0] != "rand":
        raise ConfigError(
            f"--aa {policy}: the batched data path (--data-cache) supports RandAugment policies "
            "('rand-...') only; use --data-cache none for AutoAugment/AugMix"
        )
    out: dict = {"magnitude": 10.0, "magnitude_std": 0.0, "num_layers": 2, "prob": 0.5}
    out.update(magnitude_max=10.0, increasing=False)
    keys = {
        "m": "magnitude",
        "mstd": "magnitude_std",
        "n": "num_layers",
        "p": "prob",
        "mmax": "magnitude_max",
    }
    for part in parts[1:]:
        m = re.fullmatch(r"([a-z]+)(\d[0-9.]*)", part)
        if m is None or m.group(1) not in (*keys, "inc"):
            raise ConfigError(
                f"--aa {policy}: {part!r} is not supported by the batched data path (--data-cache)"
            )
        if m.group(1) == "inc":
            out["increasing"] = bool(int(float(m.group(2))))
        else:
            out[keys[m.group(1)]] = float(m.group(2))
    if out["magnitude_std"] > 100:  # timm: uniform in [0, magnitude]
        out["magnitude_std"] = float("inf")
    out["num_layers"] = int(out["num_layers"])
    return out


# ------------------------------------------------------------------------------------------- geometry
def _affine(x: Tensor, mats: Tensor, fill: Tensor, mode: str) -> Tensor:
    """Warp float ``x`` [n,C,H,W] with per-sample 2x3 pixel-space matrices (output pixel -> input pixel,
    pixel centres at +0.5), outside filled with ``fill`` [C]."""
    n, _, h, w = x.shape
    to_pix = torch.tensor([[w / 2, 0, w / 2], [0, h / 2, h / 2], [0, 0, 1]], dtype=x.dtype, device=x.device)
    full = torch.eye(3, dtype=x.dtype, device=x.device).repeat(n, 1, 1)
    full[:, :2] = mats.to(x.device, x.dtype)
    theta = (torch.linalg.inv(to_pix) @ full @ to_pix)[:, :2]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    f = fill.view(1, -1, 1, 1).to(x)
    return F.grid_sample(x - f, grid, mode=mode, padding_mode="zeros", align_corners=False) + f


def _geometric_mats(ops: Sequence[str], levels: Tensor, h: int, w: int, translate_pct: float) -> Tensor:
    """timm's PIL affine coefficients per sample (levels already signed, in -1..1 of the max)."""
    n = len(ops)
    m = torch.zeros(n, 2, 3)
    m[:, 0, 0] = m[:, 1, 1] = 1.0
    name = torch.tensor([GEOMETRIC.index(op) for op in ops])
    v = levels.float()
    rot = name == 0
    m[:, 0, 1] = torch.where(name == 1, 0.3 * v, 0.0)  # ShearX
    m[:, 1, 0] = torch.where(name == 2, 0.3 * v, 0.0)  # ShearY
    m[:, 0, 2] = torch.where(name == 3, translate_pct * v * w, 0.0)  # TranslateXRel
    m[:, 1, 2] = torch.where(name == 4, translate_pct * v * h, 0.0)  # TranslateYRel
    if rot.any():  # PIL img.rotate(degrees) about the centre, counter-clockwise
        a = -torch.deg2rad(30.0 * v[rot])
        c, s = torch.cos(a), torch.sin(a)
        cx, cy = w / 2, h / 2
        m[rot] = torch.stack(
            [torch.stack([c, s, cx - c * cx - s * cy], 1), torch.stack([-s, c, cy + s * cx - c * cy], 1)], 1
        )
    return m


# ---------------------------------------------------------------------------------------------- colour
def _blend(degenerate: Tensor, img: Tensor, factor: Tensor) -> Tensor:
    """PIL ImageEnhance: degenerate + factor * (img - degenerate), per-sample factor, clipped to 0..255."""
    f = factor.to(img.device, torch.float32).view(-1, 1, 1, 1)
    return (degenerate + f * (img - degenerate)).clamp(0, 255)


def _gray(x: Tensor) -> Tensor:
    return TF.rgb_to_grayscale(x, num_output_channels=1)


def _smooth(x: Tensor) -> Tensor:
    """PIL's SMOOTH filter (kernel 1 1 1 / 1 5 1 / 1 1 1, / 13) inside, border pixels unchanged:
    (9 * 3x3 box mean + 4 * centre) / 13."""
    out = x.clone()
    box = F.avg_pool2d(x, 3, stride=1)
    out[..., 1:-1, 1:-1] = (9.0 * box + 4.0 * x[..., 1:-1, 1:-1]) / 13.0
    return out


def enhance(op: str, x: Tensor, factor: Tensor) -> Tensor:
    """Brightness / Color / Contrast / Sharpness with per-sample factors on float 0..255 images."""
    if op.startswith("Brightness"):
        return (x * factor.to(x.device, torch.float32).view(-1, 1, 1, 1)).clamp(0, 255)
    if op.startswith("Color"):
        return _blend(_gray(x).expand_as(x), x, factor)
    if op.startswith("Contrast"):
        return _blend(_gray(x).mean(dim=(1, 2, 3), keepdim=True).round().expand_as(x), x, factor)
    if op.startswith("Sharpness"):
        return _blend(_smooth(x), x, factor)
    raise ValueError(op)


class BatchRandAugment:
    """timm ``rand-m{M}-mstd{S}-inc1`` on a uint8 batch: per sample, ``num_layers`` ops drawn uniformly with
    replacement, each applied with probability ``prob`` at a magnitude ~ N(M, S) clipped to [0, mmax]."""

    def __init__(self, policy: str, fill: Sequence[int], interpolation: str = "bicubic") -> None:
        self.policy = policy
        self.p = parse_rand_augment(policy)
        self.fill = torch.tensor([float(f) for f in fill])
        self.mode = "bilinear" if interpolation not in ("bicubic", "nearest") else interpolation

    def _levels(self, n: int) -> tuple[Tensor, Tensor]:
        m, std, mmax = self.p["magnitude"], self.p["magnitude_std"], self.p["magnitude_max"]
        if std == float("inf"):
            mag = torch.rand(n) * m
        elif std > 0:
            mag = torch.normal(torch.full((n,), m), std)
        else:
            mag = torch.full((n,), m)
        mag = mag.clamp(0.0, mmax) / 10.0
        sign = torch.where(_rand(n) > 0.5, -1.0, 1.0)  # timm's _randomly_negate
        return mag, sign

    def __call__(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        table = RAND_OPS if self.p["increasing"] else RAND_OPS_INC0
        for _ in range(self.p["num_layers"]):
            op_idx = torch.randint(len(table), (b,))
            active = _rand(b) < self.p["prob"] if self.p["prob"] < 1.0 else torch.ones(b, dtype=torch.bool)
            mag, sign = self._levels(b)
            names = [table[k] if on else None for k, on in zip(op_idx.tolist(), active.tolist())]
            geo = [i for i, op in enumerate(names) if op in GEOMETRIC]
            if geo:  # all geometric ops of this layer in one warp
                idx = torch.tensor(geo)
                ops = [names[i] for i in geo]
                dev_idx = idx.to(x.device)
                x[dev_idx] = self.geometric(ops, x[dev_idx], mag[idx], sign[idx], self.fill, self.mode)
            for op in table:
                sel = torch.tensor([i for i, o in enumerate(names) if o == op], dtype=torch.int64)
                if len(sel) and op not in GEOMETRIC:
                    dev_sel = sel.to(x.device)
                    x[dev_sel] = self.apply(op, x[dev_sel], mag[sel], sign[sel])
        return x

    @staticmethod
    def geometric(
        ops: Sequence[str], x: Tensor, mag: Tensor, sign: Tensor, fill: Tensor, mode: str
    ) -> Tensor:
        """Rotate / ShearX / ShearY / TranslateXRel / TranslateYRel (one per sample) on uint8 ``x``."""
        mats = _geometric_mats(ops, mag * sign, x.shape[2], x.shape[3], 0.45)
        return _affine(x.float(), mats, fill, mode).round().clamp(0, 255).to(torch.uint8)

    @staticmethod
    def apply(op: str, x: Tensor, mag: Tensor, sign: Tensor) -> Tensor:
        """One colour/point op on uint8 ``x`` [n,3,H,W] with per-sample magnitudes (0..1) and signs."""
        dev = x.device
        if op == "AutoContrast":
            return TF.autocontrast(x)
        if op == "Equalize":
            return TF.equalize(x)
        if op == "Invert":
            return TF.invert(x)
        if op == "PosterizeIncreasing":  # keep 4 - int(4 m) high bits (0 bits: black, as our PIL patch)
            bits = 4 - (mag * 4).long()
            mask = ((0xFF << (8 - bits)) & 0xFF).to(torch.uint8).to(dev).view(-1, 1, 1, 1)
            return x & mask
        if op == "Posterize":  # keep int(4 m) high bits
            bits = (mag * 4).long()
            mask = ((0xFF << (8 - bits)) & 0xFF).to(torch.uint8).to(dev).view(-1, 1, 1, 1)
            return x & mask
        if op in ("SolarizeIncreasing", "Solarize"):  # invert pixels >= 256 - int(256 m) (inc0: int(256 m))
            level = (mag * 256).long().clamp(max=256)
            thresh = (256 - level if op == "SolarizeIncreasing" else level).to(dev).view(-1, 1, 1, 1)
            return torch.where(x.to(torch.int16) >= thresh, 255 - x, x)
        if op == "SolarizeAdd":  # add int(110 m) to pixels < 128
            add = (mag * 110).long().clamp(max=110).to(torch.uint8).to(dev).view(-1, 1, 1, 1)
            return torch.where(x < 128, x + add, x)  # < 128 + 110: no uint8 overflow
        if op.endswith("Increasing"):  # timm's _enhance_increasing_level_to_arg
            factor = (1.0 + sign * mag * 0.9).clamp(min=0.1)
        else:  # _enhance_level_to_arg: 0.1 .. 1.9, no sign
            factor = mag * 1.8 + 0.1
        return enhance(op, x.float(), factor).floor().to(torch.uint8)  # PIL truncates blends


# ----------------------------------------------------------------------------------------------- crops
def pad_crop(x: Tensor, padding: int = 4) -> Tensor:
    """torchvision RandomCrop(size, padding) per sample: zero padding, a random offset per image (one gather)."""
    b, c, h, w = x.shape
    wp = w + 2 * padding
    padded = F.pad(x, (padding, padding, padding, padding)).reshape(b, c, -1)
    oy = torch.randint(0, 2 * padding + 1, (b,))
    ox = torch.randint(0, 2 * padding + 1, (b,))
    dev = x.device
    base = (torch.arange(h, device=dev)[:, None] * wp + torch.arange(w, device=dev)[None, :]).reshape(1, -1)
    idx = (base + (oy * wp + ox).to(dev)[:, None])[:, None, :].expand(b, c, h * w)
    return padded.gather(2, idx).reshape(b, c, h, w)


def rrc_boxes(n: int, h: int, w: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> Tensor:
    """torchvision RandomResizedCrop.get_params for ``n`` images at once: [n, 4] = (top, left, height, width)."""
    area = h * w
    target = area * torch.empty(n, 10).uniform_(*scale)
    aspect = torch.exp(torch.empty(n, 10).uniform_(math.log(ratio[0]), math.log(ratio[1])))
    cw = torch.sqrt(target * aspect).round()
    ch = torch.sqrt(target / aspect).round()
    ok = (cw > 0) & (ch > 0) & (cw <= w) & (ch <= h)
    first = ok.float().argmax(dim=1)
    rows = torch.arange(n)
    cw, ch, has = cw[rows, first], ch[rows, first], ok.any(dim=1)
    in_ratio = w / h
    fw, fh = (w, round(w / ratio[0])) if in_ratio < ratio[0] else (w, h)
    if in_ratio > ratio[1]:
        fw, fh = round(h * ratio[1]), h
    cw, ch = torch.where(has, cw, float(fw)), torch.where(has, ch, float(fh))
    top = torch.where(has, (torch.rand(n) * (h - ch + 1)).floor(), ((h - ch) / 2).floor())
    left = torch.where(has, (torch.rand(n) * (w - cw + 1)).floor(), ((w - cw) / 2).floor())
    return torch.stack([top, left, ch, cw], dim=1)


def resized_crop(x: Tensor, boxes: Tensor, size: int, mode: str) -> Tensor:
    """Crop every image to its box and resize it to ``size`` (one grid_sample call); uint8 in and out."""
    b, _, h, w = x.shape
    top, left, ch, cw = boxes.unbind(1)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = cw / w, (2 * left + cw) / w - 1
    theta[:, 1, 1], theta[:, 1, 2] = ch / h, (2 * top + ch) / h - 1
    grid = F.affine_grid(theta.to(x.device), [b, x.shape[1], size, size], align_corners=False)
    out = F.grid_sample(x.float(), grid, mode=mode, padding_mode="border", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def hflip(x: Tensor, p: float) -> Tensor:
    flip = (_rand(x.shape[0]) < p).to(x.device).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


def color_jitter(x: Tensor, strength: float) -> Tensor:
    """torchvision ColorJitter(s, s, s) with per-sample factors (one random order per batch)."""
    b = x.shape[0]
    xf = x.float()
    for k in torch.randperm(3).tolist():
        factor = torch.empty(b).uniform_(max(0.0, 1 - strength), 1 + strength)
        xf = enhance(("Brightness", "Contrast", "Color")[k], xf, factor)
    return xf.floor().to(torch.uint8)


# -------------------------------------------------------------------------------------------- pipeline
class BatchTransform:
    """uint8 ``[B, 3, H, W]`` (any device) -> normalised float ``[B, 3, img_size, img_size]`` on that device."""

    def __init__(
        self,
        steps: list[Callable[[Tensor], Tensor]],
        mean: Sequence[float],
        std: Sequence[float],
        erasing: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.steps, self.mean, self.std, self.erasing = steps, list(mean), list(std), erasing

    def __call__(self, x: Tensor) -> Tensor:
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise ValueError(f"expected a uint8 [B, 3, H, W] batch, got {x.dtype} {list(x.shape)}")
        for step in self.steps:
            x = step(x)
        x = TF.normalize(x.float().div_(255.0), self.mean, self.std)
        if self.erasing is not None:
            x = self.erasing(x)
        return x


def build_batch_transform(
    is_train: bool,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    auto_augment: str | None = "rand-m9-mstd0.5-inc1",
    interpolation: str = "bicubic",
    reprob: float = 0.25,
    remode: str = "pixel",
    recount: int = 1,
    color_jitter_strength: float = 0.3,
    small_image_policy: str = "auto",
    hflip_prob: float = 0.5,
    device: torch.device | str = "cpu",
) -> BatchTransform:
    """The batched twin of ``build_transform`` (same options). Input images are the cache's: ``img_size``
    square for small images, a larger square to crop from for the ImageNet-style pipeline."""
    mean_t, std_t = _check_stats(mean, std)
    if not is_train:
        return BatchTransform([], mean_t, std_t)
    if not 0.0 <= reprob <= 1.0 or not 0.0 <= hflip_prob <= 1.0:
        raise ConfigError(f"reprob and hflip must be in [0, 1], got {reprob} and {hflip_prob}")
    small = small_image_policy == "small" or (small_image_policy == "auto" and img_size <= SMALL_IMAGE_MAX)
    mode = "bilinear" if interpolation == "random" else interpolation
    steps: list[Callable[[Tensor], Tensor]] = []
    if small:
        steps.append(pad_crop)
    else:
        steps.append(lambda x: resized_crop(x, rrc_boxes(x.shape[0], x.shape[2], x.shape[3]), img_size, mode))
    if hflip_prob > 0:
        steps.append(lambda x: hflip(x, hflip_prob))
    if _aa_enabled(auto_augment):
        fill = [min(255, round(255 * m)) for m in mean_t]
        steps.append(BatchRandAugment(str(auto_augment), fill, mode))
    elif color_jitter_strength and color_jitter_strength > 0:
        steps.append(lambda x: color_jitter(x, color_jitter_strength))
    erasing = None
    if reprob > 0:
        from timm.data.random_erasing import RandomErasing

        erasing = RandomErasing(reprob, mode=remode, max_count=recount, device=str(device))  # per sample
    return BatchTransform(steps, mean_t, std_t, erasing)
