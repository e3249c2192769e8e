"""Training from the dashboard, called directly: a small pair, two jobs at once, Stop and Resume,
fine-tuning a pretrained target."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from m2pt_core.errors import M2PTError  # noqa: E402
from m2pt_core.explorer import ExplorerSession  # noqa: E402
from tests.app_support import AUX, catalog  # noqa: E402,F401 (fixtures)


def test_train_pair_small_and_stoppable(catalog):
    from m2pt_core.explorer import TrainRequest, TrainedPair, train_pair
    aux = catalog.load_aux(AUX)
    req = TrainRequest(dataset="digits", aux=AUX, epochs=1, data_size=200, size="test")
    events = []
    res = train_pair(req, aux, events.append)
    assert {e["arm"] for e in events if "arm" in e} == {"baseline", "m2pt"} and "acc" in res["test"]["m2pt"]
    # 200 items leave a validation split too small to measure anything: said before training.
    warning = [e for e in events if e["event"] == "warning"]
    assert len(warning) == 1 and "cannot be told apart" in warning[0]["message"]
    s = ExplorerSession(catalog)
    name = s.add_trained(TrainedPair(s.next_train_label("digits", AUX), "digits", AUX, 200, res["baseline"],
                                     res["m2pt"], res["histories"], res["test"], res["settings"]))
    s.select(name)
    assert s.baseline_name.endswith("baseline") and len(s.pathway_names()) == 8
    assert train_pair(req, aux, should_stop=lambda: True)["stopped"]
    with pytest.raises(M2PTError):
        TrainRequest(epochs=0).check()


def test_train_pair_jobs_in_two_threads_match_each_alone(catalog):
    """Two dashboard jobs at once: each gets what it gets alone, and the process RNG is untouched."""
    import threading
    from m2pt_core.explorer import TrainRequest, train_pair
    aux = catalog.load_aux(AUX)
    req = lambda s: TrainRequest(dataset="digits", aux=AUX, epochs=1, data_size=100, size="test", seed=s)  # noqa: E731
    torch.manual_seed(99)
    rng = torch.get_rng_state()
    alone = {s: train_pair(req(s), aux) for s in (0, 1)}
    assert torch.equal(torch.get_rng_state(), rng)
    together, start = {}, threading.Barrier(2)
    jobs = [threading.Thread(target=lambda s=s: (start.wait(), together.__setitem__(s, train_pair(req(s), aux))))
            for s in (0, 1)]
    for t in jobs:
        t.start()
    for t in jobs:
        t.join(120)
    for s in (0, 1):
        for arm in ("baseline", "m2pt"):
            a, b = alone[s][arm].state_dict(), together[s][arm].state_dict()
            assert all(torch.equal(a[k], b[k]) for k in a), (s, arm)


def test_train_stop_keeps_finished_epochs_and_resumes(catalog, tmp_path):
    """Stop after the baseline's first epoch: its curve is kept; resume finishes from there."""
    from m2pt_core.explorer import TrainRequest, train_pair
    aux = catalog.load_aux(AUX)
    req = TrainRequest(dataset="digits", aux=AUX, epochs=2, data_size=200, size="test")
    seen = []

    def stop_after_first_epoch() -> bool:
        return any(e["event"] == "epoch" for e in seen)
    res = train_pair(req, aux, seen.append, stop_after_first_epoch, work_dir=tmp_path)
    assert res["stopped"] and res["stopped_arm"] == "baseline"
    assert [r["epoch"] for r in res["histories"]["baseline"]] == [1]
    seen.clear()
    done = train_pair(req, aux, seen.append, work_dir=tmp_path, resume=True)
    assert not done["stopped"]
    assert [r["epoch"] for r in done["histories"]["baseline"]] == [1, 2]
    # The baseline resumed at epoch 2: no step of its first epoch ran again.
    assert all(e["epoch"] == 2 for e in seen if e.get("arm") == "baseline" and e["event"] == "step")


def test_train_pair_fine_tunes_a_pretrained_target(catalog, tmp_path):
    from m2pt_core.explorer import TrainRequest, train_pair
    from m2pt_core.pretrained.examples import write_example_checkpoint
    init = write_example_checkpoint("timm", tmp_path / "vit.safetensors")
    req = TrainRequest(dataset="digits", aux=AUX, epochs=1, data_size=100, batch_size=32, init=str(init), num_heads=2)
    res = train_pair(req, catalog.load_aux(AUX))
    base, m2pt = res["baseline"], res["m2pt"]
    assert base.config.input.patch_size == 8 and base.init_info["layout"] == "timm"
    assert m2pt.config == base.config and len(m2pt.pathway_info["aux_layers"]) == 2   # same pretrained target, + pathways
    assert res["settings"]["init"] == str(init) and len(res["histories"]["m2pt"]) == 1
