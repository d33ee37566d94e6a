"""Sheaf learner variant: concatenated endpoint features summed over the stalk dimension first."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._act import SHEAF_ACTIVATIONS, sheaf_activation
from .graph import SheafGraph

__all__ = ["StalkSumSheafLearner"]


class StalkSumSheafLearner(torch.nn.Module):
    r"""Restriction maps from stalk-summed endpoint features (the reference code's
    ``LocalConcatSheafLearnerVariant``, flag ``--sparse_learner``; Bodnar et al., NeurIPS
    2022). With node stalks :math:`\mathbf{X}_i \in \mathbb{R}^{D \times C}` (``D`` = stalk
    dimension, ``C`` = channels):

    .. math::
        \mathcal{F}_{i \trianglelefteq e} = \sigma\Big(W \sum_{s=1}^{D}
        \big[\mathbf{X}_{i,s} \,\|\, \mathbf{X}_{j,s}\big]\Big), \qquad W \in
        \mathbb{R}^{|\text{out}| \times 2C},

    so :math:`W` has ``2C`` rather than ``2DC`` columns.

    ``official_layout=True`` reproduces the reference implementation exactly: it reshapes the
    concatenation :math:`[\operatorname{vec}\mathbf{X}_i \,\|\, \operatorname{vec}\mathbf{X}_j]`
    (length ``2DC``) to ``(D, 2C)`` before summing, so each summed row mixes stalks of
    both ends (for ``D = 3``: first half :math:`\mathbf{X}_{i,1} + \mathbf{X}_{i,3} +
    \mathbf{X}_{j,2}`, second half :math:`\mathbf{X}_{i,2} + \mathbf{X}_{j,1} +
    \mathbf{X}_{j,3}`), which is not the per-stalk concatenation above.
    ``official_layout=False`` computes the equation as written.

    Args:
        stalk_dim: ``D``.
        channels: ``C``.
        out_shape: ``(d,)``, ``(d, d)`` or ``(k,)`` as for :class:`LocalConcatSheafLearner`.
        activation: ``tanh``, ``id`` or ``elu``.
        official_layout: see above.

    Shapes: ``x`` ``(N, D·C)`` (stalk-major: stalk ``s`` is ``x[:, s·C:(s+1)·C]``) →
    ``(E, *out_shape)``.
    """

    def __init__(self, stalk_dim: int, channels: int, out_shape: tuple[int, ...],
                 activation: str = "tanh", *, official_layout: bool = False) -> None:
        super().__init__()
        if len(out_shape) not in (1, 2) or any(s < 1 for s in out_shape):
            raise ValueError(f"out_shape must be (d,) or (d, d) with positive sizes, "
                             f"got {out_shape!r}")
        if activation not in SHEAF_ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(SHEAF_ACTIVATIONS)}, "
                             f"got {activation!r}")
        self.stalk_dim = stalk_dim
        self.channels = channels
        self.out_shape = tuple(out_shape)
        self.activation = activation
        self.official_layout = official_layout
        self._act = sheaf_activation(activation)
        self.linear = torch.nn.Linear(2 * channels, math.prod(out_shape), bias=False)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def extra_repr(self) -> str:
        return (f"stalk_dim={self.stalk_dim}, channels={self.channels}, "
                f"out_shape={self.out_shape}, activation={self.activation!r}, "
                f"official_layout={self.official_layout}")

    def forward(self, x: Tensor, graph: SheafGraph) -> Tensor:
        D, C = self.stalk_dim, self.channels
        if x.dim() != 2 or x.shape[1] != D * C:
            raise ValueError(f"x must have shape (N, {D * C}) = (N, stalk_dim · channels), "
                             f"got {tuple(x.shape)}")
        N = x.shape[0]
        if self.official_layout:
            # Row r of the (D, 2C) view of [vec X_i || vec X_j] is the slice [2Cr, 2C(r+1))
            # of the concatenation; summing the rows adds, per half, a fixed set of stalks of
            # each end. Sum those stalks per node first (linear), then gather per entry.
            stalks = x.view(N, D, C)
            halves = torch.arange(2 * D, device=x.device) % 2  # piece k of length C → half
            own = torch.stack([(halves[:D] == h).to(x.dtype) for h in (0, 1)])  # ends i
            other = torch.stack([(halves[D:] == h).to(x.dtype) for h in (0, 1)])  # ends j
            target = torch.einsum("hs,nsc->nhc", own, stalks).reshape(N, 2 * C)
            source = torch.einsum("hs,nsc->nhc", other, stalks).reshape(N, 2 * C)
        else:
            summed = x.view(N, D, C).sum(dim=1)
            zeros = torch.zeros_like(summed)
            target = torch.cat([summed, zeros], dim=1)
            source = torch.cat([zeros, summed], dim=1)
        h_target = target @ self.linear.weight.t()
        h_source = source @ self.linear.weight.t()
        maps = h_target.index_select(0, graph.row) + h_source.index_select(
            0, graph.adjacency.col.long())
        return self._act(maps).view(-1, *self.out_shape)
