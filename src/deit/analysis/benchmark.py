"""Throughput, peak memory and FLOPs of a model (optionally with a frozen teacher, optionally against timm).

Conventions (printed with every result):

* **FLOPs = 2 x multiply-accumulates.** For DeiT models the count is ``2 * deit.models.macs_per_image``
  (matmuls + patch conv, the paper's Table 1 counts the MACs, e.g. DeiT-Ti 1.3 G). Other models are
  measured with ``torch.utils.flop_counter.FlopCounterMode`` (also 2 FLOPs per MAC).
* **Train mode** counts 3 x the student's forward (backward = 2 x forward) plus the teacher's forward.
* **Peak memory**: on CUDA ``torch.cuda.max_memory_allocated`` (tensors only, allocator cache excluded) over
  a dedicated pass per contestant. On CPU the growth of the process's peak resident set size
  (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) during that pass: a high-water mark, so it is a lower bound
  and reads 0 when the run stays below an earlier peak of the same process.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from deit.analysis.timing import time_interleaved
from deit.errors import ConfigError, ModelError
from deit.losses import DistillationLoss, build_base_criterion
from deit.models.vit import DeiT, macs_per_image
from deit.models.weights import unwrap_model

FLOPS_CONVENTION = "FLOPs = 2 x MACs (multiply-add = 2 FLOPs); train = 3 x forward + teacher forward"


@dataclass
class BenchResult:
    name: str
    img_per_s: float
    img_per_s_min: float
    img_per_s_max: float
    gflops_per_image: float  # forward FLOPs of one image (2 x MACs)
    step_gflops_per_image: float  # FLOPs per image of one timed call (train: 3 x fwd + teacher fwd)
    achieved_tflops: float
    peak_memory_mb: float
    params_m: float
    repeats: int

    def to_dict(self) -> dict:
        return asdict(self)


def forward_flops(model: nn.Module, example: Tensor) -> float:
    """Forward FLOPs per image: 2 x ``macs_per_image`` for a DeiT, else ``FlopCounterMode`` on ``example``."""
    net = unwrap_model(model)
    if isinstance(net, DeiT):
        return 2.0 * macs_per_image(net)
    from torch.utils.flop_counter import FlopCounterMode

    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(example[:1])
    finally:
        net.train(was_training)
    return float(counter.get_total_flops())


def _autocast(device: torch.device, amp: str | None) -> contextlib.AbstractContextManager:
    if amp in (None, "none"):
        return contextlib.nullcontext()
    if amp != "bf16":
        raise ConfigError(f"--amp must be 'none' or 'bf16', got {amp!r}")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def make_step(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    mode: str,
    device: torch.device,
    amp: str | None = None,
    teacher: nn.Module | None = None,
    compile_model: bool = False,
) -> Callable[[], object]:
    """A zero-argument callable running one inference batch or one training step (fwd + bwd + AdamW)."""
    net = unwrap_model(model)
    fn_model = torch.compile(model) if compile_model else model
    if mode == "infer":
        model.eval()

        def infer() -> object:
            with torch.inference_mode(), _autocast(device, amp):
                return fn_model(images)

        return infer
    if mode != "train":
        raise ConfigError(f"--mode must be 'infer' or 'train', got {mode!r}")
    distilled = getattr(net, "head_dist", None) is not None
    if hasattr(net, "set_distilled_training"):  # timm's distilled DeiT returns both heads only when asked
        net.set_distilled_training(True)
    criterion = DistillationLoss(
        build_base_criterion(False, 0.1),
        "hard" if teacher is not None else "none",
        distilled_student=distilled,
    )
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.05
    )
    model.train()

    def train_step() -> object:
        with _autocast(device, amp):
            t_logits = None
            if teacher is not None:
                with torch.no_grad():
                    t_logits = teacher(images)
            loss, _ = criterion(fn_model(images), targets, t_logits)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return train_step


def _rss_mb() -> float:
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0**2) if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, KiB on Linux


def peak_memory_mb(fn: Callable[[], object], device: torch.device, calls: int = 2) -> float:
    """Peak memory of ``calls`` calls of ``fn`` (see the module docstring for the method per device)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(calls):
            fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    before = _rss_mb()
    for _ in range(calls):
        fn()
    return max(0.0, _rss_mb() - before)


