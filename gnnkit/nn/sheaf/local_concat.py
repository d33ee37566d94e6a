"""Sheaf learner: restriction maps from the concatenated features of an edge's two ends."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._act import SHEAF_ACTIVATIONS, sheaf_activation
from .graph import SheafGraph

__all__ = ["LocalConcatSheafLearner"]


class LocalConcatSheafLearner(torch.nn.Module):
    r"""Restriction maps learnt locally from each edge's endpoints (Bodnar et al., NeurIPS
    2022, §5, eq. 11):

    .. math::
        \mathcal{F}_{i \trianglelefteq e} = \sigma\big(W\,[\mathbf{x}_i \,\|\, \mathbf{x}_j]\big),
        \qquad e = (i, j),

    one map per stored entry (both orientations of every edge, so the two ends of an edge get
    different maps), with :math:`W` without bias and :math:`\sigma` = ``tanh`` (default),
    ``id`` or ``elu``.

    Args:
        in_channels: width of :math:`\mathbf{x}_i` (in NSD the flattened stalks,
            ``stalk_dim · hidden_channels``).
        out_shape: ``(d,)`` for diagonal maps, ``(d, d)`` for general maps, ``(k,)`` for the
            ``k`` parameters of an orthogonal map (:class:`OrthogonalMaps`).
        activation: ``tanh``, ``id`` or ``elu``.

    Shapes: ``x`` ``(N, in_channels)``, graph a :class:`SheafGraph` with ``E`` entries →
    ``(E, *out_shape)`` in the graph's CSR entry order.
    """

    def __init__(self, in_channels: int, out_shape: tuple[int, ...],
                 activation: str = "tanh") -> None:
        super().__init__()
        if len(out_shape) not in (1, 2) or any(s < 1 for s in out_shape):
            raise ValueError(f"out_shape must be (d,) or (d, d) with positive sizes, "
                             f"got {out_shape!r}")
        if activation not in SHEAF_ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(SHEAF_ACTIVATIONS)}, "
                             f"got {activation!r}")
        self.in_channels = in_channels
        self.out_shape = tuple(out_shape)
        self.activation = activation
        self._act = sheaf_activation(activation)
        self.linear = torch.nn.Linear(2 * in_channels, math.prod(out_shape), bias=False)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}, out_shape={self.out_shape}"

    def forward(self, x: Tensor, graph: SheafGraph) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (N, {self.in_channels}), got {tuple(x.shape)}")
        # W [x_i || x_j] = W_1 x_i + W_2 x_j: project the nodes once, then gather per entry,
        # instead of materialising the (E, 2F) concatenation.
        w_target, w_source = self.linear.weight.split(self.in_channels, dim=1)
        h_target = x @ w_target.t()
        h_source = x @ w_source.t()
        maps = h_target.index_select(0, graph.row) + h_source.index_select(
            0, graph.adjacency.col.long())
        return self._act(maps).view(-1, *self.out_shape)
