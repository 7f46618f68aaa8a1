"""Hugging Face transformers interop, both ways, with small random models built from a config (no download)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
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


# ---------------------------------------------------------------- preprocessing: pipeline vs `deit predict`
CLASSES10 = [f"c{i}" for i in range(10)]
# Non-square (width, height) per model input size, 40 images each. Sizes whose resized long side minus the
# crop is 3 mod 4 are left out on purpose: there torchvision's CenterCrop (deit predict, rounding half to
# even) and transformers' (floor) start one pixel apart, which no preprocessor_config can change; tiny random
# models flip on some of those (181x333 at 224 px: 38/40, 45x33 at 32 px: 33/40; docs/COMMANDS.md).
PHOTO_SIZES = {
    224: [(300, 200), (200, 290), (257, 181), (181, 334)],
    48: [(64, 48), (50, 71), (80, 53), (49, 60)],
    32: [(40, 28), (28, 41), (44, 30), (33, 50)],
}


def _photos(folder: Path, img_size: int, n: int = 40) -> list[Path]:
    """Smooth random colour fields with a little noise: structure at every scale, like small photos."""
    from PIL import Image

    rng = np.random.default_rng(img_size)
    folder.mkdir()
    paths = []
    for i in range(n):
        w, h = PHOTO_SIZES[img_size][i % 4]
        coarse = rng.integers(0, 256, (max(h // 8, 2), max(w // 8, 2), 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BILINEAR), dtype=np.int16)
        img = np.clip(img + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
        paths.append(folder / f"{i:02d}.png")
        Image.fromarray(img).save(paths[-1])
    return paths


def _predict_top1(checkpoint: Path, folder: Path, capsys) -> dict[str, str]:
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(checkpoint), str(folder), "--topk", "1", "--json"]) == 0
    preds = json.loads(capsys.readouterr().out)["predictions"]
    return {Path(r["file"]).name: r["top"][0]["class"] for r in preds}


def _pipeline_top1(folder: Path, images: list[Path], backend: str | None = None) -> dict[str, str]:
    processor = transformers.AutoImageProcessor.from_pretrained(
        folder, **({"backend": backend} if backend else {})
    )
    classify = transformers.pipeline("image-classification", model=str(folder), image_processor=processor)
    return {p.name: out[0]["label"] for p, out in zip(images, classify([str(p) for p in images], top_k=1))}


def _agreement(a: dict[str, str], b: dict[str, str]) -> int:
    assert a.keys() == b.keys() and len(a) == 40
    assert len(set(a.values())) >= 5, "top-1 should spread over the classes, not be one class for most images"
    return sum(a[k] == b[k] for k in a)


def _spread(model: torch.nn.Module, img_size: int, biases: list[torch.Tensor]) -> torch.nn.Module:
    """Random weights (away from the zero-bias / unit-norm init) and class biases centred on smooth random
    inputs, so that top-1 spreads over the classes and follows the image instead of one dominant class."""
    gen = torch.Generator().manual_seed(img_size)
    x = torch.randn(64, 3, img_size // 8, img_size // 8, generator=gen)
    x = torch.nn.functional.interpolate(x, size=img_size, mode="bilinear")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
        logits = model.eval()(x)
        for bias in biases:  # both heads of a distilled model: their mean is the output
            bias.sub_(getattr(logits, "logits", logits).mean(0))
    return model


@pytest.mark.parametrize("img_size,patch", [(224, 32), (48, 8), (32, 8)])
def test_exported_folder_predicts_like_deit_predict(
    img_size: int, patch: int, tmp_path: Path, capsys
) -> None:
    """transformers.pipeline on `deit export --format hf` == `deit predict` on the run (the run's crop_pct)."""
    from deit.checkpoint import export_model

    kwargs = dict(embed_dim=32, depth=1, num_heads=2, mlp_ratio=2.0, img_size=img_size, patch_size=patch)
    name = "deit_tiny_distilled_patch16_224"
    torch.manual_seed(img_size)
    model = create_model(name, num_classes=10, **kwargs)
    _spread(model, img_size, [model.head.bias, model.head_dist.bias])
    meta = {
        "model_spec": {"name": name, "source": "deit", "kwargs": {**kwargs, "num_classes": 10}},
        "class_names": CLASSES10,
        "data_mean": [0.45, 0.5, 0.55],
        "data_std": [0.2, 0.25, 0.3],
        "img_size": img_size,
        "config": {"crop_pct": 0.8},  # not the 0.875 default: the export must carry the run's value
    }
    export_model(model.state_dict(), meta, tmp_path / "run")
    assert main(["export", "--checkpoint", str(tmp_path / "run"), "--format", "hf"]) == 0
    out = tmp_path / "run" / "export" / "hf"
    processor = json.loads((out / "preprocessor_config.json").read_text())
    assert processor["size"] == {"shortest_edge": img_size if img_size <= 32 else int(img_size / 0.8)}
    assert processor["crop_pct"] == 0.8 and processor["resample"] == 3
    images = _photos(tmp_path / "photos", img_size)
    ours = _predict_top1(tmp_path / "run", tmp_path / "photos", capsys)
    for backend in (None, "pil"):  # the pipeline's default (torchvision) and the PIL image processor
        agree = _agreement(ours, _pipeline_top1(out, images, backend))
        assert agree >= 39, f"{img_size} px, {backend or 'default'} backend: {agree}/40"


@pytest.mark.parametrize(
    "img_size,processor",
    [
        (224, dict(size={"height": 256, "width": 256}, crop_size={"height": 224, "width": 224})),  # squash
        (48, dict(size={"shortest_edge": 55}, crop_size={"height": 48, "width": 48}, resample=2)),
        (32, dict(do_center_crop=False, size={"height": 32, "width": 32}, image_mean=[0.4, 0.5, 0.6])),
    ],
)
def test_predict_reads_a_transformers_folder(img_size: int, processor: dict, tmp_path: Path, capsys) -> None:
    """`deit predict` on a transformers folder preprocesses as its preprocessor_config.json says."""
    config = {
        **SMALL,
        "image_size": img_size,
        "patch_size": 32 if img_size > 48 else 8,
        "num_hidden_layers": 1,
    }
    config.update(id2label=dict(enumerate(CLASSES10)), label2id={n: i for i, n in enumerate(CLASSES10)})
    torch.manual_seed(img_size)
    hf = transformers.DeiTForImageClassificationWithTeacher(transformers.DeiTConfig(**config))
    _spread(hf, img_size, [hf.cls_classifier.bias, hf.distillation_classifier.bias])
    hf.save_pretrained(tmp_path / "hf")
    transformers.DeiTImageProcessor(**processor).save_pretrained(tmp_path / "hf")
    images = _photos(tmp_path / "photos", img_size)
    agree = _agreement(
        _predict_top1(tmp_path / "hf", tmp_path / "photos", capsys), _pipeline_top1(tmp_path / "hf", images)
    )
    assert agree >= 39, f"{img_size} px: {agree}/40"


def test_eval_reads_a_transformers_folder(tmp_path: Path, capsys) -> None:
    """`deit eval` scores a transformers folder as its pipeline predicts: labels = the pipeline's top-1."""
    names = ["c0", "c1", "c2", "c3"]
    config = {**SMALL, "image_size": 48, "patch_size": 8, "num_hidden_layers": 1}
    config.update(id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    torch.manual_seed(4)
    hf = transformers.DeiTForImageClassificationWithTeacher(transformers.DeiTConfig(**config))
    _spread(hf, 48, [hf.cls_classifier.bias, hf.distillation_classifier.bias])
    hf.save_pretrained(tmp_path / "hf")
    processor = dict(size={"height": 60, "width": 60}, crop_size={"height": 48, "width": 48})  # a squash
    transformers.DeiTImageProcessor(**processor).save_pretrained(tmp_path / "hf")
    images = _photos(tmp_path / "photos", 48)
    labels = _pipeline_top1(tmp_path / "hf", images)
    assert set(labels.values()) == set(names)
    for path in images:  # an ImageFolder whose labels are the pipeline's predictions
        (tmp_path / "data" / labels[path.name]).mkdir(parents=True, exist_ok=True)
        path.rename(tmp_path / "data" / labels[path.name] / path.name)
    capsys.readouterr()
    argv = ["eval", "--checkpoint", str(tmp_path / "hf"), "--data", str(tmp_path / "data"), "--json"]
    assert main([*argv, "--split", "train"]) == 0
    assert json.loads(capsys.readouterr().out)["top1"] >= 39 / 40 * 100


def test_hf_processor_transform_equals_transformers_pixels(tmp_path: Path) -> None:
    """deit's reading of a preprocessor_config.json gives transformers' pixel_values (default backend)."""
    from PIL import Image

    from deit.data.hf_processor import processor_transform
    from deit.models.hf import read_image_processor

    transformers.DeiTImageProcessor(
        size={"shortest_edge": 40}, crop_size={"height": 36, "width": 36}, image_mean=[0.4, 0.5, 0.6]
    ).save_pretrained(tmp_path)
    image = Image.open(_photos(tmp_path / "photos", 32)[1])  # 28x41: the crop offsets are odd
    expected = transformers.AutoImageProcessor.from_pretrained(tmp_path)(image, return_tensors="pt")
    got = processor_transform(read_image_processor(tmp_path))(image)
    assert got.shape == (3, 36, 36)
    torch.testing.assert_close(got, expected["pixel_values"][0], atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------- export folders and the card
def _usage_blocks(readme: Path) -> dict[str, list[str]]:
    text = readme.read_text()
    usage = text[text.index("## Usage") :]
    return {lang: body.strip().splitlines() for lang, body in re.findall(r"```(\w+)\n(.*?)```", usage, re.S)}


def test_model_card_usage_runs_and_formats_keep_their_folders(tmp_path: Path, capsys, monkeypatch) -> None:
    from PIL import Image

    from deit.checkpoint import export_model

    torch.manual_seed(2)
    name = "deit_tiny_distilled_patch16_224"
    model = create_model(name, **_small_kwargs()).eval()
    meta = {"model_spec": {"name": name, "source": "deit", "kwargs": _small_kwargs()}, "class_names": LABELS}
    export_model(model.state_dict(), meta, tmp_path / "run")
    run = tmp_path / "run"
    for fmt in ("safetensors", "hf"):
        assert main(["export", "--checkpoint", str(run), "--format", fmt]) == 0
    # the transformers folder did not replace the deit export: each card's usage runs as written
    for folder in (run / "export", run / "export" / "hf"):
        monkeypatch.chdir(folder)
        Image.new("RGB", (50, 40), (200, 30, 10)).save("image.jpg")
        blocks = _usage_blocks(folder / "README.md")
        [command] = blocks["bash"]
        capsys.readouterr()
        assert main(shlex.split(command)[1:]) == 0
        assert "1 image(s) predicted" in capsys.readouterr().out
        if "python" in blocks:
            exec("\n".join(blocks["python"]), {})
            assert "'label':" in capsys.readouterr().out
    # and --out refuses to mix a transformers folder with a deit export, either way
    capsys.readouterr()
    assert main(["export", "--checkpoint", str(run), "--format", "hf", "--out", str(run / "export")]) == 2
    assert "holds a deit export (model.safetensors, model.json)" in capsys.readouterr().err
    out_hf = str(run / "export" / "hf")
    assert main(["export", "--checkpoint", str(run), "--format", "onnx", "--out", out_hf]) == 2
    assert "is a transformers folder" in capsys.readouterr().err
