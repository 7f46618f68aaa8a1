"""Training configuration: one flat dataclass, the argparse flags generated from it, YAML recipes, validation.

Precedence: dataclass defaults < recipe YAML (``-c/--config``) < flags given on the command line.
Fields marked "(default: recipe)" are ``None`` until :func:`deit.auto_recipe.resolve_recipe` fills them
from ``--recipe``: ``auto`` derives them from the dataset, the model and the world size; ``paper`` is Table 9.
``--lr`` is the learning rate actually used (timm's convention); ``--lr-base`` is a reference rate scaled by
global batch / ``--lr-base-size`` (the paper's 5e-4 x batch/512 rule).
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
RECIPE_CHOICES = ["auto", "paper"]


def default_workers(cap: int = 4) -> int:
    """Data-loader workers per process by default: the CPU cores this process may use, at most ``cap``
    (more workers than cores only makes torch warn and the loader slower)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cap, cores))


def _opt(default: Any, doc: str, *flags: str, **meta: Any) -> Any:
    """A dataclass field whose metadata drives the argparse flag (flags default to ``--field-name``)."""
    return field(default=default, metadata={"help": doc, "flags": list(flags), **meta})


_HELP = {
    "data": "dataset folder (class sub-folders, or train/ and val/), or 'digits' for the bundled offline digits",
    "resume": "checkpoint to resume; without a value: the last checkpoint of --output",
    "soft_normalization": "soft KL normalisation: 'official' (sum / numel, as the official code) or 'batchmean'",
    "amp": "mixed precision: auto = bf16 on CUDA, none elsewhere; --amp alone = bf16",
    "distill": "distillation loss: hard (teacher's argmax as label, the paper's best) or soft (KL)",
    "recipe": "where unset hyper-parameters come from: auto (derived from the dataset, model and world size; "
    "printed at start with the reasons) or paper (Table 9 exactly)",
    "lr": "learning rate actually used (default: recipe; auto and paper print the value at start)",
    "lr_base": "reference learning rate for a global batch of --lr-base-size, scaled linearly "
    "(the paper: --lr-base 5e-4 with --lr-base-size 512); exclusive with --lr",
}
RECIPE = " (default: recipe)"
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
    workers: int = _opt(
        default_workers(),
        "data-loader worker processes per process (default: the CPU cores, at most 4; here "
        f"{default_workers()})",
        "-j",
        "--workers",
    )
    pin_mem: bool = _opt(True, "pin host memory in the data loaders")
    data_cache: str = _opt(
        "none",
        "decode the dataset once into a uint8 tensor and augment whole batches on the training device: "
        "memory (tensor in host memory) or device (on the training device too); for data that fits",
        choices=["none", "memory", "device"],
    )
    img_size: int | None = _opt(None, "input image size (default: the model's)", "--img-size", "--input-size")
    mean: tuple[float, float, float] | None = _opt(
        None, "student input mean per channel R G B (default: ImageNet's)"
    )
    std: tuple[float, float, float] | None = _opt(
        None, "student input std per channel R G B (default: ImageNet's)"
    )
    crop_pct: float = _opt(
        0.875,
        "eval centre-crop ratio: resize to img_size / crop_pct, crop img_size (timm uses 1.0 at 384; images <= 32 px are only centre-cropped)",
    )
    # model
    model: str = _opt("deit_tiny_distilled_patch16_224", "student model name (see `deit models`)")
    num_classes: int | None = _opt(None, "number of classes (default: from the dataset)")
    drop: float = _opt(0.0, "dropout rate")
    drop_path: float | None = _opt(None, "stochastic depth rate" + RECIPE)
    finetune: str | None = _opt(
        None,
        "weights to start from (checkpoint, run folder, official .pth, timm state dict, transformers folder)",
    )
    pretrained: bool = _opt(
        False, "start from --model's released weights (downloaded once, cached in $DEIT_HOME/weights)"
    )
    weights_source: str = _opt(
        "official",
        "--pretrained source: official (dl.fbaipublicfiles.com, or the mirror $DEIT_WEIGHTS_URL), "
        "hf (timm's Hugging Face repos) or hf-facebook (the authors' transformers repos)",
        choices=["official", "hf", "hf-facebook"],
    )
    offline: bool = _opt(
        False, "never download: cached weights only (also $DEIT_OFFLINE=1, $HF_HUB_OFFLINE=1)"
    )
    needs_weights: bool = _opt(
        False,
        "refuse to start from random weights (set by the fine-tuning recipes): --pretrained or --finetune is required",
    )
    pos_embed_interp: str = _opt(
        "official",
        "position-embedding resampling for another image size: 'official' (plain bicubic, as the official "
        "fine-tuning) or 'timm' (antialiased bicubic, timm's resample_abs_pos_embed)",
        choices=["official", "timm"],
    )
    # output
    output: str = _opt("runs/deit", "run folder", "--output", "--output-dir")
    resume: str | None = _opt(None, _HELP["resume"], nargs="?", const="auto", metavar="CKPT")
    overwrite: bool = _opt(False, "allow writing into a non-empty run folder without resuming")
    # optimization
    recipe: str = _opt("auto", _HELP["recipe"], choices=RECIPE_CHOICES)
    epochs: int | None = _opt(None, "training epochs" + RECIPE)
    batch_size: int | None = _opt(None, "batch size per process" + RECIPE, "-b", "--batch-size")
    accum_steps: int = _opt(1, "gradient accumulation steps", "--grad-accum-steps")
    opt: str = _opt("adamw", "optimizer", choices=["adamw", "sgd"])
    lr: float | None = _opt(None, _HELP["lr"])
    lr_base: float | None = _opt(None, _HELP["lr_base"])
    lr_base_size: int = _opt(512, "global batch size at which --lr-base applies")
    weight_decay: float = _opt(0.05, "weight decay (not applied to biases, norms, tokens, pos_embed)")
    opt_eps: float = _opt(1e-8, "optimizer epsilon")
    momentum: float = _opt(0.9, "SGD momentum")
    clip_grad: float | None = _opt(None, "clip the gradient norm to this value (default: no clipping)")
    # schedule
    sched: str = _opt("cosine", "learning-rate schedule", choices=["cosine", "step", "constant"])
    sched_official: bool = _opt(
        False,
        "the official code's exact schedule: timm's scheduler over all --epochs (warm-up included), set once "
        "per epoch with its one-epoch lag; default: warm-up then cosine over the remaining epochs, per step",
    )
    warmup_epochs: int | None = _opt(
        None, "linear warmup epochs; shortened (with a warning) when longer than the run" + RECIPE
    )
    warmup_lr: float = _opt(1e-6, "learning rate at the start of warmup")
    min_lr: float = _opt(1e-5, "final learning rate of the cosine schedule")
    decay_epochs: float = _opt(30.0, "step schedule: epochs between decays")
    decay_rate: float = _opt(0.1, "step schedule: decay factor")
    # augmentation
    smoothing: float = _opt(0.1, "label smoothing")
    color_jitter: float = _opt(0.3, "color jitter strength (timm ignores it when --aa is active)")
    aa: str | None = _opt(
        None,
        "timm auto-augment policy, e.g. rand-m9-mstd0.5-inc1 ('none' disables)" + RECIPE,
        none_is_value=True,  # 'none' means no auto-augment, not "unset"
    )
    train_interpolation: str = _opt(
        "bicubic", "resize interpolation", choices=["bicubic", "bilinear", "random"]
    )
    reprob: float | None = _opt(None, "random erasing probability" + RECIPE)
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
    repeated_aug: bool | None = _opt(None, "repeated augmentation sampler (Hoffer et al.)" + RECIPE)
    num_repeats: int = _opt(3, "repeats per image for --repeated-aug")
    mixup: float | None = _opt(None, "mixup alpha (0 disables)" + RECIPE)
    cutmix: float | None = _opt(None, "cutmix alpha (0 disables)" + RECIPE)
    cutmix_minmax: tuple[float, float] | None = _opt(None, "cutmix min/max area ratio (overrides --cutmix)")
    mixup_prob: float = _opt(1.0, "probability of applying mixup or cutmix to a batch")
    mixup_switch_prob: float = _opt(0.5, "probability of cutmix instead of mixup when both are enabled")
    mixup_mode: str = _opt(
        "batch", "mix params per batch, pair or element", choices=["batch", "pair", "elem"]
    )
    # distillation
    teacher_model: str | None = _opt(
        None,
        "teacher: a model name (e.g. regnety_160; weights from --teacher-weights) or a checkpoint / run "
        "folder written by deit train",
        "--teacher",
        "--teacher-model",
    )
    teacher_weights: str | None = _opt(
        None,
        "weights for a teacher given by name: a .pth/.pt/.safetensors file or a run folder",
        "--teacher-weights",
        "--teacher-path",
    )
    teacher_pretrained: bool = _opt(
        False,
        "load --teacher NAME's released weights through timm (e.g. regnety_160.deit_in1k, the paper's "
        "teacher); they must predict the dataset's classes",
    )
    teacher_mean: tuple[float, float, float] | None = _opt(
        None,
        "teacher input mean R G B (default: a deit checkpoint's own, else the model's pretrained cfg, else "
        "ImageNet's; printed at start and recorded in config.yaml)",
    )
    teacher_std: tuple[float, float, float] | None = _opt(
        None, "teacher input std R G B (default: as --teacher-mean)"
    )
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

    def actual_lr(self, world_size: int = 1) -> float:
        """The learning rate used: ``--lr``, else ``--lr-base`` x global batch (with accumulation) / ``--lr-base-size``."""
        if self.lr is not None:
            return self.lr
        if self.lr_base is None:
            raise ConfigError("--lr: not set and no --lr-base; resolve the recipe first (deit.auto_recipe)")
        return self.lr_base * self.global_batch_size(world_size) / self.lr_base_size

    def resolve_amp(self, device_type: str) -> str:
        """'none', 'bf16' or 'fp16' for a torch device type ('cuda', 'cpu', 'mps')."""
        if self.amp == "auto":
            return "bf16" if device_type == "cuda" else "none"
        return self.amp


