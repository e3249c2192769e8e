"""Reading weight files without executing anything from them, and writing files atomically.

.safetensors files are read as tensors + string metadata; .pt/.pth/.bin files only with
``torch.load(weights_only=True)`` under an explicit allow-list (argparse.Namespace, which
MAE-family training checkpoints hold, pathlib paths and numeric numpy scalars); a file that needs
anything else is refused, and one cut short is called truncated or corrupt.
Every file the project writes for keeps (checkpoints, training state, the zoo manifest) goes
through ``atomic_write``.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import pickle
import re
import uuid
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from .errors import CheckpointError

PathLike = Union[str, os.PathLike]
_PICKLE_EXTS = {".pt", ".pth", ".bin", ".ckpt", ".tar"}
# Dict keys under which training scripts nest the weights, in order of preference. Sources:
# MAE / AudioMAE / VideoMAE util/misc.py save_model ('model', 'model_ema'; VideoMAE's released
# files use 'module'), Point-MAE tools/builder.py ('base_model'), DINO ('teacher', 'student'),
# PyTorch Lightning ('state_dict'), and common others.
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "module", "base_model", "model_ema",
                   "teacher", "encoder", "model_state", "net", "params", "student")
# Non-tensor objects real training checkpoints hold and that are safe to rebuild (nothing they
# rebuild can run code): MAE-family `args` entries are argparse.Namespace (facebookresearch/mae
# util/misc.py: 'args': args); scripts that build paths with pathlib put a PosixPath in `args`;
# DeiT / timm-style scripts store metrics such as `best_acc` as numpy scalars. The loss-scaler and
# optimizer states are plain dicts, lists and numbers already allowed. numpy arrays, strings of
# numpy type, object dtypes and every other class stay refused.
SAFE_CLASSES: tuple[type, ...] = (argparse.Namespace, pathlib.PosixPath, pathlib.PurePosixPath)


def _numpy_scalar_globals() -> list:
    """What torch's weights-only unpickler needs to rebuild a numeric numpy scalar: numpy's
    ``scalar(dtype, bytes)`` (named ``numpy.core...`` in files from numpy 1, ``numpy._core...`` from
    numpy 2), ``numpy.dtype`` and the dtype class of each numeric type (bool, ints, floats,
    complex), whose state the pickle sets."""
    import numpy as np
    try:
        from numpy._core.multiarray import scalar
    except ImportError:   # numpy 1
        from numpy.core.multiarray import scalar
    numeric = sorted({type(np.dtype(code)) for code in "?bhilqBHILQefdgFD"}, key=lambda t: t.__name__)
    names = ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar")
    return [(scalar, name) for name in names] + [np.dtype] + numeric


def safe_globals() -> list:
    """The whole allow-list given to ``torch.load(weights_only=True)``."""
    return list(SAFE_CLASSES) + _numpy_scalar_globals()


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap_state_dict(obj: Any, container: Optional[str] = None,
                      notes: Optional[list[str]] = None) -> dict[str, torch.Tensor]:
    """Find the tensor dict inside common checkpoint containers ({'model': {...}}, ...).

    container: the key to use (default: the first of _CONTAINER_KEYS present). When several
    candidate containers are present, which one was used goes into ``notes``."""
    path: list[str] = []
    top = sorted(map(str, obj))[:12] if isinstance(obj, dict) else type(obj).__name__
    for _ in range(3):
        if _is_tensor_dict(obj):
            break
        if not isinstance(obj, dict):
            obj = None
            break
        present = [k for k in _CONTAINER_KEYS if isinstance(obj.get(k), dict)]
        if container is not None and not path:
            if not isinstance(obj.get(container), dict):
                raise CheckpointError(f"Checkpoint has no {container!r} container; found top-level keys "
                                      f"{sorted(map(str, obj))[:12]}.")
            present = [container]
        if present:
            if len(present) > 1 and notes is not None:
                notes.append(f"several weight containers found {present}; used {present[0]!r} "
                             f"(pass container= to choose another)")
            path.append(present[0])
            obj = obj[present[0]]
            continue
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        obj = tensors or None
        break
    if not _is_tensor_dict(obj):
        raise CheckpointError("Expected a dict of tensors (a state dict), possibly under one of "
                              f"{list(_CONTAINER_KEYS)}; found none (found top-level keys {top}).")
    if path and notes is not None:
        notes.append(f"weights read from container {'/'.join(path)!r}")
    return obj


def _truncated(path: Path) -> CheckpointError:
    return CheckpointError(f"{path.name} is truncated or corrupt (an interrupted download or copy?): it starts like "
                           "a torch.save file but its data is incomplete. Download or copy it again.")


def _torch_load(path: Path) -> Any:
    """torch.load(weights_only=True) with the explicit ``safe_globals()`` allow-list; anything else is
    refused with our own message (never PyTorch's advice to turn weights_only off)."""
    import zipfile
    with open(path, "rb") as f:
        head = f.read(4)
    if not zipfile.is_zipfile(path):
        if head == b"PK\x03\x04":            # a zip's first entry but no central directory: cut short
            raise _truncated(path)
        if head[:1] != b"\x80":               # neither torch.save format
            raise CheckpointError(f"{path.name} is not a PyTorch checkpoint (it was not written by torch.save). "
                                  f"Expected a .safetensors file or a .pt/.pth state dict.")
    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a corrupt or hostile file fails in many ways (IndexError too)
        text = str(e)
        if isinstance(e, EOFError) or re.search(r"unexpected EOF|Ran out of input|PytorchStreamReader failed", text):
            raise _truncated(path) from None
        # Name what the file needs, never PyTorch's own advice (which suggests weights_only=False).
        found = re.search(r"GLOBAL ([\w.]+)", text)
        built = re.search(r"Can only build .*?but got <class '([\w.]+)'>", text)
        detail = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", text, re.S)
        if found or built:
            what = f"it needs {(found or built).group(1)}"
        elif detail:
            what = f"it needs more than plain data: {detail.group(1).strip().splitlines()[0][:160]}"
        elif "weights_only" in text or "Weights only" in text:
            what = "it needs more than plain data"
        else:
            what = text.strip().splitlines()[0][:200] if text.strip() else type(e).__name__
        raise CheckpointError(
            f"Refused to load {path.name}: it is not a plain-tensor PyTorch file ({what}). Only tensors, "
            f"dicts, lists, numbers, numeric numpy scalars, pathlib paths and argparse.Namespace are accepted, "
            f"so nothing in the file can run code; re-save it as a state dict (torch.save(model.state_dict(), "
            f"...)) or as .safetensors."
        ) from None


def read_checkpoint_object(path: PathLike) -> tuple[Any, dict[str, str]]:
    """The whole (safely loaded) object of a checkpoint file and its string metadata: a dict of
    tensors for .safetensors; for .pt/.pth whatever dict the training script saved."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"Checkpoint file {path.name} is empty.")
    if path.suffix.lower() in _PICKLE_EXTS:
        return _torch_load(path), {}
    try:
        tensors = load_file(str(path), device="cpu")
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"Could not read {path.name} as safetensors ({e}). Expected a .safetensors file or a "
            f".pt/.pth state dict."
        ) from None
    return tensors, meta


def read_state_dict(path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and string metadata of a checkpoint file, without executing anything from it."""
    obj, meta = read_checkpoint_object(path)
    return unwrap_state_dict(obj), meta


def atomic_write(path: PathLike, writer: Callable[[Path], Any]) -> Path:
    """Write ``path`` all or nothing: ``writer(tmp)`` fills a uniquely named temp file beside it,
    which then replaces ``path``. A kill leaves the old file or the new one, never half of one,
    and two writers of one path never share a temp file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created like any new file (mode 0o666 less the umask; mkstemp's would be 0o600, and a
    # checkpoint the app or a teammate cannot read is a surprise), with a unique name.
    tmp = str(path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        writer(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def atomic_write_text(path: PathLike, text: str) -> Path:
    """``atomic_write`` of a text file, flushed to disk before the rename."""
    def write(tmp: Path) -> None:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return atomic_write(path, write)


def read_jsonl(path: PathLike) -> list[Any]:
    """Every JSON value of a JSONL file, one per line (a truncated last line, from a kill
    mid-write, is skipped)."""
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
