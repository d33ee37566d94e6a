"""GATv2: the dynamic graph attention of Brody, Alon & Yahav (ICLR 2022)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.sparse import SparseMatrix, edge_softmax, sddmm

from ..inits import glorot, zeros
from .gat import AttentionOutput, attention_graph, attention_output, finish_heads
from .message_passing import (
    GraphLike,
    MessagePassing,
    SelfLoopCache,
    check_features,
    node_counts,
    pair,
)

__all__ = ["GATv2Conv"]


class GATv2Conv(MessagePassing):
    r"""Dynamic graph attention (Brody et al., "How Attentive are Graph Attention Networks?",
    ICLR 2022), per head:

    .. math::
        e_{ij} = \mathbf{a}^\top \mathrm{LeakyReLU}\big(\mathbf{W}_r \mathbf{x}_i
        + \mathbf{W}_l \mathbf{x}_j\big),\quad
        \alpha_{ij} = \mathrm{softmax}_{j \in \mathcal{N}(i) \cup \{i\}}(e_{ij}),\quad
        \mathbf{x}'_i = \sum_j \alpha_{ij} \mathbf{W}_l \mathbf{x}_j

    (``W_l``, ``W_r`` with biases, as in PyG.) The nonlinearity sits inside the score, so the
    per-edge ``(E, H, C)`` sum ``W_r x_i + W_l x_j`` is formed with ``sddmm(op="add")`` in
    :meth:`edge_weights`, followed by ``edge_softmax``; :meth:`propagate` aggregates with one
    multi-head ``spmm`` (the attention contract of
    :class:`~gnnkit.nn.conv.message_passing.MessagePassing`). Self loops, dropout, heads and
    ``torch.compile`` as in :class:`~gnnkit.nn.conv.gat.GATConv`.

    Args:
        in_channels: ``F_in`` or ``(F_source, F_target)``.
        out_channels: ``C`` per head.
        heads: ``H``.
        concat: concatenate heads (else average).
        negative_slope: LeakyReLU slope.
        dropout: attention dropout probability.
        add_self_loops: remove stored loops and add one per node.
        bias: biases of ``W_l``, ``W_r`` and the output bias ``b``.
        share_weights: ``W_r = W_l``.
        residual: add a linear projection of the target features.

    Shapes:
        ``x`` ``(N, F_in)`` or ``((N_s, F_s), (N_t, F_t))`` → ``(N_t, H·C)`` or ``(N_t, C)``;
        ``return_attention``/``return_attention_weights`` as in
        :class:`~gnnkit.nn.conv.gat.GATConv`.
    """

    def __init__(self, in_channels: int | tuple[int, int], out_channels: int, heads: int = 1,
                 *, concat: bool = True, negative_slope: float = 0.2, dropout: float = 0.0,
                 add_self_loops: bool = True, bias: bool = True, share_weights: bool = False,
                 residual: bool = False) -> None:
        super().__init__("sum")
        if heads < 1 or out_channels < 1:
            raise ValueError(f"heads and out_channels must be positive, got {heads}, "
                             f"{out_channels}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.add_self_loops = add_self_loops
        self.share_weights = share_weights
        self.residual = residual
        self.source_channels, self.target_channels = (
            (in_channels, in_channels) if isinstance(in_channels, int) else in_channels
        )
        width = heads * out_channels
        self.lin_l = torch.nn.Linear(self.source_channels, width, bias=bias)
        self.lin_r = (self.lin_l if share_weights
                      else torch.nn.Linear(self.target_channels, width, bias=bias))
        self.att = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        total = width if concat else out_channels
        self.res = (torch.nn.Linear(self.target_channels, total, bias=False)
                    if residual else None)
        self.bias = torch.nn.Parameter(torch.empty(total)) if bias else None
        self._loops = SelfLoopCache()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights and attention vector, zero biases, empty loop cache."""
        super().reset_parameters()
        for lin in (self.lin_l, self.lin_r, self.res):
            if lin is not None:
                glorot(lin.weight)
                zeros(lin.bias)
        glorot(self.att)
        zeros(self.bias)

    def edge_weights(self, A: SparseMatrix, x_source: Tensor, x_target: Tensor | None,
                     edge_attr: Tensor | None) -> Tensor:
        """Attention ``α`` ``(E, H)`` from ``W_l x`` ``(N_s, H, C)`` and ``W_r x``
        ``(N_t, H, C)``."""
        assert x_target is not None  # forward checks it
        pre = F.leaky_relu(sddmm(A, x_target, x_source, "add"), self.negative_slope)
        scores = (pre * self.att).sum(-1)  # (E, H)
        return F.dropout(edge_softmax(A, scores), p=self.dropout, training=self.training)

    def update(self, aggregated: Tensor, x_target: Tensor | None) -> Tensor:
        """``(N_t, H, C)`` → heads concatenated or averaged."""
        return finish_heads(aggregated, self.concat)

    def forward(self, x: Tensor | tuple[Tensor, Tensor | None], graph: GraphLike, *,
                num_nodes: int | None = None, size: Sequence[int] | None = None,
                return_attention: bool = False,
                return_attention_weights: bool | None = None) -> AttentionOutput:
        """Node features (or a bipartite pair) → attended features (and the attention)."""
        x_source, x_target = pair(x)
        x_source = check_features("x (source)", x_source, self.source_channels)
        if x_target is None:
            raise ValueError("GATv2Conv needs target features (x_target is None)")
        if x_target is not x_source:
            x_target = check_features("x (target)", x_target, self.target_channels)
        H, C = self.heads, self.out_channels
        A = attention_graph(graph, node_counts(x_source, x_target, size), num_nodes,
                            self._loops if self.add_self_loops else None)
        h_source = self.lin_l(x_source).view(-1, H, C)
        if self.share_weights and x_target is x_source:
            h_target = h_source
        else:
            h_target = self.lin_r(x_target).view(-1, H, C)
        out, attention = self.propagate(A, h_source, h_target, return_weights=True)
        if self.res is not None:
            out = out + self.res(x_target)
        if self.bias is not None:
            out = out + self.bias
        return attention_output(out, attention, graph, return_attention,
                                return_attention_weights)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, heads={self.heads}, "
                f"concat={self.concat}, share_weights={self.share_weights}")
