"""A newcomer's first hour (issue 14): which weights a run folder means, exports, messages, help texts."""

from __future__ import annotations

import json
import re
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


# ------------------------------------------------------------------------------------------------ help
def _parsers():
    import argparse

    from deit.cli.main import _all_parsers, build_parser

    for p in _all_parsers(build_parser()):
        yield (
            p,
            [a for a in p._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))],
        )


def test_every_option_has_help_and_shows_its_default() -> None:
    import argparse

    missing, no_default = [], []
    for parser, actions in _parsers():
        parser.format_help()  # formats without error
        assert parser.description, f"{parser.prog} has no description"
        for a in actions:
            name = f"{parser.prog} {'/'.join(a.option_strings) or a.dest}"
            if isinstance(a, argparse._VersionAction):
                continue
            if not a.help:
                missing.append(name)
            elif a.default not in (None, False, argparse.SUPPRESS) and "default" not in (
                parser._get_formatter()._get_help_string(a)
            ):
                no_default.append(name)
        for line in (parser.epilog or "").splitlines():  # a joined continuation line leaves a gap of spaces
            assert not re.search(r"\S {6,}--", line), f"{parser.prog}: example lines run together: {line}"
    assert not missing, f"options without help: {missing}"
    assert not no_default, f"options whose help hides the default: {no_default}"


