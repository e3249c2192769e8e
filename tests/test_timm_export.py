"""A merged image target exported as a timm VisionTransformer loads in timm with equal outputs."""
from __future__ import annotations

import json

import pytest
import timm
import torch

from m2pt_core import attach_pathways, create_model, save_checkpoint, set_lambdas
from m2pt_core.cli import main
from m2pt_core.errors import M2PTError
from m2pt_core.explorer.timm_export import export_target, export_timm, timm_architecture


def _m2pt_image(global_pool: str = "token", fc_norm: bool = False, class_names=None):
    torch.manual_seed(0)
    kw = dict(global_pool=global_pool, fc_norm=fc_norm)
    if class_names:
        kw["class_names"] = class_names
    model = create_model("demo", "image", 4 if class_names else 10, **kw)
    attach_pathways(model, create_model("demo", "audio", 10))
    set_lambdas(model, 0.3)
    return model.eval()


@pytest.mark.parametrize("pool,fc_norm", [("token", False), ("avg", True)])
def test_timm_loads_the_export_both_ways_with_equal_outputs(tmp_path, pool, fc_norm):
    model = _m2pt_image(pool, fc_norm)
    res = export_timm(model, tmp_path / "out")
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["architecture"] == res.architecture and cfg["pretrained_cfg"]["num_classes"] == 10
    assert cfg["pretrained_cfg"]["mean"] == [0.5] and cfg["pretrained_cfg"]["input_size"] == [1, 28, 28]
    assert "tag" not in cfg["pretrained_cfg"]          # not the entry point's own checkpoint
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        ours = model(x)
        by_dir = timm.create_model(f"local-dir:{tmp_path / 'out'}", pretrained=True).eval()(x)
        by_overlay = timm.create_model(
            res.architecture, pretrained=True, **res.model_args,
            pretrained_cfg_overlay=dict(file=str(tmp_path / "out" / "model.safetensors"), num_classes=10,
                                        input_size=res.input_size)).eval()(x)
    assert (by_dir - ours).abs().max() <= 1e-5
    assert (by_overlay - ours).abs().max() <= 1e-5


def test_vit_b_shape_exports_under_its_timm_name():
    cfg = create_model("demo", "image", 10, embed_dim=768, depth=12, num_heads=12, mlp_dim=3072, img_size=224,
                       patch_size=16, in_chans=3).config
    name, args = timm_architecture(cfg)
    assert name == "vit_base_patch16_224" and args["embed_dim"] == 768 and args["depth"] == 12
    small = create_model("demo", "image", 10, embed_dim=384, depth=12, num_heads=6, mlp_dim=1536, img_size=224,
                         patch_size=16, in_chans=3).config
    assert timm_architecture(small)[0] == "vit_small_patch16_224"


def test_other_modalities_export_in_our_layout_and_say_why(tmp_path):
    torch.manual_seed(0)
    audio = create_model("demo", "audio", 10)
    res = export_target(audio, tmp_path, "auto")
    assert res["layout"] == "m2pt" and "AudioMAE" in res["notes"][0]
    with pytest.raises(M2PTError, match="image"):
        export_target(audio, tmp_path / "t", "timm")


def test_cli_export_timm(tmp_path, capsys):
    path = save_checkpoint(_m2pt_image(class_names=list("abcd")), tmp_path / "m.safetensors")
    assert main(["export", str(path), "--out", str(tmp_path / "timm"), "--format", "timm"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["layout"] == "timm" and out["max_abs_diff"] <= 1e-5
    loaded = timm.create_model(f"local-dir:{tmp_path / 'timm'}", pretrained=True)
    assert loaded.pretrained_cfg["label_names"] == list("abcd") and loaded.num_classes == 4
    assert main(["export", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "x")]) == 2


def _m2pt_audio(global_pool: str = "avg", fc_norm: bool = True):
    torch.manual_seed(0)
    model = create_model("demo", "audio", 10, global_pool=global_pool, fc_norm=fc_norm)   # 4 freq × 6 time patches
    attach_pathways(model, create_model("demo", "image", 10))
    set_lambdas(model, 0.3)
    return model.eval()


def test_audio_target_exports_to_audiomae_and_reloads_with_equal_outputs(tmp_path):
    """AudioMAE's layout: its model (timm's ViT, average pooling + fc_norm, input (B, 1, time, freq))
    gives our outputs, and our own loader of that layout (AudioMAE: time-major grid, transposed
    kernel) reads it back into the same function (a new head, as for every pretrained target)."""
    from m2pt_core.explorer.layout_export import audiomae_reference
    from m2pt_core.pretrained import load_pretrained_target
    model = _m2pt_audio()
    res = export_target(model, tmp_path / "am", "auto")
    assert res["layout"] == "audiomae" and res["max_abs_diff"] <= 1e-5 and "AudioMAE" in res["notes"][0]
    sd = torch.load(tmp_path / "am" / "checkpoint.pth", weights_only=True)["model"]
    assert sd["patch_embed.proj.weight"].shape == (model.config.embed_dim, 1, 16, 16) and "norm.weight" not in sd
    cfg = json.loads((tmp_path / "am" / "config.json").read_text())
    assert cfg["model_args"]["img_size"] == [96, 64] and cfg["model_args"]["global_pool"] is True
    x = torch.randn(3, 1, 64, 96)                                        # ours: (B, 1, freq, time)
    ref = audiomae_reference(model).eval()
    ref.load_state_dict(sd, strict=True)
    back, report = load_pretrained_target(str(tmp_path / "am" / "checkpoint.pth"), 10, modality="audio",
                                          input=model.config.input)
    back.eval()
    with torch.no_grad():
        ours = model(x)
        assert (ref(x.transpose(-1, -2)) - ours).abs().max() <= 1e-5
        feats = model.forward_head(model.forward_features(x), pre_logits=True)
        again = back.forward_head(back.forward_features(x), pre_logits=True)
    assert back.global_pool == "avg" and report.counts()["left at init"] <= 2      # the new head only
    assert (again - feats).abs().max() <= 1e-5
    assert torch.equal(sd["head.weight"], model.head.weight.detach())


def test_targets_without_an_equivalent_in_their_project_export_in_ours_and_say_why(tmp_path):
    token_audio = _m2pt_audio("token", False)
    res = export_target(token_audio, tmp_path / "a", "auto")
    assert res["layout"] == "m2pt" and "AudioMAE" in res["notes"][0] and "class token" in res["notes"][0]
    with pytest.raises(M2PTError, match="average"):
        export_target(token_audio, tmp_path / "b", "audiomae")
    torch.manual_seed(0)
    for modality, project in (("video", "VideoMAE"), ("pointcloud", "Point-MAE")):
        res = export_target(create_model("demo", modality, 4), tmp_path / modality, "auto")
        assert res["layout"] == "m2pt" and project in res["notes"][0]
