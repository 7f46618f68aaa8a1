"""Engine defects found by the outside review (issue 13), each with a real short run on tiny models."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tiny_run import tiny_config

from deit.config import TrainConfig
from deit.trainer import Trainer


def tiny(tmp_path: Path, name: str = "r", **overrides: object) -> TrainConfig:
    return tiny_config(tmp_path, name, **{"max_steps_per_epoch": 3, **overrides})


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

    from deit.config import SPECS as _SPECS
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


# ----------------------------------------------------------------------------- engine-level checks
class _Plain(torch.nn.Module):
    """A linear classifier; the criterion sees plain logits (no distillation)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def _ctx(model: torch.nn.Module, steps: int, **kw: object):
    from deit.engine import StepContext
    from deit.losses import DistillationLoss

    opt = kw.pop("optimizer", None) or torch.optim.SGD(model.parameters(), lr=1.0)
    return StepContext(
        optimizer=opt,
        criterion=DistillationLoss(torch.nn.CrossEntropyLoss(), "none", 0.5, 1.0),
        lr_at=lambda o, e: o.param_groups[0]["lr"],
        device=torch.device("cpu"),
        steps_per_epoch=steps,
        log_interval=1000,
        **kw,
    )


def _batches(n: int, size: int = 4) -> list:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(size, 4, generator=g), torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]


def test_partial_last_accumulation_window_is_averaged_over_its_own_batches() -> None:
    from deit.engine import train_one_epoch

    torch.manual_seed(0)
    model, data = _Plain(), _batches(3)
    ref = _Plain()
    ref.load_state_dict(model.state_dict())
    train_one_epoch(model, data, _ctx(model, 3, accum_steps=2), 0)
    # by hand: one step on the mean loss of batches 0+1 (one batch of 8), one on batch 2 alone, lr 1
    opt = torch.optim.SGD(ref.parameters(), lr=1.0)
    for images, targets in [
        (torch.cat([data[0][0], data[1][0]]), torch.cat([data[0][1], data[1][1]])),
        data[2],
    ]:
        torch.nn.functional.cross_entropy(ref(images), targets).backward()
        opt.step()
        opt.zero_grad()
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)


def test_stop_request_inside_a_window_finishes_the_window() -> None:
    from deit.engine import train_one_epoch

    model = _Plain()
    asked: list[bool] = []
    ctx = _ctx(model, 6, accum_steps=3, should_stop=lambda may_sync: asked.append(may_sync) or True)
    result = train_one_epoch(model, _batches(6), ctx, 0)
    # asked only at the end of the first window (3 batches), never in the middle of one
    assert result.interrupted and result.extra["next_step"] == 3 and result.steps == 3 and len(asked) == 1
    assert ctx.global_step == 1 and all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("path", ["host", "fused", "scaler"])
def test_nonfinite_loss_skips_the_update_on_every_optimizer_path(path: str) -> None:
    from deit.engine import train_one_epoch
    from deit.errors import NonFiniteLossError
    from deit.optim import ModelEma

    torch.manual_seed(0)
    model = _Plain()
    data = _batches(4)
    data[1] = (data[1][0] * float("nan"), data[1][1])  # the second window's loss is NaN
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, fused=path == "fused")
    scaler = torch.amp.GradScaler("cpu") if path == "scaler" else None
    ema = ModelEma(model, 0.5)
    ctx = _ctx(model, 4, optimizer=opt, scaler=scaler, skip_nonfinite=1, accum_steps=1, ema=ema)
    ctx.log_interval = 1  # check after every step
    snapshots: list = []
    model.register_forward_pre_hook(
        lambda m, a: snapshots.append((m.fc.weight.clone(), ema.state["fc.weight"].clone()))
    )
    result = train_one_epoch(model, data, ctx, 0)
    assert result.skipped_nonfinite == 1 and ctx.global_step == 3 and ctx.nonfinite_seen == 1
    # the weights and the EMA after the NaN step equal those before it
    assert torch.equal(snapshots[1][0], snapshots[2][0]) and torch.equal(snapshots[1][1], snapshots[2][1])
    assert not torch.equal(snapshots[0][0], snapshots[1][0])  # finite steps do update
    assert all(torch.isfinite(p).all() for p in model.parameters()) and math.isfinite(result.loss)
    if path != "scaler":
        assert int(opt.state[model.fc.weight]["step"]) == 3  # Adam's step count skips it too
    ctx.skip_nonfinite = 0
    ctx.nonfinite_seen = 0
    ctx.nonfinite_count.zero_()
    with pytest.raises(
        NonFiniteLossError,
        match=r"non-finite loss at epoch 2/\d+ step 2 \(global step 4\): base=nan, total=nan",
    ):
        train_one_epoch(model, data, ctx, 1)


