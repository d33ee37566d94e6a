"""Graph attention layer of Veličković et al. (ICLR 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.sparse import SparseMatrix, edge_softmax, sddmm

from ..inits import glorot, zeros
from .message_passing import (
    GraphLike,
    MessagePassing,
    SelfLoopCache,
    as_sparse_matrix,
    check_node_features,
    num_nodes_of,
    pair,
)
from .message_passing import project as project_features

__all__ = ["AttentionOutput", "GATConv"]

#: What an attention layer returns: the features ``(N_t, ·)``; with ``return_attention=True``
#: also the attention matrix (values ``(E', H)``); with PyG's
#: ``return_attention_weights=True`` also ``(edge_index (2, E'), alpha (E', H))`` — or
#: ``(matrix, alpha)`` when the graph was not given as an ``edge_index``.
AttentionOutput: TypeAlias = (Tensor | tuple[Tensor, SparseMatrix]
                              | tuple[Tensor, tuple[Tensor | SparseMatrix, Tensor]])


def _is_edge_index_input(graph: GraphLike) -> bool:
    """Whether the user passed edges as an ``edge_index`` (directly, as an ``EdgeIndex`` or in
    a ``Data``), i.e. PyG would return the attention as ``(edge_index, alpha)``."""
    if isinstance(graph, Tensor):
        return graph.layout == torch.strided
    if isinstance(graph, SparseMatrix) or type(graph).__name__ == "SparseTensor":
        return False
    return getattr(graph, "adj_t", None) is None and getattr(graph, "edge_index", None) is not None


def attention_output(out: Tensor, attention: SparseMatrix, graph: GraphLike,
                     return_attention: bool, return_attention_weights: bool | None
                     ) -> AttentionOutput:
    """Shape the result of an attention layer for either spelling of the request.

    PyG's ``return_attention_weights=True`` gives ``(out, (edge_index, alpha))`` for an
    ``edge_index`` input — edges in the attention matrix's CSR order (by target, then source;
    PyG lists the input edges first and the added loops last) — and ``(out, (A, alpha))``
    with ``A`` the attention :class:`SparseMatrix` otherwise. gnnkit's
    ``return_attention=True`` gives ``(out, A)``.
    """
    if return_attention_weights and return_attention:
        raise ValueError("pass either return_attention (gnnkit: returns the attention matrix) "
                         "or return_attention_weights (PyG: returns (edge_index, alpha)), "
                         "not both")
    if return_attention_weights:
        assert attention.values is not None
        if _is_edge_index_input(graph):
            edge_index = torch.stack([attention.col, attention.row])  # PyG: (source; target)
            return out, (edge_index, attention.values)
        return out, (attention, attention.values)
    if return_attention:
        return out, attention
    return out


def attention_graph(graph: GraphLike, shape: tuple[int, int], num_nodes: int | None,
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
    ``b`` is added.

    Written on :class:`~gnnkit.nn.conv.message_passing.MessagePassing`'s attention contract:
    :meth:`edge_weights` is ``sddmm`` (per-edge ``e``, ``(E, H)``) → ``edge_softmax`` →
    dropout, and :meth:`propagate` aggregates with one multi-head ``spmm`` (values ``(E, H)``,
    features ``(N, H, C)``); :meth:`update` merges the heads.

    ``projection_dropout = p > 0`` adds the reference implementation's extra dropout
    (PetarV-/GAT, ``utils/layers.py``, ``attn_head``), which the paper's text does not
    mention: in training, :math:`\mathbf{x}'^h_i = \sum_j \alpha^h_{ij}\,(\mathbf{m}^h_j
    \odot \mathbf{W}^h \mathbf{x}_j) / (1 - p)` with one Bernoulli(``1 - p``) mask entry
    per source node, head and channel of the ``(N_s, H, C)`` projected features (shared by
    all targets), while ``e^h_{ij}`` is still computed from the unmasked projections, as in
    the reference code. ``p = 0`` (the default) and eval mode are the paper's layer, bit for
    bit.

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
        projection_dropout: dropout probability on every head's projected source features
            ``W^h x_j`` before they are aggregated (training only; the reference code's
            extra dropout, see above). ``0`` follows the paper's text.
        add_self_loops: see above.
        bias: learn ``b``.
        residual: add a linear projection of the target features to the output.

    Shapes:
        ``x`` ``(N, F_in)`` or ``((N_s, F_s), (N_t, F_t))`` → ``(N_t, H·C)`` or ``(N_t, C)``.
        Features may also be sparse ``SparseMatrix`` ``(N, F_in)`` (the projection is then
        one ``spmm``).
        With ``return_attention=True`` also returns the attention pattern as a
        ``SparseMatrix`` with ``(E', H)`` values; with PyG's ``return_attention_weights=True``
        returns ``(out, (edge_index (2, E'), alpha (E', H)))`` (see
        :func:`attention_output`).
    """

    def __init__(self, in_channels: int | tuple[int, int], out_channels: int, heads: int = 1,
                 *, concat: bool = True, negative_slope: float = 0.2, dropout: float = 0.0,
                 add_self_loops: bool = True, bias: bool = True, residual: bool = False,
                 projection_dropout: float = 0.0) -> None:
        super().__init__("sum")
        if heads < 1 or out_channels < 1:
            raise ValueError(f"heads and out_channels must be positive, got {heads}, "
                             f"{out_channels}")
        if not 0.0 <= projection_dropout <= 1.0:
            raise ValueError(f"projection_dropout must be a probability in [0, 1], got "
                             f"{projection_dropout}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.projection_dropout = projection_dropout
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
        """Glorot-uniform weights and attention vectors, zero bias, empty loop cache."""
        super().reset_parameters()
        for lin in (self.lin, self.lin_src, self.lin_dst, self.res):
            if lin is not None:
                glorot(lin.weight)
        glorot(self.att_src)
        glorot(self.att_dst)
        zeros(self.bias)

    def _project(self, x_source: Tensor | SparseMatrix, x_target: Tensor | SparseMatrix | None
                 ) -> tuple[Tensor, Tensor | None]:
        H, C = self.heads, self.out_channels
        if self.lin is not None:
            h_source = project_features(self.lin, x_source).view(-1, H, C)
            if x_target is x_source:
                return h_source, h_source
            return h_source, (None if x_target is None
                              else project_features(self.lin, x_target).view(-1, H, C))
        assert self.lin_src is not None and self.lin_dst is not None
        h_source = project_features(self.lin_src, x_source).view(-1, H, C)
        return h_source, (None if x_target is None
                          else project_features(self.lin_dst, x_target).view(-1, H, C))

    def edge_weights(self, A: SparseMatrix, x_source: Tensor, x_target: Tensor | None,
                     edge_attr: Tensor | None) -> Tensor:
        """Attention ``α`` ``(E, H)`` from projected ``x_source`` ``(N_s, H, C)`` and
        ``x_target`` ``(N_t, H, C)``: the two per-node halves of the score are reduced first,
        so ``sddmm(op="add")`` only adds ``(H,)`` vectors per edge."""
        if x_target is None:
            raise ValueError("GATConv needs target features (x_target is None)")
        score_source = (x_source * self.att_src).sum(-1)  # (N_s, H)
        score_target = (x_target * self.att_dst).sum(-1)  # (N_t, H)
        scores = F.leaky_relu(sddmm(A, score_target, score_source, "add"), self.negative_slope)
        return F.dropout(edge_softmax(A, scores), p=self.dropout, training=self.training)

    def update(self, aggregated: Tensor, x_target: Tensor | None) -> Tensor:
        """``(N_t, H, C)`` → heads concatenated or averaged."""
        return finish_heads(aggregated, self.concat)

    def _attend(self, A: SparseMatrix, h_source: Tensor, h_target: Tensor | None
                ) -> tuple[Tensor, SparseMatrix]:
        """Attention-weighted sum of the projected source features ``(N_s, H, C)`` →
        ``(update((N_t, H, C)), attention matrix with (E, H) values)``."""
        if not (self.training and self.projection_dropout > 0.0):
            # The paper's layer: one propagate (and no RNG draw, so seeded runs of the
            # default configuration are unchanged by the option's existence).
            return self.propagate(A, h_source, h_target, return_weights=True)
        # Reference-code variant. propagate would score and aggregate the same tensor, but the
        # reference code computes the scores (f_1, f_2) from seq_fts *before* dropping it and
        # drops only the copy multiplied by the coefficients — so the two are separate here.
        # Same ops as propagate's fused path otherwise (GATConv keeps the linear message).
        attention = A.with_values(self.edge_weights(A, h_source, h_target, None))
        values = F.dropout(h_source, p=self.projection_dropout, training=True)
        return self.update(self.aggr_module(attention, values), h_target), attention

    def forward(self, x: Tensor | SparseMatrix | tuple[Tensor, Tensor | None], graph: GraphLike,
                *, num_nodes: int | None = None, size: Sequence[int] | None = None,
                return_attention: bool = False,
                return_attention_weights: bool | None = None) -> AttentionOutput:
        """Node features (or a bipartite pair) → attended features (and the attention: see
        :func:`attention_output` for ``return_attention``/``return_attention_weights``)."""
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
        out, attention = self._attend(A, h_source, h_target)
        if self.res is not None and x_target is not None:
            out = out + project_features(self.res, x_target)
        if self.bias is not None:
            out = out + self.bias
        return attention_output(out, attention, graph, return_attention,
                                return_attention_weights)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, heads={self.heads}, "
                f"concat={self.concat}, dropout={self.dropout}"
                + (f", projection_dropout={self.projection_dropout}"
                   if self.projection_dropout else ""))
