"""The one incremental engine (analysis/rerun.py): re-running from any block gives the full
forward's logits, and no other module runs the blocks of a cached forward itself."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from m2pt_core import attach_pathways, create_model, get_lambdas, set_lambdas
from m2pt_core.analysis import model_stages
from m2pt_core.analysis.rerun import first_changed_block, rerun
from m2pt_core.analysis.stages import eval_mode

ROOT = Path(__file__).resolve().parents[1]


def _model():
    torch.manual_seed(0)
    model = create_model("test", "image", 3)
    attach_pathways(model, create_model("test", "audio", 5))
    return model.eval()


def test_first_changed_block():
    now = {"blocks.0.attn.qkv": 0.0, "blocks.1.mlp.fc1": 0.5, "blocks.2.mlp.fc2": 1.0}
    assert first_changed_block(now, dict(now), depth=3) == 3
    assert first_changed_block(now, {**now, "blocks.2.mlp.fc2": 0.0}, depth=3) == 2
    assert first_changed_block(now, {}, depth=3) == 0           # nothing known: everything changed


def test_rerun_from_any_block_equals_the_full_forward_and_keeps_every_state():
    model = _model()
    x = torch.randn(2 * 4, *model.config.input.input_shape)
    chunks = [x[:4], x[4:]]
    stages = model_stages(model, cls_shortcut=False)
    with eval_mode(model), torch.inference_mode():
        full = model(x)
        states = [[stages.embed(xb)] + [None] * stages.depth for xb in chunks]

        def keep(c, b, h):
            states[c][b] = h
        logits = rerun(stages, 2, 0, lambda c: states[c][0], keep)
        torch.testing.assert_close(torch.cat(logits), full)
        set_lambdas(model, {n: 0.3 for n in get_lambdas(model) if n.startswith("blocks.1.")})
        start = 1
        again = rerun(stages, 2, start, lambda c: states[c][start], keep)   # blocks 1.. only
        torch.testing.assert_close(torch.cat(again), model(x))
        assert not torch.allclose(torch.cat(again), full)


def test_no_module_but_the_engine_runs_blocks_of_a_cached_forward():
    """Stage-wise block loops (stages.step) live in rerun.py alone: IncrementalEvaluator, run_probes
    and the dashboard's SharedEvaluator hand it their cache instead of looping themselves."""
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "m2pt_core").rglob("*.py"))
             if p.name not in ("rerun.py", "stages.py")
             for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"stages\.(step|run_from)\(", line)]
    assert found == []
