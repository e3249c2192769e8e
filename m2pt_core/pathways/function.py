"""pathway_linear: y = x (W + λ·W')ᵀ + b, with the memory of a plain linear layer.

Plain autograd on ``F.linear(x, W + λ·W', b)`` keeps the combined weight W + λ·W' (out, in) of
every layer alive until the backward pass: one extra |W| per pathway layer, as much as all of W'
again. This Function saves only what already exists (x, W, W', λ) and forms W + λ·W' once more in
backward; that costs O(out·in) against the O(B·N·out·in) of the matmuls, so the step time hardly
moves while the extra memory falls to what the pathway must hold: W' (plus, when W' trains, its
gradient and optimizer state).

Autocast (bf16 on CUDA, or CPU autocast) is honoured by hand: the matmuls run in the autocast
dtype, the gradients come back in each input's own dtype, and the backward pass uses the dtype
the forward pass used (autograd runs backward outside the autocast region).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


def combine(weight: torch.Tensor, aux: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """W + λ·W' (out, in) summed in at least fp32, then cast to W's dtype (one rounding).
    W' may be stored narrower than W (a frozen bf16 W'); λ is an fp32 scalar."""
    dtype = torch.promote_types(weight.dtype, torch.float32)
    w = weight.to(dtype) + lam.to(dtype) * aux.to(dtype)
    return w.to(weight.dtype)


def _autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    if device_type in ("cuda", "cpu", "xpu", "mps") and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return None


class PathwayLinearFunction(torch.autograd.Function):
    """Forward y = x (W + λW')ᵀ + b; saves x, W, W', λ (no combined weight)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, aux: torch.Tensor, lam: torch.Tensor,
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        cast = _autocast_dtype(x.device.type)
        w_eff = combine(weight, aux, lam)                                    # (out, in), transient
        compute = cast or w_eff.dtype
        with torch.autocast(x.device.type, enabled=False):
            y = F.linear(x.to(compute), w_eff.to(compute), None if bias is None else bias.to(compute))
        ctx.compute = compute
        ctx.has_bias = bias is not None
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.save_for_backward(x, weight, aux, lam)
        return y

    @staticmethod
    @once_differentiable          # second derivatives are not implemented: asking for them raises
    def backward(ctx, grad_y: torch.Tensor):
        x, weight, aux, lam = ctx.saved_tensors
        need_x, need_w, need_aux, need_lam, need_b = ctx.needs_input_grad
        compute = ctx.compute
        g = grad_y.to(compute)                                               # (..., out)
        grad_x = grad_w = grad_aux = grad_lam = grad_b = None
        if need_x:
            w_eff = combine(weight, aux, lam).to(compute)                    # recomputed, (out, in)
            grad_x = g.matmul(w_eff).to(x.dtype)                             # (..., in)
            del w_eff
        if need_w or need_aux or need_lam:
            # dL/d(W + λW') = Σ_tokens gᵀ x, (out, in); in fp32 when the weights are fp32.
            g2, x2 = g.reshape(-1, g.shape[-1]), x.to(compute).reshape(-1, x.shape[-1])
            grad_eff = g2.t().matmul(x2).to(torch.promote_types(weight.dtype, torch.float32))
            del g2, x2
            if need_lam:
                # dL/dλ = <dL/dW_eff, W'> (fp32 scalar)
                grad_lam = (grad_eff * aux.to(grad_eff.dtype)).sum().to(lam.dtype).reshape(lam.shape)
            if need_aux:
                grad_aux = (lam.to(grad_eff.dtype) * grad_eff).to(aux.dtype)
            if need_w:
                grad_w = grad_eff.to(weight.dtype)
            del grad_eff
        if need_b and ctx.has_bias:
            grad_b = g.reshape(-1, g.shape[-1]).sum(0).to(ctx.bias_dtype)
        return grad_x, grad_w, grad_aux, grad_lam, grad_b


def pathway_linear(x: torch.Tensor, weight: torch.Tensor, aux: torch.Tensor, lam: torch.Tensor,
                   bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """y = x (W + λ·W')ᵀ + b (x: (..., in) → (..., out)) without keeping W + λ·W' for backward."""
    return PathwayLinearFunction.apply(x, weight, aux, lam, bias)
