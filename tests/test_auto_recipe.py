"""--recipe auto (derived from the data) and --recipe paper (Table 9): values, precedence, warnings, run folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from deit.auto_recipe import (
    PAPER,
    RECIPE_FIELDS,
    DataStats,
    format_recipe,
    resolve_recipe,
    transformer_depth,
)
from deit.config import TrainConfig
from deit.data.samplers import RepeatAugSampler
from deit.errors import ConfigError
from deit.trainer import Trainer

TINY = DataStats(num_images=162, num_classes=3, min_per_class=54, img_size=32)
CIFAR_SUBSET = DataStats(num_images=5_000, num_classes=10, min_per_class=500, img_size=32)
IMAGENET = DataStats(num_images=1_281_167, num_classes=1000, min_per_class=732, img_size=224)


def resolve(stats: DataStats, world: int = 1, depth: int | None = 6, **kw: object):
    return resolve_recipe(TrainConfig(data="d", **kw), stats, world, depth)


def test_paper_is_table_9_exactly_whatever_the_data() -> None:
    for stats, world in ((TINY, 1), (IMAGENET, 16)):
        cfg, choices, _ = resolve(stats, world=world, recipe="paper", depth=12)
        assert {name: getattr(cfg, name) for name in PAPER} == PAPER
        assert cfg.lr == pytest.approx(5e-4 * 64 * world / 512) and cfg.lr_base is None  # 16 GPUs: 1e-3
        assert {c.source for c in choices} == {"paper"} and [c.name for c in choices] == list(RECIPE_FIELDS)
    with pytest.raises(ConfigError, match="--recipe paper's batch size 64: 162 training images on 16"):
        resolve(TINY, world=16, recipe="paper")  # 11 images per process: not one batch of 64


def test_auto_keeps_the_paper_recipe_at_imagenet_scale() -> None:
    cfg, _, warnings = resolve(IMAGENET, world=16, depth=12)
    assert {name: getattr(cfg, name) for name in PAPER} == PAPER
    assert cfg.actual_lr(16) == pytest.approx(1e-3) and not warnings
    single, _, _ = resolve(IMAGENET, world=1, depth=12)
    assert single.repeated_aug is False  # one process: repeated augmentation would show 1/3 of an epoch


def test_auto_on_a_tiny_set_takes_many_short_epochs_and_a_usable_lr() -> None:
    cfg, choices, _ = resolve(TINY, teacher_model="t", distillation_type="hard")
    steps_per_epoch = TINY.num_images // cfg.batch_size
    assert cfg.batch_size == 16 and steps_per_epoch >= 8
    assert cfg.epochs * steps_per_epoch >= 1500 and cfg.epochs <= 1000
    assert cfg.warmup_epochs <= max(1, 0.05 * cfg.epochs) + 1 and cfg.warmup_epochs <= 5
    assert cfg.lr == pytest.approx(1e-3)  # the paper's rule would give 5e-4 x 16 / 512 = 1.6e-5
    assert (cfg.aa, cfg.reprob, cfg.repeated_aug, cfg.drop_path) == ("none", 0.0, False, 0.0)
    assert all(c.source == "auto" and c.reason for c in choices)


def test_mixing_follows_the_data_never_the_teacher() -> None:
    teacher = dict(teacher_model="t", distillation_type="hard")
    for stats in (TINY, dataclasses.replace(TINY, min_per_class=10), CIFAR_SUBSET):
        for depth in (6, None):
            plain, distilled = resolve(stats, depth=depth)[0], resolve(stats, depth=depth, **teacher)[0]
            assert (plain.mixup, plain.cutmix) == (distilled.mixup, distilled.cutmix)
    for depth in (6, None):
        assert resolve(TINY, depth=depth)[0].mixup == 0.0  # 54/class: mixing hurt at 50/class
        assert resolve(dataclasses.replace(TINY, min_per_class=10), depth=depth)[0].mixup == 0.8  # helped
        assert resolve(CIFAR_SUBSET, depth=depth)[0].mixup == 0.8  # Table 9 from 2k images


def test_the_batch_never_exceeds_what_each_process_sees() -> None:
    twelve = DataStats(num_images=12, num_classes=3, min_per_class=4, img_size=32)
    cfg, _, _ = resolve(twelve)
    assert cfg.batch_size == 2 and cfg.epochs * (12 // cfg.batch_size) >= 1500  # 6 steps, no image dropped
    hundred = DataStats(num_images=100, num_classes=10, min_per_class=10, img_size=32)
    eight, _, _ = resolve(hundred, world=8)
    assert eight.repeated_aug and eight.batch_size == 2  # ceil(100 / 8) = 13 images per process: 6 steps
    with pytest.raises(
        ConfigError, match=r"--batch-size 16: 12 training images give 12 per process.*8 or less"
    ):
        resolve(twelve, batch_size=16)
    with pytest.raises(ConfigError, match="use fewer processes"):
        resolve(
            DataStats(num_images=4, num_classes=2, min_per_class=2, img_size=32), world=8, repeated_aug=False
        )


def test_the_steps_count_the_repeated_augmentation_truncation() -> None:
    five_hundred = DataStats(num_images=500, num_classes=10, min_per_class=50, img_size=32)
    cfg, choices, _ = resolve(five_hundred, world=2)
    per_rank = len(RepeatAugSampler(500, 2, 0, num_repeats=3))
    assert cfg.repeated_aug and per_rank == 128  # floor(500 / 256) x 256 / 2, not 250
    steps = per_rank // cfg.batch_size
    assert steps == 8 and cfg.epochs * steps >= 1500 and cfg.epochs == 188
    assert next(c.reason for c in choices if c.name == "epochs").startswith("8 steps/epoch")


def test_an_imagenet_fine_tune_gets_the_papers_fine_tune_schedule() -> None:
    cfg, _, _ = resolve(IMAGENET, world=8, depth=12, finetune="w.pth")
    assert cfg.epochs == 30 and cfg.lr == pytest.approx(5e-6 * 64 * 8 / 512)
    scratch, _, _ = resolve(IMAGENET, world=8, depth=12)
    assert scratch.epochs == 300


def test_a_short_run_is_never_all_warm_up() -> None:
    for stats in (TINY, IMAGENET):
        cfg, _, warnings = resolve(stats, depth=None, epochs=1)
        assert cfg.warmup_epochs == 0 and not warnings
    assert resolve(TINY, depth=None, epochs=20)[0].warmup_epochs == 1
    assert resolve(IMAGENET, depth=None, epochs=20)[0].warmup_epochs == 5


@pytest.mark.parametrize(
    "name, depth",
    [
        ("vit_tiny_patch16_224", 12),
        ("timm:deit_tiny_patch16_224", 12),
        ("deit_tiny_patch16_224", 12),
        ("deit_micro_patch4_32", 6),
        ("resnet8_cifar", None),
        ("tv:resnet18", None),
    ],
)
def test_transformer_or_convnet_is_decided_by_the_built_model(name: str, depth: int | None) -> None:
    assert transformer_depth(name) == depth  # meta device: no weights, no download


def test_auto_scales_with_data_model_and_world_size() -> None:
    cnn, _, _ = resolve(TINY, depth=None)
    vit, _, _ = resolve(TINY, depth=6)
    assert cnn.epochs < vit.epochs and cnn.lr > vit.lr  # convnets need fewer steps and take a higher lr
    mid, _, _ = resolve(CIFAR_SUBSET, depth=12)
    assert mid.batch_size == 128 and mid.epochs >= 100 and mid.drop_path == 0.1
    assert mid.aa == "rand-m5-mstd0.5-inc1" and mid.mixup == 0.8
    two, _, _ = resolve(CIFAR_SUBSET, world=2, depth=12)
    assert two.repeated_aug is True
    tuned, _, _ = resolve(CIFAR_SUBSET, depth=12, finetune="w.pth")
    assert tuned.epochs <= 100 and tuned.lr == pytest.approx(mid.lr / 10)


def test_every_given_value_wins_and_is_marked_as_given() -> None:
    given = dict(epochs=7, batch_size=8, lr=0.3, aa="rand-m9-mstd0.5-inc1", mixup=0.1, repeated_aug=True)
    cfg, choices, _ = resolve(TINY, **given)
    assert {k: getattr(cfg, k) for k in given} == given
    assert {c.name for c in choices if c.source == "flag"} == set(given)
    base, choices, _ = resolve(TINY, world=2, lr_base=5e-4, batch_size=32)
    assert base.lr == pytest.approx(5e-4 * 64 / 512) and base.lr_base is None  # recorded as the rate used
    assert next(c for c in choices if c.name == "lr").source == "flag"


def test_a_warmup_longer_than_the_run_shortens_with_one_warning() -> None:
    cfg, _, warnings = resolve(TINY, epochs=3, warmup_epochs=5, teacher_model="t", distillation_type="hard")
    assert cfg.warmup_epochs == 0 and len(warnings) == 1
    assert "--warmup-epochs 5 is longer than --epochs 3" in warnings[0]
    cfg, _, warnings = resolve(TINY, recipe="paper", epochs=1, teacher_model="t", distillation_type="hard")
    # the recipe's warm-up: no flag to blame
    assert cfg.warmup_epochs == 0 and len(warnings) == 1 and "--warmup-epochs" not in warnings[0]
    assert "the paper recipe's 5-epoch warm-up is longer than --epochs 1" in warnings[0]


def test_a_transformer_from_scratch_on_few_images_is_told_the_better_path() -> None:
    _, _, warnings = resolve(TINY)
    assert len(warnings) == 1 and "--distillation-type hard" in warnings[0] and "--finetune" in warnings[0]
    for kw in (dict(teacher_model="t", distillation_type="hard"), dict(finetune="w.pth")):
        assert not resolve(TINY, **kw)[2]
    assert not resolve(TINY, depth=None)[2]  # a convnet is the better path already


def test_the_block_names_every_value_its_source_and_the_lr_used() -> None:
    cfg, choices, _ = resolve(TINY, epochs=7)
    text = format_recipe(cfg, choices)
    assert text.splitlines()[0].startswith("recipe auto")
    assert len(text.splitlines()) == 1 + len(RECIPE_FIELDS)
    assert "[flag] given" in text and "0.001" in text and "[auto]" in text


def test_a_run_prints_the_recipe_and_writes_it_to_config_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = TrainConfig(
        data="digits", model="deit_nano_patch4_16", img_size=16, workers=0, epochs=1, output=str(tmp_path)
    )
    trainer = Trainer(cfg)
    err = capsys.readouterr().err
    assert trainer.cfg.batch_size == 128 and trainer.cfg.lr == pytest.approx(1e-3)
    assert "recipe auto (flags win over it):" in err and "[flag] given" in err
    assert "images per class is little for a transformer" in err
    text = (tmp_path / "config.yaml").read_text()
    saved = yaml.safe_load(text)
    assert saved["epochs"] == 1 and saved["lr"] == pytest.approx(1e-3) and saved["recipe"] == "auto"
    assert "batch_size: 128  # auto: " in text and "\nepochs: 1\n" in text
    assert TrainConfig.from_dict(saved) == dataclasses.replace(trainer.cfg)


def test_recipe_transfer_is_the_shipped_transfer_preset_under_the_flags() -> None:
    from deit.config import load_config
    from deit.errors import ConfigError

    preset = load_config("transfer", {"data": "d", "pretrained": True, "teacher_model": "runs/t"})
    cfg = load_config(
        None, {"data": "d", "recipe": "transfer", "pretrained": True, "teacher_model": "runs/t"}
    )
    assert cfg.recipe == "transfer" and dataclasses.replace(cfg, recipe=preset.recipe) == preset
    given = {"data": "d", "recipe": "transfer", "finetune": "w.pth", "teacher_model": "runs/t", "epochs": 3}
    assert load_config(None, given).epochs == 3
    with pytest.raises(ConfigError, match="--pretrained or --finetune is required"):
        load_config(None, {"data": "d", "recipe": "transfer", "teacher_model": "runs/t"})
