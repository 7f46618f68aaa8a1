"""The batched, cached data path (--data-cache): per-op and per-pipeline statistics against the PIL path,
per-sample randomness, and a short training curve through the trainer."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from timm.data import auto_augment as timm_aa
from torchvision.transforms import v2

from deit.checkpoint import read_jsonl
from deit.config import TrainConfig
from deit.data import IMAGENET_MEAN, IMAGENET_STD, build_transform
from deit.data.batch_aug import (
    GEOMETRIC,
    RAND_OPS,
    RAND_OPS_INC0,
    BatchRandAugment,
    build_batch_transform,
    hflip,
    parse_rand_augment,
)
from deit.data.cache import CachedLoader, ImagesTensor, cache_size, cache_transform
from deit.data.crops import pad_crop, rrc_boxes
from deit.errors import ConfigError
from deit.trainer import train

FILL = (124, 116, 104)  # the ImageNet mean in 0..255, RandAugment's fill


def smooth_images(n: int, seed: int = 0, size: int = 32) -> torch.Tensor:
    """Natural-ish uint8 images: upsampled noise (bicubic), so interpolation details matter little."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 6, 6, generator=g) * 255
    return F.interpolate(x, size=size, mode="bicubic").clamp(0, 255).round().to(torch.uint8)


def to_pil(x: torch.Tensor) -> list[Image.Image]:
    return [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in x]


def test_torchvision_v2_on_a_batch_shares_one_draw() -> None:
    """The reason for per-sample parameters: v2 flips all images of a batch tensor or none."""
    x = smooth_images(32)
    for seed in range(4):
        torch.manual_seed(seed)
        y = v2.RandomHorizontalFlip(0.5)(x)
        flipped = [bool(torch.equal(y[i], x[i].flip(-1))) for i in range(len(x))]
        assert len(set(flipped)) == 1
    torch.manual_seed(0)
    flips = [bool(torch.equal(a, b.flip(-1))) for a, b in zip(hflip(x, 0.5), x)]
    assert 5 < sum(flips) < 27  # ours: per sample


@pytest.mark.parametrize("op", sorted(set(RAND_OPS) | set(RAND_OPS_INC0)))
def test_rand_augment_op_matches_timm_pil(op: str) -> None:
    x = smooth_images(24)
    hp = {"img_mean": FILL, "interpolation": Image.BICUBIC, "translate_const": 14}
    for mag, sign in ((0.9, 1.0), (0.9, -1.0), (0.4, 1.0)):
        m, s = torch.full((len(x),), mag), torch.full((len(x),), sign)
        if op in GEOMETRIC:
            ours = BatchRandAugment.geometric(
                [op] * len(x), x.clone(), m, s, torch.tensor(FILL).float(), "bicubic"
            )
        else:
            ours = BatchRandAugment.apply(op, x.clone(), m, s)
        refs = []
        for img in to_pil(x):
            random.seed(
                0 if sign < 0 else 1
            )  # timm negates when random() > 0.5: 0.84 (seed 0), 0.13 (seed 1)
            level = timm_aa.LEVEL_TO_ARG[op]
            args = level(mag * 10, hp) if level else ()
            kw = {"fillcolor": FILL, "resample": Image.BICUBIC} if op in GEOMETRIC else {}
            refs.append(torch.from_numpy(np.array(timm_aa.NAME_TO_OP[op](img, *args, **kw))).permute(2, 0, 1))
        ref = torch.stack(refs).float()
        diff = ours.float() - ref
        assert diff.abs().mean() < (2.5 if op in GEOMETRIC else 0.3), (op, mag, sign)
        assert diff.mean().abs() < 0.8, (op, mag, sign)


def test_rand_augment_draws_per_sample_and_parses_timm_policies() -> None:
    assert parse_rand_augment("rand-m9-mstd0.5-inc1") == {
        "magnitude": 9.0,
        "magnitude_std": 0.5,
        "num_layers": 2,
        "prob": 0.5,
        "magnitude_max": 10.0,
        "increasing": True,
    }
    p = parse_rand_augment("rand-m7-n3-p1.0-mstd101")
    assert (p["num_layers"], p["prob"], p["magnitude_std"], p["increasing"]) == (3, 1.0, float("inf"), False)
    with pytest.raises(ConfigError, match="RandAugment"):
        parse_rand_augment("original-mstd0.5")
    with pytest.raises(ConfigError, match="tweights"):
        parse_rand_augment("rand-m9-tweights")
    x = smooth_images(64)
    torch.manual_seed(0)
    y = BatchRandAugment("rand-m9-mstd0.5-inc1", FILL)(x.clone())
    changed = (y != x).flatten(1).any(1).float().mean().item()
    # each of 2 layers applies an op with p 0.5 (some ops may leave an image unchanged): about 3/4 change
    assert 0.55 < changed < 0.95