EXACT = dict(augment=False, mixup=0.0, cutmix=0.0, drop_path=0.0, reprob=0.0, epochs=2, warmup_epochs=1)


def test_accumulation_2_x_batch_16_equals_batch_32(tmp_path: Path) -> None:
    fast = dict(EXACT, eval_interval=2, lr_base=5e-4)  # one evaluation, at the end; lr from the global batch
    one = Trainer(tiny(tmp_path, "b32", batch_size=32, max_steps_per_epoch=2, **fast))
    two = Trainer(tiny(tmp_path, "b16x2", batch_size=16, accum_steps=2, max_steps_per_epoch=4, **fast))
    assert one.schedule.base_lr == two.schedule.base_lr
    one.fit()
    two.fit()
    assert one.ctx.global_step == two.ctx.global_step == 4
    a, b = one.model.state_dict(), two.model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6, msg=k)


def test_stop_on_the_last_step_of_an_epoch_saves_at_once_and_resumes_exactly(tmp_path: Path) -> None:
    straight = Trainer(tiny(tmp_path, "straight", **EXACT))
    straight.fit()
    stopped = Trainer(tiny(tmp_path, "split", **EXACT))
    calls = {"n": 0}

    def request_stop(module: torch.nn.Module, args: tuple) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the last batch of epoch 0 (3 steps per epoch)
            stopped.stop.requested = True

    stopped.model.register_forward_pre_hook(request_stop)
    out = stopped.fit()
    assert out["interrupted"] and (out["epoch"], out["step"]) == (0, 3)
    assert calls["n"] == 3  # no evaluation, no further step before saving
    assert not (Path(stopped.run.root) / "metrics.jsonl").exists()
    resumed = Trainer(tiny(tmp_path, "split", resume="auto", **EXACT))
    assert (resumed.start_epoch, resumed.start_step) == (0, 3)
    resumed.fit()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(x) for x in (Path(resumed.run.root) / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(x) for x in (Path(straight.run.root) / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[0]["train_loss"] == pytest.approx(ref[0]["train_loss"])  # the epoch's loss survives the stop
    assert rows[-1]["val_top1"] == ref[-1]["val_top1"]


_RANK_NAN_SCRIPT = """
import os, sys
import torch
from deit.cli.main import main
from deit.losses import DistillationLoss
from deit.trainer import Trainer

rank, calls, original = int(os.environ["RANK"]), [0], DistillationLoss.forward

def forward(self, *args, **kwargs):
    loss, parts = original(self, *args, **kwargs)
    calls[0] += 1
    if rank == 1 and calls[0] == 2:  # only this process sees a NaN, on its second step
        loss = loss * float("nan")
        parts = {**parts, "total": loss.detach()}
    return loss, parts

DistillationLoss.forward = forward
fit = Trainer.fit

def fit_and_dump(self):
    out = fit(self)
    torch.save(self.model.state_dict(), os.path.join(sys.argv[1], f"rank{rank}.pt"))
    return out

Trainer.fit = fit_and_dump
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.distributed
@pytest.mark.slow(seconds=30)
def test_ddp_nonfinite_loss_on_one_process_skips_or_stops_everywhere_without_hanging(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    script = tmp_path / "rank_nan.py"
    script.write_text(_RANK_NAN_SCRIPT)
    common = ["train", "--data", "digits", "--model", "deit_nano_distilled_patch4_16", "--img-size", "16"]
    common += ["-b", "16", "--workers", "0", "--epochs", "1", "--warmup-epochs", "0", "--aa", "none"]
    common += ["--no-repeated-aug", "--max-steps-per-epoch", "3", "--device", "cpu", "--log-interval", "1000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}

    def torchrun(out: Path, *extra: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        argv += [str(script), str(out), *common, "--output", str(out), *extra]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240)

    tolerated = torchrun(tmp_path / "skip", "--skip-nonfinite", "1", "--no-dist-eval")
    assert tolerated.returncode == 0, tolerated.stderr[-3000:]
    r0 = torch.load(tmp_path / "skip" / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "skip" / "rank1.pt", weights_only=True)
    assert all(torch.equal(r0[k], r1[k]) for k in r0)  # both processes skipped the same update
    state = torch.load(tmp_path / "skip" / "last.pt", weights_only=True)
    assert state["global_step"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values())
    (row,) = [json.loads(x) for x in (tmp_path / "skip" / "metrics.jsonl").read_text().splitlines()]
    assert row["val_samples"] == 360  # --no-dist-eval: one process evaluates every sample once

    stopped = torchrun(tmp_path / "stop")
    assert stopped.returncode != 0 and "non-finite loss" in stopped.stderr, stopped.stderr[-3000:]
    assert "deit train: error: non-finite loss" in stopped.stderr  # the clean error, from each process


def test_first_lines_say_what_is_trained(tmp_path: Path) -> None:
    Trainer(tiny(tmp_path, "a"))
    Trainer(tiny(tmp_path, "b", teacher_model="tiny_cnn", distillation_type="hard"))
    Trainer(tiny(tmp_path, "c", model="deit_nano_patch4_16"))
    logs = {n: (tmp_path / n / "log.txt").read_text() for n in "abc"}
    assert "class and distillation heads both on the labels, no teacher" in logs["a"]
    assert "distillation head on the teacher's hard labels (argmax) (weight 0.5)" in logs["b"]
    assert "one head, on the labels" in logs["c"]


def _official_loop_lrs(scheduler_cls, epochs: int, base: float, **kw: object) -> list[float]:
    """The lr of each epoch in the official main.py: the scheduler is stepped after every epoch."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    sched = scheduler_cls(opt, **kw)
    lrs = []
    for epoch in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step(epoch)
    return lrs


@pytest.mark.parametrize("warmup", [0, 5])
def test_official_schedule_equals_timm_schedulers_in_the_official_loop(warmup: int) -> None:
    from timm.scheduler import CosineLRScheduler, StepLRScheduler

    from deit.optim import LRSchedule

    epochs, base = 30, 5e-4
    ours = LRSchedule(base, epochs, warmup, 1e-6, 1e-5, official=True)
    theirs = _official_loop_lrs(
        CosineLRScheduler,
        epochs,
        base,
        t_initial=epochs,
        lr_min=1e-5,
        warmup_lr_init=1e-6,
        warmup_t=warmup,
        cycle_limit=1,
        t_in_epochs=True,
    )
    for e in range(epochs):  # constant within an epoch
        assert ours(e) == pytest.approx(theirs[e], rel=1e-12) and ours(e + 0.7) == ours(e)
    step = LRSchedule(base, epochs, warmup, 1e-6, 1e-5, kind="step", decay_epochs=7, official=True)
    theirs = _official_loop_lrs(
        StepLRScheduler,
        epochs,
        base,
        decay_t=7,
        decay_rate=0.1,
        warmup_prefix=False,  # timm 0.3.2/0.4.12 (the official code's) had no warm-up prefix
        warmup_lr_init=1e-6,
        warmup_t=warmup,
        t_in_epochs=True,
    )
    assert [step(e) for e in range(epochs)] == pytest.approx(theirs, rel=1e-12)
    # the default differs: a cosine over the epochs after the warm-up, per step, reaching base_lr
    default = LRSchedule(base, epochs, warmup, 1e-6, 1e-5)
    assert default(warmup) == pytest.approx(base) and default(epochs) == pytest.approx(1e-5)


@pytest.mark.parametrize("crop_pct", [0.875, 1.0])
def test_eval_transform_resizes_then_centre_crops(crop_pct: float) -> None:
    import numpy as np
    from PIL import Image

    from deit.data import build_transform

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (120, 200, 3), dtype=np.uint8))  # H 120, W 200
    size, mean, std = 64, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    got = build_transform(False, size, mean, std, crop_pct=crop_pct)(img)
    # by hand with PIL: shorter side to floor(size / crop_pct), keep the aspect ratio, then the centre
    short = int(size / crop_pct)
    w = int(short * 200 / 120)
    resized = img.resize((w, short), Image.BICUBIC)
    left, top = int(round((w - size) / 2)), int(round((short - size) / 2))
    crop = np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.float32) / 255
    want = (torch.from_numpy(crop).permute(2, 0, 1) - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[
        :, None, None
    ]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_crop_pct_and_student_statistics_reach_the_eval_transform(tmp_path: Path) -> None:
    from deit.trainer import build_data

    cfg = tiny(tmp_path, img_size=64, crop_pct=0.5, mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))
    data = build_data(replace(cfg, data_cache="none"))  # the PIL path's eval transform
    steps = data.val.transform.transforms
    assert steps[0].size == 128 and steps[1].size == (64, 64)
    assert (data.mean, data.std) == ((0.1, 0.2, 0.3), (0.4, 0.5, 0.6)) and list(steps[-1].mean) == [
        0.1,
        0.2,
        0.3,
    ]


