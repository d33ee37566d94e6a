"""Learnt symmetric edge weights of the O(d) (bundle) sheaf."""

from __future__ import annotations

import torch
from torch import Tensor

from .graph import SheafGraph

__all__ = ["EdgeWeightLearner"]


class EdgeWeightLearner(torch.nn.Module):
    r"""A positive weight per edge, symmetric in its two ends (Bodnar et al., NeurIPS 2022,
    §5; the reference code's ``EdgeWeightLearner``, flag ``--edge_weights``):

    .. math::
        s_{ij} = \operatorname{sigmoid}\big(\mathbf{w}^\top [\mathbf{x}_i \,\|\,
        \mathbf{x}_j]\big), \qquad w_{ij} = w_{ji} = s_{ij}\, s_{ji} \in (0, 1).

    The bundle Laplacian scales both restriction maps of edge :math:`\{i, j\}` by
    :math:`w_{ij}` (:class:`BundleLaplacianBuilder`).

    Shapes: ``x`` ``(N, in_channels)`` → ``(E,)`` in the graph's CSR entry order.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.linear = torch.nn.Linear(2 * in_channels, 1, bias=False)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def forward(self, x: Tensor, graph: SheafGraph) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (N, {self.in_channels}), got {tuple(x.shape)}")
        w_target, w_source = self.linear.weight.split(self.in_channels, dim=1)
        scores = (x @ w_target.t()).squeeze(-1).index_select(0, graph.row) + (
            x @ w_source.t()).squeeze(-1).index_select(0, graph.adjacency.col.long())
        half = torch.sigmoid(scores)
        return half * half.index_select(0, graph.reverse)
