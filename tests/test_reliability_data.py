"""Corrupt and odd data through `deit train` end to end, and `deit data check` on the same folders.

Unit tests of decoding/skipping/checking are in tests/test_data.py and tests/test_data_check.py; these run
the real command (in-process, ``deit.cli.main.main``) on small ImageFolder trees and check what the user
sees: exit code, the message naming the file, the skip count in the run's log.txt.
See docs/RELIABILITY.md.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deit.cli.main import main

ODD = ["gray.png", "cmyk.jpg", "rgba.png", "deep16.png", "huge.png", "tiny.png"]
CORRUPT = ["truncated.jpg", "zero.jpg", "text.jpg"]


def cli(*argv: str) -> tuple[int, str, str]:
    """``deit ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def train(data: Path, out: Path, *extra: str) -> tuple[int, str]:
    rc, _, err = cli(
        "train",
        "--data",
        str(data),
        "--model",
        "deit_nano_patch4_16",
        "--img-size",
        "16",
        "--epochs",
        "1",
        "--warmup-epochs",
        "0",
        "-b",
        "4",
        "--workers",
        "0",
        "--aa",
        "none",
        "--no-repeated-aug",
        "--device",
        "cpu",
        "--output",
        str(out),
        *extra,
    )
    return rc, err


def assert_clean_error(rc: int, err: str, *fragments: str) -> None:
    assert rc == 2, err
    assert "deit train: error:" in err and "Traceback" not in err and 'File "' not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


