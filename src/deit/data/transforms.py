"""Image decoding to RGB and the DeiT train / eval transform pipelines.

``load_image`` is the single place where files become RGB ``PIL.Image`` objects (datasets, the dataset
checker and prediction use it), so every image mode is converted the same way everywhere.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision import transforms as T

from deit.errors import ConfigError
from deit.models.vit import IMAGENET_MEAN, IMAGENET_STD

IMG_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".webp",
    ".tif",
    ".tiff",
    ".gif",
    ".ppm",
    ".pgm",
)
SMALL_IMAGE_MAX = 32  # img_size <= this uses the CIFAR-style pipeline under small_image_policy="auto"


class ImageLoadError(Exception):
    """A file could not be decoded as an image; ``reason`` says why (datasets turn it into DataError)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode ``path`` (first frame, EXIF orientation applied); keeps the file's mode.

    Raises ImageLoadError for zero-byte, truncated, non-image or decompression-bomb files.
    """
    path = Path(path)
    try:
        empty = path.stat().st_size == 0
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "file not found") from exc
    return _decode(path, path, empty)


def decode_image_bytes(data: bytes, name: str) -> Image.Image:
    """``load_image`` for image bytes held in memory (a shard member, a dataset cell); ``name`` names the
    sample in errors. The same decoding and RGB conversion as files."""
    return to_rgb(_decode(io.BytesIO(data), name, len(data) == 0))


def _decode(source: Any, name: str | Path, empty: bool) -> Image.Image:
    try:
        if empty:
            raise ImageLoadError(name, "empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF / palette / DecompressionBomb *warnings*: not fatal
            with Image.open(source) as img:
                img.seek(0)
                img.load()  # full decode: truncated files fail here, not later in a worker
                try:
                    out = ImageOps.exif_transpose(img)
                except Exception:  # malformed EXIF: keep the decoded pixels as stored
                    out = None
                return img.copy() if out is None or out is img else out
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(name, f"too many pixels ({exc})") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageLoadError(name, "not an image file (unrecognised format)") from exc
    except FileNotFoundError as exc:
        raise ImageLoadError(name, "file not found") from exc
    except OSError as exc:
        msg = str(exc)
        reason = "truncated or corrupt image" if "truncated" in msg.lower() else "cannot decode"
        raise ImageLoadError(name, f"{reason} ({msg})") from exc
    except Exception as exc:  # decoders raise ValueError, SyntaxError, struct.error, EOFError, ...
        raise ImageLoadError(name, f"corrupt image ({type(exc).__name__}: {exc})") from exc


def _scale_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Map high-bit-depth single-channel data to 0..255 by scaling (never clipping a 16-bit range)."""
    if mode.startswith("I;16") or arr.dtype == np.uint16:
        return np.round(arr.astype(np.float64) / 257.0).astype(np.uint8)
    if mode == "F":
        a = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0.0 and hi <= 1.0:  # float images are conventionally 0..1
            a = a * 255.0
        elif not (lo >= 0.0 and hi <= 255.0):  # arbitrary range: min-max stretch
            a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        return np.clip(np.round(a), 0, 255).astype(np.uint8)
    # mode "I" (32-bit int): PIL's decoding of 16-bit PNG/TIFF data; treat it as a 16-bit range
    a = arr.astype(np.float64)
    if a.min() < 0 or a.max() > 65535:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 65535.0 if hi > lo else np.zeros_like(a)
    return np.round(a / 257.0).astype(np.uint8)


