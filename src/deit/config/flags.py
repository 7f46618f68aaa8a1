"""The ``deit train`` flags, one per :class:`TrainConfig` field (generated), and a config from parsed flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from deit.config.fields import SECTIONS, SPECS, TrainConfig
from deit.config.files import list_recipes, load_config
from deit.config.spec import NONE_WORDS, TUPLE_METAVAR, Spec
from deit.official_flags import add_official_arguments, translate


def config_from_args(args: argparse.Namespace | Mapping[str, Any], *, check: bool = True) -> TrainConfig:
    """Parsed flags (defaults SUPPRESSed by :func:`add_train_arguments`) over the recipe over the defaults.

    Attributes that are not config fields (sub-command, other flags) are ignored.
    """
    ns = dict(args) if isinstance(args, Mapping) else vars(args)
    overrides = {k: v for k, v in ns.items() if k in SPECS}
    overrides.update(translate(ns, "train", SPECS)[0])  # official main.py spellings, or a refusal
    return load_config(ns.get("config"), overrides, check=check)


def _arg_type(spec: Spec) -> Callable[[str], Any]:
    base: Callable[[str], Any] = {int: int, float: float, str: str}[spec.kind]

    def convert(text: str) -> Any:
        unset = spec.optional and not spec.meta.get("none_is_value")
        return None if unset and text.strip().lower() in NONE_WORDS else base(text)

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
    for spec in SPECS.values():
        if spec.name in SECTIONS:
            group = parser.add_argument_group(SECTIONS[spec.name])
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
            kw.update(nargs=spec.length, type=float, metavar=TUPLE_METAVAR[spec.length])
        else:
            kw["type"] = _arg_type(spec)
            for k in ("choices", "nargs", "const", "metavar"):
                if k in spec.meta:
                    kw[k] = spec.meta[k]
        group.add_argument(*spec.flags, **kw)
    add_official_arguments(parser, "train")  # hidden: official DeiT main.py spellings (mapped or refused)
    return parser
