"""Neighbourhood-overlap structural features for a batch of node pairs, exact and sparse.

For a graph stored as a :class:`~gnnkit.sparse.SparseMatrix` ``A`` (row = target, column =
source), the neighbourhood of node ``v`` is ``N(v) = {u : A[v, u] stored}`` — the nodes whose
messages ``v`` receives; for an undirected graph (both directions stored) these are its
neighbours. Values are ignored: every function here works on ``A``'s *pattern* (duplicates
count once). Self loops are used as stored (``v ∈ N(v)`` iff ``A[v, v]`` is stored); call
``A.remove_self_loops()`` first for the textbook definitions.

Pairs are a ``(2, B)`` integer tensor in the orientation of PyG / OGB edge lists transposed:
pair ``k`` is ``(i, j) = (pairs[0, k], pairs[1, k])``.

Every function costs ``O(Σ_k deg(i_k) + deg(j_k))`` time and memory (one row intersection per
pair, :func:`gnnkit.sparse.intersect_rows`), never ``O(B · N)`` or ``O(N²)``:

* :func:`common_neighbors` — ``|N(i) ∩ N(j)|``
* :func:`adamic_adar` — ``Σ_{k ∈ N(i) ∩ N(j)} 1 / log |N(k)|`` (Adamic & Adar, 2003)
* :func:`resource_allocation` — ``Σ_{k ∈ N(i) ∩ N(j)} 1 / |N(k)|`` (Zhou et al., 2009)
* :func:`jaccard` — ``|N(i) ∩ N(j)| / |N(i) ∪ N(j)|`` (0 when the union is empty)

and the node sets themselves, which the neural predictors (NCN, NCNC) pool over:
:func:`common_neighbor_sets`, :func:`exclusive_neighbor_sets`, :func:`two_hop_common_sets`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from gnnkit.sparse import (
    SparseMatrix,
    expand_ranges,
    index_from_ptr,
    intersect_rows,
    pair_keys,
    ptr_from_counts,
    ptr_from_index,
    segment,
    spmm,
    spspmm,
)

__all__ = [
    "HEURISTICS",
    "NeighborSets",
    "adamic_adar",
    "check_pairs",
    "common_neighbor_sets",
    "common_neighbors",
    "exclusive_neighbor_sets",
    "heuristic_scores",
    "jaccard",
    "neighbor_degree",
    "resource_allocation",
    "two_hop_common_sets",
]


_INT32_LIMIT = 2**31 - 1


class NeighborSets(NamedTuple):
    """One set of nodes per pair, in CSR form, optionally weighted.

    Attributes:
        ptr: ``(B + 1,)`` int64; the nodes of pair ``k`` are ``nodes[ptr[k]:ptr[k + 1]]``.
        nodes: ``(S,)`` int64 node ids, increasing within each pair.
        weight: ``(S,)`` float weight of each member, or ``None`` (all ones).
    """

    ptr: Tensor
    nodes: Tensor
    weight: Tensor | None = None

    @property
    def num_pairs(self) -> int:
        return self.ptr.numel() - 1

    def sizes(self) -> Tensor:
        """``(B,)`` int64 number of members of each set."""
        return self.ptr[1:] - self.ptr[:-1]

    def pair_index(self) -> Tensor:
        """``(S,)`` int64: the pair each member belongs to."""
        return index_from_ptr(self.ptr, total=self.nodes.numel(), check=False)

    def total_weight(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """``(B,)`` ``Σ_{u ∈ S_k} w_u`` (the set size when unweighted)."""
        if self.weight is None:
            return self.sizes().to(dtype)
        return segment(self.weight.to(dtype), self.ptr, "sum")

    def as_matrix(self, num_nodes: int, dtype: torch.dtype = torch.float32) -> SparseMatrix:
        """The sets as a ``B × num_nodes`` sparse matrix (row ``k`` = set ``k``, values =
        weights, ``None`` when unweighted)."""
        weight = None if self.weight is None else self.weight.to(dtype)
        ptr, nodes = self.ptr, self.nodes
        if nodes.numel() < _INT32_LIMIT and num_nodes < _INT32_LIMIT:
            # int32 indices where they fit: the same products, and the column sort that the
            # transpose (the backward pass of aggregate) needs is ~1/3 cheaper
            ptr, nodes = ptr.to(torch.int32), nodes.to(torch.int32)
        return SparseMatrix(ptr, nodes, weight, (self.num_pairs, num_nodes), validate=False)

    def aggregate(self, x: Tensor) -> Tensor:
        """``(B, F)`` pooled features ``Σ_{u ∈ S_k} w_u · x[u]`` (differentiable in ``x``
        and in ``weight``); empty sets give 0.

        One fused sparse–dense product (:func:`gnnkit.sparse.spmm`): the gathered rows
        ``x[u]`` are never materialised, so memory stays ``O(B · F + S)``.
        """
        return spmm(self.as_matrix(x.shape[0], x.dtype), x)

    def with_weight(self, weight: Tensor | None) -> NeighborSets:
        return NeighborSets(self.ptr, self.nodes, weight)


HEURISTICS = ("cn", "aa", "ra", "jaccard")


# ------------------------------------------------------------------ validation
def check_pairs(pairs: object, num_nodes: int, name: str = "pairs") -> Tensor:
    """Validate a ``(2, B)`` integer tensor of node pairs with ids in ``[0, num_nodes)``.

    Returns it as int64. Raises ``TypeError``/``ValueError`` naming ``name`` otherwise.
    """
    if not isinstance(pairs, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(pairs).__name__}")
    if pairs.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{name} must be an int64 or int32 tensor, got {pairs.dtype}")
    if pairs.dim() != 2 or pairs.shape[0] != 2:
        hint = " (OGB's (B, 2) layout: pass pairs.t())" if pairs.dim() == 2 else ""
        raise ValueError(f"{name} must have shape (2, B), got {tuple(pairs.shape)}{hint}")
    if pairs.numel() and (int(pairs.min()) < 0 or int(pairs.max()) >= num_nodes):
        raise ValueError(
            f"{name} must hold node ids in [0, {num_nodes}), found "
            f"{int(pairs.min())} … {int(pairs.max())}"
        )
    return pairs.long()


def _check_graph(A: object) -> SparseMatrix:
    if not isinstance(A, SparseMatrix):
        raise TypeError(f"A must be a gnnkit.sparse.SparseMatrix, got {type(A).__name__}")
    if A.num_rows != A.num_cols:
        raise ValueError(f"A must be square (a graph over one node set), got shape {A.shape}")
    return A


def _pattern(A: SparseMatrix) -> SparseMatrix:
    """A's coalesced pattern (values dropped: the heuristics count neighbours)."""
    A = _check_graph(A)
    if A.values is not None:
        A = A.with_values(None)
    return A if A.is_coalesced() else A.coalesce()


