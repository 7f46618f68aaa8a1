"""The cached data path (--data-cache) sees what the PIL path sees: crops drawn in the original image's
coordinates for any size and aspect (borders, crop scale, aspect), --crop-pct and the interpolation
options honoured, and the cached eval images equal to the PIL eval transform."""

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deit.builders import build_cached_loaders, build_data
from deit.config import TrainConfig
from deit.data import IMAGENET_MEAN, IMAGENET_STD, build_transform
from deit.data.batch_aug import build_batch_transform
from deit.data.cache import (
    CachedLoader,
    cache_bytes,
    cache_size,
    cache_transform,
    decode_to_tensor,
)
from deit.data.crops import rrc_boxes
from deit.data.transforms import load_image

MEAN, STD = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
CROP_ONLY = dict(auto_augment=None, reprob=0.0, hflip=0.0, color_jitter=0.0)  # build_transform's names
BATCH_CROP_ONLY = dict(auto_augment=None, reprob=0.0, hflip_prob=0.0, color_jitter_strength=0.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * STD + MEAN).mul(255).round().clamp(0, 255)


def both_paths(
    img: Image.Image, n: int, img_size: int, policy: str, interpolation: str = "bicubic"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` crops (no other augmentation) of one image through the PIL path and the cached path, 0..255."""
    random.seed(0)
    torch.manual_seed(0)
    pil = build_transform(True, img_size, small_image_policy=policy, interpolation=interpolation, **CROP_ONLY)
    ref = torch.stack([pil(img) for _ in range(n)])
    stored, hw = cache_transform(cache_size(img_size, policy), interpolation)(img)
    batch = build_batch_transform(
        True,
        img_size,
        IMAGENET_MEAN,
        IMAGENET_STD,
        small_image_policy=policy,
        interpolation=interpolation,
        **BATCH_CROP_ONLY,
    )
    torch.manual_seed(1)
    ours = batch(stored.expand(n, -1, -1, -1).contiguous(), hw.expand(n, 2))
    return to_uint8(ref), to_uint8(ours)


def side_bands(h: int, w: int, band: int) -> Image.Image:
    """Grey image with red bands ``band`` px wide along both ends of its long side."""
    a = np.full((h, w, 3), 128, np.uint8)
    if w >= h:
        a[:, :band], a[:, -band:] = (255, 0, 0), (255, 0, 0)
    else:
        a[:band], a[-band:] = (255, 0, 0), (255, 0, 0)
    return Image.fromarray(a)


def shows_band(x: torch.Tensor) -> torch.Tensor:
    return ((x[:, 0] - x[:, 1]) > 100).flatten(1).any(1).float()


@pytest.mark.parametrize(
    "h,w,img_size,policy",
    [(60, 120, 48, "large"), (120, 60, 48, "large"), (24, 40, 24, "auto"), (30, 16, 16, "auto")],
    ids=["wide", "tall", "small-wide", "small-tall"],
)
def test_side_bands_are_seen_as_often_as_in_the_pil_path(h: int, w: int, img_size: int, policy: str) -> None:
    """The borders of a non-square image: a centre-square cache never shows them (0 % vs 61 % for 'wide')."""
    pil, ours = both_paths(side_bands(h, w, max(w, h) // 8), 1500, img_size, policy)
    share_pil, share_ours = shows_band(pil).mean().item(), shows_band(ours).mean().item()
    assert 0.2 < share_pil < 0.95, share_pil  # the image tests something
    assert abs(share_pil - share_ours) < 0.04, (share_pil, share_ours)


def crop_extent(x: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(area share, aspect w/h) of each crop of a coordinate image (red = x, green = y ramp)."""
    dx = (x[:, 0, :, -1] - x[:, 0, :, 0]).mean(1) / 255
    dy = (x[:, 1, -1, :] - x[:, 1, 0, :]).mean(1) / 255
    return dx * dy, (dx * w) / (dy * h)


def coordinates(h: int, w: int) -> Image.Image:
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = np.round(np.linspace(0, 255, w))[None, :]
    a[..., 1] = np.round(np.linspace(0, 255, h))[:, None]
    return Image.fromarray(a)


@pytest.mark.parametrize("h,w", [(80, 128), (128, 80), (96, 96)])
def test_crop_scale_and_aspect_histograms_match_the_pil_path(h: int, w: int) -> None:
    pil, ours = both_paths(coordinates(h, w), 1500, 40, "large", "bilinear")
    (scale_pil, aspect_pil), (scale_ours, aspect_ours) = crop_extent(pil, h, w), crop_extent(ours, h, w)
    scale_bins = torch.tensor([0.0, 0.15, 0.3, 0.45, 0.6, 0.8, 2.0])
    aspect_bins = torch.tensor([0.0, 0.8, 0.9, 1.0, 1.1, 1.25, 10.0])
    for a, b, bins in ((scale_pil, scale_ours, scale_bins), (aspect_pil, aspect_ours, aspect_bins)):
        hist_a = torch.histogram(a.float(), bins).hist / len(a)
        hist_b = torch.histogram(b.float(), bins).hist / len(b)
        assert (hist_a - hist_b).abs().max() < 0.04, (hist_a, hist_b)
    for axis in (0, 1):  # where the crops sit: the spread of their centres along x and y
        spread = ours[:, axis].mean((1, 2)).std() / pil[:, axis].mean((1, 2)).std()
        assert 0.93 < spread < 1.07, (axis, spread)


def checkerboard(size: int = 64, cell: int = 8) -> Image.Image:
    yy, xx = np.mgrid[:size, :size] // cell
    a = np.where((yy + xx) % 2 == 0, 64, 192).astype(np.uint8)
    return Image.fromarray(np.stack([a] * 3, -1))


def edge_profile(x: torch.Tensor) -> tuple[float, float]:
    """(share of pixels between the two grey levels, share beyond them): ramps vs bicubic overshoot."""
    g = x[:, 0]
    return ((g > 72) & (g < 184)).float().mean().item(), ((g < 58) | (g > 198)).float().mean().item()


def test_interpolation_changes_the_crops_as_in_pil() -> None:
    """--train-interpolation reaches the crop: bilinear ramps, bicubic ramps with overshoot, random (a
    choice per image) between. torch's bicubic kernel (a = -0.75) overshoots more than PIL's (a = -0.5)."""
    over = {}
    for mode in ("bilinear", "bicubic", "random"):
        pil, ours = both_paths(checkerboard(), 600, 56, "large", mode)
        (ramp_pil, over_pil), (ramp_ours, over_ours) = edge_profile(pil), edge_profile(ours)
        assert abs(ramp_pil - ramp_ours) < 0.02, (mode, ramp_pil, ramp_ours)
        assert over_pil * 0.95 - 1e-3 <= over_ours <= over_pil * 1.4 + 1e-3, (mode, over_pil, over_ours)
        over[mode] = (over_pil, over_ours)
    for k in (0, 1):  # each path: none for bilinear, random about half of bicubic
        assert over["bilinear"][k] == 0.0 and over["bicubic"][k] > 0.1
        assert 0.35 < over["random"][k] / over["bicubic"][k] < 0.65, over


def test_cache_transform_stores_the_whole_image_and_its_size() -> None:
    wide = coordinates(30, 50)
    store = cache_transform(40)
    x, hw = store(wide)
    assert x.dtype == torch.uint8 and x.shape == (3, 40, 40) and hw.tolist() == [30, 50]
    assert x[0, :, 0].float().mean() < 10 and x[0, :, -1].float().mean() > 245  # both ends kept
    square = coordinates(40, 40)
    assert torch.equal(store(square)[0], torch.from_numpy(np.array(square)).permute(2, 0, 1))  # no-op
    assert torch.equal(pickle.loads(pickle.dumps(store))(wide)[0], x)  # loader workers can use it
    data = decode_to_tensor([(store(wide), 1), (store(square), 0)], batch_size=1)
    assert data.sizes.tolist() == [[30, 50], [40, 40]] and data.targets.tolist() == [1, 0]
    assert data.images.nbytes + data.sizes.nbytes == cache_bytes(
        2, 40, crop_pct=1.0, small_image_policy="large"
    )
    assert cache_size(224) == 256 and cache_size(224, crop_pct=1.0) == 224 and cache_size(32) == 32
    seen = []
    loader = CachedLoader(data, [1, 0], 2, lambda x, s: seen.append(s) or x, torch.device("cpu"))
    assert [y.tolist() for _, y in loader] == [[0, 1]] and seen[0].tolist() == [[40, 40], [30, 50]]


def write_folder(root: Path) -> None:
    """Two classes of non-square (both orientations) smooth images."""
    g = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i, (h, w) in enumerate([(36, 58), (61, 40), (45, 45), (50, 70)] * 2):
            small = g.integers(0, 256, (5, 7, 3), dtype=np.uint8)
            Image.fromarray(small).resize((w, h), Image.BICUBIC).save(root / c / f"{i}.png")


@pytest.mark.parametrize("crop_pct", [0.875, 1.0])
@pytest.mark.parametrize("img_size", [40, 24], ids=["large", "small"])
def test_cached_eval_equals_the_pil_eval_transform(tmp_path: Path, crop_pct: float, img_size: int) -> None:
    write_folder(tmp_path / "data")
    cfg = TrainConfig(
        data=str(tmp_path / "data"),
        val_split=0.5,
        model="tiny_cnn",
        img_size=img_size,
        batch_size=4,
        crop_pct=crop_pct,
        data_cache="memory",
        workers=0,
        output=str(tmp_path / "run"),
    )
    data = build_data(cfg)
    assert list(data.train.dataset.transform.resize.size) == [cache_size(img_size, crop_pct=crop_pct)] * 2
    _, (val, val_tf), _ = build_cached_loaders(data.cfg, data, torch.device("cpu"))
    ours = torch.cat(
        [x for x, _ in CachedLoader(val, range(len(val)), 3, val_tf, torch.device("cpu"), False)]
    )
    pil_eval = build_transform(False, img_size, crop_pct=crop_pct)
    raw = data.val.dataset
    ref = torch.stack([pil_eval(load_image(raw.samples[i][0])) for i in data.val.indices])
    assert ours.shape == ref.shape == (8, 3, img_size, img_size)
    assert (to_uint8(ours) - to_uint8(ref)).abs().max() <= 1


def test_rrc_boxes_per_sample_sizes_match_torchvision() -> None:
    """Boxes for images of different sizes in one call, the extreme-aspect fallback included."""
    from torchvision.transforms import v2

    shapes = torch.tensor([[12, 100], [100, 12], [30, 40]]).repeat(800, 1)
    torch.manual_seed(0)
    boxes = rrc_boxes(len(shapes), shapes[:, 0], shapes[:, 1])
    assert (boxes[:, :2] >= 0).all() and (boxes[:, [0, 1]] + boxes[:, [2, 3]] <= shapes).all()
    for k, (h, w) in enumerate(shapes[:3].tolist()):
        ours = boxes[k::3]
        ref = torch.tensor(
            [
                v2.RandomResizedCrop.get_params(torch.empty(1, h, w), [0.08, 1.0], [3 / 4, 4 / 3])
                for _ in range(800)
            ]
        ).float()
        for col in range(4):
            assert abs(ours[:, col].mean() - ref[:, col].mean()) < 0.06 * max(h, w), (h, w, col)
