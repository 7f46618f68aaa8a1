"""`deit` command-line entry point: a thin dispatcher.

Each sub-command lives in its own module ``deit.cli.<name>`` exposing
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported lazily so
``deit --help`` stays fast and one broken optional dependency never breaks the rest.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import re
import sys

# Before torch loads its OpenMP runtime: idle compute threads sleep instead of spinning. With two 2-thread
# trainings on 2 cores, spinning threads kept each at 14-35 % of its quiet img/s, sleeping ones at about 65 %
# (quiet speed unchanged within noise; benchmarks/RESULTS.md). A user's own OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("deit.cli.train", "train a DeiT student (optionally distilled) or a CNN teacher"),
    "eval": ("deit.cli.evaluate", "evaluate a checkpoint: class, distillation and fused heads"),
    "demo": (
        "deit.cli.demo",
        "the whole DeiT story on bundled digits data, offline, about 3-4 minutes on 2 CPU cores",
    ),
    "analyze": ("deit.cli.analyze", "token cosine, agreement and attention-rollout analyses"),
    "benchmark": ("deit.cli.benchmark", "measure inference/training throughput and memory"),
    "predict": ("deit.cli.predict", "top-k predictions for image files or folders"),
    "export": ("deit.cli.export", "export a checkpoint to ONNX, safetensors or a transformers folder (hf)"),
    "models": ("deit.cli.models", "list the model zoo"),
    "data": ("deit.cli.data", "inspect and check datasets"),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and example blocks, and appends ``(default: X)`` to every
    option whose help does not state its default already (None/False defaults mean "off" and are omitted)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, argparse.SUPPRESS)
            or isinstance(action, (argparse._HelpAction, argparse._VersionAction))
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every sub-command parser below it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += _all_parsers(child)
    return found


def build_parser() -> argparse.ArgumentParser:
    from deit import __version__

    parser = argparse.ArgumentParser(
        prog="deit",
        description="Train, distil, fine-tune, evaluate, analyse and export DeiT vision transformers.",
    )
    parser.add_argument("--version", action="version", version=f"deit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    for p in _all_parsers(parser):
        p.formatter_class = HelpFormatter
    return parser


_DISK_ERRORS = {
    errno.ENOSPC: "disk full (no space left on device)",
    errno.EROFS: "read-only file system",
    getattr(errno, "EDQUOT", -1): "disk quota exceeded",
}


def user_message(exc: BaseException) -> str:
    """``str(exc)``; for an error re-raised from a DataLoader worker, only the original message (torch puts
    the worker's whole traceback into the re-raised exception's text)."""
    text = str(exc)
    head = re.match(r"Caught \w+ (in DataLoader worker process \d+)\.\nOriginal Traceback", text)
    if head:
        marker = f"{type(exc).__module__}.{type(exc).__qualname__}: "
        cut = text.rfind(marker)
        if cut >= 0:
            text = f"{text[cut + len(marker) :].strip()} ({head.group(1)})"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    from deit.errors import DeiTError

    try:
        return int(args._run(args) or 0)
    except DeiTError as exc:
        print(f"deit {args.command}: error: {user_message(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine's fault, not a bug: say so without a traceback
        if exc.errno not in _DISK_ERRORS:
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(
            f"deit {args.command}: error: {_DISK_ERRORS[exc.errno]}{where} ({exc.strerror or exc}); files "
            "written before (e.g. the last checkpoint) were left as they were",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"deit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