_SECTION_STARTS = "data model output recipe sched smoothing teacher_model model_ema amp eval_interval".split()
_SECTION_TITLES = "data model output optimizer schedule augmentation distillation EMA runtime logging".split()
_SECTIONS = dict(zip(_SECTION_STARTS, _SECTION_TITLES))  # first field of a section -> title
_NONE_WORDS = {"none", "null", ""}
_KIND_TEXT = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
}
_TUPLE_TEXT = {2: "a list of two numbers [min, max]", 3: "a list of three numbers [R, G, B]"}
_TUPLE_METAVAR = {2: ("MIN", "MAX"), 3: ("R", "G", "B")}


@dataclass(frozen=True)
class _Spec:
    name: str
    kind: type
    optional: bool
    default: Any
    flags: tuple[str, ...]
    meta: Mapping[str, Any]
    length: int = 0  # number of items of a tuple field

    @property
    def flag(self) -> str:
        return next(f for f in self.flags if f.startswith("--"))

    @property
    def choices(self) -> list[str] | None:
        return self.meta.get("choices")

    def describe(self) -> str:
        text = (_TUPLE_TEXT[self.length] if self.kind is tuple else _KIND_TEXT[self.kind]) + (
            f" (one of {', '.join(self.choices)})" if self.choices else ""
        )
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
        length = len(typing.get_args(tp)) if kind is tuple else 0
        specs[f.name] = _Spec(f.name, kind, optional, f.default, flags, f.metadata, length)
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
    none_word = isinstance(value, str) and value.strip().lower() in _NONE_WORDS
    if value is None or (spec.optional and none_word and not spec.meta.get("none_is_value")):
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
    elif spec.kind is tuple and isinstance(value, (list, tuple)) and len(value) == spec.length:
        items = [_to_float(v) for v in value]
        if None not in items:
            return tuple(items)
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


