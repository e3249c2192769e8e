"""Pretrained targets: every real layout loads (fixture files with the projects' exact key names,
nesting and dtypes), and our model computes exactly what timm computes with the same weights."""
import pytest
import torch

from m2pt_core import CheckpointError, load_checkpoint, save_checkpoint
from m2pt_core.modalities import ImageSpec
from m2pt_core.pathways import get_lambdas, pathway_modules
from m2pt_core.pretrained import load_pretrained_target
from m2pt_core.pretrained.examples import LAYOUTS, example_checkpoint, reference_vit, write_example_checkpoint
from m2pt_core.pretrained.layouts import sinusoid_table
from m2pt_core.pretrained.sources import Source, heads_for

EXT = {"timm": ".safetensors", "timm-avg": ".safetensors", "deit-distilled": ".safetensors"}


def _file(tmp_path, layout):
    return write_example_checkpoint(layout, tmp_path / f"{layout}{EXT.get(layout, '.pth')}")


@torch.no_grad()
def _pre_logits(model, x):
    model.eval()
    return model.forward_head(model.forward_features(x), pre_logits=True)


@pytest.mark.parametrize("layout", ["timm", "timm-avg", "mae"])
def test_output_equals_timm(tmp_path, layout):
    """Same weights, same image size: our image model == timm's VisionTransformer (token / avg+fc_norm)."""
    ref = reference_vit(layout)
    model, report = load_pretrained_target(_file(tmp_path, layout), 7, num_heads=2)
    x = torch.randn(3, 3, 32, 32)
    diff = (_pre_logits(model, x) - _pre_logits(ref, x)).abs().max().item()
    assert diff <= 1e-5, diff
    assert model.config.global_pool == ("avg" if layout == "timm-avg" else "token")
    assert model.config.fc_norm == (layout == "timm-avg")
    assert report.layout == layout.replace("timm-avg", "timm")
    assert set(report.left_at_init) == {"head.weight", "head.bias"}


def test_mae_training_checkpoint_with_args_namespace(tmp_path):
    path = _file(tmp_path, "mae")
    raw = torch.load(path, weights_only=False)           # the fixture really holds a Namespace
    assert type(raw["args"]).__name__ == "Namespace" and "decoder_blocks.0.attn.qkv.weight" in raw["model"]
    model, report = load_pretrained_target(path, 3, num_heads=2)
    assert "mask_token" in report.skipped and "decoder_pred.weight" in report.skipped
    assert "pre-training only" in report.skipped["decoder_blocks.0.mlp.fc1.weight"]
    assert any("container 'model'" in n for n in report.notes)


def test_audiomae_time_freq_layout_equals_timm_on_transposed_input(tmp_path):
    """AudioMAE patches a (time, freq) spectrogram; ours is (freq, time): same function after the
    kernel and the position grid are transposed."""
    ref = reference_vit("audiomae")
    model, report = load_pretrained_target(_file(tmp_path, "audiomae"), 4, modality="audio", num_heads=2)
    assert report.layout == "audiomae" and model.config.input.input_shape == (1, 32, 64)
    x = torch.randn(2, 1, 32, 64)                                      # (B, 1, F, T)
    diff = (_pre_logits(model, x) - _pre_logits(ref, x.transpose(-1, -2))).abs().max().item()
    assert diff <= 1e-5, diff
    assert "transposed" in report.reshaped["pos_embed"][1]


def test_m2pt_official_checkpoint_as_target_keeps_w_lambda_and_aux(tmp_path):
    path = _file(tmp_path, "m2pt-official")
    model, report = load_pretrained_target(path, 5, num_heads=2)
    sd = example_checkpoint("m2pt-official")["model"]                  # the same (seeded) tensors as the file
    assert report.layout == "m2pt-official" and len(pathway_modules(model)) == 8
    lam = get_lambdas(model)["blocks.1.mlp.fc1"]
    assert lam == pytest.approx(float(sd["blocks.1.mlp.fc1.cross_modal_scale"]))
    assert torch.equal(model.blocks[1].mlp.fc1.aux_weight.detach(), sd["blocks.1.mlp.fc1.aux_weight"])
    # Equals timm with the effective weights W + scale·W' (what CrossModalReparamLinear computes).
    ref = reference_vit("timm")
    with torch.no_grad():
        for name, m in pathway_modules(model).items():
            ref.get_submodule(name).weight.copy_(sd[f"{name}.weight"] + sd[f"{name}.cross_modal_scale"] * sd[f"{name}.aux_weight"])
    x = torch.randn(2, 3, 32, 32)
    assert (_pre_logits(model, x) - _pre_logits(ref, x)).abs().max().item() <= 1e-5


