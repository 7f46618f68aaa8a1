"""`deit benchmark`, `deit predict`, `deit export` (ONNX + safetensors) on tiny models and generated images."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from deit.checkpoint import load_model_from_checkpoint, save_checkpoint
from deit.cli.main import main
from deit.errors import UnsafeCheckpointError
from deit.teacher import build_classifier

DIGITS = [str(i) for i in range(10)]
NANO = "deit_nano_distilled_patch4_16"


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder with a deit-train-v1 checkpoint of a randomly initialised distilled nano DeiT."""
    root = tmp_path_factory.mktemp("tools_run")
    torch.manual_seed(0)
    model, spec = build_classifier(NANO, num_classes=10, img_size=16)
    save_checkpoint(
        {
            "format": "deit-train-v1",
            "model": model.state_dict(),
            "model_spec": spec.to_dict(),
            "class_names": DIGITS,
            "data_mean": [0.5, 0.5, 0.5],
            "data_std": [0.25, 0.25, 0.25],
            "img_size": 16,
            "epoch": 2,
            "config": {"data": "digits", "epochs": 3, "lr": 5e-4, "seed": 0, "distillation_type": "hard"},
            "metrics": {"top1": 12.5, "cls_top1": 11.0},
        },
        root / "best.pt",
    )
    return root


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    Image.new("RGB", (16, 16), (255, 0, 0)).save(folder / "red.png")
    Image.new("L", (30, 20), 128).save(folder / "grey.jpg")
    Image.new("RGBA", (24, 24), (0, 0, 255, 100)).save(folder / "sub" / "blue.webp")
    (folder / "notes.txt").write_text("not an image, and no image extension: ignored in folders")
    return folder


# ------------------------------------------------------------------------------------------- benchmark
BENCH_KEYS = {
    "model",
    "mode",
    "device",
    "amp",
    "compile",
    "batch_size",
    "img_size",
    "img_per_s",
    "img_per_s_min",
    "img_per_s_max",
    "gflops_per_image",
    "step_gflops_per_image",
    "achieved_tflops",
    "peak_memory_mb",
    "memory_method",
    "flops_convention",
    "params_m",
    "repeats",
    "teacher",
}


