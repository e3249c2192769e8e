"""On-disk caches for file datasets: content hashes of files, and their preprocessed tensors.

- ``content_sha1``: the sha1 of a file's bytes, remembered per (path, size, mtime) in an index
  under the cache dir, so a second run does not read every file again.
- ``TensorCache``: preprocessed tensors as ``.npy`` (never pickle), keyed by the file's content
  hash, the preprocessing spec and the loader version; a file that failed leaves a ``.err`` note
  (its reason), so the next pass skips it without decoding it again. A changed file has a new
  content hash, hence a new key: the cache never serves stale tensors.

Writes are atomic (temp file + rename): DataLoader workers and DDP ranks may fill it at once.
The tensor cache is capped in bytes ($M2PT_CACHE_MAX_MB, default 20 GiB): every tenth of the cap
written, the least recently used files (a read refreshes a file's time) go until 80% of it is left;
a tensor that is gone is decoded again when next needed.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

CACHE_VERSION = "1"   # bump when preprocessing changes what a file decodes to
DEFAULT_MAX_CACHE_BYTES = 20 * 2**30
TRIM_TO = 0.8         # a trim leaves this share of the cap, so it does not run again at once


def default_max_cache_bytes() -> int:
    """$M2PT_CACHE_MAX_MB (MiB), else DEFAULT_MAX_CACHE_BYTES."""
    env = os.environ.get("M2PT_CACHE_MAX_MB")
    return int(float(env) * 2**20) if env else DEFAULT_MAX_CACHE_BYTES


def default_cache_dir() -> Path:
    """$M2PT_CACHE_DIR, else $XDG_CACHE_HOME/m2pt, else ~/.cache/m2pt."""
    env = os.environ.get("M2PT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "m2pt"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha1_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


# ------------------------------------------------------------------------------ content hashes
_index_lock = threading.Lock()
_memory_index: dict[tuple[str, int, int], str] = {}


def _index_file(cache_dir: Path, root: Path) -> Path:
    return cache_dir / "hashes" / (hashlib.sha1(str(root).encode()).hexdigest()[:20] + ".json")


def content_hashes(root: Path, rels: Sequence[str], stats: Sequence[tuple[int, int]],
                   cache_dir: Optional[Path]) -> list[str]:
    """sha1 of each ``root/rel`` (stats: (size, mtime_ns) of each). Known (path, size, mtime)
    are looked up in memory and in ``cache_dir``'s index; the others are read and hashed."""
    root = root.resolve()
    stored: dict[str, list] = {}
    idx_path = _index_file(cache_dir, root) if cache_dir is not None else None
    if idx_path is not None and idx_path.is_file():
        try:
            stored = json.loads(idx_path.read_text())
        except (OSError, ValueError):
            stored = {}   # a damaged index only costs re-hashing
    out, changed = [], False
    for rel, (size, mtime) in zip(rels, stats):
        mem_key = (f"{root}/{rel}", int(size), int(mtime))
        digest = _memory_index.get(mem_key)
        if digest is None:
            entry = stored.get(rel)
            if isinstance(entry, list) and len(entry) == 3 and entry[0] == size and entry[1] == mtime:
                digest = entry[2]
            else:
                digest = sha1_file(root / rel)
                stored[rel] = [int(size), int(mtime), digest]
                changed = True
            with _index_lock:
                _memory_index[mem_key] = digest
        out.append(digest)
    if changed and idx_path is not None:
        live = set(rels)
        keep = {k: v for k, v in stored.items() if k in live}   # forget deleted files
        atomic_write_bytes(idx_path, json.dumps(keep, separators=(",", ":")).encode())
    return out


# ---------------------------------------------------------------------------- tensor cache
class TensorCache:
    """Preprocessed tensors by key, as ``.npy`` files under ``root/tensors/<ab>/<key>.npy``, at most
    ``max_bytes`` of them (default ``default_max_cache_bytes()``), least recently used out first."""

    def __init__(self, root: Path | str, max_bytes: Optional[int] = None):
        self.root = Path(root) / "tensors"
        self.max_bytes = default_max_cache_bytes() if max_bytes is None else int(max_bytes)
        self._written = 0          # bytes this process wrote since its last trim

    def size_bytes(self) -> int:
        return sum(st.st_size for _, st in self._files())

    def _files(self) -> list[tuple[Path, os.stat_result]]:
        out = []
        if self.root.is_dir():
            for sub in os.scandir(self.root):
                if sub.is_dir():
                    for e in os.scandir(sub.path):
                        if e.is_file() and not e.name.startswith(".tmp-"):
                            try:
                                out.append((Path(e.path), e.stat()))
                            except OSError:    # removed by another process meanwhile
                                pass
        return out

    def trim(self) -> int:
        """Remove the least recently used files while the cache is over ``max_bytes``, down to
        TRIM_TO of it; returns the bytes removed."""
        files = self._files()
        total = sum(st.st_size for _, st in files)
        self._written = 0
        if total <= self.max_bytes:
            return 0
        removed = 0
        for path, st in sorted(files, key=lambda f: f[1].st_mtime_ns):
            if total - removed <= TRIM_TO * self.max_bytes:
                break
            path.unlink(missing_ok=True)
            removed += st.st_size
        return removed

    @staticmethod
    def key(content_sha1: str, setting: str) -> str:
        """Key of a file's tensor: its content and every setting that changes the tensor."""
        return hashlib.sha1(f"{CACHE_VERSION}|{setting}|{content_sha1}".encode()).hexdigest()

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def get(self, key: str) -> Optional[torch.Tensor]:
        p = self._path(key, ".npy")
        try:
            x = torch.from_numpy(np.load(p, allow_pickle=False))
        except (OSError, ValueError, EOFError):   # missing, or a partial file from a killed run
            return None
        try:
            os.utime(p)                            # recently used: the last to go when trimming
        except OSError:
            pass
        return x

    def put(self, key: str, x: torch.Tensor) -> None:
        import io

        buf = io.BytesIO()
        np.save(buf, x.detach().cpu().contiguous().numpy(), allow_pickle=False)
        atomic_write_bytes(self._path(key, ".npy"), buf.getvalue())
        self._wrote(buf.getbuffer().nbytes)

    def _wrote(self, n: int) -> None:
        self._written += n
        if self._written > self.max_bytes // 10:
            self.trim()

    def has(self, key: str) -> bool:
        return self._path(key, ".npy").is_file()

    def error(self, key: str) -> Optional[str]:
        """The recorded reason a file could not be read, if it failed before."""
        p = self._path(key, ".err")
        try:
            return p.read_text(encoding="utf-8")
        except OSError:
            return None

    def put_error(self, key: str, reason: str) -> None:
        data = reason.encode("utf-8")
        atomic_write_bytes(self._path(key, ".err"), data)
        self._wrote(len(data))
