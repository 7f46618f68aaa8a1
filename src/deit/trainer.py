"""Build everything a run needs from one ``TrainConfig`` and drive the epochs.

    deit train --data /imagenet --model deit_small_distilled_patch16_224 \
        --teacher regnety_160 --teacher-weights regnety_160.pth --distillation-type hard
    torchrun --nproc_per_node 8 -m deit train -c deit_base_distilled_imagenet --data /imagenet

A run folder holds ``config.yaml``, ``metrics.jsonl``/``.csv``, ``last.pt``/``best.pt`` (full training
state, ``weights_only`` loadable), ``model.safetensors`` + ``model.json`` and ``curves.png``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import random
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from deit import checkpoint as ckpt
from deit.auto_recipe import Choice, DataStats, format_recipe, resolve_recipe
from deit.config import TrainConfig, save_config, validate
from deit.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DistributedEvalSampler,
    OddBatchMixup,
    RepeatAugSampler,
    build_dataset,
    build_mixup,
    build_transform,
    read_skip_log,
    set_skip_log,
    set_transform,
)
from deit.distributed import DistInfo, all_reduce_sum, broadcast_object, cleanup, init_distributed
from deit.engine import StepContext, evaluate, train_one_epoch
from deit.errors import CheckpointError, ConfigError, DataError, DeiTError, NonFiniteLossError
from deit.losses import DistillationLoss, build_base_criterion
from deit.models import MODEL_CONFIGS, is_deit_model
from deit.models.hf import is_hf_folder
from deit.models.loading import load_weights
from deit.optim import LRSchedule, ModelEma, build_optimizer
from deit.plots import plot_curves, write_csv
from deit.progress import is_interactive
from deit.teacher import ModelSpec, build_classifier, build_teacher, check_model_name

log = logging.getLogger("deit")
AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def setup_logging(log_file: Path | None, is_main: bool) -> None:
    root = logging.getLogger("deit")
    root.handlers.clear()
    root.setLevel(logging.INFO if is_main else logging.WARNING)
    root.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    root.addHandler(stream)
    if log_file is not None and is_main:
        fh = logging.FileHandler(log_file)
        fh.setFormatter(fmt)
        root.addHandler(fh)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(cfg: TrainConfig, epoch: int, rank: int) -> int:
    # Every epoch restarts all random streams from (seed, epoch, rank): resuming at an epoch boundary
    # reproduces the uninterrupted run exactly, whatever happened to the RNGs before.
    return (cfg.seed * 1_000_003 + epoch * 10_007 + rank) % 2**63


def _seed_worker(worker_id: int) -> None:
    s = torch.initial_seed() % 2**32
    random.seed(s)
    np.random.seed(s)


class StopFlag:
    """SIGTERM/SIGINT (SLURM pre-emption, Ctrl-C) ask the loop to stop after the current step."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        log.warning("%s received: finishing this step, then saving a checkpoint", self.signal_name)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


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


