"""Tests of deit.models.cnn and deit.teacher (building classifiers, frozen teachers, weight loading)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from deit.errors import CheckpointError, ConfigError, ModelError
from deit.models.cnn import CNN_MODELS
from deit.teacher import ModelSpec, TeacherWrapper, build_classifier, build_from_spec, build_teacher

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------------- CNNs


@pytest.mark.parametrize("name", sorted(CNN_MODELS))
def test_cnn_contract(name):
    model = CNN_MODELS[name](num_classes=7)
    assert model.num_classes == 7
    cfg = model.pretrained_cfg
    assert set(cfg) == {"mean", "std", "img_size", "crop_pct", "interpolation"}
    assert cfg["mean"] == IMAGENET_MEAN and cfg["std"] == IMAGENET_STD
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("size", [8, 16, 28, 64])
def test_tiny_cnn_any_small_size_and_channels(size):
    model = CNN_MODELS["tiny_cnn"](num_classes=10, in_chans=1, img_size=size)
    assert 5_000 < sum(p.numel() for p in model.parameters()) < 100_000
    assert model.pretrained_cfg["img_size"] == size and len(model.pretrained_cfg["mean"]) == 1
    assert model(torch.randn(2, 1, size, size)).shape == (2, 10)


def test_cnn_param_counts():
    n = {k: sum(p.numel() for p in CNN_MODELS[k](num_classes=10).parameters()) for k in CNN_MODELS}
    assert 10.5e6 < n["resnet18_cifar"] < 11.5e6
    assert n["resnet8_cifar"] < 100_000


def test_cnn_rejects_unknown_kwargs_and_bad_stats():
    with pytest.raises(ModelError, match="drop_path_rate"):
        CNN_MODELS["tiny_cnn"](num_classes=3, drop_path_rate=0.1)
    with pytest.raises(ModelError, match="per input channel"):
        CNN_MODELS["tiny_cnn"](num_classes=3, in_chans=1, mean=(0.1, 0.2, 0.3), std=(1, 1, 1))


# ----------------------------------------------------------------------------- build_classifier


def test_build_cnn_and_spec_round_trip():
    model, spec = build_classifier("resnet8_cifar", 5, in_chans=1, img_size=16)
    assert spec == ModelSpec("resnet8_cifar", "cnn", {"num_classes": 5, "in_chans": 1, "img_size": 16})
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    rebuilt = build_from_spec(spec.to_dict())
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
    # old-style spec without a source: inferred
    assert ModelSpec.from_dict({"name": "tiny_cnn", "kwargs": {}}).source == "cnn"


def test_build_deit_by_name():
    name = "deit_tiny_distilled_patch4_32"
    model, spec = build_classifier(name, 10, img_size=32)
    assert spec.source == "deit" and model.num_classes == 10
    model.train()
    cls, dist = model(torch.randn(1, 3, 32, 32))
    assert cls.shape == dist.shape == (1, 10)


def test_build_timm_small_convnet():
    model, spec = build_classifier("resnet10t", 4, img_size=32)
    assert spec.source == "timm"
    model.eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 4)
    assert model.pretrained_cfg["mean"] == IMAGENET_MEAN


def test_build_torchvision_and_resolution_order():
    model, spec = build_classifier("torchvision:resnet18", 6)
    assert (spec.name, spec.source) == ("resnet18", "torchvision")
    assert model.fc.out_features == 6 and model.num_classes == 6
    assert model.pretrained_cfg["std"] == IMAGENET_STD
    assert build_classifier("resnet18", 6)[1].source == "timm"  # timm comes before torchvision
    assert build_classifier("shufflenet_v2_x0_5", 6)[1].source == "torchvision"  # torchvision only
    with pytest.raises(ModelError, match="3-channel"):
        build_classifier("torchvision:resnet18", 6, in_chans=1)


@pytest.mark.parametrize(
    "name, suggestion",
    [("tiny_cn", "tiny_cnn"), ("resnet8_cifr", "resnet8_cifar"), ("resnet10", "resnet10t")],
)
def test_unknown_name_suggests_close_matches(name, suggestion):
    with pytest.raises(ModelError, match="did you mean") as info:
        build_classifier(name, 10)
    assert suggestion in str(info.value)


def test_unknown_source_prefix_and_bad_kwargs():
    with pytest.raises(ModelError, match="unknown model source"):
        build_classifier("keras:resnet50", 10)
    with pytest.raises(ModelError, match="unknown model"):
        build_classifier("cnn:resnet18", 10)  # exists in timm, not among the CNNs
    with pytest.raises(ModelError):
        build_classifier("tiny_cnn", 10, not_an_argument=1)


# ----------------------------------------------------------------------------- TeacherWrapper


def test_teacher_is_frozen_and_stays_in_eval():
    teacher = build_teacher("tiny_cnn", 10, img_size=16)
    assert isinstance(teacher, TeacherWrapper) and teacher.num_classes == 10
    assert all(not p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.training and not teacher.model.training
    assert all(not m.training for m in teacher.modules())
    bn = next(m for m in teacher.modules() if isinstance(m, nn.BatchNorm2d))
    stats = bn.running_mean.clone()
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    out = teacher(x)
    assert out.shape == (4, 10) and out.dtype == torch.float32
    assert not out.requires_grad and out.grad_fn is None
    assert torch.equal(bn.running_mean, stats)  # BatchNorm statistics untouched


def test_renormalisation_math_exact():
    s_mean, s_std = (0.5, 0.25, 0.1), (0.5, 0.2, 0.4)
    t_mean, t_std = IMAGENET_MEAN, IMAGENET_STD
    wrapper = TeacherWrapper(nn.Identity(), t_mean, t_std, s_mean, s_std)
    assert wrapper.renormalize
    raw = torch.rand(2, 3, 4, 4, dtype=torch.float64).float()
    x = raw.clone()
    for c in range(3):  # the student's pipeline
        x[:, c] = (raw[:, c] - s_mean[c]) / s_std[c]
    out = wrapper(x)
    for c in range(3):
        by_hand = (x[:, c] * s_std[c] + s_mean[c] - t_mean[c]) / t_std[c]
        torch.testing.assert_close(out[:, c], by_hand, rtol=0, atol=1e-6)
        # ... which is the raw image normalised with the teacher's statistics
        torch.testing.assert_close(out[:, c], (raw[:, c] - t_mean[c]) / t_std[c], rtol=1e-5, atol=1e-5)


def test_no_renormalisation_when_stats_match_or_unknown():
    x = torch.randn(1, 3, 2, 2)
    same = TeacherWrapper(nn.Identity(), IMAGENET_MEAN, IMAGENET_STD, list(IMAGENET_MEAN), list(IMAGENET_STD))
    assert not same.renormalize and torch.equal(same(x), x)
    unknown = TeacherWrapper(nn.Identity(), IMAGENET_MEAN, IMAGENET_STD)
    assert not unknown.renormalize and torch.equal(unknown(x), x)


def test_renormalisation_broadcasts_single_channel_stats_and_rejects_mismatch():
    wrapper = TeacherWrapper(nn.Identity(), (0.5,), (0.25,), (0.0, 0.1, 0.2), (1.0, 1.0, 1.0))
    out = wrapper(torch.zeros(1, 3, 1, 1))
    assert out.flatten().tolist() == pytest.approx([-2.0, -1.6, -1.2])
    with pytest.raises(ConfigError, match="channel counts"):
        TeacherWrapper(nn.Identity(), (0.5, 0.5), (0.2, 0.2), (0.0, 0.1, 0.2), (1.0, 1.0, 1.0))


def test_build_teacher_renormalises_to_model_stats():
    teacher = build_teacher("tiny_cnn", 3, img_size=8, student_mean=(0.5,) * 3, student_std=(0.5,) * 3)
    assert teacher.renormalize
    torch.testing.assert_close(teacher.teacher_mean.flatten(), torch.tensor(IMAGENET_MEAN))


def test_channels_last_teacher_gives_same_logits():
    torch.manual_seed(0)
    a = build_teacher("tiny_cnn", 5, img_size=8)
    b = TeacherWrapper(a.model, channels_last=True)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(a(x), b(x), rtol=1e-5, atol=1e-5)


def test_distilled_deit_teacher_returns_fused_logits():
    name = "deit_nano_distilled_patch4_16"
    teacher = build_teacher(name, 10, img_size=16)
    assert teacher(torch.randn(2, 3, 16, 16)).shape == (2, 10)


# ----------------------------------------------------------------------------- errors


def test_class_count_mismatch_is_caught_before_training(monkeypatch):
    monkeypatch.setitem(
        CNN_MODELS,
        "fixed_head_cnn",
        lambda num_classes=1000, in_chans=3, **kw: CNN_MODELS["tiny_cnn"](7, in_chans),
    )
    with pytest.raises(ConfigError, match="predicts 7 classes but the dataset has 10"):
        build_teacher("fixed_head_cnn", 10, img_size=8)


def test_missing_checkpoint_path_and_weights_with_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        build_teacher(str(tmp_path / "teacher.pt"), 10)
    existing = tmp_path / "best.pt"
    existing.write_bytes(b"")
    with pytest.raises(ConfigError, match="do not pass weights"):
        build_teacher(str(existing), 10, weights=str(existing))


# ----------------------------------------------------------------------------- weights files


@pytest.mark.parametrize(
    "prefix, wrapper", [("module.", "model"), ("_orig_mod.", "state_dict"), ("module._orig_mod.", None)]
)
def test_weights_file_prefix_stripped_and_unwrapped(tmp_path, prefix, wrapper):
    torch.manual_seed(1)
    source = CNN_MODELS["tiny_cnn"](num_classes=10)
    sd = {prefix + k: v for k, v in source.state_dict().items()}
    path = tmp_path / "w.pth"
    torch.save({wrapper: sd, "epoch": 3} if wrapper else sd, path)
    teacher = build_teacher("tiny_cnn", 10, weights=str(path), img_size=8)
    assert _same_weights(teacher.model, source)
    source.eval()
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(teacher(x), source(x))


def test_weights_safetensors(tmp_path):
    from safetensors.torch import save_file

    source = CNN_MODELS["resnet8_cifar"](num_classes=4)
    path = tmp_path / "w.safetensors"
    save_file(source.state_dict(), str(path))
    teacher = build_teacher("resnet8_cifar", 4, weights=str(path), img_size=8)
    assert _same_weights(teacher.model, source)


def test_weights_missing_unexpected_and_class_count_named(tmp_path):
    sd = CNN_MODELS["tiny_cnn"](num_classes=10).state_dict()
    sd.pop("fc.bias")
    sd["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match="missing keys: fc.bias.*unexpected keys: extra.weight"):
        build_teacher("tiny_cnn", 10, weights=str(path))
    torch.save(CNN_MODELS["tiny_cnn"](num_classes=1000).state_dict(), path)
    with pytest.raises(CheckpointError, match="another class count.*fc.weight"):
        build_teacher("tiny_cnn", 10, weights=str(path))


def _touch(path):  # would run if the file were unpickled unsafely
    open(path, "w").close()
    return {}


class _Hostile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (_touch, (self.path,))


def test_hostile_weights_file_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "hostile.pth"
    sd = CNN_MODELS["tiny_cnn"](num_classes=10).state_dict()
    torch.save({"model": sd, "payload": _Hostile(str(marker))}, path)
    with pytest.raises(CheckpointError):  # UnsafeCheckpointError is a CheckpointError
        build_teacher("tiny_cnn", 10, weights=str(path))
    assert not marker.exists()


# ----------------------------------------------------------------------------- checkpoints of this tool


def _save_checkpoint(path, model, spec, class_names, mean, std):
    """A checkpoint as `deit train` writes it (plain data, loaded with weights_only=True)."""
    obj = {
        "format": "deit-train-v1",
        "model": model.state_dict(),
        "model_spec": spec.to_dict(),
        "class_names": list(class_names),
        "data_mean": list(mean),
        "data_std": list(std),
        "epoch": 0,
        "global_step": 0,
    }
    torch.save(obj, path)
    return path


def test_teacher_from_checkpoint_uses_meta_stats(tmp_path):
    model, spec = build_classifier("tiny_cnn", 3, in_chans=1, img_size=8)
    path = _save_checkpoint(tmp_path / "best.pt", model, spec, ["a", "b", "c"], [0.3], [0.2])
    teacher = build_teacher(
        str(path),
        3,
        in_chans=1,
        img_size=8,
        student_mean=[0.5],
        student_std=[0.25],
        class_names=["a", "b", "c"],
    )
    assert teacher.spec == spec and teacher.renormalize and _same_weights(teacher.model, model)
    assert teacher.teacher_mean.flatten().tolist() == pytest.approx([0.3])
    assert teacher.teacher_std.flatten().tolist() == pytest.approx([0.2])
    # the student's normalised input is mapped back to pixels, then into the teacher's statistics
    x = torch.randn(2, 1, 8, 8)
    model.eval()
    torch.testing.assert_close(teacher(x), model((x * 0.25 + 0.5 - 0.3) / 0.2))
    with pytest.raises(ConfigError, match="other classes.*index 1"):
        build_teacher(str(path), 3, in_chans=1, img_size=8, class_names=["a", "x", "c"])
    with pytest.raises(ConfigError, match="predicts 3 classes but the dataset has 5"):
        build_teacher(str(path), 5, in_chans=1, img_size=8)
    with pytest.raises(ConfigError, match="cannot process 3x8x8"):
        build_teacher(str(path), 3, in_chans=3, img_size=8)


def test_teacher_from_real_checkpoint(tmp_path):
    model, spec = build_classifier("tiny_cnn", 2, img_size=8)
    path = _save_checkpoint(tmp_path / "best.pt", model, spec, ["cat", "dog"], IMAGENET_MEAN, IMAGENET_STD)
    teacher = build_teacher(str(path), 2, img_size=8, class_names=["cat", "dog"])
    assert _same_weights(teacher.model, model)
