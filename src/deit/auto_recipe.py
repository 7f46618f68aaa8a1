"""Hyper-parameters from the data in front of the run: ``--recipe auto`` (default) and ``--recipe paper``.

The paper's recipe (Table 9) is tuned for ImageNet: 1.28 M images, 1024 images per optimizer step, 300
epochs (375 k steps). Applied to a folder of a few hundred images it gives five optimizer steps per epoch
at lr 6e-5, a warm-up as long as the whole useful run, and augmentation that hides the few images there are:
the model trains to chance. ``auto`` keeps the paper's recipe where the data is ImageNet-like and translates
each setting where it is not; ``paper`` is Table 9 exactly. Every flag the user gives (or a ``-c`` recipe
sets) wins over both. The rules and the validation numbers behind them are in ``docs/RECIPES.md``.

    cfg, choices, warnings = resolve_recipe(cfg, DataStats.of(train_set, img_size), world_size=1, depth=12)
    print(format_recipe(cfg, choices))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from deit.config import TrainConfig
from deit.errors import ConfigError, DeiTError

# Table 9 (official main.py defaults): per-process batch 64, lr 5e-4 x global batch / 512.
PAPER: dict[str, Any] = {
    "epochs": 300,
    "warmup_epochs": 5,
    "batch_size": 64,
    "drop_path": 0.1,
    "aa": "rand-m9-mstd0.5-inc1",
    "reprob": 0.25,
    "repeated_aug": True,
    "mixup": 0.8,
    "cutmix": 1.0,
}
PAPER_LR_BASE, PAPER_LR_BASE_SIZE = 5e-4, 512
FINETUNE_LR_BASE = 5e-6  # the paper's fine-tune of a pretrained model (official README: 30 epochs at 384 px)
RECIPE_FIELDS = (*PAPER, "lr")

# auto: the numbers each rule is built from (evidence in docs/RECIPES.md)
IMAGENET_SCALE = 200_000  # training images from which the paper's recipe is used unchanged
MEDIUM_SCALE = 10_000  # from here on the paper's 300 epochs and RandAugment m9; below, smaller settings
SMALL_MIN_EPOCHS = 100
MIN_STEPS = {"transformer": 1_500, "cnn": 800}  # optimizer steps before validation accuracy stops rising
MAX_EPOCHS_SMALL = 1_000  # epoch cap for tiny data sets (the run stays short: few images per epoch)
WARMUP_FRACTION = 0.05  # warm-up as a share of the run, never more than the paper's 5 epochs
LR = {"transformer": 1e-3, "cnn": 2e-3}  # AdamW at any batch up to 1024 (Table 9: 1e-3 at 1024)
MIX_MAX_PER_CLASS = 25  # below 2k images, mixing up to here (10/class: +3.3 points; 50/class: -2.2)
FEW_IMAGES_PER_CLASS = 500  # below this a transformer from scratch generalises poorly without a teacher


@dataclass(frozen=True)
class DataStats:
    """What the recipe needs to know about the training set."""

    num_images: int
    num_classes: int
    min_per_class: int
    img_size: int

    @classmethod
    def of(cls, dataset: Any, img_size: int) -> DataStats:
        targets = [int(t) for t in getattr(dataset, "targets", [])]
        classes = list(getattr(dataset, "classes", [])) or sorted(set(targets))
        counts = [0] * len(classes)
        for t in targets:
            counts[t] += 1
        return cls(len(dataset), len(classes), min(counts) if counts else 0, int(img_size))


@dataclass(frozen=True)
class Choice:
    """One recipe-controlled setting: its value, where it came from and why."""

    name: str
    value: Any
    source: str  # "flag" (user, -c recipe) | "auto" | "paper"
    reason: str


def transformer_depth(model_name: str) -> int | None:
    """The number of attention blocks of the network ``--model`` builds, or None for a convnet.

    Decided by the built model, not its name: ``vit_tiny_patch16_224``, ``timm:deit_tiny_patch16_224`` and
    torchvision's ``vit_b_16`` are transformers as much as ``deit_tiny_patch16_224``. Other sources are
    built on the meta device (no memory, no weights); a block is a module with an attention child
    (timm's ``Attention``, torchvision's ``MultiheadAttention``, ...)."""
    from deit.models import MODEL_CONFIGS, is_deit_model

    if is_deit_model(model_name):
        return int(MODEL_CONFIGS[model_name]["depth"])
    import torch

    from deit.models.factory import build_classifier

    try:
        with torch.device("meta"):
            model, _ = build_classifier(model_name, 2)
    except DeiTError:
        raise
    except Exception:  # a constructor that reads its tensors' values (meta has none): build it for real
        model, _ = build_classifier(model_name, 2)
    blocks = sum(
        any(type(child).__name__.endswith("Attention") for child in module.children())
        for module in model.modules()
    )
    return blocks or None


def _pow2_floor(x: float) -> int:
    return 1 << max(0, int(math.floor(math.log2(max(1.0, x)))))


def _linear_lr(base: float, cfg: TrainConfig, world: int) -> tuple[float, str]:
    """The paper's linear rule, ``base`` x global batch / 512, with the batch the recipe will use."""
    global_batch = (cfg.batch_size or PAPER["batch_size"]) * world * cfg.accum_steps
    return base * global_batch / PAPER_LR_BASE_SIZE, f"{base:g} x global batch {global_batch} / 512"


