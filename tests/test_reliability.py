"""Reliability promises of `deit train` / `eval` / `predict` (see docs/RELIABILITY.md).

Kill and signal handling, crashes during checkpoint writes, hostile checkpoint files, bad configuration,
non-finite losses, unwritable or full disks. Training runs use a tiny distilled DeiT on the bundled digits
data on CPU with one thread: in-process through ``deit.cli.main.main`` where a real process is not needed,
in a subprocess (``@pytest.mark.slow``) where the point is what an operating-system signal does.
Unit-level checkpoint tests live in tests/test_checkpoint.py, data ones in tests/test_data*.py, config
parsing ones in tests/test_config.py; the data end-to-end ones in tests/test_reliability_data.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import json
import logging
import math
import os
import pathlib
import pickle
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

import deit.trainer
from deit import checkpoint as ckpt
from deit.cli.main import main
from deit.config import TrainConfig, validate
from deit.losses import DistillationLoss

EPOCHS, STEPS = 3, 6  # 3 epochs of 6 steps of 32 images
TINY = [
    "train",
    "--data",
    "digits",
    "--model",
    "deit_nano_distilled_patch4_16",
    "--img-size",
    "16",
    "--epochs",
    str(EPOCHS),
    "--warmup-epochs",
    "1",
    "-b",
    "32",
    "--workers",
    "0",
    "--max-steps-per-epoch",
    str(STEPS),
    "--aa",
    "none",
    "--no-repeated-aug",
    "--device",
    "cpu",
    "--val-split",
    "0.05",
    "--log-interval",
    "1",
]
DISTIL = ["--teacher", "tiny_cnn", "--distillation-type", "hard"]
RUN = TINY + DISTIL  # mixup, cutmix, drop-path and a teacher all stay on: every RNG stream matters
SEED = int(os.environ.get("DEIT_RELIABILITY_SEED", "20240607"))  # the randomness of the tests themselves


# ------------------------------------------------------------------------------------------------ helpers


def cli(*argv: str) -> tuple[int, str]:
    """Run ``deit ARGV`` in this process; (exit code, stderr). argparse's SystemExit becomes its code."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as exc:
            rc = exc.code
    return rc, err.getvalue()


def assert_clean_error(rc: int, err: str, command: str, *fragments: str) -> None:
    """Exit code 2, one `deit CMD: error: ...` message naming ``fragments``, no traceback."""
    assert rc == 2, err
    assert f"deit {command}: error:" in err, err
    assert "Traceback" not in err and 'File "' not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


def assert_bit_identical(run: Path, reference: Path) -> None:
    got, want = weights(run), weights(reference)
    assert got.keys() == want.keys()
    differ = [k for k in want if not torch.equal(got[k], want[k])]
    assert not differ, f"{len(differ)} tensors differ from the uninterrupted run, e.g. {differ[:3]}"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


class StderrWatcher:
    """Reads a child's stderr on a thread; ``wait_for(text)`` blocks until a line contains ``text``."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.lines.append("<EOF>")
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float = 180) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if any(text in ln for ln in self.lines):
                    return True
                if self.lines[-1:] == ["<EOF>"] or time.monotonic() > deadline:
                    return False
                self._cond.wait(timeout=1)

    def text(self) -> str:
        self._thread.join(timeout=60)
        return "".join(self.lines)


def start_training(out: Path, *extra: str) -> tuple[subprocess.Popen, StderrWatcher]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "deit", *RUN, "--output", str(out), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    return proc, StderrWatcher(proc)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run every interrupted-and-resumed run must reproduce."""
    out = tmp_path_factory.mktemp("reference") / "run"
    rc, err = cli(*RUN, "--output", str(out))
    assert rc == 0, err
    return out


