"""Listing a user's files without decoding them: a class-per-folder tree (optionally with its own
train/ val/ test/ sub-trees) or a CSV manifest of ``path,label[,split]``.

The result is a ``FileTable``: one row per candidate file (path relative to the root, absolute
path, label, preset split or None), plus the rows already refused, with their reason.
"""
from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..errors import InputFileError
from .formats import EXTENSIONS

# Sub-folder names that mean a split, not a class (a tree that has train/ keeps its own splits).
SPLIT_DIRS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
              "test": "test", "testing": "test"}


@dataclass
class FileTable:
    """Candidate files of a dataset. ``rels`` are posix paths relative to ``root`` (the split key)."""

    root: Path
    classes: list[str]
    rels: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    preset: list[Optional[str]] = field(default_factory=list)   # split from the tree / manifest
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, rel: str, label: int, split: Optional[str] = None) -> None:
        self.rels.append(rel)
        self.labels.append(label)
        self.preset.append(split)

    @property
    def has_preset(self) -> bool:
        return any(s is not None for s in self.preset)

    def path(self, i: int) -> Path:
        return self.root / self.rels[i]


def _visible_files(folder: Path, root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return out


def _class_dirs(folder: Path) -> list[str]:
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _split_layout(root: Path, top: list[str]) -> list[str]:
    """The top-level split folders (train/ val/ test/ ...) of a tree that is split by folders, [] for
    a plain class-per-folder tree. A split folder beside class folders is refused: which files
    are test files would be a guess (and the class folders would be lost or the split ignored)."""
    split_dirs = [d for d in top if d.lower() in SPLIT_DIRS]
    nested = [d for d in split_dirs if _class_dirs(root / d)]   # holds class sub-folders: a split
    if not nested:
        return []                                              # e.g. a class that is named "test"
    others = [d for d in top if d not in split_dirs]
    if others:
        shown = ", ".join(f"{d}/" for d in others[:5]) + (", ..." if len(others) > 5 else "")
        raise InputFileError(
            f"{root}: split folders ({', '.join(d + '/' for d in split_dirs)}) beside class folders ({shown}); "
            "expected either one folder per class (split by a seeded hash) or only train/ [val/] test/, each "
            f"with one folder per class: move {shown} into train/ (or into the split folders).")
    return split_dirs


def scan_folder(root: Path) -> FileTable:
    """``root/<class>/**/<file>``, or ``root/{train,val,test}/<class>/**/<file>`` (splits kept)."""
    if not root.is_dir():
        raise InputFileError(f"{root}: not a directory; expected a folder with one sub-folder per class.")
    top = _class_dirs(root)
    split_dirs = _split_layout(root, top)
    if split_dirs:
        groups = [(root / d, SPLIT_DIRS[d.lower()]) for d in split_dirs]
        classes = sorted({c for g, _ in groups for c in _class_dirs(g)})
    else:
        groups = [(root, None)]
        classes = top
    if not classes:
        raise InputFileError(f"{root}: no sub-folders; expected one sub-folder per class holding its files.")
    index = {c: k for k, c in enumerate(classes)}
    table = FileTable(root, classes)
    for group, split in groups:
        for c in _class_dirs(group):
            for f in _visible_files(group / c, root):
                table.add(f.relative_to(root).as_posix(), index[c], split)
    if not table.rels:
        raise InputFileError(f"{root}: the class folders {classes} hold no files; expected files to load.")
    return table


def _sort_labels(labels: set[str]) -> list[str]:
    try:
        return sorted(labels, key=lambda s: (float(s), s))   # 2 before 10 for numeric labels
    except ValueError:
        return sorted(labels)


def scan_manifest(csv_path: Path, classes: Optional[Sequence[str]] = None) -> FileTable:
    """Rows of a CSV with columns ``path`` and ``label`` (and optionally ``split``); relative paths
    are resolved against the CSV's folder. Rows with an empty field or a path outside that folder
    are skipped with their reason (the split key is the path relative to the CSV's folder)."""
    if not csv_path.is_file():
        raise InputFileError(f"{csv_path}: manifest not found; expected a CSV file with columns path,label.")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = {(k or "").strip().lower(): k for k in reader.fieldnames or []}
            if "path" not in fields or "label" not in fields:
                raise InputFileError(f"{csv_path.name}: columns are {list(reader.fieldnames or [])}; expected a "
                                     "header with 'path' and 'label'.")
            rows = [tuple((r.get(fields[k]) or "").strip() if k in fields else "" for k in ("path", "label", "split"))
                    for r in reader]
    except UnicodeDecodeError:
        raise InputFileError(f"{csv_path.name}: not UTF-8 text; expected a CSV file.") from None
    root = csv_path.parent.resolve()
    table = FileTable(root, [])
    good = []
    for n, (p, label, split) in enumerate(rows, start=2):
        if not p or not label:
            table.skipped.append((f"{csv_path.name}:{n}", "empty path or label; expected both."))
            continue
        full = (root / p).resolve()
        try:
            rel = full.relative_to(root).as_posix()
        except ValueError:
            table.skipped.append((p, f"outside the manifest's folder {root}; expected paths under it."))
            continue
        if split and split.lower() not in SPLIT_DIRS:
            table.skipped.append((p, f"split {split!r}; expected train, val or test."))
            continue
        good.append((rel, label, SPLIT_DIRS[split.lower()] if split else None))
    table.classes = list(classes) if classes is not None else _sort_labels({lab for _, lab, _ in good})
    index = {c: k for k, c in enumerate(table.classes)}
    for rel, label, split in good:
        if label not in index:
            table.skipped.append((rel, f"label {label!r} is not one of the classes {table.classes}."))
        else:
            table.add(rel, index[label], split)
    if not table.rels:
        raise InputFileError(f"{csv_path.name}: no usable rows; expected lines of path,label.")
    return table


def guess_modality(rels: Sequence[str], root: Path) -> str:
    """The most common modality among the files' extensions (GIFs only: by the first one's frames)."""
    votes = Counter(EXTENSIONS[Path(r).suffix.lower()][0] for r in rels if Path(r).suffix.lower() in EXTENSIONS)
    if not votes:
        raise InputFileError(f"None of the {len(rels)} file(s) has a supported extension; expected some of: "
                             f"{', '.join(sorted(EXTENSIONS))}.")
    if {Path(r).suffix.lower() for r in rels} == {".gif"}:
        from .formats import detect_modality
        try:
            return detect_modality(root / rels[0])
        except InputFileError:
            return "image"
    return votes.most_common(1)[0][0]


def modality_filter(table: FileTable, modality: str) -> list[int]:
    """Rows whose extension can hold ``modality`` (unknown extensions are tried by content);
    the others are recorded as skipped."""
    keep = []
    for i, rel in enumerate(table.rels):
        ext = Path(rel).suffix.lower()
        if ext in EXTENSIONS and EXTENSIONS[ext][0] != modality and not (ext == ".gif" and modality == "video"):
            table.skipped.append((rel, f"a {EXTENSIONS[ext][0]} file (extension {ext}) in a {modality} dataset; "
                                       f"expected {modality} files only."))
        else:
            keep.append(i)
    return keep
