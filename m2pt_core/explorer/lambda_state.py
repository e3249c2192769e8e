"""LambdaState: the λ of one session's open pathway model.

It keeps the learned λ apart from edits, reads and writes λ under the session's lock (a sweep
changes λ in place while it holds it), and remembers the λ the page asked for last: during a
slider drag the page shows that λ at once (``preview``), before the move is scored.
"""
from __future__ import annotations

import math
import threading
from typing import Optional

import pandas as pd
from torch import nn

from ..errors import M2PTError
from ..pathways import COMPONENTS, check_lambda, get_lambdas, pathway_modules, set_lambdas, split_name

ALL = "all"


def lambda_rows(lams: dict[str, float]) -> pd.DataFrame:
    """One row per pathway (name, layer, component, lam), as pathways.lambda_table."""
    return pd.DataFrame([{"name": n, "layer": split_name(n)[0], "component": split_name(n)[1], "lam": v}
                         for n, v in lams.items()], columns=["name", "layer", "component", "lam"])


def lambda_grid(rows: pd.DataFrame) -> pd.DataFrame:
    """λ as a layer × component table (rows: layers; columns: COMPONENTS)."""
    wide = rows.pivot(index="layer", columns="component", values="lam")
    wide = wide.reindex(columns=[c for c in COMPONENTS if c in wide.columns])
    return wide.reset_index()


def _same(a: float, b: float) -> bool:
    """Equal up to the precision λ are kept in (float32)."""
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


class LambdaState:
    """λ of the open model (``open`` binds it); |λ| beyond ``bound`` or non-finite is refused."""

    def __init__(self, lock: threading.RLock, bound: float):
        self.lock, self.bound = lock, float(bound)
        self.model: Optional[nn.Module] = None
        self.name: Optional[str] = None                # the open target, for messages
        self.learned: dict[str, float] = {}            # λ as trained (or 0 for fresh pathways)
        self.requested: dict[str, float] = {}          # λ the page asked for last (scored or not)

    def open(self, model: Optional[nn.Module], name: Optional[str]) -> None:
        self.model, self.name = model, name
        self.learned = get_lambdas(model) if model is not None else {}
        self.requested = dict(self.learned)

    def require(self) -> nn.Module:
        """The open model, which must have pathways."""
        if self.model is None:
            raise M2PTError("No target model is open yet: choose one in the Models panel.")
        if not pathway_modules(self.model):
            raise M2PTError(f"{self.name} has no pathways: choose an auxiliary model in the Models panel.")
        return self.model

    # -- names ---------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(pathway_modules(self.model)) if self.model is not None else []

    def keys(self) -> list[str]:
        """Choices for the λ slider: each layer (all its pathways) and each single pathway."""
        names = self.names()
        layers = sorted({split_name(n)[0] for n in names})
        return [f"layer {i} · {ALL}" for i in layers] + names

    def names_for(self, key: str) -> list[str]:
        names = self.names()
        if key.startswith("layer ") and key.endswith(ALL):
            i = int(key.split()[1])
            out = [n for n in names if split_name(n)[0] == i]
        else:
            out = [n for n in names if n == key]
        if not out:
            raise M2PTError(f"No pathway {key!r} in {self.name}; expected one of {self.keys()[:6]}…")
        return out

    # -- reading (under the lock: a sweep changes λ in place while it holds it) -----------------
    def now(self) -> dict[str, float]:
        with self.lock:
            return get_lambdas(self.require())

    def current(self, key: str) -> float:
        lams = self.now()
        names = self.names_for(key)
        return sum(lams[n] for n in names) / len(names)

    def learned_value(self, key: str) -> float:
        names = self.names_for(key)
        return sum(self.learned[n] for n in names) / len(names)

    def long(self) -> pd.DataFrame:
        """λ now, one row per pathway (name, layer, component, lam)."""
        return lambda_rows(self.now())

    def frame(self) -> pd.DataFrame:
        """λ now as a layer × component table."""
        return lambda_grid(self.long())

    def edited(self) -> bool:
        """Whether any λ now differs from the learned λ (edited in this session)."""
        if self.model is None:
            return False
        now = get_lambdas(self.model)
        return any(now[n] != v for n, v in self.learned.items())

    # -- writing -------------------------------------------------------------------------------
    def _write(self, values: dict[str, float], keep_newer: bool = False) -> None:
        """Set λ; what the page asks for is then the λ in force, except (``keep_newer``, a slider
        move) λ previewed by a newer move of the same drag that is not scored yet."""
        before = get_lambdas(self.require())
        pending = {n: v for n, v in self.requested.items() if keep_newer and not _same(v, before[n])}
        set_lambdas(self.model, values)
        self.requested = {**get_lambdas(self.model),
                          **{n: v for n, v in pending.items() if not _same(v, values.get(n, before[n]))}}

    def set(self, key: str, value: float) -> None:
        """λ of one pathway, or of every pathway of a layer ("layer 3 · all")."""
        with self.lock:
            self.require()
            value = check_lambda(value, f"λ of {key}", self.bound)
            self._write({n: value for n in self.names_for(key)}, keep_newer=True)

    def set_frame(self, frame: pd.DataFrame, decimals: Optional[int] = None) -> None:
        """Every λ from a layer × component table (as ``frame`` returns, edited); nothing changes
        unless every value is accepted. ``decimals``: the table was shown rounded, so a value equal
        to the rounded λ in force is that λ (not an edit)."""
        with self.lock:
            names = set(self.names())
            now = get_lambdas(self.require())
            values = {}
            for _, row in frame.iterrows():
                layer = int(check_lambda(row["layer"], "layer", float(10**6)))
                for comp in COMPONENTS:
                    name = f"blocks.{layer}.{comp}"
                    if comp in row.index and name in names:
                        v = check_lambda(row[comp], f"λ for {name}", self.bound)
                        values[name] = now[name] if decimals is not None and round(now[name], decimals) == v else v
            self._write(values)

    def reset(self) -> None:
        """Back to the learned λ."""
        with self.lock:
            self._write(self.learned)

    # -- a drag in progress --------------------------------------------------------------------
    def preview(self, key: str, value: float) -> pd.DataFrame:
        """Record that the page asks for λ(key) = value and return the λ it then shows (one row per
        pathway), without waiting for the lock a scoring move holds. Raises on a refused value."""
        self.require()
        value = check_lambda(value, f"λ of {key}", self.bound)
        self.requested = {**self.requested, **{n: value for n in self.names_for(key)}}
        return lambda_rows(self.requested)

    def is_latest(self) -> bool:
        """Whether the λ in force are the ones the page asked for last (no newer move pending)."""
        with self.lock:
            if self.model is None:
                return False
            now = get_lambdas(self.model)
        return all(_same(now[n], v) for n, v in self.requested.items())
