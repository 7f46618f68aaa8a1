"""Checks of a :class:`TrainConfig`: every field's type and range, and the rules across fields."""

from __future__ import annotations

import math
import re

from deit.config.fields import SPECS, TrainConfig
from deit.config.spec import coerce, show
from deit.errors import ConfigError

# value rules: a bound (">=1", ">0") or an interval ("[0,1)") followed by the fields it applies to
_RULES_TABLE = """
>=0 workers weight_decay warmup_epochs warmup_lr min_lr color_jitter mixup cutmix skip_nonfinite
>=1 img_size num_classes train_per_class epochs batch_size accum_steps recount num_repeats max_steps_per_epoch
>=1 eval_interval save_interval log_interval threads
>0 lr lr_base opt_eps clip_grad decay_epochs distillation_tau
>=1 lr_base_size
[0,1) val_split drop drop_path momentum smoothing
[0,1] reprob hflip mixup_prob mixup_switch_prob distillation_alpha
(0,1] decay_rate
(0,1) model_ema_decay
(0,1] crop_pct
[0,2147483648) seed split_seed
"""
RULES = {name: ln.split()[0] for ln in _RULES_TABLE.strip().splitlines() for name in ln.split()[1:]}


def _obeys(rule: str, v: float) -> bool:
    if rule[0] not in "[(":
        bound = float(rule.lstrip(">="))
        return v >= bound if rule.startswith(">=") else v > bound
    lo, hi = (float(x) for x in rule[1:-1].split(","))
    return (lo <= v if rule[0] == "[" else lo < v) and (v <= hi if rule[-1] == "]" else v < hi)


_NON_EMPTY = ("model", "output", "aa")
_DEVICE_RE = re.compile(r"(auto|cpu|mps|cuda(:[0-9]+)?)")


def validate(cfg: TrainConfig) -> TrainConfig:
    """Type-check and range-check every field and the cross-field rules; return a normalised copy.

    Raises only :class:`ConfigError`, whose message names the offending ``--flag``.
    """
    if not isinstance(cfg, TrainConfig):
        raise ConfigError(f"config: expected a TrainConfig, got {type(cfg).__name__}")
    c = TrainConfig(**{n: coerce(s, getattr(cfg, n, s.default), s.flag) for n, s in SPECS.items()})

    def fail(name: str, message: str) -> None:
        raise ConfigError(f"{SPECS[name].flag} {message}")

    for name, spec in SPECS.items():
        value = getattr(c, name)
        if value is None:
            continue
        if spec.kind in (float, tuple) and not all(
            map(math.isfinite, value if spec.kind is tuple else [value])
        ):
            fail(name, f"must be finite, got {show(value)}")
        rule = RULES.get(name)
        if rule and not _obeys(rule, value):
            fail(name, f"must be {'in ' if rule[0] in '[(' else ''}{rule}, got {show(value)}")
    if c.data is None or not c.data.strip():
        fail("data", "is required: a dataset folder, or 'digits' for the bundled offline digits data")
    for name in _NON_EMPTY:
        if getattr(c, name) is not None and not getattr(c, name).strip():
            fail(name, "must not be empty")
    if c.cutmix_minmax is not None and not 0 <= c.cutmix_minmax[0] < c.cutmix_minmax[1] <= 1:
        fail("cutmix_minmax", f"needs 0 <= MIN < MAX <= 1, got {list(c.cutmix_minmax)}")
    for name in ("std", "teacher_std"):
        if getattr(c, name) is not None and min(getattr(c, name)) <= 0:
            fail(name, f"values must be > 0, got {list(getattr(c, name))}")
    check_starting_weights(c)
    if c.lr is not None and c.lr_base is not None:
        fail(
            "lr",
            f"{c.lr} and --lr-base {c.lr_base} are both set: --lr is the rate used, --lr-base a "
            "reference rate scaled by the global batch; pass one of them",
        )
    if c.distillation_type != "none" and c.teacher_model is None:
        fail(
            "distillation_type",
            f"{c.distillation_type} needs a teacher: pass --teacher NAME "
            "(e.g. regnety_160) and --teacher-weights PATH or --teacher-pretrained, or --teacher RUN_FOLDER",
        )
    if c.teacher_pretrained and (c.distillation_type == "none" or c.teacher_weights is not None):
        fail(
            "teacher_pretrained",
            "needs --distillation-type hard/soft and --teacher NAME, without --teacher-weights "
            "(both would give the teacher's weights)",
        )
    if c.pretrained and c.finetune is not None:
        fail("finetune", f"{c.finetune!r} and --pretrained both give the starting weights: pass one")
    for name in ("teacher_model", "teacher_weights"):
        if c.distillation_type == "none" and getattr(c, name) is not None:
            fail(
                name,
                f"{getattr(c, name)!r} is set but --distillation-type is 'none', so the teacher would be "
                "ignored; pass --distillation-type hard (the paper's DeiT-distilled setting) or soft, "
                f"or unset it with {SPECS[name].flag} none",
            )
    if not _DEVICE_RE.fullmatch(c.device):
        fail("device", f"must be auto, cpu, cuda, cuda:N or mps; got {show(c.device)}")
    if c.amp == "fp16" and c.device == "cpu":
        fail("amp", "fp16 is not supported on --device cpu; use --amp bf16 or --amp none")
    return c


def check_starting_weights(cfg: TrainConfig) -> None:
    """A run that must not start from random weights (``needs_weights``, set by fine-tuning recipes) needs
    weights to start from."""
    if cfg.needs_weights and not (cfg.pretrained or cfg.finetune or cfg.resume):
        raise ConfigError(
            "--pretrained or --finetune is required: this recipe fine-tunes pretrained weights (needs_weights: "
            f"true) and {cfg.model} would otherwise start from random weights; pass --pretrained (the released "
            "weights of --model) or --finetune PATH (a deit checkpoint, an official .pth, a timm state dict, a "
            "transformers folder), or --no-needs-weights to train from scratch anyway"
        )
