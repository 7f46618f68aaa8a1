"""One training epoch and one evaluation pass: AMP, gradient accumulation, EMA, non-finite guard.

The teacher sees exactly the augmented, mixed batch that the student sees (paper Sec. 5), runs under
``no_grad`` and is never part of the student's module tree or of DDP.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deit.distributed import all_reduce_sum
from deit.errors import NonFiniteLossError
from deit.progress import progress

log = logging.getLogger("deit.engine")


@dataclass
class StepContext:
    """What one epoch needs besides the model and the data; built once by the trainer."""

    optimizer: torch.optim.Optimizer
    criterion: nn.Module  # deit.losses.DistillationLoss
    lr_at: Callable[[torch.optim.Optimizer, float], float]
    device: torch.device
    steps_per_epoch: int
    teacher: nn.Module | None = None
    mixup: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None = None
    amp_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    accum_steps: int = 1
    clip_grad: float | None = None
    ema: object | None = None  # deit.optim.ModelEma
    channels_last: bool = False
    skip_nonfinite: int = 0
    log_interval: int = 50
    show_progress: bool = False
    last_good_checkpoint: Callable[[], str] = lambda: "none yet"
    should_stop: Callable[[], bool] = lambda: False
    nonfinite_seen: int = 0
    global_step: int = 0


@dataclass
class EpochResult:
    loss: float
    parts: dict[str, float]
    lr: float
    images_per_s: float
    seconds: float
    steps: int
    interrupted: bool = False
    skipped_nonfinite: int = 0
    extra: dict = field(default_factory=dict)


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module under DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers, whose
    state-dict keys carry no ``module.``/``_orig_mod.`` prefix."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def train_one_epoch(
    model: nn.Module, loader: Iterable, ctx: StepContext, epoch: int, start_step: int = 0
) -> EpochResult:
    """Train for one epoch (or ``ctx.steps_per_epoch`` batches, starting after ``start_step`` ones)."""
    model.train()
    device, total_steps = ctx.device, ctx.steps_per_epoch
    sums: dict[str, float] = {}
    seen, steps, skipped, lr = 0, 0, 0, ctx.optimizer.param_groups[0]["lr"]
    t0 = time.perf_counter()
    ctx.optimizer.zero_grad(set_to_none=True)
    bar: Any = progress(loader, f"epoch {epoch}", ctx.show_progress, total=total_steps - start_step)
    step = start_step
    for step, (images, targets) in enumerate(bar, start=start_step):
        if step >= total_steps:
            break
        lr = ctx.lr_at(ctx.optimizer, epoch + step / total_steps)
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if ctx.mixup is not None:
            images, targets = ctx.mixup(images, targets)
        if ctx.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        teacher_logits = None
        if ctx.teacher is not None:
            with torch.no_grad(), autocast(device, ctx.amp_dtype):
                teacher_logits = ctx.teacher(images).float()
        sync = (step + 1) % ctx.accum_steps == 0 or step + 1 == total_steps
        no_sync = getattr(model, "no_sync", None)
        with no_sync() if (no_sync is not None and not sync) else contextlib.nullcontext():
            with autocast(device, ctx.amp_dtype):
                outputs = model(images)
            outputs = tuple(o.float() for o in outputs) if isinstance(outputs, tuple) else outputs.float()
            loss, parts = ctx.criterion(outputs, targets, teacher_logits)
            if not math.isfinite(loss.item()):
                skipped += 1
                ctx.nonfinite_seen += 1
                detail = ", ".join(f"{k}={float(v):.4g}" for k, v in parts.items())
                if ctx.nonfinite_seen > ctx.skip_nonfinite:
                    raise NonFiniteLossError(
                        f"non-finite loss at epoch {epoch} step {step} (global step {ctx.global_step}): {detail}; "
                        f"last good checkpoint: {ctx.last_good_checkpoint()} (intact; resume from it with "
                        f"--resume, perhaps with a lower --lr, --clip-grad or --amp none)"
                    )
                log.warning(
                    "skipping non-finite step %d of epoch %d (%s); %d of %d tolerated",
                    step,
                    epoch,
                    detail,
                    ctx.nonfinite_seen,
                    ctx.skip_nonfinite,
                )
                ctx.optimizer.zero_grad(set_to_none=True)
                continue
            scaled = loss / ctx.accum_steps
            if ctx.scaler is not None:
                ctx.scaler.scale(scaled).backward()
            else:
                scaled.backward()
        if sync:
            if ctx.scaler is not None:
                if ctx.clip_grad:
                    ctx.scaler.unscale_(ctx.optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), ctx.clip_grad)
                ctx.scaler.step(ctx.optimizer)
                ctx.scaler.update()
            else:
                if ctx.clip_grad:
                    nn.utils.clip_grad_norm_(model.parameters(), ctx.clip_grad)
                ctx.optimizer.step()
            ctx.optimizer.zero_grad(set_to_none=True)
            if ctx.ema is not None:
                ctx.ema.update(unwrap_model(model))
            ctx.global_step += 1
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        seen += images.shape[0]
        steps += 1
        elapsed = time.perf_counter() - t0
        if ctx.show_progress:
            bar.set_postfix(loss=f"{float(parts['total']):.4f}", lr=f"{lr:.2e}", ips=f"{seen / elapsed:.0f}")
        elif ctx.log_interval and (step + 1) % ctx.log_interval == 0:
            eta = elapsed / steps * (total_steps - step - 1)
            log.info(
                "epoch %d step %d/%d loss %.4f lr %.3e %.1f img/s eta %s",
                epoch,
                step + 1,
                total_steps,
                sums["total"] / steps,
                lr,
                seen / elapsed,
                _fmt_eta(eta),
            )
        if ctx.should_stop():
            break
    elapsed = time.perf_counter() - t0
    averaged = {k: v / max(steps, 1) for k, v in sums.items()}
    interrupted = ctx.should_stop() and step + 1 < total_steps
    return EpochResult(
        loss=averaged.get("total", float("nan")),
        parts=averaged,
        lr=lr,
        images_per_s=seen / max(elapsed, 1e-9),
        seconds=elapsed,
        steps=steps,
        interrupted=interrupted,
        skipped_nonfinite=skipped,
        extra={"next_step": step + 1},
    )


def _correct_topk(logits: Tensor, targets: Tensor, ks: tuple[int, ...]) -> list[Tensor]:
    maxk = min(max(ks), logits.shape[1])
    pred = logits.topk(maxk, dim=1).indices  # [B, k]
    hit = pred.eq(targets[:, None])
    return [hit[:, : min(k, maxk)].any(dim=1).sum() for k in ks]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device,
    teacher: nn.Module | None = None,
    amp_dtype: torch.dtype | None = None,
    show_progress: bool = False,
    desc: str = "eval",
) -> dict[str, float]:
    """Top-1/top-5 (%) of every output: ``cls``, ``dist`` and ``fused`` heads for a distilled DeiT,
    ``fused`` alone (= the only output) otherwise, and ``teacher`` if given; plus the fused CE loss.

    Counts are summed over all processes, so with a ``DistributedEvalSampler`` each sample counts once.
    """
    model.eval()
    net = getattr(model, "module", model)
    names: list[str] = []
    sums: Tensor | None = None
    for images, targets in progress(loader, desc, show_progress):
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with autocast(device, amp_dtype):
            if hasattr(net, "forward_heads"):
                cls, dist = net.forward_heads(images)
            else:
                cls, dist = net(images), None
        outputs = {"fused": (cls.float() + dist.float()) / 2 if dist is not None else cls.float()}
        if dist is not None:
            outputs["cls"], outputs["dist"] = cls.float(), dist.float()
        if teacher is not None:
            with autocast(device, amp_dtype):
                outputs["teacher"] = teacher(images).float()
        row = [
            torch.tensor(float(targets.shape[0]), device=device),
            F.cross_entropy(outputs["fused"], targets, reduction="sum"),
        ]
        for name in sorted(outputs):
            row.extend(c.float() for c in _correct_topk(outputs[name], targets, (1, 5)))
        names = sorted(outputs)
        batch = torch.stack(row)
        sums = batch if sums is None else sums + batch
    if sums is None:
        sums = torch.zeros(
            2 + 2 * (3 if getattr(net, "distilled", False) else 1) + (2 if teacher else 0), device=device
        )
        names = sorted(
            ["fused"]
            + (["cls", "dist"] if getattr(net, "distilled", False) else [])
            + (["teacher"] if teacher is not None else [])
        )
    sums = all_reduce_sum(sums.double())
    n = max(sums[0].item(), 1.0)
    result = {"samples": int(sums[0].item()), "loss": sums[1].item() / n}
    for i, name in enumerate(names):
        result[f"{name}_top1"] = 100.0 * sums[2 + 2 * i].item() / n
        result[f"{name}_top5"] = 100.0 * sums[3 + 2 * i].item() / n
    result["top1"], result["top5"] = result["fused_top1"], result["fused_top5"]
    return result