def test_help_is_fast_no_torch_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from deit.cli.main import build_parser; build_parser();"
        "print(sorted(m for m in ('torch', 'timm', 'numpy', 'PIL', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_models_and_benchmark_report_the_same_gmacs(capsys) -> None:
    assert main(["models", "deit_nano_patch4_16", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    args = [
        "benchmark",
        "--model",
        "deit_nano_patch4_16",
        "-b",
        "1",
        "--warmup",
        "0",
        "--repeats",
        "1",
        "--json",
    ]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["gmacs_per_image"] == pytest.approx(row["gmacs"])
    assert main(["models", "deit_nano_patch4_16"]) == 0
    table = capsys.readouterr().out
    assert "GMACs" in table and f"{row['gmacs']:.4g}" in table and "0.00 " not in table


# -------------------------------------------------------------------------------------------- messages
def test_did_you_mean_lists_each_name_once(capsys) -> None:
    from deit.errors import ModelError

    for wrong in ("deit_tiny_distilled_patch16_32", "resnet1"):
        with pytest.raises(ModelError) as info:
            build_classifier(wrong, num_classes=10)
        names = str(info.value).split("did you mean: ")[1].rstrip("?").split(", ")
        assert len(names) == len(set(names)) > 1


def test_misspelt_teacher_is_the_only_message(tmp_path: Path, capsys) -> None:
    run = tmp_path / "r"
    args = ["train", *TINY, "--teacher", "tiny_cn", "--distillation-type", "hard", "--output", str(run)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--teacher tiny_cn: unknown model" in err and "tiny_cnn" in err
    assert "random weights" not in err and not run.exists()  # checked before anything else


def test_truncated_checkpoint_message_ends_with_a_whole_sentence(
    trained: Path, tmp_path: Path, capsys
) -> None:
    cut = tmp_path / "cut.pt"
    cut.write_bytes((trained / "best.pt").read_bytes()[:100_000])
    assert main(["eval", "--checkpoint", str(cut), "--data", "digits"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "truncated" in err and err.endswith((".)", "...)")), err


def test_default_workers_fit_the_machine() -> None:
    import os

    from deit.config import TrainConfig, default_workers

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_workers() == min(4, cores)
    assert TrainConfig().workers is None  # chosen at start with the data path (deit.data_path_choice)


def test_teacher_weights_and_finetune_accept_a_run_folder(trained: Path, tmp_path: Path, capsys) -> None:
    common = [*TINY, "--epochs", "1", "--max-steps-per-epoch", "1"]
    run = tmp_path / "ft"
    assert main(["train", *common, "--finetune", str(trained), "--output", str(run)]) == 0
    epoch = load_checkpoint(trained / "best.pt")["epoch"]
    assert f"fine-tuning from {trained / 'best.pt'} (epoch {epoch})" in (run / "log.txt").read_text()
    run = tmp_path / "kd"
    args = ["--teacher", NANO, "--teacher-weights", str(trained), "--distillation-type", "hard"]
    assert main(["train", *common, *args, "--output", str(run)]) == 0
    assert f"teacher weights: {trained / 'best.pt'} (epoch {epoch})" in (run / "log.txt").read_text()


# ------------------------------------------------------------------------------------------------ README
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_block(marker: str) -> str:
    """The Python code between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` in the README."""
    text = README.read_text(encoding="utf-8")
    block = text.split(f"<!-- {marker}:start -->", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow  # ~7 s on 2 cores: a 50 M-parameter student and a ResNet-50, exactly as the README has them
def test_readme_own_training_loop_runs_as_written() -> None:
    code = _readme_block("own-loop")
    torch.manual_seed(0)
    scope: dict = {}
    exec(compile(code, "README.md (own training loop)", "exec"), scope)
    student, parts = scope["student"], scope["parts"]
    assert student.distilled and student.embed_dim == 1024 and len(student.blocks) == 6
    assert student.pos_embed.shape[1] == (256 // 32) ** 2 + 2  # patches + class and distillation tokens
    assert set(parts) >= {"base", "distill", "total"} and torch.isfinite(parts["total"])
    assert scope["predictions"].shape == (2,)
    assert not any(p.requires_grad for p in scope["teacher"].parameters())


@pytest.mark.slow  # ~5 s: the released DeiT-S (22 M parameters) is generated and served from 127.0.0.1
def test_readme_python_api_runs_as_written(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The README's Python block, verbatim: released weights by name (from a local server standing in for
    the official URL), a run folder, deit eval's preprocessing of an image file; same answer as `deit predict`."""
    from PIL import Image
    from weights_server import forbid_internet, publish_model, serve

    from deit.models import create_model, hub

    name = "deit_small_distilled_patch16_224"
    for var in ("DEIT_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEIT_HOME", str(tmp_path / "home"))
    forbid_internet(monkeypatch)
    monkeypatch.setattr(hub, "RELEASED", dict(hub.RELEASED))
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "student").symlink_to(trained, target_is_directory=True)
    Image.new("RGB", (40, 30), (30, 200, 90)).save(tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    with serve() as server:
        monkeypatch.setenv("DEIT_WEIGHTS_URL", server.url + "/deit")
        filename, _ = publish_model(server, name, create_model(name).state_dict())
        hub.register_weights(name, filename)
        scope: dict = {}
        exec(compile(_readme_block("python-api"), "README.md (Python)", "exec"), scope)
    assert (tmp_path / "home" / "weights" / filename).is_file()  # the released file was fetched and cached
    logits, (cls_logits, dist_logits) = scope["logits"], (scope["cls_logits"], scope["dist_logits"])
    assert scope["images"].shape == (1, 3, 16, 16) and logits.shape == cls_logits.shape == (1, 10)
    torch.testing.assert_close(logits, (cls_logits + dist_logits) / 2)
    capsys.readouterr()
    assert main(["predict", "--checkpoint", "runs/student", "photo.png", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)["predictions"][0]["top"][0]
    probs = logits.detach().softmax(-1)[0]
    assert int(probs.argmax()) == top["index"] and float(probs.max()) == pytest.approx(top["prob"], abs=1e-6)


def test_readme_install_and_demo_time_claims() -> None:
    import subprocess
    import sys

    text = README.read_text(encoding="utf-8")
    assert "python -m pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in text
    assert "python -m pip install -e . && deit demo" in text
    claim = "about 3–4 minutes on 2 CPU cores"
    results = (README.parent / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    helptext = subprocess.run(
        [sys.executable, "-m", "deit", "demo", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for where, body in (("README.md", text), ("RESULTS.md", results), ("deit demo --help", helptext)):
        assert claim in " ".join(body.replace("3-4", "3–4").split()), where


# ---------------------------------------------------------------------------------------------- pictures
def test_curves_title_teacher_line_and_no_fused_for_a_cnn() -> None:
    import matplotlib.pyplot as plt

    from deit.plots import curves_figure

    student = [
        {
            "epoch": e,
            "train_loss": 2.0 / e,
            "val_fused_top1": 40.0 + e,
            "val_cls_top1": 39.0 + e,
            "val_dist_top1": 41.0 + e,
            "val_teacher_top1": 90.0,
        }
        for e in (1, 2)
    ]
    fig = curves_figure(student, "run: deit_tiny, hard distillation from teacher/best.pt")
    acc = fig.axes[1]
    labels = [t.get_text() for t in acc.get_legend().get_texts()]
    assert "teacher (90.0 %)" in labels and "fused (cls+dist)/2" in labels
    assert fig._suptitle.get_text().startswith("run: deit_tiny, hard distillation")
    plt.close(fig)
    cnn = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "val_fused_top1": 80.0}]
    fig = curves_figure(cnn)
    texts = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert not any("fused" in t for t in texts) and "model" in texts and "val loss (model)" in texts
    plt.close(fig)


def test_trained_run_curves_have_a_title(trained: Path) -> None:
    from deit.config import load_config_file
    from deit.trainer import Trainer

    assert (trained / "curves.png").is_file()
    t = Trainer.__new__(Trainer)  # the title needs only the config and the run folder
    t.cfg = load_config_file(trained / "config.yaml")
    from deit.checkpoint import RunFolder

    t.run = RunFolder(trained)
    assert t.curves_title() == f"run: {NANO}, no distillation"


def test_rollout_grid_has_a_colour_bar(tmp_path: Path, monkeypatch) -> None:
    import matplotlib.figure

    from deit.analysis.attention import plot_rollout_grid

    bars = []
    colorbar = matplotlib.figure.Figure.colorbar

    def record(self, *args, **kwargs):
        bars.append(colorbar(self, *args, **kwargs))
        return bars[-1]

    monkeypatch.setattr(matplotlib.figure.Figure, "colorbar", record)
    maps = {"cls": torch.rand(2, 4, 4), "dist": torch.rand(2, 4, 4)}
    assert plot_rollout_grid(torch.rand(2, 3, 16, 16), maps, tmp_path / "r.png", titles=["a", "b"]).is_file()
    assert len(bars) == 1 and "attention rollout" in bars[0].ax.get_ylabel()
    assert tuple(bars[0].mappable.get_clim()) == (0.0, 1.0)


def test_analyze_agreement_writes_where_out_says(trained: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "where"
    args = ["analyze", "agreement", "--checkpoints", str(trained), "--data", "digits", "--max-images", "16"]
    assert main([*args, "-j", "0", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["json"] == str(out / "agreement.json")
    assert (out / "agreement.json").is_file() and not (trained / "analysis").exists()
