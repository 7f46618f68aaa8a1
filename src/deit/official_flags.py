"""The flags of the official DeiT ``main.py`` (facebookresearch/deit), accepted verbatim by ``deit train``
and ``deit eval``: each one is mapped onto one of ours, accepted as a no-op (with the reason), or refused
with one line naming the flag and what to use instead.

Flags that ``main.py`` spells exactly as we do (``--batch-size``, ``--lr``, ``--teacher-model``,
``--data-path``, ...) are ordinary options of ours and are not listed here. This table is the one place
that decides the rest; a target field that this version of :class:`deit.config.TrainConfig` lacks turns
the mapping into a refusal ("not supported by this version") instead of a silent drop.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from deit.errors import ConfigError

# where the official value goes: "field" (our config field), "const" (a fixed value of our field),
# "noop" (accepted, nothing to do: our behaviour already equals it), "refuse" (one clear line)
KINDS = ("field", "const", "noop", "refuse")


@dataclass(frozen=True)
class OfficialFlag:
    flags: tuple[str, ...]  # spellings in main.py
    kind: str
    target: str | None = None  # our TrainConfig field ("field"/"const")
    value: Any = None  # "const": the value the target gets
    type: Callable[[str], Any] | None = None  # None: a switch (store_true)
    nargs: str | int | None = None
    note: str = ""  # refusal: what to use instead; no-op: why nothing is needed
    harmless: tuple[Any, ...] = ()  # values accepted as a no-op even when the flag is otherwise refused
    commands: tuple[str, ...] = ("train",)  # also "eval" for the flags an evaluation-only run uses
    absent: str = (
        "refuse"  # "field"/"const" whose target this version lacks: "refuse" or "noop" (note says why)
    )
    shown: str = ""  # help text where --help lists the flag; hidden without one

    @property
    def dest(self) -> str:
        return "official_" + self.flags[0].lstrip("-").replace("-", "_").lower()


_DEIT3 = "is DeiT III (Revenge of the ViT), not supported yet; drop the flag for the DeiT recipe"
_DIST = "deit train reads torchrun/SLURM from the environment"

OFFICIAL_FLAGS: tuple[OfficialFlag, ...] = (
    # ------------------------------------------------------------------ renamed: same meaning, our field
    OfficialFlag(("--output_dir",), "field", "output", type=str),
    OfficialFlag(("--num_workers",), "field", "workers", type=int, commands=("train", "eval")),
    OfficialFlag(("--dr",), "field", "decay_rate", type=float),
    OfficialFlag(
        ("--eval-crop-ratio",), "field", "crop_pct", type=float, harmless=(0.875,), commands=("train", "eval")
    ),
    OfficialFlag(
        ("--opt-betas",),
        "field",
        "opt_betas",
        type=float,
        nargs="+",
        harmless=([0.9, 0.999],),
        note="AdamW uses betas (0.9, 0.999); drop the flag",
    ),
    OfficialFlag(
        ("--lr-noise",),
        "field",
        "lr_noise",
        type=float,
        nargs="+",
        note="the schedule has no lr noise; drop the flag",
    ),
    OfficialFlag(
        ("--cooldown-epochs",),
        "field",
        "cooldown_epochs",
        type=int,
        harmless=(0,),
        note="the cosine schedule ends at --min-lr after --epochs with no cool-down; add the cool-down epochs "
        "to --epochs instead",
    ),
    # main.py's spelling of --data, in every main.py training line: an entry of its own, so that such a line
    # is recognised as main.py's (whose --lr is scaled by batch / 512, see translate)
    OfficialFlag(
        ("--data-path",),
        "field",
        "data",
        type=str,
        shown="main.py's spelling of --data; on a line with it --lr is scaled by global batch / 512 as in "
        "main.py, unless --unscale-lr",
    ),
    # ------------------------------------------------------------------ fixed values of our fields
    OfficialFlag(
        ("--unscale-lr",),
        "const",
        "lr_scale",
        False,
        note="--lr is used as given, without batch-size scaling",
        absent="noop",  # translate keeps an official line's --lr unscaled
    ),
    # ------------------------------------------------------------------ accepted, nothing to do
    OfficialFlag(("--eval",), "noop", note="deit eval evaluates only", commands=("eval",)),
    OfficialFlag(("--distributed",), "noop", note=_DIST, commands=("train", "eval")),
    OfficialFlag(("--world_size",), "noop", type=int, note=_DIST, commands=("train", "eval")),
    OfficialFlag(("--local-rank", "--local_rank"), "noop", type=int, note=_DIST, commands=("train", "eval")),
    OfficialFlag(("--lr-noise-pct",), "noop", type=float, note="only used with --lr-noise"),
    OfficialFlag(("--lr-noise-std",), "noop", type=float, note="only used with --lr-noise"),
    OfficialFlag(("--patience-epochs",), "noop", type=int, note="only used by the plateau schedule"),
    OfficialFlag(
        ("--model-ema-force-cpu",),
        "noop",
        note="the EMA stays on the training device; same result",
        commands=("train", "eval"),
    ),
    OfficialFlag(
        ("--resplit",), "noop", note="only used with timm augmentation splits, which DeiT does not use"
    ),
    OfficialFlag(
        ("--inat-category",),
        "noop",
        type=str,
        note="only used with --data-set INAT/INAT19",
        commands=("train", "eval"),
    ),
    OfficialFlag(("--train-mode",), "noop", note="the model trains in train mode"),
    # ------------------------------------------------------------------ refused unless harmless
    OfficialFlag(
        ("--eval",),
        "refuse",
        note="evaluation only is `deit eval`: replace `deit train` by `deit eval` in this command "
        "(it accepts --eval --resume --model --data-path as main.py does)",
        commands=("train",),
    ),
    OfficialFlag(
        ("--start_epoch",),
        "refuse",
        type=int,
        harmless=(0,),
        note="--resume continues at the checkpoint's own epoch; drop the flag",
    ),
    OfficialFlag(
        ("--dist_url",),
        "refuse",
        type=str,
        harmless=("env://",),
        note="set MASTER_ADDR/MASTER_PORT (torchrun does) and launch with torchrun",
        commands=("train", "eval"),
    ),
    OfficialFlag(
        ("--data-set",),
        "refuse",
        type=str,
        harmless=("IMNET", "CIFAR"),
        note="iNaturalist annotation files are not read; arrange the images in one folder per class and "
        "pass that folder as --data-path (IMNET and CIFAR are recognised from --data-path itself)",
        commands=("train", "eval"),
    ),
    OfficialFlag(
        ("--no-train-mode",),
        "refuse",
        note="training with dropout and drop-path disabled is --drop 0 --drop-path 0",
    ),
    OfficialFlag(("--bce-loss",), "refuse", note=f"binary cross-entropy {_DEIT3}"),
    OfficialFlag(("--ThreeAugment",), "refuse", note=f"3-Augment {_DEIT3}"),
    OfficialFlag(("--src",), "refuse", note=f"simple random crop {_DEIT3}"),
    OfficialFlag(
        ("--attn-only",),
        "refuse",
        note="fine-tuning the attention weights only is not supported; drop it to fine-tune every weight",
    ),
    OfficialFlag(("--cosub",), "refuse", note="co-training of sub-models (cosub) is not supported; drop it"),
)


# main.py flags spelled exactly as ours (deit train has each one) -> how many values they take
# (0: a switch, 1: one value, "+": a list)
SAME_AS_OURS: dict[str, int | str] = {
    **dict.fromkeys(
        "--model-ema --no-model-ema --repeated-aug --no-repeated-aug --dist-eval --pin-mem --no-pin-mem".split(),
        0,
    ),
    **dict.fromkeys(
        "--batch-size --epochs --model --input-size --drop --drop-path --model-ema-decay --opt --opt-eps "
        "--clip-grad --momentum --weight-decay --sched --lr --warmup-lr --min-lr --decay-epochs --warmup-epochs "
        "--decay-rate --color-jitter --aa --smoothing --train-interpolation --reprob --remode --recount --mixup "
        "--cutmix --mixup-prob --mixup-switch-prob --mixup-mode --teacher-model --teacher-path "
        "--distillation-type --distillation-alpha --distillation-tau --finetune --device --seed --resume".split(),
        1,
    ),
    "--cutmix-minmax": "+",
}
IGNORED_BY_EVAL = "a training flag; main.py --eval ignores it too"


def flags_for(command: str) -> list[OfficialFlag]:
    return [f for f in OFFICIAL_FLAGS if command in f.commands]


def _eval_ignores(skip: Collection[str]) -> list[OfficialFlag]:
    """Every main.py flag (the table's and the ones spelled like ours) as an entry that ``deit eval``
    accepts and ignores, except the spellings in ``skip``."""
    entries = list(OFFICIAL_FLAGS) + [
        OfficialFlag((name,), "noop", type=None if nargs == 0 else str, nargs="+" if nargs == "+" else None)
        for name, nargs in SAME_AS_OURS.items()
    ]
    return [
        OfficialFlag(f.flags, "noop", type=f.type, nargs=f.nargs, note=IGNORED_BY_EVAL, commands=("eval",))
        for f in entries
        if not set(f.flags) & set(skip)
    ]


def add_official_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """Hidden options (help=SUPPRESS, default=SUPPRESS) for every official flag of ``command``; the parsed
    values are turned into ours by :func:`translate`. ``eval`` also takes every other main.py flag that it
    does not have and ignores it, as ``main.py --eval`` does."""
    flags = flags_for(command)
    if command == "eval":
        flags += _eval_ignores(set(parser._option_string_actions) | {s for f in flags for s in f.flags})
    for flag in flags:
        for spelling in flag.flags:  # one of our aliases (--data-path): main.py's from now on
            ours = parser._option_string_actions.pop(spelling, None)
            if ours is not None:
                ours.option_strings.remove(spelling)
        kw: dict[str, Any] = {"dest": flag.dest, "default": argparse.SUPPRESS}
        kw["help"] = flag.shown or argparse.SUPPRESS
        if flag.shown and flag.type is not None:
            kw["metavar"] = str(flag.target).upper()
        if flag.type is None:
            kw["action"] = "store_true"
        else:
            kw["type"] = flag.type
            if flag.nargs is not None:
                kw["nargs"] = flag.nargs
        parser.add_argument(*flag.flags, **kw)


def _given(flag: OfficialFlag, value: Any) -> str:
    if flag.type is None:
        return flag.flags[0]
    shown = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"{flag.flags[0]} {shown}"


def translate(
    parsed: Mapping[str, Any], command: str, fields: Collection[str]
) -> tuple[dict[str, Any], list[str]]:
    """``(our field -> value, notes)`` for the official flags in ``parsed`` (an argparse namespace as a
    dict); ``fields`` are the TrainConfig fields this version has. Raises :class:`ConfigError` naming the
    flag for a refused one. Notes are one line per accepted no-op, for the log."""
    values: dict[str, Any] = {}
    notes: list[str] = []
    flags = flags_for(command)
    if command == "eval":  # eval's own options never fill an official_* key, so skipping only these is enough
        flags += _eval_ignores({s for f in flags for s in f.flags})
    for flag in flags:
        if flag.dest not in parsed:
            continue
        value = parsed[flag.dest]
        given = _given(flag, value)
        if flag.harmless and value in flag.harmless:
            notes.append(f"{given}: accepted, nothing to do")
            continue
        if flag.kind in ("field", "const"):
            if flag.target not in fields and flag.absent == "noop":
                notes.append(f"{given}: accepted, nothing to do ({flag.note})")
                continue
            if flag.target not in fields:
                why = flag.note or f"would set {flag.target}, which this version does not have"
                raise ConfigError(
                    f"{given} (official DeiT main.py flag): not supported by this version: {why}"
                )
            if flag.target in parsed:
                raise ConfigError(f"{given} and --{flag.target.replace('_', '-')} both set {flag.target}")
            values[flag.target] = flag.value if flag.kind == "const" else value
        elif flag.kind == "noop":
            notes.append(f"{given}: accepted, nothing to do" + (f" ({flag.note})" if flag.note else ""))
        else:
            raise ConfigError(f"{given} (official DeiT main.py flag): {flag.note}")
    if command == "train":
        values, notes = _official_lr(parsed, flags, values, notes)
    return values, notes


def _official_lr(
    parsed: Mapping[str, Any], flags: list[OfficialFlag], values: dict[str, Any], notes: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """main.py scales ``--lr`` by global batch / 512 unless ``--unscale-lr``; ours is the rate used. On a
    line with main.py's own spellings, ``--lr`` is taken as main.py takes it (``--lr-base``), said in one
    note, so that the same line never trains at another rate (8x at -b 64)."""
    official = [f.flags[0] for f in flags if f.dest in parsed]
    if parsed.get("lr") is None or not official:
        return values, notes
    lr = parsed["lr"]
    if "official_unscale_lr" in parsed:
        notes = [n for n in notes if not n.startswith("--unscale-lr")]
        notes.append(f"--unscale-lr: --lr {lr:g} is the rate used, as in main.py")
        return values, notes
    if parsed.get("lr_base") is not None:
        raise ConfigError(
            f"--lr {lr:g} on a main.py line ({official[0]}) is main.py's scaled rate, which --lr-base "
            f"{parsed['lr_base']:g} sets too: drop one"
        )
    notes.append(
        f"--lr {lr:g} on a main.py line ({official[0]}): scaled as main.py scales it, {lr:g} x global "
        f"batch / 512 (the rate used is in the recipe block); add --unscale-lr to train at {lr:g}"
    )
    return {**values, "lr": None, "lr_base": lr}, notes


def mapping_table() -> list[dict[str, Any]]:
    """The table as plain data (docs, tests): one row per flag spelling and command."""
    return [
        {"flag": s, "command": c, "kind": f.kind, "target": f.target, "note": f.note}
        for f in OFFICIAL_FLAGS
        for s in f.flags
        for c in f.commands
    ]


__all__ = [
    "OFFICIAL_FLAGS",
    "SAME_AS_OURS",
    "OfficialFlag",
    "add_official_arguments",
    "flags_for",
    "mapping_table",
    "translate",
]
