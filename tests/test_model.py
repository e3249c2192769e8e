import pytest
import timm
import torch

from m2pt_core import create_model, get_size, list_sizes, make_config
from m2pt_core.tokenizers.points import farthest_point_sample, group_points

from .conftest import tiny_input


def test_every_modality_gives_tokens_and_logits(modality):
    model = create_model("test", modality, 5)
    x = tiny_input(modality)
    tokens = model.tokenizer(x)
    assert tokens.shape == (3, model.tokenizer.num_tokens, 32)
    feats = model.forward_features(x)
    assert feats.shape == (3, 1 + model.tokenizer.num_tokens, 32)
    assert model(x).shape == (3, 5)
    assert model.forward_head(feats, pre_logits=True).shape == (3, 32)


def test_timm_submodule_names(modality):
    model = create_model("test", modality, 5)
    names = dict(model.named_modules())
    for i in range(get_size("test").depth):
        for comp in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"):
            assert isinstance(names[f"blocks.{i}.{comp}"], torch.nn.Linear)
    # A timm ViT's block weights load into ours without renaming.
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    blocks = {k: v for k, v in vit.state_dict().items() if k.startswith("blocks.")}
    missing, unexpected = model.load_state_dict(blocks, strict=False)
    assert not unexpected and not any(k.startswith("blocks.") for k in missing)


def test_sizes_registry():
    assert {"test", "demo", "small6", "vit_small", "vit_base"} <= set(list_sizes())
    demo = get_size("demo")
    assert (demo.embed_dim, demo.depth, demo.num_heads, demo.mlp_dim) == (192, 6, 3, 768)
    assert (get_size("small6").embed_dim, get_size("small6").mlp_dim, get_size("small6").depth) == (384, 1536, 6)
    with pytest.raises(ValueError, match="Unknown model size"):
        get_size("huge")


def test_overrides_and_errors():
    cfg = make_config("test", "image", 3, img_size=32, patch_size=8, in_chans=3, depth=3)
    model = create_model("test", "image", 3, img_size=32, patch_size=8, in_chans=3, depth=3)
    assert cfg.depth == 3 and len(model.blocks) == 3
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(ValueError, match="Unknown image input option"):
        make_config("test", "image", 3, n_mels=64)
    with pytest.raises(ValueError, match="Unknown modality"):
        make_config("test", "smell", 3)


def test_farthest_point_sampling_spreads_out():
    # Two tight clusters far apart: FPS with 2 samples must pick one point from each.
    pts = torch.cat([torch.randn(1, 50, 3) * 0.01, torch.randn(1, 50, 3) * 0.01 + 10], dim=1)
    idx = farthest_point_sample(pts, 2)[0]
    assert (idx < 50).sum() == 1 and (idx >= 50).sum() == 1
    groups, centres = group_points(pts, 2, 5)
    assert groups.shape == (1, 2, 5, 3) and centres.shape == (1, 2, 3)
    assert groups.abs().max() < 1.0  # neighbours are relative to their own cluster's centre


def test_mlp_dim_is_exact_when_the_ratio_does_not_round_trip():
    # int(88 * (120 / 88)) == 119 in floating point: the hidden size must not depend on it.
    model = create_model("test", "image", 3, embed_dim=88, num_heads=4, mlp_dim=120)
    assert all(b.mlp.fc1.out_features == 120 and b.mlp.fc2.in_features == 120 for b in model.blocks)
    assert model(tiny_input("image")).shape == (3, 3)
