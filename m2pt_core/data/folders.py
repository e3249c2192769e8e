"""Datasets of the user's own files: a class-per-folder tree, or a CSV manifest of path,label.

Files are read with ``load_file`` (the same preprocessing as uploads and built-in datasets)
and preloaded at construction. A bad file never stops the run: it is recorded in
``.skipped`` as (path, reason), counted, and summarised in one logging warning.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import torch

from ..errors import InputFileError
from ..modalities import InputSpec, check_modality, default_spec
from .dataset import M2PTDataset
from .limits import DEFAULT_MAX_BYTES
from .load import load_file, spec_modality
from .scan import guess_modality, scan_folder, scan_manifest
from .threads import torch_threads

log = logging.getLogger(__name__)


def _load_items(
    items: Sequence[tuple[Path, int]], classes: Sequence[str], modality: str | None, spec: InputSpec | None,
    max_bytes: int, source: str, skipped: list[tuple[str, str]],
) -> M2PTDataset:
    """Load every (path, label) that reads cleanly; record the others in ``skipped``."""
    if spec is not None:
        modality = spec_modality(spec)
    elif modality is None:
        modality = guess_modality([str(p) for p, _ in items], Path("."))   # absolute paths: root unused
    check_modality(modality)
    spec = spec if spec is not None else default_spec(modality)
    X, y, paths = [], [], []
    with torch_threads(1):
        for path, label in items:
            try:
                X.append(load_file(path, modality=modality, spec=spec, max_bytes=max_bytes))
                y.append(label)
                paths.append(str(path))
            except InputFileError as e:
                skipped.append((str(path), str(e)))
            except Exception as e:  # a decoder bug must not end the run either
                skipped.append((str(path), f"unexpected {type(e).__name__}: {e}"))
    if skipped:
        first = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:3])
        log.warning("%s: skipped %d of %d file(s) that could not be read as %s (%s%s). See .skipped for all.",
                    source, len(skipped), len(skipped) + len(X), modality, first, "; ..." if len(skipped) > 3 else "")
    if not X:
        reasons = "\n".join(f"  - {p}: {r}" for p, r in skipped[:10])
        raise InputFileError(f"{source}: no file could be read as {modality}; expected at least one.\n{reasons}")
    return M2PTDataset(torch.stack(X), torch.tensor(y, dtype=torch.int64), classes, modality, spec,
                       name=source, skipped=skipped, paths=paths)


def _adopt(self: M2PTDataset, ds: M2PTDataset) -> None:
    M2PTDataset.__init__(self, ds.X, ds.y, ds.classes, ds.modality, ds.spec, ds.name, None, ds.skipped, ds.paths)


class FolderDataset(M2PTDataset):
    """``root/<class name>/**/<file>`` (torchvision ImageFolder layout), any modality, all in memory
    (for large folders use ``open_dataset``, which decodes lazily and caches).

    Files are listed by ``scan.scan_folder`` (the same listing ``open_dataset`` uses: hidden files
    ignored; a tree with its own train/ val/ test/ keeps them, and this class holds all of them).
    ``modality`` defaults to the spec's, else to the most common file type.
    """

    def __init__(self, root: str | os.PathLike, modality: str | None = None, spec: InputSpec | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES):
        table = scan_folder(Path(root))
        items = [(table.path(i), table.labels[i]) for i in range(len(table.rels))]
        _adopt(self, _load_items(items, table.classes, modality, spec, max_bytes, str(root), list(table.skipped)))


class ManifestDataset(M2PTDataset):
    """Files listed in a CSV with columns ``path`` and ``label`` (other columns are ignored), all in
    memory. Listed by ``scan.scan_manifest``: paths are relative to the CSV's folder and must lie
    under it; ``classes`` fixes the class list and order (rows with other labels are skipped); by
    default it is the sorted set of labels.
    """

    def __init__(self, csv_path: str | os.PathLike, modality: str | None = None, spec: InputSpec | None = None,
                 classes: Sequence[str] | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        table = scan_manifest(Path(csv_path), classes)
        items = [(table.path(i), table.labels[i]) for i in range(len(table.rels))]
        _adopt(self, _load_items(items, table.classes, modality, spec, max_bytes, str(csv_path), list(table.skipped)))