def _table9_lr(cfg: TrainConfig, world: int) -> tuple[float, str]:
    lr, why = _linear_lr(PAPER_LR_BASE, cfg, world)
    return lr, f"Table 9: {why}"


def images_per_rank(n: int, world: int, repeated_aug: bool, num_repeats: int = 3) -> int:
    """Training images one process sees per epoch: the RepeatAugSampler's ``floor(N / 256) * 256 / world``
    (its truncation; the official RASampler's) with repeated augmentation, else ``floor(N / world)``
    (DistributedSampler with drop_last)."""
    if not repeated_aug:
        return n // world
    from deit.data.samplers import RepeatAugSampler

    return len(RepeatAugSampler(n, world, 0, num_repeats=num_repeats)) if n > 0 else 0


def _check_batch(batch: int, per_rank: int, n: int, world: int, ra: bool, source: str) -> None:
    """A batch that fits no full batch on a process trains nothing (drop_last): one line with the numbers."""
    if per_rank >= batch:
        return
    flag = "--batch-size" if source == "flag" else f"--recipe {source}'s batch size"
    how = f"{n} training images" + (f" on {world} processes" if world > 1 else "")
    if ra:
        how += " with repeated augmentation"
    fix = f"lower --batch-size to {_pow2_floor(per_rank)} or less" if per_rank else "use fewer processes"
    raise ConfigError(f"{flag} {batch}: {how} give {per_rank} per process, not one full batch; {fix}")


def _warmup(run_epochs: int) -> tuple[int, str]:
    """5 % of the run, at most the paper's 5 epochs, at least 1 from 10 epochs on; a run of fewer than
    10 epochs gets none (one epoch of warm-up would be all or most of it)."""
    warm = min(PAPER["warmup_epochs"], round(WARMUP_FRACTION * run_epochs))
    warm = max(warm, 1 if run_epochs >= 10 else 0)
    return warm, f"{WARMUP_FRACTION:.0%} of {run_epochs} epochs, at most the paper's 5, none below 10 epochs"


def mixes(stats: DataStats) -> tuple[bool, str]:
    """Mixup/CutMix on or off from the data, never from the teacher (so "distilled vs not" under auto compares
    the teacher alone). Evidence in docs/RECIPES.md: below 2k images mixing helped a convnet at 5 images per
    class (digits, 92.3 vs 86.5) and the DeiT student at 10 (CIFAR-10, 25.9 vs 22.6), tied at 25 and hurt
    the DeiT student at 50 (30.0 vs 32.2); a convnet above 5 per class was validated unmixed (shapes, 97.7)."""
    if stats.num_images >= 2_000:
        return True, "Table 9 from 2k images"
    if stats.min_per_class <= MIX_MAX_PER_CLASS:
        return True, f"<= {MIX_MAX_PER_CLASS} images per class: mixing helped there"
    return False, f"> {MIX_MAX_PER_CLASS} images per class below 2k images: mixing hurt there"


