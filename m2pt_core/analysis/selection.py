"""Which pathways a (layer, component) target means; component "all" is the whole layer."""
from __future__ import annotations

from typing import Iterable, Optional, Union

from torch import nn

from ..pathways import COMPONENTS, pathway_modules, split_name

ALL = "all"          # component label for "every pathway of the layer"
ALL_LAYERS = -1      # layer label for "every pathway of the model at once"


def pathway_grid(model: nn.Module) -> dict[tuple[int, str], str]:
    """{(layer, component): module name} of every pathway, in model order."""
    grid = {split_name(n): n for n in pathway_modules(model)}
    if not grid:
        raise ValueError("The model has no pathways; attach them first (attach_pathways).")
    return grid


def resolve_targets(model: nn.Module, layers: Optional[Iterable[int]] = None,
                    components: Union[None, str, Iterable[str]] = None, default_components=(ALL,)
                    ) -> list[tuple[int, str, list[str]]]:
    """[(layer, component, [module names])] for every requested layer × component that has a
    pathway. components may include ALL (the layer's pathways together)."""
    grid = pathway_grid(model)
    have_layers = sorted({i for i, _ in grid})
    layers = have_layers if layers is None else [int(i) for i in layers]
    components = default_components if components is None else components
    components = [components] if isinstance(components, str) else list(components)
    bad = [c for c in components if c != ALL and c not in COMPONENTS]
    if bad:
        raise ValueError(f"Unknown component(s) {bad}; expected some of {[*COMPONENTS, ALL]}.")
    missing = [i for i in layers if i not in have_layers]
    if missing:
        raise ValueError(f"Layer(s) {missing} have no pathway; layers with pathways: {have_layers}.")
    out = []
    for i in layers:
        for c in components:
            names = [n for (j, comp), n in grid.items() if j == i and (c == ALL or comp == c)]
            if names:
                out.append((i, c, names))
    if not out:
        raise ValueError(f"No pathway matches layers={layers} components={components}.")
    return out
