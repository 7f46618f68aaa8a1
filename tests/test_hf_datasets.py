"""--data hf:PATH: a local Hugging Face ``datasets`` dataset gives the same batches as its image folder."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deit.cli.main import main
from deit.data import build_dataset, build_transform
from deit.errors import ConfigError, DataError

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hf")
    for split, n in (("train", 6), ("val", 2)):
        for c, name in enumerate(("ant", "bee", "cat")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (9, 7), (40 * c + i, 255 - 30 * i, 17 * i)).save(
                    root / split / name / f"{i}.png"
                )
    return root


def batches(dataset: object, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    random.seed(seed)  # the random augmentation: timm's RandAugment draws from random and numpy
    np.random.seed(seed)
    torch.manual_seed(seed)  # the shuffle and torchvision's random transforms
    return list(torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True))


def test_save_to_disk_and_parquet_give_the_image_folder_batches(folder: Path, tmp_path: Path) -> None:
    loaded = datasets.load_dataset("imagefolder", data_dir=str(folder))
    loaded.save_to_disk(str(tmp_path / "saved"))
    for split, table in loaded.items():
        table.to_parquet(str(tmp_path / "parquet" / f"{split}-00000.parquet"))
    transform = build_transform(True, 8, auto_augment="rand-m9-mstd0.5-inc1", reprob=0.25)
    reference = build_dataset(folder, "train", transform)
    expected = batches(reference, seed=3)
    for spec in (f"hf:{tmp_path / 'saved'}", f"hf:{tmp_path / 'parquet'}", f"hf:{folder}"):
        hf = build_dataset(spec, "train", transform)
        assert hf.classes == ["ant", "bee", "cat"] and hf.targets == reference.targets
        got = batches(hf, seed=3)
        assert len(got) == len(expected) == 5
        for (x, y), (ex, ey) in zip(got, expected):
            assert torch.equal(x, ex) and torch.equal(y, ey)
        val = build_dataset(spec, "val", build_transform(False, 8))
        assert len(val) == 6 and val.classes == hf.classes


def test_named_columns_string_labels_and_column_errors(folder: Path, tmp_path: Path) -> None:
    rows = {"picture": [str(p) for p in sorted((folder / "train").rglob("*.png"))]}
    rows["kind"] = [Path(p).parent.name for p in rows["picture"]]
    rows["note"] = ["x"] * len(rows["kind"])
    table = datasets.Dataset.from_dict(rows).cast_column("picture", datasets.Image())
    table.save_to_disk(str(tmp_path / "named"))
    spec = f"hf:{tmp_path / 'named'}"
    with pytest.raises(DataError, match="--hf-label-column"):
        build_dataset(spec, "train")
    train = build_dataset(spec, "train", hf_columns=(None, "kind"), val_split=0.5)
    val = build_dataset(spec, "val", hf_columns=("picture", "kind"), val_split=0.5)
    assert train.classes == ["ant", "bee", "cat"] and len(train) + len(val) == 18
    img, label = val[0]
    assert img.mode == "RGB" and img.size == (9, 7) and label in (0, 1, 2)
    with pytest.raises(DataError, match="--hf-image-column nope"):
        build_dataset(spec, "train", hf_columns=("nope", "kind"))


@pytest.mark.slow
def test_readme_own_data_block_with_only_data_changed(folder: Path, tmp_path: Path) -> None:
    """The README's own-data commands with ``--data hf:PATH`` (a train-only ``save_to_disk`` folder), cut to
    one short epoch."""
    table = datasets.load_dataset("imagefolder", data_dir=str(folder / "train"), split="train")
    table.save_to_disk(str(tmp_path / "mydata"))
    data = f"hf:{tmp_path / 'mydata'}"
    quick = ["--epochs", "1", "-b", "4", "--workers", "0", "--device", "cpu"]
    teacher, student = str(tmp_path / "teacher"), str(tmp_path / "student")
    assert (
        main(
            [
                "train",
                "--data",
                data,
                "--val-split",
                "0.1",
                "--model",
                "resnet8_cifar",
                "--output",
                teacher,
                *quick,
            ]
        )
        == 0
    )
    argv = ["train", "--data", data, "--val-split", "0.1", "--model", "deit_micro_distilled_patch4_32"]
    argv += ["--teacher", teacher, "--distillation-type", "hard", "--output", student, *quick]
    assert main(argv) == 0
    record = json.loads((tmp_path / "student" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["epoch"] == 1 and "val_top1" in record
    assert main(["eval", "--checkpoint", student, "--data", data, "--teacher", teacher]) == 0


def test_missing_datasets_package_names_the_extra(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ConfigError, match=r"deit\[hf\]"):
        build_dataset(f"hf:{folder}", "train")
