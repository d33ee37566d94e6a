"""Structural helpers: functions from sparse matrices to new sparse matrices.

Each is also available as a method of :class:`SparseMatrix` (``A.coalesce()`` is
``coalesce(A)``). Values are carried through with differentiable torch ops, so gradients flow
from a derived matrix back to the values it was built from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import torch
from torch import Tensor

from ._structure import Structure
from .index import expand_ranges, pair_keys, ptr_from_counts, split_keys
from .matrix import SparseMatrix

__all__ = [
    "add_self_loops",
    "bipartite_normalize",
    "block_diag",
    "block_gcn_norm",
    "coalesce",
    "edge_entries",
    "gcn_degree",
    "gcn_norm",
    "gcn_norm_split",
    "induced_subgraph",
    "k_hop",
    "remove_edges",
    "remove_self_loops",
    "row_normalize",
    "select_cols",
    "select_rows",
    "sym_normalize",
    "to_undirected",
    "transpose",
]


def _coo(A: SparseMatrix) -> tuple[Tensor, Tensor]:
    return A.row, A.col


def _filter(A: SparseMatrix, keep: Tensor) -> SparseMatrix:
    """Entries where ``keep`` is true, same shape, sorted rows. Rows already sorted stay in
    order, so the kept entries need no rebuild and inherit ``A``'s cached structure data
    (:meth:`SparseMatrix.keep_entries`); other rows are sorted by ``from_coo``."""
    if A.structure.sorted_rows:
        return A.keep_entries(keep)
    row, col = _coo(A)
    values = None if A.values is None else A.values[keep]
    return SparseMatrix.from_coo(row[keep], col[keep], values, A.shape)


def _scalar_fill(A: SparseMatrix, count: int, fill_value: float | Tensor) -> Tensor:
    assert A.values is not None
    shape = (count, *A.values.shape[1:])
    fill = torch.as_tensor(fill_value, dtype=A.values.dtype, device=A.device)
    return fill.expand(shape) if fill.dim() == 0 or fill.shape == shape[1:] else fill


def coalesce(A: SparseMatrix, reduce: str = "sum") -> SparseMatrix:
    """Merge duplicate entries; their values are combined by ``reduce`` (sum, mean, max, min).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, coalesce
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0], [1, 1]]), torch.ones(2))
        >>> A.nnz, coalesce(A).nnz, coalesce(A).values.tolist()
        (2, 1, [2.0])
    """
    if A.is_coalesced():
        return A
    row, col = _coo(A)
    key = pair_keys(row, col, A.num_rows, A.num_cols, check=False)  # sorted by construction
    unique_key, inverse = torch.unique_consecutive(key, return_inverse=True)
    new_row, new_col = split_keys(unique_key, A.num_cols, check=False)
    values = None
    if A.values is not None:
        from .ops import scatter

        flat = A.values.reshape(A.nnz, -1)
        merged = scatter(flat, inverse, unique_key.numel(), reduce)
        values = merged.reshape(unique_key.numel(), *A.values.shape[1:])
    out = SparseMatrix.from_coo(
        new_row.to(A.index_dtype), new_col.to(A.index_dtype), values, A.shape
    )
    out.structure._cache["coalesced"] = True
    return out


def transpose(A: SparseMatrix) -> SparseMatrix:
    """``Aᵀ`` (``N × M``), sharing A's cached CSC as its CSR; blocks are transposed too.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, transpose
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1→2, 0→2
        >>> transpose(A).to_dense().tolist()
        [[0.0, 1.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    csc = A.csc()
    values = A.values
    if values is not None:
        values = values.index_select(0, csc.perm)
        if values.dim() == 3:
            values = values.transpose(1, 2)
    return SparseMatrix._from_structure(A.structure.transposed(), values, (A.num_cols, A.num_rows))


def add_self_loops(
    A: SparseMatrix, fill_value: float | Tensor = 1.0, *, only_missing: bool = False
) -> SparseMatrix:
    """Add ``(i, i)`` for every ``i < min(M, N)`` with value ``fill_value``.

    ``only_missing=True`` adds loops only where none is stored (PyG's
    ``add_remaining_self_loops``); otherwise existing loops are kept and a new one is added.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, add_self_loops
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1→2, 0→2
        >>> add_self_loops(A).to_dense().tolist()
        [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    """
    n = min(A.shape)
    loops = torch.arange(n, device=A.device, dtype=A.index_dtype)
    if only_missing:
        row, col = _coo(A)
        has_loop = torch.zeros(n, dtype=torch.bool, device=A.device)
        is_loop = row == col
        has_loop[row[is_loop].long()] = True
        loops = loops[~has_loop]
    row, col = _coo(A)
    new_row = torch.cat([row, loops])
    new_col = torch.cat([col, loops])
    values = None
    if A.values is not None:
        values = torch.cat([A.values, _scalar_fill(A, loops.numel(), fill_value)])
    elif not (isinstance(fill_value, (int, float)) and fill_value == 1.0):
        ones = torch.ones(A.nnz, device=A.device)
        fill = torch.as_tensor(fill_value, dtype=ones.dtype, device=A.device)
        values = torch.cat([ones, fill.expand(loops.numel())])
    return SparseMatrix.from_coo(new_row, new_col, values, A.shape)


# gcn_norm's ``add_self_loops`` argument shadows the function inside it.
_add_self_loops = add_self_loops


def remove_self_loops(A: SparseMatrix) -> SparseMatrix:
    """Drop every diagonal entry.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, remove_self_loops
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [0, 1, 1]]))
        >>> remove_self_loops(A).to_dense().tolist()
        [[0.0, 0.0], [1.0, 0.0]]
    """
    row, col = _coo(A)
    return _filter(A, row != col)


def to_undirected(A: SparseMatrix, reduce: str = "sum") -> SparseMatrix:
    """The coalesced symmetric pattern ``A ∪ Aᵀ``; values of coinciding entries combined.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, to_undirected
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1→2, 0→2
        >>> to_undirected(A).to_dense().tolist()
        [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    if A.num_rows != A.num_cols:
        raise ValueError(f"to_undirected needs a square matrix, got shape {A.shape}")
    if A.values is not None and A.values.dim() == 3:
        raise ValueError("to_undirected does not support block values")
    t = transpose(A)
    row = torch.cat([A.row, t.row])
    col = torch.cat([A.col, t.col])
    values = None if A.values is None else torch.cat([A.values, t.values])  # type: ignore[list-item]
    stacked = SparseMatrix.from_coo(row, col, values, A.shape)
    if values is None:
        return coalesce(stacked)
    return coalesce(stacked, reduce)


def select_rows(A: SparseMatrix, index: Tensor) -> SparseMatrix:
    """Rows ``index`` of ``A`` in that order (repeats allowed): shape ``(len(index), N)``.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, select_rows
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1→2, 0→2
        >>> select_rows(A, torch.tensor([2, 1])).to_dense().tolist()
        [[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    index = _check_selection(index, A.num_rows, "index", A.device)
    counts = A.structure.row_counts()[index]
    starts = A.rowptr.long()[index]
    entry = expand_ranges(starts, counts, check=False)
    rowptr = ptr_from_counts(counts, dtype=A.index_dtype, check=False)
    structure = Structure(rowptr, A.col[entry], A.num_cols, sorted_rows=A.structure.sorted_rows)
    values = None if A.values is None else A.values.index_select(0, entry)
    return SparseMatrix._from_structure(structure, values, (index.numel(), A.num_cols))


def select_cols(A: SparseMatrix, index: Tensor) -> SparseMatrix:
    """Columns ``index`` of ``A`` in that order: shape ``(M, len(index))``.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, select_cols
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1→2, 0→2
        >>> select_cols(A, torch.tensor([0, 1])).to_dense().tolist()
        [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]
    """
    return transpose(select_rows(transpose(A), index))


def _check_selection(index: Tensor, bound: int, name: str, device: torch.device) -> Tensor:
    if not isinstance(index, Tensor) or index.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{name} must be an int32 or int64 torch.Tensor")
    if index.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(index.shape)}")
    if index.device != device:
        raise ValueError(f"{name} is on {index.device} but the matrix is on {device}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= bound):
        raise ValueError(
            f"{name} values must lie in [0, {bound}), found {int(index.min())} … {int(index.max())}"
        )
    return index.long()


def edge_entries(A: SparseMatrix, edge_index: Tensor, *, undirected: bool = False) -> Tensor:
    """``(E,)`` bool: which stored entries of ``A`` are one of the edges ``edge_index``
    ``(2, B)`` (PyG orientation: edge ``(s, t)`` is entry ``A[t, s]``), every stored copy;
    with ``undirected=True`` also the reverse entries ``A[s, t]``.

    When ``A``'s rows are sorted by column (every matrix gnnkit's constructors build), the
    entries' keys ``row · W + col`` follow CSR order, so each edge's copies are one range
    found by binary search: ``O(E + B log E)``, no sort of the ``E`` keys. Otherwise the keys
    are matched with ``isin`` (a sort).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, edge_entries
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1→2, 0→2
        >>> edge_entries(A, torch.tensor([[0], [2]])).tolist()  # entries [1,0], [2,0], [2,1]
        [False, True, False]
    """
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError("edge_index must be a (2, B) integer tensor")
    target = _check_selection(edge_index[1], A.num_rows, "edge_index[1] (targets)", A.device)
    source = _check_selection(edge_index[0], A.num_cols, "edge_index[0] (sources)", A.device)
    width = max(A.num_cols, A.num_rows)  # square keys: the reverse (source, target) fits too
    removed = pair_keys(target, source, width, width, check=False)
    if undirected:
        removed = torch.cat([removed, pair_keys(source, target, width, width, check=False)])
    removed = torch.unique(removed)
    row, col = _coo(A)
    key = pair_keys(row.long(), col.long(), width, width, check=False)
    if not A.structure.sorted_rows:
        return torch.isin(key, removed)
    begin = torch.searchsorted(key, removed)
    count = torch.searchsorted(key, removed, right=True) - begin
    mask = torch.zeros(A.nnz, dtype=torch.bool, device=A.device)
    mask[expand_ranges(begin, count, check=False)] = True
    return mask


def remove_edges(A: SparseMatrix, edge_index: Tensor, *, undirected: bool = False) -> SparseMatrix:
    """Remove every stored copy of the edges ``edge_index`` (2, B) (PyG orientation).

    Edge ``(s, t)`` is entry ``A[t, s]``. With ``undirected=True`` the reverse entry is removed
    too. This is target-link removal: score links without letting them carry messages. The
    entries are found by :func:`edge_entries`; on sorted rows the result keeps ``A``'s
    cached structure data (:meth:`SparseMatrix.keep_entries`), its CSC included.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, remove_edges
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1→2, 0→2
        >>> remove_edges(A, torch.tensor([[0], [2]])).to_dense().tolist()  # drops the edge 0→2
        [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    return _filter(A, ~edge_entries(A, edge_index, undirected=undirected))


def k_hop(A: SparseMatrix, seeds: Tensor, num_hops: int) -> Tensor:
    """Sorted node ids reachable from ``seeds`` within ``num_hops`` steps along rows.

    A step from target ``i`` reaches its sources ``A[i, :]`` (the nodes whose messages
    ``i`` receives), so this is the receptive field of ``num_hops`` layers.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, k_hop
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 2], [1, 2, 3]]))  # 0→1→2→3
        >>> k_hop(A, torch.tensor([3]), 1).tolist(), k_hop(A, torch.tensor([3]), 2).tolist()
        ([2, 3], [1, 2, 3])
    """
    if A.num_rows != A.num_cols:
        raise ValueError(f"k_hop needs a square matrix, got shape {A.shape}")
    if num_hops < 0:
        raise ValueError(f"num_hops must be non-negative, got {num_hops}")
    seeds = _check_selection(seeds, A.num_rows, "seeds", A.device)
    reached = torch.zeros(A.num_rows, dtype=torch.bool, device=A.device)
    reached[seeds] = True
    frontier = seeds
    for _ in range(num_hops):
        neighbours = select_rows(A, frontier).col.long()
        new = neighbours[~reached[neighbours]]
        if new.numel() == 0:
            break
        frontier = torch.unique(new)
        reached[frontier] = True
    return reached.nonzero().flatten()


@overload
def induced_subgraph(
    A: SparseMatrix, nodes: Tensor, *, return_edge_ids: Literal[False] = False
) -> SparseMatrix: ...


@overload
def induced_subgraph(
    A: SparseMatrix, nodes: Tensor, *, return_edge_ids: Literal[True]
) -> tuple[SparseMatrix, Tensor]: ...


@overload
def induced_subgraph(
    A: SparseMatrix, nodes: Tensor, *, return_edge_ids: bool
) -> SparseMatrix | tuple[SparseMatrix, Tensor]: ...


def induced_subgraph(
    A: SparseMatrix, nodes: Tensor, *, return_edge_ids: bool = False
) -> SparseMatrix | tuple[SparseMatrix, Tensor]:
    """The submatrix on ``nodes`` (relabelled ``0 … len(nodes)-1`` in the given order).

    Every entry ``A[t, s]`` with both ``t`` and ``s`` in ``nodes`` becomes the entry
    ``(i, j)`` of the ``n × n`` result, where ``nodes[i] = t`` and ``nodes[j] = s``. Duplicate
    entries of ``A`` are kept (in ``A``'s order within a row), values are carried through
    (gradients flow back to ``A.values``) and the index dtype is ``A``'s.

    Only the rows of ``nodes`` are read: the node ids are sorted once and every column of
    those rows is binary-searched among them, so a call costs ``O(T log n)`` for the ``T``
    stored entries of the ``n`` selected rows, with no ``(N,)`` map and no transpose.

    Args:
        A: a square ``N × N`` matrix (row = target, column = source).
        nodes: ``(n,)`` int64 or int32 distinct node ids in ``[0, N)``, in any order (the
            order defines the local ids).
        return_edge_ids: also return the edge ids of the result's entries.

    Returns:
        the ``n × n`` submatrix, rows sorted by column; with ``return_edge_ids=True`` the
        pair ``(matrix, e_id)`` where ``e_id`` is ``(nnz,)`` int64, the CSR position in ``A``
        of every entry of ``matrix`` in ``matrix``'s CSR order (``matrix.values`` is
        ``A.values[e_id]``; ``edge_attr[e_id]`` gathers per-edge features).

    Raises:
        TypeError: ``A`` not a ``SparseMatrix``; ``nodes`` not an int32/int64 tensor.
        ValueError: a non-square ``A``; ``nodes`` not 1-D, on another device, out of
            ``[0, N)`` or with a repeated id.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, induced_subgraph
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1→2, 0→2
        >>> induced_subgraph(A, torch.tensor([1, 2])).to_dense().tolist()  # keeps the edge 1→2
        [[0.0, 0.0], [1.0, 0.0]]
        >>> sub, e_id = induced_subgraph(A, torch.tensor([2, 1]), return_edge_ids=True)
        >>> sub.to_dense().tolist(), e_id.tolist()  # the edge 1→2 is now 1→0, entry 2 of A
        ([[0.0, 1.0], [0.0, 0.0]], [2])
    """
    if not isinstance(A, SparseMatrix):
        raise TypeError(f"A must be a gnnkit SparseMatrix, got {type(A).__name__}")
    if A.num_rows != A.num_cols:
        raise ValueError(f"induced_subgraph needs a square matrix, got shape {A.shape}")
    nodes = _check_selection(nodes, A.num_rows, "nodes", A.device)
    n, device = nodes.numel(), A.device
    sorted_nodes, perm = torch.sort(nodes)
    if n > 1:
        repeated = sorted_nodes[1:] == sorted_nodes[:-1]
        if bool(repeated.any()):
            first = int(sorted_nodes[1:][repeated][0])
            raise ValueError(
                f"nodes must not contain duplicates: node {first} appears more than once "
                "(pass each node once, e.g. nodes.unique(), which also sorts them)"
            )
    begin = A.rowptr[nodes].long()
    degree = A.rowptr[nodes + 1].long() - begin
    total = int(degree.sum())
    positions = expand_ranges(begin, degree, total=total, check=False)
    owner = torch.repeat_interleave(torch.arange(n, device=device), degree, output_size=total)
    sources = A.col[positions].long()
    # a candidate source is selected iff it is found among the sorted node ids
    slot = torch.searchsorted(sorted_nodes, sources).clamp_(max=max(n - 1, 0))
    hit = sorted_nodes[slot] == sources
    local_row, local_col, e_id = owner[hit], perm[slot[hit]], positions[hit]
    # rows are grouped already (owner is non-decreasing); sort within rows by local column,
    # stably, so duplicate entries keep A's order
    width = max(n, 1)
    order = torch.sort(pair_keys(local_row, local_col, width, width, check=False),
                       stable=True).indices
    local_col, e_id = local_col[order], e_id[order]
    rowptr = ptr_from_counts(torch.bincount(local_row, minlength=n), dtype=A.index_dtype,
                             check=False)
    structure = Structure(rowptr, local_col.to(A.index_dtype), n, sorted_rows=True)
    values = None if A.values is None else A.values.index_select(0, e_id)
    matrix = SparseMatrix._from_structure(structure, values, (n, n))
    return (matrix, e_id) if return_edge_ids else matrix


def block_diag(matrices: Sequence[SparseMatrix]) -> SparseMatrix:
    """Block-diagonal batch of many graphs: matrix ``k`` occupies its own rows and columns.

    All matrices must share device, index dtype and value layout (all ``None`` or all with the
    same trailing value shape and dtype).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, block_diag
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1→2, 0→2
        >>> block_diag([A, SparseMatrix.eye(1)]).to_dense().tolist()
        [[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """
    if len(matrices) == 0:
        raise ValueError("block_diag needs at least one matrix")
    first = matrices[0]
    with_values = first.values is not None
    rows, cols, values = [], [], []
    row_offset = col_offset = 0
    for k, m in enumerate(matrices):
        if not isinstance(m, SparseMatrix):
            raise TypeError(f"matrices[{k}] is not a SparseMatrix")
        if m.device != first.device:
            raise ValueError(f"matrices[{k}] is on {m.device}, matrices[0] on {first.device}")
        if (m.values is not None) != with_values:
            raise ValueError("either all matrices have values or none does")
        rows.append(m.row.long() + row_offset)
        cols.append(m.col.long() + col_offset)
        if m.values is not None:
            values.append(m.values)
        row_offset += m.num_rows
        col_offset += m.num_cols
    index_dtype = first.index_dtype
    return SparseMatrix.from_coo(
        torch.cat(rows).to(index_dtype),
        torch.cat(cols).to(index_dtype),
        torch.cat(values) if with_values else None,
        (row_offset, col_offset),
    )


# ------------------------------------------------------------------ normalisations
def _scalar_values(A: SparseMatrix, dtype: torch.dtype) -> Tensor:
    if A.values is None:
        return torch.ones(A.nnz, dtype=dtype, device=A.device)
    if A.values.dim() != 1:
        raise ValueError("normalisation needs scalar (nnz,) values or none")
    return A.values


def _inverse_power(degree: Tensor, exponent: float) -> Tensor:
    """``degree ** -exponent`` with 0 for zero degree (isolated nodes get no NaN/inf)."""
    out = degree.pow(-exponent)
    return out.masked_fill(degree == 0, 0.0)


def gcn_norm_split(
    A: SparseMatrix,
    *,
    add_self_loops: bool = True,
    fill_value: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> tuple[SparseMatrix, Tensor | None]:
    """:func:`gcn_norm` without building a new pattern: ``(Â, d)`` such that
    ``gcn_norm(A) @ X = spmm(Â, X) + d[:, None] * X``.

    ``Â`` holds ``D̂^{-1/2} A D̂^{-1/2}`` on ``A``'s own structure (its caches, e.g. the CSC
    needed by backward passes, are shared); ``d`` ``(N,)`` is the normalised weight of the
    loops :func:`gcn_norm` would add (``fill_value`` where no loop is stored, 0 elsewhere), or
    ``None`` with ``add_self_loops=False``. Only values are computed, so this is traceable by
    ``torch.compile`` (no data-dependent sizes), unlike :func:`gcn_norm` with self loops.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, gcn_norm, spmm
        >>> from gnnkit.sparse.structural import gcn_norm_split
        >>> U = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]])).to_undirected()
        >>> A_hat, d = gcn_norm_split(U)
        >>> X = torch.eye(3)
        >>> torch.allclose(spmm(A_hat, X) + d[:, None] * X, gcn_norm(U).to_dense())
        True
    """
    if A.num_rows != A.num_cols:
        raise ValueError(f"gcn_norm needs a square matrix, got shape {A.shape}")
    dtype = A.dtype or dtype
    weights = _scalar_values(A, dtype)
    row, col = A.row.long(), A.col.long()
    degree = torch.zeros(A.num_rows, dtype=dtype, device=A.device).index_add(0, row, weights)
    loops = None
    if add_self_loops:
        # A node gets the fill loop only if it stores none (PyG's add_remaining_self_loops).
        stored = torch.zeros(A.num_rows, dtype=dtype, device=A.device).index_add(
            0, row, (row == col).to(dtype)
        )
        loops = torch.where(stored == 0, fill_value, 0.0).to(dtype)
        degree = degree + loops
    scale = _inverse_power(degree, 0.5)
    normalized = A.with_values(scale[row] * weights * scale[col])
    return normalized, None if loops is None else scale * scale * loops


def gcn_norm(
    A: SparseMatrix,
    *,
    add_self_loops: bool = True,
    fill_value: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> SparseMatrix:
    """Kipf & Welling's ``D̂^{-1/2} Â D̂^{-1/2}`` with ``Â = A + I`` and ``D̂`` its row degree.

    Self loops are added only where missing (existing loops keep their weight), as in PyG's
    ``gcn_norm``. The degree is the weighted in-degree of each target (row sums of ``Â``).
    The values come from :func:`gcn_norm_split`; here the added loops become entries.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, gcn_norm
        >>> U = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]])).to_undirected()
        >>> (gcn_norm(U).to_dense() * 3).round().tolist()  # degree 3 with the loop: every entry 1/3
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    normalized, diagonal = gcn_norm_split(
        A, add_self_loops=add_self_loops, fill_value=fill_value, dtype=dtype
    )
    if diagonal is None:
        return normalized
    has_loop = torch.zeros(A.num_rows, dtype=torch.bool, device=A.device)
    is_loop = A.row == A.col
    has_loop[A.row[is_loop].long()] = True
    # add_self_loops(only_missing=True) appends the missing loops in increasing node order.
    return _add_self_loops(normalized, diagonal[~has_loop], only_missing=True)


