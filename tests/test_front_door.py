"""The package's front door: a curated list of names, each documented with Args / Returns, that
loads the training, analysis and export layers only when one of their names is used."""
from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import m2pt_core

ROOT = Path(__file__).resolve().parents[1]


def test_the_front_door_is_small_and_documented():
    names = [n for n in m2pt_core.__all__ if n != "__version__"]
    assert 10 <= len(names) <= 20
    for name in names:
        obj = getattr(m2pt_core, name)
        if inspect.isfunction(obj):
            doc = inspect.getdoc(obj) or ""
            assert "Args:" in doc and "Returns:" in doc, name
            documented = doc.split("Args:")[1].split("Returns:")[0]
            missing = [p for p in inspect.signature(obj).parameters if p not in documented]
            assert missing == [], f"{name}: {missing} not in its Args"


def test_importing_the_package_loads_no_layer_above_the_engine():
    code = "import sys, m2pt_core; print(' '.join(m for m in sys.modules if m.startswith('m2pt_core.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    assert [m for m in loaded if m.split(".")[1] in ("train", "analysis", "explorer", "experiment", "zoo")] == []
    code = "import m2pt_core; m2pt_core.fit; import sys; print('m2pt_core.train.loop' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout.strip() == "True"


def test_names_existing_code_imports_from_the_top_still_work():
    """No longer star-imported from pathways, but notebooks, app, tests and benchmarks use them."""
    from m2pt_core import (CheckpointError, PathwayLinear, PathwayMismatchError, count_parameters,  # noqa: F401
                           get_lambdas, get_size, lambda_table, list_sizes, make_config, merge_all, pick_device,
                           read_metadata, set_lambdas, verify_merge)
    assert "override_lambdas" not in m2pt_core.__all__ and not hasattr(m2pt_core, "unmerge_all")


def test_every_name_the_notebooks_reach_through_the_package_still_resolves():
    """Notebooks write ``import m2pt_core as m2pt`` and then ``m2pt.NAME``; a curated front door must
    not break them (an AST check of ``from m2pt_core import`` does not see these)."""
    import re
    from pathlib import Path
    import m2pt_core
    used = set()
    for nb in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"):
        used |= set(re.findall(r"\bm2pt\.([A-Za-z_][A-Za-z0-9_]*)", nb.read_text()))
    missing = sorted(n for n in used if not hasattr(m2pt_core, n))
    assert not missing, f"notebooks use m2pt.{missing}, which m2pt_core no longer provides"
