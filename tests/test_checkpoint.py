"""deit.checkpoint: atomic saves, safe loads, RNG state, resume choice, export, run folder, jsonl."""

from __future__ import annotations

import errno
import json
import logging
import os
import pathlib
import pickle
import random
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from deit import checkpoint as ckpt
from deit.errors import CheckpointError, ConfigError, UnsafeCheckpointError


def _state(value: float = 1.0) -> dict:
    return {
        "format": "deit-train-v1",
        "model": OrderedDict(w=torch.full((2, 3), value)),
        "epoch": 3,
        "nested": {"list": [1, 2.5, None, True, "x"], "tuple": (torch.arange(3), {"k": b"raw"})},
    }


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".tmp-" in p.name]


class Evil:
    """Unpickling this touches a file: stands for arbitrary code execution."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (Path(self.target),))


# ------------------------------------------------------------------------------------ save / load
def test_roundtrip(tmp_path: Path) -> None:
    obj = _state()
    path = ckpt.save_checkpoint(obj, tmp_path / "sub" / "last.pt")
    assert path == tmp_path / "sub" / "last.pt"
    loaded = ckpt.load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], obj["model"]["w"])
    assert loaded["nested"]["list"] == [1, 2.5, None, True, "x"]
    assert torch.equal(loaded["nested"]["tuple"][0], torch.arange(3)) and loaded["nested"]["tuple"][1] == {
        "k": b"raw"
    }
    assert torch.load(path, weights_only=True)["epoch"] == 3
    assert _temp_files(path.parent) == []


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"optimizer": {"state": [{"step": np.float64(1.0)}]}}, "optimizer.state[0].step"),
        ({"scheduler": {"fn": len}}, "scheduler.fn"),
        ({"model": nn.Linear(1, 1)}, "model"),
    ],
)
def test_save_refuses_non_plain_data(tmp_path: Path, bad: dict, where: str) -> None:
    with pytest.raises(CheckpointError, match=re.escape(f"{where} is a")):
        ckpt.save_checkpoint(bad, tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


def _partial_then(exc: BaseException):
    def fake_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"PK\x03\x04partial checkpoint bytes")
        raise exc

    return fake_save


@pytest.mark.parametrize(
    ("exc", "match"),
    [
        (RuntimeError("boom"), "RuntimeError: boom"),
        (OSError(errno.ENOSPC, "No space left on device"), "disk full"),
    ],
)
def test_failed_save_keeps_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException, match: str
) -> None:
    path = ckpt.save_checkpoint(_state(1.0), tmp_path / "last.pt")
    monkeypatch.setattr(torch, "save", _partial_then(exc))
    with pytest.raises(CheckpointError, match=match) as info:
        ckpt.save_checkpoint(_state(2.0), path)
    assert str(path) in str(info.value)
    monkeypatch.undo()
    assert torch.equal(ckpt.load_checkpoint(path)["model"]["w"], torch.full((2, 3), 1.0))
    assert _temp_files(tmp_path) == []
    assert ckpt.find_last_checkpoint(tmp_path) == path


def test_keyboard_interrupt_cleans_up_and_propagates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ckpt.save_checkpoint(_state(1.0), tmp_path / "last.pt")
    monkeypatch.setattr(torch, "save", _partial_then(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(_state(2.0), path)
    monkeypatch.undo()
    assert _temp_files(tmp_path) == []
    assert torch.equal(ckpt.load_checkpoint(path)["model"]["w"], torch.full((2, 3), 1.0))


def test_unwritable_folder(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(CheckpointError, match=f"folder {not_a_folder}"):
        ckpt.save_checkpoint(_state(), not_a_folder / "last.pt")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(CheckpointError, match=f"folder {folder}"):
            ckpt.save_checkpoint(_state(), folder / "last.pt")
    finally:
        folder.chmod(0o700)


def test_missing_and_folder_paths(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'nope.pt'} not found"):
        ckpt.load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a folder"):
        ckpt.load_checkpoint(tmp_path)


# ------------------------------------------------------------------------------- hostile / corrupt
@pytest.mark.parametrize("how", ["pickle-protocol-2", "pickle-default-protocol", "torch.save"])
def test_hostile_pickle_is_refused_without_running_it(tmp_path: Path, how: str) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = tmp_path / "evil.pth"
    if how == "torch.save":
        torch.save({"model": {"w": torch.ones(1)}, "payload": Evil(sentinel)}, path)
    else:
        protocol = 2 if how == "pickle-protocol-2" else pickle.DEFAULT_PROTOCOL
        path.write_bytes(pickle.dumps({"payload": Evil(sentinel)}, protocol=protocol))
    proof = tmp_path / "PROOF"  # the payload really runs code when unpickled unsafely
    pickle.loads(pickle.dumps(Evil(proof)))
    assert proof.exists()
    with pytest.raises(UnsafeCheckpointError, match="not a safe checkpoint") as info:
        ckpt.load_checkpoint(path)
    assert str(path) in str(info.value) and "weights_only=True" in str(info.value)
    with pytest.raises(UnsafeCheckpointError):
        ckpt.load_model_from_checkpoint(path)
    assert not sentinel.exists()


def _valid_bytes(tmp_path: Path) -> bytes:
    return ckpt.save_checkpoint(_state(), tmp_path / "valid.pt").read_bytes()


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty", "text", "protocol-4-plain"])
def test_corrupt_files_are_checkpoint_errors_not_unsafe(tmp_path: Path, kind: str) -> None:
    data = {
        "truncated": _valid_bytes(tmp_path)[:300],
        "garbage": bytes(random.Random(0).randrange(256) for _ in range(512)),
        "empty": b"",
        "text": b"hello, this is not a checkpoint\n",
        "protocol-4-plain": pickle.dumps({"a": [1, 2]}, protocol=4),
    }[kind]
    path = tmp_path / "bad.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=str(path)) as info:
        ckpt.load_checkpoint(path)
    assert not isinstance(info.value, UnsafeCheckpointError)


# ------------------------------------------------------------------------------------- resume choice
def test_find_last_checkpoint_never_picks_truncated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert ckpt.find_last_checkpoint(tmp_path / "missing") is None
    assert ckpt.find_last_checkpoint(tmp_path) is None
    ckpt.save_checkpoint(_state(), tmp_path / ".last.pt.tmp-123")  # temp files never count
    assert ckpt.find_last_checkpoint(tmp_path) is None
    best = ckpt.save_checkpoint(_state(1.0), tmp_path / "best.pt")
    last = ckpt.save_checkpoint(_state(2.0), tmp_path / "last.pt")
    assert ckpt.find_last_checkpoint(tmp_path) == last
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a torn, non-atomic write
    with caplog.at_level(logging.WARNING, logger="deit.checkpoint"):
        assert ckpt.find_last_checkpoint(tmp_path) == best
    assert "last.pt" in caplog.text
    best.write_bytes(b"garbage")
    assert ckpt.find_last_checkpoint(tmp_path) is None


# ----------------------------------------------------------------------------------------------- RNG
def _draw() -> tuple:
    return random.random(), random.gauss(0, 1), np.random.rand(3).tolist(), np.random.randn(), torch.rand(4)


def test_rng_roundtrip_exact(tmp_path: Path) -> None:
    random.gauss(0, 1)  # leave a cached gaussian in both generators
    np.random.randn()
    state = ckpt.capture_rng_state()
    ckpt.save_checkpoint({"rng": state}, tmp_path / "rng.pt")
    first = _draw()
    ckpt.restore_rng_state(ckpt.load_checkpoint(tmp_path / "rng.pt")["rng"])
    second = _draw()
    assert first[:4] == second[:4] and torch.equal(first[4], second[4])


# -------------------------------------------------------------------------------------------- jsonl
def test_jsonl_partial_trailing_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    assert ckpt.read_jsonl(path) == []
    ckpt.append_jsonl(path, {"epoch": 0, "loss": 1.5})
    ckpt.append_jsonl(path, {"epoch": 1, "loss": float("nan")})
    with open(path, "ab") as f:
        f.write(b'{"epoch": 2, "lo')  # crash mid-write
    assert [r["epoch"] for r in ckpt.read_jsonl(path)] == [0, 1]
    ckpt.append_jsonl(path, {"epoch": 2, "loss": 0.5})  # resume: the new record starts on its own line
    assert [r["epoch"] for r in ckpt.read_jsonl(path)] == [0, 1, 2]


# --------------------------------------------------------------------------------------- run folder
def test_run_folder_refuses_overwrites_and_resumes(tmp_path: Path) -> None:
    run = ckpt.RunFolder(tmp_path / "run")
    run.prepare()
    assert run.root.is_dir() and run.metrics_path == run.root / "metrics.jsonl" and run.last.name == "last.pt"
    run.config_path.write_text("epochs: 1\n")
    ckpt.append_jsonl(run.metrics_path, {"epoch": 0})
    (run.root / ".last.pt.tmp-99").write_bytes(b"x")
    notes = run.root / "notes.txt"
    notes.write_text("keep me")
    with pytest.raises(ConfigError, match="--resume.*--overwrite") as info:
        ckpt.RunFolder(run.root).prepare()
    assert str(run.root) in str(info.value)
    run.prepare(resume=True)
    assert run.config_path.exists()
    with pytest.raises(ConfigError):
        run.prepare(overwrite=True, resume=True)
    run.prepare(overwrite=True)
    assert sorted(p.name for p in run.root.iterdir()) == [".lock", "notes.txt"]  # the lock of this process
    with pytest.raises(ConfigError, match="not a folder"):
        ckpt.RunFolder(notes).prepare()


_HOLD_FOLDER = """
import sys, time
from deit.checkpoint import RunFolder
run = RunFolder(sys.argv[1])
run.prepare()
run.config_path.write_text("epochs: 3\\n")  # a run in its first epoch: config.yaml, no checkpoint yet
print("ready", flush=True)
time.sleep(120)
"""


def test_a_folder_in_use_by_another_process_is_refused_and_left_alone(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_FOLDER, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        for flags in ({}, {"overwrite": True}, {"resume": True}):  # the failed-start rule would clear it
            with pytest.raises(ConfigError, match="in use by another training process") as info:
                ckpt.RunFolder(folder).prepare(**flags)
            assert str(folder) in str(info.value)
        assert (folder / "config.yaml").read_text() == "epochs: 3\n"
    finally:
        holder.kill()
        holder.wait()
    ckpt.RunFolder(folder).prepare()  # the lock went with the process: a failed start, replaced
    assert not (folder / "config.yaml").exists()


# ---------------------------------------------------------------------------------- export / model
@pytest.fixture
def tiny() -> tuple[nn.Module, dict]:
    """(model, model_spec dict) of the real deit.teacher.build_classifier."""
    from deit.teacher import build_classifier

    model, spec = build_classifier("tiny_cnn", num_classes=3, img_size=16)
    return model, spec.to_dict()


def _perturbed(model: nn.Module, scale: float) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {
        k: (v + scale * torch.rand_like(v.float())).to(v.dtype) if v.is_floating_point() else v.clone()
        for k, v in model.state_dict().items()
    }


def test_export_and_load_model(tmp_path: Path, tiny: tuple[nn.Module, dict]) -> None:
    model, spec = tiny
    meta = {
        "model_spec": spec,
        "class_names": ["a", "b", "c"],
        "data_mean": [0.5] * 3,
        "data_std": [0.25] * 3,
        "img_size": 16,
        "metrics": {"acc1": 50.0},
        "path_like": tmp_path,
    }
    weights, meta_path = ckpt.export_model(
        {f"module.{k}": v for k, v in model.state_dict().items()}, meta, tmp_path / "run"
    )
    assert json.loads(meta_path.read_text())["format"] == "deit-export-v1"
    assert _temp_files(tmp_path / "run") == []
    x = torch.randn(2, 3, 16, 16)
    model.eval()
    for source in (weights, tmp_path / "run"):
        loaded, info = ckpt.load_model_from_checkpoint(source)
        assert not loaded.training
        assert (
            info["class_names"] == ["a", "b", "c"] and info["img_size"] == 16 and info["path"] == str(weights)
        )
        torch.testing.assert_close(loaded(x), model(x))


def test_export_handles_shared_and_non_contiguous(tmp_path: Path) -> None:
    base = torch.randn(4, 5)
    weights, _ = ckpt.export_model({"a": base, "tied": base, "t": base.t(), "slice": base[1:3]}, {}, tmp_path)
    loaded = ckpt.load_checkpoint(weights)["model"]
    for key, expected in {"a": base, "tied": base, "t": base.t(), "slice": base[1:3]}.items():
        assert torch.equal(loaded[key], expected)
    with pytest.raises(CheckpointError, match="'x'"):
        ckpt.export_model({"x": 3}, {}, tmp_path)


def test_training_checkpoint_ema_prefixes_and_folder_preference(
    tmp_path: Path, tiny: tuple[nn.Module, dict]
) -> None:
    model, spec = tiny
    plain, ema = _perturbed(model, 0.0), _perturbed(model, 1.0)
    train = {
        "format": "deit-train-v1",
        "model_spec": spec,
        "model": {f"_orig_mod.{k}": v for k, v in plain.items()},
        "ema": {f"module.{k}": v for k, v in ema.items()},
        "class_names": ["a", "b", "c"],
        "epoch": 1,
    }
    ckpt.save_checkpoint(train, tmp_path / "last.pt")
    ckpt.export_model(plain, {"model_spec": spec}, tmp_path)
    x = torch.randn(1, 3, 16, 16)
    loaded, info = ckpt.load_model_from_checkpoint(tmp_path)
    assert info["path"] == str(tmp_path / "last.pt")
    ema_model, _ = ckpt.load_model_from_checkpoint(tmp_path / "last.pt", use_ema=True)
    model.load_state_dict(ema)
    torch.testing.assert_close(ema_model(x), model.eval()(x))
    assert not torch.allclose(loaded(x), ema_model(x))
    ckpt.save_checkpoint({**train, "epoch": 2}, tmp_path / "best.pt")
    assert ckpt.load_model_from_checkpoint(tmp_path)[1]["path"] == str(tmp_path / "best.pt")


def test_model_errors(tmp_path: Path, tiny: tuple[nn.Module, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    model, spec = tiny
    official = ckpt.save_checkpoint({"model": model.state_dict()}, tmp_path / "official.pth")
    with pytest.raises(CheckpointError, match="--model NAME"):
        ckpt.load_model_from_checkpoint(official)
    broken = {k: v for k, v in model.state_dict().items() if k != next(iter(model.state_dict()))}
    ckpt.save_checkpoint(
        {"model_spec": spec, "model": {**broken, "extra.weight": torch.ones(1)}}, tmp_path / "b.pt"
    )
    with pytest.raises(CheckpointError, match=r"missing keys \(1\).*unexpected keys \(1\): extra.weight"):
        ckpt.load_model_from_checkpoint(tmp_path / "b.pt")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(CheckpointError, match="has no best.pt"):
        ckpt.load_model_from_checkpoint(tmp_path / "empty_run")


# ------------------------------------------------------------------------- resume with changed flags
def _tiny_run(tmp_path: Path, **overrides: object) -> Any:
    from test_pretrained import tiny  # one epoch of one step of a nano DeiT on 16-px digits

    from deit.trainer import Trainer

    return Trainer(tiny(tmp_path, eval_interval=100, **overrides))


def test_resume_applies_new_weight_decay_and_lr_and_says_so(tmp_path: Path, capsys) -> None:
    _tiny_run(tmp_path, weight_decay=0.05, lr=1e-3).fit()
    capsys.readouterr()
    resumed = _tiny_run(tmp_path, weight_decay=0.2, lr=2e-3, epochs=2, resume="auto")
    log = capsys.readouterr().err  # the deit logger writes to stderr
    decays = [g["weight_decay"] for g in resumed.optimizer.param_groups]
    assert decays == [0.2, 0.0]  # biases, norms, tokens stay undecayed
    assert resumed.optimizer.state  # the moments did come back
    assert "--weight-decay 0.05 -> 0.2" in log and "--lr 0.001 -> 0.002" in log and "--epochs 1 -> 2" in log
    assert resumed.schedule.base_lr == resumed.cfg.actual_lr(1)
    resumed.fit()
    assert all(g["lr"] <= 2e-3 for g in resumed.optimizer.param_groups)


def test_resume_with_another_optimizer_is_refused(tmp_path: Path) -> None:
    _tiny_run(tmp_path, opt="adamw").fit()
    with pytest.raises(
        CheckpointError, match="trained with --opt adamw, this run asks for --opt sgd.*--finetune"
    ):
        _tiny_run(tmp_path, opt="sgd", epochs=2, resume="auto")