def test_pad_crop_offsets_match_torchvision_random_crop() -> None:
    x = torch.full((400, 3, 32, 32), 200, dtype=torch.uint8)
    torch.manual_seed(0)
    ours = (pad_crop(x) == 0).float().mean((1, 2, 3))
    tv = v2.RandomCrop(32, padding=4)
    torch.manual_seed(0)
    ref = torch.stack([(tv(img) == 0).float().mean() for img in x])
    assert ours.std() > 0.02  # different offsets per image
    assert abs(ours.mean() - ref.mean()) < 0.01
    assert abs(ours.std() - ref.std()) < 0.01


def test_random_resized_crop_boxes_match_torchvision() -> None:
    torch.manual_seed(0)
    boxes = rrc_boxes(4000, 64, 48)
    area = boxes[:, 2] * boxes[:, 3] / (64 * 48)
    ref = torch.tensor(
        [
            (lambda p: p[2] * p[3])(
                v2.RandomResizedCrop.get_params(torch.empty(3, 64, 48), [0.08, 1.0], [3 / 4, 4 / 3])
            )
            for _ in range(4000)
        ]
    ) / (64 * 48)
    assert abs(area.mean() - ref.float().mean()) < 0.02
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 64).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 1] + boxes[:, 3] <= 48).all()
    tf = build_batch_transform(True, 40, IMAGENET_MEAN, IMAGENET_STD, small_image_policy="large")
    assert cache_size(40, "large") == 45
    assert tf(smooth_images(4, size=45)).shape == (4, 3, 40, 40)


@pytest.mark.parametrize(
    "kw",
    [{}, {"auto_augment": None, "reprob": 0.0}, {"reprob": 0.0, "hflip": 0.0}],
    ids=["default", "jitter", "randaug"],
)
def test_pipeline_statistics_match_the_pil_path(kw: dict) -> None:
    x = smooth_images(512, seed=1)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    pil = build_transform(True, 32, IMAGENET_MEAN, IMAGENET_STD, **kw)
    ref = torch.stack([pil(img) for img in to_pil(x)])
    batch_kw = {{"hflip": "hflip_prob"}.get(k, k): v for k, v in kw.items()}
    ours = build_batch_transform(True, 32, IMAGENET_MEAN, IMAGENET_STD, **batch_kw)(x.clone())
    assert ours.shape == ref.shape and ours.dtype == torch.float32
    assert (ours.mean((0, 2, 3)) - ref.mean((0, 2, 3))).abs().max() < 0.07
    assert ((ours.std((0, 2, 3)) / ref.std((0, 2, 3))) - 1).abs().max() < 0.04
    per_image = ours.mean((1, 2, 3)).std() / ref.mean((1, 2, 3)).std()
    assert 0.9 < per_image < 1.1  # the per-sample spread, which one shared draw per batch would change


def test_cached_loader_batches_in_sampler_order() -> None:
    data = ImagesTensor(smooth_images(10), torch.arange(10))
    loader = CachedLoader(
        data,
        [9, 8, 7, 6, 5],
        2,
        build_batch_transform(False, 32, IMAGENET_MEAN, IMAGENET_STD),
        torch.device("cpu"),
    )
    batches = list(loader)
    assert len(loader) == len(batches) == 2
    assert batches[0][1].tolist() == [9, 8] and batches[1][1].tolist() == [7, 6]
    assert len(CachedLoader(data, range(5), 2, lambda t: t, torch.device("cpu"), drop_last=False)) == 3


def curve(tmp_path: Path, cache: str) -> list[dict]:
    cfg = TrainConfig(
        data="digits",
        model="tiny_cnn",
        img_size=16,
        batch_size=32,
        workers=0,
        epochs=4,
        warmup_epochs=0,
        lr=1e-2,
        aa="rand-m9-mstd0.5-inc1",  # the paper's augmentation on both paths (Table 9)
        reprob=0.25,
        hflip=0.0,
        mixup=0.0,
        cutmix=0.0,
        repeated_aug=False,
        data_cache=cache,
        output=str(tmp_path / cache),
        log_interval=1000,
    )
    train(cfg)
    return read_jsonl(tmp_path / cache / "metrics.jsonl")


