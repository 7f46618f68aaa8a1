"""Training configuration: one flat dataclass, the argparse flags generated from it, YAML recipes, validation.

Precedence: dataclass defaults < recipe YAML (``-c/--config``) < flags given on the command line.
Defaults follow the official DeiT ``main.py`` / paper Table 9. ``lr`` is the reference rate for a global
batch of 512 and is scaled linearly (``TrainConfig.scaled_lr``) unless ``--no-lr-scale``.
Every user error is a :class:`deit.errors.ConfigError` whose message names the key (``--flag`` form).
"""

from __future__ import annotations

import argparse
import difflib
import math
import numbers
import os
import re
import tempfile
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from deit.errors import ConfigError

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
REFERENCE_BATCH = 512  # lr is given for this global batch (official DeiT linear scaling rule)


def _opt(default: Any, doc: str, *flags: str, **meta: Any) -> Any:
    """A dataclass field whose metadata drives the argparse flag (flags default to ``--field-name``)."""
    return field(default=default, metadata={"help": doc, "flags": list(flags), **meta})


_HELP = {
    "data": "dataset folder (class sub-folders, or train/ and val/), or 'digits' for the bundled offline digits",
    "resume": "checkpoint to resume; without a value: the last checkpoint of --output",
    "soft_normalization": "soft KL normalisation: 'official' (sum / numel, as the official code) or 'batchmean'",
    "amp": "mixed precision: auto = bf16 on CUDA, none elsewhere; --amp alone = bf16",
    "distill": "distillation loss: hard (teacher's argmax as label, the paper's best) or soft (KL)",
}
_DISTILL = ["none", "soft", "hard"]


