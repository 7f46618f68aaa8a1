"""A newcomer's first hour (issue 14): which weights a run folder means, exports, messages, help texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from deit.checkpoint import load_checkpoint, resolve_weights_file, save_checkpoint
from deit.cli.main import main
from deit.teacher import build_classifier

NANO = "deit_nano_distilled_patch4_16"
DIGITS = [str(i) for i in range(10)]
TINY = [
    "--data",
    "digits",
    "--model",
    NANO,
    "--img-size",
    "16",
    "-b",
    "32",
    "--workers",
    "0",
    "--max-steps-per-epoch",
    "3",
    "--aa",
    "none",
    "--no-repeated-aug",
    "--warmup-epochs",
    "0",
    "--log-interval",
    "1000",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real two-epoch run folder (validation every epoch, so best.pt exists)."""
    run = tmp_path_factory.mktemp("newcomer") / "run"
    assert main(["train", *TINY, "--epochs", "2", "--lr", "0.05", "--output", str(run)]) == 0
    return run


def test_run_folder_means_one_file_and_commands_print_it(trained: Path, tmp_path: Path, capsys) -> None:
    best = load_checkpoint(trained / "best.pt")
    exported = load_file(str(trained / "model.safetensors"))
    assert set(exported) == set(best["model"])
    assert all(torch.equal(exported[k], best["model"][k]) for k in exported)  # the same weights
    last = load_checkpoint(trained / "last.pt")
    assert best["epoch"] == 2 or any(not torch.equal(exported[k], last["model"][k]) for k in exported)
    assert json.loads((trained / "model.json").read_text())["epoch"] == best["epoch"]
    assert resolve_weights_file(trained) == trained / "best.pt"
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(trained), "--data", "digits", "--json"]) == 0
    err = capsys.readouterr().err
    assert f"weights: {trained / 'best.pt'} (epoch {best['epoch']}" in err
    # predict on the folder and on its export: same weights, same answer
    img = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (16, 16), (200, 10, 10)).save(img)
    outs = []
    for ckpt in (trained, trained / "model.safetensors"):
        assert main(["predict", "--checkpoint", str(ckpt), str(img), "--json"]) == 0
        captured = capsys.readouterr()
        assert "weights: " in captured.err
        outs.append(json.loads(captured.out)["predictions"][0]["top"])
    assert outs[0] == outs[1]


def test_export_carries_what_eval_needs_and_one_card_for_both(trained: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "release"
    assert main(["export", "--checkpoint", str(trained), "--format", "onnx", "--out", str(out)]) == 0
    assert main(["export", "--checkpoint", str(trained), "--format", "safetensors", "--out", str(out)]) == 0
    card = (out / "README.md").read_text()
    assert "`model.onnx`" in card and "`model.safetensors`" in card and "ort.InferenceSession" in card
    meta = json.loads((out / "model.json").read_text())
    assert meta["config"]["val_split"] == 0.0 and meta["config"]["split_seed"] == 0
    capsys.readouterr()
    # digits has its own held-out split; a generated folder needs the recorded --val-split
    assert main(["eval", "--checkpoint", str(out / "model.safetensors"), "--data", "digits", "--json"]) == 0
    from_export = json.loads(capsys.readouterr().out)
    assert main(["eval", "--checkpoint", str(trained / "best.pt"), "--data", "digits", "--json"]) == 0
    from_pt = json.loads(capsys.readouterr().out)
    assert from_export["samples"] == from_pt["samples"] == 360
    assert from_export["fused_top1"] == pytest.approx(from_pt["fused_top1"])


def test_export_val_split_travels(tmp_path: Path, capsys) -> None:
    """An export of a run on a folder without val/ evaluates on the same held-out images, no flag needed."""
    from PIL import Image

    data = tmp_path / "data"
    for c, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        (data / f"c{c}").mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (16, 16), tuple(max(0, v - 9 * i) for v in colour)).save(
                data / f"c{c}" / f"{i}.png"
            )
    torch.manual_seed(0)
    model, spec = build_classifier(NANO, num_classes=2, img_size=16)
    cfg = {"data": str(data), "val_split": 0.3, "split_seed": 3}
    save_checkpoint(
        {
            "model": model.state_dict(),
            "model_spec": spec.to_dict(),
            "class_names": ["c0", "c1"],
            "img_size": 16,
            "epoch": 4,
            "config": cfg,
        },
        tmp_path / "m.pt",
    )
    out = tmp_path / "exp"
    assert (
        main(["export", "--checkpoint", str(tmp_path / "m.pt"), "--format", "safetensors", "--out", str(out)])
        == 0
    )
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(out / "model.safetensors"), "--data", str(data), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["samples"] == 6
    assert "(epoch 4" in captured.err


def test_onnx_opset_too_old_is_one_clean_line(trained: Path, tmp_path: Path, capfd) -> None:
    out = tmp_path / "o"
    assert (
        main(["export", "--checkpoint", str(trained), "--format", "onnx", "--opset", "9", "--out", str(out)])
        == 2
    )
    captured = capfd.readouterr()
    assert "--opset 9" in captured.err and "14" in captured.err
    assert len(captured.err) + len(captured.out) < 1000


def test_exporter_failure_output_is_silenced(tmp_path: Path, capfd) -> None:
    """Any other exporter failure: the graph torch prints from C++ never reaches the terminal."""
    from deit.export import ExportError, export_onnx

    class Attn(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q = x.flatten(2).transpose(1, 2)
            return torch.nn.functional.scaled_dot_product_attention(q, q, q).mean(1)

    with pytest.raises(ExportError, match="opset 9"):
        export_onnx(Attn(), tmp_path / "m.onnx", img_size=4, opset=9)
    captured = capfd.readouterr()
    assert "graph(" not in captured.out + captured.err
