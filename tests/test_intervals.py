"""Intervals against closed-form numbers and known cases (m2pt_core.analysis.intervals)."""
import math

import numpy as np
import pytest

from m2pt_core.analysis.intervals import (accuracy_interval, bootstrap_mean_interval, mcnemar_p,
                                          paired_columns, paired_comparison, seed_interval, t_quantile,
                                          wilson_interval)


def test_wilson_closed_form():
    # Textbook values (Wilson 1927; e.g. Newcombe 1998, table I): 8/10 → [0.4902, 0.9433]; 0/10 → [0, 0.2775].
    w = wilson_interval(8, 10)
    assert (w.estimate, round(w.lo, 4), round(w.hi, 4)) == (0.8, 0.4902, 0.9433)
    assert round(wilson_interval(0, 10).hi, 4) == 0.2775 and wilson_interval(0, 10).lo == 0.0
    assert round(wilson_interval(10, 10).lo, 4) == round(1 - 0.2775, 4)
    # The formula itself, for a large n: centre (p + z²/2n)/(1 + z²/n), half z/(1+z²/n)·sqrt(p(1-p)/n + z²/4n²).
    z, k, n = 1.959963984540054, 632, 750
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    w = accuracy_interval(np.r_[np.ones(k), np.zeros(n - k)])
    assert w.lo == pytest.approx(centre - half, abs=1e-12) and w.hi == pytest.approx(centre + half, abs=1e-12)
    assert w.n == n and w.lo < p < w.hi
    with pytest.raises(ValueError):
        wilson_interval(3, 0)


def test_mcnemar_exact_binomial():
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(1, 1) == 1.0
    assert mcnemar_p(5, 0) == pytest.approx(2 / 32)                       # 2 · (1/2)^5
    assert mcnemar_p(3, 7) == pytest.approx(2 * (1 + 10 + 45 + 120) / 1024)
    assert mcnemar_p(7, 3) == mcnemar_p(3, 7)
    # Normal approximation beyond the exact range agrees with the exact sum near the boundary.
    b, c = 2600, 2450
    exact = 2 * sum(math.comb(b + c, i) for i in range(c + 1)) / 2 ** (b + c)
    big = mcnemar_p(b + 1, c)      # 5051 discordant: approximation branch
    assert big == pytest.approx(exact, rel=0.1)


def test_t_quantiles():
    # Standard t-table values.
    for df, q in [(1, 12.7062047), (2, 4.3026527), (9, 2.2621572), (30, 2.0422725)]:
        assert t_quantile(0.975, df) == pytest.approx(q, rel=1e-6)
    assert t_quantile(0.025, 2) == pytest.approx(-4.3026527, rel=1e-6)


def test_paired_bootstrap_known_answer():
    # 400 items: B alone right on 60, A alone right on 20 → Δacc = 0.1, sd of d = sqrt(0.2 - 0.01).
    n = 400
    a = np.ones(n)
    b = np.ones(n)
    b[:20] = 0          # only A right
    a[20:80] = 0        # only B right
    cmp = paired_comparison(a, b, n_boot=4000)
    se = math.sqrt(0.2 - 0.01) / math.sqrt(n)
    assert cmp.delta_acc.estimate == pytest.approx(0.1)
    assert cmp.delta_acc.lo == pytest.approx(0.1 - 1.96 * se, abs=0.006)
    assert cmp.delta_acc.hi == pytest.approx(0.1 + 1.96 * se, abs=0.006)
    assert (cmp.only_a, cmp.only_b) == (20, 60)
    assert cmp.p_mcnemar == pytest.approx(mcnemar_p(20, 60)) and cmp.p_mcnemar < 1e-4
    assert cmp.distinguishable and "distinguishable from 0" in cmp.describe()
    # Seeded: the same numbers every call; a constant difference has a zero-width interval.
    assert paired_comparison(a, b, n_boot=4000) == cmp
    mean, lo, hi = bootstrap_mean_interval(np.full((1, 50), 0.25))
    assert (mean[0], lo[0], hi[0]) == (0.25, 0.25, 0.25)


def test_identical_models_give_zero_with_an_interval_containing_it():
    rng = np.random.default_rng(0)
    correct = (rng.random(200) < 0.8).astype(float)
    loss = rng.exponential(0.5, 200)
    cmp = paired_comparison(correct, correct, loss, loss)
    assert cmp.delta_acc.estimate == 0.0 and cmp.delta_acc.contains_zero
    assert cmp.delta_loss.estimate == 0.0 and cmp.delta_loss.contains_zero
    assert cmp.p_mcnemar == 1.0 and not cmp.distinguishable
    assert "not distinguishable from 0" in cmp.describe()