@dataclass
class TrainConfig:
    """Every training option, flat; field metadata holds help text, flag names and choices."""

    # data
    data: str | None = _opt(None, _HELP["data"], "--data", "--data-dir", "--data-path")
    val_split: float = _opt(0.0, "fraction of training images held out for validation when there is no val/")
    split_seed: int = _opt(
        0,
        "seed of the held-out split (--val-split, the digits test split); apart from --seed so that runs "
        "with different seeds are scored on the same images",
    )
    skip_corrupt: bool = _opt(False, "skip unreadable images instead of failing")
    workers: int = _opt(4, "data-loader worker processes per process", "-j", "--workers")
    pin_mem: bool = _opt(True, "pin host memory in the data loaders")
    data_cache: str = _opt(
        "none",
        "decode the dataset once into a uint8 tensor and augment whole batches on the training device: "
        "memory (tensor in host memory) or device (on the training device too); for data that fits",
        choices=["none", "memory", "device"],
    )
    img_size: int | None = _opt(None, "input image size (default: the model's)", "--img-size", "--input-size")
    # model
    model: str = _opt("deit_tiny_distilled_patch16_224", "student model name (see `deit models`)")
    num_classes: int | None = _opt(None, "number of classes (default: from the dataset)")
    drop: float = _opt(0.0, "dropout rate")
    drop_path: float = _opt(0.1, "stochastic depth rate")
    finetune: str | None = _opt(None, "weights to start from (checkpoint, official .pth or timm state dict)")
    # output
    output: str = _opt("runs/deit", "run folder", "--output", "--output-dir")
    resume: str | None = _opt(None, _HELP["resume"], nargs="?", const="auto", metavar="CKPT")
    overwrite: bool = _opt(False, "allow writing into a non-empty run folder without resuming")
    # optimization
    epochs: int = _opt(300, "training epochs")
    batch_size: int = _opt(64, "batch size per process", "-b", "--batch-size")
    accum_steps: int = _opt(1, "gradient accumulation steps", "--grad-accum-steps")
    opt: str = _opt("adamw", "optimizer", choices=["adamw", "sgd"])
    lr: float = _opt(
        5e-4, "lr for a global batch of 512, scaled by global_batch*accum/512 unless --no-lr-scale"
    )
    lr_scale: bool = _opt(True, "apply the linear lr scaling rule")
    weight_decay: float = _opt(0.05, "weight decay (not applied to biases, norms, tokens, pos_embed)")
    opt_eps: float = _opt(1e-8, "optimizer epsilon")
    momentum: float = _opt(0.9, "SGD momentum")
    clip_grad: float | None = _opt(None, "clip the gradient norm to this value (default: no clipping)")
    # schedule
    sched: str = _opt("cosine", "learning-rate schedule", choices=["cosine", "step", "constant"])
    warmup_epochs: int = _opt(5, "linear warmup epochs")
    warmup_lr: float = _opt(1e-6, "learning rate at the start of warmup")
    min_lr: float = _opt(1e-5, "final learning rate of the cosine schedule")
    decay_epochs: float = _opt(30.0, "step schedule: epochs between decays")
    decay_rate: float = _opt(0.1, "step schedule: decay factor")
    # augmentation
    smoothing: float = _opt(0.1, "label smoothing")
    color_jitter: float = _opt(0.3, "color jitter strength (timm ignores it when --aa is active)")
    aa: str = _opt("rand-m9-mstd0.5-inc1", "timm auto-augment policy ('none' disables)")
    train_interpolation: str = _opt(
        "bicubic", "resize interpolation", choices=["bicubic", "bilinear", "random"]
    )
    reprob: float = _opt(0.25, "random erasing probability")
    hflip: float = _opt(
        0.5, "horizontal flip probability (0 for classes that are not mirror-invariant, e.g. digits)"
    )
    augment: bool = _opt(
        True,
        "image augmentation; --no-augment trains on the eval transform (mixup/cutmix "
        "still apply unless set to 0)",
    )
    remode: str = _opt("pixel", "random erasing fill mode", choices=["pixel", "rand", "const"])
    recount: int = _opt(1, "random erasing count")
    repeated_aug: bool = _opt(True, "repeated augmentation sampler (Hoffer et al.)")
    num_repeats: int = _opt(3, "repeats per image for --repeated-aug")
    mixup: float = _opt(0.8, "mixup alpha (0 disables)")
    cutmix: float = _opt(1.0, "cutmix alpha (0 disables)")
    cutmix_minmax: tuple[float, float] | None = _opt(None, "cutmix min/max area ratio (overrides --cutmix)")
    mixup_prob: float = _opt(1.0, "probability of applying mixup or cutmix to a batch")
    mixup_switch_prob: float = _opt(0.5, "probability of cutmix instead of mixup when both are enabled")
    mixup_mode: str = _opt(
        "batch", "mix params per batch, pair or element", choices=["batch", "pair", "elem"]
    )
    # distillation
    teacher_model: str | None = _opt(None, "teacher name, e.g. regnety_160", "--teacher", "--teacher-model")
    teacher_weights: str | None = _opt(None, "teacher weights file", "--teacher-weights", "--teacher-path")
    distillation_type: str = _opt(
        "none", _HELP["distill"], "--distillation-type", "--distill", choices=_DISTILL
    )
    distillation_alpha: float = _opt(0.5, "weight of the distillation loss")
    distillation_tau: float = _opt(1.0, "soft distillation temperature")
    soft_normalization: str = _opt("official", _HELP["soft_normalization"], choices=["official", "batchmean"])
    # model EMA
    model_ema: bool = _opt(False, "keep an exponential moving average of the weights")
    model_ema_decay: float = _opt(0.99996, "EMA decay per step")
    # runtime
    amp: str = _opt("auto", _HELP["amp"], choices=["auto", "none", "bf16", "fp16"], nargs="?", const="bf16")
    compile: bool = _opt(False, "torch.compile the student")
    channels_last: bool = _opt(False, "channels-last memory format")
    device: str = _opt("auto", "auto, cpu, cuda, cuda:N or mps")
    threads: int | None = _opt(
        None, "torch CPU threads per process (default: torch's choice); tiny models on few cores: try 1"
    )
    seed: int = _opt(0, "random seed (each process adds its rank)")
    deterministic: bool = _opt(False, "deterministic algorithms (slower)")
    dist_eval: bool = _opt(True, "shard evaluation across processes")
    skip_nonfinite: int = _opt(0, "non-finite loss steps to skip before stopping")
    max_steps_per_epoch: int | None = _opt(None, "cap on steps per epoch (quick runs, tests)")
    # logging and checkpoints
    eval_interval: int = _opt(1, "evaluate every N epochs")
    save_interval: int = _opt(1, "save last.pt every N epochs")
    log_interval: int = _opt(50, "log every N steps")
    tensorboard: bool = _opt(False, "also write TensorBoard logs")

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-safe data (tuples become lists)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> TrainConfig:
        """Typed config from a mapping (e.g. a checkpoint's ``config``); unknown keys / bad types → ConfigError."""
        return cls(**_values_from_mapping(data, source))

    def global_batch_size(self, world_size: int = 1) -> int:
        return self.batch_size * world_size * self.accum_steps

    def scaled_lr(self, world_size: int = 1) -> float:
        """The learning rate actually used: ``lr * global_batch * accum / 512`` unless ``lr_scale`` is off."""
        return self.lr * self.global_batch_size(world_size) / REFERENCE_BATCH if self.lr_scale else self.lr

    def resolve_amp(self, device_type: str) -> str:
        """'none', 'bf16' or 'fp16' for a torch device type ('cuda', 'cpu', 'mps')."""
        if self.amp == "auto":
            return "bf16" if device_type == "cuda" else "none"
        return self.amp


