"""Zoo: manifest lookups, verify catches corrupted / missing files, load matches the manifest."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from m2pt_core import attach_pathways, create_model, save_checkpoint, zoo
from m2pt_core.cli import main
from m2pt_core.errors import CheckpointError
from m2pt_core.pathways import load_aux


@pytest.fixture
def tiny_zoo(tmp_path):
    """A zoo folder with one plain and one M2PT tiny model and a manifest, like assets/zoo."""
    torch.manual_seed(0)
    plain = create_model("test", "audio", 3)
    target = create_model("test", "image", 10)
    attach_pathways(target, plain)
    entries = {}
    for name, model in (("audio-tiny", plain), ("m2pt-tiny", target)):
        path = save_checkpoint(model, tmp_path / f"{name}.safetensors", dtype=torch.float16)
        entries[name] = {"name": name, "file": path.name, "sha256": zoo.sha256(path), "bytes": path.stat().st_size,
                         "modality": model.config.modality, "dataset": None, "size": "test", "auxiliary": None,
                         "accuracy": None, "params": 0, "epochs": 0, "training_time_s": 0}
    (tmp_path / zoo.MANIFEST).write_text(json.dumps({"format": zoo.FORMAT, "models": entries}))
    return tmp_path


def test_lookup_and_load(tiny_zoo):
    assert zoo.model_names(tiny_zoo) == ["audio-tiny", "m2pt-tiny"]
    assert zoo.model_path("audio-tiny", tiny_zoo).is_file()
    model = zoo.load("m2pt-tiny", path=tiny_zoo)
    assert model.blocks[0].attn.qkv.lam.dtype == torch.float32
    assert list(zoo.list_models(tiny_zoo).name) == ["audio-tiny", "m2pt-tiny"]
    with pytest.raises(KeyError, match="Unknown zoo model 'nope'.*audio-tiny"):
        zoo.model_path("nope", tiny_zoo)


def test_load_aux_resolves_zoo_names(tiny_zoo, monkeypatch):
    monkeypatch.setenv("M2PT_ZOO_DIR", str(tiny_zoo))
    aux = load_aux("audio-tiny", resolve=zoo.resolve)
    assert aux.source == "audio-tiny" and aux.modality == "audio" and aux.depth == 2
    assert zoo.resolve("nope") is None
    with pytest.raises(CheckpointError, match="resolve=m2pt_core.zoo.resolve"):
        load_aux("audio-tiny")              # the engine does not know the zoo: no resolver, no zoo names


def test_verify_catches_corrupted_and_missing(tiny_zoo, capsys):
    assert zoo.verify(tiny_zoo) == []
    assert main(["zoo", "verify", "--dir", str(tiny_zoo)]) == 0
    f = tiny_zoo / "audio-tiny.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01                      # flip one bit in the tensor payload
    f.write_bytes(bytes(data))
    problems = zoo.verify(tiny_zoo)
    assert len(problems) == 1 and "audio-tiny" in problems[0] and "corrupted" in problems[0]
    (tiny_zoo / "m2pt-tiny.safetensors").unlink()
    capsys.readouterr()
    assert main(["zoo", "verify", "--dir", str(tiny_zoo)]) == 1
    err = capsys.readouterr().err
    assert "corrupted" in err and "m2pt-tiny.safetensors is missing" in err


def test_verify_reports_missing_manifest(tmp_path):
    problems = zoo.verify(tmp_path)
    assert len(problems) == 1 and "manifest" in problems[0]


def test_bundled_manifest_is_consistent():
    """The shipped zoo: files match, sizes stay within budget, every recipe is recorded."""
    if not (zoo.zoo_dir() / zoo.MANIFEST).is_file():
        pytest.skip("assets/zoo is not built")
    assert zoo.verify() == []
    entries = zoo.manifest()["models"]
    root = zoo.zoo_dir().parent
    shipped = [p for p in root.rglob("*") if p.is_file()
               and not any(part.startswith(".") for part in p.relative_to(root).parts)]   # not .build/
    assert sum(p.stat().st_size for p in shipped) < 100e6   # the assets/ budget
    for name, e in entries.items():
        assert e["recipe"]["name"] == name and 0 <= e["accuracy"] <= 1 and e["params"] > 0


@pytest.mark.slow
def test_zoo_load_accuracy_matches_manifest():
    from m2pt_core.data import load_dataset
    from m2pt_core.train import evaluate
    if not (zoo.zoo_dir() / zoo.MANIFEST).is_file():
        pytest.skip("assets/zoo is not built")
    for name, e in zoo.manifest()["models"].items():
        model = zoo.load(name)
        test = load_dataset(e["dataset"], "test", spec=model.config.input, size=e["recipe"]["data_size"])
        assert evaluate(model, test)["acc"] == pytest.approx(e["accuracy"], abs=1e-6), name
