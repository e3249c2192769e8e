"""Every teaching notebook in notebooks/ runs top to bottom without an error, in FAST mode.

FAST mode (M2PT_FAST=1, read by each notebook) shrinks the work (fewer samples, epochs and
repeats) but runs the same code. The kernel is the "python3" kernelspec, which jupyter_client
launches with this interpreter (sys.executable), so the notebooks see the same m2pt_core.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _execute(nb, monkeypatch, tmp_path) -> None:
    # The kernel inherits this process's environment: set FAST before it starts. The notebooks'
    # run folders (tempfile.mkdtemp) go under pytest's tmp_path, which pytest prunes.
    monkeypatch.setenv("M2PT_FAST", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 5, f"expected the five teaching notebooks, found {[p.name for p in NOTEBOOKS]}"


def test_kernel_is_this_python(monkeypatch, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os, sys, m2pt_core\nprint(sys.executable)\nprint(sys.prefix)\nprint(os.environ['M2PT_FAST'])"))
    _execute(nb, monkeypatch, tmp_path)
    executable, prefix, fast = "".join(o.get("text", "") for o in nb.cells[0].outputs).split("\n")[:3]
    assert (executable, prefix) == (sys.executable, sys.prefix), (
        f"the notebook kernel runs {executable} (prefix {prefix}), not this interpreter {sys.executable}")
    assert fast == "1"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch, tmp_path):
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is stored with outputs; clear them (jupyter nbconvert --clear-output --inplace)")
    _execute(nb, monkeypatch, tmp_path)   # raises CellExecutionError naming the failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{path.name}: {[e.ename + ': ' + e.evalue for e in errors]}"
