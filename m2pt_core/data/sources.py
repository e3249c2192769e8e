"""``open_dataset``: one entry point for every kind of data a run can use.

    open_dataset("mnist5k", "train")              a built-in (registry) dataset
    open_dataset("my_sounds/", "train")           class-per-folder tree, any modality
    open_dataset("my_sounds/", "test")            ... with its own train/ val/ test/ sub-trees kept
    open_dataset("labels.csv", "val")             CSV manifest: path,label[,split], paths relative to it
    open_dataset("my_sounds.zip", "train")        a .zip / .tar.gz of either (extracted safely, once)

Files are listed, not decoded (see lazy.py: decoding streams through DataLoader workers into an
on-disk cache). An item's split is a seeded hash of its path relative to the dataset's root
(``hash_split``), so it never moves when files are added elsewhere; a tree or manifest that names
its splits keeps them; byte-identical files always share one split (file_splits.py has the rules;
``.split_note`` says what was done beyond them). The dataset carries ``.keys`` (sha1 of each file's bytes) and
``.provenance``; ``load_from_provenance`` rebuilds the same split from it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from ..errors import InputFileError, M2PTError
from ..modalities import InputSpec, check_modality, default_spec
from .archives import archive_root, extract_archive, is_archive
from .cache import TensorCache, content_hashes, default_cache_dir
from .dataset import DEFAULT_FRACTIONS, SPLITS
from .lazy import FileDataset
from .limits import DEFAULT_MAX_BYTES
from .load import spec_modality
from .record import DataProvenance
from .registry import list_datasets, load_dataset
from .scan import FileTable, guess_modality, modality_filter, scan_folder, scan_manifest
from .file_splits import assign_splits
from .splits import unit_hash

log = logging.getLogger(__name__)
FILE_KINDS = ("folder", "manifest", "archive")


def is_builtin(source: Union[str, os.PathLike]) -> bool:
    return isinstance(source, str) and source in list_datasets()


def describe_sources() -> str:
    return (f"a built-in dataset ({', '.join(list_datasets())}), a class-per-folder directory, a CSV manifest "
            "(path,label), or a .zip / .tar.gz of either")


def _table(path: Path, cache_dir: Path) -> tuple[str, FileTable, dict]:
    """(kind, file table, provenance extras) of a folder, manifest or archive."""
    if is_archive(path):
        folder, digest = extract_archive(path, cache_dir)
        root = archive_root(folder)
        csvs = [f for f in root.iterdir() if f.is_file() and f.suffix.lower() == ".csv"]
        dirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
        table = scan_manifest(csvs[0]) if len(csvs) == 1 and not dirs else scan_folder(root)
        return "archive", table, {"archive_sha256": digest}
    if path.is_dir():
        return "folder", scan_folder(path), {}
    if path.suffix.lower() == ".csv":
        return "manifest", scan_manifest(path), {}
    raise InputFileError(f"{path}: expected {describe_sources()}.")


def _fingerprint(table: FileTable, rows: Sequence[int], digests: Sequence[str]) -> str:
    """Identity of the file list: relative path, class and content of every candidate file."""
    h = hashlib.sha1()
    for i, d in sorted(zip(rows, digests), key=lambda t: table.rels[t[0]]):
        h.update(f"{table.rels[i]}\t{table.classes[table.labels[i]]}\t{d}\n".encode())
    return h.hexdigest()


def _subset(rels: Sequence[str], size: int, seed: int) -> np.ndarray:
    """Positions of a seeded, path-fixed subset of ``size`` files (a smaller one nests in a larger)."""
    order = np.argsort([unit_hash(seed, "subset/" + r) for r in rels], kind="stable")
    return np.sort(order[:size])


def open_dataset(source: Union[str, os.PathLike], split: str = "train", spec: Optional[InputSpec] = None,
                 seed: int = 0, size: Optional[int] = None, modality: Optional[str] = None,
                 fractions: Sequence[float] = DEFAULT_FRACTIONS, cache_dir: Union[str, os.PathLike, None] = None,
                 num_workers: Optional[int] = None, max_bytes: int = DEFAULT_MAX_BYTES, prepare: bool = True):
    """One split ('train', 'val', 'test' or 'all') of a built-in dataset or of the user's files.

    Args:
        source: a built-in name (data.list_datasets()), a folder, a CSV manifest or an archive.
        split: "train", "val", "test" or "all".
        spec: the input spec to preprocess to (e.g. a model's ``config.input``).
        seed, size, fractions: the data seed, a seeded subset and the split fractions.
        modality, cache_dir, num_workers, max_bytes, prepare: for files (see below).
    Returns:
        A dataset of (x, y) with ``.classes``, ``.keys`` and ``.provenance`` (recorded by fit).

    Built-in names go to ``load_dataset``. Otherwise ``source`` is a folder, a CSV manifest or an
    archive; ``modality`` is detected from the files unless given (or implied by ``spec``);
    ``size`` takes a seeded subset of the files. ``prepare`` decodes (and caches) the split's
    files now, in ``num_workers`` DataLoader workers, so bad files are known and listed at the end
    of loading; without it they are found (and dropped) as batches are read."""
    if split != "all" and split not in SPLITS:
        raise M2PTError(f"Unknown split {split!r}; expected one of {', '.join(SPLITS)} or 'all'.")
    if is_builtin(source):
        ds = load_dataset(str(source), split, spec=spec, seed=seed, size=size)
        if modality is not None and modality != ds.modality:
            raise M2PTError(f"Dataset {source!r} is {ds.modality} data, but modality={modality!r} was given.")
        return ds
    path = Path(source).expanduser()
    if not path.exists():
        raise M2PTError(f"Unknown dataset {str(source)!r}: not a registered name nor an existing file or folder; "
                        f"expected {describe_sources()}.")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    kind, table, extra = _table(path, cache_dir)
    modality, spec = _modality_and_spec(table, modality, spec)
    n_files, rows_arr, digests_arr, fingerprint = _usable_rows(table, path, modality, size, seed, cache_dir)
    rels = [table.rels[i] for i in rows_arr]
    assignment = assign_splits(rels, [table.preset[i] for i in rows_arr], list(digests_arr), fractions, seed)
    if assignment.note:
        log.warning("%s: %s", path, assignment.note)
    ds = _split_dataset(table, path, rels, rows_arr, digests_arr, assignment, split, modality, spec, cache_dir,
                        max_bytes)
    ds.provenance = DataProvenance(
        kind=kind, name=str(path.resolve()), size=len(rels), seed=int(seed), fractions=tuple(fractions),
        split_rule=assignment.rule, modality=modality, fingerprint=fingerprint,
        extra={**extra, "subset": None if size is None else int(size), "files": n_files})
    if prepare:
        ds.prepare(num_workers)
    elif len(ds) == 0 and split in ("train", "all"):
        raise InputFileError(f"{path}: the {split} split holds no file; expected at least one.")
    return ds


def _usable_rows(table: Any, path: Path, modality: str, size: Optional[int], seed: int,
                 cache_dir: Path) -> tuple[int, np.ndarray, np.ndarray, str]:
    """(number of usable files, their table rows and content digests, the seeded subset of ``size``
    when asked, and the fingerprint of all usable files)."""
    rows = modality_filter(table, modality)
    if not rows:
        raise InputFileError(f"{path}: no {modality} file among {len(table.rels)}; expected {modality} files.\n"
                             + "\n".join(f"  - {p}: {r}" for p, r in table.skipped[:10]))
    stats = [(st.st_size, st.st_mtime_ns) for st in (os.stat(table.path(i)) for i in rows)]
    digests = content_hashes(table.root, [table.rels[i] for i in rows], stats, cache_dir)
    fingerprint = _fingerprint(table, rows, digests)
    rows_arr, digests_arr = np.asarray(rows), np.asarray(digests)
    if size is not None:
        if size > len(rows):
            raise M2PTError(f"size={size}, but {path} has only {len(rows)} usable {modality} file(s).")
        keep = _subset([table.rels[i] for i in rows], int(size), seed)
        rows_arr, digests_arr = rows_arr[keep], digests_arr[keep]
    return len(rows), rows_arr, digests_arr, fingerprint


def _modality_and_spec(table: Any, modality: Optional[str], spec: Optional[InputSpec]) -> tuple[str, InputSpec]:
    """The files' modality (given, implied by ``spec`` or guessed from the files) and the spec."""
    if spec is not None:
        if modality is not None and modality != spec_modality(spec):
            raise M2PTError(f"modality={modality!r} but the spec is a {spec_modality(spec)} spec; pass matching values.")
        modality = spec_modality(spec)
    modality = check_modality(modality) if modality is not None else guess_modality(table.rels, table.root)
    return modality, spec if spec is not None else default_spec(modality)


def _split_dataset(table: Any, path: Path, rels: list[str], rows_arr: np.ndarray, digests_arr: np.ndarray,
                   assignment: Any, split: str, modality: str, spec: InputSpec, cache_dir: Path,
                   max_bytes: int) -> "FileDataset":
    """The FileDataset of ``split``'s files (with the split counts and the dropped files listed)."""
    parts = assignment.parts
    dropped = [(str(table.root / rels[j]), reason) for j, reason in assignment.dropped]
    sel = np.flatnonzero(parts >= 0) if split == "all" else np.flatnonzero(parts == SPLITS.index(split))
    ds = FileDataset(table.root, [rels[j] for j in sel], [table.labels[rows_arr[j]] for j in sel],
                     [digests_arr[j] for j in sel], table.classes, modality, spec, split, str(path),
                     TensorCache(cache_dir), max_bytes, skipped=list(table.skipped) + dropped)
    ds.split_counts = {s: int((parts == k).sum()) for k, s in enumerate(SPLITS)}
    ds.split_note = assignment.note
    return ds


def load_recorded_files(prov: DataProvenance, split: str, spec: Optional[InputSpec]):
    """The ``split`` of the files a run recorded; warns when the files changed since."""
    ds = open_dataset(prov.name, split, spec=spec, seed=prov.seed, size=prov.extra.get("subset"),
                      modality=prov.modality or None, fractions=prov.fractions)
    if prov.fingerprint and ds.provenance.fingerprint != prov.fingerprint:
        warnings.warn(f"{prov.name} has changed since the model was trained on it (file list fingerprint "
                      f"{prov.fingerprint[:12]} then, {ds.provenance.fingerprint[:12]} now): items keep their "
                      "split, but added or edited files were never seen by the run.", stacklevel=2)
    return ds


def recorded_file_keys(prov: DataProvenance, split: str) -> list[str]:
    """Content keys of a recorded split without decoding its files (overlap checks)."""
    return open_dataset(prov.name, split, seed=prov.seed, size=prov.extra.get("subset"),
                        modality=prov.modality or None, fractions=prov.fractions, prepare=False).keys


def same_source(prov: DataProvenance, dataset: str) -> bool:
    """Does ``dataset`` name the data ``prov`` records (a built-in name, or the same path)?"""
    if prov.kind == "builtin" or is_builtin(dataset):
        return dataset == prov.name
    return Path(dataset).expanduser().resolve() == Path(prov.name)


def recorded_size(prov: DataProvenance) -> Optional[int]:
    """The ``size`` argument that rebuilds the recorded data (files: the subset asked for, if any)."""
    return prov.size if prov.kind == "builtin" else prov.extra.get("subset")
