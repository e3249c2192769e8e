import copy

import pandas as pd
import pytest
import timm
import torch

from m2pt_core import PathwayMismatchError, attach_pathways, create_model, merge_pathways, set_lambdas
from m2pt_core.pathways import (PathwayLinear, count_parameters, get_lambdas, lambda_table, merge_all,
                                override_lambdas, trainable_parameter_report, unload_pathways, unmerge_all,
                                verify_merge)

from .conftest import tiny_input

COMPS = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")


def test_lambda_zero_is_the_target(tiny_pair):
    target, aux = tiny_pair
    x = tiny_input("image")
    with torch.no_grad():
        before = target(x)
    attach_pathways(target, aux)
    with torch.no_grad():
        after = target(x)
    assert torch.equal(before, after)


def test_forward_matches_hand_computation(tiny_pair):
    target, aux = tiny_pair
    attach_pathways(target, aux)
    layer = target.blocks[1].mlp.fc1
    assert isinstance(layer, PathwayLinear)
    with torch.no_grad():
        layer.lam.fill_(0.37)
    W, b = layer.weight.detach(), layer.bias.detach()
    Wp = aux.blocks[1].mlp.fc1.weight.detach()
    x = torch.randn(4, 5, W.shape[1])
    expected = x @ (W + 0.37 * Wp).T + b
    assert torch.allclose(layer(x), expected, atol=1e-6)
    # The auxiliary bias is not used: a zero input gives exactly the target's own bias.
    with torch.no_grad():
        aux.blocks[1].mlp.fc1.bias.fill_(5.0)
    assert torch.allclose(layer(torch.zeros(1, W.shape[1])), b[None], atol=1e-7)


def test_merge_equivalence_all_modalities(modality):
    torch.manual_seed(1)
    target = create_model("test", modality, 4)
    aux = create_model("test", "video" if modality != "video" else "image", 9)
    plain = create_model("test", modality, 4)
    attach_pathways(target, aux)
    g = torch.Generator().manual_seed(2)
    set_lambdas(target, {n: float(torch.randn(1, generator=g)) * 0.5 for n in get_lambdas(target)})
    x = tiny_input(modality)
    reference = copy.deepcopy(target)
    merged = merge_pathways(target)
    assert verify_merge(reference, merged, x) <= 1e-5
    assert [type(m) for m in merged.modules()] == [type(m) for m in plain.modules()]
    assert count_parameters(merged)[1] == count_parameters(plain)[1]
    assert set(merged.state_dict()) == set(plain.state_dict())


def test_reversible_merge_and_unload(tiny_pair):
    target, aux = tiny_pair
    original = copy.deepcopy(target)
    attach_pathways(target, aux)
    set_lambdas(target, 0.2)
    x = tiny_input("image")
    with torch.no_grad():
        y = target(x)
    w0 = target.blocks[0].attn.qkv.weight.detach().clone()
    merge_all(target)
    assert not torch.equal(target.blocks[0].attn.qkv.weight, w0)
    with torch.no_grad():
        assert torch.allclose(target(x), y, atol=1e-5)
    with pytest.raises(RuntimeError, match="merged"):
        set_lambdas(target, 0.5)
    unmerge_all(target)
    assert torch.allclose(target.blocks[0].attn.qkv.weight, w0, atol=1e-6)
    unload_pathways(target)
    assert verify_merge(original, target, x) <= 1e-6  # unmerge is exact up to fp32 rounding


