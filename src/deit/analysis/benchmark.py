"""Throughput, peak memory and FLOPs of a model (optionally with a frozen teacher, optionally against timm).

Conventions (printed with every result), the same for every contestant (deit, timm, a teacher):

* **FLOPs = 2 x multiply-accumulates**, counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls,
  convolutions and attention; norms, softmax and activations ignored), with the CPU attention kernel added
  (the counter knows only the CUDA ones, so on CPU it missed ``T^2 D`` per block: 0.18 GMACs for DeiT-Ti).
* **Model GMACs** (``gflops_per_image / 2``): every token through every block, the paper's Table 1 count
  (DeiT-Ti 1.3 G) and ``deit models``'s column; equal for deit's and timm's build of one architecture.
  **Run GMACs** (``run_gflops_per_image / 2``): what the timed forward executes. Lower for deit's DeiT: its
  last block updates only the class/distillation tokens, the only ones the heads read (``DeiT.forward_prefix``).
  Achieved TFLOP/s divides the run FLOPs by the time.
* **Train mode** counts 3 x the student's run forward (backward = 2 x forward) plus the teacher's.
* **Peak memory**: the model's parameters and buffers plus the input batch, plus the peak of the tensor
  memory allocated on top during a dedicated pass per contestant (gradients, optimizer state, activations).
  CUDA reads ``torch.cuda.max_memory_allocated``; CPU counts every tensor storage the pass's operators
  create and free (a ``TorchDispatchMode``). Allocator caches and the process's other memory are excluded.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from deit.analysis.timing import time_interleaved
from deit.errors import ConfigError, ModelError
from deit.losses import DistillationLoss, build_base_criterion
from deit.models.vit import DeiT
from deit.models.weights import unwrap_model

FLOPS_CONVENTION = (
    "FLOPs = 2 x MACs (multiply-add = 2 FLOPs), counted by FlopCounterMode with attention; model GMACs: every "
    "token through every block (paper Table 1); run GMACs: what the timed forward executes (deit's last block "
    "updates only the class/distillation tokens); TFLOP/s from run FLOPs; train = 3 x run forward + teacher forward"
)


@dataclass
class BenchResult:
    name: str
    img_per_s: float
    img_per_s_min: float
    img_per_s_max: float
    gflops_per_image: float  # model forward FLOPs of one image, every token through every block (2 x MACs)
    run_gflops_per_image: float  # forward FLOPs the timed forward executes
    step_gflops_per_image: float  # FLOPs per image of one timed call (train: 3 x run fwd + teacher fwd)
    achieved_tflops: float
    peak_memory_mb: float
    params_m: float
    repeats: int

    def to_dict(self) -> dict:
        return asdict(self)


def _cpu_attention_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query, key, value)


def count_flops(forward: Callable[[Tensor], object], example: Tensor) -> float:
    """FLOPs of ``forward(example[:1])``, attention included on every device (see the module docstring)."""
    from torch.utils.flop_counter import FlopCounterMode

    cpu_attention = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=cpu_attention) as counter:
        forward(example[:1])
    return float(counter.get_total_flops())


def forward_flops(model: nn.Module, example: Tensor, executed: bool = False) -> float:
    """Forward FLOPs per image in eval mode: the model count (every token through every block) or, with
    ``executed``, what ``model(example)`` runs (deit's DeiT: its last block updates only the prefix tokens)."""
    net = unwrap_model(model)
    was_training = net.training
    net.eval()
    try:
        if isinstance(net, DeiT) and not executed:
            return count_flops(lambda x: net.forward_head(net.forward_features(x)), example)
        return count_flops(net, example)
    finally:
        net.train(was_training)


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


class _TensorMemory(TorchDispatchMode):
    """Live and peak bytes of the tensor storages created by the operators run under it (CPU's stand-in for
    ``torch.cuda.max_memory_allocated``): each storage counts once, from its creation until it is freed."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self._seen: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, Tensor) and not t.is_meta:
                storage = t.untyped_storage()
                if id(storage) not in self._seen:
                    self._seen.add(id(storage))
                    self.live += storage.nbytes()
                    self.peak = max(self.peak, self.live)
                    weakref.finalize(storage, self._free, id(storage), storage.nbytes())
        return out


def _static_bytes(model: nn.Module, images: Tensor) -> int:
    tensors = [*model.parameters(), *model.buffers(), images]
    return sum(t.numel() * t.element_size() for t in tensors)


def peak_memory_mb(
    fn: Callable[[], object], device: torch.device, model: nn.Module, images: Tensor, calls: int = 2
) -> float:
    """Peak tensor memory of ``calls`` calls of ``fn``: ``model``'s parameters and buffers and ``images``,
    plus the peak allocated on top of them (the module docstring; the same count on CUDA and CPU)."""
    static = _static_bytes(model, images)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(calls):
            fn()
        torch.cuda.synchronize(device)
        return (static + torch.cuda.max_memory_allocated(device) - before) / 2**20
    with _TensorMemory() as tracker:
        for _ in range(calls):
            fn()
    return (static + tracker.peak) / 2**20


def memory_method(device: torch.device) -> str:
    on_top = (
        "torch.cuda.max_memory_allocated" if device.type == "cuda" else "tensor storages counted per operator"
    )
    return f"params + buffers + input batch + peak allocated on top ({on_top})"


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
    teacher_flops = forward_flops(teacher, images, executed=True) if teacher is not None else 0.0
    fns: dict[str, Callable[[], object]] = {}
    info: dict[str, tuple[float, float, float, float]] = {}
    for key, m in contestants.items():
        m.to(device)
        fwd, run_fwd = forward_flops(m, images), forward_flops(m, images, executed=True)
        step = run_fwd if mode == "infer" else 3.0 * run_fwd + teacher_flops
        params = sum(p.numel() for p in m.parameters()) / 1e6
        fns[key] = make_step(m, images, targets, mode, device, amp, teacher, compile_model)
        info[key] = (fwd, run_fwd, step, params)
    calls = max(1, min(warmup, 2))
    memory = {key: peak_memory_mb(fn, device, contestants[key], images, calls) for key, fn in fns.items()}
    timings = time_interleaved(fns, batch_size, warmup=max(warmup - 2, 0), repeats=repeats, device=device)
    out = {}
    for key, t in timings.items():
        fwd, run_fwd, step, params = info[key]
        lo, hi = t.spread
        out[key] = BenchResult(
            name=key,
            img_per_s=t.median_rate,
            img_per_s_min=lo,
            img_per_s_max=hi,
            gflops_per_image=fwd / 1e9,
            run_gflops_per_image=run_fwd / 1e9,
            step_gflops_per_image=step / 1e9,
            achieved_tflops=t.median_rate * step / 1e12,
            peak_memory_mb=memory[key],
            params_m=params,
            repeats=len(t.seconds),
        )
    return out