def to_rgb(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB.

    Transparency (RGBA, LA, PA, palette with transparency) is composited onto ``background`` (white)
    instead of dropping the alpha channel, whose hidden colours are undefined. 16-bit / 32-bit integer
    and float modes are scaled to 0..255, not clipped. CMYK and YCbCr use PIL's conversions.
    """
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode in ("I", "F") or mode.startswith("I;16"):
        gray = Image.fromarray(_scale_to_uint8(np.asarray(img), mode))
        return gray.convert("RGB")
    if mode == "LAB":  # PIL's plain convert() copies LAB channels as if they were RGB
        from PIL import ImageCms

        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        return ImageCms.applyTransform(img, ImageCms.buildTransformFromOpenProfiles(lab, srgb, "LAB", "RGB"))
    if mode in ("P", "L", "RGB") and "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode in ("PA", "RGBa"):
        img = img.convert("RGBA")
    elif mode == "La":
        img = img.convert("LA")
    if img.mode in ("RGBA", "LA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def load_image(path: str | Path) -> Image.Image:
    """``open_image`` + ``to_rgb``: the RGB image every dataset returns. Raises ImageLoadError."""
    return to_rgb(open_image(path))


# --------------------------------------------------------------------------------------------- transforms
def _check_stats(mean: Sequence[float], std: Sequence[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    mean_t, std_t = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean_t) != 3 or len(std_t) != 3:
        raise ConfigError(f"mean/std need 3 values (RGB), got mean={mean_t} std={std_t}")
    if any(s <= 0 for s in std_t):
        raise ConfigError(f"std values must be > 0, got {std_t}")
    return mean_t, std_t


_RANDOM_INTERP = "random"


def _resize(size: int, interp: T.InterpolationMode | str) -> Callable:
    if interp == _RANDOM_INTERP:
        return T.RandomChoice([_resize(size, _interp(n)) for n in ("bilinear", "bicubic")])
    return T.Resize(size, interpolation=interp)


def _interp(name: str) -> T.InterpolationMode | str:
    table = {
        "bicubic": T.InterpolationMode.BICUBIC,
        "bilinear": T.InterpolationMode.BILINEAR,
        "nearest": T.InterpolationMode.NEAREST,
        "lanczos": T.InterpolationMode.LANCZOS,
        "box": T.InterpolationMode.BOX,
        "hamming": T.InterpolationMode.HAMMING,
    }
    if name == "random":
        return _RANDOM_INTERP
    if name not in table:
        raise ConfigError(f"interpolation must be one of {sorted(table)}, got {name!r}")
    return table[name]


def _aa_enabled(auto_augment: str | None) -> bool:
    return bool(auto_augment) and str(auto_augment).lower() not in ("none", "null", "false", "")


def _posterize_any_bits(img: Image.Image, bits_to_keep: int, **_: Any) -> Image.Image:
    """timm's posterize op, valid for 0 bits too. RandAugment "inc1" at magnitude >= 10 asks for 0 bits
    (an all-black image, what Pillow < 12 returned); Pillow >= 12 raises ValueError for it instead."""
    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return ImageOps.posterize(img, bits_to_keep)


def _fix_posterize(transform: Any) -> Any:
    """Swap timm's posterize for :func:`_posterize_any_bits` in the augmentation ops of ``transform``
    only (Compose -> RandAugment / AutoAugment / AugMix -> AugmentOp); timm's tables stay untouched."""
    from timm.data import auto_augment

    stack = [transform]
    while stack:
        t = stack.pop()
        if isinstance(t, (list, tuple)):
            stack.extend(t)
        elif isinstance(t, auto_augment.AugmentOp):
            if t.aug_fn is auto_augment.posterize:
                t.aug_fn = _posterize_any_bits
        else:
            stack.extend(getattr(t, a) for a in ("transforms", "ops", "policy") if hasattr(t, a))
    return transform


def _small_auto_augment(auto_augment: str, img_size: int, mean: Sequence[float], interpolation: str):
    from timm.data.auto_augment import (
        augment_and_mix_transform,
        auto_augment_transform,
        rand_augment_transform,
    )
    from timm.data.transforms import str_to_pil_interp

    hparams: dict[str, Any] = {
        "translate_const": int(img_size * 0.45),
        "img_mean": tuple(min(255, round(255 * m)) for m in mean),
        "interpolation": (
            (str_to_pil_interp("bilinear"), str_to_pil_interp("bicubic"))  # random per op, as timm
            if interpolation == "random"
            else str_to_pil_interp(interpolation)
        ),
    }
    if auto_augment.startswith("rand"):
        return _fix_posterize(rand_augment_transform(auto_augment, hparams))
    if auto_augment.startswith("augmix"):
        hparams["translate_pct"] = 0.3
        return _fix_posterize(augment_and_mix_transform(auto_augment, hparams))
    return _fix_posterize(auto_augment_transform(auto_augment, hparams))


def eval_resize_size(img_size: int, crop_pct: float = 0.875, small_image_policy: str = "auto") -> int:
    """The shorter side the eval transform resizes to before its ``img_size`` centre crop:
    ``floor(img_size / crop_pct)``, or ``img_size`` itself for small images (the crop only squares them)."""
    if small_image_policy == "small" or (small_image_policy == "auto" and img_size <= SMALL_IMAGE_MAX):
        return int(img_size)
    if not 0.0 < crop_pct <= 1.0:
        raise ConfigError(f"crop_pct must be in (0, 1], got {crop_pct}")
    return int(math.floor(img_size / crop_pct))


def build_transform(
    is_train: bool,
    img_size: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    *,
    auto_augment: str | None = "rand-m9-mstd0.5-inc1",
    interpolation: str = "bicubic",
    reprob: float = 0.25,
    remode: str = "pixel",
    recount: int = 1,
    color_jitter: float = 0.3,
    crop_pct: float = 0.875,
    small_image_policy: str = "auto",
    hflip: float = 0.5,
) -> Callable[[Image.Image], torch.Tensor]:
    """DeiT transforms: PIL RGB image -> normalised ``[3, img_size, img_size]`` float tensor.

    ``small_image_policy``: "auto" (img_size <= 32 uses the CIFAR-style pipeline), "small" (always) or
    "large" (never; always the ImageNet pipeline).

    * train, large: timm ``create_transform`` exactly as official DeiT (RandomResizedCrop, flip,
      RandAugment, colour jitter when no auto-augment, RandomErasing).
    * train, small: Resize(img_size) (a no-op for images already that size) + RandomCrop(img_size,
      padding=4) + flip (probability ``hflip``), optional auto-augment (timm, fill = dataset mean), ToTensor, Normalize,
      RandomErasing (timm, cpu) when ``reprob > 0``.
    * eval, large: Resize(int(img_size / crop_pct)) + CenterCrop(img_size).
    * eval, small: Resize(img_size) + CenterCrop(img_size) (no crop_pct; the centre crop only squares
      non-square inputs).
    """
    if int(img_size) <= 0:
        raise ConfigError(f"img_size must be a positive integer, got {img_size}")
    img_size = int(img_size)
    mean_t, std_t = _check_stats(mean, std)
    # "random" (train only): bilinear or bicubic per image, as timm's RandomResizedCropAndInterpolation
    interp = _interp("bicubic" if interpolation == "random" and not is_train else interpolation)
    if small_image_policy not in ("auto", "small", "large"):
        raise ConfigError(
            f"small_image_policy must be 'auto', 'small' or 'large', got {small_image_policy!r}"
        )
    if not 0.0 <= reprob <= 1.0:
        raise ConfigError(f"reprob must be in [0, 1], got {reprob}")
    if not 0.0 <= hflip <= 1.0:
        raise ConfigError(f"hflip must be in [0, 1], got {hflip}")
    small = small_image_policy == "small" or (small_image_policy == "auto" and img_size <= SMALL_IMAGE_MAX)
    aa = str(auto_augment) if _aa_enabled(auto_augment) else None
    normalize = T.Normalize(mean_t, std_t)

    if not is_train:
        resize = eval_resize_size(img_size, crop_pct, small_image_policy)
        steps = [T.Resize(resize, interpolation=interp), T.CenterCrop(img_size)]
        return T.Compose([*steps, T.ToTensor(), normalize])

    if not small:
        from timm.data import create_transform

        return _fix_posterize(
            create_transform(
                input_size=img_size,
                is_training=True,
                color_jitter=color_jitter,
                auto_augment=aa,
                interpolation=interpolation,
                re_prob=reprob,
                re_mode=remode,
                re_count=recount,
                mean=mean_t,
                std=std_t,
                hflip=hflip,
            )
        )

    steps = [_resize(img_size, interp), T.RandomCrop(img_size, padding=4)]
    if hflip > 0:  # 0 for data whose classes are not mirror-invariant (digits, text)
        steps.append(T.RandomHorizontalFlip(hflip))
    if aa is not None:
        steps.append(_small_auto_augment(aa, img_size, mean_t, interpolation))
    elif color_jitter and color_jitter > 0:
        steps.append(T.ColorJitter(color_jitter, color_jitter, color_jitter))
    steps += [T.ToTensor(), normalize]
    if reprob > 0:
        from timm.data.random_erasing import RandomErasing

        steps.append(RandomErasing(reprob, mode=remode, max_count=recount, device="cpu"))
    return T.Compose(steps)


def compute_mean_std(images: Iterable[Any], max_images: int | None = 5000) -> tuple[list[float], list[float]]:
    """Per-channel mean/std (0..1 scale) of an iterable of PIL images, ``(image, label)`` pairs or tensors."""
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    for i, item in enumerate(images):
        if max_images is not None and i >= max_images:
            break
        img = item[0] if isinstance(item, (tuple, list)) else item
        x = img if isinstance(img, torch.Tensor) else T.functional.to_tensor(to_rgb(img))
        x = x.double().reshape(3, -1)
        total += x.sum(1)
        total_sq += (x * x).sum(1)
        count += x.shape[1]
    if count == 0:
        raise ValueError("compute_mean_std: no images")
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
    return mean.tolist(), std.tolist()
