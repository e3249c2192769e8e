"""Seed-level evidence (assets/evidence.json) matches docs/results.md, and reads as intervals."""
import json
import re
from pathlib import Path

import pytest

from m2pt_core.errors import M2PTError
from m2pt_core.evidence import evidence_for, evidence_path, load_evidence

ROOT = Path(__file__).resolve().parent.parent


def _results_rows():
    """{(section heading, arm, aux): (mean, std)} of the Δ column of every docs/results.md table."""
    rows, section = {}, None
    for line in (ROOT / "docs" / "results.md").read_text().splitlines():
        if line.startswith("#"):
            section = line.lstrip("# ").strip()
        m = re.match(r"\| (\w+) \| ([\w-]+)( †)? \| 3 \| [\d.]+ ± [\d.]+ \| ([+−-][\d.]+) ± ([\d.]+) \|", line)
        if m and not m.group(3):
            rows[(section, m.group(1), m.group(2))] = (float(m.group(4).replace("−", "-")), float(m.group(5)))
    return rows


def test_evidence_file_matches_the_results_page():
    doc = json.loads(evidence_path().read_text())
    table = _results_rows()
    assert doc["source"] == "docs/results.md"
    for c in doc["comparisons"]:
        mean, std = table[(c["section"], c["arm"], c["auxiliary"])]
        assert (c["delta_mean"], c["delta_std"]) == (mean, std), c
        if c["per_seed"]:     # the per-seed values the page lists reproduce its mean and std
            import statistics
            assert statistics.mean(c["per_seed"]) == pytest.approx(mean, abs=6e-4)
            assert statistics.stdev(c["per_seed"]) == pytest.approx(std, abs=6e-4)


def test_evidence_for_a_zoo_pair_reads_as_a_seed_interval():
    ev = evidence_for("mnist5k", "audio-sounds")
    assert [e.arm for e in ev] == ["m2pt", "random"]
    text = ev[0].describe()
    assert "over 3 seeds: Δ = -0.58 ±" in text and "not distinguishable from 0" in text
    assert "750 test items per seed" in text and "docs/results.md" in text
    # 4.303 · 0.66 / √3 = 1.64 points
    assert ev[0].summary.half_width == pytest.approx(4.3026527 * 0.0066 / 3 ** 0.5, rel=1e-6)
    sounds = evidence_for("sounds", "image-mnist5k")[0]
    assert sounds.summary.distinguishable and "distinguishable from 0" in sounds.describe()
    assert evidence_for("mnist5k", "minilm-l6") == [] and evidence_for(None, "audio-sounds") == []


def test_broken_evidence_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "evidence.json"
    bad.write_text('{"comparisons": [{"auxiliary": "x"}]}')
    with pytest.raises(M2PTError, match="not a valid evidence file"):
        load_evidence(bad)
    assert load_evidence(tmp_path / "missing.json") == []