@pytest.mark.slow
def test_training_curve_matches_the_pil_path(tmp_path: Path) -> None:
    pil, cached = curve(tmp_path, "none"), curve(tmp_path, "memory")
    for a, b in zip(pil, cached):
        assert abs(a["train_loss"] - b["train_loss"]) < 0.08, (pil, cached)
    for run in (pil, cached):
        assert run[-1]["train_loss"] < run[0]["train_loss"] - 0.08
        assert run[-1]["val_top1"] > 25.0


def test_device_cache_trains_with_distillation_and_mixup(tmp_path: Path) -> None:
    cfg = TrainConfig(
        data="digits",
        model="deit_nano_distilled_patch4_16",
        img_size=16,
        batch_size=32,
        workers=0,
        epochs=1,
        warmup_epochs=0,
        max_steps_per_epoch=3,
        teacher_model="tiny_cnn",
        distillation_type="hard",
        repeated_aug=True,
        data_cache="device",
        output=str(tmp_path / "r"),
        log_interval=1000,
    )
    res = train(cfg)
    assert res["metrics"]["samples"] == 360 and "dist_top1" in res["metrics"]
    with pytest.raises(ConfigError, match="RandAugment"):
        train(TrainConfig(**{**cfg.to_dict(), "aa": "original", "output": str(tmp_path / "r2")}))


def test_large_image_pipeline_statistics_match_the_pil_path() -> None:
    """ImageNet-style path on originals of several sizes and aspects: the cache's 54-px copies (48 / 0.875)
    with their sizes -> random-resized-crop to 48 px, flip, RandAugment, random erasing, against timm's
    create_transform on the originals themselves."""
    shapes = [(40, 72), (72, 40), (54, 54), (64, 96), (90, 60), (30, 44), (120, 80), (48, 48)]
    originals = [
        to_pil(smooth_images(1, seed=i, size=8))[0].resize(shapes[i % len(shapes)][::-1], Image.BICUBIC)
        for i in range(128)
    ] * 8
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    pil = build_transform(True, 48, IMAGENET_MEAN, IMAGENET_STD, small_image_policy="large")
    ref = torch.stack([pil(img) for img in originals])
    store = cache_transform(cache_size(48, "large"))
    stored = [store(img) for img in originals]
    x, hw = torch.stack([s[0] for s in stored]), torch.stack([s[1] for s in stored])
    assert x.shape == (1024, 3, 54, 54) and hw[:8].tolist() == [list(s) for s in shapes]
    ours = build_batch_transform(True, 48, IMAGENET_MEAN, IMAGENET_STD, small_image_policy="large")(x, hw)
    assert ours.shape == ref.shape == (1024, 3, 48, 48)
    assert (ours.mean((0, 2, 3)) - ref.mean((0, 2, 3))).abs().max() < 0.07
    assert ((ours.std((0, 2, 3)) / ref.std((0, 2, 3))) - 1).abs().max() < 0.04
    assert 0.9 < ours.mean((1, 2, 3)).std() / ref.mean((1, 2, 3)).std() < 1.1
    assert 0.95 < ours.std((1, 2, 3)).mean() / ref.std((1, 2, 3)).mean() < 1.05


@pytest.mark.slow
def test_cached_path_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    """Batched augmentation draws from the epoch-seeded RNGs: stop after epoch 1, resume, same weights."""
    from safetensors.torch import load_file

    def cfg(name: str, epochs: int, **kw: object) -> TrainConfig:
        return TrainConfig(
            data="digits",
            model="deit_nano_distilled_patch4_16",
            img_size=16,
            batch_size=64,
            workers=0,
            epochs=epochs,
            warmup_epochs=0,
            sched="constant",
            max_steps_per_epoch=3,
            aa="rand-m9-mstd0.5-inc1",
            teacher_model="tiny_cnn",
            distillation_type="hard",
            data_cache="memory",
            output=str(tmp_path / name),
            log_interval=1000,
            **kw,
        )

    train(cfg("straight", 2))
    train(cfg("split", 1))
    train(cfg("split", 2, resume="auto"))
    a, b = (
        load_file(str(tmp_path / "straight" / "model.safetensors")),
        load_file(str(tmp_path / "split" / "model.safetensors")),
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
