"""The training configuration's fields: one flat dataclass, each field with its help text and flags.

Flags are generated from these fields in :mod:`deit.config.flags`, YAML is read and written in
:mod:`deit.config.files`, values are checked in :mod:`deit.config.validation`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from deit.config.spec import Spec, build_specs, values_from_mapping
from deit.errors import ConfigError

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"
RECIPE_CHOICES = ["auto", "paper", "transfer"]


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
    "printed at start with the reasons), paper (Table 9 exactly) or transfer (the shipped transfer-with-"
    "distillation preset, as -c transfer: needs --pretrained or --finetune)",
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
    val_split: float = _opt(
        0.0,
        "fraction of training images held out for validation: required for a folder without train/ and "
        "val/ (the default 0 holds out nothing)",
    )
    split_seed: int = _opt(
        0,
        "seed of the held-out split (--val-split, the digits test split); apart from --seed so that runs "
        "with different seeds are scored on the same images",
    )
    train_per_class: int | None = _opt(
        None,
        "train on at most N images of every class (a fixed subset drawn with --split-seed, the same for every "
        "--seed; validation unchanged): data-efficiency studies, data-starved runs",
    )
    skip_corrupt: bool = _opt(False, "skip unreadable images instead of failing")
    hf_image_column: str | None = _opt(
        None, "--data hf:PATH: the image column (default: the first Image column)"
    )
    hf_label_column: str | None = _opt(
        None, "--data hf:PATH: the label column (default: the first ClassLabel column, else label/labels)"
    )
    workers: int | None = _opt(
        None,
        "data-loader worker processes per process (default: auto, from the usable cores and --data-cache, "
        "printed at start; threads + workers never exceed the cores)",
        "-j",
        "--workers",
    )
    pin_mem: bool = _opt(True, "pin host memory in the data loaders")
    data_cache: str = _opt(
        "auto",
        "decode the dataset once into a uint8 tensor and augment whole batches on the training device: "
        "memory (tensor in host memory), device (on the training device too), none (PIL streaming with "
        "loader processes) or auto (memory/device when the decoded images fit a quarter of the free RAM / "
        "half the free GPU memory and, on a CPU, are <= 64 px; printed at start)",
        choices=["auto", "none", "memory", "device"],
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
    channels_last: bool | None = _opt(
        None,
        "channels-last memory format for the student and a convnet teacher (default: auto, on for a convnet "
        "trained on a CPU, printed at start)",
    )
    fused_opt: bool | None = _opt(
        None,
        "the optimizer as one fused kernel per step (default: auto, on for AdamW on CPU and CUDA; SGD only "
        "with the flag; --no-fused-opt: torch's per-parameter loop, same update rule, other rounding)",
    )
    device: str = _opt("auto", "auto, cpu, cuda, cuda:N or mps")
    threads: int | None = _opt(
        None,
        "torch CPU threads per process (default: auto, from the usable cores and the data path, printed at "
        "start)",
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
        return cls(**values_from_mapping(data, source, SPECS, ALIASES))

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
SECTIONS = dict(zip(_SECTION_STARTS, _SECTION_TITLES))  # first field of a section -> title

SPECS: dict[str, Spec] = build_specs(TrainConfig)
ALIASES = {fl[2:].replace("-", "_"): s.name for s in SPECS.values() for fl in s.flags if fl[:2] == "--"}
ALIASES.update(num_workers="workers", nb_classes="num_classes")
