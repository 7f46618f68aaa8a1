"""Tests for deit.data.check and the `deit data check` CLI."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deit.cli.main import main
from deit.data import check_dataset
from deit.errors import DataError


def _save(path: Path, mode: str = "RGB", size: tuple[int, int] = (16, 16), fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(np.full(size[::-1], 40000, dtype=np.uint16)).save(path)
    else:
        Image.new(mode, size).save(path, format=fmt)


def make_messy(root: Path) -> Path:
    for i in range(3):
        _save(root / "a" / f"{i}.png")
        _save(root / "b" / f"{i}.jpg")
    _save(root / "a" / "gray.png", "L")
    _save(root / "a" / "cmyk.jpg", "CMYK")
    _save(root / "b" / "alpha.png", "RGBA")
    _save(root / "b" / "deep.png", "I;16")
    _save(root / "b" / "tiny.png", size=(4, 30))
    _save(root / "b" / "wide.png", size=(8001, 8))
    (root / "a" / "zero.jpg").write_bytes(b"")
    (root / "a" / "text.jpg").write_text("not really a jpeg")
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8))
    big.save(root / "b" / "trunc.jpg", quality=95)
    raw = (root / "b" / "trunc.jpg").read_bytes()
    (root / "b" / "trunc.jpg").write_bytes(raw[: len(raw) // 2])
    (root / "b" / "labels.csv").write_text("x")
    (root / "c").mkdir()
    return root


def test_check_messy_folder(tmp_path: Path) -> None:
    root = make_messy(tmp_path / "ds")
    report = check_dataset(root, progress=False)
    assert not report.ok and report.layout == "imagefolder"
    (split,) = report.splits
    assert split.class_counts == {"a": 5, "b": 7, "c": 0}
    assert split.empty_classes == [str(root / "c")]
    reasons = {Path(u.path).name: u.reason for u in split.unreadable}
    assert set(reasons) == {"zero.jpg", "text.jpg", "trunc.jpg"}
    assert "empty" in reasons["zero.jpg"] and "not an image" in reasons["text.jpg"]
    assert "truncated" in reasons["trunc.jpg"]
    assert split.converted_modes == {"CMYK": 1, "I;16": 1, "L": 1, "RGBA": 1}
    assert [Path(t.path).name for t in split.tiny] == ["tiny.png"]
    assert [(Path(t.path).name, t.reason) for t in split.huge] == [("wide.png", "8001x8")]
    assert split.ignored == [str(root / "b" / "labels.csv")]
    text = report.format()
    assert "UNREADABLE" in text and "zero.jpg" in text and "PROBLEMS FOUND" in text
    d = report.to_dict()
    assert json.loads(json.dumps(d))["ok"] is False and d["num_images"] == 12


def test_check_clean_train_val_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "clean"
    for split in ("train", "val"):
        for cls in ("x", "y"):
            _save(root / split / cls / "0.png")
    report = check_dataset(root, progress=False)
    assert report.ok and report.layout == "train-val" and [s.name for s in report.splits] == ["train", "val"]
    assert main(["data", "check", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["num_images"] == 4
    _save(root / "val" / "z" / "0.png")  # class absent from train: structural error
    assert main(["data", "check", str(root), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert any("z" in e for e in out["errors"])


def test_check_cli_problem_exit_and_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_messy(tmp_path / "ds")
    assert main(["data", "check", str(root)]) == 1
    assert "text.jpg" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    with pytest.raises(DataError):
        check_dataset(tmp_path / "missing")


def test_check_cifar_and_digits(tmp_path: Path) -> None:
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}))
    (d / "batches.meta").write_bytes(pickle.dumps({"label_names": ["p", "q"]}))
    report = check_dataset(tmp_path)
    assert report.ok and report.layout == "cifar10" and report.splits[0].class_counts == {"p": 5, "q": 5}
    (d / "test_batch").write_bytes(b"garbage")
    report = check_dataset(tmp_path)
    assert not report.ok and "test_batch" in report.errors[0]
    digits = check_dataset("digits")
    assert digits.ok and digits.num_images == 1797