# --------------------------------------------------------------------------------------------- images
def good(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(path)


def odd(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name
    if name == "gray.png":
        Image.new("L", (20, 20), 90).save(path)
    elif name == "cmyk.jpg":
        Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(path)
    elif name == "rgba.png":
        Image.new("RGBA", (20, 20), (10, 200, 30, 128)).save(path)
    elif name == "deep16.png":
        Image.fromarray(np.full((20, 20), 40000, dtype=np.uint16)).save(path)
        assert Image.open(path).mode.startswith("I;16")
    elif name == "huge.png":  # 9000 px wide, 10 px high: 270 kB decoded
        Image.new("RGB", (9000, 10), (200, 10, 10)).save(path)
    elif name == "tiny.png":
        Image.new("RGB", (2, 2), (10, 10, 200)).save(path)


def corrupt(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name == "truncated.jpg":
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, quality=95)
        path.write_bytes(path.read_bytes()[:2000])
    elif path.name == "zero.jpg":
        path.write_bytes(b"")
    else:
        path.write_text("this is a text file with an image extension\n")


def tree(root: Path, train: dict[str, list[str]], val: dict[str, list[str]] | None = None) -> Path:
    """train/ and val/ ImageFolders; a list entry "good:N" means N readable RGB images."""
    for split, classes in (("train", train), ("val", val or {c: ["good:1"] for c in train})):
        for cls, entries in classes.items():
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for entry in entries:
                if entry.startswith("good:"):
                    for i in range(int(entry[5:])):
                        good(folder / f"img{i}.png", len(split) * 10_000 + sum(map(ord, cls)) * 100 + i)
                elif entry in ODD:
                    odd(folder / entry)
                elif entry in CORRUPT:
                    corrupt(folder / entry)
                elif entry != "EMPTY":
                    (folder / entry).write_text("not an image")  # e.g. notes.txt: ignored
    return root


# ------------------------------------------------------------------------------------------ end to end
def test_odd_but_readable_images_are_converted_and_train(tmp_path: Path) -> None:
    """Grayscale, CMYK, RGBA, 16-bit, 9000x10 and 2x2 images: converted to RGB, every one trained on."""
    data = tree(
        tmp_path / "data",
        {"a": ["good:5", *ODD[:3]], "b": ["good:5", *ODD[3:]]},
        {"a": ["good:1", *ODD], "b": ["good:1"]},
    )  # 16 train images = 4 full batches, all visited
    out = tmp_path / "run"
    rc, err = train(data, out)
    assert rc == 0, err
    log = (out / "log.txt").read_text()
    assert "16 train / 8 val images, 2 classes" in log and "skipping" not in log
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["val_samples"] == 8 and np.isfinite(record["train_loss"])


@pytest.mark.parametrize("workers", ["0", "1"])
def test_corrupt_image_without_skip_corrupt_is_an_error_naming_the_file(tmp_path: Path, workers: str) -> None:
    data = tree(tmp_path / "data", {"a": ["good:7", "zero.jpg"], "b": ["good:8"]})
    rc, err = train(data, tmp_path / "run", "--workers", workers)
    # with workers, torch re-raises the worker's error with its whole traceback inside: only the message shows
    assert_clean_error(
        rc,
        err,
        f"unreadable image {data / 'train' / 'a' / 'zero.jpg'}: empty file (0 bytes)",
        "--skip-corrupt",
    )
    if workers != "0":
        assert "in DataLoader worker process" in err


def test_skip_corrupt_skips_each_bad_file_and_logs_the_count(tmp_path: Path) -> None:
    data = tree(
        tmp_path / "data",
        {"a": ["good:6", *CORRUPT[:2]], "b": ["good:7", CORRUPT[2]]},
        {"a": ["good:2", "truncated.jpg"], "b": ["good:2"]},
    )
    out = tmp_path / "run"
    rc, err = train(data, out, "--skip-corrupt")
    assert rc == 0, err
    log = (out / "log.txt").read_text()
    for split, cls, name in [
        ("train", "a", "truncated.jpg"),
        ("train", "a", "zero.jpg"),
        ("train", "b", "text.jpg"),
        ("val", "a", "truncated.jpg"),
    ]:
        assert f"skipping unreadable image {data / split / cls / name}" in log, name
    assert "--skip-corrupt: 4 unreadable image(s) skipped so far" in log
    assert np.isfinite(json.loads((out / "metrics.jsonl").read_text())["train_loss"])


@pytest.mark.parametrize("content", [[], ["notes.txt"]], ids=["no-files", "only-non-images"])
def test_empty_class_folder_is_an_error_naming_it(tmp_path: Path, content: list[str]) -> None:
    data = tree(
        tmp_path / "data",
        {"a": ["good:8"], "b": ["good:8"], "c": content or ["EMPTY"]},
        {"a": ["good:1"], "b": ["good:1"]},
    )
    rc, err = train(data, tmp_path / "run", "--skip-corrupt")  # even with --skip-corrupt
    assert_clean_error(rc, err, "empty class folder", str(data / "train" / "c"))


def test_class_folder_without_one_readable_image(tmp_path: Path) -> None:
    """Training names the first bad file; with --skip-corrupt it trains, logs every skip; check flags the class."""
    data = tree(
        tmp_path / "data",
        {"a": ["good:7"], "b": ["good:7"], "c": ["zero.jpg", "text.jpg"]},
        {"a": ["good:1"], "b": ["good:1"]},
    )
    rc, err = train(data, tmp_path / "run1")
    assert_clean_error(rc, err, f"unreadable image {data / 'train' / 'c'}")
    rc, err = train(data, tmp_path / "run2", "--skip-corrupt")
    assert rc == 0, err
    log = (tmp_path / "run2" / "log.txt").read_text()
    assert "--skip-corrupt: 2 unreadable image(s) skipped so far" in log
    rc, out, err = cli("data", "check", str(data), "--no-progress")
    assert rc == 1 and f"class 'c' in {data / 'train'} has no readable image" in out, out + err


def test_data_check_reports_every_problem_without_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tree(
        tmp_path / "data",
        {
            "a": ["good:3", *ODD, "notes.txt"],
            "b": ["good:3", *CORRUPT],
            "empty": ["EMPTY"],
            "dead": ["zero.jpg"],
        },
        {"a": ["good:1", "truncated.jpg"], "b": ["good:1"]},
    )
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli("data", "check", str(data), "--no-progress")
    assert rc == 1 and "Traceback" not in err, err
    for name in CORRUPT:
        assert str(data / "train" / "b" / name) in out, name
    assert (
        str(data / "train" / "dead" / "zero.jpg") in out and str(data / "val" / "a" / "truncated.jpg") in out
    )
    assert "EMPTY class folders: 1" in out and str(data / "train" / "empty") in out
    assert f"class 'dead' in {data / 'train'} has no readable image" in out
    for mode in ("L (grayscale)", "CMYK", "RGBA", "16-bit grayscale"):
        assert mode in out, mode
    assert "tiny.png: 2x2" in out and "huge.png: 9000x10" in out
    assert str(data / "train" / "a" / "notes.txt") in out
    assert out.rstrip().endswith("PROBLEMS FOUND")
    rc, out, _ = cli("data", "check", str(data), "--json", "--no-progress")
    report = json.loads(out)
    assert rc == 1 and report["ok"] is False
    unreadable = sorted(Path(u["path"]).name for s in report["splits"] for u in s["unreadable"])
    assert unreadable == sorted(CORRUPT + ["zero.jpg", "truncated.jpg"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no run folder: nothing trained


def test_skip_corrupt_total_across_workers_and_epochs(tmp_path: Path) -> None:
    """With 2 workers and 2 epochs every bad file is reported once and the run ends with the total."""
    data = tree(
        tmp_path / "data",
        {"a": ["good:6", *CORRUPT[:2]], "b": ["good:7", CORRUPT[2]]},
        {"a": ["good:2", "truncated.jpg"], "b": ["good:2"]},
    )
    out = tmp_path / "run"
    rc, err = train(data, out, "--skip-corrupt", "--workers", "2", "--epochs", "2")
    assert rc == 0, err
    listed = (out / "skipped_images.txt").read_text().splitlines()
    assert sorted(listed) == sorted(
        str(data / s / c / n)
        for s, c, n in [
            ("train", "a", "truncated.jpg"),
            ("train", "a", "zero.jpg"),
            ("train", "b", "text.jpg"),
            ("val", "a", "truncated.jpg"),
        ]
    )
    log = (out / "log.txt").read_text()
    assert log.count("--skip-corrupt: 4 unreadable image(s) skipped so far") == 2  # after each epoch
    assert (
        f"--skip-corrupt: 4 unreadable image(s) skipped in total; list: {out / 'skipped_images.txt'}" in log
    )
    rc, stdout, err = cli(
        "eval", "--checkpoint", str(out), "--data", str(data), "--skip-corrupt", "-j", "2", "--json"
    )
    assert rc == 0, err
    assert "--skip-corrupt: 1 unreadable image(s) skipped in total" in err
    assert json.loads(stdout)["skipped_images"] == [str(data / "val" / "a" / "truncated.jpg")]
