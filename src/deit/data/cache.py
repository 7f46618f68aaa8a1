"""Decode a dataset once into a uint8 tensor and serve augmented batches from it (``--data-cache``).

``memory``: the images live in host memory, batches are augmented where the model trains (the batch is
moved first). ``device``: the images live on the training device too (a CUDA card holds CIFAR-10 in
150 MB), so no host work is left per step but indexing. Either way the per-image PIL pipeline and its
DataLoader workers are gone: what lets a 32-px run be bound by the model, not the loader.

    cache = decode_to_tensor(dataset_with_cache_transform, workers=8)   # ImagesTensor
    loader = CachedLoader(cache, indices, batch_size, transform, device)  # yields (images, targets)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torchvision import transforms as T

from deit.data.transforms import SMALL_IMAGE_MAX, _interp
from deit.errors import ConfigError

log = logging.getLogger("deit.data")


def cache_size(img_size: int, small_image_policy: str = "auto", crop_pct: float = 0.875) -> int:
    """Side of the cached squares: ``img_size`` for small images (the pipeline only pads and crops);
    ``img_size / crop_pct`` for the ImageNet-style pipeline, whose random-resized-crop needs room."""
    small = small_image_policy == "small" or (small_image_policy == "auto" and img_size <= SMALL_IMAGE_MAX)
    return img_size if small else int(math.floor(img_size / crop_pct))


def cache_transform(size: int, interpolation: str = "bicubic") -> Callable:
    """PIL RGB -> uint8 ``[3, size, size]``: Resize(size) + CenterCrop(size) (a no-op for images already
    that size), no normalisation."""
    interp = _interp("bilinear" if interpolation == "random" else interpolation)
    return T.Compose([T.Resize(size, interpolation=interp), T.CenterCrop(size), T.PILToTensor()])


@dataclass
class ImagesTensor:
    images: Tensor  # uint8 [N, 3, S, S]
    targets: Tensor  # int64 [N]

    def __len__(self) -> int:
        return len(self.targets)

    def to(self, device: torch.device | str) -> ImagesTensor:
        return ImagesTensor(self.images.to(device), self.targets.to(device))


def _check_fits(n: int, size: int, device: torch.device) -> None:
    need = n * 3 * size * size
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if need > 0.5 * free:
            raise ConfigError(
                f"--data-cache device: {n} images of {size}x{size} need {need / 2**30:.1f} GiB, more than half "
                f"of the {free / 2**30:.1f} GiB free on {device}; use --data-cache memory or none"
            )


def decode_to_tensor(dataset: object, workers: int = 0, batch_size: int = 256) -> ImagesTensor:
    """Run ``dataset`` (whose transform yields uint8 ``[3, S, S]``) once, in ``workers`` processes, into one
    uint8 tensor; the order is the dataset's."""
    n = len(dataset)  # type: ignore[arg-type]
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)  # type: ignore[arg-type]
    images: Tensor | None = None
    targets = torch.empty(n, dtype=torch.int64)
    pos = 0
    for x, y in loader:
        if not isinstance(x, Tensor) or x.dtype != torch.uint8:
            raise TypeError(
                "decode_to_tensor: the dataset's transform must return uint8 tensors (cache_transform)"
            )
        if images is None:
            images = torch.empty((n, *x.shape[1:]), dtype=torch.uint8)
        images[pos : pos + len(x)] = x
        targets[pos : pos + len(x)] = y
        pos += len(x)
    if images is None:
        raise ValueError("decode_to_tensor: empty dataset")
    return ImagesTensor(images, targets)


class CachedLoader:
    """Batches of ``indices`` (the sampler's order) from an ``ImagesTensor``, augmented by ``transform`` on
    ``device``; the last incomplete batch is dropped when ``drop_last``. Iterable like a DataLoader."""

    def __init__(
        self,
        data: ImagesTensor,
        indices: Sequence[int],
        batch_size: int,
        transform: Callable[[Tensor], Tensor],
        device: torch.device,
        drop_last: bool = True,
    ) -> None:
        self.data, self.batch_size, self.transform, self.device = data, batch_size, transform, device
        self.indices = torch.as_tensor(list(indices), dtype=torch.int64)
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.indices)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        store = self.data.images.device
        for i in range(len(self)):
            idx = self.indices[i * self.batch_size : (i + 1) * self.batch_size].to(store)
            x = self.data.images.index_select(0, idx).to(self.device, non_blocking=True)
            y = self.data.targets.index_select(0, idx).to(self.device, non_blocking=True)
            yield self.transform(x), y


def build_cache(dataset: object, mode: str, device: torch.device, workers: int) -> ImagesTensor:
    """Decode once; keep on the host (``memory``) or move to ``device`` (``device``)."""
    if mode not in ("memory", "device"):
        raise ConfigError(f"--data-cache must be none, memory or device, got {mode!r}")
    data = decode_to_tensor(dataset, workers=workers)
    if mode == "device":
        _check_fits(len(data), data.images.shape[-1], device)
        data = data.to(device)
    elif device.type == "cuda":
        data = ImagesTensor(data.images.pin_memory(), data.targets.pin_memory())
    log.info(
        "--data-cache %s: %d images decoded into %s (%.0f MB)",
        mode,
        len(data),
        data.images.device,
        data.images.numel() / 2**20,
    )
    return data