class LossHook:
    """Wraps DistillationLoss.forward: ``at[call] -> action(loss, parts, outputs)`` on the n-th training step."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **at: Any) -> None:
        self.calls = 0
        self.at = {int(k[1:]): v for k, v in at.items()}  # keys like s9 = 9th call (1-based)
        original = DistillationLoss.forward

        def forward(module: DistillationLoss, outputs: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            loss, parts = original(module, outputs, *args, **kwargs)
            action = self.at.get(self.calls)
            return action(loss, parts, outputs) if action else (loss, parts)

        monkeypatch.setattr(DistillationLoss, "forward", forward)


def call_of(epoch: int, step: int) -> str:
    """LossHook key of the training step (epoch, step), both 0-based."""
    return f"s{epoch * STEPS + step + 1}"


# ------------------------------------------------------------------------ 1. kill / signals mid-training
@pytest.mark.slow
def test_sigkill_at_a_random_step_then_resume_is_bit_exact(tmp_path: Path, reference: Path) -> None:
    rng = random.Random(SEED)
    # After the first checkpoint (end of epoch 0), before the last epoch (whose end holds the export).
    epoch, step, delay = rng.randrange(1, EPOCHS - 1), rng.randrange(1, STEPS), rng.uniform(0.0, 0.3)
    print(
        f"DEIT_RELIABILITY_SEED={SEED}: SIGKILL {delay:.2f}s after the log line 'epoch {epoch + 1}/{EPOCHS} step {step}/'"
    )
    out = tmp_path / "run"
    proc, watch = start_training(out)
    try:
        assert watch.wait_for(f"epoch {epoch + 1}/{EPOCHS} step {step}/"), watch.text()
        time.sleep(delay)  # anywhere: a step, the evaluation, a checkpoint write
        proc.kill()
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, watch.text()
    last = ckpt.find_last_checkpoint(out)  # never a torn file: writes are temp + fsync + rename
    assert last == out / "last.pt"
    state = ckpt.load_checkpoint(last)
    assert 1 <= state["epoch"] <= epoch + 1 and state["step_in_epoch"] == 0
    assert not (out / "model.safetensors").exists()

    rc, err = cli(*RUN, "--output", str(out), "--resume")
    assert rc == 0, err
    assert f"resumed from {last} at epoch {state['epoch']} step 0" in (out / "log.txt").read_text()
    assert_bit_identical(out, reference)
    assert (
        ckpt.read_jsonl(out / "metrics.jsonl")[-1]["val_top1"]
        == ckpt.read_jsonl(reference / "metrics.jsonl")[-1]["val_top1"]
    )


@pytest.mark.slow
def test_sigterm_saves_exits_0_says_how_to_resume_and_resume_is_exact(
    tmp_path: Path, reference: Path
) -> None:
    """What SLURM pre-emption sends: stop after the current step, save mid-epoch, exit 0, print the resume line."""
    out = tmp_path / "run"
    proc, watch = start_training(out)
    try:
        assert watch.wait_for(f"epoch 2/{EPOCHS} step 2/"), watch.text()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=180)
    finally:
        proc.kill()
    text = watch.text()
    assert proc.returncode == 0, text
    assert "SIGTERM received" in text and "Traceback" not in text
    assert f"deit train: stopped by SIGTERM at epoch 2/{EPOCHS} step " in text
    assert (
        f"checkpoint saved to {out / 'last.pt'}" in text
        and "Resume with the same command plus --resume" in text
    )
    state = ckpt.load_checkpoint(out / "last.pt")
    assert state["epoch"] == 1 and 0 < state["step_in_epoch"] < STEPS  # a mid-epoch checkpoint
    assert not (out / "model.safetensors").exists()

    rc, err = cli(*RUN, "--output", str(out), "--resume")
    assert rc == 0, err
    assert_bit_identical(out, reference)  # exact with --workers 0 (see docs/RELIABILITY.md)


def test_sigint_stops_after_the_step_and_mid_epoch_resume_is_exact(
    tmp_path: Path, reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C delivered during epoch 1 step 2 (deterministically, from inside the step)."""

    def interrupt(loss: Any, parts: Any, outputs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        return loss, parts

    out = tmp_path / "run"
    LossHook(monkeypatch, **{call_of(1, 2): interrupt})
    handler_before = signal.getsignal(signal.SIGINT)
    rc, err = cli(*RUN, "--output", str(out))
    assert rc == 130, err  # Ctrl-C: the shell's code, after the checkpoint is saved
    assert signal.getsignal(signal.SIGINT) is handler_before  # the trainer restored the handlers
    assert f"deit train: stopped by SIGINT at epoch 2/{EPOCHS} step 3;" in err and "--resume" in err
    state = ckpt.load_checkpoint(out / "last.pt")
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 3, STEPS + 3)
    monkeypatch.undo()
    rc, err = cli(*RUN, "--output", str(out), "--resume")
    assert rc == 0, err
    assert_bit_identical(out, reference)


