"""Reading and writing λ: a table of all of them, setting some, and a context manager that
overrides some and restores them exactly (sweeps use it; nothing is deep-copied)."""
from __future__ import annotations

import fnmatch
import re
from contextlib import contextmanager
from typing import Iterable, Iterator, Mapping, Optional, Union

import pandas as pd
import torch
from torch import nn

from .layer import PathwayLinear

from ..errors import M2PTError

_NAME = re.compile(r"(?:^|\.)blocks\.(\d+)\.(.+)$")
# The largest |λ| a user may set by hand (dashboard page and API alike). Learned λ are far smaller
# (|λ| < 1 in every zoo model); beyond this the model's outputs are dominated by W'.
LAMBDA_BOUND = 10.0
LambdaValues = Union[float, Mapping[Union[str, tuple[int, str]], float]]


def split_name(name: str) -> tuple[int, str]:
    """'blocks.3.mlp.fc1' → (3, 'mlp.fc1')."""
    m = _NAME.search(name)
    if not m:
        raise ValueError(f"{name!r} is not a block layer name like 'blocks.3.mlp.fc1'.")
    return int(m[1]), m[2]


def check_lambda(value: object, name: str = "λ", bound: float = LAMBDA_BOUND) -> float:
    """``value`` as a float if it is a finite number with |value| ≤ bound, else M2PTError saying so."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise M2PTError(f"{name} must be a number, got {value!r}.") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise M2PTError(f"{name} must be a finite number, got {value!r}.")
    if abs(v) > bound:
        raise M2PTError(f"{name} = {v:g} is outside the allowed range [-{bound:g}, {bound:g}].")
    return v


def pathway_modules(model: nn.Module) -> dict[str, PathwayLinear]:
    """All pathway layers by module name, in model order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, PathwayLinear)}


def select_pathways(model: nn.Module, layers: Optional[Iterable[int]] = None,
                    components: Optional[Iterable[str]] = None, pattern: Optional[str] = None
                    ) -> dict[str, PathwayLinear]:
    """Pathway layers filtered by block index, component and/or a glob on the name."""
    layers = None if layers is None else set(layers)
    components = None if components is None else set(components)
    out = {}
    for name, m in pathway_modules(model).items():
        i, comp = split_name(name)
        if layers is not None and i not in layers:
            continue
        if components is not None and comp not in components:
            continue
        if pattern is not None and not fnmatch.fnmatch(name, pattern):
            continue
        out[name] = m
    return out


def lambda_table(model: nn.Module) -> pd.DataFrame:
    """One row per pathway: name, layer, component, lam."""
    rows = [{"name": n, "layer": split_name(n)[0], "component": split_name(n)[1], "lam": m.lam_value}
            for n, m in pathway_modules(model).items()]
    return pd.DataFrame(rows, columns=["name", "layer", "component", "lam"])


def get_lambdas(model: nn.Module) -> dict[str, float]:
    return {n: m.lam_value for n, m in pathway_modules(model).items()}


def _resolve(model: nn.Module, values: LambdaValues, layers, components, pattern) -> dict[str, float]:
    """Turn any accepted way of naming λ values into {module name: value}."""
    if isinstance(values, Mapping):
        mods = pathway_modules(model)
        out = {}
        for key, v in values.items():
            name = f"blocks.{key[0]}.{key[1]}" if isinstance(key, tuple) else key
            if name not in mods:
                raise KeyError(f"No pathway named {name!r}; the model has {len(mods)} pathways, e.g. {list(mods)[:3]}.")
            out[name] = float(v)
        return out
    selected = select_pathways(model, layers, components, pattern)
    if not selected:
        raise KeyError("The selection (layers / components / pattern) matches no pathway.")
    return {n: float(values) for n in selected}


@torch.no_grad()
def set_lambdas(model: nn.Module, values: LambdaValues, layers: Optional[Iterable[int]] = None,
                components: Optional[Iterable[str]] = None, pattern: Optional[str] = None) -> None:
    """Set λ from a mapping ({name or (layer, component): value}) or one value for a selection.

    Args:
        model: a model with pathways attached.
        values: {pathway name or (layer, component): λ}, or one λ for every selected pathway.
        layers, components, pattern: select pathways (by block index, component, or a regex on
            the name) when ``values`` is one number.
    Returns:
        None; λ are changed in place (bounded, see check_lambda)."""
    mods = pathway_modules(model)
    for name, v in _resolve(model, values, layers, components, pattern).items():
        if mods[name].merged:
            raise RuntimeError(f"{name} is merged; unmerge before changing λ.")
        mods[name].lam.fill_(v)


@contextmanager
def override_lambdas(model: nn.Module, values: Optional[LambdaValues] = None, *,
                     layers: Optional[Iterable[int]] = None, components: Optional[Iterable[str]] = None,
                     pattern: Optional[str] = None, scale: Optional[float] = None) -> Iterator[dict[str, float]]:
    """Temporarily set λ (``values``) or multiply them (``scale``) for a selection; restores the
    exact previous tensors on exit, also after an exception. Yields {name: value in force}."""
    if (values is None) == (scale is None):
        raise ValueError("Give exactly one of values= or scale=.")
    mods = pathway_modules(model)
    if scale is not None:
        selected = select_pathways(model, layers, components, pattern)
        if not selected:
            raise KeyError("The selection (layers / components / pattern) matches no pathway.")
        new = {n: m.lam_value * scale for n, m in selected.items()}
    else:
        new = _resolve(model, values, layers, components, pattern)
    saved = {n: mods[n].lam.detach().clone() for n in new}
    try:
        set_lambdas(model, new)
        yield new
    finally:
        with torch.no_grad():
            for n, t in saved.items():
                mods[n].lam.copy_(t)