def build_data(cfg: TrainConfig, world_size: int = 1) -> DataBundle:
    """The datasets, with ``cfg``'s recipe resolved against the training set (``DataBundle.cfg``)."""
    img_size = default_img_size(cfg)
    mean, std = cfg.mean or IMAGENET_MEAN, cfg.std or IMAGENET_STD
    common = dict(val_split=cfg.val_split, seed=cfg.split_seed, skip_corrupt=cfg.skip_corrupt)
    train = build_dataset(cfg.data, "train", None, img_size=img_size, **common)
    if not cfg.img_size and not is_deit_model(cfg.model) and len(train):
        img_size = default_img_size(cfg, train[0][0])
    eval_tf = build_transform(False, img_size, mean, std, crop_pct=cfg.crop_pct)
    if cfg.data_cache != "none":  # datasets yield uint8 tensors, decoded once; augmentation is batched
        from torchvision import transforms as T

        from deit.data.cache import cache_size, cache_transform

        eval_tf = T.Compose([*eval_tf.transforms[:-2], T.PILToTensor()])  # no ToTensor/Normalize
    val = build_dataset(cfg.data, "val", eval_tf, img_size=img_size, **common)
    stats = DataStats.of(train, img_size)
    cfg, choices, warnings = resolve_recipe(cfg, stats, world_size, transformer=is_deit_model(cfg.model))
    if cfg.data_cache != "none":
        train_tf = cache_transform(cache_size(img_size), cfg.train_interpolation) if cfg.augment else eval_tf
    else:
        train_tf = train_transform(cfg, img_size, mean, std)
    set_transform(train, train_tf)
    classes = list(train.classes)
    if len(train) < cfg.batch_size:
        raise DataError(
            f"--data {cfg.data}: {len(train)} training images, fewer than --batch-size "
            f"{cfg.batch_size}; lower the batch size"
        )
    if cfg.num_classes is not None and cfg.num_classes != len(classes):
        raise ConfigError(f"--num-classes {cfg.num_classes} but --data {cfg.data} has {len(classes)} classes")
    return DataBundle(train, val, classes, img_size, tuple(mean), tuple(std), cfg, choices, warnings)


def build_cached_loaders(cfg: TrainConfig, data: DataBundle, device: torch.device) -> tuple[Any, Any, Any]:
    """``--data-cache``: (train cache, val loader, batched train transform) for ``data`` built by build_data."""
    from deit.data.batch_aug import build_batch_transform
    from deit.data.cache import build_cache

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


@contextlib.contextmanager
def blame(flag: str, value: Any) -> Iterator[None]:
    """Prefix a user error raised while handling one option with that option, e.g. ``--model x: ...``."""
    try:
        yield
    except DeiTError as exc:
        if str(exc).startswith(flag):
            raise
        raise type(exc)(f"{flag} {value}: {exc}") from exc


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


def _loader(
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
        worker_init_fn=_seed_worker,
        generator=generator,
        persistent_workers=False,
    )


def resolve_resume(cfg: TrainConfig, run: ckpt.RunFolder) -> Path | None:
    if cfg.resume is None:
        return None
    if cfg.resume == "auto":
        found = ckpt.find_last_checkpoint(run.root)
        unreadable = [str(p) for p in (run.last, run.best) if p.is_file()]
        if (
            found is None and unreadable
        ):  # never silently restart (and overwrite) a run whose checkpoints are bad
            raise CheckpointError(
                f"--resume: no loadable checkpoint in {run.root} ({', '.join(unreadable)} cannot "
                "be loaded); pass --resume PATH to choose one, or --overwrite (without --resume) "
                "to start the run again"
            )
        if found is None:
            log.info("--resume: no checkpoint in %s yet, starting a new run", run.root)
        return found
    path = Path(cfg.resume)
    if not path.is_file():
        raise CheckpointError(f"--resume {path}: no such checkpoint file")
    return path


def _fmt_stats(values: Any) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"


