"""Exceptions with messages meant for users: the CLI prints them without a traceback."""

from __future__ import annotations


class DeiTError(Exception):
    """Base class: an error caused by the user's input (flags, files, data), not by a bug."""


class ConfigError(DeiTError, ValueError):
    """A configuration key, flag or YAML value is invalid; the message names the key."""


class CheckpointError(DeiTError):
    """A checkpoint is unreadable, unsafe, or does not match the model; the message names file/keys."""


class UnsafeCheckpointError(CheckpointError):
    """The file would need arbitrary code execution (a pickle with globals) to load."""


class DataError(DeiTError):
    """A dataset path or image is missing, empty or unreadable; the message names the file."""


class ModelError(DeiTError, ValueError):
    """Unknown model name or invalid model arguments / input shapes."""


class NonFiniteLossError(DeiTError):
    """Training produced a NaN/Inf loss; the message names the step, the loss parts and the last checkpoint."""
