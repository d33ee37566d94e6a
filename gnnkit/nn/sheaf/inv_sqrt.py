"""Inverse square root of a batch of symmetric positive-definite matrices, stable gradient."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["sym_inv_sqrt"]


class _SymInvSqrt(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, matrices: Tensor) -> Tensor:
        eigenvalues, vectors = torch.linalg.eigh(matrices)
        # Inputs are D + I with D ⪰ 0, so eigenvalues are ≥ 1; the floor only guards
        # round-off on inputs that break the contract.
        roots = eigenvalues.clamp_min(torch.finfo(matrices.dtype).tiny).sqrt()
        out = (vectors / roots.unsqueeze(-2)) @ vectors.transpose(-1, -2)
        ctx.save_for_backward(vectors, roots)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        vectors, roots = ctx.saved_tensors
        grad = 0.5 * (grad + grad.transpose(-1, -2))
        # Divided differences of f(λ) = λ^{-1/2}: (f(λ_i) - f(λ_j)) / (λ_i - λ_j)
        # = -1 / (s_i s_j (s_i + s_j)) with s = √λ — the same closed form when λ_i = λ_j
        # (where it equals f'(λ_i)), so repeated eigenvalues cost nothing.
        s_i, s_j = roots.unsqueeze(-1), roots.unsqueeze(-2)
        kernel = -1.0 / (s_i * s_j * (s_i + s_j))
        inner = vectors.transpose(-1, -2) @ grad @ vectors
        return vectors @ (kernel * inner) @ vectors.transpose(-1, -2)


def sym_inv_sqrt(matrices: Tensor) -> Tensor:
    r"""``M^{-1/2}`` of every matrix of a batch ``(B, d, d)`` of symmetric positive-definite
    matrices (the normalisation :math:`D_v^{-1/2}` of the general sheaf Laplacian).

    .. math::
        M = V \operatorname{diag}(\lambda) V^\top, \qquad
        M^{-1/2} = V \operatorname{diag}(\lambda^{-1/2}) V^\top .

    **Gradient.** Differentiating the eigendecomposition term by term divides by
    :math:`\lambda_i - \lambda_j`, which is infinite for repeated eigenvalues — and they are
    common here: an isolated node has :math:`M = I`, a node whose maps are all equal has a
    rank-one :math:`D_v`. Bodnar et al.'s code therefore perturbs the diagonal by
    :math:`U(-10^{-3}, 10^{-3})` noise during training. gnnkit needs no perturbation: the
    backward pass uses the Daleckii–Krein formula of a matrix function,

    .. math::
        \bar M = V \big(K \circ (V^\top \operatorname{sym}(\bar Y) V)\big) V^\top, \quad
        K_{ij} = \frac{\lambda_i^{-1/2} - \lambda_j^{-1/2}}{\lambda_i - \lambda_j}
        = \frac{-1}{s_i s_j (s_i + s_j)}, \quad s = \sqrt{\lambda},

    whose closed form for :math:`K_{ij}` is finite and exact when :math:`\lambda_i =
    \lambda_j` (it is then :math:`f'(\lambda_i) = -\tfrac12 \lambda_i^{-3/2}`), and which does
    not depend on the choice of eigenvectors within an eigenspace. First derivatives only.

    Args:
        matrices: ``(..., d, d)`` symmetric positive definite (e.g. :math:`D_v + I`).

    Returns:
        ``(..., d, d)`` symmetric.
    """
    if not isinstance(matrices, Tensor) or matrices.dim() < 2 or (
            matrices.shape[-1] != matrices.shape[-2]):
        shape = tuple(matrices.shape) if isinstance(matrices, Tensor) else type(matrices)
        raise ValueError(f"matrices must be a (..., d, d) tensor, got {shape}")
    if not matrices.is_floating_point():
        raise TypeError(f"matrices must be floating point, got {matrices.dtype}")
    if matrices.shape[-1] == 0 or matrices.numel() == 0:
        return matrices.clone()
    return _SymInvSqrt.apply(matrices)
