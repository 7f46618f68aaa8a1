"""Everything a run is built from, given one ``TrainConfig``: the data (with the recipe resolved against it),
the student, the teacher, the mixup and the loaders. :class:`deit.trainer.Trainer` assembles them.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from deit import checkpoint as ckpt
from deit.auto_recipe import Choice, DataStats, resolve_recipe, transformer_depth
from deit.config import TrainConfig
from deit.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DistributedEvalSampler,
    OddBatchMixup,
    RepeatAugSampler,
    build_dataset,
    build_mixup,
    build_transform,
    per_class_subset,
    set_transform,
)
from deit.data.batch_aug import build_batch_transform
from deit.data.cache import CachedLoader, build_cache, cache_size, cache_transform
from deit.data.shards import ShardSampler, ShardStream
from deit.data_path_choice import Machine, choose_data_path
from deit.errors import ConfigError
from deit.models import MODEL_CONFIGS, is_deit_model
from deit.models.hf import is_hf_folder
from deit.models.loading import load_weights
from deit.runtime import blame, seed_worker
from deit.teacher import ModelSpec, TeacherWrapper, build_classifier, build_teacher

log = logging.getLogger("deit")


@dataclass
class DataBundle:
    train: Any
    val: Any
    classes: list[str]
    img_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    cfg: TrainConfig  # with the recipe resolved against this data
    recipe: list[Choice] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def default_img_size(cfg: TrainConfig, first_image: Any = None) -> int:
    """--img-size, else the DeiT model's size, else (other models) the data's own size up to 224 px."""
    if cfg.img_size:
        return cfg.img_size
    if is_deit_model(cfg.model):
        return MODEL_CONFIGS[cfg.model]["img_size"]
    if str(cfg.data).lower() == "digits":
        return 32
    size = getattr(first_image, "size", None)
    return min(224, min(size)) if size else 224


def train_transform(cfg: TrainConfig, img_size: int, mean: Any, std: Any) -> Any:
    if not cfg.augment:
        return build_transform(False, img_size, mean, std, crop_pct=cfg.crop_pct)
    return build_transform(
        True,
        img_size,
        mean,
        std,
        auto_augment=None if cfg.aa in (None, "", "none") else cfg.aa,
        interpolation=cfg.train_interpolation,
        reprob=cfg.reprob,
        remode=cfg.remode,
        recount=cfg.recount,
        color_jitter=cfg.color_jitter,
        hflip=cfg.hflip,
    )


def build_train_set(cfg: TrainConfig, img_size: int | None) -> tuple[Any, Any]:
    """(the training split, the images that train: ``--train-per-class``'s fixed subset of it, or all of it);
    no transform yet."""
    pool = build_dataset(
        cfg.data,
        "train",
        None,
        val_split=cfg.val_split,
        seed=cfg.split_seed,
        skip_corrupt=cfg.skip_corrupt,
        img_size=img_size,
        hf_columns=(cfg.hf_image_column, cfg.hf_label_column),
    )
    if cfg.train_per_class is None:
        return pool, pool
    return pool, per_class_subset(pool, cfg.train_per_class, cfg.split_seed)


def build_data(cfg: TrainConfig, world_size: int = 1, device: torch.device | None = None) -> DataBundle:
    """The datasets, with ``cfg``'s recipe and data path (``--data-cache``, ``--threads``, ``--workers``)
    resolved against the training set and ``device`` (default CPU) (``DataBundle.cfg``)."""
    img_size = default_img_size(cfg)
    mean, std = cfg.mean or IMAGENET_MEAN, cfg.std or IMAGENET_STD
    common = dict(val_split=cfg.val_split, seed=cfg.split_seed, skip_corrupt=cfg.skip_corrupt)
    common["hf_columns"] = (cfg.hf_image_column, cfg.hf_label_column)
    _, train = build_train_set(cfg, img_size)
    if not cfg.img_size and not is_deit_model(cfg.model) and len(train):
        img_size = default_img_size(cfg, train[0][0])
    eval_tf = build_transform(False, img_size, mean, std, crop_pct=cfg.crop_pct)
    val = build_dataset(cfg.data, "val", eval_tf, img_size=img_size, **common)
    stats = DataStats.of(train, img_size)
    with blame("--model", cfg.model):
        depth = transformer_depth(cfg.model)  # the built network decides transformer vs convnet
    cfg, choices, warnings = resolve_recipe(cfg, stats, world_size, depth)
    machine = Machine.probe(device or torch.device("cpu"))
    cfg, path_choices = choose_data_path(cfg, len(train) + len(val), img_size, machine, convnet=depth is None)
    choices += path_choices
    if cfg.data_cache != "none":  # datasets yield uint8 tensors, decoded once; augmentation is batched
        from torchvision import transforms as T

        eval_tf = T.Compose([*eval_tf.transforms[:-2], T.PILToTensor()])  # no ToTensor/Normalize
        set_transform(val, eval_tf)
        if isinstance(train, ShardStream):  # decoded once: read at random instead
            train = train.as_map_style()
        train_tf = (
            cache_transform(cache_size(img_size, crop_pct=cfg.crop_pct), cfg.train_interpolation)
            if cfg.augment
            else eval_tf
        )
    else:
        train_tf = train_transform(cfg, img_size, mean, std)
    set_transform(train, train_tf)
    classes = list(train.classes)
    if cfg.num_classes is not None and cfg.num_classes != len(classes):
        raise ConfigError(f"--num-classes {cfg.num_classes} but --data {cfg.data} has {len(classes)} classes")
    return DataBundle(train, val, classes, img_size, tuple(mean), tuple(std), cfg, choices, warnings)


def build_cached_loaders(cfg: TrainConfig, data: DataBundle, device: torch.device) -> tuple[Any, Any, Any]:
    """``--data-cache``: (train cache, val loader, batched train transform) for ``data`` built by build_data."""

    aa = None if cfg.aa in (None, "", "none") else cfg.aa
    train_tf = build_batch_transform(
        cfg.augment,
        data.img_size,
        data.mean,
        data.std,
        auto_augment=aa,
        interpolation=cfg.train_interpolation,
        reprob=cfg.reprob,
        remode=cfg.remode,
        recount=cfg.recount,
        color_jitter_strength=cfg.color_jitter,
        hflip_prob=cfg.hflip,
        device=device,
    )
    val_tf = build_batch_transform(False, data.img_size, data.mean, data.std)
    train = build_cache(data.train, cfg.data_cache, device, cfg.workers)  # after the options are checked
    val = build_cache(data.val, cfg.data_cache, device, cfg.workers)
    return train, (val, val_tf), train_tf


def build_batch_mixup(cfg: TrainConfig, num_classes: int) -> OddBatchMixup | None:
    """The Mixup/CutMix that ``cfg`` asks for (applied to whole batches by the engine), or None."""
    if cfg.mixup_prob <= 0 or (cfg.mixup <= 0 and cfg.cutmix <= 0 and cfg.cutmix_minmax is None):
        return None
    return build_mixup(
        cfg.mixup,
        cfg.cutmix,
        cfg.mixup_switch_prob,
        cfg.mixup_mode,
        cfg.smoothing,
        num_classes,
        prob=cfg.mixup_prob,
        cutmix_minmax=cfg.cutmix_minmax,
    )


def _regularisation_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    """--drop/--drop-path as constructor arguments of the student: DeiT and timm models take both, the
    small CNNs dropout only; what a model cannot apply is said at start, never silently dropped."""
    if is_deit_model(cfg.model):
        return {"drop_rate": cfg.drop, "drop_path_rate": cfg.drop_path}
    source = ModelSpec.from_dict({"name": cfg.model}).source
    extra: dict[str, Any] = {}
    ignored = []
    if cfg.drop:
        if source in ("timm", "cnn"):
            extra["drop_rate"] = cfg.drop
        else:
            ignored.append(f"--drop {cfg.drop:g}")
    if cfg.drop_path:
        if source == "timm":
            extra["drop_path_rate"] = cfg.drop_path
        else:
            ignored.append(f"--drop-path {cfg.drop_path:g} (no stochastic depth)")
    if ignored:
        log.warning("%s student %s cannot apply %s: not used", source, cfg.model, " and ".join(ignored))
    return extra


def build_student(cfg: TrainConfig, num_classes: int, img_size: int) -> tuple[nn.Module, dict]:
    flag = "--pretrained --model" if cfg.pretrained else "--model"
    with blame(flag, cfg.model):
        extra = _regularisation_kwargs(cfg)
        model, spec = build_classifier(
            cfg.model,
            num_classes,
            img_size=img_size,
            pretrained=cfg.pretrained,
            weights={"source": cfg.weights_source, "offline": cfg.offline},
            **extra,
        )
    if cfg.pretrained:
        fresh = getattr(model, "pretrained_reinitialised", [])
        log.info(
            "starting from the released weights of %s%s",
            cfg.model,
            f" (new heads: {', '.join(fresh)})" if fresh else "",
        )
    if cfg.finetune:
        with blame("--finetune", cfg.finetune):
            hf = is_hf_folder(
                cfg.finetune
            )  # a run folder: the same file as everywhere; a transformers folder
            source = Path(cfg.finetune) if hf else ckpt.resolve_weights_file(cfg.finetune)
            dropped = load_weights(model, str(source), pos_embed_interp=cfg.pos_embed_interp)
        epoch = None if hf else ckpt.peek_epoch(source)
        log.info(
            "fine-tuning from %s (%s)%s",
            source,
            f"epoch {epoch}" if epoch is not None else "epoch unknown",
            f" (new heads: {', '.join(dropped)})" if dropped else "",
        )
    return model, spec.to_dict()


def make_loader(
    dataset: Any,
    sampler: Any,
    cfg: TrainConfig,
    device: torch.device,
    drop_last: bool,
    generator: torch.Generator | None = None,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.workers,
        pin_memory=cfg.pin_mem and device.type == "cuda",
        drop_last=drop_last,
        worker_init_fn=seed_worker,
        generator=generator,
        persistent_workers=False,
    )


def build_distillation_teacher(
    cfg: TrainConfig, data: DataBundle, device: torch.device
) -> tuple[TeacherWrapper | None, TrainConfig]:
    """The frozen teacher of a distillation run (None without distillation), and ``cfg`` with the
    teacher's input statistics recorded (so config.yaml holds them)."""
    teacher = None
    if cfg.distillation_type != "none":
        flag = "--teacher-weights" if cfg.teacher_weights else "--teacher"
        if cfg.teacher_pretrained:
            flag = "--teacher-pretrained --teacher"
        with blame(flag, cfg.teacher_weights or cfg.teacher_model):
            teacher = build_teacher(
                cfg.teacher_model,
                len(data.classes),
                weights=cfg.teacher_weights,
                img_size=data.img_size,
                student_mean=data.mean,
                student_std=data.std,
                device=device,
                channels_last=cfg.channels_last,
                class_names=data.classes,
                teacher_mean=cfg.teacher_mean,
                teacher_std=cfg.teacher_std,
                pretrained=cfg.teacher_pretrained,
                offline=cfg.offline,
            )
        cfg = _record_teacher_stats(teacher, cfg, data)
        log.info("%s", teacher.source)
        if (
            cfg.teacher_weights is None
            and not cfg.teacher_pretrained
            and not Path(cfg.teacher_model).exists()
        ):  # warn once it exists
            log.warning(
                "teacher %r has random weights (no --teacher-weights, not a checkpoint): distilling "
                "from it teaches noise; train it first with `deit train --model %s`",
                cfg.teacher_model,
                cfg.teacher_model,
            )
    return teacher, cfg


def _record_teacher_stats(teacher: TeacherWrapper, cfg: TrainConfig, data: DataBundle) -> TrainConfig:
    """Log the teacher's input statistics and keep them in the config (so in config.yaml)."""
    t_mean, t_std, source = teacher.input_stats
    log.info(
        "teacher input: mean %s std %s (from %s); student input: mean %s std %s; %s",
        _fmt_stats(t_mean),
        _fmt_stats(t_std),
        source,
        _fmt_stats(data.mean),
        _fmt_stats(data.std),
        "renormalised for the teacher" if teacher.renormalize else "the same, passed as is",
    )
    if len(t_mean) == len(t_std) == 3:
        cfg = dataclasses.replace(cfg, teacher_mean=tuple(t_mean), teacher_std=tuple(t_std))
    return cfg


def build_loaders(
    cfg: TrainConfig, data: DataBundle, device: torch.device, world: int, rank: int
) -> tuple[Any, Any, Any, Any]:
    """(train sampler, validation loader, device cache or None, batch transform or None)."""
    if isinstance(data.train, ShardStream):  # streamed: the stream plans each epoch's order itself
        if cfg.repeated_aug:
            log.warning("shards: repeated augmentation is not applied to streamed shards (each image once)")
        train_sampler: Any = ShardSampler(data.train, world, rank, cfg.workers, cfg.batch_size, cfg.seed)
    elif cfg.repeated_aug:
        train_sampler = RepeatAugSampler(data.train, world, rank, True, cfg.num_repeats, cfg.seed)
    else:
        train_sampler = DistributedSampler(
            data.train, world, rank, shuffle=True, seed=cfg.seed, drop_last=True
        )
    val_sampler = DistributedEvalSampler(
        data.val, world if cfg.dist_eval else 1, rank if cfg.dist_eval else 0
    )
    cache, batch_tf = None, None
    if cfg.data_cache != "none":
        cache, (val_cache, val_tf), batch_tf = build_cached_loaders(cfg, data, device)
        val_loader: Any = CachedLoader(
            val_cache, list(iter(val_sampler)), cfg.batch_size, val_tf, device, drop_last=False
        )
    else:
        val_loader = make_loader(data.val, val_sampler, cfg, device, drop_last=False)
    return train_sampler, val_loader, cache, batch_tf


def _fmt_stats(values: Any) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"


def describe_objective(cfg: TrainConfig, distilled: bool) -> str:
    """What the loss trains, in words (the first lines of a run say it)."""
    if not distilled:
        return f"{cfg.model}: one head, on the labels"
    if cfg.distillation_type == "none":
        return (
            f"{cfg.model}: class and distillation heads both on the labels, no teacher (the official code "
            "trains the class head only); evaluation averages the two heads"
        )
    target = (
        "hard labels (argmax)"
        if cfg.distillation_type == "hard"
        else f"soft outputs (tau {cfg.distillation_tau})"
    )
    return (
        f"{cfg.model}: class head on the labels (weight {1 - cfg.distillation_alpha:g}), distillation head on "
        f"the teacher's {target} (weight {cfg.distillation_alpha:g}); evaluation averages the two heads"
    )