def _upgrade_legacy(data: Mapping[Any, Any]) -> dict[Any, Any]:
    """Configs written before ``--lr`` meant the rate used: ``lr`` + ``lr_scale: true`` was a reference rate
    for a global batch of 512, which is ``lr_base`` now."""
    data = dict(data)
    for key in ("lr_scale", "lr-scale"):
        if key in data:
            scale = data.pop(key)
            if scale is True and data.get("lr") is not None and "lr_base" not in data:
                data["lr_base"] = data.pop("lr")
    return data


def _values_from_mapping(data: Any, source: str) -> dict[str, Any]:
    """Validate keys and types of a flat mapping (YAML file, dict); return field name → typed value."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping of option names to values, not {type(data).__name__}"
        )
    data = _upgrade_legacy(data)
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
    from deit.official_flags import translate

    ns = dict(args) if isinstance(args, Mapping) else vars(args)
    overrides = {k: v for k, v in ns.items() if k in _SPECS}
    overrides.update(translate(ns, "train", _SPECS)[0])  # official main.py spellings, or a refusal
    return load_config(ns.get("config"), overrides, check=check)


def _arg_type(spec: _Spec) -> Callable[[str], Any]:
    base: Callable[[str], Any] = {int: int, float: float, str: str}[spec.kind]

    def convert(text: str) -> Any:
        unset = spec.optional and not spec.meta.get("none_is_value")
        return None if unset and text.strip().lower() in _NONE_WORDS else base(text)

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
            kw.update(nargs=spec.length, type=float, metavar=_TUPLE_METAVAR[spec.length])
        else:
            kw["type"] = _arg_type(spec)
            for k in ("choices", "nargs", "const", "metavar"):
                if k in spec.meta:
                    kw[k] = spec.meta[k]
        group.add_argument(*spec.flags, **kw)
    from deit.official_flags import add_official_arguments

    add_official_arguments(parser, "train")  # hidden: official DeiT main.py spellings (mapped or refused)
    return parser


# value rules: a bound (">=1", ">0") or an interval ("[0,1)") followed by the fields it applies to
_RULES_TABLE = """
>=0 workers weight_decay warmup_epochs warmup_lr min_lr color_jitter mixup cutmix skip_nonfinite
>=1 img_size num_classes epochs batch_size accum_steps recount num_repeats max_steps_per_epoch
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
                f"or unset it with {_SPECS[name].flag} none",
            )
    if not _DEVICE_RE.fullmatch(c.device):
        fail("device", f"must be auto, cpu, cuda, cuda:N or mps; got {_show(c.device)}")
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


