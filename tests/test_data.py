"""Tests for deit.data: datasets, image modes, corrupt files, CIFAR pickles, splits, transforms, samplers, mixup."""

from __future__ import annotations

import logging
import os
import pickle
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deit.data import (
    CIFARPickleDataset,
    DigitsDataset,
    DistributedEvalSampler,
    ImageFolderDataset,
    RepeatAugSampler,
    build_dataset,
    build_mixup,
    build_transform,
    load_image,
    per_class_subset,
    split_dataset,
    to_rgb,
)
from deit.errors import ConfigError, DataError


# ------------------------------------------------------------------------------------------------ helpers
def save_rgb(
    path: Path, color: tuple[int, int, int] = (200, 30, 40), size: tuple[int, int] = (12, 10)
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def make_folder(root: Path, counts: dict[str, int], ext: str = "png") -> Path:
    for ci, (cls, n) in enumerate(counts.items()):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            save_rgb(root / cls / f"img_{i}.{ext}", (ci * 40 % 256, i * 20 % 256, 100))
    return root


def truncated_jpeg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# ---------------------------------------------------------------------------------------------- image modes
def test_odd_modes_convert_to_rgb(tmp_path: Path) -> None:
    gray = tmp_path / "gray.png"
    Image.new("L", (5, 4), 77).save(gray)
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(cmyk)  # pure red in CMYK
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (6, 6), (10, 20, 30, 0)).save(rgba)  # fully transparent -> white background
    p16 = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(p16)
    p16_mid = tmp_path / "mid.png"
    Image.fromarray(np.full((4, 4), 32896, dtype=np.uint16)).save(p16_mid)
    pal = tmp_path / "pal.gif"
    Image.new("P", (4, 4), 3).save(pal)

    assert Image.open(p16).mode == "I;16"
    for path in (gray, cmyk, rgba, p16, pal):
        img = load_image(path)
        assert img.mode == "RGB", path
    assert load_image(gray).getpixel((0, 0)) == (77, 77, 77)
    r, g, b = load_image(cmyk).getpixel((0, 0))
    assert r > 200 and g < 60 and b < 60
    assert load_image(rgba).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(p16).getpixel((0, 0)) == (255, 255, 255)  # scaled, not clipped
    assert load_image(p16_mid).getpixel((0, 0)) == (128, 128, 128)  # 32896 / 257 = 128 (clipping gives 255)


def test_to_rgb_int_and_float_modes() -> None:
    i32 = Image.fromarray(np.full((2, 2), 65535, dtype=np.int32))
    assert to_rgb(i32).getpixel((0, 0)) == (255, 255, 255)
    f = Image.fromarray(np.full((2, 2), 0.5, dtype=np.float32))
    assert to_rgb(f).getpixel((0, 0)) == (128, 128, 128)
    la = Image.new("LA", (2, 2), (0, 255))
    assert to_rgb(la).getpixel((0, 0)) == (0, 0, 0)


# ------------------------------------------------------------------------------------------- image folder
def test_image_folder_basic(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", {"cat": 3, "dog": 2})
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / "._img_0.png").write_bytes(b"\x00\x05")  # macOS resource fork: ignored
    save_rgb(root / "dog" / "sub" / "deep.JPG")
    ds = ImageFolderDataset(root)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 6 and ds.targets == [0, 0, 0, 1, 1, 1]
    img, label = ds[5]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and label == 1


@pytest.mark.parametrize("case", ["missing", "file", "no_classes", "empty_class"])
def test_image_folder_structure_errors(tmp_path: Path, case: str) -> None:
    root = tmp_path / "ds"
    expected = str(root)
    if case == "file":
        root.write_text("x")
    elif case == "no_classes":
        root.mkdir()
        save_rgb(root / "loose.png")
    elif case == "empty_class":
        make_folder(root, {"a": 2})
        (root / "b").mkdir()
        (root / "b" / "readme.txt").write_text("x")
        expected = str(root / "b")
    with pytest.raises(DataError, match=expected.replace("\\", "\\\\")):
        ImageFolderDataset(root)


@pytest.mark.parametrize("kind", ["truncated", "zero", "text"])
def test_unreadable_image_names_file(tmp_path: Path, kind: str) -> None:
    root = make_folder(tmp_path / "ds", {"a": 2, "b": 2})
    bad = root / "a" / "bad.jpg"
    if kind == "truncated":
        truncated_jpeg(bad)
    elif kind == "zero":
        bad.write_bytes(b"")
    else:
        bad.write_text("hello, I am not a JPEG")
    ds = ImageFolderDataset(root)
    idx = [p for p, _ in ds.samples].index(str(bad))
    with pytest.raises(DataError, match="bad.jpg"):
        ds[idx]