_SECTION_STARTS = "data model output epochs sched smoothing teacher_model model_ema amp eval_interval".split()
_SECTION_TITLES = "data model output optimizer schedule augmentation distillation EMA runtime logging".split()
_SECTIONS = dict(zip(_SECTION_STARTS, _SECTION_TITLES))  # first field of a section -> title
_NONE_WORDS = {"none", "null", ""}
_KIND_TEXT = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    tuple: "a list of two numbers [min, max]",
}


@dataclass(frozen=True)
class _Spec:
    name: str
    kind: type
    optional: bool
    default: Any
    flags: tuple[str, ...]
    meta: Mapping[str, Any]

    @property
    def flag(self) -> str:
        return next(f for f in self.flags if f.startswith("--"))

    @property
    def choices(self) -> list[str] | None:
        return self.meta.get("choices")

    def describe(self) -> str:
        text = _KIND_TEXT[self.kind] + (f" (one of {', '.join(self.choices)})" if self.choices else "")
        return text + (" or null" if self.optional else "")


def _build_specs() -> dict[str, _Spec]:
    hints = typing.get_type_hints(TrainConfig)
    specs = {}
    for f in fields(TrainConfig):
        tp = hints[f.name]
        args = typing.get_args(tp)
        optional = typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args
        if optional:
            tp = next(a for a in args if a is not type(None))
        kind = tuple if typing.get_origin(tp) is tuple else tp
        flags = tuple(f.metadata["flags"]) or ("--" + f.name.replace("_", "-"),)
        specs[f.name] = _Spec(f.name, kind, optional, f.default, flags, f.metadata)
    return specs


_SPECS = _build_specs()
_ALIASES = {fl[2:].replace("-", "_"): s.name for s in _SPECS.values() for fl in s.flags if fl[:2] == "--"}
_ALIASES.update(num_workers="workers", nb_classes="num_classes")


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not turn a ConfigError into something else
        text = f"<{type(value).__name__}>"
    return (text[:57] + "...") if len(text) > 60 else text


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, numbers.Real):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
    except (ValueError, OverflowError):
        return None
    return None


