"""Serving many sessions: what is the same for everyone is held once (weights, base hidden states,
scores of a λ setting), a session keeps only its λ, the shared cache stays within its byte budget
and says "busy" instead of growing, and an ended session leaves nothing behind."""
from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import pytest
import torch

from m2pt_core.analysis import evaluate_tensors
from m2pt_core.explorer import Catalog, ExplorerSession
from m2pt_core.explorer.cache import ServerBusyError, SharedCache
from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo
from m2pt_core.pathways import pathway_modules

ROOT = Path(__file__).resolve().parent.parent
TARGET, AUX = "m2pt-digits-audio", "audio-sounds"
SHARED_KINDS = {"model", "aux", "pair", "eval-data", "bootstrap-resamples"}   # read-only, the same for everyone


@pytest.fixture
def catalog():
    return Catalog(cached_tiny_zoo())


def _direct(session: ExplorerSession) -> float:
    return evaluate_tensors(session.model, session.data.X, session.data.y)["acc"]


def test_shared_evaluator_matches_a_full_evaluation(catalog):
    """Every λ path (later layer, earlier layer, back to learned, the other session's) scores
    exactly what a plain forward pass over the set gives."""
    a, b = ExplorerSession(catalog), ExplorerSession(catalog)
    a.select(TARGET, AUX), b.select(TARGET, AUX)
    moves = [("layer 1 · all", 0.7), ("blocks.1.mlp.fc1", -0.4), ("layer 0 · all", 1.5),
             ("layer 1 · all", 0.1), ("layer 0 · all", a.learned_lambda("layer 0 · all"))]
    for key, value in moves:
        s = a.set_lambda(key, value)
        assert s.acc == pytest.approx(_direct(a), abs=1e-9), (key, value)
    assert b.set_lambda("layer 1 · all", 0.7).acc == pytest.approx(_direct(b), abs=1e-9)
    assert a.reset_lambdas().acc == b.reset_lambdas().acc == a.learned_acc


def test_sessions_share_weights_and_keep_their_own_lambda(catalog):
    a, b = ExplorerSession(catalog), ExplorerSession(catalog)
    a.select("image-digits", AUX), b.select("image-digits", AUX)          # fresh pathways, W' attached
    pa, pb = pathway_modules(a.model), pathway_modules(b.model)
    for name in pa:
        assert pa[name].weight.data_ptr() == pb[name].weight.data_ptr()
        assert pa[name].aux_weight.data_ptr() == pb[name].aux_weight.data_ptr()   # attached once
        assert pa[name].lam is not pb[name].lam
    a.set_lambda("layer 0 · all", 0.9)
    assert all(m.lam_value == 0.0 for m in pb.values())
    bases = [k for k in catalog.cache._entries if k[0] == "base"]
    assert len(bases) == 1                        # one set of base hidden states for both sessions


def test_ended_sessions_leave_nothing_in_the_cache(catalog):
    before = catalog.cache.stats()["used_bytes"]
    sessions = [ExplorerSession(catalog) for _ in range(3)]
    for i, s in enumerate(sessions):
        s.select(TARGET, AUX)
        s.set_lambda("layer 1 · all", 0.2 + i / 10)
    shared = catalog.cache.stats()["used_bytes"]
    for s in sessions:
        s.close()
    after = catalog.cache.stats()["used_bytes"]
    own = [k for k in catalog.cache._entries if k[0] == "own"]
    assert not own and after < shared
    # Only what is the same for everyone is left: base states and scores of λ settings.
    assert {k[0] for k in catalog.cache._entries} <= {"base", "logits"} | SHARED_KINDS and after >= before


def test_cache_stays_within_budget_and_says_busy_when_pinned():
    cache = SharedCache(budget_bytes=10_000)
    t = lambda: torch.zeros(500)           # noqa: E731  2,000 bytes each
    for i in range(20):
        cache.put(("x", i), t())
        assert cache.stats()["used_bytes"] <= 10_000
    assert cache.get(("x", 19)) is not None and cache.get(("x", 0)) is None
    with cache.pinned([("x", i) for i in range(15, 20)]):
        with pytest.raises(ServerBusyError, match="busy"):
            cache.put(("y", 0), t())
        assert cache.put(("y", 1), t(), required=False) is not None      # optional entries: not stored
        assert cache.get(("y", 1)) is None
    cache.put(("y", 0), t())                 # free again once the evaluation is done
    big = torch.zeros(10_000)
    assert cache.put(("big",), big) is big and cache.get(("big",)) is None    # larger than the budget


def test_an_entry_too_big_for_the_budget_replaces_the_stale_one():
    cache = SharedCache(budget_bytes=10_000)
    cache.put(("x",), torch.zeros(10))
    big = torch.ones(10_000)
    assert cache.put(("x",), big) is big
    assert cache.get(("x",)) is None and cache.stats()["used_bytes"] == 0     # was: the old zeros served


def test_tensor_bytes_charges_views_their_size_and_counts_numpy_and_modules():
    import numpy as np
    from m2pt_core import create_model
    from m2pt_core.explorer.cache import tensor_bytes
    base = torch.zeros(1000, 100)                                    # 400,000 bytes
    assert tensor_bytes(base[:10]) == 10 * 100 * 4                   # was: the whole storage
    assert tensor_bytes([base, base]) == 400_000                     # one region once
    assert tensor_bytes(base[:, :3]) == (999 * 100 + 3) * 4          # strided: the span it touches
    assert tensor_bytes({"counts": (np.zeros((50, 20)), np.zeros(7, np.float32))}) == 50 * 20 * 8 + 28   # was 0
    model = create_model("test", "image", 3)
    assert tensor_bytes(model) == sum(t.numel() * t.element_size()
                                      for t in list(model.parameters()) + list(model.buffers()))


