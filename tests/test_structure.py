"""The shape the code keeps (issue 22): small modules, the split functions stay small, and each
idea built from in one place (run naming and arm weights: experiment/setup.py)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _functions(path: Path) -> dict[str, int]:
    tree = ast.parse(path.read_text())
    return {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_no_module_above_400_lines_outside_the_app():
    """The app's session (m2pt_core/explorer, app/) is split separately."""
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "m2pt_core").rglob("*.py")
            if "explorer" not in p.parts and (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


@pytest.mark.parametrize("module, names", [
    ("m2pt_core/train/loop.py", ["fit", "_prepare", "_train_step", "_train_epoch", "_checkpoint", "_final_model"]),
    ("m2pt_core/train/resume.py", ["start_point", "resume_changes"]),
    ("m2pt_core/pretrained/layouts.py", ["canonicalize", "detect_layout"]),
    ("m2pt_core/experiment/orchestrate.py", ["run_experiment"]),
    ("m2pt_core/experiment/one_run.py", ["train_run", "build_model"]),
    ("m2pt_core/ablation/runner.py", ["plan_ablation"]),
])
def test_split_functions_stay_small(module, names):
    lengths = _functions(ROOT / module)
    assert {n: lengths[n] for n in names if lengths[n] >= MAX_FUNCTION_LINES} == {}


def test_runs_are_named_and_given_weights_in_one_place():
    """Experiment and ablation build run-folder labels and each arm's weights with experiment/setup.py
    (they used to build the auxiliary's label their own way)."""
    from m2pt_core.experiment import arm_source, aux_label, run_name
    assert aux_label("/x/y/aux-1.safetensors") == "aux-1" and aux_label("audio-sounds") == "audio-sounds"
    assert aux_label(None) == "none" and run_name("layer=2", "a.pt") == "layer2-a"
    assert arm_source("baseline", object(), 0) is None
    for path in ("m2pt_core/experiment/orchestrate.py", "m2pt_core/ablation/runner.py"):
        src = (ROOT / path).read_text()
        assert ".stem" not in src and "random_aux_like(" not in src and "open_dataset(" not in src


def test_registry_has_one_overwrite_rule():
    from m2pt_core.errors import M2PTError
    from m2pt_core.registries import Registry
    reg: Registry[int] = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="A widget named 'a' is already registered; pass overwrite=True"):
        reg.register("a", 2)
    assert reg.register("a", 3, overwrite=True) == 3 and reg.get("a") == 3 and "a" in reg
    with pytest.raises(M2PTError, match="Unknown widget 'b'; expected one of: a"):
        reg.get("b")
