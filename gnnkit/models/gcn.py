"""Kipf & Welling's two-layer GCN for node classification."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.nn import GCNConv, GraphLike
from gnnkit.sparse import SparseMatrix
from gnnkit.sparse.structural import gcn_degree

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

    **Layer by layer.** :attr:`num_layers`, :meth:`forward_layer` (one layer on a block whose
    targets come first, normalised with the full graph's degrees) and :meth:`block_degree`
    let :func:`gnnkit.train.inference.layerwise_inference` compute ``model(x, A)`` one layer
    at a time over batches of nodes. The model itself trains full-graph (``forward`` takes no
    list of sampled blocks).
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

    @property
    def num_layers(self) -> int:
        """The number of graph convolutions."""
        return len(self.convs)

    def block_degree(self, A: SparseMatrix) -> Tensor:
        """``(N,)`` GCN degree ``d̂`` of the full graph ``A``
        (:func:`~gnnkit.sparse.structural.gcn_degree`, with the layers' self-loop options, in
        the weights' dtype): gathered at a block's sources it is the ``degree`` that makes
        :meth:`forward_layer` on the block equal to the full-graph layer."""
        conv = self.convs[0]
        dtype = conv.lin.weight.dtype
        if A.values is not None and A.values.dtype != dtype:  # as the full-graph layer does
            A = A.with_values(A.values.to(dtype))
        return gcn_degree(A, add_self_loops=conv.add_self_loops,
                          fill_value=2.0 if conv.improved else 1.0, dtype=dtype)

    def forward_layer(self, k: int, x: Tensor, block: SparseMatrix, *,
                      degree: Tensor | None = None) -> Tensor:
        """Layer ``k`` (0-based) on one block: dropout on ``x``, the convolution on
        ``(x, x[:M])`` with source degrees ``degree``, then ReLU unless ``k`` is the last
        layer.

        Args:
            k: the layer, ``0 <= k < num_layers``.
            x: ``(N_b, F_k)`` dense features of the block's sources, its ``M`` targets first.
            block: ``M × N_b``, row = target, column = source.
            degree: ``(N_b,)`` full-graph :meth:`block_degree` at the sources (exact
                full-graph normalisation); ``None`` normalises by the block's own degrees
                (:class:`~gnnkit.nn.GCNConv`'s "sampled blocks").

        Returns:
            ``(M, F_{k+1})``.
        """
        x = F.dropout(x, self.dropout, self.training)
        x = self.convs[k]((x, x[: block.num_rows]), block, degree=degree)
        return F.relu(x) if k < len(self.convs) - 1 else x

    def forward(self, x: Tensor | SparseMatrix, graph: GraphLike) -> Tensor:
        for k, conv in enumerate(self.convs):
            x = feature_dropout(x, self.dropout, self.training)
            x = conv(x, graph)
            if k < len(self.convs) - 1:
                x = F.relu(x)
        return x