class Trainer:
    """Holds the pieces of one run; ``fit()`` runs it. Rank 0 alone logs and writes files."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg = validate(cfg)
        # misspelt model names first: before the data scan, the run folder and any other warning
        with blame("--model", cfg.model):
            check_model_name(cfg.model)
        if cfg.teacher_model is not None:
            with blame("--teacher", cfg.teacher_model):
                check_model_name(cfg.teacher_model, checkpoint_ok=True)
        self.dist: DistInfo = init_distributed(cfg.device)
        self.device = device = self.dist.device
        self.run = ckpt.RunFolder(Path(cfg.output))
        main = self.dist.is_main
        resume_path = resolve_resume(cfg, self.run)
        if main:
            self.run.prepare(overwrite=cfg.overwrite, resume=cfg.resume is not None)
        setup_logging(self.run.log_path if main else None, main)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        seed_everything(cfg.seed)  # same initial student (and random teacher) on every rank
        amp = cfg.resolve_amp(device.type)
        if amp == "fp16" and device.type != "cuda":
            raise ConfigError("--amp fp16 needs a CUDA device; use --amp bf16 or none")
        self.amp_dtype = AMP_DTYPES[amp]

        self.data = data = build_data(cfg, self.dist.world_size)
        self.cfg = cfg = validate(data.cfg)
        if main:
            log.info("%s", format_recipe(cfg, data.recipe, self.dist.world_size))
            for line in data.warnings:
                log.warning("%s", line)
        if cfg.skip_corrupt:  # one list for all workers, ranks and epochs: each skipped file counted once
            for dataset in (data.train, data.val):
                set_skip_log(dataset, self.run.skipped_path)
        num_classes = len(data.classes)
        model, self.model_spec = build_student(cfg, num_classes, data.img_size)
        self.distilled = bool(getattr(model, "distilled", False))
        if cfg.distillation_type != "none" and not self.distilled:
            raise ConfigError(
                f"--model {cfg.model} has no distillation token, so it cannot be distilled "
                f"(--distillation-type {cfg.distillation_type}); use a *_distilled_* model"
            )
        self.teacher = None
        if cfg.distillation_type != "none":
            flag = "--teacher-weights" if cfg.teacher_weights else "--teacher"
            if cfg.teacher_pretrained:
                flag = "--teacher-pretrained --teacher"
            with blame(flag, cfg.teacher_weights or cfg.teacher_model):
                self.teacher = build_teacher(
                    cfg.teacher_model,
                    num_classes,
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
            self.cfg = cfg = self._record_teacher_stats(cfg, data)
            log.info("%s", self.teacher.source)
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
        model.to(device)
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model  # the plain module: its state-dict keys never carry "module." or "_orig_mod."
        self.ema = ModelEma(model, cfg.model_ema_decay) if cfg.model_ema else None
        self.optimizer = build_optimizer(
            model,
            cfg.opt,
            cfg.actual_lr(self.dist.world_size),
            cfg.weight_decay,
            cfg.opt_eps,
            cfg.momentum,
            fused=device.type == "cuda",
        )
        self.scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
        self.schedule = LRSchedule(
            cfg.actual_lr(self.dist.world_size),
            cfg.epochs,
            cfg.warmup_epochs,
            cfg.warmup_lr,
            cfg.min_lr,
            cfg.sched,
            cfg.decay_epochs,
            cfg.decay_rate,
            official=cfg.sched_official,
        )
        self.mixup = build_batch_mixup(cfg, num_classes)
        self.criterion = DistillationLoss(
            build_base_criterion(self.mixup is not None, cfg.smoothing),
            cfg.distillation_type,
            cfg.distillation_alpha,
            cfg.distillation_tau,
            cfg.soft_normalization,
            self.distilled,
        )

        net: nn.Module = model
        self.eval_forward = None
        if cfg.compile:  # compile, then wrap in DDP (PyTorch's documented order); eval runs compiled too
            net = compiled = torch.compile(net)
            heads = getattr(model, "forward_heads", None)
            self.eval_forward = torch.compile(heads) if heads is not None else lambda x: (compiled(x), None)
        if self.dist.distributed:
            net = nn.parallel.DistributedDataParallel(
                net, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.net = net

        world, rank = self.dist.world_size, self.dist.rank
        if cfg.repeated_aug:
            self.train_sampler = RepeatAugSampler(data.train, world, rank, True, cfg.num_repeats, cfg.seed)
        else:
            self.train_sampler = DistributedSampler(
                data.train, world, rank, shuffle=True, seed=cfg.seed, drop_last=True
            )
        val_sampler = DistributedEvalSampler(
            data.val, world if cfg.dist_eval else 1, rank if cfg.dist_eval else 0
        )
        self.cache = None
        if cfg.data_cache != "none":
            from deit.data.cache import CachedLoader

            self.cache, (val_cache, val_tf), self.batch_tf = build_cached_loaders(cfg, data, device)
            self.val_loader: Any = CachedLoader(
                val_cache, list(iter(val_sampler)), cfg.batch_size, val_tf, device, drop_last=False
            )
        else:
            self.val_loader = _loader(data.val, val_sampler, cfg, device, drop_last=False)
        n_batches = len(self.train_sampler) // cfg.batch_size
        if n_batches == 0:
            raise DataError(
                f"--data {cfg.data}: {len(self.train_sampler)} training images per process, fewer "
                f"than --batch-size {cfg.batch_size}"
            )
        self.steps_per_epoch = min(n_batches, cfg.max_steps_per_epoch or n_batches)
        self.start_epoch, self.start_step, self.best_top1 = 0, 0, float("-inf")
        self.teacher_metrics: dict[str, float] | None = None
        self.stop = StopFlag()
        self.ctx = StepContext(
            optimizer=self.optimizer,
            criterion=self.criterion,
            lr_at=self.schedule.apply,
            device=device,
            steps_per_epoch=self.steps_per_epoch,
            teacher=self.teacher,
            mixup=self.mixup,
            amp_dtype=self.amp_dtype,
            scaler=self.scaler,
            accum_steps=cfg.accum_steps,
            clip_grad=cfg.clip_grad,
            ema=self.ema,
            channels_last=cfg.channels_last,
            skip_nonfinite=cfg.skip_nonfinite,
            log_interval=cfg.log_interval,
            show_progress=main and is_interactive(),
            distributed=self.dist.distributed,
            last_good_checkpoint=self._last_good,
            should_stop=self._should_stop,
        )
        if resume_path is not None:
            self._resume(resume_path)
        if main:
            notes = {c.name: f"{c.source}: {c.reason}" for c in data.recipe if c.source != "flag"}
            save_config(cfg, self.run.config_path, notes)
            log.info(
                "run folder %s | %d train / %d val images, %d classes | %s on %s x%d | lr %.3g "
                "(global batch %d) | amp %s | distillation %s",
                self.run.root,
                len(data.train),
                len(data.val),
                num_classes,
                cfg.model,
                device,
                world,
                self.schedule.base_lr,
                cfg.global_batch_size(world),
                amp,
                cfg.distillation_type,
            )
        if main:
            log.info("trains: %s", self.describe_objective())
        self.tb = self._tensorboard() if main and cfg.tensorboard else None

    def describe_objective(self) -> str:
        """What the loss trains, in words (the first lines of a run say it)."""
        cfg = self.cfg
        if not self.distilled:
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

    def _record_teacher_stats(self, cfg: TrainConfig, data: DataBundle) -> TrainConfig:
        """Log the teacher's input statistics and keep them in the config (so in config.yaml)."""
        t_mean, t_std, source = self.teacher.input_stats
        log.info(
            "teacher input: mean %s std %s (from %s); student input: mean %s std %s; %s",
            _fmt_stats(t_mean),
            _fmt_stats(t_std),
            source,
            _fmt_stats(data.mean),
            _fmt_stats(data.std),
            "renormalised for the teacher" if self.teacher.renormalize else "the same, passed as is",
        )
        if len(t_mean) == len(t_std) == 3:
            cfg = dataclasses.replace(cfg, teacher_mean=tuple(t_mean), teacher_std=tuple(t_std))
        return cfg

    # ------------------------------------------------------------------ state
    def _last_good(self) -> str:
        last = ckpt.find_last_checkpoint(self.run.root) if self.dist.is_main else None
        return str(last) if last else "none yet"

    def _should_stop(self, may_sync: bool) -> bool:
        flag = self.stop.requested
        if self.dist.distributed:  # every rank stops at the same step, or collectives would hang
            if not may_sync:  # agree only at log intervals and epoch ends: no per-step synchronisation
                return False
            t = torch.tensor([1.0 if flag else 0.0], device=self.device)
            flag = all_reduce_sum(t).item() > 0
            self.stop.requested = flag
        return flag

    def state(self, epoch: int, step_in_epoch: int, metrics: dict, partial: dict | None = None) -> dict:
        return {
            "format": "deit-train-v1",
            "model": self.model.state_dict(),
            "model_spec": self.model_spec,
            "class_names": list(self.data.classes),
            "data_mean": list(self.data.mean),
            "data_std": list(self.data.std),
            "img_size": self.data.img_size,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "ema": self.ema.state_dict() if self.ema else None,
            "epoch": epoch,  # completed epochs
            "step_in_epoch": step_in_epoch,  # > 0 only for a checkpoint taken mid-epoch (signal)
            "epoch_sums": partial,  # the interrupted epoch's loss sums, continued on resume
            "global_step": self.ctx.global_step,
            "best_top1": self.best_top1 if self.best_top1 != float("-inf") else None,
            "rng": ckpt.capture_rng_state(),
            "config": self.cfg.to_dict(),
            "metrics": metrics,
        }

    def _resume(self, path: Path) -> None:
        state = ckpt.load_checkpoint(path, map_location="cpu")
        if state.get("format") != "deit-train-v1":
            raise CheckpointError(
                f"--resume {path}: not a deit training checkpoint (use --finetune for weights)"
            )
        spec = state.get("model_spec") or {}
        if spec.get("name") != self.model_spec["name"]:
            raise CheckpointError(
                f"--resume {path}: checkpoint model {spec.get('name')!r} differs from --model "
                f"{self.model_spec['name']!r}"
            )
        load_weights(self.model, state["model"], adapt=False)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.start_epoch, self.start_step = int(state["epoch"]), int(state.get("step_in_epoch", 0))
        self.ctx.global_step = int(state.get("global_step", 0))
        self.best_top1 = state.get("best_top1") if state.get("best_top1") is not None else float("-inf")
        self._resume_rng = state.get("rng") if self.start_step else None
        self._resume_sums = state.get("epoch_sums") if self.start_step else None
        if self.dist.is_main and self.run.metrics_path.exists():
            # Epochs logged after this checkpoint (a crash between the metrics line and the save) run again.
            kept = [
                r for r in ckpt.read_jsonl(self.run.metrics_path) if r.get("epoch", 0) <= self.start_epoch
            ]
            tmp = self.run.metrics_path.with_name(f".{self.run.metrics_path.name}.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
            tmp.replace(self.run.metrics_path)
        log.info("resumed from %s at epoch %d step %d", path, self.start_epoch, self.start_step)

    def _tensorboard(self) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ConfigError(
                "--tensorboard needs the tensorboard package: pip install 'deit[tensorboard]'"
            ) from exc
        return SummaryWriter(str(self.run.root / "tensorboard"))

    def save(
        self, epoch: int, step_in_epoch: int, metrics: dict, best: bool, partial: dict | None = None
    ) -> None:
        # a finite loss with NaN/Inf gradients poisons the weights: never let them replace the last good checkpoint
        bad = [
            k
            for k, v in self.model.state_dict().items()
            if v.is_floating_point() and not torch.isfinite(v).all()
        ]
        if bad:
            raise NonFiniteLossError(
                f"the model weights became non-finite ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}) "
                f"by epoch {epoch} step {step_in_epoch} (global step {self.ctx.global_step}) although every loss "
                f"was finite (NaN/Inf gradients); not saving them; last good checkpoint: {self._last_good()} "
                "(intact; resume from it with --resume, perhaps with --clip-grad, a lower --lr or --amp none)"
            )
        if not self.dist.is_main:
            return
        state = self.state(epoch, step_in_epoch, metrics, partial)
        if best:
            ckpt.save_checkpoint(state, self.run.best)
        ckpt.save_checkpoint(state, self.run.last)

    # ------------------------------------------------------------------ loop
    def train_loader(self, epoch: int, start_step: int) -> Any:
        if start_step >= self.steps_per_epoch:  # stopped after the epoch's last step: nothing left
            return []
        self.train_sampler.set_epoch(epoch)
        indices = list(iter(self.train_sampler))[start_step * self.cfg.batch_size :]
        if self.cache is not None:  # batched augmentation on the device; draws from the epoch-seeded RNGs
            from deit.data.cache import CachedLoader

            return CachedLoader(self.cache, indices, self.cfg.batch_size, self.batch_tf, self.device)
        g = torch.Generator().manual_seed(epoch_seed(self.cfg, epoch, self.dist.rank))
        return _loader(self.data.train, indices, self.cfg, self.device, drop_last=True, generator=g)

    def fit(self) -> dict:
        cfg, main = self.cfg, self.dist.is_main
        self.stop.install()
        metrics: dict[str, Any] = {}
        t_start = time.perf_counter()
        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                start_step = self.start_step if epoch == self.start_epoch else 0
                seed_everything(epoch_seed(cfg, epoch, self.dist.rank))
                if start_step and getattr(self, "_resume_rng", None):
                    ckpt.restore_rng_state(self._resume_rng)
                carry = getattr(self, "_resume_sums", None) if start_step else None
                result = train_one_epoch(
                    self.net, self.train_loader(epoch, start_step), self.ctx, epoch, start_step, carry
                )
                if result.interrupted:  # also on the epoch's last step: evaluation runs after the resume
                    next_step = result.extra["next_step"]
                    self.save(epoch, next_step, metrics, best=False, partial=result.extra["sums"])
                    if main:
                        print(
                            f"deit train: stopped by {self.stop.signal_name} at epoch {epoch} step {next_step}; "
                            f"checkpoint saved to {self.run.last}.\nResume with the same command plus "
                            f"--resume (or --resume {self.run.last}).",
                            file=sys.stderr,
                        )
                    plot_curves(
                        ckpt.read_jsonl(self.run.metrics_path), self.run.curves_png, self.curves_title()
                    ) if main else None
                    return {"interrupted": True, "epoch": epoch, "step": next_step, "run": str(self.run.root)}
                last_epoch = epoch + 1 == cfg.epochs
                record: dict[str, Any] = {
                    "epoch": epoch + 1,
                    "lr": result.lr,
                    "train_loss": result.loss,
                    **{f"train_{k}": v for k, v in result.parts.items() if k != "total"},
                    "train_img_per_s": result.images_per_s,
                    "epoch_seconds": result.seconds,
                    "skipped_nonfinite": result.skipped_nonfinite,
                }
                is_best = False
                if (epoch + 1) % cfg.eval_interval == 0 or last_epoch:
                    metrics = self.evaluate()
                    record.update({f"val_{k}": v for k, v in metrics.items()})
                    is_best = metrics["top1"] > self.best_top1
                    self.best_top1 = max(self.best_top1, metrics["top1"])
                    log.info(
                        "epoch %d/%d: loss %.4f | val top1 %.2f%% (best %.2f%%)%s | %.0f img/s",
                        epoch + 1,
                        cfg.epochs,
                        result.loss,
                        metrics["top1"],
                        self.best_top1,
                        "".join(
                            f" {h} {metrics[f'{h}_top1']:.2f}"
                            for h in ("cls", "dist", "teacher")
                            if f"{h}_top1" in metrics
                        ),
                        result.images_per_s,
                    )
                if main:
                    if cfg.skip_corrupt:
                        skipped = read_skip_log(self.run.skipped_path)
                        log.info("--skip-corrupt: %d unreadable image(s) skipped so far", len(skipped))
                    ckpt.append_jsonl(self.run.metrics_path, record)
                    write_csv(ckpt.read_jsonl(self.run.metrics_path), self.run.csv_path)
                    if self.tb is not None:
                        for k, v in record.items():
                            if isinstance(v, (int, float)) and k != "epoch":
                                self.tb.add_scalar(k, v, epoch + 1)
                if (epoch + 1) % cfg.save_interval == 0 or last_epoch or is_best:
                    self.save(epoch + 1, 0, metrics, best=is_best)
        finally:
            self.stop.restore()
        if main:
            self.export(metrics)
            plot_curves(ckpt.read_jsonl(self.run.metrics_path), self.run.curves_png, self.curves_title())
            if cfg.skip_corrupt:
                skipped = read_skip_log(self.run.skipped_path)
                log.info(
                    "--skip-corrupt: %d unreadable image(s) skipped in total%s",
                    len(skipped),
                    f"; list: {self.run.skipped_path}" if skipped else "",
                )
            log.info(
                "done in %.1f min; best top1 %.2f%%; run folder %s",
                (time.perf_counter() - t_start) / 60,
                self.best_top1,
                self.run.root,
            )
        return {
            "interrupted": False,
            "metrics": metrics,
            "best_top1": self.best_top1,
            "run": str(self.run.root),
        }

    def curves_title(self) -> str:
        """curves.png's title: run, model and distillation (type and teacher)."""
        cfg = self.cfg
        if cfg.distillation_type == "none":
            how = "no distillation"
        else:
            teacher = "/".join(Path(str(cfg.teacher_model)).parts[-2:])  # a checkpoint: its folder/file
            how = f"{cfg.distillation_type} distillation from {teacher}"
        return f"{self.run.root.name}: {cfg.model}, {how}"

    def evaluate(self) -> dict[str, float]:
        if self.dist.distributed and not self.cfg.dist_eval:  # the main process alone evaluates everything
            metrics = self._evaluate(reduce=False) if self.dist.is_main else None
            return broadcast_object(metrics)
        return self._evaluate(reduce=True)

    def _evaluate(self, reduce: bool) -> dict[str, float]:
        teacher = self.teacher if self.teacher_metrics is None else None  # frozen: measure it once
        kw = dict(amp_dtype=self.amp_dtype, forward=self.eval_forward, reduce=reduce)
        metrics = evaluate(
            self.net,
            self.val_loader,
            self.device,
            teacher=teacher,
            show_progress=self.ctx.show_progress,
            **kw,
        )
        if teacher is not None:
            self.teacher_metrics = {k: v for k, v in metrics.items() if k.startswith("teacher_")}
        metrics.update(self.teacher_metrics or {})
        if self.ema is not None:
            backup = {k: v.clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict({k: v.to(backup[k].dtype) for k, v in self.ema.state_dict().items()})
            ema_metrics = evaluate(self.net, self.val_loader, self.device, **kw)
            self.model.load_state_dict(backup)
            metrics.update({f"ema_{k}": v for k, v in ema_metrics.items() if k.endswith(("top1", "top5"))})
        return metrics

    def export(self, metrics: dict) -> None:
        """model.safetensors from the weights ``best.pt`` holds when validation ran (so a run folder means
        the same weights to every command), else the final weights."""
        state, epoch = self.model.state_dict(), self.cfg.epochs
        if self.run.best.is_file():
            best = ckpt.load_checkpoint(self.run.best, map_location="cpu")
            state, epoch, metrics = best["model"], best.get("epoch", epoch), best.get("metrics") or metrics
        meta = {
            "epoch": epoch,
            "model_spec": self.model_spec,
            "class_names": list(self.data.classes),
            "data_mean": list(self.data.mean),
            "data_std": list(self.data.std),
            "img_size": self.data.img_size,
            "metrics": metrics,
            "config": self.cfg.to_dict(),
        }
        ckpt.export_model(state, meta, self.run.root)


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """torch's CPU threads set to ``n`` (None: unchanged) inside the block, restored after it: training also
    runs inside other programs (``deit demo``, tests)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(cfg: TrainConfig) -> dict:
    """Run one training job described by ``cfg``; returns the final metrics and the run folder."""
    trainer = None
    cfg = validate(cfg)
    try:
        with cpu_threads(cfg.threads):
            trainer = Trainer(cfg)
            return trainer.fit()
    finally:
        cleanup()
