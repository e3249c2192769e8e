"""Datasets of the user's own files: a class-per-folder tree, or a CSV manifest of path,label.

Files are read with ``load_file`` (the same preprocessing as uploads and built-in datasets)
and preloaded at construction. A bad file never stops the run: it is recorded in
``.skipped`` as (path, reason), counted, and summarised in one logging warning.
"""
from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Sequence

import torch

from ..errors import InputFileError
from ..modalities import InputSpec, check_modality, default_spec
from .dataset import M2PTDataset
from .formats import EXTENSIONS
from .limits import DEFAULT_MAX_BYTES
from .load import load_file, spec_modality
from .threads import torch_threads

log = logging.getLogger(__name__)


def _guess_modality(paths: Sequence[Path]) -> str:
    """The most common modality among the files' extensions (GIFs count as video only if all are)."""
    votes = Counter(EXTENSIONS[p.suffix.lower()][0] for p in paths if p.suffix.lower() in EXTENSIONS)
    if not votes:
        raise InputFileError(
            f"None of the {len(paths)} file(s) has a supported extension; expected some of: {', '.join(sorted(EXTENSIONS))}."
        )
    if set(p.suffix.lower() for p in paths) == {".gif"}:
        from .formats import detect_modality

        try:
            return detect_modality(paths[0])
        except InputFileError:
            return "image"
    return votes.most_common(1)[0][0]


def _load_items(
    items: Sequence[tuple[Path, int]], classes: Sequence[str], modality: str | None, spec: InputSpec | None,
    max_bytes: int, source: str, skipped: list[tuple[str, str]],
) -> M2PTDataset:
    """Load every (path, label) that reads cleanly; record the others in ``skipped``."""
    if spec is not None:
        modality = spec_modality(spec)
    elif modality is None:
        modality = _guess_modality([p for p, _ in items])
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
    """``root/<class name>/**/<file>`` (torchvision ImageFolder layout), any modality.

    Classes are the sorted sub-folder names; files are searched recursively in each (hidden
    ones ignored). ``modality`` defaults to the spec's, else to the most common file type.
    """

    def __init__(self, root: str | os.PathLike, modality: str | None = None, spec: InputSpec | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES):
        root = Path(root)
        if not root.is_dir():
            raise InputFileError(f"{root}: not a directory; expected a folder with one sub-folder per class.")
        classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not classes:
            raise InputFileError(f"{root}: no sub-folders; expected one sub-folder per class holding its files.")
        items = [
            (f, k) for k, c in enumerate(classes) for f in sorted((root / c).rglob("*"))
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(root).parts)
        ]
        if not items:
            raise InputFileError(f"{root}: the class folders {classes} hold no files; expected files to load.")
        _adopt(self, _load_items(items, classes, modality, spec, max_bytes, str(root), []))


def _sort_labels(labels: set[str]) -> list[str]:
    try:
        return sorted(labels, key=lambda s: (float(s), s))  # 2 before 10 for numeric labels
    except ValueError:
        return sorted(labels)


class ManifestDataset(M2PTDataset):
    """Files listed in a CSV with columns ``path`` and ``label`` (other columns are ignored).

    Relative paths are resolved against the CSV's folder. ``classes`` fixes the class list and
    order (rows with other labels are skipped); by default it is the sorted set of labels.
    """

    def __init__(self, csv_path: str | os.PathLike, modality: str | None = None, spec: InputSpec | None = None,
                 classes: Sequence[str] | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        csv_path = Path(csv_path)
        if not csv_path.is_file():
            raise InputFileError(f"{csv_path}: manifest not found; expected a CSV file with columns path,label.")
        try:
            with open(csv_path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                fields = {(k or "").strip().lower(): k for k in reader.fieldnames or []}
                if "path" not in fields or "label" not in fields:
                    raise InputFileError(
                        f"{csv_path.name}: columns are {list(reader.fieldnames or [])}; expected a header with 'path' and 'label'."
                    )
                rows = [((r.get(fields["path"]) or "").strip(), (r.get(fields["label"]) or "").strip()) for r in reader]
        except UnicodeDecodeError:
            raise InputFileError(f"{csv_path.name}: not UTF-8 text; expected a CSV file.") from None
        skipped: list[tuple[str, str]] = []
        good = []
        for n, (p, label) in enumerate(rows, start=2):
            if not p or not label:
                skipped.append((f"{csv_path.name}:{n}", "empty path or label; expected both."))
            else:
                good.append((p, label))
        class_list = list(classes) if classes is not None else _sort_labels({label for _, label in good})
        index = {c: k for k, c in enumerate(class_list)}
        items = []
        for p, label in good:
            path = Path(p) if Path(p).is_absolute() else csv_path.parent / p
            if label not in index:
                skipped.append((str(path), f"label {label!r} is not one of the classes {class_list}."))
            else:
                items.append((path, index[label]))
        if not items:
            raise InputFileError(f"{csv_path.name}: no usable rows; expected lines of path,label.")
        _adopt(self, _load_items(items, class_list, modality, spec, max_bytes, str(csv_path), skipped))
