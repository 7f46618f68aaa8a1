"""benchmarks/gpu_check.py --smoke: every part of the one-shot device check runs on CPU at tiny sizes."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peak_table_matches_device_names() -> None:
    gc = load_gpu_check()
    assert gc.peak_bf16_tflops("NVIDIA H100 80GB HBM3") == pytest.approx(989.4)
    assert gc.peak_bf16_tflops("NVIDIA H100 PCIe") == pytest.approx(756.0)
    assert gc.peak_bf16_tflops("NVIDIA H200") == pytest.approx(989.4)
    assert gc.peak_bf16_tflops("NVIDIA A100-SXM4-80GB") == pytest.approx(312.0)
    assert gc.peak_bf16_tflops("NVIDIA L4") == pytest.approx(121.0)
    assert gc.peak_bf16_tflops("Some Unknown Card") is None


@pytest.mark.slow(seconds=17)
def test_smoke_runs_every_part(tmp_path: Path) -> None:
    gc = load_gpu_check()
    rc = gc.main(["--smoke", "--out", str(tmp_path)])
    res = json.loads((tmp_path / "gpu_check.json").read_text())
    parts = res["parts"]
    assert set(parts) == {"inference", "train_step", "cifar10", "inference_compiled", "mfu"}
    assert rc == 0, {k: v.get("error") for k, v in parts.items()}
    assert all(p["status"] == "ok" for p in parts.values())
    assert len(parts["inference"]["rows"]) == 4 and all(
        r["deit_img_s"] > 0 for r in parts["inference"]["rows"]
    )
    assert parts["inference_compiled"]["rows"][0]["compile"] is True
    assert set(parts["train_step"]["img_s"]) == {
        "deit_distilled",
        "timm_token_distillation",
        "deit_undistilled",
    }
    assert parts["cifar10"]["per_epoch"][0]["val_top1"] is not None
    assert parts["mfu"]["gmacs_per_image"] > 0
    assert "| part | result |" in (tmp_path / "gpu_check.md").read_text()


def test_a_failing_part_is_recorded_and_the_others_run(tmp_path: Path) -> None:
    gc = load_gpu_check()
    rc = gc.main(["--smoke", "--out", str(tmp_path), "--parts", "cifar10", "mfu", "--teacher-lr", "-1"])
    parts = json.loads((tmp_path / "gpu_check.json").read_text())["parts"]
    assert rc == 1
    assert parts["cifar10"]["status"] == "error" and "lr" in parts["cifar10"]["error"]
    assert parts["mfu"]["status"] == "ok" and "skipped" in parts["mfu"]


def test_reproduce_cifar10_gpu_budget_uses_the_device_data_path(tmp_path: Path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("repro", ROOT / "benchmarks" / "reproduce_cifar10.py")
    repro = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(repro)
    data = tmp_path / "data"
    for c in ("a", "b"):  # names only: a dry run links files, it never reads them
        (data / c).mkdir(parents=True)
        for i in range(repro.VAL_PER_CLASS + 2):
            (data / c / f"{i:04d}.jpg").touch()
    assert (
        repro.main(["--budget", "gpu", "--dry-run", "--data", str(data), "--out", str(tmp_path / "o")]) == 0
    )
    commands = (tmp_path / "o" / "commands.sh").read_text()
    assert commands.count("--data-cache device") == 4  # teacher + none / soft / hard students
    assert "--device auto" in commands
