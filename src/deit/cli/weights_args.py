"""``--pretrained``, ``--weights-source`` and ``--offline`` for the commands that read a model."""

from __future__ import annotations

import argparse

SOURCES = ("official", "hf", "hf-facebook")


def add_weights_arguments(parser: argparse.ArgumentParser, pretrained: bool = True) -> None:
    if pretrained:
        parser.add_argument(
            "--pretrained",
            action="store_true",
            help="use --model's released ImageNet weights (downloaded once into $DEIT_HOME/weights)",
        )
    parser.add_argument(
        "--weights-source",
        choices=SOURCES,
        default="official",
        help="where --pretrained weights come from: official (dl.fbaipublicfiles.com or $DEIT_WEIGHTS_URL), "
        "hf (timm's Hugging Face repos), hf-facebook (the authors' transformers repos)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never download: cached weights only (also $DEIT_OFFLINE=1, $HF_HUB_OFFLINE=1)",
    )


def model_source(args: argparse.Namespace, flag: str = "--checkpoint") -> str:
    """What to load: ``--checkpoint``, or with ``--pretrained`` the name given by ``--model``."""
    from deit.errors import ConfigError

    checkpoint = getattr(args, flag.lstrip("-").replace("-", "_"), None)
    if getattr(args, "pretrained", False):
        if checkpoint:
            raise ConfigError(f"--pretrained loads --model's released weights: do not pass {flag} too")
        if not args.model:
            raise ConfigError(
                "--pretrained needs --model NAME (a model with released weights, see `deit models`)"
            )
        return str(args.model)
    if not checkpoint:
        raise ConfigError(f"{flag} is required (or --pretrained --model NAME for released weights)")
    return str(checkpoint)


def weights_options(args: argparse.Namespace) -> tuple[str, bool]:
    """(``--weights-source``, ``--offline``) with their defaults for namespaces built without them."""
    return getattr(args, "weights_source", "official"), bool(getattr(args, "offline", False))