# ------------------------------------------------------------------ node sets
def common_neighbor_sets(A: SparseMatrix, pairs: Tensor) -> NeighborSets:
    """``N(i) ∩ N(j)`` for every pair ``(i, j)`` of ``pairs`` ``(2, B)``."""
    A = _pattern(A)
    pairs = check_pairs(pairs, A.num_rows)
    ptr, common = intersect_rows(A, pairs[0], pairs[1])
    return NeighborSets(ptr.long(), common.long())


def _row_members(A: SparseMatrix, rows: Tensor) -> tuple[Tensor, Tensor]:
    """``(ptr, nodes)``: the stored columns of ``A[rows[k]]`` for each k, concatenated."""
    counts = (A.rowptr[rows + 1] - A.rowptr[rows]).long()
    position = expand_ranges(A.rowptr[rows].long(), counts, check=False)
    return ptr_from_counts(counts, check=False), A.col[position].long()


def _difference(
    A: SparseMatrix, rows: Tensor, common: NeighborSets, num_nodes: int
) -> NeighborSets:
    """Members of ``N(rows[k])`` that are not in ``common`` set ``k``."""
    ptr, nodes = _row_members(A, rows)
    member_pair = index_from_ptr(ptr, total=nodes.numel(), check=False)
    member_key = pair_keys(member_pair, nodes, rows.numel(), num_nodes, check=False)
    common_key = pair_keys(common.pair_index(), common.nodes, rows.numel(), num_nodes,
                           check=False)
    # both key lists are ascending (pair-major; a coalesced row and an intersection list
    # their columns in ascending order), so membership is a binary search, not isin's sort
    position = torch.searchsorted(common_key, member_key)
    if common_key.numel():
        keep = common_key[position.clamp_(max=common_key.numel() - 1)] != member_key
    else:
        keep = torch.ones_like(member_key, dtype=torch.bool)
    return NeighborSets(ptr_from_index(member_pair[keep], rows.numel(), check=False),
                        nodes[keep])


