"""Graph convolution of Kipf & Welling (ICLR 2017)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gnnkit.sparse import SparseMatrix, spmm

from .message_passing import (
    MessagePassing,
    as_sparse_matrix,
    check_node_features,
    num_nodes_of,
    project,
)

__all__ = ["GCNConv", "gcn_normalize"]


def gcn_normalize(A: SparseMatrix, *, add_self_loops: bool = True, fill_value: float = 1.0,
                  dtype: torch.dtype = torch.float32) -> tuple[SparseMatrix, Tensor | None]:
    """``D̂^{-1/2} (A + F) D̂^{-1/2}`` split into an off-diagonal-structure part and a diagonal.

    ``F`` is ``fill_value`` on the diagonal of every node *without* a stored self loop (stored
    loops keep their weight, as in PyG's ``add_remaining_self_loops`` and gnnkit's
    :func:`~gnnkit.sparse.gcn_norm`); ``D̂`` is the row (in-)degree of ``A + F``. Returns
    ``(Â, d)`` with ``Â`` the normalised values on ``A``'s own structure and ``d`` ``(N,)`` the
    normalised added loops (``None`` without self loops), so that
    ``norm(A) @ X = spmm(Â, X) + d[:, None] * X``.

    Only values change — no new sparsity structure is built — so this is cheap and traceable
    by ``torch.compile``.
    """
    if A.num_rows != A.num_cols:
        raise ValueError(f"GCN normalisation needs a square matrix, got shape {A.shape}")
    if A.values is not None and A.values.dim() != 1:
        raise ValueError(f"GCN takes scalar (nnz,) edge weights, got {tuple(A.values.shape)}")
    dtype = A.values.dtype if A.values is not None else dtype
    weight = A.values if A.values is not None else torch.ones(A.nnz, dtype=dtype,
                                                              device=A.device)
    row, col = A.row, A.col
    degree = torch.zeros(A.num_rows, dtype=dtype, device=A.device).index_add(0, row, weight)
    loops = None
    if add_self_loops:
        stored_loops = torch.zeros(A.num_rows, dtype=dtype, device=A.device).index_add(
            0, row, (row == col).to(dtype))
        loops = torch.where(stored_loops == 0, fill_value, 0.0).to(dtype)
        degree = degree + loops
    scale = degree.pow(-0.5).masked_fill(degree == 0, 0.0)
    values = scale.index_select(0, row) * weight * scale.index_select(0, col)
    diagonal = None if loops is None else scale * scale * loops
    return A.with_values(values), diagonal


class GCNConv(MessagePassing):
    r"""Graph convolution (Kipf & Welling, "Semi-Supervised Classification with Graph
    Convolutional Networks", ICLR 2017):

    .. math::
        \mathbf{X}' = \hat{\mathbf{D}}^{-1/2} \hat{\mathbf{A}} \hat{\mathbf{D}}^{-1/2}
        \mathbf{X} \mathbf{\Theta} + \mathbf{b},
        \qquad \hat{\mathbf{A}} = \mathbf{A} + \mathbf{I},\ \hat{D}_{ii} = \sum_j \hat{A}_{ij}

    with edge weights ``A[i, j] = w_ji`` (default 1); ``I`` is added only for nodes without a
    stored self loop (``2I`` with ``improved=True``). The product is computed as
    ``spmm(Â, XΘ) + d ⊙ XΘ`` on the input's own sparsity structure (see
    :func:`gcn_normalize`), i.e. the fused path.

    Args:
        in_channels: ``F_in``.
        out_channels: ``F_out``.
        improved: self-loop weight 2 instead of 1.
        cached: compute the normalisation on the first call and reuse it (transductive
            full-graph training); :meth:`reset_parameters` clears the cache.
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
        self._cache: tuple[SparseMatrix, Tensor | None] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform ``Θ``, zero bias, empty normalisation cache."""
        torch.nn.init.xavier_uniform_(self.lin.weight)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)
        self._cache = None

    def normalized_matrix(self, A: SparseMatrix, dtype: torch.dtype
                          ) -> tuple[SparseMatrix, Tensor | None]:
        """``(Â, d)`` for ``A`` per this layer's options (cached if ``cached=True``)."""
        if self._cache is not None:
            return self._cache
        if self.normalize:
            result = gcn_normalize(A, add_self_loops=self.add_self_loops,
                                   fill_value=2.0 if self.improved else 1.0, dtype=dtype)
        else:
            result = (A, None)
        if self.cached:
            self._cache = result
        return result

    def forward(self, x: Tensor | SparseMatrix, graph: Any, edge_weight: Tensor | None = None,
                *, num_nodes: int | None = None) -> Tensor:
        """``x`` ``(N, F_in)`` (dense, or a sparse ``SparseMatrix`` of node features) →
        ``(N, F_out)``; ``graph`` as in the class docstring."""
        x = check_node_features("x", x, self.in_channels)
        dtype = self.lin.weight.dtype
        if self._cache is None:
            n = num_nodes_of(x)
            A = as_sparse_matrix(graph, shape=(n, n), num_nodes=num_nodes,
                                 edge_weight=edge_weight).matrix
            if A.values is not None and A.values.dtype != dtype:
                A = A.with_values(A.values.to(dtype))
        else:
            A = None  # the cached matrix is used whatever graph is passed (as in PyG)
        normalized, diagonal = self.normalized_matrix(A, dtype)  # type: ignore[arg-type]
        h = project(self.lin, x)
        out = spmm(normalized, h)
        if diagonal is not None:
            out = out + diagonal.unsqueeze(-1) * h
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, improved={self.improved}, "
                f"cached={self.cached}, normalize={self.normalize}")
