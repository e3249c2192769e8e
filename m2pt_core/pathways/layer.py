"""PathwayLinear: one linear layer with a cross-modal pathway.

    y = x (W + λ·W')ᵀ + b

W (out, in) and b are the target layer's own parameters (the very same Parameter objects, so an
optimizer built before attaching still updates them); W' (out, in) is the auxiliary model's weight
of the same layer, a trainable Parameter or a frozen buffer; λ is one fp32 scalar, initialised to
0 so training starts exactly at the target model. The auxiliary bias is not used.

Memory: the forward pass goes through ``pathway_linear`` (function.py), which keeps no W + λ·W'
for backward, so a pathway adds only W' (and, when W' trains, its gradient and optimizer state).
W' is copied from the auxiliary only when someone else may hold the same tensor (``adopt_aux``
hands over a private one, e.g. just read from a file); a frozen W' may be stored narrower than W
(``aux_dtype=torch.bfloat16``: half the memory, W + λ·W' still summed in fp32).

λ stays fp32 through ``.half()`` / ``.to(torch.bfloat16)`` (``_apply``), and W + λ·W' is formed in
(at least) fp32, then cast to the weights' dtype: a bf16 λ would round 0.012345 to 0.012329.

The state-dict keys are ``weight``, ``bias``, ``aux_weight`` and ``lam``: a target checkpoint's
``weight``/``bias`` load straight into a pathway model.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .function import combine, pathway_linear


class PathwayLinear(nn.Module):
    def __init__(self, base: nn.Linear, aux_weight: torch.Tensor, lambda_init: float = 0.0,
                 aux_trainable: bool = True, aux_dtype: Optional[torch.dtype] = None, adopt_aux: bool = False):
        """aux_dtype: storage dtype of a frozen W' (default: W's dtype). adopt_aux: ``aux_weight``
        is private to the caller (nobody else holds it), so it is used without a copy."""
        super().__init__()
        if aux_weight.shape != base.weight.shape:
            raise ValueError(f"aux weight shape {tuple(aux_weight.shape)} != target weight shape {tuple(base.weight.shape)}")
        if aux_dtype is not None and aux_trainable:
            raise ValueError(f"aux_dtype={aux_dtype} is for a frozen W' (aux_trainable=False); a trainable W' "
                             f"keeps the weights' dtype")
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.aux_dtype = aux_dtype
        src = aux_weight.detach()
        aux = src.to(device=base.weight.device, dtype=aux_dtype or base.weight.dtype)
        if not adopt_aux and aux.untyped_storage().data_ptr() == src.untyped_storage().data_ptr():
            aux = aux.clone()          # the caller's tensor: training or loading must not write into it
        self.aux_trainable = aux_trainable
        if aux_trainable:
            self.aux_weight = nn.Parameter(aux)
        else:
            self.register_buffer("aux_weight", aux)
        # λ stays fp32 whatever the weights' dtype: it is tiny and its updates are tiny too.
        self.lam = nn.Parameter(torch.tensor(float(lambda_init), device=base.weight.device, dtype=torch.float32))
        self.merged = False
        self._merged_lam = 0.0  # the λ folded into `weight` while merged

    def _apply(self, fn, recurse: bool = True):
        # Module.to / .half() / .cuda() go through here: let them move λ, but not change its dtype
        # (nor its value: convert from the fp32 value kept aside, not from a rounded copy).
        lam = self.lam.detach().clone()                                  # () fp32
        out = super()._apply(fn, recurse)
        aux = self.aux_weight
        if self.aux_dtype is not None and aux.dtype != self.aux_dtype and aux.element_size() > self.aux_dtype.itemsize:
            self.aux_weight = aux.to(self.aux_dtype)        # .float() must not undo a requested bf16 W'
        if self.lam.dtype != torch.float32:
            self.lam.data = lam.to(self.lam.device)
            if self.lam.grad is not None:
                self.lam.grad = self.lam.grad.float()
        return out

    @property
    def lam_value(self) -> float:
        return float(self.lam.detach())

    def effective_weight(self) -> torch.Tensor:
        """W + λ·W' (out, in), in the weights' dtype. While merged, `weight` already holds it.

        Summed in fp32 (or the weights' dtype if wider), so a half-precision layer rounds once."""
        if self.merged:
            return self.weight
        return combine(self.weight, self.aux_weight, self.lam)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Combining the weights first costs O(out·in) per call, against O(B·N·out·in) for the
        # matmul, and needs one matmul instead of two: the pathway is almost free to train.
        if self.merged:
            return F.linear(x, self.weight, self.bias)
        return pathway_linear(x, self.weight, self.aux_weight, self.lam, self.bias)

    @torch.no_grad()
    def merge(self, safe: bool = True) -> None:
        """Fold λ·W' into W in place (fp32 arithmetic, one cast). Forward stays the same function
        of x; ``unmerge`` undoes it. With ``safe``, a non-finite result raises and leaves W unchanged."""
        if self.merged:
            return
        lam = self.lam_value
        merged = self.weight.float() + lam * self.aux_weight.float()
        if safe and not torch.isfinite(merged).all():
            raise ValueError(f"Merging produced non-finite weights (λ={lam}); the layer was left unmerged.")
        self.weight.copy_(merged.to(self.weight.dtype))
        self.merged, self._merged_lam = True, lam

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take λ·W' back out of W (exact up to float rounding)."""
        if not self.merged:
            return
        restored = self.weight.float() - self._merged_lam * self.aux_weight.float()
        self.weight.copy_(restored.to(self.weight.dtype))
        self.merged, self._merged_lam = False, 0.0

    def to_linear(self, merge: bool = True) -> nn.Linear:
        """A plain nn.Linear with W + λW' (merge=True) or the bare target W (merge=False)."""
        lin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                        device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            if merge:
                lam = self.lam_value if not self.merged else 0.0
                w = self.weight.float() + lam * self.aux_weight.float()
            else:
                w = self.weight.float() - (self._merged_lam * self.aux_weight.float() if self.merged else 0.0)
            lin.weight.copy_(w.to(self.weight.dtype))
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        return lin

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"lam={self.lam_value:.4g}, aux_trainable={self.aux_trainable}, merged={self.merged}"
                + (f", aux_dtype={self.aux_dtype}" if self.aux_dtype is not None else ""))