def exclusive_neighbor_sets(
    A: SparseMatrix, pairs: Tensor, common: NeighborSets | None = None
) -> tuple[NeighborSets, NeighborSets]:
    """``(N(i) \\ N(j), N(j) \\ N(i))`` for every pair ``(i, j)``.

    These are the nodes adjacent to exactly one end of the pair — the *candidate* common
    neighbours that NCNC's completion scores. ``common`` may pass precomputed
    :func:`common_neighbor_sets` of the same pairs.
    """
    A = _pattern(A)
    pairs = check_pairs(pairs, A.num_rows)
    if common is None:
        common = common_neighbor_sets(A, pairs)
    only_i = _difference(A, pairs[0], common, A.num_rows)
    only_j = _difference(A, pairs[1], common, A.num_rows)
    return only_i, only_j


def _stack_rows(top: SparseMatrix, bottom: SparseMatrix) -> SparseMatrix:
    """The ``2N × N`` matrix ``[top; bottom]`` (both coalesced), so one row intersection can
    pair a row of ``top`` with a row of ``bottom``."""
    index_dtype = torch.int64
    rowptr = torch.cat([top.rowptr.long(), bottom.rowptr[1:].long() + top.nnz]).to(index_dtype)
    col = torch.cat([top.col.long(), bottom.col.long()]).to(index_dtype)
    return SparseMatrix(rowptr, col, None, (top.num_rows + bottom.num_rows, top.num_cols))


def two_hop_common_sets(
    A: SparseMatrix, pairs: Tensor, two_hop: SparseMatrix | None = None
) -> tuple[NeighborSets, NeighborSets]:
    """``(N(i) ∩ N₂(j), N₂(i) ∩ N(j))`` with ``N₂(v)`` the pattern of row ``v`` of ``A·A``.

    ``N₂(v)`` is every node reachable by a walk of exactly two steps (``v`` itself included
    when it has a neighbour). This is the higher-order overlap of the NCN2 variant (Wang et
    al., 2024, appendix). ``two_hop`` may pass a precomputed pattern of ``A @ A``; computing it
    costs ``O(Σ_v deg(v)²)`` — dense graphs make it large.
    """
    A = _pattern(A)
    pairs = check_pairs(pairs, A.num_rows)
    if two_hop is None:
        two_hop = spspmm(A, A)
    two_hop = _pattern(two_hop)
    if two_hop.shape != A.shape:
        raise ValueError(f"two_hop must have A's shape {A.shape}, got {two_hop.shape}")
    n = A.num_rows
    stacked = _stack_rows(A, two_hop)
    ptr_a, nodes_a = intersect_rows(stacked, pairs[0], pairs[1] + n)
    ptr_b, nodes_b = intersect_rows(stacked, pairs[0] + n, pairs[1])
    return (
        NeighborSets(ptr_a.long(), nodes_a.long()),
        NeighborSets(ptr_b.long(), nodes_b.long()),
    )


