"""Veličković et al.'s two-layer GAT for node classification."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.nn import GATConv, GraphLike
from gnnkit.sparse import SparseMatrix

from ._dropout import feature_dropout

__all__ = ["GAT"]


class GAT(torch.nn.Module):
    r"""Two :class:`~gnnkit.nn.GATConv` layers (Veličković et al., ICLR 2018, §3.3):

    .. math::
        Z = \mathrm{GAT}_{K_2}\big(\mathrm{dropout}(\mathrm{ELU}(
        \mathrm{GAT}_{K_1}(\mathrm{dropout}(X))))\big)

    The hidden layer concatenates ``heads`` heads of ``hidden_channels`` features; the output
    layer averages ``output_heads`` heads of ``out_channels`` logits. Dropout ``dropout`` on
    both layers' inputs and ``attention_dropout`` on the attention coefficients, as in the paper
    (0.6 and 0.6; Cora: 8 × 8 hidden, 1 output head).

    ``projection_dropout`` (default 0: the paper's text) adds the reference code's third
    dropout (PetarV-/GAT ``attn_head``, where it equals the input dropout, 0.6) on every head's
    projected features ``W^h x_j`` before aggregation, in both layers; see
    :class:`~gnnkit.nn.GATConv`.

    Args:
        in_channels: feature width ``F``.
        hidden_channels: features per hidden head.
        out_channels: number of classes.
        heads: hidden heads ``K_1``.
        output_heads: output heads ``K_2`` (averaged).
        dropout: dropout on layer inputs.
        attention_dropout: dropout on attention coefficients.
        projection_dropout: dropout on each head's projected source features before they
            are aggregated (both layers; the reference code uses ``dropout`` here).
        add_self_loops: let every node attend to itself (the paper does).

    Shapes: ``x`` ``(N, F)`` dense or a sparse ``SparseMatrix``, graph ``N × N`` → ``(N, C)``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 heads: int = 8, output_heads: int = 1, dropout: float = 0.6,
                 attention_dropout: float = 0.6, add_self_loops: bool = True,
                 projection_dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = GATConv(in_channels, hidden_channels, heads, dropout=attention_dropout,
                             add_self_loops=add_self_loops,
                             projection_dropout=projection_dropout)
        self.conv2 = GATConv(hidden_channels * heads, out_channels, output_heads, concat=False,
                             dropout=attention_dropout, add_self_loops=add_self_loops,
                             projection_dropout=projection_dropout)
        self.dropout = dropout

    def reset_parameters(self) -> None:
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def first_layer_parameters(self) -> Iterator[torch.nn.Parameter]:
        return self.conv1.parameters()

    def forward(self, x: Tensor | SparseMatrix, graph: GraphLike) -> Tensor:
        x = F.elu(self.conv1(feature_dropout(x, self.dropout, self.training), graph))
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, graph)