def _finetune_imagenet(cfg: TrainConfig, world: int) -> dict[str, tuple[Any, str]]:
    """The paper's fine-tune of a pretrained model on ImageNet-scale data (Section 5.2, official README):
    30 epochs at 5e-6 x global batch / 512, the rest of Table 9."""
    why = "the paper's ImageNet fine-tune"
    lr, rule = _linear_lr(FINETUNE_LR_BASE, cfg, world)
    return {"epochs": (30, f"{why}: 30 epochs"), "lr": (lr, f"{why}: {rule}")}


def _auto(cfg: TrainConfig, stats: DataStats, world: int, depth: int | None) -> dict[str, tuple[Any, str]]:
    """(value, reason) for every recipe field under ``auto``; the caller keeps the user's values."""
    n, size = stats.num_images, stats.img_size
    kind = "cnn" if depth is None else "transformer"
    pretrained = bool(cfg.finetune or cfg.pretrained)
    if n >= IMAGENET_SCALE:
        out = {k: (v, "Table 9: ImageNet-scale data") for k, v in PAPER.items()}
        out["lr"] = _table9_lr(cfg, world)
        if world == 1:
            out["repeated_aug"] = (False, "one process: repeated augmentation would show 1/3 of the images")
        if pretrained:
            out.update(_finetune_imagenet(cfg, world))
        if (cfg.epochs or out["epochs"][0]) < 2 * PAPER["warmup_epochs"]:
            out["warmup_epochs"] = _warmup(cfg.epochs)
        return out
    out: dict[str, tuple[Any, str]] = {}
    ra = world > 1
    out["repeated_aug"] = (ra, "several processes" if ra else "one process: it would show 1/3 of the images")
    ra = ra if cfg.repeated_aug is None else cfg.repeated_aug
    per_rank = images_per_rank(n, world, ra, cfg.num_repeats)
    # >= 8 steps per epoch within [16, 128]; tiny sets go below 16 to keep >= 4 full batches per process
    batch = cfg.batch_size or min(128, max(16, _pow2_floor(per_rank / 8)), _pow2_floor(per_rank / 4))
    out["batch_size"] = (
        batch,
        f"{per_rank} images per process: >= 8 optimizer steps per epoch in [16, 128], >= 4 below that",
    )
    steps_per_epoch = max(1, per_rank // (batch * cfg.accum_steps))
    floor = PAPER["epochs"] if n >= MEDIUM_SCALE else SMALL_MIN_EPOCHS
    epochs = min(MAX_EPOCHS_SMALL, max(floor, math.ceil(MIN_STEPS[kind] / steps_per_epoch)))
    if pretrained:
        epochs = min(epochs, SMALL_MIN_EPOCHS)
    out["epochs"] = (
        epochs,
        f"{steps_per_epoch} steps/epoch; >= {MIN_STEPS[kind]} steps for a {kind}, >= {floor} epochs"
        + (", <= 100 from pretrained weights" if pretrained else ""),
    )
    out["warmup_epochs"] = _warmup(cfg.epochs or epochs)
    out["lr"] = (
        LR[kind] / (10 if pretrained else 1),
        f"AdamW, {kind}{', / 10 from pretrained weights' if pretrained else ''}: Table 9's rate at its "
        "batch of 1024, kept at small batches (few steps per epoch)",
    )
    deep = depth is not None and depth >= 12
    out["drop_path"] = (
        0.1 if deep else 0.0,
        f"{depth or 'no'} attention blocks: Table 9's 0.1 from 12 blocks, else 0",
    )
    out["aa"] = (
        "rand-m9-mstd0.5-inc1" if n >= MEDIUM_SCALE else "rand-m5-mstd0.5-inc1" if n >= 2_000 else "none",
        "RandAugment m9 from 10k images, m5 from 2k, none below",
    )
    mix, why_mix = mixes(stats)
    out["mixup"] = (0.8 if mix else 0.0, why_mix)
    out["cutmix"] = (1.0 if mix else 0.0, why_mix)
    big = size > 64 and n >= MEDIUM_SCALE
    out["reprob"] = (0.25 if big else 0.0, "random erasing only for images > 64 px and >= 10k images")
    return out


def resolve_recipe(
    cfg: TrainConfig, stats: DataStats, world_size: int = 1, depth: int | None = None
) -> tuple[TrainConfig, list[Choice], list[str]]:
    """Fill every unset recipe field of ``cfg``; return (config, choices, warnings for the start block).

    ``depth``: the student's number of transformer blocks, or None for a convnet (it sets lr, steps and
    drop-path)."""
    values: dict[str, Any] = {}
    choices: list[Choice] = []
    if cfg.recipe in ("paper", "transfer"):  # transfer: a preset that sets its values; the rest Table 9
        proposed = {k: (v, "Table 9") for k, v in PAPER.items()}
        proposed["lr"] = _table9_lr(cfg, world_size)
    else:
        proposed = _auto(cfg, stats, world_size, depth)
    for name in RECIPE_FIELDS:
        given = getattr(cfg, name)
        if name == "lr" and given is None and cfg.lr_base is not None:
            why = f"--lr-base {cfg.lr_base:g} x global batch / {cfg.lr_base_size}"
            choices.append(Choice("lr", None, "flag", why))
            continue
        if given is not None:
            choices.append(Choice(name, given, "flag", "given"))
            continue
        value, reason = proposed[name]
        values[name] = value
        choices.append(Choice(name, value, cfg.recipe, reason))
    out = replace(cfg, **values)
    batch_source = next(c.source for c in choices if c.name == "batch_size")
    per_rank = images_per_rank(stats.num_images, world_size, bool(out.repeated_aug), out.num_repeats)
    _check_batch(out.batch_size, per_rank, stats.num_images, world_size, bool(out.repeated_aug), batch_source)
    if out.lr is None:  # --lr-base: config.yaml, checkpoints and the model card record the rate actually used
        out = replace(out, lr=out.actual_lr(world_size), lr_base=None)
    warnings: list[str] = []
    if out.warmup_epochs > out.epochs:
        short = out.epochs // 5
        given = next(c.source for c in choices if c.name == "warmup_epochs") == "flag"
        warm = (
            f"--warmup-epochs {out.warmup_epochs}"
            if given
            else f"the {cfg.recipe} recipe's {out.warmup_epochs}-epoch warm-up"
        )
        warnings.append(f"{warm} is longer than --epochs {out.epochs}: warm-up shortened to {short} epochs")
        out = replace(out, warmup_epochs=short)
    if (
        depth is not None
        and not (cfg.finetune or cfg.pretrained)
        and cfg.distillation_type == "none"
        and stats.min_per_class < FEW_IMAGES_PER_CLASS
    ):
        warnings.append(
            f"{stats.min_per_class} images per class is little for a transformer trained from scratch: expect "
            "a convnet to do better. Distil from one (train it, then --teacher RUN --distillation-type hard) "
            "or start from pretrained weights (--finetune)"
        )
    return out, choices, warnings


def _show(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def format_recipe(cfg: TrainConfig, choices: list[Choice], world_size: int = 1) -> str:
    """The start-of-run block: recipe, each value, its source and reason, and the lr actually used."""
    lines = [f"recipe {cfg.recipe} (flags win over it):"]
    for c in choices:
        value = cfg.actual_lr(world_size) if c.name == "lr" else getattr(cfg, c.name)
        lines.append(f"  {c.name:14s} {_show(value):>22s}  [{c.source}] {c.reason}")
    return "\n".join(lines)