# ------------------------------------------------------------------ heuristics
def neighbor_degree(A: SparseMatrix) -> Tensor:
    """``(N,)`` int64 ``|N(v)|``: distinct stored columns of each row."""
    return _pattern(A).degree("row").long()


def common_neighbors(A: SparseMatrix, pairs: Tensor, *, dtype: torch.dtype = torch.float32
                     ) -> Tensor:
    """``(B,)`` ``|N(i) ∩ N(j)|`` for each pair (Liben-Nowell & Kleinberg, 2007)."""
    return common_neighbor_sets(A, pairs).sizes().to(dtype)


def _weighted_common(
    A: SparseMatrix, pairs: Tensor, node_weight: Tensor, dtype: torch.dtype
) -> Tensor:
    sets = common_neighbor_sets(A, pairs)
    return segment(node_weight.to(dtype).index_select(0, sets.nodes), sets.ptr, "sum")


def adamic_adar(A: SparseMatrix, pairs: Tensor, *, dtype: torch.dtype = torch.float32
                ) -> Tensor:
    """``(B,)`` Adamic–Adar index ``Σ_{k ∈ N(i) ∩ N(j)} 1 / log |N(k)|``.

    A common neighbour of degree 1 (possible only with self loops or ``i = j``) would divide
    by ``log 1 = 0``; it contributes 0 instead of infinity.
    """
    A = _pattern(A)
    degree = A.degree("row").to(torch.float64)
    weight = torch.where(degree > 1, 1.0 / torch.log(degree.clamp(min=2.0)), 0.0)
    return _weighted_common(A, pairs, weight, dtype)


def resource_allocation(A: SparseMatrix, pairs: Tensor, *, dtype: torch.dtype = torch.float32
                        ) -> Tensor:
    """``(B,)`` resource allocation index ``Σ_{k ∈ N(i) ∩ N(j)} 1 / |N(k)|``."""
    A = _pattern(A)
    degree = A.degree("row").to(torch.float64)
    weight = torch.where(degree > 0, 1.0 / degree.clamp(min=1.0), 0.0)
    return _weighted_common(A, pairs, weight, dtype)


def jaccard(A: SparseMatrix, pairs: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """``(B,)`` Jaccard index ``|N(i) ∩ N(j)| / |N(i) ∪ N(j)|``; 0 when both sets are empty."""
    A = _pattern(A)
    pairs = check_pairs(pairs, A.num_rows)
    common = common_neighbor_sets(A, pairs).sizes().to(torch.float64)
    degree = A.degree("row").long()
    union = degree[pairs[0]] + degree[pairs[1]] - common
    return torch.where(union > 0, common / union.clamp(min=1), 0.0).to(dtype)


_HEURISTIC_FUNCTIONS = {
    "cn": common_neighbors,
    "aa": adamic_adar,
    "ra": resource_allocation,
    "jaccard": jaccard,
}


def heuristic_scores(
    name: str, A: SparseMatrix, pairs: Tensor, *, batch_size: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Score ``pairs`` with heuristic ``name`` ∈ ``HEURISTICS`` (``"cn"``, ``"aa"``, ``"ra"``,
    ``"jaccard"``), optionally in chunks of ``batch_size`` pairs to bound memory."""
    if name not in _HEURISTIC_FUNCTIONS:
        raise ValueError(f"name must be one of {', '.join(HEURISTICS)}; got {name!r}")
    function = _HEURISTIC_FUNCTIONS[name]
    A = _pattern(A)
    pairs = check_pairs(pairs, A.num_rows)
    if batch_size is None or pairs.shape[1] <= batch_size:
        return function(A, pairs, dtype=dtype)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    chunks = [function(A, pairs[:, start:start + batch_size], dtype=dtype)
              for start in range(0, pairs.shape[1], batch_size)]
    return torch.cat(chunks)
