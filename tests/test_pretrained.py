"""--pretrained / --teacher-pretrained on the commands, against a local HTTP server (127.0.0.1 only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image
from tiny_run import tiny_config
from weights_server import WeightsServer, forbid_internet, publish_model, record_connections, serve

from deit.cli.main import main
from deit.config import TrainConfig, validate
from deit.errors import ConfigError
from deit.models import create_model, hub
from deit.trainer import Trainer

NANO = "deit_nano_distilled_patch4_16"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WeightsServer]:
    for var in ("DEIT_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEIT_HOME", str(tmp_path / "home"))
    forbid_internet(monkeypatch)
    monkeypatch.setattr(hub, "RELEASED", dict(hub.RELEASED))
    with serve() as srv:
        monkeypatch.setenv("DEIT_WEIGHTS_URL", srv.url + "/deit")
        yield srv


def release(server: WeightsServer, name: str, **kwargs: object) -> torch.nn.Module:
    model = create_model(name, **kwargs)
    filename, _ = publish_model(server, name, model.state_dict())
    hub.register_weights(name, filename)
    return model


def tiny(tmp_path: Path, **overrides: object) -> TrainConfig:
    return tiny_config(tmp_path, **{"max_steps_per_epoch": 1, **overrides})


def test_starting_weight_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--finetune 'w.pth' and --pretrained both"):
        validate(tiny(tmp_path, pretrained=True, finetune="w.pth"))
    with pytest.raises(ConfigError, match="^--pretrained or --finetune is required: this recipe fine-tunes"):
        validate(tiny(tmp_path, needs_weights=True))
    assert validate(tiny(tmp_path, needs_weights=True, pretrained=True)).pretrained
    with pytest.raises(ConfigError, match="^--teacher-pretrained needs --distillation-type"):
        validate(tiny(tmp_path, teacher_pretrained=True))


def test_train_starts_from_released_weights(server: WeightsServer, tmp_path: Path) -> None:
    released = release(server, NANO, num_classes=1000)
    trainer = Trainer(validate(tiny(tmp_path, pretrained=True, lr=1e-12, warmup_lr=1e-12, min_lr=0.0)))
    model = trainer.model
    assert torch.equal(model.patch_embed.proj.weight.cpu(), released.patch_embed.proj.weight)
    assert model.head.weight.shape[0] == 10  # digits: new head for 10 classes


def test_teacher_pretrained_must_predict_the_dataset_classes(server: WeightsServer, tmp_path: Path) -> None:
    release(server, "deit_nano_patch4_16", num_classes=1000)
    cfg = tiny(
        tmp_path, teacher_model="deit_nano_patch4_16", teacher_pretrained=True, distillation_type="hard"
    )
    with pytest.raises(ConfigError, match="predict other classes than the dataset's 10.*Fine-tune it"):
        Trainer(validate(cfg))
    teacher_release = release(server, "deit_nano_patch4_16", num_classes=10)
    trainer = Trainer(validate(cfg))
    assert torch.equal(trainer.teacher.model.pos_embed.cpu(), teacher_release.pos_embed)


def test_predict_with_pretrained_and_flag_errors(server: WeightsServer, tmp_path: Path, capsys) -> None:
    release(server, NANO, num_classes=1000)
    image = tmp_path / "x.png"
    Image.new("RGB", (20, 20), (200, 10, 10)).save(image)
    assert main(["predict", "--pretrained", "--model", NANO, str(image), "--json", "--topk", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    labels = [t["class"] for t in out["predictions"][0]["top"]]
    assert len(labels) == 2 and all(
        label.startswith("n") and len(label) == 9 for label in labels
    )  # WordNet ids
    assert main(["predict", "--pretrained", "--offline", "--model", NANO, str(image), "--json"]) == 0
    assert len(server.requests) == 1  # second run: from the cache
    capsys.readouterr()
    assert main(["predict", "--pretrained", "--model", NANO, "--checkpoint", "x.pt", str(image)]) == 2
    assert (
        "--pretrained loads --model's released weights: do not pass --checkpoint" in capsys.readouterr().err
    )
    assert main(["eval", "--data", "digits", "--json"]) == 2
    assert "--checkpoint is required (or --pretrained --model NAME" in capsys.readouterr().err


def test_timm_teacher_pretrained_through_timms_own_mechanism(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """timm's pretrained=True (Hugging Face hub) with the hub endpoint pointed at the local server."""
    import timm
    from huggingface_hub import constants
    from safetensors.torch import save

    from deit.teacher import build_teacher

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    released = timm.create_model("test_resnet")  # ImageNet-1k classes, random weights
    repo = timm.models.get_pretrained_cfg("test_resnet").hf_hub_id
    server.hf_put(repo, "model.safetensors", save(released.state_dict()))
    with pytest.raises(ConfigError, match="predict other classes than the dataset's 10"):
        build_teacher("test_resnet", 10, img_size=32, pretrained=True)  # the release has 1000 classes
    teacher = build_teacher("test_resnet", 1000, img_size=32, pretrained=True)
    assert torch.equal(teacher.model.fc.weight, released.fc.weight)
    assert any("model.safetensors" in r for r in server.requests)


@pytest.mark.parametrize("name", ["timm:test_resnet", "timm:test_vit.r160_in1k"])
def test_deit_offline_env_makes_timm_pretrained_fail_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """$DEIT_OFFLINE=1 alone (no offline=True argument) keeps timm's pretrained=True off the network."""
    from huggingface_hub import constants

    from deit.models.factory import build_classifier

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))  # empty cache
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("DEIT_OFFLINE", "1")
    attempts = record_connections(monkeypatch)
    with pytest.raises(hub.WeightsError, match="offline mode.*hf download timm/"):
        build_classifier(name, 10, pretrained=True, weights={"source": "official", "offline": None})
    assert attempts == []
    assert constants.HF_HUB_OFFLINE is False  # restored after the call
