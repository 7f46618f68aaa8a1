"""What each config field accepts, read off the dataclass: types, choices, flags; checking and converting
values from YAML, flags or dicts, with errors that name the key."""

from __future__ import annotations

import difflib
import numbers
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from deit.errors import ConfigError

NONE_WORDS = {"none", "null", ""}
_KIND_TEXT = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
}
_TUPLE_TEXT = {2: "a list of two numbers [min, max]", 3: "a list of three numbers [R, G, B]"}
TUPLE_METAVAR = {2: ("MIN", "MAX"), 3: ("R", "G", "B")}


@dataclass(frozen=True)
class Spec:
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


def build_specs(cls: type) -> dict[str, Spec]:
    """One :class:`Spec` per dataclass field of ``cls``, read off its type hints and metadata."""
    hints = typing.get_type_hints(cls)
    specs = {}
    for f in fields(cls):
        tp = hints[f.name]
        args = typing.get_args(tp)
        optional = typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args
        if optional:
            tp = next(a for a in args if a is not type(None))
        kind = tuple if typing.get_origin(tp) is tuple else tp
        flags = tuple(f.metadata["flags"]) or ("--" + f.name.replace("_", "-"),)
        length = len(typing.get_args(tp)) if kind is tuple else 0
        specs[f.name] = Spec(f.name, kind, optional, f.default, flags, f.metadata, length)
    return specs


def show(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not turn a ConfigError into something else
        text = f"<{type(value).__name__}>"
    return (text[:57] + "...") if len(text) > 60 else text


def to_float(value: Any) -> float | None:
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


def coerce(spec: Spec, value: Any, where: str) -> Any:
    """Check/convert one value to the field's type; ``where`` prefixes the error message."""
    none_word = isinstance(value, str) and value.strip().lower() in NONE_WORDS
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
        number = to_float(value)
        if number is not None:
            return number
    elif spec.kind is str:
        if isinstance(value, str) and spec.choices and value not in spec.choices:
            close = difflib.get_close_matches(value, spec.choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: must be one of {', '.join(spec.choices)}; got {show(value)}{hint}")
        if isinstance(value, str):
            return value
    elif spec.kind is tuple and isinstance(value, (list, tuple)) and len(value) == spec.length:
        items = [to_float(v) for v in value]
        if None not in items:
            return tuple(items)
    raise ConfigError(f"{where}: expected {spec.describe()}, got {show(value)} ({type(value).__name__})")


def canonical(key: Any, specs: Mapping[str, Spec], aliases: Mapping[str, str]) -> str | None:
    if not isinstance(key, str):
        return None
    key = key.replace("-", "_")
    return key if key in specs else aliases.get(key)


def unknown_key(key: Any, source: str, specs: Mapping[str, Spec], aliases: Mapping[str, str]) -> ConfigError:
    close = difflib.get_close_matches(str(key).replace("-", "_"), sorted(set(specs) | set(aliases)), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else "; see `deit train --help`"
    return ConfigError(f"{source}: unknown key {show(key)}{hint}")


def upgrade_legacy(data: Mapping[Any, Any]) -> dict[Any, Any]:
    """Configs written before ``--lr`` meant the rate used: ``lr`` + ``lr_scale: true`` was a reference rate
    for a global batch of 512, which is ``lr_base`` now."""
    data = dict(data)
    for key in ("lr_scale", "lr-scale"):
        if key in data:
            scale = data.pop(key)
            if scale is True and data.get("lr") is not None and "lr_base" not in data:
                data["lr_base"] = data.pop("lr")
    return data


def values_from_mapping(
    data: Any, source: str, specs: Mapping[str, Spec], aliases: Mapping[str, str]
) -> dict[str, Any]:
    """Validate keys and types of a flat mapping (YAML file, dict); return field name → typed value."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping of option names to values, not {type(data).__name__}"
        )
    data = upgrade_legacy(data)
    values: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    for key, value in data.items():
        name = canonical(key, specs, aliases)
        if name is None:
            raise unknown_key(key, source, specs, aliases)
        if name in seen:
            raise ConfigError(f"{source}: keys {seen[name]!r} and {key!r} both set {specs[name].flag}")
        seen[name] = key
        values[name] = coerce(specs[name], value, f"{source}: key {key!r} ({specs[name].flag})")
    return values
