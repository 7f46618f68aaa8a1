"""WebDataset shards: packing, the per-epoch stream over ranks and workers, resume, corrupt members."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from deit.auto_recipe import DataStats
from deit.cli.main import main
from deit.data import build_dataset, per_class_subset
from deit.data.shard_pack import pack
from deit.data.shards import ShardFiles, ShardSampler, ShardStream, is_shard_source
from deit.errors import ConfigError, DataError

pytest.importorskip("webdataset")


def sample_id(img: Image.Image) -> int:
    """Every test image encodes its own id in its first pixel (lossless PNG)."""
    r, g, _ = img.getpixel((0, 0))
    return r * 256 + g


def make_folder(
    root: Path, per_class: dict[str, int], classes: int = 3, corrupt: tuple[str, ...] = ()
) -> Path:
    for split, n in per_class.items():
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                gid = (1000 if split == "val" else 0) + c * 100 + i
                Image.new("RGB", (6, 5), (gid // 256, gid % 256, c)).save(folder / f"{i:03d}.png")
    for name in corrupt:
        (root / name).write_bytes(b"not a png at all")
    return root


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shards")
    make_folder(root / "src", {"train": 17, "val": 4})  # 51 train images, 3 classes
    pack(root / "src", root / "out", shard_size=7)
    return root / "out"


def epoch_ids(
    stream: ShardStream, world: int, rank: int, workers: int, epoch: int, start_step: int = 0
) -> list[int]:
    sampler = ShardSampler(stream, world, rank, workers, 4, seed=3)
    loader = torch.utils.data.DataLoader(
        sampler.epoch_stream(epoch, start_step), batch_size=4, num_workers=workers
    )
    return [i for batch, _ in loader for i in batch.tolist()]


def test_pack_writes_index_with_counts_and_the_recipe_reads_it(packed: Path) -> None:
    index = json.loads((packed / "index.json").read_text())
    assert index["classes"] == ["class0", "class1", "class2"]
    train = index["splits"]["train"]
    assert train["num_images"] == 51 and train["class_counts"] == [17, 17, 17]
    assert [s["count"] for s in train["shards"]] == [7] * 7 + [2]
    assert train["median_size"] == [6, 5] and index["splits"]["val"]["num_images"] == 12
    stream = build_dataset(packed, "train")
    assert isinstance(stream, ShardStream) and len(stream) == 51
    assert (
        stream.shards.split_stats["median_size"] == [6, 5] and stream.shards.split_stats["num_images"] == 51
    )
    stats = DataStats.of(stream, 16)
    assert (stats.num_images, stats.num_classes, stats.min_per_class) == (51, 3, 17)
    subset = per_class_subset(stream, 5, seed=0)
    assert isinstance(subset, ShardStream) and sorted(subset.targets) == [0] * 5 + [1] * 5 + [2] * 5
    labels = {sample_id(img) // 100: label for img, label in ShardFiles(stream.shards, keep=subset.keep)}
    assert labels == {0: 0, 1: 1, 2: 2}  # labels travel with their images


def test_val_split_pattern_and_index_forms(packed: Path) -> None:
    val = build_dataset(packed / "index.json", "val", sample_id)
    assert sorted(val[i][0] for i in range(len(val))) == sorted(
        1000 + c * 100 + i for c in range(3) for i in range(4)
    )
    some = build_dataset(str(packed / "train-{000000..000001}.tar"), "train")
    assert len(some) == 14
    with pytest.raises(DataError, match="not in"):
        build_dataset(str(packed / "train-{000000..000009}.tar"), "train")


@pytest.mark.parametrize("workers", [0, 2])
def test_every_sample_once_per_epoch_over_ranks_and_resume_continues_exactly(
    packed: Path, workers: int
) -> None:
    stream = build_dataset(packed, "train", sample_id)
    for epoch in (0, 1):
        per_rank = [epoch_ids(stream, 2, rank, workers, epoch) for rank in range(2)]
        seen = per_rank[0] + per_rank[1]
        assert len(per_rank[0]) == len(per_rank[1]) == 24  # 51 // 2 = 25 -> 6 whole batches of 4 per rank
        assert len(set(seen)) == len(seen) == 48
        for rank in range(2):
            assert epoch_ids(stream, 2, rank, workers, epoch, start_step=3) == per_rank[rank][12:]
    assert epoch_ids(stream, 2, 0, workers, 0) != epoch_ids(stream, 2, 0, workers, 1)  # reshuffled per epoch


def test_corrupt_member_named_or_skipped_and_counted(tmp_path: Path) -> None:
    make_folder(tmp_path / "src", {"train": 4}, corrupt=("train/class1/002.png",))
    pack(tmp_path / "src", tmp_path / "out", shard_size=5)
    strict = build_dataset(tmp_path / "out", "train", sample_id)
    with pytest.raises(DataError, match=r"unreadable image .*train-00000\d\.tar:\d{8}\.png"):
        epoch_ids(strict, 1, 0, 0, 0)
    lenient = build_dataset(tmp_path / "out", "train", sample_id, skip_corrupt=True)
    lenient.skip_log = tmp_path / "skipped.txt"
    ids = epoch_ids(lenient, 1, 0, 0, 0)
    assert len(ids) == 12 and 102 not in ids  # exact count: the bad one is replaced by a readable one
    assert len(lenient.skip_log.read_text().splitlines()) == 1
    files = build_dataset(tmp_path / "out", "val", sample_id, val_split=0.5, skip_corrupt=True)
    assert all(isinstance(files[i][0], int) for i in range(len(files)))


def test_cli_pack_and_missing_index_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_folder(tmp_path / "src", {"": 3}, classes=2)
    assert main(["data", "pack", str(tmp_path / "src"), str(tmp_path / "out"), "--shard-size", "4"]) == 0
    assert "train: 6 images, 2 classes -> 2 shards" in capsys.readouterr().out
    (tmp_path / "out" / "index.json").unlink()
    with pytest.raises(DataError, match="no index.json beside the shards"):
        build_dataset(str(tmp_path / "out" / "train-000000.tar"), "train")


TORCHRUN_SCRIPT = """
import json, sys
import torch.distributed as dist
from deit.data import build_dataset
from test_shards import epoch_ids

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
stream = build_dataset(sys.argv[1], "train", lambda img: img.getpixel((0, 0))[0] * 256 + img.getpixel((0, 0))[1])
out = {}
for epoch in (0, 1):
    mine = epoch_ids(stream, world, rank, 2, epoch)
    resumed = epoch_ids(stream, world, rank, 2, epoch, start_step=2)
    gathered = [None] * world
    dist.all_gather_object(gathered, {"ids": mine, "resumed_ok": resumed == mine[8:]})
    out[epoch] = gathered
