"""Engine defects found by the outside review (issue 13), each with a real short run on tiny models."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

from deit.config import TrainConfig
from deit.trainer import Trainer


def tiny(tmp_path: Path, name: str = "r", **overrides: object) -> TrainConfig:
    base = dict(
        data="digits",
        model="deit_nano_distilled_patch4_16",
        img_size=16,
        batch_size=16,
        workers=0,
        epochs=1,
        warmup_epochs=0,
        aa="none",
        repeated_aug=False,
        output=str(tmp_path / name),
        log_interval=1000,
        max_steps_per_epoch=3,
    )
    return TrainConfig(**{**base, **overrides})


def test_model_ema_trains_evaluates_and_is_saved(tmp_path: Path) -> None:
    trainer = Trainer(tiny(tmp_path, model_ema=True, model_ema_decay=0.5))
    start = {k: v.clone() for k, v in trainer.ema.state_dict().items()}
    result = trainer.fit()
    assert "ema_top1" in result["metrics"]
    ema = trainer.ema.state_dict()
    model = trainer.model.state_dict()
    assert ema.keys() == model.keys()
    moved = [k for k in ema if ema[k].is_floating_point() and not torch.equal(ema[k], start[k])]
    assert "cls_token" in moved and "head.weight" in moved
    # decay 0.5 over 3 steps: the average lies between the start and the final weights, equal to neither
    assert not torch.equal(ema["head.weight"], model["head.weight"])
    state = torch.load(Path(trainer.run.last), weights_only=True)
    assert state["ema"].keys() == model.keys()


@pytest.mark.slow
def test_compile_with_ema_trains_and_evaluates(tmp_path: Path, monkeypatch) -> None:
    # aot_eager: the same Dynamo capture and wrapper (OptimizedModule, `_orig_mod.` keys) as inductor,
    # without C++ code generation, which takes over a minute on two CPU cores
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    trainer = Trainer(
        tiny(tmp_path, compile=True, model_ema=True, model_ema_decay=0.5, max_steps_per_epoch=2)
    )
    assert trainer.net is not trainer.model
    result = trainer.fit()
    assert result["metrics"]["samples"] == 360 and "ema_top1" in result["metrics"]
    saved = torch.load(Path(trainer.run.last), weights_only=True)
    assert (
        not any(k.startswith("_orig_mod.") for k in saved["model"])
        and saved["ema"].keys() == saved["model"].keys()
    )


@pytest.mark.parametrize("img_size", [16, 48])  # the CIFAR-style and the ImageNet (timm) pipelines
def test_every_offered_train_interpolation_builds_and_runs(img_size: int) -> None:
    from PIL import Image

    from deit.config import _SPECS
    from deit.data import build_transform

    img = Image.new("RGB", (40, 30), (120, 30, 200))
    for interp in _SPECS["train_interpolation"].choices:
        for aa in ("rand-m9-mstd0.5-inc1", None):
            tf = build_transform(True, img_size, auto_augment=aa, interpolation=interp)
            assert tf(img).shape == (3, img_size, img_size), (interp, aa)
        assert build_transform(False, img_size, interpolation=interp)(img).shape == (3, img_size, img_size)


def test_random_train_interpolation_trains(tmp_path: Path) -> None:
    result = Trainer(
        tiny(tmp_path, train_interpolation="random", aa="rand-m9-mstd0.5-inc1", max_steps_per_epoch=1)
    ).fit()
    assert result["metrics"]["samples"] == 360


def _capture_inputs(module: torch.nn.Module, store: list) -> None:
    module.register_forward_pre_hook(lambda m, args: store.append(args[0].detach().clone()))


def test_teacher_input_is_renormalised_inside_a_real_run(tmp_path: Path) -> None:
    import yaml

    # a CNN teacher trained on inputs normalised with its own statistics, saved as a deit checkpoint
    t_mean, t_std = (0.4, 0.3, 0.2), (0.25, 0.2, 0.15)
    teacher_run = Trainer(
        tiny(tmp_path, "teacher", model="tiny_cnn", mean=t_mean, std=t_std, max_steps_per_epoch=1)
    )
    teacher_run.fit()
    ckpt = str(Path(teacher_run.run.root) / "best.pt")
    # the student uses ImageNet statistics (the default); the teacher must see its own
    cfg = tiny(
        tmp_path, teacher_model=ckpt, distillation_type="hard", mixup=0.0, cutmix=0.0, max_steps_per_epoch=2
    )
    trainer = Trainer(cfg)
    assert trainer.teacher.renormalize and trainer.cfg.teacher_mean == pytest.approx(t_mean)
    student_in: list = []
    teacher_in: list = []
    _capture_inputs(trainer.model, student_in)
    _capture_inputs(trainer.teacher.model, teacher_in)
    trainer.fit()
    s_mean, s_std = (
        torch.tensor(trainer.data.mean).view(1, 3, 1, 1),
        torch.tensor(trainer.data.std).view(1, 3, 1, 1),
    )
    want = (student_in[0] * s_std + s_mean - torch.tensor(t_mean).view(1, 3, 1, 1)) / torch.tensor(
        t_std
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(teacher_in[0], want)
    saved = yaml.safe_load((Path(trainer.run.root) / "config.yaml").read_text())
    assert saved["teacher_mean"] == pytest.approx(t_mean) and saved["teacher_std"] == pytest.approx(t_std)
    # --teacher-mean/--teacher-std override the checkpoint's statistics
    cfg = tiny(
        tmp_path,
        "r2",
        teacher_model=ckpt,
        distillation_type="hard",
        teacher_mean=(0.485, 0.456, 0.406),
        teacher_std=(0.229, 0.224, 0.225),
    )
    assert not Trainer(cfg).teacher.renormalize


def test_named_teacher_statistics_come_from_its_pretrained_cfg_and_are_logged(tmp_path: Path) -> None:
    trainer = Trainer(tiny(tmp_path, teacher_model="tiny_cnn", distillation_type="hard"))
    mean = tuple(trainer.teacher.model.pretrained_cfg["mean"])
    assert trainer.cfg.teacher_mean == pytest.approx(mean)
    assert "teacher input: mean" in (Path(trainer.run.root) / "log.txt").read_text()
