"""deit.analysis (token cosine, agreement, attention rollout) and `deit analyze` on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from deit.analysis.agreement import (
    Renormalised,
    collect_predictions,
    disagreement_matrix,
    model_outputs,
    to_markdown,
)
from deit.analysis.attention import attention_rollout, rollout_maps
from deit.analysis.tokens import TokenCosine, token_cosine
from deit.checkpoint import save_checkpoint
from deit.cli.main import main
from deit.errors import ModelError
from deit.models import create_model
from deit.teacher import build_classifier

DIGITS = [str(i) for i in range(10)]
NANO = "deit_nano_distilled_patch4_16"
NANO_PLAIN = "deit_nano_patch4_16"


def make_checkpoint(folder: Path, name: str = NANO, seed: int = 0) -> Path:
    """A deit-train-v1 checkpoint of a randomly initialised model (what `deit train` writes, minus optimizer)."""
    torch.manual_seed(seed)
    model, spec = build_classifier(name, num_classes=10, img_size=16)
    path = folder / "best.pt"
    save_checkpoint(
        {
            "format": "deit-train-v1",
            "model": model.state_dict(),
            "model_spec": spec.to_dict(),
            "class_names": DIGITS,
            "data_mean": [0.485, 0.456, 0.406],
            "data_std": [0.229, 0.224, 0.225],
            "img_size": 16,
            "epoch": 0,
            "config": {"data": "digits", "val_split": 0.0, "seed": 0},
            "metrics": {"top1": 10.0},
        },
        path,
    )
    return path


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("analysis_runs")
    out = {}
    for label, name, seed in (("deit_dist", NANO, 0), ("deit_plain", NANO_PLAIN, 1)):
        (root / label).mkdir()
        make_checkpoint(root / label, name, seed)
        out[label] = root / label
    return out


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated ImageFolder with train/ and val/ (10 classes named like digits; faster than sklearn digits)."""
    root = tmp_path_factory.mktemp("analysis_data")
    gen = torch.Generator().manual_seed(0)
    for split, per_class in (("train", 1), ("val", 4)):
        for c in DIGITS:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                pixels = (torch.rand(12 + i, 14, 3, generator=gen) * 255).to(torch.uint8).numpy()
                Image.fromarray(pixels).save(root / split / c / f"{i}.png")
    return root


@pytest.fixture
def loader() -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    return [
        (torch.randn(5, 3, 16, 16, generator=gen), torch.randint(0, 10, (5,), generator=gen))
        for _ in range(2)
    ]


# ------------------------------------------------------------------------------------------ token cosine
def test_token_cosine_shapes_and_dict(loader: list) -> None:
    model = create_model(NANO, num_classes=10)
    result = token_cosine(model, loader)
    assert isinstance(result, TokenCosine)
    assert len(result.per_layer) == len(model.blocks) + 1 == len(result.per_layer_std)
    assert result.samples == 10 and 0.0 <= result.head_agreement <= 1.0
    assert all(-1.0 - 1e-6 <= v <= 1.0 + 1e-6 for v in result.per_layer)
    assert result.per_layer_std[0] < 1e-6  # the input tokens do not depend on the image
    assert set(result.to_dict()) == {"per_layer", "per_layer_std", "head_cosine", "head_agreement", "samples"}
    assert token_cosine(model, loader, max_batches=1).samples == 5


def test_token_cosine_identical_tokens_is_one(loader: list) -> None:
    model = create_model(NANO, num_classes=10)
    with torch.no_grad():
        model.dist_token.copy_(model.cls_token)
        model.pos_embed[:, 1].copy_(model.pos_embed[:, 0])
        model.head_dist.load_state_dict(model.head.state_dict())
    result = token_cosine(model, loader)
    assert result.per_layer[0] == pytest.approx(1.0, abs=1e-5)
    assert result.per_layer[-1] == pytest.approx(1.0, abs=1e-4)  # identical tokens stay identical
    assert result.head_cosine == pytest.approx(1.0, abs=1e-5) and result.head_agreement == 1.0