def test_skip_corrupt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_folder(tmp_path / "ds", {"a": 2, "b": 2})
    truncated_jpeg(root / "a" / "bad1.jpg")
    (root / "b" / "bad2.png").write_bytes(b"")
    ds = ImageFolderDataset(root, skip_corrupt=True)
    paths = [p for p, _ in ds.samples]
    i1 = paths.index(str(root / "a" / "bad1.jpg"))
    with caplog.at_level(logging.WARNING, logger="deit.data"):
        img, label = ds[i1]
    assert ds.samples[(i1 + 1) % len(ds)][1] == label  # replaced by the next sample, deterministically
    assert "bad1.jpg" in caplog.text
    items = [ds[i] for i in range(len(ds))]
    assert len(items) == len(ds) == 6
    assert ds.skipped == {str(root / "a" / "bad1.jpg"), str(root / "b" / "bad2.png")}
    # a subset replaces within itself only
    train, val = split_dataset(ds, 0.5, seed=1)
    for sub in (train, val):
        for i in range(len(sub)):
            sub[i]


# --------------------------------------------------------------------------------------------------- CIFAR
def write_cifar10(root: Path, n_per_batch: int = 4) -> Path:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        data[0, :1024] = 250 - k  # red channel of the first image
        entry = {
            "batch_label": name,
            "labels": [(k + i) % 10 for i in range(n_per_batch)],
            "data": data,
            "filenames": [f"{name}_{i}.png" for i in range(n_per_batch)],
        }
        with open(d / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)], "num_vis": 3072}, f)
    return d


def test_cifar10_round_trip(tmp_path: Path) -> None:
    d = write_cifar10(tmp_path)
    for root in (tmp_path, d):
        train = CIFARPickleDataset(root, train=True)
        test = CIFARPickleDataset(root, train=False)
        assert len(train) == 20 and len(test) == 4 and train.classes == [f"c{i}" for i in range(10)]
        img, label = train[0]
        assert img.size == (32, 32) and img.mode == "RGB" and label == 0 and img.getpixel((0, 0))[0] == 250
        assert test[0][0].getpixel((0, 0))[0] == 245
    assert len(build_dataset(str(tmp_path), "val")) == 4


def test_cifar100_round_trip(tmp_path: Path) -> None:
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    for name, n in (("train", 6), ("test", 3)):
        entry = {
            b"data": np.zeros((n, 3072), np.uint8),
            b"fine_labels": list(range(n)),
            b"coarse_labels": [0] * n,
        }  # bytes keys, as in the original Python-2 pickles
        d.joinpath(name).write_bytes(pickle.dumps(entry, protocol=5))
    d.joinpath("meta").write_bytes(pickle.dumps({"fine_label_names": [f"f{i}" for i in range(100)]}))
    ds = build_dataset(str(tmp_path), "train")
    assert isinstance(ds, CIFARPickleDataset) and len(ds) == 6 and ds.classes[5] == "f5"


class _Evil:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_not_executed(tmp_path: Path) -> None:
    d = write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    with open(d / "data_batch_3", "wb") as f:
        pickle.dump({"data": _Evil(marker), "labels": [0]}, f)
    with pytest.raises(DataError, match="data_batch_3"):
        CIFARPickleDataset(d, train=True)
    assert not marker.exists()
    d.joinpath("batches.meta").write_bytes(
        pickle.dumps({"label_names": Counter("ab")})
    )  # any non-allowed class
    with pytest.raises(DataError, match="batches.meta"):
        CIFARPickleDataset(d, train=False)


def test_cifar_truncated_pickle(tmp_path: Path) -> None:
    d = write_cifar10(tmp_path)
    (d / "test_batch").write_bytes((d / "test_batch").read_bytes()[:100])
    with pytest.raises(DataError, match="test_batch"):
        CIFARPickleDataset(d, train=False)


# -------------------------------------------------------------------------------------------------- digits
def test_digits_split_stratified_and_deterministic() -> None:
    tr, te = DigitsDataset(train=True, seed=0), DigitsDataset(train=False, seed=0)
    assert len(tr) + len(te) == 1797 and abs(len(te) - 360) <= 1
    assert not set(tr.indices.tolist()) & set(te.indices.tolist())
    ratio = [Counter(te.targets)[c] / (Counter(tr.targets)[c] + Counter(te.targets)[c]) for c in range(10)]
    assert max(ratio) - min(ratio) < 0.02  # stratified
    assert DigitsDataset(train=False, seed=0).indices.tolist() == te.indices.tolist()
    assert DigitsDataset(train=False, seed=1).indices.tolist() != te.indices.tolist()
    img, label = DigitsDataset(img_size=48, train=False)[0]
    assert img.size == (48, 48) and img.mode == "RGB" and tr.classes == [str(i) for i in range(10)]
    assert 0 <= label <= 9 and np.asarray(img).max() > 200


