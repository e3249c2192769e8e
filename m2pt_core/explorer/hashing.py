"""sha256 of weight files, computed once per file version (path, size, mtime)."""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Union


class FileHashes:
    """A thread-safe memo of file hashes."""

    def __init__(self):
        self._lock = threading.Lock()
        self._hashes: dict[tuple, str] = {}

    def sha256(self, path: Union[str, Path]) -> str:
        p = Path(path)
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        with self._lock:
            if key in self._hashes:
                return self._hashes[key]
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        with self._lock:
            self._hashes[key] = h.hexdigest()
        return self._hashes[key]
