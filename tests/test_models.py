"""The DeiT network: parameter counts, timm equivalence, the forward contract, weights and errors."""

from __future__ import annotations

import pytest
import timm
import torch

from deit.errors import CheckpointError, ModelError
from deit.models import PAPER_ZOO, create_model, list_models, model_info
from deit.models.loading import load_weights, read_state_dict
from deit.models.weights import resample_pos_embed

REFERENCE_PARAMS = {
    "deit_tiny_patch16_224": 5_717_416,
    "deit_tiny_distilled_patch16_224": 5_910_800,
    "deit_small_patch16_224": 22_050_664,
    "deit_small_distilled_patch16_224": 22_436_432,
    "deit_base_patch16_224": 86_567_656,
    "deit_base_distilled_patch16_224": 87_338_192,
    "deit_base_patch16_384": 86_859_496,
    "deit_base_distilled_patch16_384": 87_630_032,
}


@pytest.mark.parametrize("name", sorted(REFERENCE_PARAMS))
def test_parameter_counts_equal_reference(name: str) -> None:
    assert name in PAPER_ZOO
    assert model_info(name)["params"] == REFERENCE_PARAMS[name]


def test_paper_gflops_convention() -> None:
    # Paper Table 1 reports multiply-adds: Ti 1.3G, S 4.6G, B 17.6G (224 px), B 55.4G at 384.
    assert round(model_info("deit_tiny_patch16_224")["gmacs"], 1) == 1.3
    assert round(model_info("deit_small_patch16_224")["gmacs"], 1) == 4.6
    assert round(model_info("deit_base_patch16_224")["gmacs"], 1) == 17.6


def test_registry_lists_small_image_configs() -> None:
    names = list_models()
    assert "deit_tiny_distilled_patch4_32" in names
    assert list_models("*distilled_patch16_224") == [
        "deit_base_distilled_patch16_224",
        "deit_small_distilled_patch16_224",
        "deit_tiny_distilled_patch16_224",
    ]


@pytest.mark.parametrize(
    "name",
    [
        "deit_tiny_patch16_224",
        "deit_tiny_distilled_patch16_224",
        "deit_small_patch16_224",
        "deit_small_distilled_patch16_224",
    ],
)
def test_numerically_equal_to_timm(name: str) -> None:
    torch.manual_seed(0)
    theirs = timm.create_model(name, pretrained=False).eval()
    ours = create_model(name).eval()
    load_weights(ours, theirs.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() <= 1e-5
        if ours.distilled:
            ours.train(), theirs.train()
            theirs.set_distilled_training(True)
            (c1, d1), (c2, d2) = ours(x), theirs(x)
            assert (c1 - c2).abs().max().item() <= 1e-5
            assert (d1 - d2).abs().max().item() <= 1e-5


def test_our_weights_load_strictly_into_timm(tmp_path) -> None:
    ours = create_model("deit_tiny_distilled_patch16_224").eval()
    theirs = timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False).eval()
    torch.save({"model": ours.state_dict()}, tmp_path / "official_layout.pth")
    sd = read_state_dict(tmp_path / "official_layout.pth")
    theirs.load_state_dict(sd, strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() <= 1e-5


def test_forward_contract_distilled() -> None:
    model = create_model("deit_nano_distilled_patch4_16", num_classes=7)
    x = torch.randn(3, 3, 16, 16)
    model.train()
    cls, dist = model(x)
    assert cls.shape == dist.shape == (3, 7)
    model.eval()
    with torch.no_grad():
        fused = model(x)
        cls, dist = model.forward_heads(x)
    torch.testing.assert_close(fused, (cls + dist) / 2)
    feats = model.forward_features(x)
    assert feats.shape == (3, 2 + 16, 64)
    inter = model.forward_intermediates(x)
    assert len(inter) == len(model.blocks) + 1
    maps = model.attention_maps(x)
    assert maps[0].shape == (3, 2, 18, 18)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(3, 2, 18))
    assert model.no_weight_decay() == {"pos_embed", "cls_token", "dist_token"}


def test_forward_contract_plain() -> None:
    model = create_model("deit_nano_patch4_16", num_classes=5).train()
    out = model(torch.randn(2, 3, 16, 16))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5)
    cls, dist = model.forward_heads(torch.randn(2, 3, 16, 16))
    assert dist is None and model.pos_embed.shape[1] == 16 + 1


