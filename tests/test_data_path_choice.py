"""--data-cache auto, --threads and --workers auto: the rule (a pure function) and what a run records."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_run import tiny_config

from deit.config import TrainConfig, load_config_file
from deit.data.cache import cache_bytes
from deit.data_path_choice import (
    CPU_CACHE_MAX_SIDE,
    Machine,
    cgroup_cpu_limit,
    choose_data_path,
    usable_cores,
)

GIB = 2**30
CPU2 = Machine(cores=2, free_ram=20 * GIB, device_type="cpu")


def choose(machine: Machine = CPU2, n: int = 2000, size: int = 32, **flags) -> tuple[TrainConfig, dict]:
    cfg, choices = choose_data_path(TrainConfig(**flags), n, size, machine)
    return cfg, {c.name: c for c in choices}


def test_the_estimate_is_the_cache_itself() -> None:  # uint8 squares + each image's (height, width)
    assert cache_bytes(2000, 32) == 2000 * (3 * 32 * 32 + 16)  # small images: cached at their own size
    assert cache_bytes(10, 224) == 10 * (
        3 * 256 * 256 + 16
    )  # ImageNet style: room for the random-resized crop


def test_small_images_that_fit_are_decoded_once_into_memory() -> None:
    cfg, c = choose()
    assert (cfg.data_cache, c["data_cache"].source) == ("memory", "auto")
    assert "free RAM" in c["data_cache"].reason
    assert (cfg.threads, cfg.workers) == (2, 2)  # every core computes; workers only decode once


def test_over_the_ram_budget_streams_through_pil() -> None:
    need = cache_bytes(2000, 32)
    cfg, c = choose(Machine(cores=2, free_ram=4 * need - 1, device_type="cpu"))
    assert cfg.data_cache == "none" and "PIL" in c["data_cache"].reason
    cfg, _ = choose(Machine(cores=2, free_ram=4 * need, device_type="cpu"))
    assert cfg.data_cache == "memory"
    cfg, c = choose(Machine(cores=2, free_ram=None, device_type="cpu"))
    assert cfg.data_cache == "none" and "unknown" in c["data_cache"].reason


def test_auto_augment_policies_other_than_randaugment_stream_through_pil() -> None:
    cfg, c = choose(aa="original")
    assert cfg.data_cache == "none" and "--aa original" in c["data_cache"].reason
    assert choose(aa="rand-m9-mstd0.5-inc1")[0].data_cache == "memory"
    assert choose(aa="rand-m9-t2")[0].data_cache == "none"  # weighted op choice: timm's PIL path only


def test_imagenet_sized_images_stream_on_a_cpu_but_cache_on_a_gpu() -> None:
    cfg, c = choose(n=500, size=224)
    assert cfg.data_cache == "none" and f"{CPU_CACHE_MAX_SIDE} px" in c["data_cache"].reason
    gpu = Machine(cores=16, free_ram=100 * GIB, device_type="cuda", free_device_memory=80 * GIB)
    assert choose(gpu, n=500, size=224)[0].data_cache == "device"
    full_gpu = Machine(cores=16, free_ram=100 * GIB, device_type="cuda", free_device_memory=GIB)
    assert choose(full_gpu, n=50_000, size=224)[0].data_cache == "memory"  # pinned host copy
    assert choose(full_gpu, n=1_281_167, size=224)[0].data_cache == "none"  # ImageNet


@pytest.mark.parametrize("cores", [1, 2, 3, 4, 8, 16, 64])
@pytest.mark.parametrize("device", ["cpu", "cuda", "mps"])
def test_pil_threads_and_workers_never_oversubscribe(cores: int, device: str) -> None:
    machine = Machine(cores=cores, free_ram=GIB, device_type=device)
    cfg, _ = choose(machine, data_cache="none")
    assert cfg.threads >= 1 and cfg.workers >= 0
    assert cfg.threads + cfg.workers <= max(cores, 1)
    if cores > 1:
        assert cfg.workers >= 1  # loading overlaps the model's step


def test_threads_follow_torch_s_setting() -> None:
    capped = Machine(cores=8, free_ram=20 * GIB, device_type="cpu", max_threads=1)
    cfg, c = choose(capped)
    assert cfg.threads == 1 and "OMP_NUM_THREADS" in c["threads"].reason


def test_flags_win() -> None:
    cfg, c = choose(data_cache="none", threads=1, workers=3, channels_last=False, fused_opt=False)
    assert (cfg.data_cache, cfg.threads, cfg.workers, cfg.channels_last) == ("none", 1, 3, False)
    assert cfg.fused_opt is False
    names = ("data_cache", "threads", "workers", "channels_last", "fused_opt")
    assert {k: v.source for k, v in c.items()} == dict.fromkeys(names, "flag")
    cfg, c = choose(Machine(cores=4, free_ram=GIB, device_type="cpu"), data_cache="none", threads=1)
    assert (cfg.workers, c["workers"].source) == (3, "auto")  # the other one fills the remaining cores
    cfg, _ = choose(Machine(cores=4, free_ram=GIB, device_type="cpu"), data_cache="none", workers=3)
    assert cfg.threads == 1
    assert choose(n=10**9, data_cache="memory")[0].data_cache == "memory"  # even over the budget


@pytest.mark.parametrize("device", ["cpu", "cuda", "mps"])
def test_a_convnet_on_a_cpu_trains_channels_last(device: str) -> None:
    machine = Machine(cores=2, free_ram=GIB, device_type=device)
    cfg, c = choose_data_path(TrainConfig(), 2000, 32, machine, convnet=True)
    c = {x.name: x for x in c}
    assert (cfg.channels_last, c["channels_last"].source) == (device == "cpu", "auto")
    cfg, c = choose_data_path(TrainConfig(), 2000, 32, machine, convnet=False)
    c = {x.name: x for x in c}
    assert cfg.channels_last is False and "transformer" in c["channels_last"].reason  # measured: no gain
    cfg, _ = choose_data_path(TrainConfig(channels_last=True), 2000, 32, machine, convnet=False)
    assert cfg.channels_last is True


@pytest.mark.parametrize("device", ["cpu", "cuda", "mps"])
def test_adamw_is_fused_on_cpu_and_cuda(device: str) -> None:
    machine = Machine(cores=2, free_ram=GIB, device_type=device)
    cfg, c = choose(machine)
    assert cfg.fused_opt is (device != "mps") and c["fused_opt"].source == "auto"
    cfg, c = choose(machine, opt="sgd")
    assert cfg.fused_opt is False and "--opt sgd" in c["fused_opt"].reason


@pytest.mark.parametrize("opt", ["adamw", "sgd"])
def test_fused_opt_builds_the_fused_kernel_of_either_optimizer(opt: str) -> None:
    from deit.optim import build_optimizer

    model = torch.nn.Linear(4, 3)
    for fused in (True, False):
        o = build_optimizer(model, opt, lr=0.1, weight_decay=0.05, fused=fused)
        assert all(bool(g["fused"]) is fused for g in o.param_groups)
        model(torch.randn(2, 4)).sum().backward()
        o.step()  # the fused CPU kernel exists for this optimizer
        assert torch.isfinite(model.weight).all()


def test_usable_cores_share_the_node_and_read_the_cgroup_quota(tmp_path: Path) -> None:
    assert usable_cores(local_processes=10_000) == 1
    assert usable_cores(2) <= max(1, usable_cores(1))
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    assert cgroup_cpu_limit(tmp_path / "absent") is None


def test_probe_divides_ram_between_the_node_s_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    one = Machine.probe(torch.device("cpu"))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    four = Machine.probe(torch.device("cpu"))
    assert one.device_type == "cpu" and one.max_threads == torch.get_num_threads()
    if one.free_ram:
        assert four.free_ram is not None and four.free_ram <= one.free_ram // 2
    assert four.cores == max(1, usable_cores(1) // 4)


def test_run_records_the_choice_and_times_each_epoch(tmp_path: Path) -> None:
    from deit.checkpoint import load_checkpoint
    from deit.trainer import train

    out = tmp_path / "r"
    cfg = TrainConfig(
        data="digits",
        model="deit_nano_patch4_16",
        img_size=16,
        batch_size=64,
        epochs=2,
        max_steps_per_epoch=1,
        warmup_epochs=0,
        output=str(out),
        workers=0,
    )
    train(cfg)
    saved = load_config_file(out / "config.yaml")
    assert (saved.data_cache, saved.workers, saved.threads) == ("memory", 0, torch.get_num_threads())
    assert saved.channels_last is False  # a transformer
    assert saved.fused_opt is True and state_fused(out)
    text = (out / "config.yaml").read_text()
    assert "data_cache: memory  # auto: " in text and f"threads: {saved.threads}  # auto: " in text
    state = load_checkpoint(out / "last.pt")
    assert state["config"]["data_cache"] == "memory"
    assert state["choices"]["data_cache"]["source"] == "auto"
    assert state["choices"]["workers"] == {"source": "flag", "reason": "given"}
    log = (out / "log.txt").read_text()
    assert "  data_cache                     memory  [auto] " in log
    lines = [ln for ln in log.splitlines() if " epoch 1/2: " in ln or " epoch 2/2: " in ln]
    assert len(lines) == 2, log
    assert all(" img/s | 0:00:" in ln and ", eta 0:" in ln for ln in lines), lines
    assert lines[-1].endswith("eta 0:00:00")


def state_fused(out: Path) -> bool:
    from deit.checkpoint import load_checkpoint

    groups = load_checkpoint(out / "last.pt")["optimizer"]["param_groups"]
    return all(g["fused"] for g in groups)


def test_a_convnet_run_trains_channels_last_and_records_it(tmp_path: Path) -> None:
    from deit.trainer import Trainer

    cfg = tiny_config(tmp_path, "cnn", model="tiny_cnn", epochs=1)
    trainer = Trainer(cfg)
    assert trainer.cfg.channels_last is True and trainer.choices["channels_last"]["source"] == "auto"
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    trainer.fit()
    assert load_config_file(tmp_path / "cnn" / "config.yaml").channels_last is True
    flagged = Trainer(tiny_config(tmp_path, "flag", model="tiny_cnn", epochs=1, channels_last=False))
    assert flagged.cfg.channels_last is False and flagged.choices["channels_last"]["source"] == "flag"
