"""The eval transform of a transformers folder: what its ``preprocessor_config.json`` makes transformers do.

``deit predict``/``eval``/``analyze`` on a transformers DeiT/ViT folder preprocess each image as
``transformers.pipeline("image-classification", model=folder)`` does with its default (torchvision) image
processor backend, so that both give the same top-1: the uint8 image is resized as a tensor (antialiased),
centre-cropped at ``floor((size - crop) / 2)`` (zero-padded when smaller), then rescaled and normalised.
The settings come from :func:`deit.models.hf_preprocess.read_image_processor` (defaults of the processor
class filled in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F  # as transformers: uint8 tensors resize as uint8

# PIL resampling codes as transformers maps them to torchvision (nearest is torchvision's NEAREST_EXACT)
_RESAMPLE = {
    0: InterpolationMode.NEAREST_EXACT,
    1: InterpolationMode.LANCZOS,
    2: InterpolationMode.BILINEAR,
    3: InterpolationMode.BICUBIC,
    4: InterpolationMode.BOX,
    5: InterpolationMode.HAMMING,
}


def _resized_hw(height: int, width: int, size: dict[str, int]) -> tuple[int, int]:
    if "shortest_edge" in size:  # torchvision's Resize(int) rule, as transformers computes it
        short, long = sorted((height, width))
        new_short, new_long = size["shortest_edge"], int(size["shortest_edge"] * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)
    return size["height"], size["width"]


def _center_crop(img: torch.Tensor, height: int, width: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    if height > h or width > w:  # transformers pads a too-small image with zeros, then crops
        pad = [(width - w) // 2, (height - h) // 2, (width - w + 1) // 2, (height - h + 1) // 2]
        img = F.pad(img, [max(p, 0) for p in pad], fill=0)
        h, w = img.shape[-2:]
    top, left = int((h - height) / 2.0), int((w - width) / 2.0)
    return img[..., top : top + height, left : left + width]


def processor_transform(processor: dict[str, Any]) -> Callable[[Image.Image], torch.Tensor]:
    """PIL RGB image -> ``[3, H, W]`` float tensor, as transformers preprocesses with ``processor``
    (the dict returned by :func:`deit.models.hf_preprocess.read_image_processor`)."""
    interpolation = _RESAMPLE[processor["resample"]]
    mean = torch.tensor(processor["image_mean"], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(processor["image_std"], dtype=torch.float32).view(-1, 1, 1)
    scale = processor["rescale_factor"] if processor["do_rescale"] else 1.0

    def transform(image: Image.Image) -> torch.Tensor:
        img = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()
        if processor["do_resize"]:
            hw = _resized_hw(img.shape[-2], img.shape[-1], processor["size"])
            img = F.resize(img, list(hw), interpolation=interpolation, antialias=True)
        if processor["do_center_crop"]:
            img = _center_crop(img, processor["crop_size"]["height"], processor["crop_size"]["width"])
        x = img.float() * scale
        return (x - mean) / std if processor["do_normalize"] else x

    return transform


__all__ = ["processor_transform"]
