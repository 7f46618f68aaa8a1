"""A frozen teacher for distillation: built by name (:mod:`deit.models.factory`, re-exported here) or
loaded from a run folder, checkpoint or transformers folder (:mod:`deit.models.loading`), with its input
statistics and class count checked against the student's data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from deit.errors import CheckpointError, ConfigError, DeiTError
from deit.models.factory import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SOURCES,
    WEIGHT_SUFFIXES,
    ModelSpec,
    build_classifier,
    build_from_spec,
    check_model_name,
)
from deit.models.loading import (
    load_model_and_meta,
    load_weights,
    peek_epoch,
    read_state_dict,
    resolve_weights_file,
    weights_summary,
)
from deit.models.vit import DeiT
from deit.models.weights import adapt_state_dict

# ----------------------------------------------------------------------------- teacher


def _stats_tensor(values: Sequence[float], what: str) -> Tensor:
    t = torch.as_tensor([float(v) for v in values], dtype=torch.float32)
    if t.ndim != 1 or t.numel() == 0:
        raise ConfigError(f"{what} must be a non-empty list of per-channel values, got {values!r}")
    return t.view(1, -1, 1, 1)


def renormalise(x: Tensor, mean: Tensor, std: Tensor, target_mean: Tensor, target_std: Tensor) -> Tensor:
    """Images normalised with ``mean``/``std`` -> the same images normalised with ``target_mean``/
    ``target_std`` (per-channel ``[1, C, 1, 1]`` tensors): the one re-normalisation of teacher and analysis."""
    return (x * std + mean - target_mean) / target_std


class TeacherWrapper(nn.Module):
    """A frozen teacher: always in eval mode, no gradients, optional input re-normalisation.

    When the teacher expects other input statistics than the student's pipeline produces, inputs are
    converted: ``x_teacher = (x * student_std + student_mean - teacher_mean) / teacher_std``.
    ``forward`` runs under ``torch.no_grad()`` and returns float32 logits; autocast is the caller's.
    """

    def __init__(
        self,
        model: nn.Module,
        teacher_mean: Sequence[float] | None = None,
        teacher_std: Sequence[float] | None = None,
        student_mean: Sequence[float] | None = None,
        student_std: Sequence[float] | None = None,
        channels_last: bool = False,
        spec: ModelSpec | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.source = ""  # set by build_teacher: the file (and epoch) the weights came from
        self.channels_last = channels_last
        self.num_classes = getattr(model, "num_classes", None)
        self.input_stats: tuple[list[float], list[float], str] | None = None  # set by build_teacher
        for p in self.model.parameters():
            p.requires_grad_(False)
        stats = (teacher_mean, teacher_std, student_mean, student_std)
        self.renormalize = False
        if all(s is not None for s in stats):
            t_mean, t_std, s_mean, s_std = (
                _stats_tensor(s, n)
                for s, n in zip(stats, ("teacher mean", "teacher std", "student mean", "student std"))
            )
            sizes = {t.shape[1] for t in (t_mean, t_std, s_mean, s_std)} - {1}
            if len(sizes) > 1:
                raise ConfigError(
                    f"teacher mean/std {list(teacher_mean)}/{list(teacher_std)} and student mean/std "
                    f"{list(student_mean)}/{list(student_std)} have different channel counts"
                )
            if (t_std <= 0).any() or (s_std <= 0).any():
                raise ConfigError("normalisation std values must be > 0")
            n = max(sizes or {1})
            t_mean, t_std, s_mean, s_std = (
                t.expand(1, n, 1, 1).clone() for t in (t_mean, t_std, s_mean, s_std)
            )
            self.renormalize = not (torch.allclose(t_mean, s_mean) and torch.allclose(t_std, s_std))
            self.register_buffer("teacher_mean", t_mean, persistent=False)
            self.register_buffer("teacher_std", t_std, persistent=False)
            self.register_buffer("student_mean", s_mean, persistent=False)
            self.register_buffer("student_std", s_std, persistent=False)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.train(False)

    def train(self, mode: bool = True) -> TeacherWrapper:
        """The teacher never trains: any ``train()`` call keeps it (BatchNorm, dropout) in eval mode."""
        return super().train(False)

    def convert_input(self, x: Tensor) -> Tensor:
        """Student-normalised images -> teacher-normalised images (identity if the statistics match)."""
        if not self.renormalize:
            return x
        return renormalise(x, self.student_mean, self.student_std, self.teacher_mean, self.teacher_std)

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            x = self.convert_input(x)
            if self.channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            out = self.model(x)
            if isinstance(out, (tuple, list)):  # e.g. a distilled DeiT left in training form: fuse heads
                heads = [o for o in out if o is not None]
                out = sum(heads) / len(heads)
            return out.detach().float()


def _model_stats(model: nn.Module) -> tuple[tuple[Sequence[float], Sequence[float]], str]:
    """The input statistics of the model's ``pretrained_cfg`` (for timm: its default pretrained tag),
    else ImageNet's; with a text saying where they come from."""
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, dict) and cfg.get("mean") is not None and cfg.get("std") is not None:
        tag = cfg.get("tag")
        name = f"{cfg.get('architecture')}.{tag}" if tag and cfg.get("architecture") else "the model"
        return (cfg["mean"], cfg["std"]), f"the pretrained cfg of {name}"
    return (IMAGENET_MEAN, IMAGENET_STD), "ImageNet's (the model declares none)"


