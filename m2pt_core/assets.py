"""Where the bundled assets (assets/zoo, assets/samples) are.

They live in the repository, beside the package, not inside it (the zoo is ~50 MB). An editable
install or a checkout finds them next to m2pt_core/; a plain ``pip install .`` copies only the
package, so it needs to be told. Resolution, first hit wins:

    1. an explicit path (``--zoo`` / ``--dir``, ``Catalog(zoo_path)``)
    2. $M2PT_ZOO_DIR (zoo) or $M2PT_SAMPLES_DIR (samples)
    3. $M2PT_ASSETS_DIR/zoo, $M2PT_ASSETS_DIR/samples
    4. assets/ beside the package (a checkout or editable install)
    5. ./assets in the working directory (running from a checkout with a non-editable install)

Nothing found: AssetsNotFoundError, saying where it looked and which variable to set.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from .errors import M2PTError

ENV_ASSETS = "M2PT_ASSETS_DIR"
ENV_DIRS = {"zoo": "M2PT_ZOO_DIR", "samples": "M2PT_SAMPLES_DIR"}
MARKERS = {"zoo": "manifest.json", "samples": "index.json"}   # what makes a folder the real thing


class AssetsNotFoundError(M2PTError):
    """The bundled zoo or samples are not where this installation looks for them."""


def _package_root() -> Path:
    return Path(__file__).resolve().parent.parent


def candidates(kind: str) -> list[tuple[str, Path]]:
    """(where it came from, folder) for ``kind`` ("zoo" or "samples"), in resolution order."""
    if kind not in ENV_DIRS:
        raise ValueError(f"kind must be one of {tuple(ENV_DIRS)}, got {kind!r}")
    out = []
    if os.environ.get(ENV_DIRS[kind]):
        out.append((f"${ENV_DIRS[kind]}", Path(os.environ[ENV_DIRS[kind]])))
    if os.environ.get(ENV_ASSETS):
        out.append((f"${ENV_ASSETS}/{kind}", Path(os.environ[ENV_ASSETS]) / kind))
    out.append(("beside the package", _package_root() / "assets" / kind))
    out.append(("the working directory", Path.cwd() / "assets" / kind))
    return out


def asset_dir(kind: str, path: Optional[Union[str, Path]] = None, must_exist: bool = True) -> Path:
    """The folder of ``kind`` (see module doc). An environment variable that is set always wins
    (a zoo may be built into an empty folder); otherwise the first folder holding its marker file.
    ``must_exist=False`` returns the checkout's folder instead of raising (for building into it)."""
    if path is not None:
        return Path(path)
    found = candidates(kind)
    if found[0][0].startswith("$"):
        return found[0][1]
    for _, folder in found:
        if (folder / MARKERS[kind]).is_file():
            return folder
    if not must_exist:
        return found[0][1]
    tried = "; ".join(f"{where}: {folder}" for where, folder in found)
    raise AssetsNotFoundError(
        f"No bundled {kind} found (looked for {MARKERS[kind]} in {tried}). A non-editable `pip install .` "
        f"does not copy assets/: set {ENV_ASSETS} to the repository's assets folder (or {ENV_DIRS[kind]} "
        f"to the {kind} folder itself), run from the repository root, or install with `pip install -e .`.")