def test_drop_and_drop_path_reach_every_student_or_are_reported(tmp_path: Path, caplog) -> None:
    import logging

    from deit.trainer import build_student

    cnn, spec = build_student(tiny(tmp_path, model="tiny_cnn", drop=0.3, drop_path=0.2), 10, 16)
    assert cnn.drop.p == 0.3 and spec["kwargs"]["drop_rate"] == 0.3
    deit_model, _ = build_student(tiny(tmp_path, drop=0.25, drop_path=0.2), 10, 16)
    probs = [getattr(m, "drop_prob", 0.0) for m in deit_model.modules()]
    assert deit_model.pos_drop.p == 0.25 and max(probs) == pytest.approx(0.2)
    timm_model, spec = build_student(tiny(tmp_path, model="timm:resnet10t", drop=0.1, drop_path=0.2), 10, 32)
    assert spec["kwargs"]["drop_path_rate"] == 0.2 and spec["kwargs"]["drop_rate"] == 0.1
    assert any(type(m).__name__ == "DropPath" for m in timm_model.modules())
    logger = logging.getLogger("deit")
    logger.addHandler(caplog.handler)
    try:
        build_student(tiny(tmp_path, model="tiny_cnn", drop_path=0.2), 10, 16)
    finally:
        logger.removeHandler(caplog.handler)
    assert "cnn student tiny_cnn cannot apply --drop-path 0.2 (no stochastic depth): not used" in caplog.text


