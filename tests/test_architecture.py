"""The package layout: import-linter contracts (pyproject.toml) and a cheap ``import deit``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_kept() -> None:
    """Layers import only downwards (function-local imports included): no cycle can come back."""
    pytest.importorskip("importlinter")
    # a child process: import-linter's logging setup disables the loggers of the process it runs in
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }


def _fresh_import(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True, timeout=120
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_deit_is_cheap_and_exports_the_api() -> None:
    result = _fresh_import(
        "import json, sys, deit\n"
        "names = sorted(n for n in ('create_model', 'list_models', 'load_model', 'TrainConfig', 'train') "
        "if n in deit.__all__)\n"
        "mods = [m for m in ('torch', 'timm', 'torchvision', 'transformers', 'onnx', 'onnxruntime', "
        "'matplotlib', 'sklearn', 'tensorboard') if m in sys.modules]\n"
        "print(json.dumps({'names': names, 'mods': mods}))"
    )
    assert result["names"] == sorted(["create_model", "list_models", "load_model", "TrainConfig", "train"])
    assert result["mods"] == []  # nothing heavy until an attribute is used


def test_public_api_resolves_without_optional_modules() -> None:
    """Using the model API imports torch, but not the trainer's or the exporters' optional dependencies."""
    result = _fresh_import(
        "import json, sys, deit\n"
        "m = deit.create_model('deit_nano_patch4_16', num_classes=3)\n"
        "assert deit.list_models('deit_nano*') and deit.TrainConfig().model and callable(deit.train)\n"
        "assert callable(deit.load_model)\n"
        "mods = [m for m in ('transformers', 'onnx', 'onnxruntime', 'tensorboard') if m in sys.modules]\n"
        "print(json.dumps({'mods': mods, 'classes': m.num_classes}))"
    )
    assert result == {"mods": [], "classes": 3}
