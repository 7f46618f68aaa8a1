"""Small convolutional classifiers: teachers for small-image datasets and fast test teachers.

Every builder in :data:`CNN_MODELS` accepts ``(num_classes=1000, in_chans=3, **kwargs)`` and returns a
module with a ``num_classes`` attribute and a ``pretrained_cfg`` dict shaped like the DeiT model's
(``mean``, ``std``, ``img_size``, ``crop_pct``, ``interpolation``). Optional keyword arguments:
``img_size`` (recorded in ``pretrained_cfg`` only: the networks are fully convolutional with a global
pool), ``mean`` / ``std`` (the input normalisation the weights expect) and ``drop_rate`` (dropout
before the classifier).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from deit.errors import ModelError
from deit.models.vit import IMAGENET_MEAN, IMAGENET_STD

_ALLOWED_KWARGS = {"img_size", "mean", "std", "drop_rate"}


def _default_stats(in_chans: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if in_chans == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    # other channel counts: the channel-averaged ImageNet statistics, repeated
    return (sum(IMAGENET_MEAN) / 3,) * in_chans, (sum(IMAGENET_STD) / 3,) * in_chans


def _make_cfg(
    in_chans: int,
    img_size: int,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
) -> dict[str, Any]:
    d_mean, d_std = _default_stats(in_chans)
    mean = tuple(float(v) for v in (mean if mean is not None else d_mean))
    std = tuple(float(v) for v in (std if std is not None else d_std))
    if len(mean) != in_chans or len(std) != in_chans:
        raise ModelError(f"mean/std need {in_chans} values (one per input channel), got {mean} / {std}")
    return {"mean": mean, "std": std, "img_size": int(img_size), "crop_pct": 1.0, "interpolation": "bilinear"}


def _check_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - _ALLOWED_KWARGS)
    if unknown:
        raise ModelError(f"{name} got unsupported argument(s) {unknown}; allowed: {sorted(_ALLOWED_KWARGS)}")


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _Classifier(nn.Module):
    """Shared tail: global average pool, dropout, linear head; ``forward_features`` gives the map."""

    num_classes: int
    pretrained_cfg: dict[str, Any]

    def _init_head(self, num_features: int, num_classes: int, drop_rate: float) -> None:
        self.num_classes = num_classes
        self.num_features = num_features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(num_features, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def forward_head(self, x: Tensor) -> Tensor:
        return self.fc(self.drop(torch.flatten(self.pool(x), 1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)


class TinyCNN(_Classifier):
    """Three conv-BN-ReLU stages (strides 1, 2, 2) + global pool + linear; works for inputs >= 4 px."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        widths: Sequence[int] = (16, 32, 64),
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_chans
        for i, w in enumerate(widths):
            layers.append(_conv_bn_relu(cin, w, stride=1 if i == 0 else 2))
            cin = w
        self.features = nn.Sequential(*layers)
        self._init_head(cin, num_classes, drop_rate)
        self._init_weights()

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN, identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.downsample(x))


class CifarResNet(_Classifier):
    """ResNet for small (e.g. 32 px) images: 3x3 stride-1 stem, no max-pool, BasicBlock stages.

    The first stage keeps the resolution, every later stage halves it.
    """

    def __init__(
        self,
        layers: Sequence[int],
        widths: Sequence[int],
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if len(layers) != len(widths):
            raise ModelError(f"layers {list(layers)} and widths {list(widths)} must have the same length")
        self.stem = _conv_bn_relu(in_chans, widths[0])
        stages: list[nn.Module] = []
        cin = widths[0]
        for i, (n, w) in enumerate(zip(layers, widths)):
            blocks = [BasicBlock(cin, w, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(w, w) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = w
        self.stages = nn.Sequential(*stages)
        self._init_head(cin, num_classes, drop_rate)
        self._init_weights()
        # zero-init the last BN of each residual branch: every block starts as the identity
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))


def _finish(model: _Classifier, in_chans: int, kwargs: dict[str, Any], default_img_size: int) -> _Classifier:
    img_size = kwargs.get("img_size") or default_img_size
    model.pretrained_cfg = _make_cfg(in_chans, img_size, kwargs.get("mean"), kwargs.get("std"))
    return model


def tiny_cnn(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> nn.Module:
    """~25k parameters (+ 65 per class); for tests and the digits demo (8..64 px inputs)."""
    _check_kwargs("tiny_cnn", kwargs)
    model = TinyCNN(num_classes, in_chans, drop_rate=kwargs.get("drop_rate", 0.0))
    return _finish(model, in_chans, kwargs, default_img_size=32)


def resnet8_cifar(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> nn.Module:
    """ResNet-8 (He et al. CIFAR family, one block per stage, widths 16/32/64): ~78k params, fast on CPU."""
    _check_kwargs("resnet8_cifar", kwargs)
    model = CifarResNet((1, 1, 1), (16, 32, 64), num_classes, in_chans, kwargs.get("drop_rate", 0.0))
    return _finish(model, in_chans, kwargs, default_img_size=32)


def resnet20_cifar(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> nn.Module:
    """ResNet-20 (three blocks per stage, widths 16/32/64): ~0.27M params."""
    _check_kwargs("resnet20_cifar", kwargs)
    model = CifarResNet((3, 3, 3), (16, 32, 64), num_classes, in_chans, kwargs.get("drop_rate", 0.0))
    return _finish(model, in_chans, kwargs, default_img_size=32)


def resnet18_cifar(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> nn.Module:
    """ResNet-18 for 32 px images (stages [2, 2, 2, 2] x 64/128/256/512, no max-pool): ~11.2M params."""
    _check_kwargs("resnet18_cifar", kwargs)
    model = CifarResNet(
        (2, 2, 2, 2), (64, 128, 256, 512), num_classes, in_chans, kwargs.get("drop_rate", 0.0)
    )
    return _finish(model, in_chans, kwargs, default_img_size=32)


CNN_MODELS: dict[str, Callable[..., nn.Module]] = {
    "tiny_cnn": tiny_cnn,
    "resnet8_cifar": resnet8_cifar,
    "resnet20_cifar": resnet20_cifar,
    "resnet18_cifar": resnet18_cifar,
}

__all__ = [
    "CNN_MODELS",
    "BasicBlock",
    "CifarResNet",
    "TinyCNN",
    "resnet8_cifar",
    "resnet18_cifar",
    "resnet20_cifar",
    "tiny_cnn",
]
