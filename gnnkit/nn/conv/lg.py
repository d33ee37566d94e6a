"""LightGCN's light graph convolution (He et al., SIGIR 2020), on a square graph or on the
rectangular user–item matrix of a bipartite graph."""

from __future__ import annotations

from typing import overload

import torch
from torch import Tensor

from gnnkit.sparse import SparseMatrix, gcn_norm, sym_normalize

from .message_passing import (
    GraphCache,
    GraphLike,
    MessagePassing,
    as_sparse_matrix,
    check_features,
)

__all__ = ["LGConv"]


class LGConv(MessagePassing):
    r"""Light graph convolution (He et al., "LightGCN: Simplifying and Powering Graph
    Convolution Network for Recommendation", SIGIR 2020), no weights, no nonlinearity:

    .. math::
        \mathbf{x}'_i = \sum_{j \in \mathcal{N}(i)}
        \frac{w_{ji}}{\sqrt{\deg(i)}\sqrt{\deg(j)}} \mathbf{x}_j

    with ``deg`` the weighted in-degree (row sum of ``A``; no self loops added), as PyG's
    ``LGConv``. ``normalize=False`` uses the weights as given. One fused :meth:`propagate`
    (one ``spmm``) per call; the normalisation (:func:`gnnkit.sparse.gcn_norm` without
    loops) only rescales values (traceable by ``torch.compile``).

    **Bipartite form.** Called with a pair ``(x_users, x_items)`` and the ``U × I`` user–item
    matrix ``R`` (row = user, column = item; any graph form of
    :func:`~gnnkit.nn.conv.message_passing.as_sparse_matrix` with that shape, most simply
    ``SparseMatrix.from_coo(users, items, shape=(U, I))``), the layer is the same convolution
    on the square block adjacency ``[[0, R], [Rᵀ, 0]]`` of the ``U + I`` nodes, computed as
    two ``spmm`` on the rectangular matrix instead of one on the ``(U+I)²`` adjacency:

    .. math::
        \mathbf{X}'_U = \tilde{R}\,\mathbf{X}_I, \qquad
        \mathbf{X}'_I = \tilde{R}^\top \mathbf{X}_U, \qquad
        \tilde{R} = D_U^{-1/2} R\, D_I^{-1/2}

    with ``D_U``/``D_I`` the row/column sums of ``R`` (a user's and an item's degree in the
    block adjacency; :func:`gnnkit.sparse.sym_normalize`). ``R̃ᵀ`` is ``R̃.transpose()``,
    which reuses the CSC form cached on ``R``'s structure (and that CSC is also what the
    backward pass of ``spmm(R̃, ·)`` needs). When ``R`` carries no values that require a
    gradient, the pair ``(R̃, R̃ᵀ)`` is kept in a :class:`GraphCache` keyed by ``R`` (the
    object), so a model calling the layer ``K`` times per step on the same matrix normalises
    and transposes it once. Rows (users) or columns (items) without entries give zeros.

    Shapes: ``x`` ``(N, F)``, graph ``N × N``, ``edge_weight`` ``(E,)`` → ``(N, F)``;
    bipartite: ``x = (x_users (U, F), x_items (I, F))``, graph ``U × I`` →
    ``(x_users' (U, F), x_items' (I, F))``.

    **Sampled blocks** (:func:`gnnkit.data.sampling.sample_neighbors`). Called with the
    source features ``x`` ``(N, F)`` alone, an ``M × N`` block whose ``M`` targets are its
    first ``M`` sources, and ``degree`` ``(N,)`` — the full graph's weighted in-degrees at
    the block's nodes, ``A.degree(weighted=True)[n_id[:N]]`` — the layer computes the rows
    of the square layer for the targets, ``x'_i = Σ_j w_ji x_j / √(deg_i deg_j)`` →
    ``(M, F)``; with every in-edge of the targets in the block (fanout ``-1``) this is
    exactly the full-graph output. ``degree`` is required with ``normalize=True``: a block
    holds no in-edges of the sources that are not targets, so it cannot supply their degree
    (and with no self loops, reading it as 0 would drop their messages). The pair form
    ``(x_source, x_target)`` of other layers is not used here because a pair already means
    ``(x_users, x_items)`` (above), and the layer has no term that reads ``x_target``.

    Parity: the square form equals PyG's ``LGConv``; the bipartite form equals PyG's
    ``LGConv`` on the block adjacency (both directions of every interaction), split into
    users and items. Duplicate entries of ``R`` count as often as they are stored (weights
    add), as in the block adjacency.
    """

    def __init__(self, normalize: bool = True) -> None:
        super().__init__("sum")
        self.normalize = normalize
        self._bipartite: GraphCache[tuple[SparseMatrix, SparseMatrix]] = GraphCache()

    @overload
    def forward(self, x: Tensor, graph: GraphLike, edge_weight: Tensor | None = ..., *,
                num_nodes: int | None = ...) -> Tensor: ...

    @overload
    def forward(self, x: tuple[Tensor, Tensor], graph: GraphLike,
                edge_weight: Tensor | None = ..., *, num_nodes: int | None = ...
                ) -> tuple[Tensor, Tensor]: ...

    def forward(self, x: Tensor | tuple[Tensor, Tensor], graph: GraphLike,
                edge_weight: Tensor | None = None, *, num_nodes: int | None = None,
                degree: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """``x`` ``(N, F)`` → ``(N, F)``; or ``(x_users, x_items)`` with a ``U × I`` graph →
        ``(x_users', x_items')``; or ``x`` ``(N, F)`` with an ``M × N`` sampled block and
        ``degree`` ``(N,)`` → ``(M, F)`` (class docstring)."""
        if isinstance(x, (tuple, list)):
            if degree is not None:
                raise ValueError("degree is for a sampled block, called with the source "
                                 "features x (N, F) alone, not a pair")
            return self._forward_bipartite(x, graph, edge_weight, num_nodes)
        x = check_features("x", x)
        block = isinstance(graph, SparseMatrix) and graph.num_rows != graph.num_cols
        if degree is not None or (block and not self.normalize):
            return self._forward_block(x, graph, edge_weight, degree)
        if block:
            raise ValueError(f"a rectangular graph {tuple(graph.shape)} is a sampled block: "
                             "pass degree= (N,), the full graph's in-degrees at the block's "
                             "nodes (class docstring)")
        A = as_sparse_matrix(graph, shape=(x.shape[0], x.shape[0]), num_nodes=num_nodes,
                             edge_weight=edge_weight).matrix
        if A.values is not None and A.values.dtype != x.dtype:
            A = A.with_values(A.values.to(x.dtype))
        if self.normalize:
            A = gcn_norm(A, add_self_loops=False, dtype=x.dtype)
        return self.propagate(A, x)

    def _forward_block(self, x: Tensor, graph: GraphLike, edge_weight: Tensor | None,
                       degree: Tensor | None) -> Tensor:
        A = as_sparse_matrix(graph, edge_weight=edge_weight).matrix
        M, N = A.shape
        if x.shape[0] != N or M > N:
            raise ValueError(f"a sampled block must be M × N with M <= N targets first and "
                             f"N = x.shape[0] = {x.shape[0]} sources, got shape {A.shape}")
        weights = (A.values.to(x.dtype) if A.values is not None
                   else torch.ones(A.nnz, dtype=x.dtype, device=x.device))
        if self.normalize:
            if not isinstance(degree, Tensor) or degree.shape != (N,):
                raise ValueError(f"degree must be a tensor of shape (num_sources,) = ({N},), "
                                 f"got {getattr(degree, 'shape', type(degree).__name__)}")
            scale = degree.to(x.dtype).pow(-0.5).masked_fill(degree == 0, 0.0)
            weights = scale[A.row.long()] * weights * scale[A.col.long()]
        return self.propagate(A.with_values(weights), x)

    def bipartite_matrices(self, R: SparseMatrix, dtype: torch.dtype
                           ) -> tuple[SparseMatrix, SparseMatrix]:
        """``(R̃, R̃ᵀ)``: the ``U × I`` operator users ← items and its transpose items ←
        users (normalised unless ``normalize=False``), from the cache when ``R`` is the
        matrix of the previous call."""
        cacheable = R.values is None or not R.values.requires_grad
        if cacheable:
            cached = self._bipartite.get(R)
            if cached is not None and cached[0].dtype in (None, dtype):
                return cached
        matrix = R
        if matrix.values is not None and matrix.values.dtype != dtype:
            matrix = matrix.with_values(matrix.values.to(dtype))
        if self.normalize:
            matrix = sym_normalize(matrix, dtype=dtype)
        pair = (matrix, matrix.transpose())
        # a cached pair must not hold a graph that a later backward pass would free
        return self._bipartite.put(pair, R) if cacheable else pair

    def _forward_bipartite(self, x: tuple[Tensor, Tensor] | list[Tensor], graph: GraphLike,
                           edge_weight: Tensor | None, num_nodes: int | None
                           ) -> tuple[Tensor, Tensor]:
        if len(x) != 2:
            raise TypeError(f"x must be a Tensor or a pair (x_users, x_items), got a "
                            f"{type(x).__name__} of length {len(x)}")
        if num_nodes is not None:
            raise ValueError("num_nodes is for a square graph; with (x_users, x_items) the "
                             "graph's shape is (num_users, num_items), read from x")
        x_users = check_features("x[0] (x_users)", x[0])
        x_items = check_features("x[1] (x_items)", x[1], x_users.shape[1])
        if x_items.dtype != x_users.dtype or x_items.device != x_users.device:
            raise TypeError(f"x_users ({x_users.dtype}, {x_users.device}) and x_items "
                            f"({x_items.dtype}, {x_items.device}) must share dtype and device")
        R = as_sparse_matrix(graph, shape=(x_users.shape[0], x_items.shape[0]),
                             edge_weight=edge_weight).matrix
        forward_op, backward_op = self.bipartite_matrices(R, x_users.dtype)
        return self.propagate(forward_op, x_items), self.propagate(backward_op, x_users)

    def reset_parameters(self) -> None:
        """No parameters; drops the cached bipartite operators."""
        super().reset_parameters()

    def extra_repr(self) -> str:
        return f"normalize={self.normalize}"
