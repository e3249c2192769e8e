"""Ablation arms: which pathways one training run gets.

    baseline               no pathway
    all                    every (layer, component), target block i paired with auxiliary block i
    layer=i                every component of target block i only              (--by layer)
    component=c            component c in every block                          (--by component)
    layer=i,component=c    one (block, component) cell                         (--by layer-component)
    prefix=k / suffix=k    every component of the first / last k blocks, k < depth
    order=reversed         all pathways, target block i paired with auxiliary block depth−1−i
    order=shuffled         all pathways, auxiliary blocks in a seeded random order (never the identity)
    random, random:<arm>   negative control: as "all" / as <arm>, but to independent random weights with
                           the auxiliary's per-layer norm (pathways/random_aux.py)
    positive, positive:<arm>  positive control: as "all" / as <arm>, but to an auxiliary of the target's
                           own modality trained on other items (it has real knowledge to carry)

Controls are built for "all" and for every subset arm, so a heatmap can show the three conditions
(auxiliary, random, positive) side by side, cell for cell.

Every arm of a seed trains from the same target initialisation on the same data order
(experiment.build_model / the fit seed), so arm − baseline differences are paired.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Optional, Sequence

import torch

from ..pathways import COMPONENTS

BY_CHOICES = ("layer", "component", "layer-component", "depth-prefix", "depth-suffix", "order", "all")
CONTROLS = ("random", "positive")
CONTROL_SUBSETS = {"random": "random W' with the auxiliary's per-layer norm",
                   "positive": "the positive control (same-modality auxiliary)"}


@dataclass(frozen=True)
class Arm:
    name: str                              # unique within an ablation, e.g. "layer=2"
    by: str                                # "baseline", "all", "control" or one of BY_CHOICES
    subset: str                            # human-readable subset, e.g. "block 2, all components"
    kind: str = "m2pt"                     # the run's arm: baseline | m2pt | random | positive
    layers: Optional[tuple[int, ...]] = None
    components: Optional[tuple[str, ...]] = None
    aux_layers: Optional[tuple[int, ...]] = None
    layer: Optional[int] = None            # heatmap row (layer / layer-component arms)
    component: Optional[str] = None        # heatmap column (component / layer-component arms)
    k: Optional[int] = None                # blocks in a prefix / suffix arm
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def pathways(self) -> Optional[dict[str, Any]]:
        """attach_pathways keywords (layers / components / aux_layers) for a subset; None for the
        baseline and for the full, same-index set (then the run is the experiment's m2pt run)."""
        if self.kind == "baseline" or (self.layers is None and self.components is None and self.aux_layers is None):
            return None
        depth_layers = list(self.layers) if self.layers is not None else None
        return {"layers": depth_layers,
                "components": list(self.components) if self.components is not None else list(COMPONENTS),
                "aux_layers": list(self.aux_layers) if self.aux_layers is not None else depth_layers}

    def pairs(self, depth: int) -> list[tuple[str, int]]:
        """(target module name, auxiliary block) of every pathway this arm attaches."""
        if self.kind == "baseline":
            return []
        layers = list(self.layers) if self.layers is not None else list(range(depth))
        aux = list(self.aux_layers) if self.aux_layers is not None else layers
        comps = list(self.components) if self.components is not None else list(COMPONENTS)
        return [(f"blocks.{i}.{c}", j) for i, j in zip(layers, aux) for c in comps]


def short(component: str) -> str:
    return component.split(".")[-1]


def shuffled_order(depth: int, seed: int) -> tuple[int, ...]:
    """A seeded permutation of range(depth) that is not the identity (for depth > 1)."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(100):
        perm = tuple(int(i) for i in torch.randperm(depth, generator=g))
        if depth < 2 or perm != tuple(range(depth)):
            return perm
    raise RuntimeError("could not draw a non-identity permutation")  # pragma: no cover (p = 1/depth!^100)


def as_control(arm: Arm, control: str) -> Arm:
    """The same pathway subset as ``arm``, to the control's weights (``random:layer=2``)."""
    return replace(arm, name=f"{control}:{arm.name}", subset=f"{arm.subset}; {CONTROL_SUBSETS[control]}", kind=control)


def _arms_by(by: str, depth: int, components: Sequence[str], shuffle_seed: int) -> list[Arm]:
    all_layers = tuple(range(depth))
    comps = tuple(components)
    if by == "layer":
        return [Arm(f"layer={i}", by, f"block {i}, all components", layers=(i,), components=comps, layer=i)
                for i in all_layers]
    if by == "component":
        return [Arm(f"component={short(c)}", by, f"{c} in every block", components=(c,), component=c)
                for c in comps]
    if by == "layer-component":
        return [Arm(f"layer={i},component={short(c)}", by, f"block {i} {c}", layers=(i,), components=(c,),
                    layer=i, component=c) for i in all_layers for c in comps]
    if by == "depth-prefix":
        return [Arm(f"prefix={k}", by, f"blocks 0-{k - 1}", layers=tuple(range(k)), components=comps, k=k)
                for k in range(1, depth)]
    if by == "depth-suffix":
        return [Arm(f"suffix={k}", by, f"blocks {depth - k}-{depth - 1}", layers=tuple(range(depth - k, depth)),
                    components=comps, k=k) for k in range(1, depth)]
    if by == "order":
        rev = tuple(reversed(all_layers))
        perm = shuffled_order(depth, shuffle_seed)
        return [Arm("order=reversed", by, "aux blocks " + ",".join(map(str, rev)), layers=all_layers,
                    components=comps, aux_layers=rev),
                Arm("order=shuffled", by, "aux blocks " + ",".join(map(str, perm)), layers=all_layers,
                    components=comps, aux_layers=perm, extra={"shuffle_seed": shuffle_seed})]
    if by == "all":
        return []
    raise ValueError(f"Unknown --by {by!r}; expected one of {list(BY_CHOICES)}.")


def build_arms(by: Iterable[str], depth: int, components: Sequence[str] = COMPONENTS,
               shuffle_seed: int = 0, controls: Iterable[str] = (), baseline: bool = True,
               include_all: bool = True) -> list[Arm]:
    """The arms of an ablation: baseline, all pathways, the controls, then each ``by``'s subsets
    (an arm asked for twice appears once)."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}.")
    bad = [c for c in components if c not in COMPONENTS]
    if bad:
        raise ValueError(f"Unknown component(s) {bad}; expected some of {list(COMPONENTS)}.")
    bad = [c for c in controls if c not in CONTROLS]
    if bad:
        raise ValueError(f"Unknown control(s) {bad}; expected some of {list(CONTROLS)}.")
    arms: list[Arm] = []
    if baseline:
        arms.append(Arm("baseline", "baseline", "no pathway", kind="baseline"))
    if include_all:
        arms.append(Arm("all", "all", "every block and component"))
    subsets: list[Arm] = []
    for b in by:
        subsets += _arms_by(b, depth, components, shuffle_seed)
    arms += subsets
    for c in controls:
        arms.append(Arm(c, "control", f"every block and component, {CONTROL_SUBSETS[c]}", kind=c))
        arms += [as_control(a, c) for a in subsets]
    seen: set[str] = set()
    unique = [a for a in arms if not (a.name in seen or seen.add(a.name))]
    return unique