if rank == 0:
    print(json.dumps(out))
dist.destroy_process_group()
"""


@pytest.mark.distributed
@pytest.mark.slow(seconds=27)
def test_torchrun_two_processes_see_each_sample_once_and_resume(packed: Path, tmp_path: Path) -> None:
    script = tmp_path / "run_shards.py"
    script.write_text(textwrap.dedent(TORCHRUN_SCRIPT))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
    }
    argv = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
    ]
    done = subprocess.run([*argv, str(packed)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    train = [
        *argv[:-1],
        "-m",
        "deit",
        "train",
        "--data",
        str(packed),
        "--model",
        "deit_nano_distilled_patch4_16",
    ]
    train += ["--img-size", "16", "--workers", "2", "--epochs", "1", "-b", "8", "--device", "cpu"]
    train += ["--data-cache", "none"]  # streamed (auto would decode these 51 images once: no stream)
    trained = subprocess.run(
        [*train, "--output", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=300
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "shards: 48 of 51 training images per epoch (3 left over" in trained.stderr
    for epoch in ("0", "1"):
        ranks = result[epoch]
        seen = ranks[0]["ids"] + ranks[1]["ids"]
        assert len(ranks[0]["ids"]) == len(ranks[1]["ids"]) == 24 and len(set(seen)) == 48
        assert all(r["resumed_ok"] for r in ranks)


@pytest.mark.slow
def test_train_from_shards_resumes_to_the_uninterrupted_weights(packed: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    common = ["train", "--data", str(packed), "--model", "deit_nano_distilled_patch4_16", "--img-size", "16"]
    common += ["-b", "8", "--workers", "2", "--device", "cpu", "--sched", "constant", "--warmup-epochs", "0"]
    common += ["--no-repeated-aug", "--log-interval", "1000"]
    assert main([*common, "--epochs", "2", "--output", str(tmp_path / "straight")]) == 0
    assert main([*common, "--epochs", "1", "--output", str(tmp_path / "split")]) == 0
    assert main([*common, "--epochs", "2", "--output", str(tmp_path / "split"), "--resume"]) == 0
    a, b = (load_file(tmp_path / run / "model.safetensors") for run in ("straight", "split"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_missing_extra_and_foreign_index_json(
    packed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_folder(tmp_path / "folder", {"": 2}, classes=2)
    (tmp_path / "folder" / "index.json").write_text('{"pages": []}')  # someone else's file: still a folder
    assert not is_shard_source(tmp_path / "folder") and is_shard_source(packed)
    monkeypatch.setitem(sys.modules, "webdataset", None)
    with pytest.raises(ConfigError, match=r"deit\[shards\]"):
        epoch_ids(build_dataset(packed, "train", sample_id), 1, 0, 0, 0)


@pytest.mark.slow
def test_trainer_stopped_mid_epoch_resumes_the_stream_exactly(packed: Path, tmp_path: Path) -> None:
    """Stop after step 3 of 6 with 2 loader workers (the resumed loader's round-robin starts at worker 1)."""
    from deit.config import TrainConfig
    from deit.trainer import Trainer

    def config(name: str, **extra: object) -> TrainConfig:
        exact = dict(augment=False, mixup=0.0, cutmix=0.0, drop_path=0.0, reprob=0.0, repeated_aug=False)
        return TrainConfig(
            data=str(packed), model="deit_nano_distilled_patch4_16", img_size=16, batch_size=8, workers=2,
            epochs=2, warmup_epochs=1, output=str(tmp_path / name), log_interval=1000, **exact, **extra,
        )  # fmt: skip

    straight = Trainer(config("straight"))
    straight.fit()
    stopped = Trainer(config("split"))
    calls = {"n": 0}

    def request_stop(module: torch.nn.Module, args: tuple) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            stopped.stop.requested = True

    stopped.model.register_forward_pre_hook(request_stop)
    assert stopped.fit()["interrupted"]
    resumed = Trainer(config("split", resume="auto"))
    assert (resumed.start_epoch, resumed.start_step, resumed.steps_per_epoch) == (0, 3, 6)
    resumed.fit()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