def test_per_class_subset_is_fixed_by_the_split_seed() -> None:
    full = DigitsDataset(train=True, seed=0)
    sub = per_class_subset(full, 7, seed=0)
    assert Counter(sub.targets) == {c: 7 for c in range(10)}
    assert per_class_subset(full, 7, seed=0).indices == sub.indices  # the same images on every call
    assert per_class_subset(full, 7, seed=1).indices != sub.indices
    assert all(full.targets[i] == t for i, t in zip(sub.indices, sub.targets))
    # a subset of a carved subset indexes the dataset underneath (one level: set_transform reaches it)
    train, _ = split_dataset(full, 0.25, seed=0)
    nested = per_class_subset(train, 5, seed=0)
    assert nested.dataset is full and set(nested.indices) <= set(train.indices)
    assert Counter(nested.targets) == {c: 5 for c in range(10)}
    # a class with fewer images than asked keeps all of them
    few = per_class_subset(full, 10_000, seed=0)
    assert sorted(few.indices) == list(range(len(full)))


def test_train_per_class_flag(tmp_path: Path) -> None:
    from deit.builders import build_data
    from deit.config import TrainConfig, validate

    cfg = TrainConfig(data="digits", img_size=8, train_per_class=4, model="tiny_cnn", output=str(tmp_path))
    bundle = build_data(validate(replace(cfg, data_cache="none")))  # the PIL transform, checked below
    assert Counter(bundle.train.targets) == {c: 4 for c in range(10)} and len(bundle.val) == 360
    x, y = bundle.train[0]
    assert isinstance(x, torch.Tensor) and x.shape[-1] == 8  # the transform reached the dataset underneath
    with pytest.raises(ConfigError, match="--train-per-class"):
        validate(TrainConfig(data="digits", train_per_class=0, model="tiny_cnn", output=str(tmp_path)))


# ------------------------------------------------------------------------------------------ build_dataset
def test_build_dataset_sources(tmp_path: Path) -> None:
    assert isinstance(build_dataset("digits", "val"), DigitsDataset)
    # train/ + val/: val uses train's class indices even when a class is missing in val
    split_root = tmp_path / "split"
    make_folder(split_root / "train", {"a": 2, "b": 2, "c": 2})
    make_folder(split_root / "val", {"a": 1, "c": 1})
    val = build_dataset(str(split_root), "val")
    assert val.classes == ["a", "b", "c"] and val.targets == [0, 2]
    assert len(build_dataset(str(split_root), "train")) == 6
    # plain folder: val needs --val-split
    plain = make_folder(tmp_path / "plain", {"a": 10, "b": 10})
    assert len(build_dataset(str(plain), "train")) == 20
    with pytest.raises(DataError, match="--val-split"):
        build_dataset(str(plain), "val")
    tr = build_dataset(str(plain), "train", val_split=0.2, seed=3)
    va = build_dataset(str(plain), "val", val_split=0.2, seed=3)
    assert len(tr) == 16 and len(va) == 4 and Counter(va.targets) == {0: 2, 1: 2}
    assert not set(tr.indices) & set(va.indices) and va.classes == ["a", "b"]
    assert build_dataset(str(plain), "val", val_split=0.2, seed=3).indices == va.indices
    # train/ without val/: carve from train
    only = tmp_path / "only"
    make_folder(only / "train", {"a": 4, "b": 4})
    with pytest.raises(DataError, match="--val-split"):
        build_dataset(str(only), "val")
    assert len(build_dataset(str(only), "val", val_split=0.25)) == 2
    with pytest.raises(DataError, match="not found"):
        build_dataset(str(tmp_path / "nope"), "train")
    with pytest.raises(ConfigError):
        build_dataset(str(plain), "test")


