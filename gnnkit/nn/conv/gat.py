"""Graph attention layer of Veličković et al. (ICLR 2018)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.sparse import SparseMatrix, edge_softmax, sddmm, spmm

from .message_passing import (
    MessagePassing,
    SelfLoopCache,
    as_sparse_matrix,
    check_node_features,
    num_nodes_of,
    pair,
    project,
)

__all__ = ["GATConv", "glorot_"]


def glorot_(tensor: Tensor) -> Tensor:
    """Glorot-uniform over the last two dimensions (PyG's ``glorot`` for ``(1, H, C)``)."""
    bound = math.sqrt(6.0 / (tensor.shape[-2] + tensor.shape[-1]))
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)


def attention_graph(graph: Any, shape: tuple[int, int], num_nodes: int | None,
                    loops: SelfLoopCache | None) -> SparseMatrix:
    """The attention pattern: the input's structure, with stored loops replaced by one loop
    per node when ``loops`` (the layer's cache of that rebuild) is given."""
    A = as_sparse_matrix(graph, shape=shape, num_nodes=num_nodes).matrix
    return loops(A) if loops is not None else A.with_values(None)


def finish_heads(out: Tensor, concat: bool) -> Tensor:
    """``(N, H, C)`` → ``(N, H·C)`` (concatenate) or ``(N, C)`` (average over heads)."""
    return out.reshape(out.shape[0], -1) if concat else out.mean(dim=1)