# The config fuzz tests check parsing against a stand-in train(); these real runs turn every offered choice
# on at least once (two runs of one step each), so an option that parses but crashes the engine is caught.
KITCHEN_SINK = [
    dict(
        model_ema=True,
        channels_last=True,
        train_interpolation="random",
        aa="rand-m9-mstd0.5-inc1",
        sched_official=True,
        remode="rand",
        mixup_mode="elem",
        opt="sgd",
        clip_grad=1.0,
        accum_steps=2,
        teacher_model="tiny_cnn",
        distillation_type="soft",
        soft_normalization="batchmean",
        amp="bf16",
        pos_embed_interp="timm",
        crop_pct=1.0,
        repeated_aug=True,
        skip_nonfinite=3,
    ),
    dict(
        train_interpolation="bilinear",
        aa="augmix-m5-w3",
        sched="step",
        remode="const",
        mixup_mode="pair",
        teacher_model="tiny_cnn",
        distillation_type="hard",
        cutmix_minmax=(0.2, 0.8),
        augment=True,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        teacher_mean=(0.4, 0.4, 0.4),
        teacher_std=(0.3, 0.3, 0.3),
    ),
]


@pytest.mark.parametrize("options", KITCHEN_SINK, ids=["sink-a", "sink-b"])
def test_offered_options_train_for_real(tmp_path: Path, options: dict) -> None:
    result = Trainer(tiny(tmp_path, max_steps_per_epoch=2, **options)).fit()
    assert result["metrics"]["samples"] == 360 and math.isfinite(result["metrics"]["loss"])


def test_timm_teacher_statistics_say_they_are_the_default_tags(tmp_path: Path) -> None:
    from deit.teacher import build_classifier, build_teacher

    model, _ = build_classifier("timm:resnet10t", 10)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    teacher = build_teacher("timm:resnet10t", 10, weights=str(tmp_path / "w.pth"), img_size=32)
    mean, std, source = teacher.input_stats
    assert mean == pytest.approx(model.pretrained_cfg["mean"]) and std == pytest.approx(
        model.pretrained_cfg["std"]
    )
    assert "pretrained cfg of resnet10t." in source and "pass --teacher-mean/--teacher-std" in source
    chosen = build_teacher(
        "timm:resnet10t", 10, weights=str(tmp_path / "w.pth"), img_size=32, teacher_mean=(0.5,) * 3
    )
    assert chosen.input_stats[0] == [0.5] * 3 and chosen.input_stats[1] == pytest.approx(std)