def test_weights_pairs_eval_data_and_resamples_live_in_the_capped_cache(catalog):
    s = ExplorerSession(catalog)
    s.select(TARGET, AUX)
    s.select("image-digits", AUX)
    s.set_lambda("layer 0 · all", 0.5)
    kinds = {k[0] for k in catalog.cache._entries}
    assert {"model", "pair", "eval-data", "bootstrap-resamples"} <= kinds
    assert catalog.cache.stats()["used_bytes"] <= catalog.cache.stats()["budget_bytes"]
    # a cap with room for little: nothing read-only is kept beyond it, and scores stay right
    tight = Catalog(cached_tiny_zoo(), cache_bytes=600_000)
    t = ExplorerSession(tight)
    t.select(TARGET, AUX)
    assert t.set_lambda("layer 0 · all", 0.3).acc == pytest.approx(_direct(t), abs=1e-9)
    assert tight.cache.stats()["used_bytes"] <= 600_000


def test_eval_data_key_names_the_data_seed_and_input_spec():
    """Cached states and baseline logits are keyed by it: other items must give another key."""
    from m2pt_core import create_model
    from m2pt_core.data.registry import provenance
    from m2pt_core.explorer.data import eval_data
    from m2pt_core.modalities import ImageSpec
    keys, items = [], []
    for seed, spec in ((0, None), (1, None), (0, ImageSpec(img_size=16, patch_size=4, in_chans=1, mean=(0.5,), std=(0.5,)))):
        model = create_model("test", "image", 10, dataset="digits", **({"input": spec} if spec else {}))
        model.data_provenance = provenance("digits", seed, 300).to_dict()
        d = eval_data(model, 300, max_eval=40)
        keys.append(d.key)
        items.append(d.X)
    assert len(set(keys)) == 3
    assert not torch.equal(items[0], items[1])


def test_a_small_cache_still_scores_right(catalog):
    """With room for nothing but one base, sessions recompute instead of failing or growing."""
    small = Catalog(cached_tiny_zoo(), cache_bytes=1)
    s = ExplorerSession(small)
    s.select(TARGET, AUX)
    assert s.set_lambda("layer 0 · all", 0.3).acc == pytest.approx(_direct(s), abs=1e-9)
    assert small.cache.stats()["used_bytes"] == 0


@pytest.mark.slow
def test_server_memory_does_not_grow_with_ended_sessions():
    """3 waves of 6 API users against a server whose sessions expire 2 s after their last call:
    once a wave's sessions have ended, none of them is alive, none has an entry in the shared
    cache, and the process holds no more memory than after the first wave."""
    pytest.importorskip("gradio_client")
    import psutil
    sys.path.insert(0, str(ROOT))
    from app.main import build_app, launch
    from benchmarks.serving_load import _free_port, wave
    catalog = Catalog(cached_tiny_zoo(), cache_bytes=64 * 2**20)
    demo = build_app(catalog, session_ttl=2)
    port = _free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    gc.collect()
    # sessions other tests of this process still hold (their fixtures, their apps) are not this server's
    earlier = {id(o) for o in gc.get_objects() if isinstance(o, ExplorerSession)}
    try:
        mem = []
        for w in range(3):
            r = wave(f"http://127.0.0.1:{port}/", 6, TARGET, AUX, "distinct", w)
            assert not r["errors"], r["errors"][:3]
            time.sleep(5)                                   # every session of the wave expires
            gc.collect()
            alive = [o for o in gc.get_objects() if isinstance(o, ExplorerSession) and id(o) not in earlier]
            assert not alive, f"{len(alive)} sessions still alive after wave {w + 1}"
            assert not [k for k in catalog.cache._entries if k[0] == "own"]
            mem.append(psutil.Process().memory_info().rss / 2**20)
        assert mem[2] <= 1.15 * mem[0] + 20, mem
    finally:
        demo.close()


def test_applying_the_table_as_shown_is_not_an_edit(catalog):
    """The table shows λ rounded: applying it unchanged keeps the learned λ exactly."""
    s = ExplorerSession(catalog)
    s.select(TARGET, AUX)
    s.set_lambda_frame(s.lambda_frame().round(6), decimals=6)
    assert not s.lambdas_edited()
    frame = s.lambda_frame().round(6)
    frame.iloc[0, 1] = 0.25
    s.set_lambda_frame(frame, decimals=6)
    assert s.lambdas_edited()


@pytest.mark.slow
def test_a_session_in_use_does_not_expire_when_calls_only_read_it():
    """Sessions expire ``session_ttl`` s after their last use. Calls that only read the session (the
    test split, a knockout, a sweep, the views redrawn after Open) are use too: a session used for
    longer than its ttl keeps its model, and every listener that takes the session hands it back."""
    pytest.importorskip("gradio_client")
    import math
    from gradio.components import State
    from gradio_client import Client
    sys.path.insert(0, str(ROOT))
    from app.main import build_app, launch
    from benchmarks.serving_load import _free_port
    demo = build_app(Catalog(cached_tiny_zoo()), session_ttl=3)
    session_state = [b for b in demo.blocks.values() if isinstance(b, State) and not math.isinf(b.time_to_live)]
    assert len(session_state) == 1
    reads_only = [f.name for f in demo.fns.values() if session_state[0] in f.inputs and session_state[0] not in f.outputs]
    assert not reads_only, reads_only
    port = _free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict(TARGET, AUX, api_name="/select_models")
        for api in ["/score_test", "/knockout", "/score_test", "/knockout", "/score_test"]:
            time.sleep(1.8)                      # 9 s of use in all, three times the ttl
            client.predict(api_name=api)         # raises "No target model is open" once expired
    finally:
        demo.close()