class GATConv(MessagePassing):
    r"""Graph attention (Veličković et al., "Graph Attention Networks", ICLR 2018), per head
    ``h = 1 … H``:

    .. math::
        e^h_{ij} = \mathrm{LeakyReLU}\big(\mathbf{a}^{h\top}_{dst} \mathbf{W}^h \mathbf{x}_i
        + \mathbf{a}^{h\top}_{src} \mathbf{W}^h \mathbf{x}_j\big),\quad
        \alpha^h_{ij} = \mathrm{softmax}_{j \in \mathcal{N}(i) \cup \{i\}}(e^h_{ij}),\quad
        \mathbf{x}'^h_i = \sum_{j} \alpha^h_{ij} \mathbf{W}^h \mathbf{x}_j

    Heads are concatenated (``concat=True``, output ``H·C``) or averaged (output ``C``), then
    ``b`` is added. Computed as ``sddmm`` (per-edge ``e``, ``(E, H)``) → ``edge_softmax`` →
    dropout → one multi-head ``spmm`` with values ``(E, H)`` and features ``(N, H, C)``.

    Self loops as PyG: existing ones are removed and one loop per node is added
    (``add_self_loops=True``). The rebuilt pattern is kept while the same ``SparseMatrix`` is
    passed again (see :class:`~gnnkit.nn.conv.message_passing.SelfLoopCache`); an
    ``edge_index`` input is rebuilt on every call. Rebuilding is what ``torch.compile`` cannot
    trace: under compile pass ``add_self_loops=False`` and a matrix prepared with
    :func:`~gnnkit.nn.conv.message_passing.with_self_loops` outside the compiled region.
    Edge weights are ignored (attention replaces them).

    Args:
        in_channels: ``F_in`` or ``(F_source, F_target)`` (separate source/target projections).
        out_channels: ``C`` per head.
        heads: ``H``.
        concat: concatenate heads (else average).
        negative_slope: LeakyReLU slope.
        dropout: dropout probability on the attention coefficients (training only).
        add_self_loops: see above.
        bias: learn ``b``.
        residual: add a linear projection of the target features to the output.

    Shapes:
        ``x`` ``(N, F_in)`` or ``((N_s, F_s), (N_t, F_t))`` → ``(N_t, H·C)`` or ``(N_t, C)``.
        Features may also be sparse ``SparseMatrix`` ``(N, F_in)`` (the projection is then
        one ``spmm``).
        With ``return_attention=True`` also returns the attention pattern as a
        ``SparseMatrix`` with ``(E', H)`` values.
    """

    def __init__(self, in_channels: int | tuple[int, int], out_channels: int, heads: int = 1,
                 *, concat: bool = True, negative_slope: float = 0.2, dropout: float = 0.0,
                 add_self_loops: bool = True, bias: bool = True, residual: bool = False) -> None:
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
        self.residual = residual
        width = heads * out_channels
        if isinstance(in_channels, int):
            self.source_channels = self.target_channels = in_channels
            self.lin: torch.nn.Linear | None = torch.nn.Linear(in_channels, width, bias=False)
            self.lin_src = self.lin_dst = None
        else:
            self.source_channels, self.target_channels = in_channels
            self.lin = None
            self.lin_src = torch.nn.Linear(in_channels[0], width, bias=False)
            self.lin_dst = torch.nn.Linear(in_channels[1], width, bias=False)
        self.att_src = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        total = width if concat else out_channels
        self.res = (torch.nn.Linear(self.target_channels, total, bias=False)
                    if residual else None)
        self.bias = torch.nn.Parameter(torch.empty(total)) if bias else None
        self._loops = SelfLoopCache()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights and attention vectors, zero bias."""
        for lin in (self.lin, self.lin_src, self.lin_dst, self.res):
            if lin is not None:
                torch.nn.init.xavier_uniform_(lin.weight)
        glorot_(self.att_src)
        glorot_(self.att_dst)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def _project(self, x_source: Tensor | SparseMatrix, x_target: Tensor | SparseMatrix | None
                 ) -> tuple[Tensor, Tensor | None]:
        H, C = self.heads, self.out_channels
        if self.lin is not None:
            h_source = project(self.lin, x_source).view(-1, H, C)
            if x_target is x_source:
                return h_source, h_source
            return h_source, (None if x_target is None
                              else project(self.lin, x_target).view(-1, H, C))
        assert self.lin_src is not None and self.lin_dst is not None
        h_source = project(self.lin_src, x_source).view(-1, H, C)
        return h_source, (None if x_target is None
                          else project(self.lin_dst, x_target).view(-1, H, C))

    def forward(self, x: Tensor | SparseMatrix | tuple[Tensor, Tensor | None], graph: Any, *,
                num_nodes: int | None = None, size: Sequence[int] | None = None,
                return_attention: bool = False) -> Tensor | tuple[Tensor, SparseMatrix]:
        """Node features (or a bipartite pair) → attended features (and the attention)."""
        x_source, x_target = (x, x) if isinstance(x, SparseMatrix) else pair(x)
        x_source = check_node_features("x (source)", x_source, self.source_channels)
        if x_target is not None and x_target is not x_source:
            x_target = check_node_features("x (target)", x_target, self.target_channels)
        if size is not None:
            shape = (int(size[1]), int(size[0]))
        else:
            shape = (num_nodes_of(x_source if x_target is None else x_target),
                     num_nodes_of(x_source))
        A = attention_graph(graph, shape, num_nodes,
                            self._loops if self.add_self_loops else None)
        h_source, h_target = self._project(x_source, x_target)
        score_source = (h_source * self.att_src).sum(-1)  # (N_s, H)
        if h_target is None:
            raise ValueError("GATConv needs target features (x_target is None)")
        score_target = (h_target * self.att_dst).sum(-1)  # (N_t, H)
        scores = F.leaky_relu(sddmm(A, score_target, score_source, "add"), self.negative_slope)
        alpha = F.dropout(edge_softmax(A, scores), p=self.dropout, training=self.training)
        attention = A.with_values(alpha)
        out = finish_heads(spmm(attention, h_source), self.concat)
        if self.res is not None and x_target is not None:
            out = out + project(self.res, x_target)
        if self.bias is not None:
            out = out + self.bias
        return (out, attention) if return_attention else out

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, heads={self.heads}, "
                f"concat={self.concat}, dropout={self.dropout}")
