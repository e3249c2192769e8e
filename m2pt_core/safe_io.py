"""Reading weight files without executing anything from them, and writing files atomically.

.safetensors files are read as tensors + string metadata; .pt/.pth/.bin files only with
``torch.load(weights_only=True)``, and a file that needs more than plain tensors is refused.
Every file the project writes for keeps (checkpoints, training state, the zoo manifest) goes
through ``atomic_write``.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Union

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from .errors import CheckpointError

PathLike = Union[str, os.PathLike]
_PICKLE_EXTS = {".pt", ".pth", ".bin", ".ckpt", ".tar"}
# Dict keys under which training scripts commonly nest the weights.
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "module", "model_state", "net", "params")


def unwrap_state_dict(obj: Any) -> dict[str, torch.Tensor]:
    """Find the tensor dict inside common checkpoint containers ({'model': {...}}, ...)."""
    for _ in range(3):
        if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        if isinstance(obj, dict):
            inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
            if inner is not None:
                obj = inner
                continue
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if tensors:
                return tensors
        break
    raise CheckpointError("Expected a dict of tensors (a state dict), possibly under 'model' or 'state_dict'; found none.")


def _refusal(path: Path, e: Exception) -> str:
    """Why a .pt file was refused, in our words: PyTorch's own message advises weights_only=False,
    which would execute code from the file, so it is never shown."""
    import zipfile
    with open(path, "rb") as f:
        head = f.read(2)
    if not zipfile.is_zipfile(path) and head[:1] != b"\x80":      # neither torch.save format
        return (f"{path.name} is not a PyTorch checkpoint (it was not written by torch.save). Expected a "
                f".safetensors file or a .pt/.pth state dict.")
    text = str(e)
    detail = ""
    for line in text.splitlines():
        if line.strip().startswith(("Unsupported global", "Unsupported operand", "Trying to")):
            detail = f" ({line.strip().rstrip('.')})"
            break
    return (f"Refused to load {path.name}: it holds Python objects other than tensors, dicts and numbers"
            f"{detail}, and loading those could run code. Re-save it as a state dict of tensors or as "
            f".safetensors.")


def read_state_dict(path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and string metadata of a checkpoint file, without executing anything from it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"Checkpoint file {path.name} is empty.")
    if path.suffix.lower() in _PICKLE_EXTS:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - a corrupt or hostile file fails in many ways
            raise CheckpointError(_refusal(path, e)) from None
        return unwrap_state_dict(obj), {}
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


def atomic_write(path: PathLike, writer: Callable[[Path], Any]) -> Path:
    """Write ``path`` all or nothing: ``writer(tmp)`` fills a uniquely named temp file beside it,
    which then replaces ``path``. A kill leaves the old file or the new one, never half of one,
    and two writers of one path never share a temp file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
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