def test_deit_distilled_drops_the_distillation_token(tmp_path):
    model, report = load_pretrained_target(_file(tmp_path, "deit-distilled"), 3, num_heads=2)
    assert report.layout == "deit-distilled" and "dist_token" in report.skipped and "head_dist.weight" in report.skipped
    ref = example_checkpoint("deit-distilled")["pos_embed"]
    pos = model.pos_embed.detach()
    assert torch.equal(pos[:, :1], ref[:, :1]) and torch.equal(pos[:, 1:], ref[:, 2:])   # cls slot + patches


def test_pointmae_blocks_load_and_group_encoder_is_reported(tmp_path):
    path = _file(tmp_path, "pointmae")
    model, report = load_pretrained_target(path, 4, num_heads=2)
    sd = example_checkpoint("pointmae")["base_model"]
    assert report.layout == "pointmae" and model.config.modality == "pointcloud"
    assert torch.equal(model.blocks[1].mlp.fc2.weight.detach(), sd["module.MAE_encoder.blocks.blocks.1.mlp.fc2.weight"])
    assert torch.equal(model.blocks[0].attn.qkv.bias.detach(), torch.zeros(96))        # Point-MAE: qkv_bias=False
    assert "group encoder" in report.left_at_init["tokenizer.first_mlp.0.weight"]
    assert "module.MAE_encoder.encoder.first_conv.0.weight" in report.skipped
    assert "pre-training only" in report.skipped["module.MAE_decoder.blocks.blocks.0.attn.qkv.weight"]
    assert any("base_model" in n for n in report.notes)
    with pytest.raises(CheckpointError, match="Point-MAE .*expected modality='pointcloud'"):
        load_pretrained_target(path, 4, modality="image", num_heads=2)


def test_videomae_tubelets_q_v_bias_and_sinusoid_positions(tmp_path):
    path = _file(tmp_path, "videomae")
    model, report = load_pretrained_target(path, 4, num_heads=2, input={"num_frames": 4, "img_size": 16})
    sd = example_checkpoint("videomae")["model"]
    assert report.layout == "videomae" and model.config.modality == "video" and model.config.global_pool == "avg"
    q, v = sd["encoder.blocks.0.attn.q_bias"], sd["encoder.blocks.0.attn.v_bias"]
    assert torch.equal(model.blocks[0].attn.qkv.bias.detach(), torch.cat([q, torch.zeros(32), v]))
    assert torch.equal(model.tokenizer.proj.weight.detach(), sd["encoder.patch_embed.proj.weight"])
    n = model.tokenizer.num_tokens                                     # 2 × 2 × 2 tubelets
    assert torch.allclose(model.pos_embed.detach()[:, 1:], sinusoid_table(n, 32))
    assert "cls_token" in report.left_at_init
    with pytest.raises(CheckpointError, match="tubelet.*expected modality='video'"):
        load_pretrained_target(path, 4, modality="image", num_heads=2)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_key_is_accounted_for(tmp_path, layout):
    kw = {"input": {"num_frames": 4, "img_size": 16}} if layout == "videomae" else {}
    model, report = load_pretrained_target(_file(tmp_path, layout), 3, num_heads=2, **kw)
    ours = set(model.state_dict())
    assert ours == set(report.loaded) | set(report.reshaped) | set(report.left_at_init)
    assert not (set(report.loaded) & set(report.left_at_init))
    table = report.table()
    assert set(table["status"]) <= {"loaded", "reshaped", "left at init", "skipped"}
    assert str(report).startswith("Loaded ")


