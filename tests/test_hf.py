"""Hugging Face transformers interop, both ways, with small random models built from a config (no download)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from deit.cli.main import main
from deit.models import create_model
from deit.models.loading import load_model, load_model_and_meta, load_weights

transformers = pytest.importorskip("transformers")

LABELS = ["cat", "dog", "fish"]
SMALL = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    image_size=32,
    patch_size=8,
    id2label=dict(enumerate(LABELS)),
    label2id={n: i for i, n in enumerate(LABELS)},
)


def hf_model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "vit":
        model = transformers.ViTForImageClassification(transformers.ViTConfig(**SMALL))
    else:
        config = transformers.DeiTConfig(**SMALL)
        cls = getattr(transformers, kind)
        model = cls(config)
    with torch.no_grad():  # a random init with zero biases / unit norms would hide mapping mistakes
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def hf_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(pixel_values=x).logits


@pytest.mark.parametrize(
    "kind", ["DeiTForImageClassificationWithTeacher", "DeiTForImageClassification", "vit"]
)
def test_transformers_folder_loads_with_equal_logits(kind: str, tmp_path: Path) -> None:
    ref = hf_model(kind)
    ref.save_pretrained(tmp_path / "hf")
    model, meta = load_model_and_meta(tmp_path / "hf")
    assert model.norm.eps == pytest.approx(1e-12)  # the config's epsilon, not timm's 1e-6
    assert meta["class_names"] == LABELS
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        ours = model(x)
    torch.testing.assert_close(ours, hf_logits(ref, x), atol=1e-4, rtol=0)


def test_transformers_4_key_names_are_read_too(tmp_path: Path) -> None:
    ref = hf_model("DeiTForImageClassificationWithTeacher")
    legacy = {}
    for key, value in ref.state_dict().items():  # transformers 4.x names of the same tensors
        key = re.sub(r"\.layers\.(\d+)\.", r".encoder.layer.\1.", key)
        key = key.replace(".attention.q_proj.", ".attention.attention.query.")
        key = key.replace(".attention.k_proj.", ".attention.attention.key.")
        key = key.replace(".attention.v_proj.", ".attention.attention.value.")
        key = key.replace(".attention.o_proj.", ".attention.output.dense.")
        key = key.replace(".mlp.fc1.", ".intermediate.dense.").replace(".mlp.fc2.", ".output.dense.")
        legacy[key] = value.contiguous()
    folder = tmp_path / "v4"
    folder.mkdir()
    save_file(legacy, str(folder / "model.safetensors"))
    ref.config.save_pretrained(folder)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(load_model(folder)(x), hf_logits(ref, x), atol=1e-4, rtol=0)
    # a transformers folder is accepted as starting weights too (--finetune)
    student = create_model("deit_tiny_distilled_patch16_224", **_small_kwargs())
    load_weights(student, folder)
    assert torch.equal(student.dist_token, ref.deit.embeddings.distillation_token)


def _small_kwargs() -> dict:
    return dict(embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0, img_size=32, patch_size=8, num_classes=3)


@pytest.mark.parametrize("distilled", [True, False])
def test_export_hf_loads_in_transformers_with_equal_logits(distilled: bool, tmp_path: Path) -> None:
    from deit.checkpoint import export_model

    torch.manual_seed(1)
    name = "deit_tiny_distilled_patch16_224" if distilled else "deit_tiny_patch16_224"
    model = create_model(name, **_small_kwargs()).eval()
    meta = {
        "model_spec": {"name": name, "source": "deit", "kwargs": _small_kwargs()},
        "class_names": LABELS,
        "data_mean": [0.5, 0.5, 0.5],
        "data_std": [0.25, 0.25, 0.25],
        "img_size": 32,
    }
    export_model(model.state_dict(), meta, tmp_path / "run")
    out = tmp_path / "hf"
    assert main(["export", "--checkpoint", str(tmp_path / "run"), "--format", "hf", "--out", str(out)]) == 0
    hf = transformers.AutoModelForImageClassification.from_pretrained(out).eval()
    expected = "DeiTForImageClassificationWithTeacher" if distilled else "ViTForImageClassification"
    assert type(hf).__name__ == expected
    assert [hf.config.id2label[i] for i in range(3)] == LABELS
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(hf_logits(hf, x), model(x), atol=1e-4, rtol=0)
    processor = json.loads((out / "preprocessor_config.json").read_text())
    assert processor["image_mean"] == [0.5, 0.5, 0.5] and processor["crop_size"]["height"] == 32
    # and back: the exported folder is a checkpoint for every command
    with torch.no_grad():
        torch.testing.assert_close(load_model(out)(x), model(x), atol=1e-4, rtol=0)


def test_predict_reads_a_transformers_folder(tmp_path: Path, capsys) -> None:
    from PIL import Image

    hf_model("DeiTForImageClassificationWithTeacher").save_pretrained(tmp_path / "hf")
    Image.new("RGB", (40, 40), (10, 200, 10)).save(tmp_path / "x.png")
    assert main(["predict", "--checkpoint", str(tmp_path / "hf"), str(tmp_path / "x.png"), "--json"]) == 0
    top = json.loads(capsys.readouterr().out)["predictions"][0]["top"]
    assert sorted(t["class"] for t in top) == sorted(LABELS)
