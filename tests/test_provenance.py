"""Data provenance: recorded in checkpoints, the default for evaluation, and the guard against
scoring a model on its own training items."""
import json
from types import SimpleNamespace

import pytest

from m2pt_core import load_checkpoint, read_metadata
from m2pt_core.data import DataProvenance, TrainOverlapError, eval_dataset, load_dataset
from m2pt_core.data.registry import provenance


def _fake_model(prov: DataProvenance | None, dataset: str = "digits"):
    return SimpleNamespace(data_provenance=prov.to_dict() if prov else None,
                           config=SimpleNamespace(input=None, dataset=dataset))


def test_eval_defaults_to_the_recorded_data_and_split():
    model = _fake_model(provenance("sounds", seed=0, size=600))
    choice = eval_dataset(model)
    assert choice.split == "test" and choice.train_overlap == 0
    assert list(choice.data.keys) == list(load_dataset("sounds", "test", size=600).keys)


def test_scoring_on_training_items_is_refused_and_named():
    model = _fake_model(provenance("digits", seed=0))
    with pytest.raises(TrainOverlapError, match=r"items of the train split .* trained on"):
        eval_dataset(model, "train")
    # another data seed re-splits the same real digits: part of its test split was trained on
    with pytest.raises(TrainOverlapError, match="trained on"):
        eval_dataset(model, "test", seed=1)
    forced = eval_dataset(model, "test", seed=1, allow_train_overlap=True)
    assert 0 < forced.train_overlap < len(forced.data) and "training items" in forced.describe()


def test_other_sizes_of_generated_data_never_overlap():
    """On main before item-level splits, 61 of the 444 default test items were training items of a
    600-item run."""
    model = _fake_model(provenance("shapes3d", seed=0, size=600))
    choice = eval_dataset(model, "test", size=3000)
    assert len(choice.data) == 444 and choice.train_overlap == 0


def test_checkpoints_without_provenance_assume_the_default_run():
    choice = eval_dataset(_fake_model(None, dataset="digits"), "val")
    assert "assumed" in choice.describe() and choice.train_overlap == 0


def test_cli_train_records_provenance_and_eval_uses_it(tmp_path, capsys):
    from m2pt_core.cli import main
    out = tmp_path / "run"
    assert main(["train", "--dataset", "sounds", "--data-size", "120", "--size", "test", "--epochs", "1",
                 "--batch-size", "32", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    model_file = out / "model.safetensors"
    meta = read_metadata(model_file)["data"]
    assert meta["name"] == "sounds" and meta["size"] == 120 and meta["seed"] == 0 and meta["split_rule"]
    assert load_checkpoint(model_file).data_provenance == meta
    assert main(["eval", str(model_file)]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["split"] == "test" and ev["n"] == len(load_dataset("sounds", "test", size=120)) and ev["train_overlap"] == 0
    assert main(["eval", str(model_file), "--split", "train"]) == 2
    assert "trained on" in capsys.readouterr().err
    assert main(["eval", str(model_file), "--split", "train", "--allow-train-overlap"]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["train_overlap"] == ev["n"] > 0


def test_dashboard_scores_the_split_of_the_models_own_run():
    """An uploaded model trained on 600 sounds is scored on that run's validation items (on main
    before provenance: the default 3,000-item run's, partly its training items)."""
    from m2pt_core import create_model
    from m2pt_core.explorer.data import eval_data
    model = create_model("test", "audio", 12, dataset="sounds")
    model.data_provenance = provenance("sounds", seed=0, size=600).to_dict()
    data = eval_data(model, max_eval=10_000)
    val = load_dataset("sounds", "val", size=600)
    assert data.split == "val" and len(data.y) == len(val) and data.dataset == "sounds"
    train_x = {x.numpy().tobytes() for x in load_dataset("sounds", "train", size=600).X}
    assert not any(x.numpy().tobytes() in train_x for x in data.X)
