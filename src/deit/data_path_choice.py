"""``--data-cache auto``, ``--threads`` and ``--workers`` chosen from the run and the machine, like the recipe.

The data path: decode the training and validation images once into a uint8 tensor (``memory``, or
``device`` on a GPU that holds it) when they fit a stated budget, else stream them through PIL and loader
processes (ImageNet). The CPU: torch's compute threads plus the loader's worker processes never exceed the
cores this process may use (affinity, cgroup quota, shared with the other processes of the node under
torchrun). The memory layout: a convnet trained on a CPU runs channels-last. The optimizer: AdamW as one
fused kernel per step on a CPU or a CUDA GPU. A flag always wins. The numbers behind each rule are in
``docs/RECIPES.md``.

    machine = Machine.probe(torch.device("cpu"))
    cfg, choices = choose_data_path(cfg, num_images=2000, img_size=32, machine=machine, convnet=True)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from deit.auto_recipe import Choice
from deit.config import TrainConfig
from deit.data.batch_aug import parse_rand_augment
from deit.data.cache import cache_bytes, cache_size
from deit.errors import ConfigError

RAM_SHARE = 0.25  # the decoded images may take at most this share of the RAM available at start
DEVICE_SHARE = 0.5  # ... and of the free GPU memory (the rest is the model's, activations included)
CPU_CACHE_MAX_SIDE = 64  # on a CPU, batched augmentation beats PIL workers up to this image size (px)
MAX_WORKERS = 8  # loader processes per training process (the official code uses 10 per GPU)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The container's CPU quota in cores (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_cores(local_processes: int = 1) -> int:
    """Cores this process may use: its affinity mask, capped by the cgroup quota, shared among the
    ``local_processes`` training processes of this node."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.floor(limit)))
    return max(1, cores // max(1, local_processes))


def available_ram() -> int | None:
    """Bytes of RAM available for new allocations (``MemAvailable``), None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class Machine:
    """What the choice needs to know about where the run executes (one training process)."""

    cores: int  # this process's share of the usable cores
    free_ram: int | None  # bytes available to this process (the node's, shared by its processes)
    device_type: str  # cpu | cuda | mps
    free_device_memory: int | None = None  # bytes, CUDA only
    # torch's threads when the run starts: OMP_NUM_THREADS, or what a calling program set (deit demo,
    # tests): compute threads never exceed it
    max_threads: int | None = None

    @classmethod
    def probe(cls, device: torch.device) -> Machine:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)  # set by torchrun
        ram = available_ram()
        free_device = None
        if device.type == "cuda":
            free_device, _ = torch.cuda.mem_get_info(device)
        ram = ram // local if ram else None
        return cls(usable_cores(local), ram, device.type, free_device, torch.get_num_threads())


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


def _auto_cache(num_images: int, img_size: int, aa: str | None, m: Machine) -> tuple[str, str]:
    if aa not in (None, "", "none"):
        try:
            parse_rand_augment(aa)
        except ConfigError:
            return "none", f"--aa {aa}: the batched path runs RandAugment policies ('rand-...') only"
    need = cache_bytes(num_images, img_size)
    side = cache_size(img_size)
    what = f"{num_images} images at {side} px decode to {_mb(need)}"
    if m.device_type == "cuda" and m.free_device_memory is not None:
        if need <= DEVICE_SHARE * m.free_device_memory:
            return (
                "device",
                f"{what} <= {DEVICE_SHARE:.0%} of the {_mb(m.free_device_memory)} free on the GPU",
            )
    if m.free_ram is None:
        return "none", f"{what}; free RAM unknown: PIL streaming"
    budget = RAM_SHARE * m.free_ram
    if need > budget:
        return "none", f"{what} > {RAM_SHARE:.0%} of the {_mb(m.free_ram)} free RAM: PIL streaming"
    if m.device_type == "cpu" and img_size > CPU_CACHE_MAX_SIDE:
        return (
            "none",
            f"{img_size} px > {CPU_CACHE_MAX_SIDE} px: on a CPU, PIL workers augment large images faster",
        )
    return "memory", f"{what} <= {RAM_SHARE:.0%} of the {_mb(m.free_ram)} free RAM: decoded once"


def _auto_cpu(cache: str, threads: int | None, workers: int | None, m: Machine) -> dict[str, tuple[int, str]]:
    """(value, reason) for threads and workers; a given value is kept and the other fills the rest."""
    cores = m.cores
    if cache != "none":  # no loader process while training: every core computes
        return {
            "threads": (cores, f"{cores} usable cores, all computing (cached data: no loader processes)"),
            "workers": (min(cores, MAX_WORKERS), "decode the cache once, before training"),
        }
    if threads is not None:
        return {"workers": (max(0, cores - threads), f"{cores} usable cores - --threads {threads}")}
    if workers is not None:
        return {"threads": (max(1, cores - workers), f"{cores} usable cores - --workers {workers}")}
    if cores == 1:
        why = "1 usable core: load in the training process"
        return {"threads": (1, why), "workers": (0, why)}
    if m.device_type == "cpu":  # the model and PIL decoding share the cores: half each
        w = cores // 2
        why = f"{cores} usable cores shared by the model ({cores - w}) and PIL loading ({w})"
        return {"threads": (cores - w, why), "workers": (w, why)}
    w = min(cores - 1, MAX_WORKERS)  # the model runs on the accelerator: the cores load data
    why = f"{cores} usable cores: {w} loader processes feed the {m.device_type} device"
    return {"threads": (max(1, min(cores - w, 4)), why), "workers": (w, why)}


def _auto_channels_last(convnet: bool, m: Machine) -> tuple[bool, str]:
    if not convnet:
        return False, "a transformer: its only convolution is the patch embedding"
    if m.device_type != "cpu":
        return False, f"a convnet on {m.device_type}: not measured there yet (benchmarks/gpu_check.py)"
    return True, "a convnet on a CPU: oneDNN's channels-last convolutions train it about 1.3x faster"


def _auto_fused(opt: str, m: Machine) -> tuple[bool, str]:
    if opt != "adamw":
        return False, f"--opt {opt}: torch's default implementation"
    if m.device_type not in ("cpu", "cuda"):
        return False, f"AdamW on {m.device_type}: torch's default implementation"
    return (
        True,
        f"AdamW on {m.device_type}: one kernel per step (on a CPU 3-5x faster than the per-parameter loop)",
    )


def choose_data_path(
    cfg: TrainConfig, num_images: int, img_size: int, machine: Machine, convnet: bool = False
) -> tuple[TrainConfig, list[Choice]]:
    """Resolve ``data_cache`` ('auto'), ``threads``, ``workers``, ``channels_last`` and ``fused_opt`` (None)
    of ``cfg`` for ``num_images`` (training + validation images, all cached) at ``img_size``, training a
    ``convnet`` or a transformer; return the config and a Choice per field."""
    choices: list[Choice] = []
    cache = cfg.data_cache
    if cache == "auto":
        cache, why = _auto_cache(num_images, img_size, cfg.aa, machine)
        choices.append(Choice("data_cache", cache, "auto", why))
    else:
        choices.append(Choice("data_cache", cache, "flag", "given"))
    proposed = _auto_cpu(cache, cfg.threads, cfg.workers, machine)
    values: dict[str, int | bool] = {}
    for name in ("threads", "workers"):
        given = getattr(cfg, name)
        if given is not None:
            choices.append(Choice(name, given, "flag", "given"))
            continue
        values[name], why = proposed[name]
        if name == "threads" and machine.max_threads and values[name] > machine.max_threads:
            values[name], why = (
                machine.max_threads,
                f"{why}; capped by torch's {machine.max_threads} (OMP_NUM_THREADS)",
            )
        choices.append(Choice(name, values[name], "auto", why))
    for name, auto in (
        ("channels_last", lambda: _auto_channels_last(convnet, machine)),
        ("fused_opt", lambda: _auto_fused(cfg.opt, machine)),
    ):
        given = getattr(cfg, name)
        if given is None:
            values[name], why = auto()
            choices.append(Choice(name, values[name], "auto", why))
        else:
            choices.append(Choice(name, given, "flag", "given"))
    return replace(cfg, data_cache=cache, **values), choices
