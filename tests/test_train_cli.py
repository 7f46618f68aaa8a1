"""`deit train`'s exit codes and its run folder on a rerun."""

from __future__ import annotations

from pathlib import Path

import pytest

import deit.trainer
from deit import checkpoint as ckpt
from deit.cli.main import main
from deit.errors import ConfigError


@pytest.mark.parametrize(("signal_name", "code"), [("SIGINT", 130), ("SIGTERM", 0), ("", 0)])
def test_ctrl_c_exits_130_after_saving_and_pre_emption_0(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, signal_name: str, code: int
) -> None:
    result = {"interrupted": bool(signal_name), "signal": signal_name, "run": str(tmp_path)}
    monkeypatch.setattr(deit.trainer, "train", lambda cfg: result)
    assert main(["train", "--data", "digits", "--output", str(tmp_path)]) == code


def test_a_start_that_failed_before_its_first_epoch_is_replaced_without_overwrite(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = ckpt.RunFolder(tmp_path / "run")
    run.prepare()
    run.config_path.write_text("epochs: 1\n")
    run.metrics_path.write_text("")
    run.log_path.write_text("crashed while building the teacher\n")
    with caplog.at_level("WARNING"):
        ckpt.RunFolder(run.root).prepare()
    assert "a start that failed before its first epoch" in caplog.text
    assert not run.config_path.exists() and not run.log_path.exists()
    run.config_path.write_text("epochs: 1\n")
    ckpt.append_jsonl(run.metrics_path, {"epoch": 0})  # one finished epoch: a run, kept
    with pytest.raises(ConfigError, match="--resume.*--overwrite"):
        ckpt.RunFolder(run.root).prepare()