def test_benchmark_infer_json(capsys: pytest.CaptureFixture) -> None:
    from deit.models import create_model, macs_per_image

    rc = main(
        [
            "benchmark",
            "--model",
            NANO,
            "-b",
            "2",
            "--num-classes",
            "10",
            "--device",
            "cpu",
            "--warmup",
            "1",
            "--repeats",
            "2",
            "--teacher",
            "tiny_cnn",
            "--json",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert BENCH_KEYS <= set(report)
    assert report["img_size"] == 16 and report["repeats"] == 2 and report["mode"] == "infer"
    assert report["img_per_s_min"] <= report["img_per_s"] <= report["img_per_s_max"]
    expected = 2 * macs_per_image(create_model(NANO, num_classes=10)) / 1e9
    assert report["gflops_per_image"] == pytest.approx(expected)
    assert report["run_gflops_per_image"] < expected  # the last block updates only the two prefix tokens
    assert report["achieved_tflops"] == pytest.approx(
        report["img_per_s"] * report["run_gflops_per_image"] / 1e3
    )
    assert report["teacher_result"]["gflops_per_image"] > 0  # infer mode times the teacher on its own


def test_benchmark_train_with_teacher_and_timm(capsys: pytest.CaptureFixture) -> None:
    rc = main(
        [
            "benchmark",
            "--model",
            NANO,
            "--teacher",
            "tiny_cnn",
            "--mode",
            "train",
            "-b",
            "2",
            "--num-classes",
            "10",
            "--device",
            "cpu",
            "--warmup",
            "1",
            "--repeats",
            "2",
            "--compare",
            "timm",
            "--json",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["teacher"] == "tiny_cnn" and report["mode"] == "train"
    assert report["step_gflops_per_image"] > 3 * report["run_gflops_per_image"]  # + the teacher's forward
    timm_result = report["compare"]["timm"]
    assert timm_result["params_m"] == pytest.approx(report["params_m"])  # the same architecture
    assert timm_result["gflops_per_image"] == pytest.approx(report["gflops_per_image"])  # one FLOP count
    assert timm_result["run_gflops_per_image"] == pytest.approx(timm_result["gflops_per_image"])
    # one memory count: the same weights, optimizer state and batch; only activations differ a little
    assert 0.5 < timm_result["peak_memory_mb"] / report["peak_memory_mb"] < 2.0
    assert report["compare"]["ratio_img_per_s"] == pytest.approx(
        report["img_per_s"] / timm_result["img_per_s"]
    )
    rc = main(
        [
            "benchmark",
            "--model",
            "tiny_cnn",
            "--img-size",
            "16",
            "-b",
            "2",
            "--num-classes",
            "10",
            "--device",
            "cpu",
            "--warmup",
            "0",
            "--repeats",
            "1",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and "GMACs/img" in text and "run GMACs" in text and "2 x MACs" in text


def test_cpu_peak_memory_counts_the_tensors_a_pass_holds() -> None:
    from deit.analysis.benchmark import peak_memory_mb

    model, images = torch.nn.Linear(256, 256), torch.zeros(4, 256)  # 257 KiB of weights, 4 KiB of input
    static = (256 * 257 + 4 * 256) * 4 / 2**20

    def two_mib_at_once() -> None:
        a = torch.ones(2**18, dtype=torch.float32)  # 1 MiB
        b = a * 2  # 1 MiB more while a lives
        del a, b

    peak = peak_memory_mb(two_mib_at_once, torch.device("cpu"), model, images, calls=3)
    assert peak == pytest.approx(static + 2.0)  # freed between calls: the peak of one call, not of three


# --------------------------------------------------------------------------------------------- predict
def test_predict_with_corrupt_file(run_dir: Path, images: Path, capsys: pytest.CaptureFixture) -> None:
    bad = images / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(run_dir),
            str(images),
            str(images / "notes.txt"),
            "--topk",
            "3",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 1
    report = json.loads(captured.out)
    assert sorted(Path(p["file"]).name for p in report["predictions"]) == ["blue.webp", "grey.jpg", "red.png"]
    assert {Path(e["file"]).name for e in report["errors"]} == {"corrupt.png", "notes.txt"}
    assert f"{bad}:" in captured.err and "notes.txt" in captured.err
    for p in report["predictions"]:
        probs = [t["prob"] for t in p["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6
        assert all(t["class"] in DIGITS for t in p["top"])
    model, _ = load_model_from_checkpoint(run_dir)
    x = (torch.full((1, 3, 16, 16), 1.0) - 0.5) / 0.25 * torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = model(x).softmax(-1)[0]  # red image: (1 - .5)/.25 = 2 on R, (0 - .5)/.25 = -2 on G, B
    red = next(p for p in report["predictions"] if p["file"].endswith("red.png"))
    assert red["top"][0]["prob"] == pytest.approx(expected.max().item(), abs=1e-5)


def test_predict_all_good_exit_zero(run_dir: Path, images: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["predict", "--checkpoint", str(run_dir / "best.pt"), str(images / "red.png"), "--topk", "20"])
    text = capsys.readouterr().out
    assert rc == 0 and "red.png" in text and "10. " in text and "11. " not in text


class Evil:
    def __reduce__(self):
        return (print, ("unsafe code ran",))


def test_predict_hostile_checkpoint(tmp_path: Path, images: Path, capsys: pytest.CaptureFixture) -> None:
    hostile = tmp_path / "evil.pt"
    hostile.write_bytes(pickle.dumps({"model": Evil()}))
    from deit.cli import predict

    args = predict.argparse.Namespace(
        checkpoint=str(hostile),
        images=[str(images)],
        model=None,
        topk=5,
        batch_size=4,
        device="cpu",
        use_ema=False,
        json=False,
    )
    with pytest.raises(UnsafeCheckpointError, match="not a safe checkpoint"):
        predict.run(args)
    args.model = NANO  # official/timm weights path (deit.models.weights) must refuse it too
    with pytest.raises(UnsafeCheckpointError):
        predict.run(args)
    assert main(["predict", "--checkpoint", str(hostile), str(images)]) == 2
    captured = capsys.readouterr()
    assert "unsafe code ran" not in captured.out and str(hostile) in captured.err


# ---------------------------------------------------------------------------------------------- export
def test_export_onnx_parity(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    rc = main(["export", "--checkpoint", str(run_dir), "--format", "onnx", "--out", str(out), "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["max_abs_diff"]) == {"1", "3"} and max(report["max_abs_diff"].values()) <= 1e-4
    assert (out / "model.onnx").is_file() and "onnxruntime" in (out / "README.md").read_text()

    import onnx
    import onnxruntime as ort

    meta = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert json.loads(meta["deit"])["class_names"] == DIGITS
    model, _ = load_model_from_checkpoint(run_dir)
    x = torch.randn(5, 3, 16, 16)
    got = ort.InferenceSession(str(out / "model.onnx")).run(None, {"images": x.numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model(x), atol=1e-4, rtol=0)


def test_onnx_tolerance_enforced_and_missing_dependency(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    from deit.export import ExportError, check_onnx, export_onnx

    model, _ = load_model_from_checkpoint(run_dir)
    path = export_onnx(model, tmp_path / "m.onnx", img_size=16)
    with torch.no_grad():
        model.head.bias.add_(0.5)  # the PyTorch model no longer matches the file
    with pytest.raises(ExportError, match="differs from PyTorch"):
        check_onnx(model, path, img_size=16, atol=1e-4)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ExportError, match=r"pip install 'deit\[onnx\]'"):
        check_onnx(model, path, img_size=16)


def test_export_safetensors_and_card(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(
        [
            "export",
            "--checkpoint",
            str(run_dir / "best.pt"),
            "--format",
            "safetensors",
            "--out",
            str(tmp_path / "st"),
        ]
    )
    assert rc == 0 and "model.safetensors" in capsys.readouterr().out
    meta = json.loads((tmp_path / "st" / "model.json").read_text())
    assert meta["format"] == "deit-export-v1" and meta["class_names"] == DIGITS and meta["img_size"] == 16
    card = (tmp_path / "st" / "README.md").read_text()
    assert NANO in card and "parameters:" in card and "| top1 | 12.5 |" in card and "| lr | 0.0005 |" in card
    original, _ = load_model_from_checkpoint(run_dir)
    exported, exported_meta = load_model_from_checkpoint(tmp_path / "st" / "model.safetensors")
    assert exported_meta["data_mean"] == [0.5, 0.5, 0.5]
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), original(x))


def test_export_bad_checkpoint_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "missing_run"
    assert main(["export", "--checkpoint", str(missing), "--format", "onnx"]) == 2
    assert str(missing) in capsys.readouterr().err
