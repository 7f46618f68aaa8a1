"""Export a trained model: ONNX (checked against PyTorch with onnxruntime) or safetensors + JSON + model card.

ONNX uses torch's legacy TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): it is fast,
needs no extra packages (the dynamo exporter needs onnxscript and takes much longer) and handles DeiT's
ops (SDPA is exported at opset >= 14). The graph computes the inference output -- the fused
``(cls + dist) / 2`` logits for a distilled DeiT -- from normalised ``[batch, 3, H, W]`` images, with a
dynamic batch axis. Preprocessing metadata (mean, std, image size, class names) is stored in the ONNX
model's ``metadata_props``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from deit.errors import DeiTError
from deit.models.vit import DeiT


class ExportError(DeiTError):
    """Export failed or the exported model does not match PyTorch within tolerance."""


def _require_onnx() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ExportError(
            f"ONNX export needs the onnx and onnxruntime packages ({exc.name} is missing): "
            "pip install 'deit[onnx]'"
        ) from None
    return onnx, onnxruntime


class InferenceOutput(nn.Module):
    """Wraps a classifier so that its forward returns the single inference tensor (fused for DeiT)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        out = self.model(x)
        if isinstance(out, (tuple, list)):
            out = (out[0] + out[1]) / 2
        return out


MIN_OPSET = 14  # scaled_dot_product_attention is exported from opset 14


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """Silence the process's stdout/stderr file descriptors: on a failure the TorchScript exporter writes
    the whole graph (tens of KB) there from C++, before the exception that we turn into one clear line."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def export_onnx(
    model: nn.Module,
    path: str | Path,
    img_size: int,
    in_chans: int = 3,
    opset: int = 17,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (eval mode, fused output, dynamic batch) to ``path`` as ONNX; returns the path."""
    onnx, _ = _require_onnx()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = InferenceOutput(model.cpu().eval()).eval()
    example = torch.randn(2, in_chans, img_size, img_size)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if opset < MIN_OPSET and any(isinstance(m, DeiT) for m in model.modules()):
        raise ExportError(
            f"--opset {opset}: DeiT's attention (scaled_dot_product_attention) needs ONNX opset >= {MIN_OPSET}; "
            f"pass --opset {MIN_OPSET} or higher (default 17)"
        )
    try:
        with warnings.catch_warnings(), torch.no_grad(), _quiet_fds():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                (example,),
                str(tmp),
                input_names=["images"],
                output_names=["logits"],
                dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        proto = onnx.load(str(tmp))
        for key, value in (metadata or {}).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = str(key), value if isinstance(value, str) else json.dumps(value)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        os.replace(tmp, path)
    except DeiTError:
        raise
    except Exception as exc:
        raise ExportError(
            f"ONNX export to {path} failed (opset {opset}): {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:300] if str(exc) else ''}"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_onnx(
    model: nn.Module,
    path: str | Path,
    img_size: int,
    in_chans: int = 3,
    batch_sizes: tuple[int, ...] = (1, 3),
    atol: float = 1e-4,
    seed: int = 0,
) -> dict[int, float]:
    """Max abs difference between PyTorch and onnxruntime logits on random inputs per batch size.

    Raises :class:`ExportError` if any difference exceeds ``atol`` (or the output is not finite).
    """
    _, ort = _require_onnx()
    wrapped = InferenceOutput(model.cpu().eval()).eval()
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"onnxruntime cannot load {path}: {exc}") from exc
    gen = torch.Generator().manual_seed(seed)
    diffs: dict[int, float] = {}
    for b in batch_sizes:
        x = torch.randn(b, in_chans, img_size, img_size, generator=gen)
        with torch.no_grad():
            ref = wrapped(x).float().numpy()
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        if got.shape != ref.shape:
            raise ExportError(f"{path}: ONNX output shape {got.shape} != PyTorch {ref.shape} at batch {b}")
        diff = float(abs(got - ref).max())
        if not diff == diff or diff == float("inf"):
            raise ExportError(f"{path}: ONNX output is not finite at batch {b}")
        diffs[b] = diff
    worst = max(diffs.values())
    if worst > atol:
        raise ExportError(
            f"{path}: ONNX output differs from PyTorch by up to {worst:.3g} (> tolerance {atol:g}; "
            f"per batch size {diffs}); the file was written but should not be used"
        )
    return diffs


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


