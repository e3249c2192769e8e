"""--tensorboard DIR: loss, accuracy and every λ per step as TensorBoard events, beside log.jsonl,
without changing the run's identity."""
from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from m2pt_core.cli import main
from m2pt_core.experiment import RunRequest, request_spec
from m2pt_core.safe_io import read_jsonl
from m2pt_core.train import TrainConfig

from .test_train import _register_toy


def test_cli_train_writes_tensorboard_events_beside_the_jsonl_log(tmp_path, capsys):
    _register_toy()
    out, tb = tmp_path / "run", tmp_path / "tb"
    assert main(["train", "--dataset", "toy2", "--size", "test", "--epochs", "2", "--batch-size", "32",
                 "--aux", "random", "--out", str(out), "--tensorboard", str(tb), "--no-progress"]) == 0
    json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    events = EventAccumulator(str(tb))
    events.Reload()
    tags = events.Tags()["scalars"]
    lambdas = [t for t in tags if t.startswith("lambda/")]
    assert len(lambdas) == 8 and "lambda/blocks.0.attn.qkv" in lambdas          # 2 blocks × 4 components
    steps = [e.step for e in events.Scalars("train/loss")]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 2
    assert len(events.Scalars("lambda/blocks.1.mlp.fc2")) == len(steps)
    assert all(0.0 <= e.value <= 1.0 for e in events.Scalars("train/batch_acc"))
    log = read_jsonl(out / "log.jsonl")
    val = [e.value for e in events.Scalars("epoch/val_acc")]
    assert val == pytest.approx([r["val_acc"] for r in log], abs=1e-6)
    last = events.Scalars("lambda/blocks.0.attn.qkv")[-1].value
    assert abs(last - log[-1]["lambdas"]["blocks.0.attn.qkv"]) < 1e-6


def test_tensorboard_is_not_part_of_a_runs_identity():
    def spec(config: TrainConfig) -> dict:
        return request_spec(RunRequest("toy", "baseline", None, None, 0, "test", config, 0.0, "runs", "b"), {"d": 1})
    assert spec(TrainConfig(tensorboard="/tmp/tb")) == spec(TrainConfig())
    assert spec(TrainConfig(lr=0.5)) != spec(TrainConfig())


def _scalars(folder) -> tuple[list[str], list[int]]:
    events = EventAccumulator(str(folder))
    events.Reload()
    tags = events.Tags()["scalars"]
    return tags, [e.step for e in events.Scalars("train/loss")]


def test_experiment_and_ablate_write_one_tensorboard_folder_per_run(tmp_path, capsys):
    """m2pt experiment / m2pt ablate --tensorboard DIR: a subfolder per run, named as its run folder,
    with loss, accuracy and (M2PT arms) every λ per step, as m2pt train writes them."""
    from .test_ablation import _aux_file
    _register_toy()
    tb, aux = tmp_path / "tb", _aux_file(tmp_path)
    common = ["--size", "test", "--epochs", "1", "--batch-size", "32", "--data-size", "60", "--no-progress"]
    assert main(["experiment", "--target", "toy2", "--aux", aux, "--arms", "baseline", "m2pt", "--seeds", "0",
                 "--out", str(tmp_path / "exp"), "--tensorboard", str(tb / "exp"), *common]) == 0
    runs = sorted(p.name for p in (tb / "exp").iterdir())
    assert runs == sorted(p.name for p in (tmp_path / "exp").iterdir() if p.is_dir())     # one per run folder
    assert [r.split("-")[0] for r in runs] == ["baseline", "m2pt"]
    for run in runs:
        tags, steps = _scalars(tb / "exp" / run)
        assert "train/batch_acc" in tags and "epoch/val_acc" in tags and steps == list(range(1, len(steps) + 1))
        assert len([t for t in tags if t.startswith("lambda/")]) == (8 if run.startswith("m2pt") else 0)
    capsys.readouterr()
    assert main(["ablate", "--target", "toy2", "--aux", aux, "--by", "all", "--seeds", "0",
                 "--out", str(tmp_path / "abl"), "--tensorboard", str(tb / "abl"), *common]) == 0
    runs = sorted(p.name for p in (tb / "abl").iterdir())
    assert len(runs) == 2 and {r.split("-")[0] for r in runs} == {"baseline", "all"}
    tags, steps = _scalars(tb / "abl" / next(r for r in runs if r.startswith("all")))
    assert len([t for t in tags if t.startswith("lambda/")]) == 8 and len(steps) >= 1