def memory_method(device: torch.device) -> str:
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated (tensors, excluding allocator cache)"
    return "growth of process peak RSS (ru_maxrss) during the run; lower bound, 0 if below an earlier peak"


def build_timm_twin(model: nn.Module, name: str, num_classes: int, img_size: int) -> nn.Module:
    """timm's model of the same name, or timm's (distilled) VisionTransformer with the same architecture."""
    import timm

    bare = name.split(":", 1)[-1]
    try:
        return timm.create_model(bare, pretrained=False, num_classes=num_classes, img_size=img_size)
    except (RuntimeError, TypeError, ValueError) as exc:  # unknown name or no img_size argument
        net = unwrap_model(model)
        if not isinstance(net, DeiT):
            raise ModelError(f"--compare timm: timm cannot build {bare!r} ({exc})") from exc
    from timm.models.deit import VisionTransformerDistilled
    from timm.models.vision_transformer import VisionTransformer

    cls = VisionTransformerDistilled if net.distilled else VisionTransformer
    block = net.blocks[0]
    return cls(
        img_size=img_size,
        patch_size=net.patch_embed.patch_size,
        in_chans=net.patch_embed.in_chans,
        num_classes=num_classes,
        embed_dim=net.embed_dim,
        depth=len(net.blocks),
        num_heads=block.attn.num_heads,
        mlp_ratio=block.mlp.fc1.out_features / net.embed_dim,
        qkv_bias=True,
    )


def run_benchmark(
    model: nn.Module,
    *,
    batch_size: int,
    img_size: int,
    num_classes: int,
    device: torch.device | str = "cpu",
    mode: str = "infer",
    amp: str | None = None,
    compile_model: bool = False,
    teacher: nn.Module | None = None,
    others: dict[str, nn.Module] | None = None,
    warmup: int = 3,
    repeats: int = 10,
    in_chans: int = 3,
    name: str = "deit",
) -> dict[str, BenchResult]:
    """Time ``model`` (and each of ``others``, interleaved) on random data; returns one result per contestant."""
    if batch_size < 1 or img_size < 1 or repeats < 1 or warmup < 0:
        raise ConfigError("batch size, image size and repeats must be >= 1 and warm-up >= 0")
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size, in_chans, img_size, img_size, generator=gen).to(device)
    targets = torch.randint(0, num_classes, (batch_size,), generator=gen).to(device)
    contestants = {name: model, **(others or {})}
    teacher_flops = forward_flops(teacher, images) if teacher is not None else 0.0
    fns: dict[str, Callable[[], object]] = {}
    info: dict[str, tuple[float, float, float]] = {}
    for key, m in contestants.items():
        m.to(device)
        fwd = forward_flops(m, images)
        step = fwd if mode == "infer" else 3.0 * fwd + teacher_flops
        params = sum(p.numel() for p in m.parameters()) / 1e6
        fns[key] = make_step(m, images, targets, mode, device, amp, teacher, compile_model)
        info[key] = (fwd, step, params)
    memory = {key: peak_memory_mb(fn, device, calls=max(1, min(warmup, 2))) for key, fn in fns.items()}
    timings = time_interleaved(fns, batch_size, warmup=max(warmup - 2, 0), repeats=repeats, device=device)
    out = {}
    for key, t in timings.items():
        fwd, step, params = info[key]
        lo, hi = t.spread
        out[key] = BenchResult(
            name=key,
            img_per_s=t.median_rate,
            img_per_s_min=lo,
            img_per_s_max=hi,
            gflops_per_image=fwd / 1e9,
            step_gflops_per_image=step / 1e9,
            achieved_tflops=t.median_rate * step / 1e12,
            peak_memory_mb=memory[key],
            params_m=params,
            repeats=len(t.seconds),
        )
    return out