# ---------------------------------------------------------------------------------------------- transforms
@pytest.mark.parametrize("size", [32, 224])
@pytest.mark.parametrize("train", [True, False])
def test_transform_shapes(size: int, train: bool) -> None:
    t = build_transform(train, size, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    for src in ((40, 30), (300, 200)):
        x = t(Image.new("RGB", src, (120, 60, 200)))
        assert isinstance(x, torch.Tensor) and x.shape == (3, size, size) and x.dtype == torch.float32
    if not train:
        x = t(Image.new("RGB", (size, size), (128, 128, 128)))
        assert torch.allclose(x, torch.full_like(x, (128 / 255 - 0.5) / 0.25), atol=1e-5)


def test_transform_small_no_aug_and_errors() -> None:
    t = build_transform(True, 16, (0.5,) * 3, (0.5,) * 3, auto_augment="none", reprob=0.0)
    assert t(Image.new("RGB", (16, 16))).shape == (3, 16, 16)
    assert build_transform(True, 32, (0.5,) * 3, (0.5,) * 3, small_image_policy="large")(
        Image.new("RGB", (50, 50))
    ).shape == (3, 32, 32)
    with pytest.raises(ConfigError):
        build_transform(True, 32, (0.5, 0.5), (0.5, 0.5))
    with pytest.raises(ConfigError):
        build_transform(False, 32, (0.5,) * 3, (0.5,) * 3, interpolation="cubic-ish")


# ------------------------------------------------------------------------------------------------ samplers
@pytest.mark.parametrize("n", [10, 1000])
def test_repeat_aug_sampler(n: int) -> None:
    s1 = RepeatAugSampler(n, num_replicas=1, rank=0, num_repeats=3, seed=0)
    expected = n // 256 * 256 or n
    assert len(s1) == expected and len(list(s1)) == expected
    first = list(s1)
    assert Counter(first[:3]) == {first[0]: 3}  # repeats are consecutive on one process
    s1.set_epoch(1)
    assert list(s1) != first
    s1.set_epoch(0)
    assert list(s1) == first
    ranks = [RepeatAugSampler(n, num_replicas=2, rank=r, num_repeats=3) for r in range(2)]
    per_rank = [list(s) for s in ranks]
    assert all(len(p) == len(s) == (n // 256 * 256 // 2 or -(-n // 2)) for p, s in zip(per_rank, ranks))
    # repeats of one image are spread over both ranks: first two indices of rank 0/1 are the same image
    assert per_rank[0][0] == per_rank[1][0]
    # the full (unselected) schedule covers every index num_repeats times
    full = RepeatAugSampler(n, num_replicas=2, rank=0, num_repeats=3)
    full.num_selected_samples = full.num_samples
    other = RepeatAugSampler(n, num_replicas=2, rank=1, num_repeats=3)
    other.num_selected_samples = other.num_samples
    assert Counter(list(full) + list(other)) == {i: 3 for i in range(n)}


def test_samplers_validate() -> None:
    with pytest.raises(ConfigError):
        RepeatAugSampler(10, num_replicas=2, rank=2)
    with pytest.raises(ConfigError):
        RepeatAugSampler(0)


@pytest.mark.parametrize("n,world", [(10, 3), (7, 2), (2, 4), (100, 1)])
def test_eval_sampler_exact_cover(n: int, world: int) -> None:
    parts = [list(DistributedEvalSampler(n, num_replicas=world, rank=r)) for r in range(world)]
    assert sorted(i for p in parts for i in p) == list(range(n))
    assert [len(DistributedEvalSampler(n, world, r)) for r in range(world)] == [len(p) for p in parts]


# --------------------------------------------------------------------------------------------------- mixup
def test_mixup_odd_batch() -> None:
    assert build_mixup(0.0, 0.0, num_classes=5) is None
    mix = build_mixup(num_classes=5, label_smoothing=0.1)
    for b in (1, 5, 6):
        x = torch.randn(b, 3, 8, 8)
        target = torch.arange(b) % 5
        last = x[-1].clone()
        out_x, out_t = mix(x, target)
        assert out_x.shape == (b, 3, 8, 8) and out_t.shape == (b, 5)
        assert torch.allclose(out_t.sum(1), torch.ones(b))
        if b % 2:
            assert torch.equal(out_x[-1], last)
            assert out_t[-1].argmax() == target[-1] and abs(out_t[-1].max().item() - 0.92) < 1e-6
    with pytest.raises(ConfigError):
        build_mixup(mode="weird", num_classes=5)


@pytest.mark.parametrize("img_size", [16, 48])  # our CIFAR-style pipeline and timm's create_transform
def test_randaugment_posterize_at_full_magnitude_does_not_crash(img_size: int) -> None:
    """rand-m9-mstd0.5-inc1 can draw magnitude 10 -> posterize to 0 bits, which Pillow >= 12 rejects."""
    from PIL import Image
    from timm.data import auto_augment

    from deit.data.transforms import _posterize_any_bits

    img = Image.new("RGB", (16, 16), (200, 100, 50))
    assert _posterize_any_bits(img, 0).getextrema() == ((0, 0), (0, 0), (0, 0))
    assert _posterize_any_bits(img, 8) is img
    tf = build_transform(True, img_size, auto_augment="rand-n1-m10-mstd0-inc1", reprob=0)
    rand_augment = next(t for t in tf.transforms if isinstance(t, auto_augment.RandAugment))
    (op,) = [op for op in rand_augment.ops if op.name == "PosterizeIncreasing"]
    op.prob = 1.0
    assert op(img).getextrema() == ((0, 0), (0, 0), (0, 0))
    # the fix is scoped to our transforms: timm's table (used by other code in the process) is untouched
    assert auto_augment.NAME_TO_OP["PosterizeIncreasing"] is auto_augment.posterize
    plain = auto_augment.rand_augment_transform("rand-n1-m10-mstd0-inc1", {})
    assert all(o.aug_fn is not _posterize_any_bits for o in plain.ops)