def test_token_cosine_needs_distillation_token(loader: list) -> None:
    with pytest.raises(ModelError, match="distillation token"):
        token_cosine(create_model(NANO_PLAIN, num_classes=10), loader)


# ------------------------------------------------------------------------------------------ agreement
def test_disagreement_with_itself_is_zero_and_symmetric(loader: list) -> None:
    model = create_model(NANO, num_classes=10).eval()
    plain = create_model(NANO_PLAIN, num_classes=10).eval()
    outputs = {**model_outputs("a", model), **model_outputs("b", model), **model_outputs("p", plain)}
    assert list(outputs) == ["a:cls", "a:dist", "a:fused", "b:cls", "b:dist", "b:fused", "p"]
    preds, targets = collect_predictions(outputs, loader, "cpu")
    assert targets.shape == (10,) and all(v.shape == (10,) for v in preds.values())
    with torch.no_grad():
        x = torch.cat([b[0] for b in loader])
        assert torch.equal(preds["a:fused"], model(x).argmax(-1))
        assert torch.equal(preds["a:dist"], model.forward_heads(x)[1].argmax(-1))
    m = disagreement_matrix(preds)
    for k in ("cls", "dist", "fused"):
        assert m[f"a:{k}"][f"b:{k}"] == 0.0
    for a in m:
        assert m[a][a] == 0.0
        for b in m:
            assert m[a][b] == m[b][a] and 0.0 <= m[a][b] <= 1.0
    assert "| a:cls |" in to_markdown(m)


def test_disagreement_values() -> None:
    preds = {
        "x": torch.tensor([0, 1, 2, 3]),
        "y": torch.tensor([0, 1, 0, 0]),
        "z": torch.tensor([1, 1, 2, 3]),
    }
    m = disagreement_matrix(preds)
    assert m["x"]["y"] == 0.5 and m["x"]["z"] == 0.25 and m["y"]["z"] == 0.75
    with pytest.raises(ModelError, match="different lengths"):
        disagreement_matrix({"x": torch.zeros(3), "y": torch.zeros(4)})


def test_renormalised_matches_direct_normalisation() -> None:
    model = create_model(NANO, num_classes=10).eval()
    raw = torch.rand(2, 3, 16, 16)
    a_mean, a_std, b_mean, b_std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), (0.4, 0.45, 0.4), (0.2, 0.3, 0.2)
    norm = lambda x, m, s: (x - torch.tensor(m).view(1, 3, 1, 1)) / torch.tensor(s).view(1, 3, 1, 1)  # noqa: E731
    wrapped = Renormalised(model, a_mean, a_std, b_mean, b_std)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(norm(raw, a_mean, a_std)), model(norm(raw, b_mean, b_std)))


# ------------------------------------------------------------------------------------ attention rollout
def test_rollout_rows_sum_to_one_and_shapes() -> None:
    attn = [torch.rand(2, 3, 6, 6).softmax(-1) for _ in range(4)]
    roll = attention_rollout(attn)
    assert roll.shape == (2, 6, 6)
    torch.testing.assert_close(roll.sum(-1), torch.ones(2, 6))
    assert (roll >= 0).all()
    # one block with uniform attention: 0.5 * I + 0.5 * uniform after renormalisation
    single = attention_rollout([torch.full((1, 2, 4, 4), 0.25)])
    torch.testing.assert_close(single[0], 0.5 * torch.eye(4) + 0.125)
    with pytest.raises(ModelError):
        attention_rollout([torch.rand(2, 6, 6)])


def test_rollout_maps_from_model() -> None:
    model = create_model(NANO, num_classes=10)
    maps = rollout_maps(model, torch.randn(3, 3, 16, 16))
    assert set(maps) == {"cls", "dist"} and maps["cls"].shape == (3, 4, 4) == maps["dist"].shape
    assert (maps["cls"].sum((-1, -2)) <= 1.0 + 1e-5).all() and (maps["cls"] >= 0).all()
    assert model.training  # the mode is restored
    plain = rollout_maps(create_model(NANO_PLAIN, num_classes=10), torch.randn(1, 3, 16, 16))
    assert set(plain) == {"cls"}
    cnn, _ = build_classifier("tiny_cnn", num_classes=10, img_size=16)
    with pytest.raises(ModelError, match="attention"):
        rollout_maps(cnn, torch.randn(1, 3, 16, 16))