def _coerce(spec: _Spec, value: Any, where: str) -> Any:
    """Check/convert one value to the field's type; ``where`` prefixes the error message."""
    if value is None or (spec.optional and isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
        if spec.optional:
            return None
    elif spec.kind is bool:
        if isinstance(value, bool):
            return value
    elif spec.kind is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif spec.kind is float:
        number = _to_float(value)
        if number is not None:
            return number
    elif spec.kind is str:
        if isinstance(value, str) and spec.choices and value not in spec.choices:
            close = difflib.get_close_matches(value, spec.choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: must be one of {', '.join(spec.choices)}; got {_show(value)}{hint}")
        if isinstance(value, str):
            return value
    elif spec.kind is tuple and isinstance(value, (list, tuple)) and len(value) == 2:
        pair = [_to_float(v) for v in value]
        if None not in pair:
            return tuple(pair)
    raise ConfigError(f"{where}: expected {spec.describe()}, got {_show(value)} ({type(value).__name__})")


def _canonical(key: Any) -> str | None:
    if not isinstance(key, str):
        return None
    key = key.replace("-", "_")
    return key if key in _SPECS else _ALIASES.get(key)


def _unknown_key(key: Any, source: str) -> ConfigError:
    close = difflib.get_close_matches(str(key).replace("-", "_"), sorted(set(_SPECS) | set(_ALIASES)), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else "; see `deit train --help`"
    return ConfigError(f"{source}: unknown key {_show(key)}{hint}")


def _values_from_mapping(data: Any, source: str) -> dict[str, Any]:
    """Validate keys and types of a flat mapping (YAML file, dict); return field name → typed value."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping of option names to values, not {type(data).__name__}"
        )
    values: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    for key, value in data.items():
        name = _canonical(key)
        if name is None:
            raise _unknown_key(key, source)
        if name in seen:
            raise ConfigError(f"{source}: keys {seen[name]!r} and {key!r} both set {_SPECS[name].flag}")
        seen[name] = key
        values[name] = _coerce(_SPECS[name], value, f"{source}: key {key!r} ({_SPECS[name].flag})")
    return values


def list_recipes() -> list[str]:
    """Names of the recipes shipped in ``deit/recipes`` (usable as ``-c NAME``)."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def resolve_recipe(name_or_path: str | os.PathLike[str]) -> Path:
    """A YAML path as given, or a shipped recipe name (``deit_tiny_imagenet`` or ``….yaml``)."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ConfigError(f"-c/--config: expected a file path or recipe name, got {_show(name_or_path)}")
    try:
        name = os.fspath(name_or_path)
        path = Path(name).expanduser()
        if path.is_file():
            return path
        stem = name[:-5] if name.endswith(".yaml") else name
        candidate = RECIPES_DIR / f"{stem}.yaml"
        if "/" not in name and os.sep not in name and candidate.is_file():
            return candidate
        exists = path.exists()
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise ConfigError(f"-c/--config {_show(name_or_path)}: {exc}") from None
    if exists:
        raise ConfigError(f"-c/--config {_show(name)}: not a file")
    close = difflib.get_close_matches(name, list_recipes(), n=2)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ConfigError(
        f"-c/--config {_show(name)}: no such file and no such recipe "
        f"(shipped: {', '.join(list_recipes())}){hint}"
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except Exception as exc:  # any failure of the parser is the file's fault
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    return _values_from_mapping({} if data is None else data, str(path))


def load_config(
    source: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    check: bool = True,
) -> TrainConfig:
    """Defaults < YAML file or shipped recipe ``source`` < ``overrides`` (field names or aliases)."""
    values = _read_yaml(resolve_recipe(source)) if source is not None else {}
    for key, value in (overrides or {}).items():
        name = _canonical(key)
        if name is None:
            raise _unknown_key(key, "overrides")
        values[name] = _coerce(_SPECS[name], value, _SPECS[name].flag)
    cfg = TrainConfig(**values)
    return validate(cfg) if check else cfg


def load_config_file(path: str | os.PathLike[str], *, check: bool = False) -> TrainConfig:
    """Read a config YAML (e.g. a run's ``config.yaml``) over the defaults; validate if ``check``."""
    return load_config(path, check=check)


def config_from_args(args: argparse.Namespace | Mapping[str, Any], *, check: bool = True) -> TrainConfig:
    """Parsed flags (defaults SUPPRESSed by :func:`add_train_arguments`) over the recipe over the defaults.

    Attributes that are not config fields (sub-command, other flags) are ignored.
    """
    ns = dict(args) if isinstance(args, Mapping) else vars(args)
    overrides = {k: v for k, v in ns.items() if k in _SPECS}
    return load_config(ns.get("config"), overrides, check=check)


def _arg_type(spec: _Spec) -> Callable[[str], Any]:
    base: Callable[[str], Any] = {int: int, float: float, str: str}[spec.kind]

    def convert(text: str) -> Any:
        return None if spec.optional and text.strip().lower() in _NONE_WORDS else base(text)

    convert.__name__ = base.__name__ + ("-or-none" if spec.optional else "")
    return convert


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``-c/--config`` and one flag per :class:`TrainConfig` field; every default is SUPPRESS."""
    parser.add_argument(
        "-c",
        "--config",
        default=argparse.SUPPRESS,
        metavar="RECIPE",
        help=f"recipe YAML path or shipped name ({', '.join(list_recipes()) or 'none'})",
    )
    group: Any = parser
    for spec in _SPECS.values():
        if spec.name in _SECTIONS:
            group = parser.add_argument_group(_SECTIONS[spec.name])
        text = spec.meta["help"]
        if "default" not in text:
            text += " (required)" if spec.name == "data" else f" (default: {spec.default})"
        kw: dict[str, Any] = {
            "dest": spec.name,
            "default": argparse.SUPPRESS,
            "help": text.replace("%", "%%"),
        }
        if spec.kind is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif spec.kind is tuple:
            kw.update(nargs=2, type=float, metavar=("MIN", "MAX"))
        else:
            kw["type"] = _arg_type(spec)
            for k in ("choices", "nargs", "const", "metavar"):
                if k in spec.meta:
                    kw[k] = spec.meta[k]
        group.add_argument(*spec.flags, **kw)
    return parser


# value rules: a bound (">=1", ">0") or an interval ("[0,1)") followed by the fields it applies to
_RULES_TABLE = """
>=0 workers weight_decay warmup_epochs warmup_lr min_lr color_jitter mixup cutmix skip_nonfinite
>=1 img_size num_classes epochs batch_size accum_steps recount num_repeats max_steps_per_epoch
>=1 eval_interval save_interval log_interval threads
>0 lr opt_eps clip_grad decay_epochs distillation_tau
[0,1) val_split drop drop_path momentum smoothing
[0,1] reprob hflip mixup_prob mixup_switch_prob distillation_alpha
(0,1] decay_rate
(0,1) model_ema_decay
[0,2147483648) seed split_seed
"""
_RULES = {name: ln.split()[0] for ln in _RULES_TABLE.strip().splitlines() for name in ln.split()[1:]}


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
    c = TrainConfig(**{n: _coerce(s, getattr(cfg, n, s.default), s.flag) for n, s in _SPECS.items()})

    def fail(name: str, message: str) -> None:
        raise ConfigError(f"{_SPECS[name].flag} {message}")

    for name, spec in _SPECS.items():
        value = getattr(c, name)
        if value is None:
            continue
        if spec.kind in (float, tuple) and not all(
            map(math.isfinite, value if spec.kind is tuple else [value])
        ):
            fail(name, f"must be finite, got {_show(value)}")
        rule = _RULES.get(name)
        if rule and not _obeys(rule, value):
            fail(name, f"must be {'in ' if rule[0] in '[(' else ''}{rule}, got {_show(value)}")
    if c.data is None or not c.data.strip():
        fail("data", "is required: a dataset folder, or 'digits' for the bundled offline digits data")
    for name in _NON_EMPTY:
        if not getattr(c, name).strip():
            fail(name, "must not be empty")
    if c.cutmix_minmax is not None and not 0 <= c.cutmix_minmax[0] < c.cutmix_minmax[1] <= 1:
        fail("cutmix_minmax", f"needs 0 <= MIN < MAX <= 1, got {list(c.cutmix_minmax)}")
    if c.warmup_epochs > c.epochs:
        fail(
            "warmup_epochs",
            f"({c.warmup_epochs}) must not exceed --epochs ({c.epochs}); "
            f"pass --warmup-epochs between 0 and {c.epochs}",
        )
    if c.distillation_type != "none" and c.teacher_model is None:
        fail(
            "distillation_type",
            f"{c.distillation_type} needs a teacher: pass --teacher NAME "
            "(e.g. regnety_160) and --teacher-weights PATH",
        )
    for name in ("teacher_model", "teacher_weights"):
        if c.distillation_type == "none" and getattr(c, name) is not None:
            fail(
                name,
                f"{getattr(c, name)!r} is set but --distillation-type is 'none', so the teacher would be "
                "ignored; pass --distillation-type hard (the paper's DeiT-distilled setting) or soft, "
                f"or unset it with {_SPECS[name].flag} none",
            )
    if not _DEVICE_RE.fullmatch(c.device):
        fail("device", f"must be auto, cpu, cuda, cuda:N or mps; got {_show(c.device)}")
    if c.amp == "fp16" and c.device == "cpu":
        fail("amp", "fp16 is not supported on --device cpu; use --amp bf16 or --amp none")
    return c


def dump_config(cfg: TrainConfig) -> str:
    """YAML text: a header comment, then the flat mapping grouped into commented sections."""
    from deit import __version__

    lines = [
        f"# DeiT training configuration (deit {__version__}): flat mapping of option names.",
        "# Reload with `deit train -c THIS_FILE`; flags given on the command line override it.",
    ]
    for name, value in cfg.to_dict().items():
        if name in _SECTIONS:
            lines += ["", f"# --- {_SECTIONS[name]} ---"]
        try:
            lines.append(yaml.safe_dump({name: value}, default_flow_style=False, width=10**6).rstrip("\n"))
        except yaml.YAMLError:
            raise ConfigError(f"{_SPECS[name].flag}: cannot write {_show(value)} to YAML") from None
    return "\n".join(lines) + "\n"


def save_config(cfg: TrainConfig, path: str | os.PathLike[str]) -> Path:
    """Write :func:`dump_config` atomically (temp file + rename); return the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(dump_config(cfg))
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; a run's config.yaml is meant to be shared
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write config file {path}: {exc}") from None
    return path
