"""Training checkpoints for resume, without pickle.

Layout in ``out_dir``::

    checkpoints/epoch_0003.model.safetensors   model weights (save_checkpoint, fp32)
    checkpoints/epoch_0003.optim.safetensors   optimizer state tensors
    train_state.json                           epoch, step, config, history, optimizer groups

Each file is written atomically (temp + rename) and train_state.json is written last: it is the
commit point, naming the files of the last finished epoch. A kill at any moment leaves either the
previous or the new epoch fully usable; older epoch files are deleted after the commit.
No RNG state is saved: every epoch draws from its own stream, seeded from (seed, epoch).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..checkpoint import save_checkpoint
from ..errors import CheckpointError
from ..safe_io import atomic_write, atomic_write_text

STATE_FILE = "train_state.json"
CKPT_DIR = "checkpoints"


def optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split optimizer.state_dict() into tensors ("state.<param idx>.<key>") and JSON-able rest."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"state.{idx}.{k}"] = v.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                        meta: dict[str, Any]) -> None:
    """Load the saved per-parameter state (Adam moments, step counts) into ``optimizer``.

    The hyperparameters of each group (lr, weight decay, ...) stay those ``optimizer`` was built
    with, i.e. from the config in effect now: a resume with a new recipe really uses it. The saved
    groups only say which state belongs to which parameter, so they must have the same names and
    sizes as the current ones."""
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("state."):
            _, idx, k = key.split(".", 2)
            state.setdefault(int(idx), {})[k] = v
    for idx, st in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(st)
    saved, current = meta["param_groups"], optimizer.param_groups
    layout = lambda gs: [(g.get("name"), len(g["params"])) for g in gs]  # noqa: E731
    if layout(saved) != layout(current):
        raise CheckpointError(
            "Cannot resume: the checkpoint's optimizer groups (name, number of tensors) "
            f"{layout(saved)} differ from this model's {layout(current)}; the trainable parameters "
            "changed (another model, auxiliary or aux_trainable). Start the run afresh instead.")
    groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": s["params"]}
              for g, s in zip(current, saved)]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_train_state(out_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                     state: dict[str, Any], scaler: Optional[torch.amp.GradScaler] = None) -> Path:
    """Write one epoch's checkpoint (model, optimizer) and commit it in train_state.json."""
    out_dir = Path(out_dir)
    ckpt = out_dir / CKPT_DIR
    ckpt.mkdir(parents=True, exist_ok=True)
    tag = f"epoch_{state['epoch']:04d}"
    model_file, optim_file = ckpt / f"{tag}.model.safetensors", ckpt / f"{tag}.optim.safetensors"
    save_checkpoint(model, model_file, extra={"epoch": state["epoch"]})
    tensors, opt_meta = optimizer_to_flat(optimizer)
    atomic_write(optim_file, lambda tmp: save_file(tensors, str(tmp)))
    record = {**state, "optimizer": opt_meta, "model_file": f"{CKPT_DIR}/{model_file.name}",
              "optim_file": f"{CKPT_DIR}/{optim_file.name}",
              "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None}
    atomic_write_text(out_dir / STATE_FILE, json.dumps(record, indent=1))
    for old in ckpt.glob("epoch_*.safetensors"):
        if old not in (model_file, optim_file):
            old.unlink(missing_ok=True)
    return out_dir / STATE_FILE


def load_train_state(out_dir: Path) -> Optional[dict[str, Any]]:
    """The committed state of a run, or None when out_dir holds no finished epoch."""
    path = Path(out_dir) / STATE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}); delete it to start the run afresh.") from None


def restore_train_state(out_dir: Path, record: dict[str, Any], model: nn.Module,
                        optimizer: torch.optim.Optimizer, scaler: Optional[torch.amp.GradScaler] = None) -> None:
    """Load the model weights and optimizer state that ``record`` names."""
    from ..safe_io import read_state_dict

    out_dir = Path(out_dir)
    weights, _ = read_state_dict(out_dir / record["model_file"])
    target = model.module if hasattr(model, "module") else model
    ref = target.state_dict()
    weights = {k: v.to(dtype=ref[k].dtype) if k in ref else v for k, v in weights.items()}
    missing, unexpected = target.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"Cannot resume from {out_dir}: its checkpoint does not match this model "
                              f"(missing {missing[:4]}, unexpected {unexpected[:4]}).")
    tensors = load_file(str(out_dir / record["optim_file"]))
    # Optimizer.load_state_dict moves each state tensor to its parameter's device itself.
    optimizer_from_flat(optimizer, {k: v for k, v in tensors.items() if k.startswith("state.")},
                        record["optimizer"])
    if scaler is not None and scaler.is_enabled() and record.get("scaler"):
        scaler.load_state_dict(record["scaler"])