def test_non_finite_merge_raises_and_changes_nothing(tiny_pair):
    target, aux = tiny_pair
    attach_pathways(target, aux)
    set_lambdas(target, float("inf"), layers=[1], components=["mlp.fc2"])
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError, match="non-finite"):
        merge_pathways(target)
    with pytest.raises(ValueError, match="non-finite"):
        merge_all(target)
    assert isinstance(target.blocks[1].mlp.fc2, PathwayLinear)
    after = target.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_mismatch_names_every_bad_layer_and_leaves_model_untouched():
    target = create_model("test", "image", 3)
    aux = create_model("test", "audio", 3, embed_dim=48, mlp_dim=64, depth=3, num_heads=2)
    state = copy.deepcopy(target.state_dict())
    with pytest.raises(PathwayMismatchError) as err:
        attach_pathways(target, aux)
    msg = str(err.value)
    assert "depth mismatch: target has 2 blocks, auxiliary has 3" in msg
    for i in range(2):
        for comp in COMPS:  # width differs, so every layer's shapes differ
            assert f"blocks.{i}.{comp}: shape mismatch" in msg
    assert len(err.value.problems) == 1 + 2 * 4
    assert not any(isinstance(m, PathwayLinear) for m in target.modules())
    assert all(torch.equal(state[k], v) for k, v in target.state_dict().items())


def test_missing_module_and_unknown_component():
    target = create_model("test", "image", 3)
    aux = {k: v for k, v in create_model("test", "audio", 3).state_dict().items() if "fc2" not in k}
    with pytest.raises(PathwayMismatchError) as err:
        attach_pathways(target, aux, components=["attn.qkv", "mlp.fc2", "attn.out"])
    msg = str(err.value)
    assert "unknown component(s) ['attn.out']" in msg
    assert "blocks.0.mlp.fc2: auxiliary has no block 0 mlp.fc2" in msg
    assert "blocks.1.mlp.fc2: auxiliary has no block 1 mlp.fc2" in msg


def test_gradients_reach_lambda_and_trainable_aux_only(tiny_pair):
    target, aux = tiny_pair
    frozen = copy.deepcopy(target)
    attach_pathways(target, aux, aux_trainable=True)
    attach_pathways(frozen, aux, aux_trainable=False)
    x = tiny_input("image")
    for model, trainable in ((target, True), (frozen, False)):
        model(x).square().mean().backward()
        for m in model.modules():
            if isinstance(m, PathwayLinear):
                assert m.lam.grad is not None and m.lam.grad.abs() > 0
                assert m.lam.dtype == torch.float32
                if trainable:
                    assert isinstance(m.aux_weight, torch.nn.Parameter) and m.aux_weight.grad is not None
                else:
                    assert not isinstance(m.aux_weight, torch.nn.Parameter) and not m.aux_weight.requires_grad
    # Frozen W' is a buffer: only one λ per pathway is added to the trainable count.
    assert count_parameters(frozen)[0] == count_parameters(create_model("test", "image", 10))[0] + 8
    assert "trainable params: " in trainable_parameter_report(frozen) and "trainable%: " in trainable_parameter_report(frozen)


def test_lambda_table_set_and_override_restore_exactly(tiny_pair):
    target, aux = tiny_pair
    attach_pathways(target, aux, lambda_init=0.01)
    table = lambda_table(target)
    assert isinstance(table, pd.DataFrame) and len(table) == 8
    assert list(table.columns) == ["name", "layer", "component", "lam"]
    assert sorted(set(table.component)) == sorted(COMPS)
    set_lambdas(target, {(1, "mlp.fc1"): 0.5, "blocks.0.attn.qkv": -0.25})
    before = get_lambdas(target)
    assert before["blocks.1.mlp.fc1"] == 0.5 and before["blocks.0.attn.qkv"] == -0.25
    with override_lambdas(target, 0.0, layers=[1]) as active:
        assert set(active) == {f"blocks.1.{c}" for c in COMPS}
        assert all(v == 0.0 for k, v in get_lambdas(target).items() if k.startswith("blocks.1."))
        assert get_lambdas(target)["blocks.0.attn.qkv"] == -0.25
    assert get_lambdas(target) == before
    with pytest.raises(ZeroDivisionError):
        with override_lambdas(target, scale=3.0, pattern="*.attn.*"):
            assert get_lambdas(target)["blocks.0.attn.qkv"] == pytest.approx(-0.75)
            1 / 0
    assert get_lambdas(target) == before
    with pytest.raises(KeyError, match="No pathway named"):
        set_lambdas(target, {"blocks.7.attn.qkv": 1.0})