def row_normalize(A: SparseMatrix, *, dtype: torch.dtype = torch.float32) -> SparseMatrix:
    """``D^{-1} A``: each row's values sum to 1 (empty rows stay empty).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, row_normalize
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1→2, 0→2
        >>> row_normalize(A).to_dense().tolist()  # rows sum to 1 (the empty row stays empty)
        [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]
    """
    dtype = A.dtype or dtype
    weights = _scalar_values(A, dtype)
    degree = torch.zeros(A.num_rows, dtype=dtype, device=A.device).index_add(
        0, A.row.long(), weights
    )
    return A.with_values(weights * _inverse_power(degree, 1.0)[A.row.long()])


def sym_normalize(A: SparseMatrix, *, dtype: torch.dtype = torch.float32) -> SparseMatrix:
    """``D_r^{-1/2} A D_c^{-1/2}`` with row sums ``D_r`` and column sums ``D_c`` (no loops added).

    For a square symmetric ``A`` this is the symmetric normalised adjacency; for a bipartite
    ``M × N`` block it is LightGCN's ``1/√(|N_u| |N_i|)`` weighting.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, sym_normalize
        >>> U = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]])).to_undirected()
        >>> (sym_normalize(U).to_dense() * 2).round().tolist()  # degree 2: entries 1/√(2·2)
        [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    dtype = A.dtype or dtype
    weights = _scalar_values(A, dtype)
    row_sum = torch.zeros(A.num_rows, dtype=dtype, device=A.device).index_add(
        0, A.row.long(), weights
    )
    col_sum = torch.zeros(A.num_cols, dtype=dtype, device=A.device).index_add(
        0, A.col.long(), weights
    )
    return A.with_values(
        _inverse_power(row_sum, 0.5)[A.row.long()]
        * weights
        * _inverse_power(col_sum, 0.5)[A.col.long()]
    )


def bipartite_normalize(
    interactions: Tensor, num_users: int, num_items: int, *, dtype: torch.dtype = torch.float32
) -> SparseMatrix:
    """LightGCN's normalised ``(U+I) × (U+I)`` adjacency from user–item pairs (2, R).

    ``interactions[0]`` are user ids in ``[0, U)``, ``interactions[1]`` item ids in
    ``[0, I)``; items become nodes ``U … U+I-1``. The result is
    ``D^{-1/2} [[0, R], [Rᵀ, 0]] D^{-1/2}`` (He et al., SIGIR 2020, eq. 8). Duplicate
    interactions are merged first.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import bipartite_normalize
        >>> B = bipartite_normalize(torch.tensor([[0, 1], [0, 0]]), num_users=2, num_items=1)
        >>> B.shape  # users 0, 1 then item 0 as node 2
        (3, 3)
        >>> (B.to_dense() ** 2 * 2).round().tolist()  # entries 1/√(1·2)
        [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    if (
        not isinstance(interactions, Tensor)
        or interactions.dim() != 2
        or interactions.shape[0] != 2
    ):
        raise ValueError("interactions must be a (2, R) integer tensor of (user, item) pairs")
    users = _check_selection(
        interactions[0], num_users, "interactions[0] (users)", interactions.device
    )
    items = _check_selection(
        interactions[1], num_items, "interactions[1] (items)", interactions.device
    )
    n = num_users + num_items
    row = torch.cat([users, items + num_users])
    col = torch.cat([items + num_users, users])
    pattern = coalesce(SparseMatrix.from_coo(row, col, None, (n, n)))
    return sym_normalize(pattern, dtype=dtype)


def gcn_degree(A: SparseMatrix, *, add_self_loops: bool = True, fill_value: float = 1.0,
               dtype: torch.dtype = torch.float32) -> Tensor:
    """GCN's degree ``d̂`` ``(N,)`` of a square graph: the weighted in-degree plus the
    ``fill_value`` loop added to nodes that store none (the ``D̂`` of
    :func:`gnnkit.sparse.gcn_norm`). Gathered at a sampled block's nodes it is the
    ``degree`` that makes :class:`~gnnkit.nn.conv.GCNConv` on the block equal to the
    full-graph layer.

    Example:
        A path 0 – 1 – 2: in-degrees 1, 2, 1, plus each node's added loop.

        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix
        >>> from gnnkit.sparse.structural import gcn_degree
        >>> P = SparseMatrix.from_edge_index(torch.tensor([[0, 1], [1, 2]])).to_undirected()
        >>> gcn_degree(P)
        tensor([2., 3., 2.])
    """
    normalized, diagonal = gcn_norm_split(A, add_self_loops=add_self_loops,
                                          fill_value=fill_value, dtype=dtype)
    degree = A.degree("row", weighted=True).to(normalized.values.dtype)
    if diagonal is not None:  # the split's diagonal is fill / d̂ exactly where a loop is added
        degree = degree + torch.where(diagonal > 0, fill_value, 0.0).to(degree.dtype)
    return degree


def _pad_rows(A: SparseMatrix) -> SparseMatrix:
    """The ``M × N`` block as a square ``N × N`` matrix whose last ``N - M`` rows are empty
    (same entries, same CSR order)."""
    M, N = A.shape
    rowptr = torch.cat([A.rowptr, A.rowptr[-1:].expand(N - M)])
    return SparseMatrix(rowptr, A.col, A.values, (N, N), validate=False)


def block_gcn_norm(A: SparseMatrix, degree: Tensor | None, *, add_self_loops: bool,
                   fill_value: float, dtype: torch.dtype) -> tuple[SparseMatrix, Tensor | None]:
    """``(Â, d)`` of :func:`~gnnkit.sparse.structural.gcn_norm_split` for an ``M × N`` block
    whose targets are its first ``M`` sources (:class:`~gnnkit.nn.conv.GCNConv`'s
    "sampled blocks"): ``Â`` on ``A``'s structure, ``d`` ``(M,)`` the added loops'
    normalised weights. With ``degree`` (the sources' full-graph :func:`gcn_degree`) and every
    in-edge of the targets in the block, the block's rows equal the full graph's.

    Example:
        The block of target 1 of the path 0 – 1 – 2 (sources 1, 0, 2, targets first):

        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, gcn_norm
        >>> from gnnkit.sparse.structural import block_gcn_norm, gcn_degree
        >>> P = SparseMatrix.from_edge_index(torch.tensor([[0, 1], [1, 2]])).to_undirected()
        >>> block = SparseMatrix.from_edge_index(torch.tensor([[1, 2], [0, 0]]), shape=(1, 3))
        >>> n_id = torch.tensor([1, 0, 2])
        >>> B, d = block_gcn_norm(block, gcn_degree(P)[n_id], add_self_loops=True,
        ...                       fill_value=1.0, dtype=torch.float32)
        >>> row = torch.zeros(3).index_put_((n_id[B.col],), B.values)
        >>> row[1] = d[0]
        >>> torch.allclose(row, gcn_norm(P).to_dense()[1])
        True
    """
    M, N = A.shape
    if M > N:
        raise ValueError(f"a rectangular GCN graph must have its M targets among its N "
                         f"sources (M <= N, targets first), got shape {A.shape}")
    normalized, diagonal = gcn_norm_split(_pad_rows(A), add_self_loops=add_self_loops,
                                          fill_value=fill_value, dtype=dtype)
    diagonal = None if diagonal is None else diagonal[:M]
    if degree is None:
        return A.with_values(normalized.values), diagonal
    if not isinstance(degree, Tensor) or degree.shape != (N,):
        raise ValueError(f"degree must be a tensor of shape (num_sources,) = ({N},), got "
                         f"{getattr(degree, 'shape', type(degree).__name__)}")
    scale = degree.to(dtype).pow(-0.5).masked_fill(degree == 0, 0.0)
    weights = A.values if A.values is not None else torch.ones(A.nnz, dtype=dtype,
                                                                device=A.device)
    values = scale[A.row.long()] * weights.to(dtype) * scale[A.col.long()]
    if diagonal is not None:
        diagonal = torch.where(diagonal > 0, fill_value, 0.0).to(dtype) * scale[:M] ** 2
    return A.with_values(values), diagonal
