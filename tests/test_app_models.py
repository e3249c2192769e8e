"""The dashboard's model sources and outputs, called directly: uploads and pretrained checkpoints,
model cards, predictions for a file, export, input figures, bundled samples, the app's callbacks."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from m2pt_core import create_model, save_checkpoint  # noqa: E402
from m2pt_core.errors import CheckpointError, InputFileError, M2PTError  # noqa: E402
from m2pt_core.explorer import Catalog, ExplorerSession  # noqa: E402
from m2pt_core.explorer.samples import bundled_samples  # noqa: E402
from m2pt_core.figures.inputs import audio_figure, image_figure, pointcloud_figure, video_figure  # noqa: E402
from tests.app_support import AUX, catalog, session  # noqa: E402,F401 (fixtures)


def test_uploaded_and_corrupt_checkpoints(catalog, tmp_path):
    s = ExplorerSession(catalog)
    torch.manual_seed(1)
    model = create_model("test", "audio", 5)
    save_checkpoint(model, tmp_path / "mine.safetensors")
    name = s.add_upload(tmp_path / "mine.safetensors")
    assert name in s.aux_choices() and name in s.target_choices()
    s.select("image-digits", name)                                # a user checkpoint as auxiliary
    assert len(s.pathway_names()) == 8
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        s.add_upload(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError):
        s.add_upload(tmp_path / "missing.safetensors")


def test_pretrained_checkpoint_as_target_with_load_report(catalog, tmp_path):
    from m2pt_core.explorer import NO_AUX
    from m2pt_core.explorer.catalog import checkpoint_summary
    from m2pt_core.pretrained.examples import write_example_checkpoint
    path = write_example_checkpoint("mae", tmp_path / "mae_pretrain.pth")
    assert "mae layout, 2 blocks, width 32" in checkpoint_summary(path)
    s = ExplorerSession(catalog, max_eval=64)
    name = s.add_upload(path)                       # an uploaded MAE file: as auxiliary and as target
    t = s.open_pretrained(name, "digits", num_heads=2)
    assert t.name in s.target_choices() and t.model.config.dataset == "digits"
    table = t.report_table()
    assert {"loaded", "left at init", "skipped"} <= set(table["status"])
    assert "pretrained (mae layout)" in s.card(t.name).as_markdown()
    score = s.select(t.name, NO_AUX)
    assert score is not None and score.n == len(s.data.y)
    s.select(t.name, AUX)                           # same size as the tiny zoo: pathways attach at λ = 0
    assert len(s.pathway_names()) == 8
    exported = s.export(tmp_path / "export")        # the pretrained target carries a full config
    assert exported["max_abs_diff"] < 1e-4 and Path(exported["config_path"]).is_file()


def test_deeper_auxiliary_is_explained_and_spread(catalog, tmp_path):
    torch.manual_seed(0)
    save_checkpoint(create_model("test", "audio", 3, depth=4), tmp_path / "deep.safetensors")
    s = ExplorerSession(catalog)
    name = s.add_upload(tmp_path / "deep.safetensors")
    table, summary = s.compatibility("image-digits", name)
    assert not table["match"].all() and "aux_layers='spread'" in summary
    table, summary = s.compatibility("image-digits", name, "spread")
    assert table["match"].all() and list(table["aux_layer"].unique()) == [1, 3]
    s.select("image-digits", name, aux_layers="spread")
    assert s.model.pathway_info["aux_layers"] == {"0": 1, "1": 3}


def test_model_cards_say_split_n_classes_and_chance():
    card = Catalog().card("m2pt-mnist5k-audio").as_markdown()     # the bundled zoo
    assert "| test accuracy | 84.27% (95% CI" in card and "test split, 750 items" in card
    assert "| validation accuracy | 84.40% (95% CI" in card and "validation split, 750 items" in card
    assert "| classes | 10: 0, 1, 2" in card and "| chance level | 10.0% (1 of 10 classes)" in card


def test_predict_and_wrong_modality(session, tmp_path):
    from PIL import Image
    import numpy as np
    import soundfile as sf
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(tmp_path / "x.png")
    p = session.predict(tmp_path / "x.png", k=3)
    assert p.modality == "image" and set(p.table["model"]) == {"baseline (image-digits)", "M2PT (λ as set)"}
    sf.write(tmp_path / "s.wav", np.sin(np.linspace(0, 400, 16000)).astype("float32"), 16000)
    with pytest.raises(InputFileError, match="This model takes images; s.wav is an audio file") as err:
        session.predict(tmp_path / "s.wav")
    assert "open an audio model" in str(err.value) and "this file is" not in str(err.value)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(InputFileError):
        session.predict(tmp_path / "bad.png")


def test_export_merges_and_verifies(session, tmp_path):
    from m2pt_core import load_checkpoint
    session.set_lambda("layer 1 · all", 0.3)
    r = session.export(tmp_path)
    assert r["max_abs_diff"] < 1e-4 and r["params_merged"] < r["params_with_pathways"]
    merged = load_checkpoint(r["path"])
    assert not [n for n, _ in merged.named_modules() if n.endswith("aux_weight")]
    assert json.loads(Path(r["config_path"]).read_text())["modality"] == "image"
    x = session.data.X[:16]
    with torch.no_grad():
        assert torch.allclose(merged(x), session.model(x), atol=1e-4)


def test_input_figures():
    assert image_figure(torch.rand(1, 28, 28)).data
    assert len(audio_figure(torch.rand(2, 8000), 16000, torch.rand(1, 64, 96)).data) == 2
    assert pointcloud_figure(torch.rand(512, 3)).data[0].type == "scatter3d"
    assert video_figure(torch.rand(1, 8, 32, 32)).data


def test_bundled_samples_index(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "index.json").write_text(json.dumps([{"file": "a.png", "modality": "image", "label": "7"},
                                                     {"file": "gone.wav", "modality": "audio"}]))
    samples = bundled_samples(tmp_path)
    assert [s.label for s in samples] == ["7"] and samples[0].modality == "image"
    # only the layout write_samples writes (a list of entries) is read; others fail loudly
    (tmp_path / "index.json").write_text(json.dumps({"samples": [{"file": "a.png", "modality": "image"}]}))
    with pytest.raises(M2PTError, match="write_samples"):
        bundled_samples(tmp_path)


def test_app_builds_and_callbacks_run(catalog):
    from app.main import build_app, parse_args
    demo = build_app(catalog)
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {"select_models", "set_lambda", "reset_lambdas", "predict_sample", "knockout", "sweep", "train",
            "export", "set_lambda_table", "add_checkpoint"} <= names
    args = parse_args(["--port", "7999"])
    assert args.port == 7999 and args.host == "127.0.0.1"
    assert math.isfinite(float(pd.Series([1.0]).iloc[0]))
