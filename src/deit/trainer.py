"""Build everything a run needs from one ``TrainConfig`` and drive the epochs.

    deit train --data /imagenet --model deit_small_distilled_patch16_224 \
        --teacher regnety_160 --teacher-weights regnety_160.pth --distillation-type hard
    torchrun --nproc_per_node 8 -m deit train -c deit_base_distilled_imagenet --data /imagenet

A run folder holds ``config.yaml``, ``metrics.jsonl``/``.csv``, ``last.pt``/``best.pt`` (full training
state, ``weights_only`` loadable), ``model.safetensors`` + ``model.json`` and ``curves.png``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deit import checkpoint as ckpt
from deit.auto_recipe import format_recipe
from deit.builders import (
    DataBundle,
    build_batch_mixup,
    build_data,
    build_distillation_teacher,
    build_loaders,
    build_student,
    describe_objective,
    make_loader,
)
from deit.config import TrainConfig, save_config, validate
from deit.data import read_skip_log, set_skip_log
from deit.data.cache import CachedLoader
from deit.data.shards import ShardSampler
from deit.distributed import DistInfo, all_reduce_sum, broadcast_object, cleanup, init_distributed
from deit.engine import StepContext, evaluate, train_one_epoch
from deit.errors import ConfigError, DataError
from deit.losses import DistillationLoss, build_base_criterion
from deit.optim import LRSchedule, ModelEma, build_optimizer
from deit.plots import plot_curves, write_csv
from deit.progress import fmt_duration, is_interactive
from deit.runtime import (
    AMP_DTYPES,
    StopFlag,
    blame,
    cpu_threads,
    epoch_seed,
    resolve_resume,
    seed_everything,
    setup_logging,
    tensorboard_writer,
)
from deit.teacher import check_model_name
from deit.trainer_state import TrainerState

log = logging.getLogger("deit")


class Trainer(TrainerState):
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

        self.data = data = build_data(cfg, self.dist.world_size, device)
        self.cfg = cfg = validate(data.cfg)
        torch.set_num_threads(cfg.threads)  # resolved with the data path; train() restores the caller's
        # where every auto value came from, in each checkpoint (config.yaml has it as comments)
        self.choices = {c.name: {"source": c.source, "reason": c.reason} for c in data.recipe}
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
        self.teacher, cfg = build_distillation_teacher(cfg, data, device)
        self.cfg = cfg
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
            fused=bool(cfg.fused_opt),  # resolved with the data path (auto: AdamW on CPU and CUDA)
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
        self.train_sampler, self.val_loader, self.cache, self.batch_tf = build_loaders(
            cfg, data, device, world, rank
        )
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
            epochs=cfg.epochs,
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
            log.info("trains: %s", describe_objective(cfg, self.distilled))
        self.tb = tensorboard_writer(self.run.root) if main and cfg.tensorboard else None

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

    # ------------------------------------------------------------------ loop
    def train_loader(self, epoch: int, start_step: int) -> Any:
        if start_step >= self.steps_per_epoch:  # stopped after the epoch's last step: nothing left
            return []
        self.train_sampler.set_epoch(epoch)
        if isinstance(self.train_sampler, ShardSampler):  # streamed shards: the order is the stream's own
            stream = self.train_sampler.epoch_stream(epoch, start_step)
            g = torch.Generator().manual_seed(epoch_seed(self.cfg, epoch, self.dist.rank))
            return make_loader(stream, None, self.cfg, self.device, drop_last=True, generator=g)
        indices = list(iter(self.train_sampler))[start_step * self.cfg.batch_size :]
        if self.cache is not None:  # batched augmentation on the device; draws from the epoch-seeded RNGs
            return CachedLoader(self.cache, indices, self.cfg.batch_size, self.batch_tf, self.device)
        g = torch.Generator().manual_seed(epoch_seed(self.cfg, epoch, self.dist.rank))
        return make_loader(self.data.train, indices, self.cfg, self.device, drop_last=True, generator=g)

    def fit(self) -> dict:
        """Train to ``cfg.epochs`` (or a stop signal); the run folder is free for other processes after."""
        try:
            return self._fit()
        finally:
            self.run.release()

    def _fit(self) -> dict:
        cfg, main = self.cfg, self.dist.is_main
        self.stop.install()
        metrics: dict[str, Any] = {}
        t_start, timed_epochs = time.perf_counter(), 0
        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                t_epoch = time.perf_counter()
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
                            f"deit train: stopped by {self.stop.signal_name} at epoch {epoch + 1}/{cfg.epochs} step "
                            f"{next_step}; "
                            f"checkpoint saved to {self.run.last}.\nResume with the same command plus "
                            f"--resume (or --resume {self.run.last}).",
                            file=sys.stderr,
                        )
                    plot_curves(
                        ckpt.read_jsonl(self.run.metrics_path), self.run.curves_png, self.curves_title()
                    ) if main else None
                    return {
                        "interrupted": True,
                        "signal": self.stop.signal_name,
                        "epoch": epoch,
                        "step": next_step,
                        "run": str(self.run.root),
                    }
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
                evaluated = ""
                if (epoch + 1) % cfg.eval_interval == 0 or last_epoch:
                    metrics = self.evaluate()
                    record.update({f"val_{k}": v for k, v in metrics.items()})
                    is_best = metrics["top1"] >= self.best_top1  # ties: the later, longer-trained weights
                    self.best_top1 = max(self.best_top1, metrics["top1"])
                    heads = "".join(
                        f" {h} {metrics[f'{h}_top1']:.2f}"
                        for h in ("cls", "dist", "teacher")
                        if f"{h}_top1" in metrics
                    )
                    evaluated = f" | val top1 {metrics['top1']:.2f}% (best {self.best_top1:.2f}%){heads}"
                epoch_s = time.perf_counter() - t_epoch
                timed_epochs += 1
                self.ctx.seconds_per_epoch = (time.perf_counter() - t_start) / timed_epochs
                log.info(
                    "epoch %d/%d: loss %.4f%s | %.0f img/s | %s, eta %s",
                    epoch + 1,
                    cfg.epochs,
                    result.loss,
                    evaluated,
                    result.images_per_s,
                    fmt_duration(epoch_s),
                    fmt_duration(self.ctx.seconds_per_epoch * (cfg.epochs - epoch - 1)),
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


def train(cfg: TrainConfig) -> dict:
    """Run one training job described by ``cfg``; returns the final metrics and the run folder."""
    cfg = validate(cfg)
    try:
        with cpu_threads(cfg.threads):
            trainer = Trainer(cfg)
            return trainer.fit()
    finally:
        trainer = None  # its DDP wrapper holds the process group that cleanup() frees
        cleanup()


__all__ = [  # the builders and run helpers are re-exported: callers import them from here
    "AMP_DTYPES",
    "DataBundle",
    "Trainer",
    "build_batch_mixup",
    "build_data",
    "build_student",
    "cpu_threads",
    "epoch_seed",
    "seed_everything",
    "train",
]
