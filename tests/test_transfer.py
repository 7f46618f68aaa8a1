"""The transfer-with-distillation flow of docs/RECIPES.md, end to end on CPU: generated 'released' weights
served on 127.0.0.1, a tiny generated dataset, `-c transfer` for the teacher and the distilled student."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from weights_server import forbid_internet, publish_model, serve

from deit.cli.main import main
from deit.config import load_config
from deit.models import create_model, hub
from deit.models.cnn import CNN_MODELS

STUDENT = "deit_nano_distilled_patch4_16"
FAST = ["--epochs", "1", "--warmup-epochs", "0", "-b", "8", "-j", "0", "--no-repeated-aug", "--aa", "none"]
FAST += ["--img-size", "32", "--val-split", "0.25", "--threads", "1"]


@pytest.fixture
def releases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    for var in ("DEIT_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEIT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(hub, "RELEASED", dict(hub.RELEASED))
    forbid_internet(monkeypatch)
    torch.manual_seed(0)
    models = {
        "tiny_cnn": CNN_MODELS["tiny_cnn"](num_classes=1000, in_chans=3),  # an "ImageNet" CNN teacher
        STUDENT: create_model(STUDENT, num_classes=1000),  # an "ImageNet" DeiT⚗ at 16 px
    }
    with serve() as server:
        monkeypatch.setenv("DEIT_WEIGHTS_URL", server.url + "/deit")
        for name, model in models.items():
            hub.register_weights(name, publish_model(server, name, model.state_dict())[0])
        yield {"server": server, **{k: v.state_dict() for k, v in models.items()}}


def make_dataset(root: Path) -> Path:
    for c, colour in enumerate([(220, 30, 30), (30, 30, 220)]):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(12):
            shade = tuple(max(0, v - 6 * i) for v in colour)
            Image.new("RGB", (36, 36), shade).save(root / f"class{c}" / f"{i}.png")
    return root


def test_transfer_recipe_defaults() -> None:
    cfg = load_config("transfer", {"data": "x", "pretrained": True, "teacher_model": "runs/t"})
    assert (cfg.model, cfg.img_size, cfg.distillation_type, cfg.needs_weights) == (
        "deit_base_distilled_patch16_224",
        224,
        "hard",
        True,
    )
    assert (cfg.opt, cfg.weight_decay, cfg.reprob, cfg.drop_path) == ("sgd", 1e-4, 0.0, 0.0)


def test_transfer_with_distillation_end_to_end(releases: dict, tmp_path: Path, capsys) -> None:
    data = str(make_dataset(tmp_path / "data"))
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    # refusal: a transfer recipe without starting weights names the flag
    rc = main(["train", "-c", "transfer", "--data", data, "--model", STUDENT, "--teacher", "tiny_cnn", *FAST])
    assert rc == 2
    assert re.search(
        r"--pretrained or --finetune is required: this recipe fine-tunes pretrained weights",
        capsys.readouterr().err,
    )
    # 1. the CNN teacher: released weights, fine-tuned on the user's classes (new head), no distillation
    argv = ["train", "-c", "transfer", "--data", data, "--model", "tiny_cnn", "--pretrained"]
    assert main([*argv, "--distillation-type", "none", *FAST, "--output", str(teacher)]) == 0
    taught = load_file(str(teacher / "model.safetensors"))
    first_conv = next(k for k in taught if k.endswith("weight") and taught[k].ndim == 4)
    assert (
        taught[first_conv] - releases["tiny_cnn"][first_conv]
    ).abs().max() < 1e-2  # started from the release
    assert taught["fc.weight"].shape[0] == 2
    # 2. the DeiT⚗ student: released 16-px weights at 32 px (position embedding resampled), hard distillation
    argv = ["train", "-c", "transfer", "--data", data, "--model", STUDENT, "--pretrained"]
    assert main([*argv, "--teacher", str(teacher), *FAST, "--output", str(student)]) == 0
    learned = load_file(str(student / "model.safetensors"))
    assert learned["pos_embed"].shape[1] == 2 + 8 * 8
    block = "blocks.0.attn.qkv.weight"
    assert (learned[block] - releases[STUDENT][block]).abs().max() < 1e-2
    config = (student / "config.yaml").read_text()
    assert "distillation_type: hard" in config and "pretrained: true" in config
    requests = releases["server"].requests
    assert len(requests) == 2 and all(r.startswith("GET /deit/") for r in requests)
    # 3. evaluation of the student with its teacher
    assert (
        main(["eval", "--checkpoint", str(student), "--data", data, "--teacher", str(teacher), "--json"]) == 0
    )
    assert '"teacher_top1"' in capsys.readouterr().out