_RECIPE_KEYS = (
    "epochs",
    "batch_size",
    "opt",
    "lr",
    "weight_decay",
    "sched",
    "warmup_epochs",
    "smoothing",
    "aa",
    "mixup",
    "cutmix",
    "reprob",
    "repeated_aug",
    "drop_path",
    "model_ema",
    "teacher_model",
    "distillation_type",
    "distillation_alpha",
    "distillation_tau",
    "amp",
    "seed",
)


def model_card(model: nn.Module, meta: dict, files: list[str]) -> str:
    """A short Markdown model card: architecture, parameters, data/classes, recipe, stored metrics."""
    spec = meta.get("model_spec") or {}
    name = spec.get("name", type(model).__name__)
    params = sum(p.numel() for p in model.parameters())
    cfg = meta.get("config") or {}
    classes = meta.get("class_names") or []
    lines = [
        f"# {name}",
        "",
        "DeiT model exported by `deit export` "
        "(Touvron et al., *Training data-efficient image transformers & distillation through attention*, 2021).",
        "",
        "## Model",
        "",
        f"- architecture: `{name}` (source: {spec.get('source', 'unknown')})",
        f"- parameters: {params:,} ({params / 1e6:.2f} M)",
        f"- input: {meta.get('img_size', '?')} px RGB, "
        f"normalised with mean {list(meta.get('data_mean') or [])} and std {list(meta.get('data_std') or [])}",
        f"- distilled: {bool(getattr(model, 'distilled', False))} (inference output = (class head + "
        "distillation head) / 2 when distilled)",
        f"- files: {', '.join(f'`{f}`' for f in files)}",
        *(
            [f"- weights: after epoch {meta['epoch']} of training"]
            if isinstance(meta.get("epoch"), int)
            else []
        ),
        "",
        "## Data",
        "",
        f"- dataset: `{cfg.get('data', 'unknown')}`",
        f"- classes ({len(classes)}): "
        + (
            ", ".join(map(str, classes[:20])) + (" ..." if len(classes) > 20 else "")
            if classes
            else "unknown"
        ),
    ]
    recipe = [(k, cfg[k]) for k in _RECIPE_KEYS if k in cfg and cfg[k] is not None]
    if recipe:
        lines += ["", "## Training recipe", "", "| key | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt_value(v)} |" for k, v in recipe]
    metrics = meta.get("metrics") or {}
    shown = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    lines += ["", "## Accuracy (stored evaluation metrics)", ""]
    if shown:
        lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt_value(v)} |" for k, v in shown]
    else:
        lines.append("No evaluation metrics were stored with this checkpoint.")
    lines += ["", "## Usage", "", *_usage(files), ""]
    return "\n".join(lines)


def _usage(files: list[str]) -> list[str]:
    """Fenced code blocks that run as written from the export folder, one per way of using it."""
    if "config.json" in files:  # a transformers folder
        return [
            "```python",
            "from transformers import pipeline  # run in this folder",
            'classifier = pipeline("image-classification", model=".")',
            'print(classifier("image.jpg"))',
            "```",
            "",
            "```bash",
            "deit predict --checkpoint . image.jpg",
            "```",
        ]
    blocks = []
    if "model.onnx" in files:
        blocks += [
            "```python",
            "import onnxruntime as ort  # input: normalised float32 [batch, 3, H, W]; metadata key 'deit'",
            "session = ort.InferenceSession('model.onnx')",
            "logits = session.run(None, {'images': images})[0]",
            "```",
            "",
        ]
    if "model.safetensors" in files or not blocks:
        blocks += ["```bash", "deit predict --checkpoint model.safetensors image.jpg", "```", ""]
    return blocks[:-1]


# deit exports (ONNX and safetensors may share a folder); a transformers folder holds only its own files
EXPORT_FILES = ("model.onnx", "model.safetensors", "model.json")
HF_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc}") from exc
    return path