# ------------------------------------------------------------------------------------------------- CLI
def test_cli_tokens(
    runs: dict[str, Path], data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "tok"
    rc = main(
        [
            "analyze",
            "tokens",
            "--checkpoint",
            str(runs["deit_dist"]),
            "--data",
            str(data_dir),
            "--max-images",
            "30",
            "-b",
            "16",
            "-j",
            "0",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 30 and len(report["per_layer"]) == 5
    assert report["paper"] == {"input": 0.06, "last_layer": 0.93}
    assert (out / "token_cosine.png").stat().st_size > 0 and (out / "token_cosine.json").is_file()
    rc = main(
        [
            "analyze",
            "tokens",
            "--checkpoint",
            str(runs["deit_dist"]),
            "--data",
            str(data_dir),
            "--max-images",
            "8",
            "-j",
            "0",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and "after block 4" in text and "0.93" in text and "head outputs" in text


def test_cli_tokens_errors(
    runs: dict[str, Path], data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rc = main(
        [
            "analyze",
            "tokens",
            "--checkpoint",
            str(runs["deit_plain"]),
            "--data",
            str(data_dir),
            "--max-images",
            "4",
            "-j",
            "0",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 2 and "distillation token" in capsys.readouterr().err
    missing = tmp_path / "nope" / "best.pt"
    rc = main(
        ["analyze", "tokens", "--checkpoint", str(missing), "--data", str(data_dir), "--out", str(tmp_path)]
    )
    assert rc == 2 and str(missing) in capsys.readouterr().err


def test_cli_agreement(
    runs: dict[str, Path], data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "agree"
    rc = main(
        [
            "analyze",
            "agreement",
            "--checkpoints",
            str(runs["deit_plain"]),
            str(runs["deit_dist"] / "best.pt"),
            "--teacher",
            "tiny_cnn",
            "--data",
            str(data_dir),
            "--max-images",
            "30",
            "-j",
            "0",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    m = report["disagreement"]
    assert list(m) == ["teacher", "deit_plain", "deit_dist:cls", "deit_dist:dist", "deit_dist:fused"]
    assert report["samples"] == 30 and all(m[a][b] == m[b][a] for a in m for b in m)
    assert json.loads((out / "agreement.json").read_text())["disagreement"] == m
    rc = main(
        [
            "analyze",
            "agreement",
            "--checkpoints",
            str(runs["deit_dist"]),
            str(runs["deit_dist"]),
            "--names",
            "A",
            "B",
            "--data",
            str(data_dir),
            "--max-images",
            "10",
            "-j",
            "0",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and "| A:cls | 0.00 |" in text and "| B:fused |" in text
    rc = main(
        [
            "analyze",
            "agreement",
            "--checkpoints",
            str(runs["deit_dist"]),
            "--names",
            "A",
            "B",
            "--data",
            str(data_dir),
            "--out",
            str(out),
        ]
    )
    assert rc == 2 and "--names" in capsys.readouterr().err


def test_cli_attention(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    images = tmp_path / "imgs"
    images.mkdir()
    for i, size in enumerate((16, 40, 23)):
        Image.new("RGB", (size, size + i), (30 * i, 100, 200)).save(images / f"img{i}.png")
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    out = tmp_path / "att"
    rc = main(
        [
            "analyze",
            "attention",
            "--checkpoint",
            str(runs["deit_dist"]),
            "--images",
            str(images),
            "--per-grid",
            "2",
            "--out",
            str(out),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 1 and "broken.jpg" in captured.err
    report = json.loads(captured.out)
    assert len(report["images"]) == 3 and len(report["png"]) == 2
    assert all(Path(p).stat().st_size > 0 for p in report["png"])
