"""The layering of README "Architecture": no import (module-level or inside a function) runs upward,
and the units of one layer import each other without cycles. Checked by parsing every import
of m2pt_core/ and app/ with ast against the table below."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "m2pt_core"

# unit (first name under m2pt_core, or "app") → layer; a unit may import its own layer and below.
LAYERS: dict[str, int] = {
    **dict.fromkeys(("errors", "modalities", "safe_io", "device", "sizes", "config", "assets", "hf_cache", "byte_cache", "run_identity", "scores", "registries", "version"), 0),
    **dict.fromkeys(("model", "tokenizers", "data"), 1),
    **dict.fromkeys(("pathways", "checkpoint", "pretrained"), 2),
    **dict.fromkeys(("analysis", "train", "experiment", "run", "zoo", "figures", "evidence", "ablation", "controls"), 3),
    **dict.fromkeys(("explorer",), 4),
    **dict.fromkeys(("cli", "app", ""), 5),     # "": the package root (m2pt_core/__init__.py), the front door
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _unit(module: str) -> str | None:
    """The layer unit of an absolute module name, or None for a module outside this project."""
    parts = module.split(".")
    if parts[0] == "app":
        return "app"
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 else ""


def imported_modules(module: str, source: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``source``, wherever it stands (functions too)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for a in node.names:     # `from . import zoo` imports the submodule zoo, not the package
                sub = f"{base}.{a.name}"
                out.append((node.lineno, sub if _exists(sub) else base))
    return out


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Upward imports in one module's source."""
    unit = _unit(module)
    bad = []
    for line, target in imported_modules(module, source, is_package):
        t_unit = _unit(target)
        if t_unit is None or t_unit == unit:
            continue
        if t_unit not in LAYERS or unit not in LAYERS:
            bad.append(f"{module}:{line} imports {target}: add {t_unit if t_unit not in LAYERS else unit!r} "
                       f"to the layer table")
        elif LAYERS[t_unit] > LAYERS[unit]:
            bad.append(f"{module}:{line} imports {target} (layer {LAYERS[t_unit]}) from layer {LAYERS[unit]}")
    return bad


def _sources() -> list[tuple[str, str, bool]]:
    files = sorted((ROOT / PACKAGE).rglob("*.py")) + sorted((ROOT / "app").rglob("*.py"))
    return [(_module_name(f), f.read_text(), f.name == "__init__.py") for f in files]


def test_checker_catches_upward_imports():
    """The checker itself can fail: an engine module importing the zoo inside a function is flagged."""
    src = "def f():\n    from .. import zoo\n    from ..train import fit\n"
    found = violations("m2pt_core.pathways.loading", src)
    assert len(found) == 2 and "m2pt_core.zoo (layer 3) from layer 2" in found[0]
    assert violations("m2pt_core.explorer.catalog", "from .. import zoo\nfrom ..pathways import load_aux\n") == []
    assert violations("m2pt_core.data.load", "from .. import __version__\n")   # the root sits above data
    assert violations("m2pt_core.train.loop", "import app.main\n")


def test_no_import_runs_upward_across_layers():
    bad = [v for module, src, pkg in _sources() for v in violations(module, src, pkg)]
    assert bad == []


def test_units_of_a_layer_do_not_import_each_other_in_a_cycle():
    edges: dict[str, set[str]] = {}
    for module, src, pkg in _sources():
        unit = _unit(module)
        for _, target in imported_modules(module, src, pkg):
            t_unit = _unit(target)
            if t_unit is not None and t_unit != unit:
                edges.setdefault(unit, set()).add(t_unit)

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    return path + [start]
                if nxt not in path:
                    stack.append((nxt, path + [nxt]))
        return None

    cycles = [c for u in edges if (c := cycle_from(u))]
    assert cycles == []


@pytest.mark.parametrize("module, forbidden", [
    ("m2pt_core.pathways", ("zoo", "train", "experiment", "run", "analysis", "explorer", "figures", "cli")),
    ("m2pt_core.train", ("zoo", "experiment", "run", "explorer", "cli")),
])
def test_importing_a_layer_does_not_load_the_layers_above(module, forbidden):
    code = f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith('{PACKAGE}.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=ROOT).stdout.split()
    assert [m for m in loaded if m.split(".")[1] in forbidden] == []


def _module_cycles(package: str) -> list[list[str]]:
    """Import cycles among the modules of one package, counting imports inside functions too."""
    edges: dict[str, set[str]] = {}
    for module, src, pkg in _sources():
        if module.startswith(package + ".") and not pkg:
            edges[module] = {t for _, t in imported_modules(module, src, pkg)
                             if t.startswith(package + ".") and t != module}
    cycles = []
    for start in edges:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    cycles.append(path + [start])
                elif nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return cycles


def test_data_modules_import_each_other_without_a_cycle():
    """record → registry → sources → provenance, one way (a function-level import used to hide a circle)."""
    assert _module_cycles(f"{PACKAGE}.data") == []


def test_importing_data_registers_no_provenance_loader():
    """The built-in and file kinds are known to provenance.py itself: no registration on import."""
    code = ("import m2pt_core.data, m2pt_core.data.sources, m2pt_core.data.provenance as p; "
            "print(len(p.PROVENANCE_LOADERS), len(p.PROVENANCE_KEYS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.split() == ["0", "0"]