def test_timm_vit_as_target_and_aux():
    torch.manual_seed(0)
    kw = dict(pretrained=False, embed_dim=64, depth=2, num_heads=2, img_size=32, patch_size=8, num_classes=3)
    vit = timm.create_model("vit_tiny_patch16_224", **kw)
    aux_vit = timm.create_model("vit_tiny_patch16_224", **kw)
    x = torch.randn(2, 3, 32, 32)
    report = attach_pathways(vit, aux_vit, aux_trainable=False)
    assert len(report.names) == 8 and report.added_parameters == 8
    set_lambdas(vit, 0.1)
    ref = copy.deepcopy(vit)
    assert verify_merge(ref, merge_pathways(vit), x) <= 1e-5


def test_aux_is_copied_to_target_dtype():
    target = create_model("test", "image", 3).to(torch.float64)
    aux = create_model("test", "audio", 3)
    attach_pathways(target, aux)
    layer = target.blocks[0].attn.qkv
    assert layer.aux_weight.dtype == torch.float64 and layer.lam.dtype == torch.float32
    assert layer.aux_weight.data_ptr() != aux.blocks[0].attn.qkv.weight.data_ptr()
    assert target(torch.randn(1, 1, 28, 28, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("cast", ["half", "bfloat16"])
def test_lambda_stays_fp32_through_dtype_casts(tiny_pair, cast):
    """λ keeps its fp32 value through .half() / .to(bf16); W + λW' is summed in fp32, cast once."""
    target, aux = tiny_pair
    attach_pathways(target, aux)
    layer = target.blocks[0].attn.qkv
    with torch.no_grad():
        layer.lam.fill_(0.012345)
    lam32 = float(torch.tensor(0.012345, dtype=torch.float32))
    target = target.half() if cast == "half" else target.to(torch.bfloat16)
    dtype = torch.float16 if cast == "half" else torch.bfloat16
    assert layer.weight.dtype == dtype and layer.lam.dtype == torch.float32
    assert layer.lam_value == lam32 and isinstance(layer.lam, torch.nn.Parameter)
    expected = (layer.weight.float() + lam32 * layer.aux_weight.float()).to(dtype)
    assert torch.equal(layer.effective_weight(), expected)
    assert target(tiny_input("image").to(dtype)).dtype == dtype
    target.float()
    assert layer.lam_value == lam32


def test_one_pair_check_behind_attach_table_and_stats():
    """attach_pathways, the compatibility table and weight_stats_pair report the same mismatch from
    the one check in pathways/compat.py."""
    from m2pt_core.analysis import weight_stats_pair
    from m2pt_core.explorer import compatibility_table
    from m2pt_core.pathways import load_aux
    from m2pt_core.pathways.compat import check_pair

    target, aux = create_model("test", "image", 3), create_model("test", "audio", 3, embed_dim=48, mlp_dim=64, num_heads=2)
    qkv = target.blocks[0].attn.qkv
    check = check_pair(qkv, aux.blocks[0].attn.qkv.weight)
    assert not check.ok and check.why == "input width differs (32 vs 48)"
    assert check_pair(None, qkv.weight).why == "target has no such module"
    assert check_pair(target.blocks[0].norm1, qkv.weight).why == "target module is a LayerNorm, not a linear layer"
    assert check_pair(qkv, qkv.weight).ok
    table = compatibility_table(target, load_aux(aux))
    assert "input width differs (32 vs 48)" in set(table["why"]) and not table["match"].any()
    for run in (lambda: attach_pathways(target, aux), lambda: weight_stats_pair(target, aux)):
        with pytest.raises(PathwayMismatchError) as e:
            run()
        assert "blocks.0.attn.qkv: shape mismatch, target (96, 32) vs auxiliary block 0 (144, 48) " \
               "(input width differs (32 vs 48))" in str(e.value)
