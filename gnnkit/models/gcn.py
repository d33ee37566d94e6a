"""Kipf & Welling's two-layer GCN for node classification."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.nn import GCNConv, GraphLike
from gnnkit.sparse import SparseMatrix

from ._dropout import feature_dropout

__all__ = ["GCN"]


class GCN(torch.nn.Module):
    r"""Stack of :class:`~gnnkit.nn.GCNConv` layers (Kipf & Welling, ICLR 2017, eq. 9):

    .. math::
        Z = \hat{A}\, \mathrm{ReLU}(\hat{A}\, \mathrm{dropout}(X) W^{(0)})\, W^{(1)}

    with dropout on the input of every layer, ReLU between layers and logits out (the loss
    applies the softmax). ``num_layers=2`` is the paper's model.

    Args:
        in_channels: feature width ``F``.
        hidden_channels: hidden width (16 in the paper).
        out_channels: number of classes.
        num_layers: number of graph convolutions (≥ 1).
        dropout: dropout probability (0.5 in the paper).
        bias: layer biases (the paper's reference code has none).
        cached: cache the normalised adjacency in every layer (transductive training).

    Shapes: ``x`` ``(N, F)`` dense or a sparse ``SparseMatrix`` (dropout then only touches the
    stored entries), graph ``N × N`` (any form the layers accept) → ``(N, C)``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 num_layers: int = 2, dropout: float = 0.5, bias: bool = True,
                 cached: bool = False) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(
            GCNConv(a, b, bias=bias, cached=cached) for a, b in pairwise(widths)
        )
        self.dropout = dropout

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def first_layer_parameters(self) -> Iterator[torch.nn.Parameter]:
        """Parameters of the first layer (Kipf & Welling apply weight decay to these only)."""
        return self.convs[0].parameters()

    def forward(self, x: Tensor | SparseMatrix, graph: GraphLike) -> Tensor:
        for k, conv in enumerate(self.convs):
            x = feature_dropout(x, self.dropout, self.training)
            x = conv(x, graph)
            if k < len(self.convs) - 1:
                x = F.relu(x)
        return x
