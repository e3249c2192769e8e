"""One declaration per option of a run: does it change the result, and what does a resume do with it.

Every field of ``TrainConfig`` (train/config.py) and of ``experiment.RunRequest`` is declared with
``run_field(default, role, ...)``. From those declarations, and nothing else, come:

- the run spec and its hash, the run id (``spec_of``): a finished run is reused only when every
  field that affects the result matches, and never differs for a field that does not;
- the resume policy of ``fit(resume=True)`` (``names_with(TrainConfig, Role.APPLIED)`` / ``REFUSED``);
- the recipe written beside ablations and into result tables (``recipe_of``).

``check_declared`` runs at import on both classes: a field added without a role stops the import
(and tests/test_experiment.py), so it can never silently stay out of the run id. Adding an option
is one line, e.g. ``data_fraction: float = run_field(1.0, Role.RESULT, "share of the target's
training items")``.

Beside the declared fields, ``environment`` adds what a CPU run's numbers also depend on (torch's
version and thread count: CPU kernels are deterministic only for both) and the device type.
"""
from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, Callable, Optional


class Role(str, Enum):
    APPLIED = "affects the result; a resume applies a change from the resumed step on"
    REFUSED = "affects the result; a resume with a change is refused (it fixes the data order or the steps)"
    RESULT = "affects the result; another value is another run (its own folder)"
    DERIVED = "affects the result through another entry of the spec (named in its note)"
    NONE = "does not affect the result (where the run writes, how it reports)"


AFFECTS_RESULT = (Role.APPLIED, Role.REFUSED, Role.RESULT, Role.DERIVED)
OMIT = object()          # a spec function's answer for "leave this key out" (e.g. no init given)
SpecFn = Callable[[Any], Any]   # (the whole object) -> the value the spec records, or OMIT


def run_field(default: Any = dataclasses.MISSING, role: Role = Role.RESULT, note: str = "", *,
              key: Optional[str] = None, spec: Optional[SpecFn] = None,
              default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its role. ``key``: its name in the run spec (default its own);
    ``spec(obj)``: what the spec records (default the value; OMIT leaves the key out)."""
    meta = {"run_role": role, "run_note": note, "run_key": key, "run_spec": spec}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def check_declared(cls: type) -> type:
    """Refuse a dataclass with a field that does not say its role (used at import)."""
    missing = [f.name for f in dataclasses.fields(cls) if not isinstance(f.metadata.get("run_role"), Role)]
    if missing:
        raise TypeError(f"{cls.__name__} field(s) {missing} do not declare whether they affect a run's result: "
                        "declare each with run_field(default, Role.X, note) (m2pt_core/run_identity.py).")
    return cls


def role_of(cls: type, name: str) -> Role:
    return next(f.metadata["run_role"] for f in dataclasses.fields(cls) if f.name == name)


def names_with(cls: type, *roles: Role) -> tuple[str, ...]:
    """Field names of ``cls`` with one of ``roles``, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("run_role") in roles)


def spec_of(obj: Any) -> dict[str, Any]:
    """The entries of ``obj`` that affect the result directly (APPLIED, REFUSED, RESULT; DERIVED ones
    are in the spec through the entry they name), each as its ``spec`` function records it."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.metadata["run_role"] not in (Role.APPLIED, Role.REFUSED, Role.RESULT):
            continue
        fn = f.metadata["run_spec"]
        value = fn(obj) if fn is not None else getattr(obj, f.name)
        if value is not OMIT:
            out[f.metadata["run_key"] or f.name] = value
    return out


def environment(device_type: str) -> dict[str, Any]:
    """What a run's numbers depend on beyond its options: device type, torch version and (CPU) threads."""
    import torch
    return {"device_type": device_type, "torch": torch.__version__,
            "threads": torch.get_num_threads() if device_type == "cpu" else None}
