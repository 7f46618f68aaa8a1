"""deit.create_model / deit.load_model: one loader for every accepted source."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import deit
from deit.checkpoint import export_model, save_checkpoint
from deit.errors import CheckpointError

NANO = "deit_nano_distilled_patch4_16"
X = torch.randn(2, 3, 16, 16)


def logits(model: torch.nn.Module, x: torch.Tensor = X) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


@pytest.fixture
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return deit.create_model(NANO, num_classes=4).eval()


def test_public_api_is_lazy_and_complete() -> None:
    assert callable(deit.create_model) and callable(deit.load_model)
    assert "deit_tiny_patch16_224" in deit.list_models()
    with pytest.raises(AttributeError):
        deit.not_a_thing  # noqa: B018


def test_training_checkpoint_run_folder_and_export(model: torch.nn.Module, tmp_path: Path) -> None:
    spec = {"name": NANO, "source": "deit", "kwargs": {"num_classes": 4}}
    names = ["a", "b", "c", "d"]
    save_checkpoint(
        {"format": "deit-train-v1", "model": model.state_dict(), "model_spec": spec, "class_names": names},
        tmp_path / "run" / "last.pt",
    )
    export_model(model.state_dict(), {"model_spec": spec, "class_names": names}, tmp_path / "export")
    for source in (tmp_path / "run", tmp_path / "run" / "last.pt", tmp_path / "export" / "model.safetensors"):
        loaded, meta = deit.load_model_and_meta(source)
        torch.testing.assert_close(logits(loaded), logits(model), atol=0, rtol=0)
        assert meta["class_names"] == names


def test_official_weight_file_with_architecture_inferred_or_given(
    model: torch.nn.Module, tmp_path: Path
) -> None:
    path = tmp_path / "official.pth"
    torch.save({"model": model.state_dict()}, path)
    inferred = deit.load_model(path)
    assert inferred.distilled and inferred.num_classes == 4 and len(inferred.blocks) == 4
    assert inferred.blocks[0].attn.num_heads == 2  # from the registered nano config of the same shapes
    torch.testing.assert_close(logits(inferred), logits(model), atol=0, rtol=0)
    given = deit.load_model(path, model=NANO)
    torch.testing.assert_close(logits(given), logits(model), atol=0, rtol=0)
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a DeiT state dict"):
        deit.load_model(tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="no such file or folder, and not a model with released"):
        deit.load_model(tmp_path / "missing.pth")


def test_timm_weight_file_matches_timm_logits(tmp_path: Path) -> None:
    import timm

    torch.manual_seed(0)
    ref = timm.create_model("deit_tiny_distilled_patch16_224", num_classes=5, img_size=32).eval()
    save_file(ref.state_dict(), str(tmp_path / "timm.safetensors"))
    loaded = deit.load_model(tmp_path / "timm.safetensors")
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(logits(loaded, x), logits(ref, x), atol=1e-5, rtol=0)