def test_dataset_spec_keeps_checkpoint_patch_and_adapts_channels(tmp_path):
    path = _file(tmp_path, "timm")
    spec = ImageSpec(img_size=28, patch_size=7, in_chans=1)
    model, report = load_pretrained_target(path, 10, input=spec, num_heads=2)
    s = model.config.input
    assert (s.patch_size, s.img_size, s.in_chans) == (8, 32, 1)
    w = example_checkpoint("timm")["patch_embed.proj.weight"]
    assert torch.allclose(model.tokenizer.patch.proj.weight.detach(), w.sum(1, keepdim=True))
    assert "summed" in report.reshaped["tokenizer.patch.proj.weight"][1]
    assert any("patch_size 7 → 8" in n for n in report.notes) and any("rounded up to 32" in n for n in report.notes)
    bigger, report = load_pretrained_target(path, 10, input={"img_size": 64}, num_heads=2)
    assert bigger.pos_embed.shape == (1, 65, 32) and "resampled from 4×4 to 8×8" in report.reshaped["pos_embed"][1]
    repatched, report = load_pretrained_target(path, 10, input={"patch_size": 4}, num_heads=2)
    assert repatched.tokenizer.patch.proj.weight.shape[-1] == 4 and "resample_patch_embed" in report.reshaped["tokenizer.patch.proj.weight"][1]


def test_layer_scale_is_folded_exactly():
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    ref = VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, init_values=0.3, num_classes=2).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.2)
    model, report = load_pretrained_target(ref.state_dict(), 2, num_heads=2)
    x = torch.randn(2, 3, 32, 32)
    assert (_pre_logits(model, x) - _pre_logits(ref, x)).abs().max().item() <= 1e-5
    assert "layer scale" in report.reshaped["blocks.0.attn.proj.weight"][1]


def _deit3(img_size=32, patch_size=8, width=32, depth=2, heads=2):
    """A timm DeiT III ViT (deit.py deit3_*: no_embed_class=True, layer scale) with random weights."""
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    ref = VisionTransformer(img_size=img_size, patch_size=patch_size, embed_dim=width, depth=depth, num_heads=heads,
                            no_embed_class=True, init_values=0.3, num_classes=3).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.2)
    return ref


def test_deit3_no_embed_class_target_equals_timm(tmp_path):
    from safetensors.torch import save_file
    ref = _deit3()
    sd = ref.state_dict()
    assert sd["pos_embed"].shape == (1, 16, 32)                            # patches only: no class slot
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "deit3.safetensors"))
    model, report = load_pretrained_target(tmp_path / "deit3.safetensors", 3, num_heads=2)
    x = torch.randn(2, 3, 32, 32)
    assert (_pre_logits(model, x) - _pre_logits(ref, x)).abs().max().item() <= 1e-5
    assert "no_embed_class" in report.reshaped["pos_embed"][1]
    bigger, _ = load_pretrained_target(sd, 3, input={"img_size": 64}, num_heads=2)   # resampled like the others
    assert bigger.pos_embed.shape == (1, 65, 32)


def test_timm_deit3_small_patch16_224_itself_loads_and_equals_timm():
    import timm
    torch.manual_seed(0)
    ref = timm.create_model("deit3_small_patch16_224", pretrained=False, num_classes=10).eval()   # no download
    model, report = load_pretrained_target(ref.state_dict(), 10)
    assert (model.config.embed_dim, model.config.depth, model.config.num_heads) == (384, 12, 6)
    x = torch.randn(1, 3, 224, 224)
    assert (_pre_logits(model, x) - _pre_logits(ref, x)).abs().max().item() <= 1e-4


