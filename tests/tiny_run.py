"""The suite's smallest training run: one epoch of the distilled nano DeiT on 16-px digits, in-process."""

from __future__ import annotations

from pathlib import Path

from deit.config import TrainConfig

NANO = "deit_nano_distilled_patch4_16"


def tiny_config(tmp_path: Path, name: str = "r", **overrides: object) -> TrainConfig:
    """A ``TrainConfig`` writing to ``tmp_path / name``; ``overrides`` replace any field."""
    base = dict(
        data="digits",
        model=NANO,
        img_size=16,
        batch_size=16,
        workers=0,
        epochs=1,
        warmup_epochs=0,
        aa="none",
        repeated_aug=False,
        output=str(tmp_path / name),
        log_interval=1000,
    )
    return TrainConfig(**{**base, **overrides})
