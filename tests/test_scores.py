"""One definition of per-item correctness and cross-entropy (m2pt_core.scores): every caller that
reports a per-item or summed score gives exactly what it gives, and no module computes its own."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from m2pt_core import create_model
from m2pt_core.data.dataset import M2PTDataset
from m2pt_core.modalities import default_spec
from m2pt_core.scores import item_scores, score_totals

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_and_data():
    torch.manual_seed(0)
    model = create_model("test", "image", 4).eval()
    X = torch.randn(37, *default_spec("image").input_shape)
    y = torch.randint(0, 4, (37,))
    data = M2PTDataset(X, y, ["a", "b", "c", "d"], "image", default_spec("image"))
    with torch.inference_mode():
        logits = model(X)
    return model, data, logits


def test_item_scores_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 3.5]], dtype=torch.bfloat16)
    y = torch.tensor([0, 0, 1])
    correct, loss = item_scores(logits, y)
    assert correct.tolist() == [True, False, True] and loss.dtype == torch.float32
    ref = -torch.log_softmax(logits.float(), -1)[torch.arange(3), y]
    torch.testing.assert_close(loss, ref)
    assert score_totals(logits, y) == (2.0, pytest.approx(float(ref.double().sum())))


def test_the_five_callers_agree_with_item_scores(model_and_data):
    from m2pt_core.analysis import Score, evaluate_tensors, per_item_results
    from m2pt_core.experiment import _test_items
    from m2pt_core.explorer.scoring import item_results
    from m2pt_core.train import evaluate
    model, data, logits = model_and_data
    correct, loss = item_scores(logits, data.y)
    n = len(data)

    c, l = per_item_results(model, data, batch_size=8)                      # analysis/compare.py
    assert torch.equal(c, correct)
    torch.testing.assert_close(l, loss, rtol=1e-5, atol=1e-6)
    score = Score(keep_items=True).add(logits, data.y)                      # analysis/evaluate.py
    assert torch.equal(score.per_item()[0], correct) and torch.equal(score.per_item()[1], loss)
    items = _test_items(model, data, batch_size=8)                          # experiment.py
    assert items["correct"] == correct.int().tolist()
    np.testing.assert_allclose(items["loss"], loss.numpy(), atol=2e-6)
    ic, il = item_results(logits, data.y)                                   # explorer/scoring.py
    assert ic.tolist() == correct.double().tolist() and np.array_equal(il, loss.double().numpy())
    ref = {"acc": float(correct.double().mean()), "loss": float(loss.double().mean()), "n": n}
    for got in (evaluate_tensors(model, data, batch_size=8), evaluate(model, data, batch_size=8)):  # + train/loop.py
        assert got["n"] == n and got["acc"] == pytest.approx(ref["acc"])
        assert got["loss"] == pytest.approx(ref["loss"], rel=1e-5)


def test_no_module_scores_items_on_its_own():
    """argmax-equals-label and per-item cross-entropy appear in m2pt_core/scores.py only (training
    objectives, which need gradients and label smoothing, are not scores)."""
    own = re.compile(r"argmax\([^)]*\)\s*==|cross_entropy\([^)]*reduction=\"none\"")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "m2pt_core").rglob("*.py")) + sorted((ROOT / "app").rglob("*.py"))
             if p.name != "scores.py" or p.parent.name != "m2pt_core"
             for i, line in enumerate(p.read_text().splitlines(), 1) if own.search(line)]
    assert found == []
