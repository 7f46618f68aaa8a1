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
