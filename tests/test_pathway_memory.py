"""The pathway linear's memory-lean autograd Function: same gradients as plain autograd, nothing new
kept for backward, W' not copied when it need not be, a frozen W' in bf16 on request."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from m2pt_core import attach_pathways, create_model, merge_pathways, save_checkpoint, load_checkpoint
from m2pt_core.pathways import PathwayLinear, set_lambdas
from m2pt_core.pathways.function import pathway_linear


def _plain(x, w, aux, lam, b):
    return F.linear(x, w + lam * aux, b)


def _inputs(trainable_aux: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, 8, generator=g, requires_grad=True)        # (B, N, in)
    w = torch.randn(6, 8, generator=g, requires_grad=True)           # (out, in)
    aux = torch.randn(6, 8, generator=g, requires_grad=trainable_aux)
    lam = torch.tensor(0.37, requires_grad=True)
    b = torch.randn(6, generator=g, requires_grad=True)
    return x, w, aux, lam, b


@pytest.mark.parametrize("trainable_aux", [True, False])
def test_gradients_equal_plain_autograd(trainable_aux):
    ours, ref = _inputs(trainable_aux), _inputs(trainable_aux)
    g_out = torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(1))
    y = pathway_linear(*ours)
    y_ref = _plain(*ref)
    torch.testing.assert_close(y, y_ref, rtol=1e-6, atol=1e-6)
    (y * g_out).sum().backward()
    (y_ref * g_out).sum().backward()
    for name, a, r in zip(("x", "W", "W'", "λ", "b"), ours, ref):
        if r.requires_grad:
            assert a.grad is not None, name
            torch.testing.assert_close(a.grad, r.grad, rtol=1e-5, atol=1e-5, msg=f"grad of {name}")
        else:
            assert a.grad is None, name
    assert ours[3].grad.dtype == torch.float32 and ours[3].grad.shape == ()


def test_layer_gradients_match_plain_in_a_model():
    torch.manual_seed(0)
    model = create_model("demo", "image", 10)
    attach_pathways(model, create_model("demo", "audio", 10), aux_trainable=True)
    set_lambdas(model, 0.3)
    ref = copy.deepcopy(model)
    for m in ref.modules():                     # the reference: plain autograd on W + λW'
        if isinstance(m, PathwayLinear):
            m.forward = (lambda mod: lambda x: F.linear(x, mod.weight + mod.lam * mod.aux_weight, mod.bias))(m)
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    for mdl in (model, ref):
        F.cross_entropy(mdl(x), y).backward()
    for (n, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=n)


@pytest.mark.parametrize("trainable_aux", [True, False])
def test_nothing_new_is_saved_for_backward(trainable_aux):
    """A pathway layer keeps only tensors that exist anyway (x, W, W', λ): no W + λW' per layer."""
    torch.manual_seed(0)
    layer = PathwayLinear(nn.Linear(8, 6), torch.randn(6, 8), lambda_init=0.3, aux_trainable=trainable_aux)
    x = torch.randn(3, 5, 8, requires_grad=True)
    existing = {t.untyped_storage().data_ptr() for t in (x, *layer.parameters(), *layer.buffers())}
    saved: list[torch.Tensor] = []

    def pack(t):
        saved.append(t)
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x).sum().backward()
    assert saved and all(t.untyped_storage().data_ptr() in existing for t in saved)


def test_autocast_bf16_matches_plain_autocast():
    ours, ref = _inputs(True), _inputs(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = pathway_linear(*ours)
        y_ref = _plain(*ref)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    torch.testing.assert_close(y, y_ref, rtol=2e-2, atol=2e-2)
    y.float().sum().backward()
    y_ref.float().sum().backward()
    for a, r in zip(ours, ref):
        assert a.grad.dtype == r.grad.dtype == a.dtype
        torch.testing.assert_close(a.grad, r.grad, rtol=3e-2, atol=3e-2 * r.grad.abs().max().item())


def test_merge_unmerge_still_exact():
    torch.manual_seed(0)
    model = create_model("demo", "image", 10)
    attach_pathways(model, create_model("demo", "audio", 10))
    set_lambdas(model, 0.21)
    x = torch.randn(2, 1, 28, 28)
    before = model(x)
    merged = merge_pathways(copy.deepcopy(model))
    assert not any(isinstance(m, PathwayLinear) for m in merged.modules())
    torch.testing.assert_close(merged(x), before, rtol=1e-5, atol=1e-5)
    layer = next(m for m in model.modules() if isinstance(m, PathwayLinear))
    w0 = layer.weight.detach().clone()
    layer.merge()
    layer.unmerge()
    torch.testing.assert_close(layer.weight.detach(), w0, rtol=0, atol=1e-6)


def test_caller_tensor_is_copied_private_one_adopted():
    base = nn.Linear(8, 6)
    theirs = torch.randn(6, 8)
    kept = PathwayLinear(base, theirs, aux_trainable=True)
    assert kept.aux_weight.data_ptr() != theirs.data_ptr()        # training W' never writes into theirs
    adopted = PathwayLinear(nn.Linear(8, 6), theirs, aux_trainable=True, adopt_aux=True)
    assert adopted.aux_weight.data_ptr() == theirs.data_ptr()


def test_attach_from_a_file_keeps_one_copy_and_module_source_stays_untouched(tmp_path):
    torch.manual_seed(0)
    aux = create_model("demo", "audio", 10)
    path = save_checkpoint(aux, tmp_path / "aux.safetensors")
    target = create_model("demo", "image", 10)
    attach_pathways(target, aux, aux_trainable=True)
    before = aux.blocks[0].attn.qkv.weight.detach().clone()
    with torch.no_grad():
        target.blocks[0].attn.qkv.aux_weight.add_(1.0)
    torch.testing.assert_close(aux.blocks[0].attn.qkv.weight.detach(), before)
    # From a path: the tensors read for attach are the only ones left (nothing refers to them
    # but the layers), and two pathways never share one W'.
    t2 = create_model("demo", "image", 10)
    attach_pathways(t2, str(path), aux_trainable=True, layers=[0, 1], aux_layers=[0, 0])
    a, b = t2.blocks[0].attn.qkv.aux_weight, t2.blocks[1].attn.qkv.aux_weight
    assert a.data_ptr() != b.data_ptr()
    torch.testing.assert_close(a.detach(), before)


def test_frozen_aux_in_bf16_halves_its_memory_and_survives_float_and_checkpoints(tmp_path):
    torch.manual_seed(0)
    target, aux = create_model("demo", "image", 10), create_model("demo", "audio", 10)
    full = copy.deepcopy(target)
    attach_pathways(full, aux, aux_trainable=False)
    attach_pathways(target, aux, aux_trainable=False, aux_dtype=torch.bfloat16)
    set_lambdas(full, 0.4)
    set_lambdas(target, 0.4)
    layer = target.blocks[0].mlp.fc1
    assert layer.aux_weight.dtype == torch.bfloat16 and layer.weight.dtype == torch.float32
    target.float()
    assert layer.aux_weight.dtype == torch.bfloat16
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(target(x), full(x), rtol=2e-2, atol=2e-2)     # W' rounded to bf16 only
    y = torch.tensor([0, 1])
    F.cross_entropy(target(x), y).backward()
    assert layer.lam.grad is not None and layer.weight.grad is not None
    path = save_checkpoint(target, tmp_path / "m.safetensors")
    back = load_checkpoint(path)
    assert back.blocks[0].mlp.fc1.aux_weight.dtype == torch.bfloat16
    torch.testing.assert_close(back(x), target.eval()(x), rtol=1e-6, atol=1e-6)
    with pytest.raises(Exception, match="frozen"):
        attach_pathways(create_model("demo", "image", 10), aux, aux_trainable=True, aux_dtype=torch.bfloat16)


def test_pretrained_target_adopts_file_tensors_but_never_a_callers(tmp_path):
    """Loading a target from a file uses the file's tensors as parameters (one copy in memory);
    training them never writes into the file, and tensors a caller passed in are always copied."""
    import hashlib

    from m2pt_core.pretrained import load_pretrained_target
    from m2pt_core.pretrained.examples import example_checkpoint, write_example_checkpoint
    path = write_example_checkpoint("timm", tmp_path / "t.safetensors")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    model, _ = load_pretrained_target(str(path), 3, num_heads=2)
    before = model(torch.randn(1, 3, 32, 32)).detach()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    again, _ = load_pretrained_target(str(path), 3, num_heads=2)
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 32)
    assert not torch.equal(model(x), again(x)) and before.shape == again(x).shape
    sd = example_checkpoint("timm")
    kept = {k: v.clone() for k, v in sd.items()}
    from_dict, _ = load_pretrained_target(sd, 3, num_heads=2)
    with torch.no_grad():
        for p in from_dict.parameters():
            p.add_(1.0)
    assert all(torch.equal(sd[k], kept[k]) for k in sd)


def test_second_derivatives_refuse_rather_than_come_out_wrong():
    x, w, aux, lam, b = _inputs(trainable_aux=False)
    (gx,) = torch.autograd.grad(pathway_linear(x, w, aux, lam, b).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        gx.sum().backward()