def test_every_parameter_gets_a_gradient() -> None:
    torch.manual_seed(0)
    model = create_model("deit_nano_distilled_patch4_16", num_classes=4, drop_path_rate=0.1).train()
    cls, dist = model(torch.randn(4, 3, 16, 16))
    (cls.sum() + dist.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_deit_init_statistics() -> None:
    model = create_model("deit_small_patch16_224")
    assert model.head.bias.abs().sum() == 0
    w = model.blocks[0].attn.qkv.weight
    # Like the official code (timm's trunc_normal_(std=.02), bounds +-2 absolute): effectively untruncated.
    assert abs(w.std().item() - 0.02) < 0.0005
    assert abs(model.pos_embed.std().item() - 0.02) < 0.001


def _official_resample(pos_embed: torch.Tensor, new_size: int, num_extra_tokens: int) -> torch.Tensor:
    """The official DeiT fine-tuning code's interpolation (main.py, --finetune), step by step."""
    embedding_size = pos_embed.shape[-1]
    orig_size = int((pos_embed.shape[-2] - num_extra_tokens) ** 0.5)
    extra_tokens = pos_embed[:, :num_extra_tokens]
    pos_tokens = pos_embed[:, num_extra_tokens:]
    pos_tokens = pos_tokens.reshape(-1, orig_size, orig_size, embedding_size).permute(0, 3, 1, 2)
    pos_tokens = torch.nn.functional.interpolate(
        pos_tokens, size=(new_size, new_size), mode="bicubic", align_corners=False
    )
    pos_tokens = pos_tokens.permute(0, 2, 3, 1).flatten(1, 2)
    return torch.cat((extra_tokens, pos_tokens), dim=1)


def test_pos_embed_interpolation_matches_official_and_timm_and_keeps_prefix() -> None:
    from timm.layers import resample_abs_pos_embed

    pe = torch.randn(1, 2 + 14 * 14, 192)
    official = resample_pos_embed(pe, 24, num_prefix_tokens=2)  # the default
    timm_like = resample_pos_embed(pe, 24, num_prefix_tokens=2, antialias=True)
    assert official.shape == timm_like.shape == (1, 2 + 24 * 24, 192)
    assert torch.equal(official[:, :2], pe[:, :2]) and torch.equal(timm_like[:, :2], pe[:, :2])
    assert (official - _official_resample(pe, 24, 2)).abs().max().item() <= 1e-6
    theirs = resample_abs_pos_embed(pe, [24, 24], num_prefix_tokens=2)
    assert (timm_like - theirs).abs().max().item() <= 1e-6  # same kernel; float32 rounding only
    assert (official - timm_like).abs().max().item() > 0.1  # the kernels really differ


@pytest.mark.parametrize("interp", ["official", "timm"])
def test_fine_tuning_resamples_with_the_chosen_kernel(tmp_path, interp: str) -> None:
    from deit.models.weights import adapt_state_dict

    src = create_model("deit_nano_patch4_16")
    dst = create_model("deit_nano_patch4_16", img_size=32)
    sd = adapt_state_dict(src.state_dict(), dst, pos_embed_interp=interp)
    want = resample_pos_embed(src.pos_embed.detach(), 8, 1, antialias=interp == "timm")
    assert torch.equal(sd["pos_embed"], want)


def test_distilled_and_plain_weights_say_which_tokens_differ() -> None:
    plain, distilled = create_model("deit_nano_patch4_16"), create_model("deit_nano_distilled_patch4_16")
    with pytest.raises(CheckpointError, match="checkpoint has one prefix token .class. but the model two"):
        load_weights(distilled, plain.state_dict())
    with pytest.raises(CheckpointError, match="checkpoint has two prefix tokens .* but the model one"):
        load_weights(plain, distilled.state_dict())


def test_load_224_checkpoint_into_384_model_and_new_head(tmp_path, caplog) -> None:
    src = create_model("deit_tiny_distilled_patch16_224")
    path = tmp_path / "w.pth"
    torch.save({"model": src.state_dict()}, path)
    dst = create_model("deit_tiny_distilled_patch16_224", img_size=384, num_classes=10)
    with caplog.at_level("INFO", logger="deit.models"):
        dropped = load_weights(dst, path)
    assert dropped == ["head.bias", "head.weight", "head_dist.bias", "head_dist.weight"]
    assert "dropping head" in caplog.text and "resampled pos_embed" in caplog.text
    assert torch.equal(dst.pos_embed[:, :2], src.pos_embed[:, :2])
    assert torch.equal(dst.blocks[3].mlp.fc1.weight, src.blocks[3].mlp.fc1.weight)


def test_checkpoint_errors_name_keys(tmp_path) -> None:
    model = create_model("deit_nano_distilled_patch4_16", num_classes=3)
    sd = model.state_dict()
    bad = dict(sd)
    bad.pop("blocks.0.attn.qkv.weight")
    bad["extra.weight"] = torch.zeros(1)
    with pytest.raises(
        CheckpointError, match=r"missing keys: blocks\.0\.attn\.qkv\.weight.*unexpected keys: extra\.weight"
    ):
        load_weights(model, bad)
    bad = dict(sd)
    bad["blocks.1.mlp.fc1.weight"] = torch.zeros(5, 5)
    with pytest.raises(
        CheckpointError, match=r"blocks\.1\.mlp\.fc1\.weight: checkpoint \[5, 5\] vs model \[256, 64\]"
    ):
        load_weights(model, bad)
    with pytest.raises(CheckpointError, match="not found"):
        load_weights(model, tmp_path / "nope.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_weights(model, tmp_path / "garbage.pth")


def test_prefixes_from_ddp_and_compile_are_stripped() -> None:
    torch.manual_seed(0)
    source = create_model("deit_nano_patch4_16", num_classes=3)
    target = create_model("deit_nano_patch4_16", num_classes=3)  # other random weights
    sd = {f"module._orig_mod.{k}": v for k, v in source.state_dict().items()}
    assert not torch.equal(source.cls_token, target.cls_token)
    assert load_weights(target, {"state_dict": sd}) == []
    got = target.state_dict()
    assert got.keys() == source.state_dict().keys()
    assert all(torch.equal(got[k], v) for k, v in source.state_dict().items())


def test_bad_shapes_raise_clear_errors() -> None:
    with pytest.raises(ModelError, match="image size 30 is not divisible by patch size 4"):
        create_model("deit_nano_patch4_16", img_size=30)
    model = create_model("deit_nano_patch4_16")
    with pytest.raises(ModelError, match=r"expected input of shape \[B, 3, 16, 16\], got \[2, 1, 16, 16\]"):
        model(torch.randn(2, 1, 16, 16))
    with pytest.raises(ModelError, match=r"got \[2, 3, 32, 32\]"):
        model(torch.randn(2, 3, 32, 32))
    with pytest.raises(ModelError, match="did you mean deit_tiny_distilled_patch16_224"):
        create_model("deit_tiny_distiled_patch16_224")
    with pytest.raises(ModelError, match="unknown model argument 'depht'"):
        create_model("deit_nano_patch4_16", depht=3)
