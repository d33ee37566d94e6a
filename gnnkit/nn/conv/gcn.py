"""Graph convolution of Kipf & Welling (ICLR 2017)."""

from __future__ import annotations

import torch
from torch import Tensor

from gnnkit.sparse import SparseMatrix
from gnnkit.sparse.structural import block_gcn_norm, gcn_norm_split

from ..inits import glorot, zeros
from .message_passing import (
    GraphCache,
    GraphLike,
    MessagePassing,
    as_sparse_matrix,
    check_features,
    check_node_features,
    num_nodes_of,
    pair,
    project,
)

__all__ = ["GCNConv"]


class GCNConv(MessagePassing):
    r"""Graph convolution (Kipf & Welling, "Semi-Supervised Classification with Graph
    Convolutional Networks", ICLR 2017):

    .. math::
        \mathbf{X}' = \hat{\mathbf{D}}^{-1/2} \hat{\mathbf{A}} \hat{\mathbf{D}}^{-1/2}
        \mathbf{X} \mathbf{\Theta} + \mathbf{b},
        \qquad \hat{\mathbf{A}} = \mathbf{A} + \mathbf{I},\ \hat{D}_{ii} = \sum_j \hat{A}_{ij}

    with edge weights ``A[i, j] = w_ji`` (default 1); ``I`` is added only for nodes without a
    stored self loop (``2I`` with ``improved=True``). The normalisation is
    :func:`gnnkit.sparse.gcn_norm`, in its split form :func:`~gnnkit.sparse.structural.
    gcn_norm_split`: normalised values on the input's own structure plus the added loops as a
    diagonal ``d``, so the layer is one fused :meth:`propagate` — ``spmm(Â, XΘ) + d ⊙ XΘ`` —
    without building a new sparsity structure per call.

    Args:
        in_channels: ``F_in``.
        out_channels: ``F_out``.
        improved: self-loop weight 2 instead of 1.
        cached: compute the normalisation on the first call and reuse it for every later
            call, whatever graph is passed (as PyG; transductive full-graph training).
            :meth:`reset_parameters` clears the cache; ``.to()``/``.double()``/``.half()``
            move and cast it with the weights.
        add_self_loops: add ``I``.
        normalize: apply the symmetric normalisation (otherwise use the weights as given,
            without self loops).
        bias: learn ``b``.

    Shapes:
        ``x`` ``(N, F_in)`` — dense, or sparse as an ``(N, F_in)`` :class:`SparseMatrix`
        (bag-of-words features: ``XΘ`` is then one ``spmm``); graph ``N × N`` (any form
        accepted by :func:`~gnnkit.nn.conv.message_passing.as_sparse_matrix`); ``edge_weight``
        ``(E,)`` → ``(N, F_out)``.

    Parity: equals ``torch_geometric.nn.GCNConv`` (same weights) except for nodes with
    *several* stored self loops: PyG keeps one of them, gnnkit keeps them all (their weights add).

    **Sampled blocks** (:func:`gnnkit.data.sampling.sample_neighbors`). With a pair
    ``x = (x_source (N, F_in), x_target (M, F_in))`` the graph is a rectangular ``M × N``
    matrix whose ``M`` targets are the first ``M`` sources (``x_target = x_source[:M]``).
    GCN there is the rows of the square layer that the block describes:

    .. math::
        \mathbf{x}'_i = \sum_{j} \frac{\hat{A}_{ij}}{\sqrt{\hat{d}_i \hat{d}_j}}
        \mathbf{\Theta}^\top \mathbf{x}_j + \mathbf{b},
        \qquad \hat{A} = A + [\,I_M\ 0\,]

    (loops added for targets without one). ``d̂`` ``(N,)`` is the ``degree`` argument when given
    — pass the full graph's :func:`~gnnkit.sparse.structural.gcn_degree` at the block's nodes
    (``gcn_degree(A)[n_id[:N]]``) and a block holding every in-edge of its targets (fanout
    ``-1``) gives exactly the full-graph output — and otherwise the degree of the block read as
    a square graph on its ``N`` sources whose last ``N - M`` rows are empty: a target's
    (sampled) in-degree plus its loop, and the loop's weight alone (1, or 2 with ``improved``)
    for a source that is not a target. The latter is what PyG's ``GCNConv`` computes on a
    ``NeighborLoader`` subgraph for the nodes of the outermost hop, whose in-edges are not
    sampled. ``cached`` is ignored for blocks (each batch is another graph).
    """

    def __init__(self, in_channels: int, out_channels: int, *, improved: bool = False,
                 cached: bool = False, add_self_loops: bool = True, normalize: bool = True,
                 bias: bool = True) -> None:
        super().__init__("sum")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.improved = improved
        self.cached = cached
        self.add_self_loops = add_self_loops
        self.normalize = normalize
        self.lin = torch.nn.Linear(in_channels, out_channels, bias=False)
        self.bias = torch.nn.Parameter(torch.empty(out_channels)) if bias else None
        self._cache: GraphCache[tuple[SparseMatrix, Tensor | None]] = GraphCache()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform ``Θ``, zero bias, empty normalisation cache."""
        super().reset_parameters()
        glorot(self.lin.weight)
        zeros(self.bias)

    def normalized_matrix(self, A: SparseMatrix | None, dtype: torch.dtype
                          ) -> tuple[SparseMatrix, Tensor | None]:
        """``(Â, d)`` of :func:`~gnnkit.sparse.structural.gcn_norm_split` for ``A`` per this
        layer's options (the cached pair when ``cached=True`` and a previous call filled it;
        ``A`` may then be ``None``)."""
        cached = self._cache.get() if self.cached else None
        if cached is not None:
            return cached
        if A is None:
            raise ValueError("normalized_matrix needs the graph A (nothing is cached yet)")
        if self.normalize:
            result = gcn_norm_split(A, add_self_loops=self.add_self_loops,
                                    fill_value=2.0 if self.improved else 1.0, dtype=dtype)
        else:
            result = (A, None)
        return self._cache.put(result) if self.cached else result

    def forward(self, x: Tensor | SparseMatrix | tuple[Tensor, Tensor], graph: GraphLike,
                edge_weight: Tensor | None = None, *, num_nodes: int | None = None,
                degree: Tensor | None = None) -> Tensor:
        """``x`` ``(N, F_in)`` (dense, or a sparse ``SparseMatrix`` of node features) →
        ``(N, F_out)``; or a sampled block: ``x = (x_source (N, F_in), x_target (M, F_in))``
        with an ``M × N`` graph and optional source ``degree`` ``(N,)`` → ``(M, F_out)``
        (class docstring)."""
        if isinstance(x, (tuple, list)):
            return self._forward_block(x, graph, edge_weight, degree)
        if degree is not None:
            raise ValueError("degree is for a sampled block: pass x as (x_source, x_target)")
        x = check_node_features("x", x, self.in_channels)
        dtype = self.lin.weight.dtype
        A = None
        if not self.cached or self._cache.get() is None:
            n = num_nodes_of(x)
            A = as_sparse_matrix(graph, shape=(n, n), num_nodes=num_nodes,
                                 edge_weight=edge_weight).matrix
            if A.values is not None and A.values.dtype != dtype:
                A = A.with_values(A.values.to(dtype))
        # else: the cached matrix is used whatever graph is passed (as in PyG)
        normalized, diagonal = self.normalized_matrix(A, dtype)
        h = project(self.lin, x)
        out = self.propagate(normalized, h, h, self_weight=diagonal)
        if self.bias is not None:
            out = out + self.bias
        return out

    def _forward_block(self, x: tuple[Tensor, Tensor] | list[Tensor], graph: GraphLike,
                       edge_weight: Tensor | None, degree: Tensor | None) -> Tensor:
        x_source, x_target = pair(tuple(x))  # type: ignore[arg-type]
        x_source = check_features("x (source)", x_source, self.in_channels)
        if x_target is None:
            raise ValueError("GCNConv on a block needs x_target (the first M rows of x_source)")
        x_target = check_features("x (target)", x_target, self.in_channels)
        dtype = self.lin.weight.dtype
        A = as_sparse_matrix(graph, shape=(x_target.shape[0], x_source.shape[0]),
                             edge_weight=edge_weight).matrix
        if A.values is not None and A.values.dtype != dtype:
            A = A.with_values(A.values.to(dtype))
        if self.normalize:
            normalized, diagonal = block_gcn_norm(
                A, degree, add_self_loops=self.add_self_loops,
                fill_value=2.0 if self.improved else 1.0, dtype=dtype)
        else:
            if degree is not None:
                raise ValueError("degree is only used with normalize=True")
            normalized, diagonal = A, None
        out = self.propagate(normalized, self.lin(x_source), self.lin(x_target),
                             self_weight=diagonal)
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, improved={self.improved}, "
                f"cached={self.cached}, normalize={self.normalize}")