def _probe_size(model: nn.Module, img_size: int | None) -> int:
    if img_size:
        return int(img_size)
    cfg = getattr(model, "pretrained_cfg", None) or {}
    if cfg.get("img_size"):
        size = cfg["img_size"]
        return int(size[-1] if isinstance(size, (tuple, list)) else size)
    if cfg.get("input_size"):  # timm
        return int(cfg["input_size"][-1])
    return 224


def _check_output_classes(
    model: nn.Module, num_classes: int, in_chans: int, img_size: int | None, what: str
) -> None:
    """A dummy forward (1 zero image) on the model's device: checks the class count and that the
    teacher accepts the student's input size and channel count."""
    size = _probe_size(model, img_size)
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, in_chans, size, size, device=device))
    except (RuntimeError, ValueError, AssertionError) as exc:
        raise ConfigError(
            f"teacher {what} cannot process {in_chans}x{size}x{size} inputs (the student's images): {exc}"
        ) from exc
    if isinstance(out, (tuple, list)):
        out = out[0]
    got = out.shape[-1]
    if got != num_classes:
        raise ConfigError(
            f"teacher {what} predicts {got} classes but the dataset has {num_classes}: the teacher must be "
            "trained on the student's classes (same classes, same order)"
        )


def _load_weights_strict(model: nn.Module, path: str, num_classes: int) -> None:
    """Strict load of a local weights file (``weights_only`` torch file or safetensors); ``{"model": sd}``
    / ``{"state_dict": sd}`` unwrapped, ``module.``/``_orig_mod.`` stripped; errors name the keys."""
    try:
        sd = read_state_dict(path)
    except DeiTError:
        raise
    except Exception as exc:  # anything unreadable is reported as a checkpoint problem, never executed
        raise CheckpointError(f"cannot read teacher weights {path}: {exc}") from exc
    target = model.state_dict()
    if isinstance(model, DeiT):  # resample the position embedding to the model's grid
        before = set(sd)
        sd = adapt_state_dict(sd, model)
        if set(sd) != before:  # adapt dropped a classifier: never distil from a random head
            raise ConfigError(
                f"teacher weights {path} have another class count than the dataset's {num_classes}"
            )
    mismatched_heads = [
        k
        for k in set(sd) & set(target)
        if sd[k].shape != target[k].shape and target[k].shape[:1] == (num_classes,)
    ]
    try:
        load_weights(model, sd, strict=True, adapt=False)
    except CheckpointError as exc:
        hint = f" (another class count than the dataset's {num_classes}?)" if mismatched_heads else ""
        raise CheckpointError(f"teacher weights {path}{hint}: {exc}") from exc