def test_models_tab_opens_a_deit3_file_and_names_a_truncated_one(tmp_path):
    """What the dashboard's Models tab calls (its guard shows the message as one line)."""
    from safetensors.torch import save_file
    from m2pt_core.explorer.pretrained import open_pretrained
    save_file({k: v.contiguous() for k, v in _deit3().state_dict().items()}, str(tmp_path / "deit3.safetensors"))
    t = open_pretrained(tmp_path / "deit3.safetensors", "digits", num_heads=2)
    assert t.model.config.num_classes == 10 and "no_embed_class" in t.report.reshaped["pos_embed"][1]
    torch.save(_deit3().state_dict(), tmp_path / "deit3.pth")
    cut = tmp_path / "cut.pth"
    cut.write_bytes((tmp_path / "deit3.pth").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="^cut.pth is truncated or corrupt"):
        open_pretrained(cut, "digits", num_heads=2)


def test_layer_scale_rule_is_the_same_for_auxiliary_and_target():
    from m2pt_core.pathways import load_aux
    ref = _deit3()
    target, _ = load_pretrained_target(ref.state_dict(), 3, num_heads=2)
    aux = load_aux(ref)
    for i in range(2):
        for comp, ls in (("attn.proj", "ls1"), ("mlp.fc2", "ls2")):
            raw = getattr(ref.blocks[i], comp.split(".")[0]).get_submodule(comp.split(".")[1]).weight.detach()
            gamma = getattr(ref.blocks[i], ls).gamma.detach()
            assert torch.allclose(aux.get(i, comp), gamma[:, None] * raw)              # W' = diag(γ) W
            assert torch.allclose(aux.get(i, comp), target.get_submodule(f"blocks.{i}.{comp}").weight.detach())
        assert torch.equal(aux.get(i, "attn.qkv"), ref.blocks[i].attn.qkv.weight.detach())   # no γ there
    assert any("layer scale" in n for n in aux.notes)


def test_heads_come_from_names_widths_or_the_argument():
    src = Source({}, "vit_small_patch16_224.augreg_in21k")
    assert heads_for(384, src, None)[0] == 6
    assert heads_for(768, Source({}, "x", args={"model": "mae_vit_base_patch16"}), None) == (12, "args.model ('mae_vit_base_patch16')")
    assert heads_for(40, src, 4) == (4, "given")
    with pytest.raises(CheckpointError, match="pass num_heads="):
        heads_for(40, Source({}, "mystery"), None)


def test_target_checkpoint_carries_full_config(tmp_path):
    model, _ = load_pretrained_target(_file(tmp_path, "timm-avg"), 4, num_heads=2, class_names=list("abcd"), dataset="digits")
    path = save_checkpoint(model, tmp_path / "t.safetensors")
    loaded = load_checkpoint(path)
    assert loaded.config == model.config and loaded.config.fc_norm
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded(x), model.eval()(x))
    # Our own checkpoint is a pretrained source too: same architecture, new head.
    again, report = load_pretrained_target(path, 2)
    assert report.layout == "m2pt" and again.config.num_classes == 2
    assert torch.equal(again.blocks[1].mlp.fc1.weight, model.blocks[1].mlp.fc1.weight)


def test_official_m2pt_target_round_trips_through_our_checkpoint(tmp_path):
    model, _ = load_pretrained_target(_file(tmp_path, "m2pt-official"), 5, num_heads=2)
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "m.safetensors"))
    assert get_lambdas(loaded) == get_lambdas(model)


