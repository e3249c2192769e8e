"""Safe extraction of a .zip / .tar.gz dataset into the cache, keyed by the archive's sha256.

Refused (with a clear ``InputFileError``): absolute paths, ``..`` components, links (symbolic or
hard), devices and other special members, more than ``max_files`` members, and more than
``max_bytes`` of extracted data (counted while writing, so a zip bomb that lies about its sizes
is stopped too). Extraction goes to a temporary folder renamed into place when complete, so an
interrupted extraction is never mistaken for a finished one.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Iterator

from ..errors import InputFileError
from .limits import human_bytes

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
MAX_ARCHIVE_BYTES = 4 * 1024**3        # extracted bytes of one archive
MAX_ARCHIVE_FILES = 200_000
_CHUNK = 1 << 20


def is_archive(path: str | os.PathLike) -> bool:
    name = str(path).lower()
    return any(name.endswith(s) for s in ARCHIVE_SUFFIXES)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(_CHUNK), b""):
            h.update(b)
    return h.hexdigest()


def _safe_rel(name: str, archive: str) -> PurePosixPath | None:
    """The member's relative path, None for entries to ignore (macOS metadata); raises on escape."""
    n = name.replace("\\", "/")
    p = PurePosixPath(n)
    if n.startswith("/") or (len(n) > 1 and n[1] == ":") or ".." in p.parts:
        raise InputFileError(f"{archive}: member {name!r} points outside the archive's folder (absolute path or "
                             "'..'); refused. Expected relative paths inside the archive.")
    parts = [q for q in p.parts if q not in ("", ".")]
    if not parts or parts[0] == "__MACOSX":
        return None
    return PurePosixPath(*parts)


def _zip_members(zf: zipfile.ZipFile, archive: str) -> Iterator[tuple[PurePosixPath, IO[bytes] | None]]:
    for info in zf.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)   # 0: no Unix type recorded (e.g. made on Windows)
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise InputFileError(f"{archive}: member {info.filename!r} is a link or special file; refused. "
                                 "Expected regular files and folders only.")
        rel = _safe_rel(info.filename, archive)
        if rel is None:
            continue
        yield rel, None if info.is_dir() else zf.open(info)


def _tar_members(tf: tarfile.TarFile, archive: str) -> Iterator[tuple[PurePosixPath, IO[bytes] | None]]:
    for m in tf:
        if not (m.isfile() or m.isdir()):
            raise InputFileError(f"{archive}: member {m.name!r} is a link or special file; refused. "
                                 "Expected regular files and folders only.")
        rel = _safe_rel(m.name, archive)
        if rel is None:
            continue
        yield rel, None if m.isdir() else tf.extractfile(m)


def _extract_into(path: Path, dest: Path, max_bytes: int, max_files: int) -> None:
    name = path.name
    total = files = 0
    if path.suffix.lower() == ".zip":
        opener = zipfile.ZipFile(path)
        members = _zip_members
    else:
        opener = tarfile.open(path, "r:*")
        members = _tar_members
    with opener as arc:
        for rel, src in members(arc, name):
            target = dest.joinpath(*rel.parts)
            if src is None:
                target.mkdir(parents=True, exist_ok=True)
                continue
            files += 1
            if files > max_files:
                raise InputFileError(f"{name}: more than {max_files} files; expected at most {max_files}.")
            target.parent.mkdir(parents=True, exist_ok=True)
            with src, open(target, "wb") as out:
                for b in iter(lambda: src.read(_CHUNK), b""):
                    total += len(b)
                    if total > max_bytes:
                        raise InputFileError(f"{name}: extracts to more than {human_bytes(max_bytes)}; expected "
                                             "a smaller archive (the limit protects the disk).")
                    out.write(b)


def extract_archive(path: str | os.PathLike, cache_dir: Path, max_bytes: int = MAX_ARCHIVE_BYTES,
                    max_files: int = MAX_ARCHIVE_FILES) -> tuple[Path, str]:
    """(folder holding the archive's files, the archive's sha256). Extracted once per content."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: archive not found; expected an existing .zip or .tar.gz file.")
    digest = sha256_file(p)
    dest = Path(cache_dir) / "archives" / digest[:24]
    if dest.is_dir():
        return dest, digest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".extract-"))
    try:
        _extract_into(p, tmp, max_bytes, max_files)
        try:
            os.replace(tmp, dest)
        except OSError:        # another process finished first: use its copy
            if not dest.is_dir():
                raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise InputFileError(f"{p.name}: not a readable .zip / .tar.gz archive ({e}); expected an intact archive.") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest, digest


def archive_root(folder: Path) -> Path:
    """The dataset inside an extracted archive: descend through a lone top-level folder."""
    while True:
        entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir():
            folder = entries[0]
        else:
            return folder