def build_teacher(
    name_or_checkpoint: str,
    num_classes: int,
    weights: str | None = None,
    in_chans: int = 3,
    img_size: int | None = None,
    student_mean: Sequence[float] | None = None,
    student_std: Sequence[float] | None = None,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
    class_names: Sequence[str] | None = None,
    teacher_mean: Sequence[float] | None = None,
    teacher_std: Sequence[float] | None = None,
    pretrained: bool = False,
    offline: bool | None = None,
) -> TeacherWrapper:
    """A frozen :class:`TeacherWrapper` from a checkpoint of this tool or a model name (+ ``weights``).

    * an existing path: a checkpoint written by deit (``deit.checkpoint.load_model_from_checkpoint``);
      its ``data_mean``/``data_std`` are the teacher's input statistics and, when ``class_names`` is
      given, its class names must match them (same order);
    * otherwise a name for :func:`build_classifier`; ``weights`` (a local ``.pth``/``.safetensors``) are
      loaded strictly. The expected statistics come from the model's ``pretrained_cfg``.

    ``pretrained=True`` (``--teacher-pretrained``) loads a name's released weights instead; they must
    predict the dataset's classes (e.g. ImageNet-1k), else fine-tune the teacher first.
    ``teacher_mean``/``teacher_std`` override the teacher's input statistics. The teacher must predict
    ``num_classes`` classes on ``in_chans`` x ``img_size`` inputs (checked now with a dummy forward).
    """
    spec: ModelSpec | None
    if os.path.exists(name_or_checkpoint):
        if weights is not None:
            raise ConfigError(
                f"teacher {name_or_checkpoint} is a checkpoint (it holds its weights): do not pass weights too"
            )
        model, meta = load_model_and_meta(name_or_checkpoint, infer_architecture=False)
        if meta.get("hf_architecture"):  # a transformers DeiT/ViT folder
            weights_from = f"weights: {name_or_checkpoint} (transformers folder)"
        else:
            weights_from = weights_summary(meta)
        t_mean, t_std = meta.get("data_mean"), meta.get("data_std")
        source = f"the checkpoint {name_or_checkpoint}"
        if t_mean is None or t_std is None:
            (t_mean, t_std), source = _model_stats(model)
        spec = ModelSpec.from_dict(meta["model_spec"]) if meta.get("model_spec") else None
        ckpt_names = meta.get("class_names")
        if class_names is not None and ckpt_names is not None and list(ckpt_names) != list(class_names):
            diff = next(
                (i for i, (a, b) in enumerate(zip(ckpt_names, class_names)) if a != b),
                min(len(ckpt_names), len(class_names)),
            )
            raise ConfigError(
                f"teacher checkpoint {name_or_checkpoint} was trained on other classes than the dataset's "
                f"({len(ckpt_names)} vs {len(class_names)} classes; first difference at index {diff}): "
                "teacher and student must use the same classes in the same order"
            )
    else:
        if name_or_checkpoint.endswith(WEIGHT_SUFFIXES) or os.sep in name_or_checkpoint:
            raise CheckpointError(f"teacher checkpoint not found: {name_or_checkpoint}")
        model, spec = build_classifier(
            name_or_checkpoint,
            num_classes,
            in_chans=in_chans,
            img_size=img_size,
            pretrained=pretrained,
            weights={"offline": offline},
        )
        if pretrained and getattr(model, "pretrained_reinitialised", None):
            raise ConfigError(
                f"the released weights of {name_or_checkpoint} predict other classes than "
                f"the dataset's {num_classes}, so the teacher's head would be random. Fine-tune it on your data "
                f"first (deit train --model {name_or_checkpoint} --pretrained --data ... --output runs/teacher), "
                "then pass --teacher runs/teacher"
            )
        weights_from = (
            f"weights: released {name_or_checkpoint}"
            if pretrained
            else "weights: none (random initialisation)"
        )
        if weights is not None:
            weights = str(resolve_weights_file(weights))  # a run folder: the same file as everywhere
            _load_weights_strict(model, weights, num_classes)
            epoch = peek_epoch(weights)
            weights_from = (
                f"weights: {weights} ({f'epoch {epoch}' if epoch is not None else 'epoch unknown'})"
            )
        (t_mean, t_std), source = _model_stats(model)
        if weights is not None and spec is not None and spec.source in ("timm", "torchvision"):
            source += (
                f" of {spec.source}'s {name_or_checkpoint!r}, not read from {weights}: pass --teacher-mean/"
                "--teacher-std if these weights were trained with other statistics"
            )
    if teacher_mean is not None or teacher_std is not None:
        t_mean = t_mean if teacher_mean is None else teacher_mean
        t_std = t_std if teacher_std is None else teacher_std
        source = "--teacher-mean/--teacher-std"

    model.to(device)
    _check_output_classes(model, num_classes, in_chans, img_size, what=repr(name_or_checkpoint))
    wrapper = TeacherWrapper(
        model,
        teacher_mean=t_mean,
        teacher_std=t_std,
        student_mean=student_mean,
        student_std=student_std,
        channels_last=channels_last,
        spec=spec,
    ).to(device)
    wrapper.input_stats = ([float(v) for v in t_mean], [float(v) for v in t_std], source)
    wrapper.source = f"teacher {weights_from}"  # which file (and epoch) the teacher's weights came from
    return wrapper


__all__ = [
    "SOURCES",
    "ModelSpec",
    "TeacherWrapper",
    "build_classifier",
    "build_from_spec",
    "build_teacher",
    "check_model_name",
    "renormalise",
]