def test_second_sigint_stops_at_once_and_keeps_the_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    seen: dict[str, str] = {}

    def twice(loss: Any, parts: Any, outputs: Any) -> Any:
        seen["sha"] = sha(out / "last.pt")
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        return loss, parts

    LossHook(monkeypatch, **{call_of(1, 2): twice})
    rc, err = cli(*TINY, "--output", str(out))
    assert rc == 130 and "deit train: interrupted" in err and "Traceback" not in err
    assert sha(out / "last.pt") == seen["sha"] and ckpt.load_checkpoint(out / "last.pt")["epoch"] == 1
    assert temp_files(out) == []


# --------------------------------------------------------------------- 2. crash during a checkpoint save
@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (RuntimeError("simulated crash inside torch.save"), "RuntimeError: simulated crash"),
        (OSError(errno.ENOSPC, "No space left on device"), "disk full (no space left on device)"),
    ],
    ids=["crash", "disk-full"],
)
def test_crash_while_saving_keeps_previous_checkpoint_and_resume_continues(
    tmp_path: Path, reference: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception, message: str
) -> None:
    out = tmp_path / "run"
    real_save = torch.save
    before: dict[str, str] = {}

    def save_that_fails_at_epoch_2(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(obj, dict) and obj.get("format") == ckpt.TRAIN_FORMAT and obj.get("epoch") == 2:
            before["sha"] = sha(out / "last.pt")
            f.write(b"PK\x03\x04" + b"half a checkpoint" * 1000)  # partial bytes, then the crash
            raise failure
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", save_that_fails_at_epoch_2)
    rc, err = cli(*RUN, "--output", str(out))
    monkeypatch.undo()
    assert_clean_error(
        rc,
        err,
        "train",
        "could not save checkpoint",
        str(out),
        message,
        "the previous file (if any) was left untouched",
    )
    assert sha(out / "last.pt") == before["sha"]  # byte for byte the epoch-1 checkpoint
    assert ckpt.load_checkpoint(out / "last.pt")["epoch"] == 1
    assert temp_files(out) == []
    # a process SIGKILLed in the middle of a write leaves a torn temp file: it is never taken for a checkpoint
    (out / ".last.pt.tmp-999999").write_bytes((out / "last.pt").read_bytes()[:1000])
    assert ckpt.find_last_checkpoint(out) == out / "last.pt"

    rc, err = cli(*RUN, "--output", str(out), "--resume")
    assert rc == 0, err
    assert f"resumed from {out / 'last.pt'} at epoch 1 step 0" in (out / "log.txt").read_text()
    assert_bit_identical(out, reference)


def test_resume_never_picks_a_torn_checkpoint_nor_silently_restarts(tmp_path: Path) -> None:
    out = tmp_path / "run"
    rc, err = cli(*TINY, "--output", str(out), "--epochs", "2", "--max-steps-per-epoch", "1")
    assert rc == 0, err
    last, best = out / "last.pt", out / "best.pt"
    assert ckpt.load_checkpoint(last)["epoch"] == 2 and ckpt.load_checkpoint(best)["epoch"] >= 1
    last.write_bytes(
        last.read_bytes()[: last.stat().st_size // 2]
    )  # a torn write (not via deit's atomic save)
    assert ckpt.find_last_checkpoint(out) == best  # falls back to the intact best.pt
    best.write_bytes(b"garbage")
    torn = sha(last)
    rc, err = cli(*TINY, "--output", str(out), "--epochs", "2", "--max-steps-per-epoch", "1", "--resume")
    # nothing loadable although the run has checkpoints: refuse instead of restarting over them
    assert_clean_error(rc, err, "train", "--resume", "no loadable checkpoint", str(last), "--overwrite")
    assert sha(last) == torn and best.read_bytes() == b"garbage"


# --------------------------------------------------------------------------------------- 3. hostile files
class TouchOnUnpickle:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (Path(self.target),))


class ShellOnUnpickle:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch '{self.target}'",))


def hostile_file(folder: Path, kind: str, sentinel: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "torch-zip":  # what torch.save writes, with a payload next to real tensors
        path = folder / "hostile.pt"
        torch.save({"model": {"head.weight": torch.zeros(10, 64)}, "extra": TouchOnUnpickle(sentinel)}, path)
    else:  # a legacy raw pickle, as an old ".pth" would be
        path = folder / "hostile.pth"
        path.write_bytes(pickle.dumps({"model": ShellOnUnpickle(sentinel)}, protocol=2))
    return path


def test_the_hostile_payloads_really_run_code(tmp_path: Path) -> None:
    """Guard for the tests below: unpickled naively, both payloads do create the sentinel."""
    for kind in ("torch-zip", "raw-pickle"):
        sentinel = tmp_path / f"proof-{kind}"
        path = hostile_file(tmp_path / kind, kind, sentinel)
        if kind == "torch-zip":
            torch.load(path, weights_only=False)
        else:
            pickle.loads(path.read_bytes())
        assert sentinel.exists()


ENTRY_POINTS = {
    "train --resume": lambda f, out: [*TINY, "--output", out, "--resume", f],
    "train --finetune": lambda f, out: [*TINY, "--output", out, "--finetune", f],
    "train --teacher-weights": lambda f, out: [*TINY, *DISTIL, "--output", out, "--teacher-weights", f],
    "train --teacher CKPT": lambda f, out: [
        *TINY,
        "--output",
        out,
        "--teacher",
        f,
        "--distillation-type",
        "hard",
    ],
    "eval --checkpoint": lambda f, out: ["eval", "--checkpoint", f, "--data", "digits"],
    "eval --checkpoint --model": lambda f, out: [
        "eval",
        "--checkpoint",
        f,
        "--model",
        "deit_nano_patch4_16",
        "--data",
        "digits",
    ],
    "predict --checkpoint": lambda f, out: ["predict", "--checkpoint", f, out],
}


@pytest.mark.parametrize("kind", ["torch-zip", "raw-pickle"])
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_hostile_pickle_is_refused_and_never_executed(tmp_path: Path, entry: str, kind: str) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = hostile_file(tmp_path / "in", kind, sentinel)
    out = tmp_path / "out"
    out.mkdir()
    rc, err = cli(*ENTRY_POINTS[entry](str(path), str(out)))
    assert not sentinel.exists(), "the pickle's code ran"
    assert_clean_error(rc, err, entry.split()[0], str(path), "is not a safe checkpoint")
    assert not (out / "last.pt").exists()


@pytest.mark.parametrize("entry", ["train --finetune", "eval --checkpoint --model"])
def test_unsafe_checkpoint_message_gives_no_unsafe_advice(tmp_path: Path, entry: str) -> None:
    path = hostile_file(tmp_path / "in", "raw-pickle", tmp_path / "SENTINEL")
    rc, err = cli(*ENTRY_POINTS[entry](str(path), str(tmp_path / "out")))
    assert rc == 2 and "\x1b[" not in err and "weights_only` set to `False`" not in err, err


def test_hostile_last_checkpoint_in_the_run_folder_is_not_resumed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("deit"), "propagate", True)  # let caplog see deit.checkpoint
    out = tmp_path / "run"
    sentinel = tmp_path / "SENTINEL"
    hostile = hostile_file(tmp_path / "in", "torch-zip", sentinel)
    out.mkdir()
    (out / "last.pt").write_bytes(hostile.read_bytes())
    with caplog.at_level(logging.WARNING, logger="deit.checkpoint"):
        rc, err = cli(*TINY, "--output", str(out), "--resume")
    assert not sentinel.exists()
    assert_clean_error(rc, err, "train", "no loadable checkpoint", str(out / "last.pt"))
    assert "not a safe checkpoint" in caplog.text  # the warning says why it was not loaded
    assert (out / "last.pt").read_bytes() == hostile.read_bytes()


@pytest.mark.slow
def test_hostile_checkpoint_exit_code_2_from_a_real_process(tmp_path: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = hostile_file(tmp_path, "raw-pickle", sentinel)
    proc = subprocess.run(
        [sys.executable, "-m", "deit", "eval", "--checkpoint", str(path), "--data", "digits"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert not sentinel.exists()
    assert_clean_error(proc.returncode, proc.stderr, "eval", str(path), "is not a safe checkpoint")


# ----------------------------------------------------------------------------------- 5. bad configuration
FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
FLAGS = {n: f.metadata["flags"] or ["--" + n.replace("_", "-")] for n, f in FIELDS.items()}
LONG_FLAGS = sorted({fl for fls in FLAGS.values() for fl in fls if fl.startswith("--")})
BOOL_FLAGS = sorted(FLAGS[n][-1] for n, f in FIELDS.items() if f.type in ("bool", bool))
ALL_FLAG_TEXT = LONG_FLAGS + ["-c/--config", "--no-"]


@pytest.fixture
def fake_train(monkeypatch: pytest.MonkeyPatch) -> list[TrainConfig]:
    """`deit train` whose trainer only records the config it was given."""
    received: list[TrainConfig] = []

    def record(cfg: TrainConfig) -> dict:
        received.append(cfg)
        return {"interrupted": False}

    monkeypatch.setattr(deit.trainer, "train", record)
    return received


def _argparse_error(err: str) -> bool:  # argparse's usage errors come from `deit` or `deit train`
    return re.search(r"^deit( train)?: error: ", err, re.M) is not None and any(
        w in err for w in ("argument ", "unrecognized arguments", "expected one argument", "the following")
    )


WORDS = [
    "1",
    "0",
    "-1",
    "3",
    "0.5",
    "1e-4",
    "1e30",
    "-0.0",
    "nan",
    "inf",
    "-inf",
    "none",
    "null",
    "",
    " ",
    "hard",
    "soft",
    "cpu",
    "cuda:x",
    "gpu",
    "bf16",
    "fp16",
    "adamw",
    "cosine",
    "x",
    "digits",
    "--",
    "1,2",
]
NEGATED = [f"--no-{f[2:]}" for f in BOOL_FLAGS]
PAIR = st.tuples(
    st.sampled_from(LONG_FLAGS + NEGATED),
    st.sampled_from(WORDS) | st.sampled_from(WORDS) | st.sampled_from(WORDS) | st.text(max_size=6),
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pairs=st.lists(PAIR, max_size=5),
    with_data=st.booleans(),
    drop_value=st.lists(st.sampled_from([False] * 4 + [True]), max_size=5),
)
def test_cli_rejections_are_exit_2_naming_the_flag(
    fake_train: list, pairs: list, with_data: bool, drop_value: list
) -> None:
    assume(not any(v.startswith(("-h", "--h")) for _, v in pairs))  # help: exit 0 by design
    argv: list[str] = ["train"] + (["--data", "digits"] if with_data else [])
    for i, (flag, value) in enumerate(pairs):
        takes_no_value = flag in BOOL_FLAGS or flag in NEGATED
        argv += [flag] if takes_no_value or (i < len(drop_value) and drop_value[i]) else [flag, value]
    fake_train.clear()
    rc, err = cli(*argv)  # anything but SystemExit/return escaping (a traceback) fails the test
    assert "Traceback" not in err, err
    event("accepted" if rc == 0 else "usage error" if _argparse_error(err) else "config error")
    if rc == 0:
        (cfg,) = fake_train
        assert validate(cfg) == cfg and all(
            not isinstance(v, float) or math.isfinite(v) for v in dataclasses.asdict(cfg).values()
        )
        return
    assert rc == 2 and not fake_train, (argv, err)
    assert _argparse_error(err) or any(fl in err for fl in ALL_FLAG_TEXT), (argv, err)


def _finite(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


VALID = {  # edge values included: bounds, None through "none", flags whose value is optional
    "epochs": st.integers(1, 400),
    "batch_size": st.integers(1, 2048),
    "lr": _finite(1e-12, 10),
    "warmup_epochs": st.integers(0, 400),
    "smoothing": _finite(0, 0.99),
    "drop_path": _finite(0, 0.99),
    "mixup": _finite(0, 2),
    "cutmix": _finite(0, 2),
    "reprob": _finite(0, 1),
    "workers": st.integers(0, 16),
    "val_split": _finite(0, 0.99),
    "img_size": st.none() | st.integers(1, 1024),
    "clip_grad": st.none() | _finite(1e-6, 1e3),
    "seed": st.integers(0, 2**31 - 1),
    "skip_nonfinite": st.integers(0, 10**6),
    "max_steps_per_epoch": st.none() | st.integers(1, 10**6),
    "model_ema_decay": _finite(0.5, 0.999999),
    "accum_steps": st.integers(1, 64),
    "cutmix_minmax": st.none() | st.tuples(_finite(0, 0.49), _finite(0.5, 1)),
    "sched": st.sampled_from(["cosine", "step", "constant"]),
    "device": st.sampled_from(["auto", "cpu", "cuda:3"]),
    "amp": st.sampled_from(["auto", "none", "bf16", "FLAG-ONLY"]),
    "resume": st.sampled_from([None, "FLAG-ONLY", "x.pt"]),
    "repeated_aug": st.booleans(),
    "model_ema": st.booleans(),
    "skip_corrupt": st.booleans(),
}
DISTILL_CHOICES = [
    [],
    ["--distillation-type", "hard", "--teacher", "regnety_160"],
    ["--distill", "soft", "--teacher-model", "tiny_cnn", "--teacher-path", "t.pth"],
]


def _valid_argv(values: dict) -> tuple[list[str], dict]:
    argv, expected = [], {}
    for name, value in values.items():
        flag = FLAGS[name][-1]
        if value == "FLAG-ONLY":  # `--amp` alone means bf16, `--resume` alone the run's last checkpoint
            argv.append(flag)
            expected[name] = {"amp": "bf16", "resume": "auto"}[name]
            continue
        expected[name] = value
        if isinstance(value, bool):
            argv.append(flag if value else f"--no-{flag[2:]}")
        elif isinstance(value, tuple):
            argv += [flag, repr(value[0]), repr(value[1])]
        elif name == "cutmix_minmax":
            continue  # None: leave the default
        else:
            argv += [
                flag,
                "none" if value is None else repr(value) if isinstance(value, float) else str(value),
            ]
    return argv, expected


@settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.fixed_dictionaries({}, optional=VALID), distill=st.sampled_from(DISTILL_CHOICES))
def test_valid_flag_combinations_are_never_rejected(fake_train: list, values: dict, distill: list) -> None:
    values["warmup_epochs"] = min(values.get("warmup_epochs", 0), values.get("epochs", 300))
    argv, expected = _valid_argv(values)
    fake_train.clear()
    rc, err = cli("train", *argv, *distill, "--data", "my data/ä")  # resume flag with optional value mid-argv
    assert rc == 0, (argv, err)
    (cfg,) = fake_train
    for name, value in expected.items():
        assert getattr(cfg, name) == value, (name, argv)


LATE = {  # rejected once the data/model are known: still exit 2, no traceback, and a retry needs no --overwrite
    "unknown model": (["--model", "deit_nope_patch16"], "deit_nope_patch16"),
    "not distillable": (["--model", "deit_nano_patch4_16", *DISTIL], "--model deit_nano_patch4_16"),
    "class count": (["--num-classes", "7"], "--num-classes 7"),
    "batch > data": (["-b", "5000"], "--batch-size 5000"),
    "missing data": (["--data", "/nonexistent/deit-data"], "/nonexistent/deit-data"),
    "missing resume": (["--resume", "/nonexistent/last.pt"], "--resume /nonexistent/last.pt"),
    "missing finetune": (["--finetune", "/nonexistent/w.pth"], "/nonexistent/w.pth"),
    "patch size": (["--img-size", "15"], "15"),
}


@pytest.mark.parametrize("case", sorted(LATE))
def test_late_rejections_are_clean_and_leave_no_run_behind(tmp_path: Path, case: str) -> None:
    extra, fragment = LATE[case]
    out = tmp_path / "run"
    rc, err = cli(*TINY, "--epochs", "1", "--warmup-epochs", "0", "--output", str(out), *extra)
    assert_clean_error(rc, err, "train", fragment)
    assert not ckpt.RunFolder(out).has_previous_run()  # fixing the flag and re-running needs no --overwrite


# ------------------------------------------------------------------------------------ 6. numerical faults
def _poison(value: float):
    def action(loss: torch.Tensor, parts: dict, outputs: Any) -> Any:
        return loss * value, {**parts, "total": (loss * value).detach()}

    return action


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nonfinite_loss_stops_naming_step_parts_and_intact_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: float
) -> None:
    out = tmp_path / "run"
    saved: dict[str, str] = {}
    poison = _poison(value)

    def snapshot_then_poison(loss: torch.Tensor, parts: dict, outputs: Any) -> Any:
        saved["last"], saved["best"] = sha(out / "last.pt"), sha(out / "best.pt")
        return poison(loss, parts, outputs)

    LossHook(monkeypatch, **{call_of(1, 2): snapshot_then_poison})
    rc, err = cli(*RUN, "--output", str(out))
    assert_clean_error(
        rc,
        err,
        "train",
        f"non-finite loss at epoch 2/{EPOCHS} step 3 (global step 8)",
        f"total={value}",
        "base=",
        "distill=",
        f"last good checkpoint: {out / 'last.pt'}",
    )
    assert sha(out / "last.pt") == saved["last"] and sha(out / "best.pt") == saved["best"]
    state = ckpt.load_checkpoint(out / "last.pt")
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_skip_nonfinite_tolerates_n_bad_steps_and_logs_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    bad = {call_of(0, 4): _poison(float("nan")), call_of(2, 1): _poison(float("inf"))}
    LossHook(monkeypatch, **bad)
    rc, err = cli(*RUN, "--output", str(out), "--skip-nonfinite", "2")
    assert rc == 0, err
    log = (out / "log.txt").read_text()
    assert f"skipping non-finite loss at epoch 1/{EPOCHS} step 5 " in log and "1 of 2 tolerated" in log
    assert f"skipping non-finite loss at epoch 3/{EPOCHS} step 2 " in log and "2 of 2 tolerated" in log
    assert [r["skipped_nonfinite"] for r in ckpt.read_jsonl(out / "metrics.jsonl")] == [1, 0, 1]
    assert ckpt.load_checkpoint(out / "last.pt")["global_step"] == EPOCHS * STEPS - 2  # no update from them
    assert all(torch.isfinite(v).all() for v in weights(out).values())

    monkeypatch.undo()  # one more than tolerated stops the run
    LossHook(monkeypatch, **bad, **{call_of(2, 3): _poison(float("nan"))})
    rc, err = cli(*RUN, "--output", str(tmp_path / "run3"), "--skip-nonfinite", "2")
    assert_clean_error(
        rc,
        err,
        "train",
        f"non-finite loss at epoch 3/{EPOCHS} step 4",
        "total=nan",
        f"last good checkpoint: {tmp_path / 'run3' / 'last.pt'}",
    )


def test_nonfinite_weights_from_a_finite_loss_never_replace_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finite loss whose gradient is NaN (e.g. an overflow in backward) on the last step of epoch 1."""
    out = tmp_path / "run"
    saved: dict[str, str] = {}

    def nan_gradient(loss: torch.Tensor, parts: dict, outputs: Any) -> Any:
        saved["last"] = sha(out / "last.pt")
        zero = outputs[0] - outputs[0].detach()  # value 0, but d sqrt(|0|) = inf * 0 = NaN
        return loss + torch.sqrt(zero.abs().sum()), parts

    LossHook(monkeypatch, **{call_of(1, STEPS - 1): nan_gradient})
    rc, err = cli(*TINY, "--output", str(out))
    assert_clean_error(
        rc,
        err,
        "train",
        "weights became non-finite",
        "epoch 2 step 0",
        f"last good checkpoint: {out / 'last.pt'}",
    )
    assert sha(out / "last.pt") == saved["last"]
    state = ckpt.load_checkpoint(out / "last.pt")
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())


# ---------------------------------------------------------------------------------------- 7. disk, paths
@pytest.mark.parametrize("where", ["under-a-file", "proc", "is-a-file"])
def test_unwritable_output_folder_is_a_clean_error(tmp_path: Path, where: str) -> None:
    a_file = tmp_path / "plain-file"
    a_file.write_text("not a folder")
    out, fragment = {
        "under-a-file": (a_file / "run", "is not writable"),
        "proc": (Path("/proc/deit-reliability-run"), "is not writable"),
        "is-a-file": (a_file, "exists and is not a folder"),
    }[where]
    rc, err = cli(*TINY, "--output", str(out))
    assert_clean_error(rc, err, "train", f"output folder {out}", fragment)
    assert a_file.read_text() == "not a folder"


def test_disk_full_while_writing_metrics_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metrics are written before the checkpoint each epoch: a full disk often fails there first."""
    out = tmp_path / "run"
    real = ckpt.append_jsonl

    def append_fails_at_epoch_2(path: Any, record: dict) -> None:
        if record.get("epoch") == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, record)

    monkeypatch.setattr(ckpt, "append_jsonl", append_fails_at_epoch_2)
    rc, err = cli(*TINY, "--output", str(out), "--max-steps-per-epoch", "1")
    assert_clean_error(rc, err, "train", "disk full (no space left on device)")
    assert ckpt.load_checkpoint(out / "last.pt")["epoch"] == 1


def test_existing_run_folder_needs_resume_or_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        *TINY,
        "--output",
        str(out),
        "--epochs",
        "1",
        "--warmup-epochs",
        "0",
        "--max-steps-per-epoch",
        "1",
    ]
    rc, err = cli(*args)
    assert rc == 0, err
    before = {p.name: sha(p) for p in out.iterdir()}
    rc, err = cli(*args)
    assert_clean_error(
        rc, err, "train", f"output folder {out} already contains a run", "--resume", "--overwrite"
    )
    assert {p.name: sha(p) for p in out.iterdir()} == before  # nothing touched, not even log.txt
    rc, err = cli(*args, "--resume", "--overwrite")
    assert_clean_error(rc, err, "train", "--resume and --overwrite")
    assert {p.name: sha(p) for p in out.iterdir()} == before
    rc, err = cli(*args, "--overwrite", "--seed", "1")
    assert rc == 0, err
    assert sha(out / "last.pt") != before["last.pt"]
    assert [r["epoch"] for r in ckpt.read_jsonl(out / "metrics.jsonl")] == [1]  # old records were removed
    assert json.loads((out / "model.json").read_text())["config"]["seed"] == 1
