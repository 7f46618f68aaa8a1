#!/usr/bin/env python
"""One-shot device check: everything worth measuring on a lent GPU, in one command of <= 8 minutes.

    python benchmarks/gpu_check.py --out runs/gpu_check          # on one H100/H200 (about 8 min)
    python benchmarks/gpu_check.py --smoke --out /tmp/gpu_smoke  # every part at tiny sizes on CPU (< 1 min)

Parts (each one is guarded: a failing part is recorded with its error and the others still run):

1. ``inference``: img/s of DeiT-Ti/S/B distilled at 224 px, ours vs timm (same weights), fp32 and bf16,
   batch 256, the two implementations interleaved (``deit.analysis.timing.time_interleaved``, CUDA events).
2. ``train_step``: one bf16 distillation training step, img/s: our engine (distilled student + frozen
   teacher), timm's ``TokenDistillationTask`` (same student and teacher weights) and our engine without
   distillation (the undistilled student, no teacher), interleaved; peak memory of each.
3. ``cifar10``: a short DeiT-Ti distilled run at 32 px on ``../shared/data/cifar10/train`` (a ResNet-18
   teacher trained first, then the student with hard distillation), through ``deit.trainer``, with
   img/s and accuracy per epoch. Absent data: the part stops with a message.
4. ``inference_compiled``: part 1 again under ``torch.compile`` (bf16), as far as the time budget allows
   (compilation dominates; the parts above go first because they carry more information).
5. ``mfu``: DeiT-B distilled bf16 inference model FLOPs utilisation (2 x MACs per image, the paper's count)
   against the card's dense bf16 peak (table ``PEAK_BF16_TFLOPS``, matched on the device name).

Writes ``OUT/gpu_check.json`` and ``OUT/gpu_check.md`` (a Markdown table) and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
CIFAR_DATA = ROOT / ".." / "shared" / "data" / "cifar10" / "train"
MODELS = [f"deit_{s}_distilled_patch16_224" for s in ("tiny", "small", "base")]
# Dense (no sparsity) bf16 tensor-core peaks, TFLOPS, from the vendors' data sheets; first match wins.
PEAK_BF16_TFLOPS: list[tuple[str, float]] = [
    ("GH200", 989.4),
    ("H200", 989.4),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),  # SXM
    ("H800", 989.4),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("L4", 121.0),
    ("RTX 4090", 165.2),
    ("A6000", 154.8),
]


def peak_bf16_tflops(device_name: str) -> float | None:
    name = device_name.upper()
    return next((tf for key, tf in PEAK_BF16_TFLOPS if key.upper() in name), None)


class Check:
    """Runs the parts, records each one's result or error, and keeps the time budget."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.t0 = time.perf_counter()
        self.results: dict[str, Any] = {"parts": {}}

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def remaining(self) -> float:
        return self.args.budget_s - self.elapsed()

    def reset_memory(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory_gib(self) -> float | None:
        return torch.cuda.max_memory_allocated(self.device) / 2**30 if self.cuda else None

    def part(self, name: str, fn: Callable[[], dict]) -> None:
        print(f"[{self.elapsed():6.1f} s] {name} ...", flush=True)
        t = time.perf_counter()
        self.reset_memory()
        try:
            res = fn()
            status = "ok"
        except Exception as exc:  # the point: one failing part must not cost the others
            res = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}
            status = "error"
            print(res["traceback"], file=sys.stderr, flush=True)
        res = {"status": status, "seconds": round(time.perf_counter() - t, 1), **res}
        res.setdefault("peak_memory_gib", self.peak_memory_gib())
        self.results["parts"][name] = res
        print(f"[{self.elapsed():6.1f} s] {name}: {status} in {res['seconds']} s", flush=True)
        gc_cuda()


