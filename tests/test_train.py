"""The training engine end to end on tiny models and the bundled digits data (CPU, seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_run import tiny_config

from deit.checkpoint import load_checkpoint
from deit.cli.main import main
from deit.config import TrainConfig
from deit.trainer import Trainer

TINY = [
    "--data",
    "digits",
    "--model",
    "deit_nano_distilled_patch4_16",
    "--img-size",
    "16",
    "-b",
    "32",
    "--workers",
    "0",
    "--max-steps-per-epoch",
    "4",
    "--aa",
    "none",
    "--no-repeated-aug",
    "--warmup-epochs",
    "1",
    "--log-interval",
    "1000",
]
HARD = ["--teacher", "tiny_cnn", "--distillation-type", "hard"]


def train(*args: str) -> int:
    return main(["train", *TINY, *args])


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def test_hard_distillation_run_writes_everything_and_evaluates(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert train(*HARD, "--epochs", "2", "--output", str(run)) == 0
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "metrics.csv",
        "last.pt",
        "best.pt",
        "model.safetensors",
        "model.json",
        "curves.png",
        "log.txt",
    ):
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert {
        "train_loss",
        "train_base",
        "train_distill",
        "val_cls_top1",
        "val_dist_top1",
        "val_fused_top1",
        "val_teacher_top1",
    } <= set(records[-1])
    state = load_checkpoint(run / "last.pt")  # weights_only=True inside
    assert state["format"] == "deit-train-v1" and state["epoch"] == 2
    assert state["model_spec"]["name"] == "deit_nano_distilled_patch4_16"
    assert not any(k.startswith(("module.", "_orig_mod.", "teacher")) for k in state["model"])
    assert state["class_names"] == [str(i) for i in range(10)]
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run / "last.pt"), "--data", "digits", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["samples"] == 360  # the digits held-out split (20% of 1,797, stratified)
    assert metrics["fused_top1"] == pytest.approx(records[-1]["val_fused_top1"])  # last.pt: the last epoch


def test_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    common = [
        "--sched",
        "constant",
        "--warmup-epochs",
        "0",
        "--teacher",
        "tiny_cnn",
        "--distillation-type",
        "soft",
        "--distillation-tau",
        "3",
        "--distillation-alpha",
        "0.1",
    ]
    assert train(*common, "--epochs", "3", "--output", str(tmp_path / "straight")) == 0
    assert train(*common, "--epochs", "2", "--output", str(tmp_path / "split")) == 0
    assert train(*common, "--epochs", "3", "--output", str(tmp_path / "split"), "--resume") == 0
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]


def test_teacher_is_frozen_and_outside_the_student(tmp_path: Path) -> None:
    trainer = Trainer(
        tiny_config(tmp_path, max_steps_per_epoch=2, teacher_model="tiny_cnn", distillation_type="hard")
    )
    teacher_params = {id(p) for p in trainer.teacher.parameters()}
    assert teacher_params and not teacher_params & {id(p) for p in trainer.model.parameters()}
    assert not teacher_params & {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    before = {k: v.clone() for k, v in trainer.teacher.state_dict().items()}
    trainer.fit()
    assert all(p.grad is None and not p.requires_grad for p in trainer.teacher.parameters())
    assert all(torch.equal(before[k], v) for k, v in trainer.teacher.state_dict().items())  # BN stats too
    assert not trainer.teacher.training


def test_distilled_student_without_teacher_trains_both_heads(tmp_path: Path) -> None:
    trainer = Trainer(tiny_config(tmp_path, max_steps_per_epoch=1, mixup=0.0, cutmix=0.0))
    head_dist = trainer.model.head_dist.weight.detach().clone()
    trainer.fit()
    assert not torch.equal(head_dist, trainer.model.head_dist.weight)


def test_lr_scaling_and_recipe_defaults(tmp_path: Path) -> None:
    cfg = TrainConfig(
        recipe="paper",
        data="digits",
        model="deit_nano_patch4_16",
        img_size=16,
        batch_size=64,
        workers=0,
        epochs=10,
        output=str(tmp_path / "r"),
        accum_steps=2,
    )
    trainer = Trainer(cfg)
    assert trainer.schedule.base_lr == pytest.approx(5e-4 * 128 / 512)
    assert trainer.schedule(0) == pytest.approx(1e-6) and trainer.schedule(10) == pytest.approx(1e-5)
    decay, no_decay = trainer.optimizer.param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    assert {"pos_embed", "cls_token"} <= {names[id(p)] for p in no_decay["params"]}
    assert trainer.optimizer.defaults["eps"] == 1e-8
    assert trainer.mixup is not None  # Mixup 0.8 / CutMix 1.0 by default


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "deit_nano_distiled_patch4_16"], "deit_nano_distilled_patch4_16"),
        (["--model", "deit_nano_patch4_16", *HARD], "cannot be distilled"),
        (["--data", "/nonexistent/folder"], "/nonexistent/folder"),
        (["--teacher", "tiny_cnn"], "--distillation-type"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    assert train(*args, "--epochs", "1", "--output", str(tmp_path / "r")) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_empty_data_folder_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").mkdir()
    assert train("--data", str(tmp_path / "data"), "--epochs", "1", "--output", str(tmp_path / "r")) == 2
    assert str(tmp_path / "data") in capsys.readouterr().err


def test_teacher_with_other_class_count_fails_before_training(tmp_path: Path, capsys) -> None:
    teacher_run = tmp_path / "teacher"
    assert (
        main(
            [
                "train",
                "--data",
                "digits",
                "--model",
                "tiny_cnn",
                "--img-size",
                "16",
                "-b",
                "32",
                "--workers",
                "0",
                "--epochs",
                "1",
                "--warmup-epochs",
                "0",
                "--max-steps-per-epoch",
                "1",
                "--output",
                str(teacher_run),
                "--aa",
                "none",
                "--num-classes",
                "10",
                "--log-interval",
                "1000",
            ]
        )
        == 0
    )
    # A teacher checkpoint trained on the digits classes works as --teacher ...
    assert (
        train(
            *HARD[2:],
            "--teacher",
            str(teacher_run / "best.pt"),
            "--epochs",
            "1",
            "--output",
            str(tmp_path / "ok"),
        )
        == 0
    )
    # ... teacher weights predicting 1000 classes are refused before any step.
    import timm

    torch.save(
        timm.create_model("resnet10t", num_classes=1000).state_dict(), tmp_path / "imagenet_teacher.pth"
    )
    assert (
        train(
            "--teacher",
            "resnet10t",
            "--teacher-weights",
            str(tmp_path / "imagenet_teacher.pth"),
            "--distillation-type",
            "hard",
            "--epochs",
            "1",
            "--output",
            str(tmp_path / "bad"),
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "1000" in err and "10" in err
    assert not (tmp_path / "bad" / "last.pt").exists()


@pytest.mark.distributed
@pytest.mark.slow(seconds=25)
def test_torchrun_two_processes_match_one_process(tmp_path: Path) -> None:
    """2 x gloo processes with batch 16 == 1 process with batch 32 (same global batch, same samples)."""
    common = [
        "--data",
        "digits",
        "--model",
        "deit_nano_distilled_patch4_16",
        "--img-size",
        "16",
        "--workers",
        "0",
        "--epochs",
        "2",
        "--warmup-epochs",
        "1",
        "--max-steps-per-epoch",
        "3",
        "--no-augment",
        "--mixup",
        "0",
        "--cutmix",
        "0",
        "--no-repeated-aug",
        "--drop-path",
        "0",
        "--reprob",
        "0",
        "--teacher",
        "tiny_cnn",
        "--distillation-type",
        "hard",
        "--device",
        "cpu",
        "--log-interval",
        "1000",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    one = subprocess.run(
        [sys.executable, "-m", "deit", "train", *common, "-b", "32", "--output", str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "deit",
            "train",
            *common,
            "-b",
            "16",
            "--output",
            str(tmp_path / "two"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)  # float summation order only
    last = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["val_samples"] == 360  # distributed evaluation counts every held-out sample exactly once
    ref = [json.loads(x) for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["val_fused_top1"] == pytest.approx(ref["val_fused_top1"], abs=0.3)


def test_held_out_split_follows_split_seed_not_seed(tmp_path: Path) -> None:
    from deit.trainer import build_data

    def val_indices(**kw: object) -> list[int]:
        return build_data(tiny_config(tmp_path, **kw)).val.indices.tolist()

    base = val_indices(seed=0)
    assert val_indices(seed=1) == base  # runs with different seeds are scored on the same images
    assert val_indices(seed=0, split_seed=1) != base


def test_threads_flag_is_recorded_and_restored(tmp_path: Path) -> None:
    from deit.config import load_config_file
    from deit.trainer import train

    before = torch.get_num_threads()
    train(tiny_config(tmp_path, threads=2, max_steps_per_epoch=2, model="deit_nano_patch4_16"))
    assert torch.get_num_threads() == before  # train() runs inside other programs: it must not leak
    assert load_config_file(tmp_path / "r" / "config.yaml").threads == 2
    assert main(["train", "--data", "digits", "--threads", "0", "--output", str(tmp_path / "bad")]) == 2