def test_one_item_difference_in_thirty_is_not_distinguishable():
    a = np.r_[np.ones(25), np.zeros(5)]
    b = a.copy()
    b[-1] = 1.0                               # one more item right: +3.3 points
    cols = paired_columns(a, np.zeros(30), np.stack([a, b]), np.zeros((2, 30)))
    assert cols["n"].tolist() == [30, 30]
    assert cols["delta_acc_lo"][1] <= 0.0 < cols["delta_acc_hi"][1]
    assert cols["distinguishable"].tolist() == [False, False]
    assert cols["p_mcnemar"].tolist() == [1.0, 1.0]


def test_paired_columns_match_one_by_one_comparisons():
    rng = np.random.default_rng(1)
    ref_c, ref_l = (rng.random(120) < 0.7).astype(float), rng.random(120)
    c, l = (rng.random((3, 120)) < 0.75).astype(float), rng.random((3, 120)) + 0.1
    cols = paired_columns(ref_c, ref_l, c, l, n_boot=500)
    for k in range(3):
        one = paired_comparison(ref_c, c[k], ref_l, l[k], n_boot=500)
        assert cols["p_mcnemar"][k] == pytest.approx(one.p_mcnemar)
        # The resamples depend on (seed, N, n_boot) only, so each row gets the same interval.
        assert cols["delta_acc_lo"][k] == pytest.approx(one.delta_acc.lo, abs=1e-9)
        assert cols["delta_loss_hi"][k] == pytest.approx(one.delta_loss.hi, abs=1e-9)
    with pytest.raises(ValueError, match="same items|per-item"):
        paired_columns(ref_c, ref_l, c[:, :10], l)


def test_seed_interval_from_values_and_from_summary():
    s = seed_interval([0.036, 0.011, 0.0])
    assert s.n == 3 and s.mean == pytest.approx(0.015667, abs=1e-6)
    half = 4.3026527 * np.std([0.036, 0.011, 0.0], ddof=1) / math.sqrt(3)
    assert s.half_width == pytest.approx(half, rel=1e-6) and not s.distinguishable
    same = seed_interval(mean=s.mean, std=s.std, n=3)
    assert same.interval.lo == pytest.approx(s.interval.lo)
    assert "over 3 seeds" in s.describe() and "not distinguishable from 0" in s.describe()
    clear = seed_interval(mean=-0.0746, std=0.0191, n=3)         # sounds target, docs/results.md
    assert clear.distinguishable and clear.interval.hi < 0
    one = seed_interval([0.02])
    assert one.interval.contains_zero and "one run" in one.describe()


def test_few_discordant_items_need_mcnemar_to_agree():
    # 250 items; 7 only the reference gets right, 1 only the other: Δ = −2.4 points, McNemar p = 0.0703.
    a = np.ones(250)
    b = np.ones(250)
    b[:7] = 0
    a[7] = 0
    cmp = paired_comparison(a, b)
    assert cmp.p_mcnemar == pytest.approx(2 * (1 + 8) / 256)
    assert not cmp.distinguishable and "not distinguishable" in cmp.describe()
    cols = paired_columns(a, np.zeros(250), b, np.zeros(250))
    assert not cols["distinguishable"][0]


def test_compare_models_on_the_same_items():
    import torch
    from m2pt_core import attach_pathways, create_model, set_lambdas
    from m2pt_core.analysis import compare_models, per_item_results
    torch.manual_seed(0)
    a = create_model("test", "image", 4)
    X, y = torch.randn(24, 1, 28, 28), torch.randint(0, 4, (24,))
    same = compare_models(a, a, X, y)
    assert same.delta_acc.estimate == 0.0 and same.delta_acc.contains_zero and same.p_mcnemar == 1.0
    b = create_model("test", "image", 4)
    c, loss = per_item_results(b, X, y)
    cmp = compare_models(a, b, X, y)
    assert cmp.acc_b.estimate == pytest.approx(float(c.float().mean()))
    assert cmp.delta_loss.estimate == pytest.approx(float(loss.mean()) - float(per_item_results(a, X, y)[1].mean()), rel=1e-5)