def test_hugging_face_name_from_a_local_cache(tmp_path, monkeypatch):
    from safetensors.torch import save_file
    cache = tmp_path / "hub"
    repo = cache / "models--timm--vit_tiny_test.augreg_in21k"
    snap = repo / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    save_file(example_checkpoint("timm"), str(snap / "model.safetensors"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    model, report = load_pretrained_target("timm/vit_tiny_test.augreg_in21k", 3, num_heads=2)
    assert report.layout == "timm" and any("Hugging Face cache" in n for n in report.notes)
    _, report = load_pretrained_target("hf-hub:timm/vit_tiny_test.augreg_in21k", 3, num_heads=2)
    with pytest.raises(CheckpointError, match="huggingface-cli download timm/vit_small_patch16_224"):
        load_pretrained_target("timm/vit_small_patch16_224.augreg_in21k", 3)


def test_not_a_vit_says_what_was_expected(tmp_path):
    with pytest.raises(CheckpointError, match="No ViT encoder blocks found: expected keys like"):
        load_pretrained_target({"conv1.weight": torch.zeros(2, 2)}, 3)
    with pytest.raises(CheckpointError, match="neither a file nor a Hugging Face"):
        load_pretrained_target(str(tmp_path / "missing.pth"), 3)


@pytest.mark.slow
def test_vit_base_16_shapes_equal_timm():
    import timm
    torch.manual_seed(0)
    ref = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=10).eval()
    model, report = load_pretrained_target(ref.state_dict(), 10, global_pool="token")
    assert (model.config.embed_dim, model.config.depth, model.config.num_heads, model.config.size) == (768, 12, 12, "vit_base")
    x = torch.randn(1, 3, 224, 224)
    assert (_pre_logits(model, x) - _pre_logits(ref, x)).abs().max().item() <= 1e-4


def test_cli_train_from_pretrained_init_then_eval(tmp_path, capsys):
    import json
    from m2pt_core.cli import main
    init = _file(tmp_path, "timm")
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "digits", "--init", str(init), "--num-heads", "2", "--aux", "none", "--epochs", "1",
               "--data-size", "120", "--batch-size", "32", "--out", str(out), "--no-progress", "--threads", "1"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model = load_checkpoint(result["model"])
    assert model.config.embed_dim == 32 and model.config.input.patch_size == 8 and model.config.dataset == "digits"
    assert model.init_info["layout"] == "timm" and model.init_info["init"] == str(init)
    assert main(["eval", result["model"], "--data-size", "120"]) == 0
    assert main(["train", "--dataset", "digits", "--init", str(tmp_path / "nope.pth"), "--epochs", "1"]) == 2
    assert "neither a file nor a Hugging Face" in capsys.readouterr().err


def test_cli_adds_an_auxiliary_to_an_m2pt_checkpoint_and_pairs_chosen_layers(tmp_path, capsys):
    import json
    from m2pt_core.cli import main
    init, aux = _file(tmp_path, "m2pt-official"), _file(tmp_path, "mae")
    sd = example_checkpoint("m2pt-official")["model"]
    base = ["train", "--dataset", "digits", "--init", str(init), "--num-heads", "2", "--epochs", "1", "--lr", "1e-12",
            "--data-size", "60", "--batch-size", "32", "--no-progress", "--threads", "1"]
    assert main(base + ["--aux", str(aux)]) == 2
    assert "--existing-pathways merge|replace" in capsys.readouterr().err
    p = "blocks.1.attn.proj."
    for how, expected in (("merge", sd[p + "weight"] + sd[p + "cross_modal_scale"] * sd[p + "aux_weight"]),
                          ("replace", sd[p + "weight"])):
        out = tmp_path / how
        assert main(base + ["--aux", str(aux), "--existing-pathways", how, "--out", str(out)]) == 0
        model = load_checkpoint(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["model"])
        assert torch.allclose(model.blocks[1].attn.proj.weight.detach(), expected.float(), atol=1e-6)   # lr ~0: as loaded
        assert len(pathway_modules(model)) == 8
    # a 1-block auxiliary: the depth hint names --layers, and --layers 1 --aux-layers 0 follows it
    shallow = tmp_path / "shallow.pth"
    torch.save({k: v for k, v in example_checkpoint("mae")["model"].items() if not k.startswith("blocks.1.")}, shallow)
    timm_init = _file(tmp_path, "timm")
    small = ["train", "--dataset", "digits", "--init", str(timm_init), "--num-heads", "2", "--epochs", "1",
             "--data-size", "60", "--batch-size", "32", "--no-progress", "--threads", "1", "--aux", str(shallow)]
    assert main(small) == 2 and "--layers" in capsys.readouterr().err
    assert main(small + ["--layers", "1", "--aux-layers", "0", "--out", str(tmp_path / "l1")]) == 0
    model = load_checkpoint(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["model"])
    assert sorted({n.split(".")[1] for n in pathway_modules(model)}) == ["1"]


def test_experiment_with_pretrained_init_and_mae_aux(tmp_path):
    from m2pt_core.experiment import run_experiment
    from m2pt_core.train import TrainConfig
    init, aux = _file(tmp_path, "timm"), _file(tmp_path, "mae")
    cfg = TrainConfig(epochs=1, batch_size=32, progress=False)
    table = run_experiment("digits", [str(aux)], arms=["baseline", "m2pt"], seeds=[0], config=cfg, data_size=120,
                           out_dir=tmp_path / "exp", init=str(init), num_heads=2, progress=False)
    assert list(table.arm) == ["baseline", "m2pt"] and set(table.model_size) == {"test"}   # 32 wide, 2 blocks, 2 heads, MLP 64
    again = run_experiment("digits", [str(aux)], arms=["baseline"], seeds=[0], config=cfg, data_size=120,
                           out_dir=tmp_path / "exp", progress=False)          # no init: another run
    assert again.run_id[0] != table.run_id[0]


def test_timm_module_gives_its_heads_and_same_output():
    ref = reference_vit("timm", heads=4)
    model, report = load_pretrained_target(ref, 3)
    assert model.config.num_heads == 4 and any("from the module" in n for n in report.notes)
    x = torch.randn(2, 3, 32, 32)
    assert (_pre_logits(model, x) - _pre_logits(ref, x)).abs().max().item() <= 1e-5


def test_fine_tuned_point_mae_and_video_mae_layouts():
    # Point-MAE PointTransformer (fine-tuned): cls_token, cls_pos, encoder.*, pos_embed.*, blocks.blocks.*, cls_head_finetune.*
    pre = example_checkpoint("pointmae")["base_model"]
    ft = {k.replace("module.MAE_encoder.", ""): v for k, v in pre.items() if k.startswith("module.MAE_encoder.")}
    ft.update({"cls_token": torch.randn(1, 1, 32), "cls_pos": torch.randn(1, 1, 32),
               "cls_head_finetune.0.weight": torch.randn(256, 64)})
    model, report = load_pretrained_target({"base_model": ft}, 3, num_heads=2)
    assert report.layout == "pointmae" and torch.equal(model.pos_embed.detach(), ft["cls_pos"])
    assert report.loaded["cls_token"] == "cls_token" and "cls_head_finetune.0.weight" in report.skipped
    # VideoMAE fine-tuned (modeling_finetune.py, use_mean_pooling): no norm keys, fc_norm + head, under 'module'.
    vpre = example_checkpoint("videomae")["model"]
    vft = {k[len("encoder."):]: v for k, v in vpre.items() if k.startswith("encoder.") and not k.startswith("encoder.norm.")}
    vft.update({"fc_norm.weight": torch.ones(32) * 2, "fc_norm.bias": torch.zeros(32), "head.weight": torch.zeros(400, 32),
                "head.bias": torch.zeros(400)})
    model, report = load_pretrained_target({"module": vft}, 5, num_heads=2, input={"num_frames": 4, "img_size": 16})
    assert model.config.fc_norm and model.config.global_pool == "avg"
    assert torch.equal(model.fc_norm.weight.detach(), vft["fc_norm.weight"]) and "head.weight" in report.skipped


def test_cli_options_for_pretrained_and_deeper_aux():
    from m2pt_core.cli import build_parser
    p = build_parser()
    a = p.parse_args(["experiment", "--target", "digits", "--aux", "x.pth", "--init", "timm/vit_tiny", "--num-heads", "3"])
    assert (a.init, a.num_heads) == ("timm/vit_tiny", 3)
    assert p.parse_args(["train", "--dataset", "digits", "--aux-layers", "spread"]).aux_layers == "spread"
    assert p.parse_args(["train", "--dataset", "digits", "--aux-layers", "1,3"]).aux_layers == [1, 3]
    with pytest.raises(SystemExit):
        p.parse_args(["train", "--dataset", "digits", "--aux-layers", "every-other"])
