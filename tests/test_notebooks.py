"""Every teaching notebook in notebooks/ runs top to bottom without an error, in FAST mode.

FAST mode (M2PT_FAST=1, read by each notebook) shrinks the work (fewer samples, epochs and
repeats) but runs the same code. The kernel is the "python3" kernelspec, which jupyter_client
launches with this interpreter (sys.executable), so the notebooks see the same m2pt_core.
"""
from __future__ import annotations

import ast
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
    # allow_errors: every cell runs and keeps its error output, so the test can name each failing cell.
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()


def _code(cell) -> str:
    """A code cell's source without IPython magics / shell lines (not Python)."""
    return "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _library_names() -> set[str]:
    """Public top-level functions and classes of m2pt_core (what a notebook must import, not redefine)."""
    names = set()
    for path in (NOTEBOOK_DIR.parent / "m2pt_core").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                names.add(node.name)
    return names


def cell_errors(nb) -> list[str]:
    """'cell N (first line): Ename: value' for every error output of an executed notebook."""
    out = []
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            if o.output_type == "error":
                first = c.source.strip().splitlines()[0] if c.source.strip() else ""
                out.append(f"cell {i} ({first[:60]}): {o.ename}: {o.evalue}")
    return out


def test_the_six_notebooks_are_lessons_on_the_library():
    """Each notebook opens with a title, imports m2pt_core, is stored without outputs, and defines
    no function or class that the library already has (one source of truth)."""
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_"], [p.name for p in NOTEBOOKS]
    library = _library_names()
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        assert first.cell_type == "markdown" and first.source.startswith("# "), f"{path.name}: no title cell"
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not any(c.get("outputs") for c in code), (
            f"{path.name} is stored with outputs; clear them (jupyter nbconvert --clear-output --inplace)")
        trees = [ast.parse(_code(c)) for c in code]
        imported = {n.module.split(".")[0] if isinstance(n, ast.ImportFrom) and n.module else a.name.split(".")[0]
                    for t in trees for n in ast.walk(t) if isinstance(n, (ast.Import, ast.ImportFrom))
                    for a in n.names}
        assert "m2pt_core" in imported, f"{path.name} does not import m2pt_core"
        defined = {n.name for t in trees for n in ast.walk(t)
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        assert not defined & library, f"{path.name} redefines library names {sorted(defined & library)}"


def _exercises(nb) -> list[tuple[int, int]]:
    """(solution cell index, check cell index) of every exercise: a code cell starting
    '# SOLUTION (exercise k)' directly followed by one starting '# CHECK (exercise k)'."""
    pairs = []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and c.source.startswith("# SOLUTION (exercise"):
            tag = c.source.splitlines()[0].removeprefix("# SOLUTION ")
            nxt = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
            assert nxt is not None and nxt.cell_type == "code" and nxt.source.startswith(f"# CHECK {tag}"), (
                f"cell {i}: {tag} has no check cell right after its solution")
            pairs.append((i, i + 1))
    return pairs


def test_every_notebook_ends_with_checked_exercises():
    """2-4 exercises per notebook, after the lesson: each a marked solution cell, then a check cell
    that asserts (test_notebook_runs executes both, so a wrong solution fails the suite)."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        pairs = _exercises(nb)
        assert 2 <= len(pairs) <= 4, f"{path.name}: {len(pairs)} exercises"
        heading = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
        assert all(s > heading for s, _ in pairs), f"{path.name}: an exercise before the Exercises section"
        for _, check in pairs:
            assert "assert " in nb.cells[check].source, f"{path.name} cell {check}: a check that asserts nothing"
        assert "progress=True" not in "".join(c.source for c in nb.cells), f"{path.name}: tqdm bars in a notebook"


@pytest.mark.slow
def test_a_wrong_solution_fails_its_check(monkeypatch, tmp_path):
    """Notebook 1 with exercise 1 solved wrongly (λ ignored): its check cell, and only it, fails."""
    nb = nbformat.read(NOTEBOOK_DIR / "01_the_idea.ipynb", as_version=4)
    solution, check = _exercises(nb)[0]
    nb.cells[solution].source = nb.cells[solution].source.replace(
        "(self.weight + self.lam * self.aux_weight)", "self.weight")
    assert "x @ self.weight.T" in nb.cells[solution].source
    _execute(nb, monkeypatch, tmp_path)
    errors = cell_errors(nb)
    assert len(errors) == 1 and errors[0].startswith(f"cell {check} ") and "AssertionError" in errors[0], errors


def test_cell_errors_are_found_and_named(monkeypatch, tmp_path):
    """The check test_notebook_runs relies on: a failing cell does not stop the run, and is named."""
    nb = nbformat.v4.new_notebook()
    nb.cells += [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0  # boom"),
                 nbformat.v4.new_code_cell("print(x + 1)")]
    _execute(nb, monkeypatch, tmp_path)
    assert cell_errors(nb) == ["cell 1 (1 / 0  # boom): ZeroDivisionError: division by zero"]
    assert nb.cells[2].outputs[0]["text"] == "2\n"     # later cells still ran


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
    _execute(nb, monkeypatch, tmp_path)
    errors = cell_errors(nb)
    assert not errors, f"{path.name}: " + "; ".join(errors)


def test_notebook_4_states_the_auxiliaries_accuracy_of_the_bundled_zoo():
    from m2pt_core import zoo
    try:
        entries = zoo.manifest()["models"]
    except (FileNotFoundError, ValueError):
        pytest.skip("the bundled zoo is not available")
    nb = nbformat.read(NOTEBOOK_DIR / "04_which_layers_benefit.ipynb", as_version=4)
    text = " ".join(c.source.replace("\n", " ") for c in nb.cells if c.cell_type == "markdown")
    for name, said in {"audio-sounds": "audio", "video-motion": "video", "pointcloud-shapes3d": "point cloud"}.items():
        assert f"{said} {100 * entries[name]['accuracy']:.1f}%" in text, name
    assert "near chance" not in text
