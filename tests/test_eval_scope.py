"""`deit eval --data DIR`: which images are scored, and the first line saying how many and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapes_data import make_shapes

from deit.cli.main import main


@pytest.fixture(scope="module")
def run_and_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("scope")
    mine = make_shapes(root / "mine", per_class=8, size=16, seed=0)  # 24 images, 6 carved off for val
    other = make_shapes(root / "heldout", per_class=5, size=16, seed=1)  # 15 images the run never saw
    run = root / "run"
    args = ["train", "--data", str(mine), "--val-split", "0.25", "--model", "deit_nano_patch4_16"]
    args += ["--img-size", "16", "--epochs", "1", "--workers", "0", "--output", str(run)]
    assert main(args) == 0
    return run, mine, other


def _eval(capsys: pytest.CaptureFixture, run: Path, data: Path, *extra: str) -> tuple[int, str]:
    assert main(["eval", "--checkpoint", str(run), "--data", str(data), "-j", "0", *extra]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    return int(first.split()[0]), first


def test_another_folder_is_scored_whole_and_the_training_folder_keeps_its_carve(
    run_and_folders: tuple[Path, Path, Path], capsys: pytest.CaptureFixture
) -> None:
    run, mine, other = run_and_folders
    count, line = _eval(capsys, run, other)
    assert count == 15 and "the whole folder (not the run's training data)" in line
    count, line = _eval(capsys, run, mine)
    assert count == 6 and "the run's --val-split 0.25 carve (the run's training folder)" in line


def test_the_split_flags_still_choose_by_hand(
    run_and_folders: tuple[Path, Path, Path], capsys: pytest.CaptureFixture
) -> None:
    run, mine, other = run_and_folders
    for flags in (["--val-split", "0"], ["--val-split", "1"], ["--split", "train", "--val-split", "0"]):
        count, line = _eval(capsys, run, mine, *flags)
        assert count == 24, (flags, line)
    assert _eval(capsys, run, mine, "--split", "train")[0] == 18  # the images the run trained on
    count, line = _eval(capsys, run, other, "--split", "val")
    assert count == 3 and "--split val of a --val-split 0.25 carve" in line  # the checkpoint's fraction
    assert main(["eval", "--checkpoint", str(run), "--data", str(other), "-j", "0", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["samples"] == 15 and metrics["images"].endswith("not the run's training data)")
