"""The dashboard's long actions at any size: progress with the time left, a Stop that ends the
computation itself (the session is free again at once), the whole validation split on request,
and the slider's subset held within --max-eval and the --cache-mb cap."""
from __future__ import annotations

import threading

import pytest

from m2pt_core.explorer import Catalog, ExplorerSession
from m2pt_core.explorer.jobs import JobProgress, JobStopped, duration, eta_line, sweep_costs
from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo
from m2pt_core.pathways import get_lambdas

from .test_app_logic import AUX, TARGET, catalog, session  # noqa: F401  (the tiny zoo pair's fixtures)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_eta_from_the_rate_so_far_and_stop_raises():
    clock, seen, stop = Clock(), [], threading.Event()
    job = JobProgress("Knockout map (32 items)", lambda f, line: seen.append(line), stop, clock)
    assert eta_line(0.0, 0.0).endswith("estimating time left")
    clock.t = 10.0
    job(0.25)                                         # 10 s for a quarter: 30 s left
    assert seen[-1] == "Knockout map (32 items): 25% · 10 s elapsed · about 30 s left"
    assert duration(125) == "2 min 05 s" and duration(3720) == "1 h 02 min"
    half = job.part(1, [1.0, 3.0])                    # part 1 of two parts costing 1 and 3
    clock.t = 20.0
    half(0.5)
    assert job.fraction == pytest.approx(0.25 + 0.75 * 0.5)
    stop.set()
    with pytest.raises(JobStopped, match="stopped after 20 s"):
        job(0.9)
    costs = sweep_costs([0, 11], 12, None, "scale")   # layer 0 re-runs 12 blocks per grid value, layer 11 one
    assert costs == [12 + 9 * 12, 12 + 9 * 1]


def test_knockout_reports_progress_to_the_end_and_stops_within_a_block(session):
    fractions = []
    session.knockout(session.job("Knockout", lambda f, line: fractions.append(f)))
    assert fractions[0] == 0.0 and fractions[-1] == pytest.approx(1.0) and fractions == sorted(fractions)
    before = get_lambdas(session.model)
    calls = []

    def press_stop_early(f, line):
        calls.append(f)
        session.sweep_stop.set()                       # the page's Stop, pressed while it runs

    job = session.job("Knockout", press_stop_early)
    with pytest.raises(JobStopped):
        session.knockout(job)
    assert get_lambdas(session.model) == before      # every λ restored
    assert session.lock.acquire(timeout=1)           # the session is free at once
    session.lock.release()
    assert len(calls) <= 2                           # stopped at the first check after the press


def test_sweep_stops_inside_a_layer_and_keeps_the_layers_done(session):
    layers = sorted({int(n.split(".")[1]) for n in session.pathway_names()})
    seen = []
    job = session.job("λ sweep", lambda f, line: seen.append(f))
    out = []
    for done, total, rows in session.sweep(grid=[0.0, 1.0], progress=job):
        out.append(done)
        if done == 1:
            session.sweep_stop.set()
    assert out == [1] and len(layers) > 1 and seen[-1] < 1.0
    assert session.lock.acquire(timeout=1)
    session.lock.release()


def test_whole_validation_split_on_request_scores_every_item(catalog):
    """A slider on a 50-item subset; the whole split on request, λ now vs learned vs baseline."""
    session = ExplorerSession(catalog, max_eval=50)
    session.select(TARGET, AUX)
    assert session.data.is_subset and len(session.data.y) == 50
    name = session.lambda_keys()[0]
    session.set_lambda(name, 0.05)
    fractions = []
    md = session.score_whole_split(session.job("Whole split", lambda f, line: fractions.append(f)))
    assert md.startswith("**Whole validation split, on request**")
    assert f"all {session.data.total} validation items" in md
    assert "λ as learned" in md and "Baseline image-digits" in md and fractions[-1] == pytest.approx(1.0)


def test_subset_respects_max_eval_and_the_cache_cap(catalog):
    """--max-eval below 32 is a cap (it was raised to 32), and the hidden states of the learned λ
    plus one session's own must fit --cache-mb."""
    from m2pt_core.explorer.data import eval_limit
    model = catalog.load_model(TARGET)
    assert eval_limit(model, 8) == 8
    per_item = (model.config.depth + 1) * (model.tokenizer.num_tokens + 1) * model.config.embed_dim * 4
    assert eval_limit(model, 750, cache_bytes=40 * 2 * per_item) == 40
    small = Catalog(cached_tiny_zoo(), cache_bytes=40 * 2 * per_item)
    session = ExplorerSession(small)
    session.select(TARGET, AUX)
    assert len(session.data.y) == 40 and "subset of" in session.data.describe()
