"""YAML: shipped recipes (``-c NAME``), config files over the defaults, and a run's ``config.yaml``."""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from deit import __version__
from deit.config.fields import ALIASES, RECIPES_DIR, SECTIONS, SPECS, TrainConfig
from deit.config.spec import canonical, coerce, show, unknown_key, values_from_mapping
from deit.config.validation import validate
from deit.errors import ConfigError


def list_recipes() -> list[str]:
    """Names of the recipes shipped in ``deit/recipes`` (usable as ``-c NAME``)."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def resolve_recipe(name_or_path: str | os.PathLike[str]) -> Path:
    """A YAML path as given, or a shipped recipe name (``deit_tiny_imagenet`` or ``….yaml``)."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ConfigError(f"-c/--config: expected a file path or recipe name, got {show(name_or_path)}")
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
        raise ConfigError(f"-c/--config {show(name_or_path)}: {exc}") from None
    if exists:
        raise ConfigError(f"-c/--config {show(name)}: not a file")
    close = difflib.get_close_matches(name, list_recipes(), n=2)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ConfigError(
        f"-c/--config {show(name)}: no such file and no such recipe "
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
    return values_from_mapping({} if data is None else data, str(path), SPECS, ALIASES)


def load_config(
    source: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    check: bool = True,
) -> TrainConfig:
    """Defaults < YAML file or shipped recipe ``source`` < ``overrides`` (field names or aliases)."""
    values = _read_yaml(resolve_recipe(source)) if source is not None else {}
    for key, value in (overrides or {}).items():
        name = canonical(key, SPECS, ALIASES)
        if name is None:
            raise unknown_key(key, "overrides", SPECS, ALIASES)
        values[name] = coerce(SPECS[name], value, SPECS[name].flag)
    if source is None and values.get("recipe") == "transfer":  # --recipe transfer: the preset under the flags
        values = {**_read_yaml(resolve_recipe("transfer")), **values}
    cfg = TrainConfig(**values)
    return validate(cfg) if check else cfg


def load_config_file(path: str | os.PathLike[str], *, check: bool = False) -> TrainConfig:
    """Read a config YAML (e.g. a run's ``config.yaml``) over the defaults; validate if ``check``."""
    return load_config(path, check=check)


def dump_config(cfg: TrainConfig, notes: Mapping[str, str] | None = None) -> str:
    """YAML text: a header comment, then the flat mapping grouped into commented sections; ``notes`` adds a
    trailing comment to a field's line (the recipe's reason for a derived value)."""
    lines = [
        f"# DeiT training configuration (deit {__version__}): flat mapping of option names.",
        "# Reload with `deit train -c THIS_FILE`; flags given on the command line override it.",
    ]
    for name, value in cfg.to_dict().items():
        if name in SECTIONS:
            lines += ["", f"# --- {SECTIONS[name]} ---"]
        try:
            line = yaml.safe_dump({name: value}, default_flow_style=False, width=10**6).rstrip("\n")
        except yaml.YAMLError:
            raise ConfigError(f"{SPECS[name].flag}: cannot write {show(value)} to YAML") from None
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
