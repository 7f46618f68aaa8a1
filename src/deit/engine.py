"""One training epoch and one evaluation pass: AMP, gradient accumulation, EMA, non-finite guard.

The teacher sees exactly the augmented, mixed batch that the student sees (paper Sec. 5), runs under
``no_grad`` and is never part of the student's module tree or of DDP.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deit.distributed import all_reduce_sum
from deit.errors import NonFiniteLossError
from deit.models.weights import unwrap_model
from deit.progress import fmt_duration, progress

log = logging.getLogger("deit.engine")


@dataclass
class StepContext:
    """What one epoch needs besides the model and the data; built once by the trainer."""

    optimizer: torch.optim.Optimizer
    criterion: nn.Module  # deit.losses.DistillationLoss
    lr_at: Callable[[torch.optim.Optimizer, float], float]
    device: torch.device
    steps_per_epoch: int
    epochs: int = 1  # of the whole run: epochs are numbered 1..epochs in every log line
    seconds_per_epoch: float | None = None  # wall time of the run's finished epochs (eval included), mean
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
    distributed: bool = False
    last_good_checkpoint: Callable[[], str] = lambda: "none yet"
    # asked at the end of every accumulation window; the argument says whether it may synchronise the
    # processes (at log intervals and at the end of the epoch): under DDP all stop at the same window
    should_stop: Callable[[bool], bool] = lambda may_sync: False
    nonfinite_seen: int = 0  # skipped optimizer steps so far (all processes agree on it)
    global_step: int = 0
    nonfinite_count: Tensor | None = None  # device-side counter behind nonfinite_seen
    # the first non-finite batch since the last check, on the device: [tick, loss parts...] (tick -1: none)
    nonfinite_first: Tensor | None = None
    tick: Tensor | None = None  # device-side batch counter; host side: ticks[i] = (epoch, step, global step)
    ticks: list = field(default_factory=list)
    part_names: list = field(default_factory=list)


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


def _optimizer_step(model: nn.Module, ctx: StepContext, found_inf: Tensor) -> None:
    """Clip, step and zero the gradients, skipping the update where ``found_inf`` (a 0/1 device scalar that
    every process agrees on) is 1, without reading it on the host when the optimizer can skip by itself."""
    opt = ctx.optimizer
    if ctx.scaler is not None:  # GradScaler skips steps with non-finite gradients: make them so
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        if grads:
            grads[0].add_(torch.where(found_inf > 0, float("nan"), 0.0).to(grads[0].dtype))
        if ctx.clip_grad:
            ctx.scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), ctx.clip_grad)
        ctx.scaler.step(opt)
        ctx.scaler.update()
    else:
        if ctx.clip_grad:
            nn.utils.clip_grad_norm_(model.parameters(), ctx.clip_grad)
        if getattr(opt, "_step_supports_amp_scaling", False):  # fused kernels skip on found_inf, on device
            opt.found_inf, opt.grad_scale = found_inf, None
            try:
                opt.step()
            finally:
                del opt.found_inf, opt.grad_scale
        elif found_inf.item() == 0:  # host read: free on CPU
            opt.step()
    opt.zero_grad(set_to_none=True)
    if ctx.ema is not None:
        ctx.ema.update(unwrap_model(model), skip=found_inf)


def _check_nonfinite(ctx: StepContext, epoch: int) -> int:
    """Read the skipped-step counter (a synchronisation: only at log intervals and at the end of an epoch);
    warn about new skips, stop past ``skip_nonfinite``. Returns the skips new since the last check."""
    if ctx.nonfinite_count is None:
        return 0
    seen = int(ctx.nonfinite_count.item())
    new, ctx.nonfinite_seen = seen - ctx.nonfinite_seen, seen
    if new <= 0:
        return 0
    ctx.global_step -= new  # global_step counts the updates made
    first = ctx.nonfinite_first.tolist()
    ctx.nonfinite_first[0] = -1.0
    if first[0] >= 0:
        e, step, gs = ctx.ticks[int(first[0])]
        detail = ", ".join(f"{k}={v:.4g}" for k, v in zip(ctx.part_names, first[1:]))
        where = f"at epoch {e + 1}/{ctx.epochs} step {step + 1} (global step {gs}): {detail}"
    else:
        where = f"on another process (epoch {epoch + 1}/{ctx.epochs})"
    more = f" and {new - 1} more" if new > 1 else ""
    if seen > ctx.skip_nonfinite:
        raise NonFiniteLossError(
            f"non-finite loss {where}{more}; {seen} update(s) skipped, --skip-nonfinite allows "
            f"{ctx.skip_nonfinite}; last good checkpoint: {ctx.last_good_checkpoint()} (intact; resume from it "
            "with --resume, perhaps with a lower --lr, --clip-grad or --amp none)"
        )
    log.warning("skipping non-finite loss %s%s; %d of %d tolerated", where, more, seen, ctx.skip_nonfinite)
    return new


def _etas(ctx: StepContext, epoch: int, seconds_per_step: float, steps_left: int) -> tuple[float, float]:
    """(seconds left in this epoch, seconds left in the run): the run's later epochs at the mean duration
    of its finished ones (evaluation included), or at this epoch's pace before one has finished."""
    epoch_left = seconds_per_step * steps_left
    per_epoch = ctx.seconds_per_epoch or seconds_per_step * ctx.steps_per_epoch
    return epoch_left, epoch_left + per_epoch * max(ctx.epochs - epoch - 1, 0)


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    ctx: StepContext,
    epoch: int,
    start_step: int = 0,
    carry: dict | None = None,
) -> EpochResult:
    """Train for one epoch (or ``ctx.steps_per_epoch`` batches, starting after ``start_step`` ones).

    Optimizer steps close windows of ``accum_steps`` batches counted from the start of the epoch; the last
    window may be shorter and is averaged over its own batches. A stop request ends the epoch only at the
    end of a window. A non-finite loss on any process skips that window's update on every process (the
    processes agree through one small all-reduce per optimizer step, never a host read); the count is read
    at log intervals. ``carry`` (``EpochResult.extra["sums"]`` of an interrupted epoch) continues its averages.
    """
    model.train()
    device, total, accum = ctx.device, ctx.steps_per_epoch, ctx.accum_steps
    if ctx.nonfinite_count is None:
        ctx.nonfinite_count = torch.zeros((), device=device)
        ctx.tick = torch.zeros((), device=device)
    carry = carry or {}
    names: list[str] = list(carry.get("names", []))
    sums: Tensor | None = torch.tensor(carry["sums"], device=device) if carry.get("sums") else None
    good = torch.tensor(float(carry.get("good", 0)), device=device)
    seen, steps, skipped, lr = 0, 0, 0, ctx.optimizer.param_groups[0]["lr"]
    window_bad = torch.zeros((), device=device)
    t0 = time.perf_counter()
    ctx.optimizer.zero_grad(set_to_none=True)
    every = max(1, ctx.log_interval // accum) if ctx.log_interval else 0
    desc = f"epoch {epoch + 1}/{ctx.epochs}"
    bar: Any = progress(loader, desc, ctx.show_progress, total=max(total - start_step, 0))
    step, stopped = start_step - 1, False
    for step, (images, targets) in enumerate(bar, start=start_step):
        if step >= total:
            step -= 1
            break
        window_start = step - step % accum
        if step == window_start:  # one lr per optimizer step: that of the window's first batch
            lr = ctx.lr_at(ctx.optimizer, epoch + window_start / total)
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
        last = step + 1 == total
        sync = (step + 1) % accum == 0 or last
        no_sync = getattr(model, "no_sync", None)
        with no_sync() if (no_sync is not None and not sync) else contextlib.nullcontext():
            with autocast(device, ctx.amp_dtype):
                outputs = model(images)
            outputs = tuple(o.float() for o in outputs) if isinstance(outputs, tuple) else outputs.float()
            loss, parts = ctx.criterion(outputs, targets, teacher_logits)
            finite = torch.isfinite(loss)
            window_bad += (~finite).float()
            # backward even for a non-finite loss: DDP's gradient all-reduce must run on every process
            scaled = loss / min(accum, total - window_start)
            if ctx.scaler is not None:
                ctx.scaler.scale(scaled).backward()
            else:
                scaled.backward()
        if not names:
            names = list(parts)
        raw = torch.stack([parts[k].float() for k in names])
        if ctx.nonfinite_first is None or ctx.part_names != names:
            ctx.part_names = names
            ctx.nonfinite_first = torch.full((1 + len(names),), -1.0, device=device)
        ctx.ticks.append((epoch, step, ctx.global_step))
        record = ~finite & (ctx.nonfinite_first[0] < 0)
        ctx.nonfinite_first = torch.where(record, torch.cat([ctx.tick.view(1), raw]), ctx.nonfinite_first)
        ctx.tick += 1
        row = torch.where(finite, raw, torch.zeros_like(raw))
        sums = row if sums is None else sums + row
        good += finite.float()
        seen += images.shape[0]
        steps += 1
        if not sync:
            continue
        found_inf = window_bad.clamp(max=1.0)
        if ctx.distributed:
            found_inf = all_reduce_sum(found_inf).clamp(max=1.0)
        _optimizer_step(model, ctx, found_inf)
        ctx.nonfinite_count += found_inf
        ctx.global_step += 1
        window_bad.zero_()
        report = last or (every and (step // accum + 1) % every == 0)
        if report:
            skipped += _check_nonfinite(ctx, epoch)
            ctx.ticks.clear()
            ctx.tick.zero_()
            elapsed = time.perf_counter() - t0
            mean_loss = (sums[names.index("total")] / good.clamp(min=1)).item()
            eta_epoch, eta_run = _etas(ctx, epoch, elapsed / steps, total - step - 1)
            if ctx.show_progress:
                bar.set_postfix(
                    loss=f"{mean_loss:.4f}",
                    lr=f"{lr:.2e}",
                    ips=f"{seen / elapsed:.0f}",
                    run_eta=fmt_duration(eta_run),
                )
            elif not last:
                log.info(
                    "%s step %d/%d loss %.4f lr %.3e %.1f img/s eta epoch %s, run %s",
                    desc,
                    step + 1,
                    total,
                    mean_loss,
                    lr,
                    seen / elapsed,
                    fmt_duration(eta_epoch),
                    fmt_duration(eta_run),
                )
        if ctx.should_stop(bool(report)):
            stopped = True
            break
    elapsed = time.perf_counter() - t0
    n_good = float(good.item())
    values = (sums / max(n_good, 1.0)).tolist() if sums is not None else []
    averaged = dict(zip(names, values)) if n_good else {k: float("nan") for k in names}
    return EpochResult(
        loss=averaged.get("total", float("nan")),
        parts=averaged,
        lr=lr,
        images_per_s=seen / max(elapsed, 1e-9),
        seconds=elapsed,
        steps=steps,
        interrupted=stopped,
        skipped_nonfinite=skipped,
        extra={
            "next_step": step + 1,
            "sums": {"names": names, "sums": sums.tolist() if sums is not None else [], "good": n_good},
        },
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
    forward: Callable[[Tensor], tuple[Tensor, Tensor | None]] | None = None,
    reduce: bool = True,
) -> dict[str, float]:
    """Top-1/top-5 (%) of every output: ``cls``, ``dist`` and ``fused`` heads for a distilled DeiT,
    ``fused`` alone (= the only output) otherwise, and ``teacher`` if given; plus the fused CE loss.

    Counts are summed over all processes (``reduce``), so with a ``DistributedEvalSampler`` each sample
    counts once. ``forward`` (e.g. a compiled ``forward_heads``) replaces the model's ``(cls, dist)`` call.
    """
    model.eval()
    net = getattr(model, "module", model)
    names: list[str] = []
    sums: Tensor | None = None
    for images, targets in progress(loader, desc, show_progress):
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with autocast(device, amp_dtype):
            if forward is not None:
                cls, dist = forward(images)
            elif hasattr(net, "forward_heads"):
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
    sums = all_reduce_sum(sums.double()) if reduce else sums.double()
    n = max(sums[0].item(), 1.0)
    result = {"samples": int(sums[0].item()), "loss": sums[1].item() / n}
    for i, name in enumerate(names):
        result[f"{name}_top1"] = 100.0 * sums[2 + 2 * i].item() / n
        result[f"{name}_top5"] = 100.0 * sums[3 + 2 * i].item() / n
    result["top1"], result["top5"] = result["fused_top1"], result["fused_top5"]
    return result
