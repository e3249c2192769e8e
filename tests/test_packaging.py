"""Installation: dependency floors match what the code uses; assets are found (or the error says how)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from m2pt_core import assets, zoo
from m2pt_core.assets import AssetsNotFoundError, asset_dir
from m2pt_core.explorer.samples import bundled_samples

ROOT = Path(__file__).resolve().parent.parent


def _floors() -> dict[str, tuple[int, ...]]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for d in deps:
        m = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", d)
        if m:
            out[m.group(1).lower()] = tuple(int(x) for x in m.group(2).split("."))
    return out


def test_timm_floor_has_what_the_model_and_analysis_use():
    """timm 1.0.23 is the first whose timm.layers Attention has attn_dim (cls_tail.py reads it);
    Block's mlp_layer (model.py) and Attention.norm are older."""
    import inspect

    from timm.layers.attention import Attention
    from timm.models.vision_transformer import Block
    assert _floors()["timm"] >= (1, 0, 23)
    assert hasattr(Attention(16, 2), "attn_dim") and hasattr(Attention(16, 2), "norm")
    assert "mlp_layer" in inspect.signature(Block).parameters
    assert _floors()["torch"] >= (2, 3)          # torch.amp.GradScaler("cuda", ...) in train/loop.py


def _fake_layout(tmp_path, monkeypatch, beside=True, cwd=True):
    pkg_root, work = tmp_path / "site", tmp_path / "work"
    for base, make in ((pkg_root, beside), (work, cwd)):
        if make:
            (base / "assets" / "zoo").mkdir(parents=True)
            (base / "assets" / "zoo" / "manifest.json").write_text('{"models": {}}')
            (base / "assets" / "samples").mkdir(parents=True)
            (base / "assets" / "samples" / "index.json").write_text("[]")
    work.mkdir(exist_ok=True)
    monkeypatch.setattr(assets, "_package_root", lambda: pkg_root)
    monkeypatch.chdir(work)
    for var in ("M2PT_ASSETS_DIR", "M2PT_ZOO_DIR", "M2PT_SAMPLES_DIR"):
        monkeypatch.delenv(var, raising=False)
    return pkg_root, work


def test_asset_resolution_order(tmp_path, monkeypatch):
    pkg_root, work = _fake_layout(tmp_path, monkeypatch)
    assert zoo.zoo_dir() == pkg_root / "assets" / "zoo"               # a checkout / editable install
    assert zoo.zoo_dir(tmp_path / "x") == tmp_path / "x"               # an explicit path first
    (pkg_root / "assets" / "zoo" / "manifest.json").unlink()
    assert zoo.zoo_dir() == work / "assets" / "zoo"                    # then ./assets
    monkeypatch.setenv("M2PT_ASSETS_DIR", str(tmp_path / "elsewhere"))
    assert zoo.zoo_dir() == tmp_path / "elsewhere" / "zoo"
    assert asset_dir("samples") == tmp_path / "elsewhere" / "samples"
    monkeypatch.setenv("M2PT_ZOO_DIR", str(tmp_path / "z"))
    assert zoo.zoo_dir() == tmp_path / "z"                             # the specific variable wins
    assert asset_dir("samples") == tmp_path / "elsewhere" / "samples"


def test_missing_assets_say_how_to_point_at_them(tmp_path, monkeypatch):
    _fake_layout(tmp_path, monkeypatch, beside=False, cwd=False)
    for call in (zoo.model_names, zoo.list_models, bundled_samples):
        with pytest.raises(AssetsNotFoundError, match="M2PT_ASSETS_DIR") as e:
            call()
        assert "pip install" in str(e.value) and str(tmp_path / "site") in str(e.value)
    assert "M2PT_ASSETS_DIR" in zoo.verify()[0]
    assert zoo.zoo_dir(must_exist=False) == tmp_path / "site" / "assets" / "zoo"   # where `zoo build` writes


@pytest.mark.slow
def test_non_editable_install_finds_assets_through_the_variable(tmp_path):
    """A real `pip install --target` (no assets copied), run from outside the repository."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                    "--target", str(target), str(ROOT)], check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("M2PT_")}
    env["PYTHONPATH"] = str(target)
    code = ("import m2pt_core, m2pt_core.zoo as z; assert m2pt_core.__file__.startswith(%r); "
            "print(len(z.model_names()))" % str(target))
    bare = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bare.returncode != 0 and "M2PT_ASSETS_DIR" in bare.stderr
    told = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**env, "M2PT_ASSETS_DIR": str(ROOT / "assets")})
    assert told.returncode == 0 and int(told.stdout) == len(zoo.model_names(ROOT / "assets" / "zoo"))
