"""Readers for point-cloud files: .ply, .off, .xyz/.txt/.csv and .npy/.npz.

Each returns the raw points as an (N, 3+) float array; ``preprocess_points`` does the rest.
The PLY and OFF parsers are our own (small, no dependency); NumPy files are read with
``allow_pickle=False``: an object array is refused, never unpickled.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from .geometry import sample_mesh_surface, triangle_areas
from .limits import MAX_POINTS

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_MAX_HEADER = 65536


def _decode_text(data: bytes, name: str, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{name}: not valid UTF-8 text at byte {e.start}; expected a text {what} file.") from None


# ------------------------------------------------------------------------------------------- PLY
class _PlyElement:
    def __init__(self, name: str, count: int):
        self.name, self.count = name, count
        self.props: list[tuple[str, str, str | None]] = []  # (name, dtype, list-count dtype or None)

    @property
    def has_lists(self) -> bool:
        return any(p[2] is not None for p in self.props)


def _parse_ply_header(data: bytes, name: str) -> tuple[str, list[_PlyElement], int]:
    end = data.find(b"end_header", 0, _MAX_HEADER)
    if end < 0:
        raise InputFileError(f"{name}: no 'end_header' line in the first {_MAX_HEADER} bytes; expected a PLY header.")
    body = data.index(b"\n", end) + 1 if b"\n" in data[end:end + 16] else len(data)
    lines = data[:end].decode("ascii", errors="replace").splitlines()
    fmt, elements = "", []
    for raw in lines[1:]:
        tok = raw.split()
        if not tok or tok[0] in ("comment", "obj_info"):
            continue
        if tok[0] == "format" and len(tok) >= 2:
            fmt = tok[1]
        elif tok[0] == "element" and len(tok) == 3 and tok[2].isdigit():
            elements.append(_PlyElement(tok[1], int(tok[2])))
        elif tok[0] == "property" and elements:
            if len(tok) == 5 and tok[1] == "list" and tok[2] in _PLY_TYPES and tok[3] in _PLY_TYPES:
                elements[-1].props.append((tok[4], _PLY_TYPES[tok[3]], _PLY_TYPES[tok[2]]))
            elif len(tok) == 3 and tok[1] in _PLY_TYPES:
                elements[-1].props.append((tok[2], _PLY_TYPES[tok[1]], None))
            else:
                raise InputFileError(f"{name}: malformed PLY property line {raw.strip()!r}; expected 'property TYPE NAME' or 'property list T T NAME'.")
        else:
            raise InputFileError(f"{name}: unexpected PLY header line {raw.strip()!r}.")
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise InputFileError(
            f"{name}: PLY format {fmt or 'missing'!r}; expected ascii, binary_little_endian or binary_big_endian."
        )
    return fmt, elements, body


def _skip_binary_lists(data: bytes, pos: int, el: _PlyElement, endian: str, name: str) -> int:
    """Byte position after ``el.count`` records that contain list properties (walked one by one)."""
    for _ in range(el.count):
        for _, dt, count_dt in el.props:
            item = np.dtype(endian + dt).itemsize
            if count_dt is None:
                pos += item
                continue
            cdt = np.dtype(endian + count_dt)
            if pos + cdt.itemsize > len(data):
                raise InputFileError(f"{name}: truncated PLY data in element {el.name!r}; expected the complete file.")
            k = int(np.frombuffer(data, cdt, 1, pos)[0])
            pos += cdt.itemsize + k * item
    return pos


def read_ply(path: Path) -> np.ndarray:
    """Vertices (x, y, z) of an ascii or binary PLY file -> (N, 3) float64."""
    data, name = path.read_bytes(), path.name
    fmt, elements, pos = _parse_ply_header(data, name)
    vertex = next((e for e in elements if e.name == "vertex"), None)
    if vertex is None:
        raise InputFileError(f"{name}: the PLY header has no 'vertex' element; expected vertices with x, y, z.")
    names = [p[0] for p in vertex.props]
    if not {"x", "y", "z"} <= set(names) or vertex.has_lists:
        raise InputFileError(
            f"{name}: PLY vertex properties are {names}; expected scalar properties including x, y and z."
        )
    if vertex.count > MAX_POINTS:
        raise InputFileError(f"{name}: {vertex.count} vertices; expected at most {MAX_POINTS}.")
    cols = [names.index(c) for c in ("x", "y", "z")]
    before = elements[: elements.index(vertex)]
    if fmt == "ascii":
        lines = data[pos:].decode("ascii", errors="replace").splitlines()
        start = sum(e.count for e in before)  # ascii PLY: one line per element record
        rows = lines[start : start + vertex.count]
        if len(rows) < vertex.count:
            raise InputFileError(
                f"{name}: the header promises {vertex.count} vertices but the file holds {max(len(rows), 0)}; "
                f"the file is truncated (expected the complete file)."
            )
        try:
            values = np.array(" ".join(rows).split(), dtype=np.float64)
            return values.reshape(vertex.count, len(names))[:, cols]
        except ValueError:
            raise InputFileError(
                f"{name}: PLY vertex lines are not {len(names)} numbers each; expected one vertex per line."
            ) from None
    endian = "<" if fmt == "binary_little_endian" else ">"
    for el in before:
        if el.has_lists:
            pos = _skip_binary_lists(data, pos, el, endian, name)
        else:
            pos += el.count * sum(np.dtype(p[1]).itemsize for p in el.props)
    dtype = np.dtype([(p[0], endian + p[1]) for p in vertex.props])
    need = vertex.count * dtype.itemsize
    if pos + need > len(data):
        raise InputFileError(
            f"{name}: the header promises {vertex.count} vertices ({need} bytes) but only "
            f"{max(len(data) - pos, 0)} bytes follow; the file is truncated (expected the complete file)."
        )
    rec = np.frombuffer(data, dtype=dtype, count=vertex.count, offset=pos)
    return np.stack([rec["x"], rec["y"], rec["z"]], axis=1).astype(np.float64)


# ------------------------------------------------------------------------------------------- OFF
def read_off(path: Path, num_samples: int, seed: int = 0) -> np.ndarray:
    """An OFF mesh -> (num_samples, 3) points sampled uniformly (area-weighted) over its surface.

    A file with no faces (or only degenerate ones) yields its vertices instead. Colour columns
    (COFF) are ignored; ModelNet's glued header ``OFF490 518 0`` is accepted.
    """
    name = path.name
    text = _decode_text(path.read_bytes(), name, "OFF")
    lines = [ln.split("#", 1)[0].split() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise InputFileError(f"{name}: no content; expected an OFF header.")
    head = lines[0]
    key = head[0]
    cut = key.upper().find("OFF") + 3
    counts = ([key[cut:]] if len(key) > cut else []) + head[1:]
    body = 1
    if not counts:
        counts, body = (lines[1] if len(lines) > 1 else []), 2
    try:
        nv, nf = int(counts[0]), int(counts[1])
    except (IndexError, ValueError):
        raise InputFileError(f"{name}: missing vertex/face counts after the OFF keyword; expected 'nv nf ne'.") from None
    if nv > MAX_POINTS or nv < 0 or nf < 0:
        raise InputFileError(f"{name}: {nv} vertices; expected between 0 and {MAX_POINTS}.")
    if len(lines) < body + nv + nf:
        raise InputFileError(
            f"{name}: the header promises {nv} vertices and {nf} faces but the file holds "
            f"{len(lines) - body} lines; the file is truncated (expected the complete file)."
        )
    try:
        verts = np.array([ln[:3] for ln in lines[body : body + nv]], dtype=np.float64)
        tris: list[tuple[int, int, int]] = []
        for ln in lines[body + nv : body + nv + nf]:
            k = int(ln[0])
            idx = [int(v) for v in ln[1 : 1 + k]]
            tris.extend((idx[0], idx[j], idx[j + 1]) for j in range(1, k - 1))  # fan triangulation
    except (ValueError, IndexError):
        raise InputFileError(f"{name}: malformed OFF vertex or face line; expected numbers.") from None
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise InputFileError(f"{name}: OFF vertex lines must hold x y z; expected 3 numbers per line.")
    if not np.isfinite(verts).all():
        return verts  # preprocess_points reports the NaN/inf
    faces = np.array(tris, dtype=np.int64).reshape(-1, 3)
    if len(faces) and (faces.min() < 0 or faces.max() >= nv):
        raise InputFileError(f"{name}: a face refers to a vertex outside 0..{nv - 1}; the mesh is corrupt (expected indices of listed vertices).")
    if len(faces) and triangle_areas(verts, faces).sum() > 0:
        return sample_mesh_surface(verts, faces, num_samples, np.random.default_rng(seed))
    return verts


# ------------------------------------------------------------------------------------------ text
def read_text_points(path: Path) -> np.ndarray:
    """``x y z [...]`` or ``x,y,z[,nx,ny,nz]`` lines (ModelNet .txt) -> (N, C) with C >= 3.

    Comma, semicolon or whitespace separated; blank lines, ``#`` comments and one header line
    (such as ``x,y,z``) are skipped.
    """
    name = path.name
    text = _decode_text(path.read_bytes(), name, "point")
    lines = [ln.replace(",", " ").replace(";", " ").strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if lines:
        try:
            [float(v) for v in lines[0].split()]
        except ValueError:
            lines = lines[1:]  # a header such as "x y z"
    if not lines:
        raise InputFileError(f"{name}: no numeric lines; expected one point per line as 'x y z' or 'x,y,z'.")
    try:
        arr = np.loadtxt(io.StringIO("\n".join(lines)), dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise InputFileError(
            f"{name}: cannot read the lines as a table of numbers ({e}); expected the same number "
            f"(at least 3) of numbers on every line."
        ) from None
    if arr.shape[1] < 3:
        raise InputFileError(f"{name}: {arr.shape[1]} number(s) per line; expected at least 3 (x, y, z).")
    return arr


# ----------------------------------------------------------------------------------------- NumPy
_NPZ_KEYS = ("points", "xyz", "pos", "pc", "point_cloud", "data", "arr_0")
_MAX_NPZ_MEMBER = 512 * 1024 * 1024


def _pickle_refused(name: str) -> InputFileError:
    return InputFileError(
        f"{name}: the array holds Python objects, which would require unpickling (refused for safety); "
        f"expected a numeric array."
    )


def read_numpy_points(path: Path) -> np.ndarray:
    """An .npy array, or one array of an .npz archive, of shape (N, 3+) -> that array.

    From an .npz the member named points/xyz/pos/pc/point_cloud/data/arr_0 is used, else the only
    member, else the first (N, 3+) member.
    """
    name = path.name
    if path.suffix.lower() == ".npz" or zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                big = [i.filename for i in z.infolist() if i.file_size > _MAX_NPZ_MEMBER]
            if big:
                raise InputFileError(f"{name}: member {big[0]!r} unpacks to more than 512 MB; expected a small array.")
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.files)
                if not keys:
                    raise InputFileError(f"{name}: the .npz archive holds no arrays; expected an (N, 3) array.")
                key = next((k for k in _NPZ_KEYS if k in keys), None) or (keys[0] if len(keys) == 1 else None)
                if key is None:
                    key = next((k for k in keys if npz[k].ndim == 2 and npz[k].shape[1] >= 3), keys[0])
                arr = npz[key]
        except InputFileError:
            raise
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise _pickle_refused(name) from None
            raise InputFileError(f"{name}: cannot read the .npz archive ({e}); expected a NumPy .npz file.") from None
        except (OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
            raise InputFileError(f"{name}: cannot read the .npz archive ({e}); the file is truncated or corrupt (expected a complete, valid file).") from None
        return arr
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise _pickle_refused(name) from None
        raise InputFileError(f"{name}: cannot read the .npy array ({e}); the file is truncated or corrupt (expected a complete, valid file).") from None
    except (OSError, EOFError) as e:
        raise InputFileError(f"{name}: cannot read the .npy array ({e}); the file is truncated or corrupt (expected a complete, valid file).") from None
