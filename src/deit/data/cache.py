"""Decode a dataset once into a uint8 tensor and serve augmented batches from it (``--data-cache``).

``memory``: the images live in host memory, batches are augmented where the model trains (the batch is
moved first). ``device``: the images live on the training device too (a CUDA card holds CIFAR-10 in
150 MB), so no host work is left per step but indexing. Either way the per-image PIL pipeline and its
DataLoader workers are gone: what lets a 32-px run be bound by the model, not the loader.

    cache = decode_to_tensor(dataset_with_cache_transform, workers=8)   # ImagesTensor
    loader = CachedLoader(cache, indices, batch_size, transform, device)  # yields (images, targets)

A training image is stored whole as an S x S copy (``cache_size``) plus its original height and width, so
the batched transform draws crops in the original's coordinates as the PIL path does; ``cache_bytes`` says
what a dataset will take before it is decoded.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader
from torchvision import transforms as T

from deit.data.batch_aug import is_small
from deit.data.transforms import _interp
from deit.errors import ConfigError

log = logging.getLogger("deit.data")


def cache_size(img_size: int, small_image_policy: str = "auto", crop_pct: float = 0.875) -> int:
    """Side S of the stored squares: ``img_size`` for small images (the pipeline only pads and crops);
    ``max(img_size, floor(img_size / crop_pct))`` for the ImageNet-style pipeline, so that its
    random-resized crops are resampled from as many pixels as the eval transform's resize keeps."""
    if not 0.0 < crop_pct <= 1.0:
        raise ConfigError(f"--crop-pct must be in (0, 1], got {crop_pct}")
    if is_small(img_size, small_image_policy):
        return img_size
    return max(img_size, int(math.floor(img_size / crop_pct)))


def cache_bytes(n: int, img_size: int, crop_pct: float = 0.875, small_image_policy: str = "auto") -> int:
    """Host (or device) bytes a ``--data-cache`` of ``n`` training images takes: uint8 S x S x 3 each plus
    its original height and width (int64); the validation cache adds ``n_val * 3 * img_size**2``."""
    side = cache_size(img_size, small_image_policy, crop_pct)
    return n * (3 * side * side + 2 * 8)


class StoreTransform:
    """PIL RGB -> (uint8 ``[3, size, size]``, int64 ``[2]`` original (height, width)): the WHOLE image
    resized to ``size`` x ``size`` (aspect not kept; a no-op for images already that size), no
    normalisation. The batched transform draws its crops in the original image's coordinates and maps
    them onto this copy (``deit.data.batch_aug``), so borders and aspect are seen as in the PIL path."""

    def __init__(self, size: int, interpolation: str = "bicubic") -> None:
        interp = _interp("bicubic" if interpolation == "random" else interpolation)
        self.resize = T.Resize((size, size), interpolation=interp)

    def __call__(self, img: Image.Image) -> tuple[Tensor, Tensor]:
        return T.functional.pil_to_tensor(self.resize(img)), torch.tensor([img.height, img.width])


def cache_transform(size: int, interpolation: str = "bicubic") -> StoreTransform:
    """The training set's transform under ``--data-cache``: see ``StoreTransform``."""
    return StoreTransform(size, interpolation)


@dataclass
class ImagesTensor:
    images: Tensor  # uint8 [N, 3, S, S]
    targets: Tensor  # int64 [N]
    sizes: Tensor | None = None  # int64 [N, 2] original (height, width), CPU; None: stored as they came

    def __len__(self) -> int:
        return len(self.targets)

    def to(self, device: torch.device | str) -> ImagesTensor:
        return ImagesTensor(self.images.to(device), self.targets.to(device), self.sizes)


def _check_fits(data: ImagesTensor, device: torch.device) -> None:
    """The images go to the device (their original sizes stay on the host): at most half its free memory."""
    need, (n, _, size, _) = data.images.nbytes, data.images.shape
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if need > 0.5 * free:
            raise ConfigError(
                f"--data-cache device: {n} images of {size}x{size} need {need / 2**30:.1f} GiB, more than half "
                f"of the {free / 2**30:.1f} GiB free on {device}; use --data-cache memory or none"
            )


def decode_to_tensor(dataset: object, workers: int = 0, batch_size: int = 256) -> ImagesTensor:
    """Run ``dataset`` (whose transform yields uint8 ``[3, S, S]``, or ``cache_transform``'s pair with the
    original size) once, in ``workers`` processes, into one uint8 tensor; the order is the dataset's."""
    n = len(dataset)  # type: ignore[arg-type]
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)  # type: ignore[arg-type]
    images: Tensor | None = None
    sizes: Tensor | None = None
    targets = torch.empty(n, dtype=torch.int64)
    pos = 0
    for x, y in loader:
        hw = None
        if isinstance(x, (list, tuple)) and len(x) == 2:
            x, hw = x
        if not isinstance(x, Tensor) or x.dtype != torch.uint8:
            raise TypeError(
                "decode_to_tensor: the dataset's transform must return uint8 tensors (cache_transform)"
            )
        if images is None:
            images = torch.empty((n, *x.shape[1:]), dtype=torch.uint8)
            sizes = None if hw is None else torch.empty((n, 2), dtype=torch.int64)
        images[pos : pos + len(x)] = x
        if sizes is not None and hw is not None:
            sizes[pos : pos + len(x)] = hw
        targets[pos : pos + len(x)] = y
        pos += len(x)
    if images is None:
        raise ValueError("decode_to_tensor: empty dataset")
    return ImagesTensor(images, targets, sizes)


class CachedLoader:
    """Batches of ``indices`` (the sampler's order) from an ``ImagesTensor``, augmented by ``transform`` on
    ``device`` (called as ``transform(images, sizes)`` when the cache knows the original sizes); the last
    incomplete batch is dropped when ``drop_last``. Iterable like a DataLoader."""

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
        store, sizes = self.data.images.device, self.data.sizes
        for i in range(len(self)):
            cpu_idx = self.indices[i * self.batch_size : (i + 1) * self.batch_size]
            idx = cpu_idx.to(store)
            x = self.data.images.index_select(0, idx).to(self.device, non_blocking=True)
            y = self.data.targets.index_select(0, idx).to(self.device, non_blocking=True)
            if sizes is None:
                yield self.transform(x), y
            else:
                yield self.transform(x, sizes.index_select(0, cpu_idx)), y


def build_cache(dataset: object, mode: str, device: torch.device, workers: int) -> ImagesTensor:
    """Decode once; keep on the host (``memory``) or move to ``device`` (``device``)."""
    if mode not in ("memory", "device"):
        raise ConfigError(f"--data-cache must be none, memory or device, got {mode!r}")
    data = decode_to_tensor(dataset, workers=workers)
    if mode == "device":
        _check_fits(data, device)
        data = data.to(device)
    elif device.type == "cuda":
        data = ImagesTensor(data.images.pin_memory(), data.targets.pin_memory(), data.sizes)
    log.info(
        "--data-cache %s: %d images of %dx%d decoded into %s (%.0f MB)",
        mode,
        len(data),
        data.images.shape[-2],
        data.images.shape[-1],
        data.images.device,
        data.images.numel() / 2**20,
    )
    return data
