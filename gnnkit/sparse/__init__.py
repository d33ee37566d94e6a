"""gnnkit's sparse core: the :class:`SparseMatrix` value and functional ops on it.

Orientation: row = target, column = source, so ``spmm(A, X)`` aggregates source features into
targets; :meth:`SparseMatrix.from_edge_index` takes PyG's ``edge_index`` (row 0 = source).
This package imports nothing from the rest of gnnkit.
"""

from __future__ import annotations

from ._backends import BACKENDS, current_backend, resolve_backend, use_backend
from ._backends.cpu import prepare_backend
from .convert import (
    from_pyg,
    from_scipy,
    from_torch_sparse,
    from_torch_sparse_tensor,
    to_dense,
    to_edge_index,
    to_scipy,
    to_torch_sparse,
    to_torch_sparse_tensor,
)
from .index import (
    expand_ranges,
    index_from_counts,
    index_from_ptr,
    pair_keys,
    ptr_from_counts,
    ptr_from_index,
    split_keys,
)
from .matrix import SparseMatrix
from .ops import (
    REDUCTIONS,
    difference_aggregate,
    difference_rows,
    edge_softmax,
    intersect_aggregate,
    intersect_rows,
    scatter,
    sddmm,
    segment,
    spmm,
    spspmm,
)
from .structural import (
    add_self_loops,
    bipartite_normalize,
    block_diag,
    coalesce,
    edge_entries,
    gcn_norm,
    induced_subgraph,
    k_hop,
    remove_edges,
    remove_self_loops,
    row_normalize,
    select_cols,
    select_rows,
    sym_normalize,
    to_undirected,
    transpose,
)

__all__ = [
    "BACKENDS",
    "REDUCTIONS",
    "SparseMatrix",
    "add_self_loops",
    "bipartite_normalize",
    "block_diag",
    "coalesce",
    "current_backend",
    "difference_aggregate",
    "difference_rows",
    "edge_entries",
    "edge_softmax",
    "expand_ranges",
    "from_pyg",
    "from_scipy",
    "from_torch_sparse",
    "from_torch_sparse_tensor",
    "gcn_norm",
    "index_from_counts",
    "index_from_ptr",
    "induced_subgraph",
    "intersect_aggregate",
    "intersect_rows",
    "k_hop",
    "pair_keys",
    "prepare_backend",
    "ptr_from_counts",
    "ptr_from_index",
    "remove_edges",
    "remove_self_loops",
    "resolve_backend",
    "row_normalize",
    "scatter",
    "sddmm",
    "segment",
    "select_cols",
    "select_rows",
    "split_keys",
    "spmm",
    "spspmm",
    "sym_normalize",
    "to_dense",
    "to_edge_index",
    "to_scipy",
    "to_torch_sparse",
    "to_torch_sparse_tensor",
    "to_undirected",
    "transpose",
    "use_backend",
]
