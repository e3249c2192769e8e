"""The user's own data in the dashboard: which datasets a session may read, and scoring a model
on one (accuracy with a 95% Wilson interval, per-class accuracy, confusion matrix).

Readable data is either under the folder the app was started with (``--data-dir``; nothing
outside it, symlinks resolved before the check) or an uploaded archive (size-limited). Both are
named by a *choice* string ("data: sub/folder", "upload: name.zip (<random token>)") that
``resolve`` turns back into a path, so a client can never make the server read an arbitrary path,
nor another session's upload.
"""
from __future__ import annotations

import secrets
import os
import threading
from statistics import NormalDist
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..analysis.intervals import wilson_interval as _wilson
from ..data.archives import is_archive
from ..data.sources import is_builtin
from ..errors import M2PTError

DATA_PREFIX = "data: "
UPLOAD_PREFIX = "upload: "
MAX_UPLOAD_BYTES = 200 * 1024**2
Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (lo, hi) of k correct out of n (n = 0: (0, 1)); the one
    implementation in analysis.intervals does the work (z 1.96: 95%)."""
    if n <= 0:
        return 0.0, 1.0
    w = _wilson(k, n, level=2 * NormalDist().cdf(z) - 1)
    return w.lo, w.hi


class UserData:
    """Datasets a dashboard may read: entries of ``data_dir`` and archives uploaded this run."""

    def __init__(self, data_dir: Union[str, os.PathLike, None] = None, max_upload_bytes: int = MAX_UPLOAD_BYTES):
        self.data_dir = Path(data_dir).resolve() if data_dir else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise M2PTError(f"--data-dir {data_dir}: not a folder; expected a folder of datasets.")
        self.max_upload_bytes = int(max_upload_bytes)
        self._uploads: dict[str, Path] = {}
        self._lock = threading.Lock()

    def choices(self) -> list[str]:
        """Folders, CSV manifests and archives directly under ``data_dir`` (one level down too, so
        ``data/sounds/`` and ``data/sounds/labels.csv`` both show), then this run's uploads."""
        out = []
        if self.data_dir is not None:
            for entry in sorted(self.data_dir.iterdir()):
                if entry.name.startswith(".") or not self._inside(entry):
                    continue
                if entry.is_dir() or entry.suffix.lower() == ".csv" or is_archive(entry):
                    out.append(DATA_PREFIX + entry.relative_to(self.data_dir).as_posix())
                if entry.is_dir():
                    out += [DATA_PREFIX + f.relative_to(self.data_dir).as_posix() for f in sorted(entry.iterdir())
                            if f.is_file() and (f.suffix.lower() == ".csv" or is_archive(f))]
        return out   # uploads are not listed: each session sees only its own (the panel keeps them)

    def _inside(self, p: Path) -> bool:
        r = p.resolve()
        return r != self.data_dir and self.data_dir in r.parents

    def add_upload(self, path: Union[str, os.PathLike]) -> str:
        """Register an uploaded .zip / .tar.gz; returns its choice string, which carries a random
        token: only the session that uploaded it can name it."""
        p = Path(path)
        if not is_archive(p):
            raise M2PTError(f"{p.name}: expected a .zip or .tar.gz archive of a class-per-folder tree or a manifest.")
        size = p.stat().st_size
        if size > self.max_upload_bytes:
            raise M2PTError(f"{p.name} is {size / 2**20:.1f} MB; uploads are limited to "
                            f"{self.max_upload_bytes / 2**20:.0f} MB (start the app with --data-dir for larger data).")
        from ..data import open_dataset
        # Checked on arrival, not when first scored: unpacking it here refuses a member that points
        # outside the archive, links, too many files or bytes, and a tree with no classes (the
        # unpacked copy is cached by content, so scoring and training reuse it).
        open_dataset(str(p), "all", seed=0, prepare=False)
        choice = f"{UPLOAD_PREFIX}{p.name} ({secrets.token_hex(6)})"
        with self._lock:
            self._uploads[choice] = p
        return choice

    def display(self, text: str) -> str:
        """``text`` with every server path this object knows replaced by what the user named: a
        --data-dir path by its path relative to that folder, an upload by its file name, a file
        inside an unpacked archive by its path inside the archive. Messages, names and tables
        shown on the page go through it, so they never reveal where the server keeps files."""
        import re
        with self._lock:
            uploads = {str(p): p.name for p in self._uploads.values()}
        for path, name in sorted(uploads.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(path, name)
        if self.data_dir is not None:
            text = text.replace(str(self.data_dir) + os.sep, "").replace(str(self.data_dir), "the data folder")
        return re.sub(r"/\S*/archives/[0-9a-f]{24}/", "archive:", text)   # extract_archive's cache folders

    def resolve(self, choice: str) -> str:
        """The dataset a choice names: a built-in name, or a path this app may read."""
        if is_builtin(choice):
            return choice
        with self._lock:
            if choice in self._uploads:
                return str(self._uploads[choice])
        if choice.startswith(DATA_PREFIX) and self.data_dir is not None:
            p = self.data_dir / choice[len(DATA_PREFIX):]
            if self._inside(p) and p.exists():
                return str(p.resolve())
        raise M2PTError(f"{choice!r} is not a dataset this app may read; expected a built-in name, an entry of the "
                        "--data-dir folder, or an uploaded archive.")


@dataclass
class DatasetScore:
    """A model's accuracy on one split of a dataset, with everything needed to trust it."""
    source: str
    split: str
    n: int
    correct: int
    classes: list[str]                       # the dataset's classes (rows of the confusion matrix)
    pred_names: list[str]                    # the model's classes (its columns)
    confusion: np.ndarray                    # (len(classes), len(pred_names)) counts
    skipped: list[tuple[str, str]] = field(default_factory=list)
    split_note: str = ""                     # how the files were split beyond the plain rule (file_splits.py)
    train_overlap: Optional[int] = None      # items that are training items of the model (None: not known)

    @property
    def acc(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.n)

    def per_class(self) -> pd.DataFrame:
        """class, n, correct, acc, acc_low, acc_high (95% Wilson) per dataset class."""
        rows = []
        for i, c in enumerate(self.classes):
            n = int(self.confusion[i].sum())
            k = int(self.confusion[i, self.pred_names.index(c)]) if c in self.pred_names else 0
            lo, hi = wilson_interval(k, n)
            rows.append({"class": c, "n": n, "correct": k, "acc": k / n if n else float("nan"),
                         "acc_low": lo, "acc_high": hi})
        return pd.DataFrame(rows)

    def describe(self) -> str:
        lo, hi = self.interval
        skip = f"; {len(self.skipped)} file(s) skipped" if self.skipped else ""
        note = f" ({self.split_note.rstrip('.')})" if self.split_note else ""
        overlap = ("; training items of this model not known (no training data recorded), so not checked"
                   if self.train_overlap is None else
                   f"; ⚠️ {self.train_overlap} of the {self.n} items are items this model was trained on, so this "
                   "accuracy is inflated" if self.train_overlap else "; none of them is a training item of this model")
        return (f"accuracy {100 * self.acc:.2f}% (95% CI {100 * lo:.1f}–{100 * hi:.1f}%) on the {self.split} split "
                f"of {self.source}, n = {self.n}{skip}{overlap}{note}")


class ModelDataMismatch(M2PTError):
    """The open model cannot score this data (another modality, or classes it does not have):
    the next step is to train a model on the data."""


def _class_map(model_names: list[str], data_classes: list[str]) -> list[int]:
    missing = [c for c in data_classes if c not in model_names]
    if missing:
        raise ModelDataMismatch(f"The dataset's classes {missing} are not among the model's classes {model_names}; expected "
                        "a dataset whose class folders (or labels) are named like the model's classes.")
    return [model_names.index(c) for c in data_classes]


def default_split(model: nn.Module, source: str) -> str:
    """'test' for the data the model was trained on (its other items were training items), else 'all'."""
    trained_on = getattr(getattr(model, "config", None), "dataset", None)
    if trained_on and (trained_on == source or (not is_builtin(trained_on) and Path(trained_on).exists()
                                                and Path(trained_on).resolve() == Path(source).resolve())):
        return "test"
    return "test" if is_builtin(source) else "all"


@torch.no_grad()
def score_dataset(model: nn.Module, source: str, split: Optional[str] = None, batch_size: int = 128,
                  allow_train_overlap: bool = False, **open_kw) -> DatasetScore:
    """Score ``model`` on a split (default: ``default_split``) of ``source`` (``open_dataset``).

    The rule of ``m2pt eval``: items the model was trained on (its recorded training split, matched
    by content) are refused (TrainOverlapError) unless ``allow_train_overlap``; the score then says
    how many there were."""
    from ..data import open_dataset
    from ..data.provenance import check_disjoint, model_provenance, overlap_count, split_keys
    from ..train.batches import iterate
    config = model.config
    split = split or default_split(model, source)
    if not is_builtin(source):   # one sentence, not one line per file, when the whole folder is another modality
        found = open_dataset(source, "all", seed=0, prepare=False).provenance.modality   # lists files, decodes none
        if found and found != config.modality:
            raise ModelDataMismatch(
                f"This model takes {config.modality} files and {Path(str(source)).name} holds {found} files. Open "
                f"{article(found)} {found} model in the Models tab, or train one on this data in the Train tab.")
    ds = open_dataset(source, split, spec=config.input, **open_kw)
    prov, overlap = model_provenance(model), None
    if prov is not None and getattr(ds, "keys", None) is not None:
        train_keys = split_keys(prov, "train")
        overlap = overlap_count(train_keys, ds.keys)
        if overlap and not allow_train_overlap:
            check_disjoint(train_keys, ds.keys, f"the {split} split of {Path(str(source)).name}")
    names = list(config.class_names or [str(i) for i in range(config.num_classes)])
    to_model = torch.as_tensor(_class_map(names, list(ds.classes)))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    confusion = np.zeros((len(ds.classes), len(names)), dtype=np.int64)
    try:
        for x, y in iterate(ds, torch.arange(len(ds)), batch_size):
            pred = model(x.to(device)).argmax(-1).cpu()                   # (B,)
            np.add.at(confusion, (y.numpy(), pred.numpy()), 1)
    finally:
        model.train(was_training)
    correct = int(sum(confusion[i, to_model[i]] for i in range(len(ds.classes))))
    return DatasetScore(str(source), split, int(confusion.sum()), correct, list(ds.classes), names, confusion,
                        list(ds.skipped), getattr(ds, "split_note", ""), overlap)


def article(word: str) -> str:
    """'an' before a vowel ('an audio model'), else 'a'."""
    return "an" if word[:1] in "aeiou" else "a"


def duration(seconds: float) -> str:
    """'3 min', '40 s', '2 s' (never '0 s')."""
    return f"{max(1, round(seconds / 60))} min" if seconds >= 90 else f"{max(1, round(seconds))} s"


@dataclass
class TrainOffer:
    """The next step for data no open model can score: train a pair on it, and how long that takes here."""
    choice: str            # the dataset as the page names it
    modality: str
    files: int
    aux: str               # an auxiliary of another modality
    request: "object"      # TrainRequest with the Train tab's defaults
    seconds: float

    def describe(self) -> str:
        r = self.request
        minutes = f"about {duration(self.seconds)}"
        return (f"**Next step:** train a model on it: a baseline and an M2PT model ({self.modality}, "
                f"{min(self.files, r.data_size):,} of its {self.files:,} files, {r.epochs} epochs, auxiliary "
                f"{self.aux}) take {minutes} on this machine (measured here).")


def training_offer(choice: str, source: str, aux_modalities: dict[str, Optional[str]], size_for) -> Optional[TrainOffer]:
    """A TrainOffer for ``source`` (what ``choice`` names), pairing it with the first auxiliary of
    ``aux_modalities`` (name → modality) of another modality; None when there is none.
    ``size_for(aux)``: the model size that pairs with that auxiliary (ExplorerSession.aux_size)."""
    from ..data import open_dataset
    from .training import TrainRequest, estimate_train_seconds
    probe = open_dataset(source, "all", seed=0, prepare=False)          # lists the files, decodes none
    modality, files = probe.provenance.modality, int(probe.provenance.extra.get("files") or len(probe))
    aux = next((a for a, m in aux_modalities.items() if m and m != modality), None)
    if aux is None or modality is None:
        return None
    req = TrainRequest(dataset=source, aux=aux, size=size_for(aux))
    return TrainOffer(choice, modality, files, aux, req, estimate_train_seconds(req, modality, files))
