"""MultimodalViT says what it is, as timm's VisionTransformer does (no_weight_decay, stages,
forward_intermediates, group_matcher, draws_random), and training / analysis ask it."""
from __future__ import annotations

import pytest
import torch
from timm.models._manipulate import group_parameters
from torch import nn

from m2pt_core import attach_pathways, create_model
from m2pt_core.analysis import model_stages
from m2pt_core.analysis.stages import eval_mode
from m2pt_core.model import MultimodalViT
from m2pt_core.modalities import MODALITIES
from m2pt_core.train import TrainConfig, param_groups
from m2pt_core.train.rng import draws_random


def _no_decay_names(model: nn.Module) -> set[str]:
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {g["name"]: g for g in param_groups(model, TrainConfig(weight_decay=0.1))}
    return {names[id(p)] for p in groups["no_decay"]["params"]}


def _old_rule(name: str, p: torch.Tensor) -> bool:
    """The optimizer's guess before the model declared anything (by dimension and suffix)."""
    return p.ndim <= 1 or name.endswith((".lam", ".bias", "pos_embed", "cls_token"))


@pytest.mark.parametrize("modality", MODALITIES)
def test_declared_no_decay_gives_the_groups_the_old_guess_gave(modality):
    torch.manual_seed(0)
    model = create_model("test", modality, 3, drop_path_rate=0.1)
    attach_pathways(model, create_model("test", "audio", 4))
    assert model.no_weight_decay() == {"pos_embed", "cls_token"}
    old = {n for n, p in model.named_parameters() if p.requires_grad and _old_rule(n, p) and not n.endswith(".lam")}
    assert _no_decay_names(model) == old


def test_the_optimizer_asks_the_model():
    class FrozenHeadDecay(MultimodalViT):
        def no_weight_decay(self) -> set[str]:
            return super().no_weight_decay() | {"head.weight"}
    model = FrozenHeadDecay(create_model("test", "image", 3).config)
    assert "head.weight" in _no_decay_names(model)
    assert "head.weight" not in _no_decay_names(create_model("test", "image", 3))


def test_stages_ask_the_model():
    class Halved(MultimodalViT):
        def finish(self, h: torch.Tensor) -> torch.Tensor:
            return super().finish(h) / 2
    model = Halved(create_model("test", "image", 3).config)
    x = torch.randn(2, *model.config.input.input_shape)
    stages = model_stages(model, cls_shortcut=False)
    with eval_mode(model), torch.inference_mode():
        h = stages.embed(x)
        for block in stages.blocks:
            h = block(h)
        torch.testing.assert_close(stages.finish(h), model.forward_head(model.forward_features(x)) / 2)


def test_forward_intermediates_matches_the_blocks():
    torch.manual_seed(0)
    model = create_model("test", "audio", 3).eval()
    x = torch.randn(2, *model.config.input.input_shape)
    with torch.inference_mode():
        h, outs = model.embed(x), []
        for block in model.blocks:
            h = block(h)
            outs.append(h)
        final, inter = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x))
        assert len(inter) == len(model.blocks)
        for got, want in zip(inter, outs):
            torch.testing.assert_close(got, want[:, 1:])                 # prefix (cls) token split off
        last = model.forward_intermediates(x, indices=1, return_prefix_tokens=True, intermediates_only=True)
        torch.testing.assert_close(last[0][0], outs[-1][:, :1])
        first = model.forward_intermediates(x, indices=[0], norm=True, stop_early=True, intermediates_only=True)
        torch.testing.assert_close(first[0], model.norm(outs[0])[:, 1:])
    with pytest.raises(ValueError, match="NLC"):
        model.forward_intermediates(x, output_fmt="NCHW")


def test_group_matcher_groups_by_depth_with_timm():
    model = create_model("test", "pointcloud", 3)
    groups = group_parameters(model, model.group_matcher())
    assert len(groups) == len(model.blocks) + 2                            # stem, each block, the rest
    assert "cls_token" in groups[0] and "tokenizer.first_mlp.0.weight" in groups[0]
    assert all(n.startswith("blocks.0.") for n in groups[1]) and "head.weight" in groups[len(groups) - 1]
    assert sum(map(len, groups.values())) == len(list(model.parameters()))


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("rate", [0.0, 0.1])
def test_draws_random_is_declared_and_agrees_with_the_modules(modality, rate):
    model = create_model("test", modality, 3, drop_path_rate=rate)
    by_modules = any(float(getattr(m, "drop_prob", 0.0) or 0.0) > 0 or
                     (isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0) for m in model.modules())
    assert model.draws_random() == by_modules == draws_random(model) == (rate > 0)
    assert draws_random(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1)))       # a foreign model: read off