def dump_config(cfg: TrainConfig, notes: Mapping[str, str] | None = None) -> str:
    """YAML text: a header comment, then the flat mapping grouped into commented sections; ``notes`` adds a
    trailing comment to a field's line (the recipe's reason for a derived value)."""
    from deit import __version__

    lines = [
        f"# DeiT training configuration (deit {__version__}): flat mapping of option names.",
        "# Reload with `deit train -c THIS_FILE`; flags given on the command line override it.",
    ]
    for name, value in cfg.to_dict().items():
        if name in _SECTIONS:
            lines += ["", f"# --- {_SECTIONS[name]} ---"]
        try:
            line = yaml.safe_dump({name: value}, default_flow_style=False, width=10**6).rstrip("\n")
        except yaml.YAMLError:
            raise ConfigError(f"{_SPECS[name].flag}: cannot write {_show(value)} to YAML") from None
        note = (notes or {}).get(name)
        lines.append(f"{line}  # {note}" if note and "\n" not in line else line)
    return "\n".join(lines) + "\n"


def save_config(
    cfg: TrainConfig, path: str | os.PathLike[str], notes: Mapping[str, str] | None = None
) -> Path:
    """Write :func:`dump_config` atomically (temp file + rename); return the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(dump_config(cfg, notes))
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; a run's config.yaml is meant to be shared
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write config file {path}: {exc}") from None
    return path
