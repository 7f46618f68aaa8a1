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

Crops are drawn in the original images' coordinates and mapped onto the cache's squares
(``deit.data.crops``).

Deliberate differences from the PIL path (same distribution of parameters, not bit-identical pixels):
sub-pixel interpolation details of the geometric ops and of the crops (see ``deit.data.crops``), and
colour jitter applies its three factors in one random order per batch instead of per image.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from deit.data.crops import (
    check_interpolation,
    is_small,
    pad_crop,
    pad_crop_sized,
    rand,
    random_resized_crop,
    sample,
)
from deit.data.transforms import _aa_enabled, _check_stats
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
    return sample(x - f, grid, mode, "zeros") + f


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
        self.mode = check_interpolation(interpolation)

    def _levels(self, n: int) -> tuple[Tensor, Tensor]:
        m, std, mmax = self.p["magnitude"], self.p["magnitude_std"], self.p["magnitude_max"]
        if std == float("inf"):
            mag = torch.rand(n) * m
        elif std > 0:
            mag = torch.normal(torch.full((n,), m), std)
        else:
            mag = torch.full((n,), m)
        mag = mag.clamp(0.0, mmax) / 10.0
        sign = torch.where(rand(n) > 0.5, -1.0, 1.0)  # timm's _randomly_negate
        return mag, sign

    def __call__(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        table = RAND_OPS if self.p["increasing"] else RAND_OPS_INC0
        for _ in range(self.p["num_layers"]):
            op_idx = torch.randint(len(table), (b,))
            active = rand(b) < self.p["prob"] if self.p["prob"] < 1.0 else torch.ones(b, dtype=torch.bool)
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


def hflip(x: Tensor, p: float) -> Tensor:
    flip = (rand(x.shape[0]) < p).to(x.device).view(-1, 1, 1, 1)
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
    """uint8 ``[B, 3, H, W]`` (any device) -> normalised float ``[B, 3, img_size, img_size]`` on that device.
    ``sizes`` [B, 2]: the originals' (height, width) when the batch holds resized copies (the cache's)."""

    def __init__(
        self,
        crop: Callable[[Tensor, Tensor | None], Tensor] | None,
        steps: list[Callable[[Tensor], Tensor]],
        mean: Sequence[float],
        std: Sequence[float],
        erasing: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.crop, self.steps, self.mean, self.std, self.erasing = crop, steps, list(mean), list(std), erasing

    def __call__(self, x: Tensor, sizes: Tensor | None = None) -> Tensor:
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise ValueError(f"expected a uint8 [B, 3, H, W] batch, got {x.dtype} {list(x.shape)}")
        if sizes is not None and tuple(sizes.shape) != (x.shape[0], 2):
            raise ValueError(f"sizes must be [B, 2] (height, width), got {list(sizes.shape)}")
        if self.crop is not None:
            x = self.crop(x, sizes)
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
    """The batched twin of ``build_transform`` (same options). Input images are the cache's squares
    (``deit.data.cache.cache_transform``), with the originals' sizes when they were resized; eval input is
    already the eval transform's crop (only normalised here)."""
    mean_t, std_t = _check_stats(mean, std)
    if not is_train:
        return BatchTransform(None, [], mean_t, std_t)
    if not 0.0 <= reprob <= 1.0 or not 0.0 <= hflip_prob <= 1.0:
        raise ConfigError(f"reprob and hflip must be in [0, 1], got {reprob} and {hflip_prob}")
    mode = check_interpolation(interpolation)

    def crop(x: Tensor, sizes: Tensor | None) -> Tensor:
        if not is_small(img_size, small_image_policy):
            return random_resized_crop(x, img_size, mode, sizes)
        return pad_crop(x) if sizes is None else pad_crop_sized(x, sizes, img_size, mode)

    steps: list[Callable[[Tensor], Tensor]] = []
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
    return BatchTransform(crop, steps, mean_t, std_t, erasing)