def gc_cuda() -> None:
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def amp_ctx(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------- parts
def pair(name: str, img_size: int, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(ours, timm) with the same weights, eval mode, on ``device``."""
    import timm

    from deit.models import create_model
    from deit.models.loading import load_weights

    theirs = timm.create_model(name, pretrained=False, img_size=img_size).eval().to(device)
    ours = create_model(name, img_size=img_size).eval().to(device)
    load_weights(ours, theirs.state_dict())
    return ours, theirs


def runner(model: torch.nn.Module, x: torch.Tensor, amp: Any) -> Callable[[], None]:
    def run() -> None:
        with torch.inference_mode(), amp:
            model(x)

    return run


def inference(check: Check, compiled: bool) -> dict:
    from deit.analysis.timing import time_interleaved

    a, dev = check.args, check.device
    rows, skipped = [], []
    dtypes = a.compile_dtypes if compiled else ["fp32", "bf16"]
    for name in a.compile_models if compiled else a.models:
        for dtype in dtypes:
            if compiled and check.remaining() < a.compile_reserve_s:
                skipped.append(f"{name} {dtype}: time budget ({check.remaining():.0f} s left)")
                continue
            try:
                check.reset_memory()
                ours, theirs = pair(name, a.img_size, dev)
                if compiled:
                    ours = torch.compile(ours, backend=a.compile_backend)
                    theirs = torch.compile(theirs, backend=a.compile_backend)
                x = torch.randn(a.batch_size, 3, a.img_size, a.img_size, device=dev)
                amp = amp_ctx(dev, dtype)

                t0 = time.perf_counter()
                t = time_interleaved(
                    {"deit": runner(ours, x, amp), "timm": runner(theirs, x, amp)},
                    items_per_call=a.batch_size,
                    warmup=a.warmup + (1 if compiled else 0),
                    repeats=a.repeats,
                    device=dev,
                )
                rows.append(
                    {
                        "model": name,
                        "dtype": dtype,
                        "compile": compiled,
                        "deit_img_s": t["deit"].median_rate,
                        "timm_img_s": t["timm"].median_rate,
                        "ratio": t["deit"].median_rate / t["timm"].median_rate,
                        "deit": t["deit"].to_dict(),
                        "timm": t["timm"].to_dict(),
                        "seconds": round(time.perf_counter() - t0, 1),
                        "peak_memory_gib": check.peak_memory_gib(),
                    }
                )
                print(f"  {name} {dtype} compile={compiled}: ratio {rows[-1]['ratio']:.3f}", flush=True)
            except Exception as exc:
                rows.append({"model": name, "dtype": dtype, "compile": compiled, "error": repr(exc)})
            finally:
                ours = theirs = None  # noqa: F841 -- free the pair before the next one
                gc_cuda()
    return {"batch_size": a.batch_size, "img_size": a.img_size, "rows": rows, "skipped": skipped}


def train_step(check: Check) -> dict:
    import timm
    from timm.task import TokenDistillationTask
    from torch import nn

    from deit.analysis.timing import time_interleaved
    from deit.engine import StepContext, train_one_epoch
    from deit.losses import DistillationLoss, build_base_criterion
    from deit.models import create_model
    from deit.models.loading import load_weights
    from deit.optim import build_optimizer
    from deit.teacher import TeacherWrapper

    a, dev = check.args, check.device
    fused = check.cuda
    torch.manual_seed(0)
    size, bs, student = a.img_size, a.train_batch_size, a.train_student
    s_timm = timm.create_model(student, pretrained=False, img_size=size).to(dev)
    s_ours = create_model(student, img_size=size).to(dev)
    load_weights(s_ours, s_timm.state_dict())
    undistilled = student.replace("_distilled", "")
    s_plain = create_model(undistilled, img_size=size).to(dev)
    t_ours = timm.create_model(a.teacher, pretrained=False).to(dev).eval()
    t_timm = timm.create_model(a.teacher, pretrained=False).to(dev).eval()
    t_timm.load_state_dict(t_ours.state_dict())
    mean, std = s_ours.pretrained_cfg["mean"], s_ours.pretrained_cfg["std"]

    def ctx_for(model: nn.Module, teacher: nn.Module | None) -> StepContext:
        return StepContext(
            optimizer=build_optimizer(model, "adamw", 5e-4, 0.05, fused=fused),
            criterion=DistillationLoss(
                build_base_criterion(False, 0.1),
                "hard" if teacher else "none",
                0.5,
                1.0,
                "official",
                teacher is not None,
            ),
            lr_at=lambda opt, epoch: 5e-4,
            device=dev,
            steps_per_epoch=1,
            teacher=teacher,
            amp_dtype=torch.bfloat16 if a.train_dtype == "bf16" else None,
            log_interval=0,
        )

    ctx_d = ctx_for(s_ours, TeacherWrapper(t_ours, mean, std, mean, std).to(dev))
    ctx_u = ctx_for(s_plain, None)
    task = TokenDistillationTask(
        s_timm,
        t_timm,
        criterion=nn.CrossEntropyLoss(label_smoothing=0.1),
        distill_type="hard",
        task_loss_weight=0.5,
        device=dev,
        verbose=False,
    ).train()
    decay = [p for n, p in s_timm.named_parameters() if p.ndim > 1 and n not in s_timm.no_weight_decay()]
    rest = [p for n, p in s_timm.named_parameters() if p.ndim <= 1 or n in s_timm.no_weight_decay()]
    opt_timm = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
        lr=5e-4,
        fused=fused or None,
    )
    x = torch.randn(bs, 3, size, size, device=dev)
    y = torch.randint(0, 1000, (bs,), device=dev)
    batch = [(x, y)]

    def timm_step() -> None:
        opt_timm.zero_grad(set_to_none=True)
        with amp_ctx(dev, a.train_dtype):
            out = task(x, y)
        out["loss"].backward()
        opt_timm.step()

    fns = {
        "deit_distilled": lambda: train_one_epoch(s_ours, batch, ctx_d, epoch=0),
        "timm_token_distillation": timm_step,
        "deit_undistilled": lambda: train_one_epoch(s_plain, batch, ctx_u, epoch=0),
    }
    memory = {}
    for name, fn in fns.items():  # one step each with a fresh peak counter: the memory of each contestant
        check.reset_memory()
        fn()
        memory[name] = check.peak_memory_gib()
    t = time_interleaved(fns, items_per_call=bs, warmup=a.warmup, repeats=a.repeats, device=dev)
    rates = {k: v.median_rate for k, v in t.items()}
    return {
        "student": student,
        "undistilled": undistilled,
        "teacher": a.teacher,
        "batch_size": bs,
        "img_size": size,
        "dtype": a.train_dtype,
        "img_s": rates,
        "timings": {k: v.to_dict() for k, v in t.items()},
        "ratio_deit_vs_timm": rates["deit_distilled"] / rates["timm_token_distillation"],
        "distillation_cost": rates["deit_distilled"] / rates["deit_undistilled"],
        "peak_memory_gib_by_step": memory,
    }


def make_tiny_imagefolder(root: Path, classes: int = 4, per_class: int = 12, size: int = 32) -> Path:
    """Random-colour PNGs in ``root/<class>/`` (the smoke run's own data; nothing else is read)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        d = root / f"class{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = rng.integers(0, 256, 3) * (c + 1) % 256
            img = (base + rng.integers(-40, 40, (size, size, 3))).clip(0, 255).astype("uint8")
            Image.fromarray(img).save(d / f"{i:04d}.png")
    return root


def _epochs_for(seconds: float, probe: dict, n_train: int) -> int:
    """Epochs that fit in ``seconds`` after the run's fixed cost (decoding, building, exporting)."""
    per_epoch = n_train / max(probe["train_img_per_s"], 1e-9) + probe["eval_s"]
    return max(1, int((seconds - probe["overhead_s"]) / per_epoch))


def cifar10(check: Check) -> dict:
    from deit.checkpoint import read_jsonl
    from deit.config import TrainConfig
    from deit.trainer import train

    a = check.args
    workdir = Path(a.out) / "cifar10"
    if a.smoke:
        data = make_tiny_imagefolder(Path(tempfile.mkdtemp(prefix="gpu_check_data_")))
        student, teacher, size = "deit_micro_distilled_patch4_32", "tiny_cnn", 32
    else:
        data = Path(a.cifar_data)
        if not data.is_dir():
            return {"skipped": f"CIFAR-10 data folder {data} is absent (expected <class>/<image> files)"}
        student, teacher, size = "deit_tiny_distilled_patch4_32", "resnet18_cifar", 32
    base = dict(
        data=str(data),
        val_split=a.cifar_val_split,
        img_size=size,
        batch_size=a.cifar_batch_size,
        device=a.device,
        workers=a.cifar_workers,
        weight_decay=0.05,
        smoothing=0.1,
        min_lr=1e-5,
        log_interval=10_000,
        save_interval=10_000,
        repeated_aug=False,
        overwrite=True,
        drop_path=0.0 if a.smoke else 0.1,
        **({"data_cache": a.data_cache} if a.data_cache != "none" else {}),
    )
    light = dict(aa="none", reprob=0.0, mixup=0.0, cutmix=0.0)
    paper = dict(aa="rand-m9-mstd0.5-inc1", reprob=0.1, mixup=0.8, cutmix=1.0)
    budget = max(min(a.cifar_seconds, check.remaining() - 10), 1.0)

    def run(name: str, epochs: int | None, **kw: Any) -> tuple[dict, list[dict]]:
        out = workdir / name
        cfg_kw = dict(base, output=str(out), **kw)
        if epochs is None:  # probe: a few steps, to size the real run to its time share
            t0 = time.perf_counter()
            train(TrainConfig(**dict(cfg_kw, epochs=1, warmup_epochs=0, max_steps_per_epoch=a.probe_steps)))
            rec = read_jsonl(out / "metrics.jsonl")[-1]
            ips = rec["train_img_per_s"]
            eval_s = n_val / (3 * ips)  # evaluation (forward only) taken as 3x the training rate
            total = time.perf_counter() - t0
            overhead = max(total - rec["epoch_seconds"] - eval_s, 0.0)  # per run, not per epoch
            return {"train_img_per_s": ips, "eval_s": eval_s, "overhead_s": overhead, "seconds": total}, []
        t0 = time.perf_counter()
        res = train(TrainConfig(**dict(cfg_kw, epochs=epochs)))
        records = read_jsonl(out / "metrics.jsonl")
        return {"seconds": round(time.perf_counter() - t0, 1), "best_top1": res["best_top1"]}, records

    from deit.data import build_dataset

    n_train = len(build_dataset(str(data), "train", None, val_split=a.cifar_val_split))
    n_val = len(build_dataset(str(data), "val", None, val_split=a.cifar_val_split))
    summary: dict[str, Any] = {"data": str(data), "n_train": n_train, "budget_s": round(budget, 1)}
    t0 = time.perf_counter()
    teacher_deadline, deadline = t0 + budget * a.teacher_share, t0 + budget
    # teacher: light augmentation, no distillation
    t_kw = dict(model=teacher, lr=a.teacher_lr, **light)
    probe, _ = run("teacher_probe", None, **dict(t_kw, warmup_epochs=0))
    t_epochs = a.teacher_epochs or _epochs_for(
        0.95 * (teacher_deadline - time.perf_counter()), probe, n_train
    )
    t_res, t_rec = run("teacher", t_epochs, **dict(t_kw, warmup_epochs=min(1, t_epochs - 1)))
    summary["teacher"] = {"model": teacher, "epochs": t_epochs, "probe": probe, **t_res, "per_epoch": t_rec}
    teacher_ckpt = workdir / "teacher" / "best.pt"
    # student: paper-like augmentation, hard distillation through the distillation token
    s_kw = dict(
        model=student,
        lr=a.student_lr,
        teacher_model=str(teacher_ckpt),
        distillation_type="hard",
        **paper,
    )
    probe, _ = run("student_probe", None, **dict(s_kw, warmup_epochs=0))
    s_epochs = a.student_epochs or _epochs_for(0.95 * (deadline - time.perf_counter()), probe, n_train)
    s_res, s_rec = run("student", s_epochs, **dict(s_kw, warmup_epochs=min(2, max(s_epochs // 10, 0))))
    summary["student"] = {"model": student, "epochs": s_epochs, "probe": probe, **s_res, "per_epoch": s_rec}
    summary["per_epoch"] = [
        {k: r.get(k) for k in ("epoch", "train_img_per_s", "epoch_seconds", "val_top1", "val_dist_top1")}
        for r in s_rec
    ]
    if a.smoke:
        shutil.rmtree(data, ignore_errors=True)
    return summary


def mfu(check: Check) -> dict:
    from deit.models import create_model
    from deit.models.vit import macs_per_image

    a = check.args
    name = a.models[-1]  # DeiT-B distilled unless --models says otherwise
    with torch.device("meta"):
        macs = macs_per_image(create_model(name, img_size=a.img_size))
    rows = [
        r
        for part in ("inference", "inference_compiled")
        for r in check.results["parts"].get(part, {}).get("rows", [])
        if r.get("model") == name and r.get("dtype") == "bf16" and "deit_img_s" in r
    ]
    if not rows:
        return {"skipped": f"no bf16 inference result for {name}"}
    peak = check.results.get("peak_bf16_tflops")
    out = {"model": name, "gmacs_per_image": macs / 1e9, "peak_bf16_tflops": peak, "rows": []}
    for r in rows:
        for impl in ("deit", "timm"):
            tflops = r[f"{impl}_img_s"] * 2 * macs / 1e12
            out["rows"].append(
                {
                    "impl": impl,
                    "compile": r["compile"],
                    "img_s": r[f"{impl}_img_s"],
                    "achieved_tflops": tflops,
                    "mfu": tflops / peak if peak else None,
                }
            )
    return out


# --------------------------------------------------------------------------------------------- report
def markdown(res: dict) -> str:
    env = res["env"]
    lines = [
        f"## GPU check: {env['device_name']} ({res['command']})",
        "",
        f"torch {env['torch']}, timm {env['timm']}, dense bf16 peak {res.get('peak_bf16_tflops')} TFLOPS, "
        f"{res['total_seconds']:.0f} s in all.",
        "",
        "| part | result |",
        "|---|---|",
    ]
    parts = res["parts"]
    for part in ("inference", "inference_compiled"):
        p = parts.get(part, {})
        for r in p.get("rows", []):
            what = f"{part} {r['model']} {r['dtype']} bs {p.get('batch_size')}"
            if "error" in r:
                lines.append(f"| {what} | error: {r['error'][:120]} |")
            else:
                lines.append(
                    f"| {what} | deit {r['deit_img_s']:.0f} img/s, timm {r['timm_img_s']:.0f} img/s, "
                    f"ratio {r['ratio']:.3f} |"
                )
        for s in p.get("skipped", []):
            lines.append(f"| {part} | skipped {s} |")
    ts = parts.get("train_step", {})
    if "img_s" in ts:
        mem = ts["peak_memory_gib_by_step"]
        cells = ", ".join(
            f"{k} {v:.0f} img/s" + (f" ({mem[k]:.1f} GiB)" if mem.get(k) is not None else "")
            for k, v in ts["img_s"].items()
        )
        lines.append(
            f"| train step {ts['student']} + {ts['teacher']} {ts['dtype']} bs {ts['batch_size']} | {cells}; "
            f"deit/timm {ts['ratio_deit_vs_timm']:.3f}; distilled/undistilled {ts['distillation_cost']:.3f} |"
        )
    m = parts.get("mfu", {})
    for r in m.get("rows", []):
        mfu_txt = f"{100 * r['mfu']:.1f} %" if r["mfu"] is not None else "n/a (unknown peak)"
        lines.append(
            f"| MFU {m['model']} bf16 {r['impl']} compile={r['compile']} | {r['img_s']:.0f} img/s, "
            f"{r['achieved_tflops']:.1f} TFLOPS, MFU {mfu_txt} |"
        )
    c = parts.get("cifar10", {})
    for r in c.get("per_epoch", []):
        lines.append(
            f"| CIFAR-10 {c['student']['model']} epoch {r['epoch']} | {r['train_img_per_s']:.0f} img/s, "
            f"{r['epoch_seconds']:.1f} s, val top1 {r.get('val_top1') or float('nan'):.2f} % |"
        )
    if "teacher" in c:
        t = c["teacher"]
        lines.append(
            f"| CIFAR-10 teacher {t['model']} | {t['epochs']} epochs, best top1 {t['best_top1']:.2f} % |"
        )
    for name, p in parts.items():
        if p.get("status") == "error":
            lines.append(f"| {name} | **error**: {p['error'][:200]} |")
        elif "skipped" in p and isinstance(p["skipped"], str):
            lines.append(f"| {name} | skipped: {p['skipped']} |")
        if p.get("peak_memory_gib") is not None:
            lines.append(f"| {name} peak memory | {p['peak_memory_gib']:.2f} GiB |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for gpu_check.json and gpu_check.md")
    p.add_argument("--smoke", action="store_true", help="every part at tiny sizes on CPU (< 1 min)")
    p.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    p.add_argument("--budget-s", type=float, default=470.0, help="time budget of the whole check")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--compile-dtypes", nargs="+", default=["bf16"], choices=["fp32", "bf16"])
    p.add_argument("--compile-backend", default="inductor")
    p.add_argument("--models", nargs="+", default=MODELS, help="inference models; the last one's MFU")
    p.add_argument("--compile-models", nargs="+", default=MODELS, help="models of the compiled part")
    p.add_argument("--compile-reserve-s", type=float, default=60.0, help="time one compiled pair needs")
    p.add_argument("--train-student", default="deit_base_distilled_patch16_224")
    p.add_argument("--teacher", default="regnety_160", help="timm teacher of the train-step part")
    p.add_argument("--train-batch-size", type=int, default=128)
    p.add_argument("--train-dtype", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--cifar-data", default=str(CIFAR_DATA))
    p.add_argument("--cifar-seconds", type=float, default=240.0)
    p.add_argument("--cifar-batch-size", type=int, default=512)
    p.add_argument("--cifar-val-split", type=float, default=0.1)
    p.add_argument("--cifar-workers", type=int, default=8)
    p.add_argument("--data-cache", choices=["none", "memory", "device"], default="device")
    p.add_argument(
        "--teacher-share", type=float, default=0.35, help="share of the CIFAR time for the teacher"
    )
    p.add_argument("--teacher-lr", type=float, default=2e-3)
    p.add_argument("--student-lr", type=float, default=2e-3)
    p.add_argument("--teacher-epochs", type=int, default=None, help="default: what fits in its time share")
    p.add_argument("--student-epochs", type=int, default=None, help="default: what fits in its time share")
    p.add_argument("--probe-steps", type=int, default=20)
    p.add_argument(
        "--parts", nargs="+", default=["inference", "train_step", "cifar10", "inference_compiled", "mfu"]
    )
    a = p.parse_args(argv)
    if a.smoke:  # tiny sizes; the compile variant traces with dynamo only (no C++ build on CPU)
        a.device = a.device or "cpu"
        a.batch_size, a.img_size, a.repeats, a.warmup = 2, 32, 2, 1
        a.compile_backend, a.compile_reserve_s, a.compile_models = "eager", 0.0, MODELS[:1]
        a.models = MODELS[:2]  # DeiT-B's random init alone costs seconds on a small CPU
        a.train_student, a.teacher, a.train_batch_size = "deit_tiny_distilled_patch16_224", "resnet18", 2
        a.cifar_batch_size, a.cifar_workers, a.probe_steps = 8, 0, 2
        a.cifar_seconds, a.cifar_val_split = 4.0, 0.25  # epochs sized as on the GPU: 1 or 2 here
        a.train_dtype = "fp32"
    a.device = a.device or "cuda"
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    check = Check(a)
    import timm

    device_name = torch.cuda.get_device_name(check.device) if check.cuda else platform.processor() or "cpu"
    check.results.update(
        command=" ".join(
            ["python", "benchmarks/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        env={
            "device_name": device_name,
            "torch": torch.__version__,
            "timm": timm.__version__,
            "cuda": torch.version.cuda,
            "python": platform.python_version(),
            "cpu_threads": torch.get_num_threads(),
        },
        peak_bf16_tflops=peak_bf16_tflops(device_name) if check.cuda else None,
        args=vars(a),
    )
    if check.cuda:
        torch.backends.cuda.matmul.allow_tf32 = False  # "fp32" means fp32 here
    for name in a.parts:
        fn = {
            "inference": lambda: inference(check, compiled=False),
            "train_step": lambda: train_step(check),
            "cifar10": lambda: cifar10(check),
            "inference_compiled": lambda: inference(check, compiled=True),
            "mfu": lambda: mfu(check),
        }[name]
        check.part(name, fn)
        check.results["total_seconds"] = check.elapsed()
        (out / "gpu_check.json").write_text(json.dumps(check.results, indent=1, default=str))
    md = markdown(check.results)
    (out / "gpu_check.md").write_text(md)
    print(md)
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}")
    return 1 if any(p.get("status") == "error" for p in check.results["parts"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
