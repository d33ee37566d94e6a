r"""Bags of subgraphs as sparse operators on ``(subgraph, node)`` pairs: :class:`SubgraphBatch`.

A subgraph GNN (Bevilacqua et al., 2022; Zhang et al., 2023) runs message passing on a *bag*
of subgraphs of every graph and mixes information across the bag. Its state is one feature
row per *pair* ``(s, v)``: subgraph ``s`` of graph ``g`` and node ``v`` of ``g`` present in
``s``. With one subgraph per root node ``u`` and every node in every subgraph (the *all-pairs*
bag of subgraph Weisfeiler–Lehman tests, SWL), the state is ``h(u, v)`` for all ``u, v`` of a
graph and the building blocks of Zhang et al. (2023, §3) are

.. math::

    \mathrm{uL}\colon\ \sum_{w \in N(v)} h(u, w), \qquad
    \mathrm{vL}\colon\ \sum_{w \in N(u)} h(w, v), \qquad
    \mathrm{uG}\colon\ \sum_{w} h(u, w), \qquad
    \mathrm{vG}\colon\ \sum_{w} h(w, v),

plus the diagonal gathers :math:`h(v, v)` and :math:`h(u, u)`. :class:`SubgraphBatch` builds
their index structures once per batch, vectorised over all graphs, and exposes them as
methods that call the sparse core (:func:`gnnkit.sparse.spmm`, :func:`gnnkit.sparse.segment`,
indexing), so they inherit its kernels, autograd and ``torch.compile`` support.

**Layout.** Pairs are grouped contiguously by subgraph (``subgraph_ptr``) and subgraphs by
graph (``graph_subgraph_ptr``); within a subgraph, pairs are ordered by node id. In the
all-pairs bag, subgraph ``u`` is rooted at the batch's node ``u`` (``S = N``) and the pair
``(u, v)`` of graph ``g`` (``n_g`` nodes, first node ``ptr[g]``) is number
``Σ_{g' < g} n_{g'}² + (u - ptr[g]) · n_g + (v - ptr[g])``: ``P = Σ_g n_g²``.

**Orientation** is gnnkit's (row = target, column = source): ``N(v)`` are the sources of the
edges into ``v``, the nodes whose messages reach ``v``. The distance ``d(u, v)`` is the length
of a shortest directed path ``v → … → u`` (the number of message-passing steps for ``v``'s
information to reach the root ``u``); it is the usual shortest-path distance on undirected
graphs, and ``{v : d(u, v) ≤ k}`` is PyG's ``k_hop_subgraph(u, k)`` (ESAN's ego-net).

**Distance buckets.** ``distance`` is stored as ``uint8``: ``min(d(u, v), max_distance)``
when ``v`` reaches ``u`` (so the bucket ``max_distance`` means "``max_distance`` or farther")
and ``max_distance + 1`` when it does not (a disconnected pair, infinite distance). Distances
come from a multi-source breadth-first search over the sparse structure
(:func:`bfs_distances`), never from all-pairs dense algorithms; :func:`pair_distances`
computes them once for a whole :class:`gnnkit.datasets.GraphDataset` so a training epoch only
gathers them.

The ESAN bag policies (node-deleted, edge-deleted, ego-nets, ego-nets+) that build
:class:`SubgraphBatch` values through :meth:`SubgraphBatch.from_entries` live in
:mod:`gnnkit.data.subgraph_policies`; :meth:`SubgraphBatch.subsample` keeps a seeded random
fraction of every graph's bag.

References:
    Zhang, Feng, Du, He (2023). *A Complete Expressiveness Hierarchy for Subgraph GNNs via
    Subgraph Weisfeiler-Lehman Tests.* ICML.
    Bevilacqua, Frasca, Lim, Srinivasan, Cai, Balamurugan, Bronstein, Maron (2022).
    *Equivariant Subgraph Aggregation Networks.* ICLR.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gnnkit.datasets import GraphDataset
from gnnkit.sparse import (
    SparseMatrix,
    expand_ranges,
    index_from_counts,
    pair_keys,
    ptr_from_counts,
    ptr_from_index,
    segment,
    spmm,
)

from .batch import GraphBatch

__all__ = ["PairDistances", "SubgraphBatch", "bfs_distances", "pair_distances"]

#: Largest ``max_distance`` whose disconnected bucket (``max_distance + 1``) fits in uint8.
MAX_DISTANCE_LIMIT = 254


# ------------------------------------------------------------------ argument checks
def _check_batch(batch: object) -> GraphBatch:
    if not isinstance(batch, GraphBatch):
        raise TypeError(f"batch must be a gnnkit.data.GraphBatch, got {type(batch).__name__} "
                        "(build one with GraphBatch.from_graphs or GraphBatch.from_dataset)")
    return batch


def _check_max_distance(max_distance: object) -> int:
    if isinstance(max_distance, bool) or not isinstance(max_distance, int):
        raise TypeError(f"max_distance must be an int, got {type(max_distance).__name__}")
    if not 0 <= max_distance <= MAX_DISTANCE_LIMIT:
        raise ValueError(
            f"max_distance must lie in [0, {MAX_DISTANCE_LIMIT}] (distances are stored as "
            f"uint8 with the disconnected bucket max_distance + 1), got {max_distance}"
        )
    return max_distance


# ------------------------------------------------------------------ all-pairs layout
def _all_pairs_layout(ptr: Tensor, batch_vector: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(sizes, pair_start, total)`` of the all-pairs layout: ``sizes[u] = n_{g(u)}``, pair
    ``(u, v)`` is ``pair_start[u] + v - ptr[g(u)]`` and ``total = Σ_g n_g²``."""
    sizes = (ptr[1:] - ptr[:-1])[batch_vector]
    starts = ptr_from_counts(sizes, check=False)
    return sizes, starts[:-1], starts[-1]


def _bfs(adj: SparseMatrix, ptr: Tensor, batch_vector: Tensor, rounds: int | None) -> Tensor:
    """All-pairs hop counts, ``int64`` ``(Σ n_g²,)`` in the all-pairs layout, ``-1`` where
    ``v`` does not reach ``u`` within ``rounds`` rounds (``None``: no limit).

    A frontier breadth-first search from every root at once: each round takes the pairs
    ``(u, x)`` reached in the previous round and reaches ``(u, w)`` for every edge ``w → x``
    (the sources of row ``x``). Every pair enters the frontier once, so the total work is
    ``O(Σ_g n_g · e_g)`` whatever the number of rounds.
    """
    device = ptr.device
    num_nodes = int(batch_vector.numel())
    sizes, pair_start, total_t = _all_pairs_layout(ptr, batch_vector)
    total = int(total_t) if num_nodes else 0
    dist = torch.full((total,), -1, dtype=torch.long, device=device)
    if num_nodes == 0:
        return dist
    pair_root = index_from_counts(sizes, total=total, check=False)
    rowptr, col = adj.rowptr.long(), adj.col.long()
    degree = rowptr[1:] - rowptr[:-1]
    node_start = ptr[:-1][batch_vector]  # first node of each node's graph
    # round 0: the diagonal (u, u)
    roots = torch.arange(num_nodes, device=device)
    frontier_root = roots
    frontier_node = roots
    diagonal = pair_start + (roots - node_start)
    dist[diagonal] = 0
    step = 0
    while frontier_root.numel() and (rounds is None or step < rounds):
        step += 1
        counts = degree[frontier_node]
        positions = expand_ranges(rowptr[frontier_node], counts, check=False)
        root = torch.repeat_interleave(frontier_root, counts, output_size=positions.numel())
        source = col[positions]
        candidate = pair_start[root] + (source - node_start[root])
        fresh = candidate[dist[candidate] < 0]
        if fresh.numel() == 0:
            break
        fresh = torch.unique(fresh)  # one frontier entry per pair (several edges may hit it)
        dist[fresh] = step
        frontier_root = pair_root[fresh]
        frontier_node = fresh - pair_start[frontier_root] + node_start[frontier_root]
    return dist


def _bucket(dist: Tensor, max_distance: int) -> Tensor:
    """``int64`` hop counts (``-1`` = unreachable) to the ``uint8`` buckets."""
    out = dist.clamp(max=max_distance)
    out[dist < 0] = max_distance + 1
    return out.to(torch.uint8)


def bfs_distances(batch: GraphBatch, max_distance: int) -> Tensor:
    """Clamped shortest-path distances of every ``(root u, node v)`` pair of a batch.

    A multi-source breadth-first search on ``batch.adj`` from all roots at once (one
    vectorised frontier expansion per round, ``O(Σ_g n_g · e_g)`` work in total, memory
    ``O(Σ_g n_g²)``); never a dense all-pairs algorithm.

    Args:
        batch: the graphs.
        max_distance: the largest distance kept exactly, in ``[0, 254]``.

    Returns:
        ``(Σ_g n_g²,)`` ``uint8`` in the all-pairs layout of :class:`SubgraphBatch`:
        ``min(d(u, v), max_distance)`` when ``v`` reaches ``u`` along directed edges, else
        ``max_distance + 1`` (the disconnected bucket).

    Raises:
        ValueError: ``max_distance`` outside ``[0, 254]``.
    """
    batch = _check_batch(batch)
    max_distance = _check_max_distance(max_distance)
    return _bucket(_bfs(batch.adj, batch.ptr, batch.batch, None), max_distance)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class PairDistances:
    """Clamped pair distances of every graph of a dataset, computed once, stored flat.

    Attributes:
        values: ``(Σ_g n_g²,)`` ``uint8``: graph ``g``'s distances in the all-pairs layout
            (``(u, v)`` at ``ptr[g] + u · n_g + v`` with local ids), buckets as in
            :func:`bfs_distances`.
        ptr: ``(G + 1,)`` ``int64`` offsets of each graph's block (``n_g²`` entries).
        max_distance: the clamp.
    """

    values: Tensor
    ptr: Tensor
    max_distance: int

    def gather(self, index: Tensor | Sequence[int] | None = None) -> Tensor:
        """The distances of the graphs ``index`` (all by default) in that order: the
        ``distances`` argument of :meth:`SubgraphBatch.all_pairs` for
        ``GraphBatch.from_dataset(dataset, index)``."""
        if index is None:
            return self.values
        index = torch.as_tensor(index, dtype=torch.long, device=self.ptr.device).view(-1)
        num_graphs = self.ptr.numel() - 1
        if index.numel() and (int(index.min()) < -num_graphs or int(index.max()) >= num_graphs):
            raise IndexError(f"index out of range for {num_graphs} graphs")
        index = index % max(num_graphs, 1)
        counts = self.ptr[1:][index] - self.ptr[:-1][index]
        return self.values[expand_ranges(self.ptr[:-1][index], counts, check=False)]

    def with_max_distance(self, max_distance: int) -> PairDistances:
        """The same distances clamped at a smaller (or equal) ``max_distance``: buckets up to
        ``max_distance`` are kept, farther ones merge into ``max_distance`` and the
        disconnected bucket moves to ``max_distance + 1``."""
        max_distance = _check_max_distance(max_distance)
        if max_distance > self.max_distance:
            raise ValueError(
                f"max_distance={max_distance} exceeds the {self.max_distance} these distances "
                "were computed with; compute them again with pair_distances"
            )
        if max_distance == self.max_distance:
            return self
        disconnected = self.values == self.max_distance + 1
        values = self.values.clamp(max=max_distance)
        values[disconnected] = max_distance + 1
        return PairDistances(values=values, ptr=self.ptr, max_distance=max_distance)

    def __len__(self) -> int:
        return self.ptr.numel() - 1

    def __repr__(self) -> str:
        return (f"PairDistances(num_graphs={len(self)}, num_pairs={self.values.numel()}, "
                f"max_distance={self.max_distance})")


# dataset → the PairDistances computed for it (largest max_distance so far); weak keys, so a
# dataset that goes away takes its distances with it
_DISTANCE_CACHE: weakref.WeakKeyDictionary[GraphDataset, PairDistances] = (
    weakref.WeakKeyDictionary()
)


def pair_distances(dataset: GraphDataset, max_distance: int, *,
                   graphs_per_chunk: int = 1024) -> PairDistances:
    """Clamped ``(root, node)`` distances of every graph of ``dataset``, computed once.

    Runs :func:`bfs_distances` on chunks of ``graphs_per_chunk`` graphs (bounding the
    memory of the search) and stores the result flat in ``uint8``
    (``Σ_g n_g²`` bytes: 6.7 MB for ZINC's 12k molecules). The result is cached per dataset
    object: a second call with the same or a smaller ``max_distance`` re-buckets the stored
    distances (:meth:`PairDistances.with_max_distance`) instead of searching again.
    :meth:`PairDistances.gather` gives each batch its slice, so no epoch recomputes a
    distance.

    Raises:
        ValueError: ``max_distance`` outside ``[0, 254]`` or ``graphs_per_chunk < 1``.
    """
    if not isinstance(dataset, GraphDataset):
        raise TypeError(f"dataset must be a gnnkit.datasets.GraphDataset, got "
                        f"{type(dataset).__name__}")
    max_distance = _check_max_distance(max_distance)
    if graphs_per_chunk < 1:
        raise ValueError(f"graphs_per_chunk must be at least 1, got {graphs_per_chunk}")
    cached = _DISTANCE_CACHE.get(dataset)
    if cached is not None and cached.max_distance >= max_distance:
        return cached.with_max_distance(max_distance)
    sizes = dataset.num_nodes
    ptr = ptr_from_counts(sizes * sizes, check=False)
    parts = []
    for start in range(0, len(dataset), graphs_per_chunk):
        index = torch.arange(start, min(start + graphs_per_chunk, len(dataset)))
        parts.append(bfs_distances(GraphBatch.from_dataset(dataset, index), max_distance))
    values = (torch.cat(parts) if parts
              else torch.zeros(0, dtype=torch.uint8, device=dataset.node_ptr.device))
    result = PairDistances(values=values, ptr=ptr, max_distance=max_distance)
    _DISTANCE_CACHE[dataset] = result
    return result


# ------------------------------------------------------------------ the bag
# The matrices below are built in CSR order with sorted columns; validate=True costs one O(nnz)
# pass and records that fact on the structure (the transpose then reuses its caches).
def _sort_entries(row: Tensor, col: Tensor, edge: Tensor, size: int) -> tuple[SparseMatrix,
                                                                              Tensor]:
    """The ``(size, size)`` CSR pattern of COO entries and the edge id behind each entry."""
    order = torch.sort(pair_keys(row, col, size, size, check=False), stable=True).indices
    rowptr = ptr_from_index(row, size, dtype=torch.long, check=False)
    return SparseMatrix(rowptr, col[order], None, (size, size), validate=True), edge[order]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SubgraphBatch:
    """A bag of subgraphs of every graph of a :class:`GraphBatch`, as ``(subgraph, node)``
    pairs with the sparse operators of subgraph GNNs (an immutable value).

    Build it with :meth:`all_pairs` (SWL: every node a root, every node in every subgraph),
    with the ESAN policies of :mod:`gnnkit.data.subgraph_policies`, or with
    :meth:`from_entries`; the constructor itself performs no checks. ``G`` graphs, ``N``
    nodes, ``S`` subgraphs, ``P`` pairs.

    Attributes:
        graph: the :class:`GraphBatch` the bag is made of (``x``, ``edge_attr``, ``y``).
        subgraph_graph: ``(S,)`` ``int64`` graph of each subgraph (non-decreasing).
        subgraph_root: ``(S,)`` ``int64`` global id of each subgraph's root node, ``-1`` when
            the policy has none (edge-deleted).
        subgraph_ptr: ``(S + 1,)`` pair pointer: subgraph ``s`` owns pairs
            ``subgraph_ptr[s]:subgraph_ptr[s+1]``.
        graph_subgraph_ptr: ``(G + 1,)`` subgraph pointer: graph ``g`` owns subgraphs
            ``graph_subgraph_ptr[g]:graph_subgraph_ptr[g+1]``.
        pair_subgraph: ``(P,)`` ``int64`` subgraph of each pair (non-decreasing).
        pair_node: ``(P,)`` ``int64`` global node id of each pair (increasing within a
            subgraph); ``graph.x[pair_node]`` are the pairs' input features.
        pair_graph: ``(P,)`` ``int64`` graph of each pair.
        is_root: ``(P,)`` ``bool``: the pair's node is its subgraph's root (node marking).
        root_pair: ``(S,)`` ``int64`` the pair ``(s, root(s))``, ``-1`` when ``s`` has no
            root or its root is not one of its nodes.
        local: ``(P, P)`` :class:`gnnkit.sparse.SparseMatrix`: entry ``((s, v), (s, w))``
            for every edge ``w → v`` kept in subgraph ``s`` (row = target); message passing
            inside the subgraphs.
        local_edge: ``(nnz(local),)`` ``int64``: the edge of ``graph.adj`` (its CSR
            position, the row of ``graph.edge_attr``) behind each entry of ``local``.
        node_order: ``(P,)`` ``int64`` permutation grouping the pairs by node.
        node_pair_ptr: ``(N + 1,)`` pointer into ``node_order``: node ``v``'s pairs are
            ``node_order[node_pair_ptr[v]:node_pair_ptr[v+1]]``.
        vl: all-pairs bags only (else ``None``): ``(P, P)`` pattern with entry
            ``((u, v), (w, v))`` for every edge ``w → u``: message passing between roots.
        vl_edge: ``(nnz(vl),)`` the edge ``w → u`` of ``graph.adj`` behind each ``vl``
            entry, or ``None``.
        pair_diag_node: ``(P,)`` the pair ``(v, v)`` of each pair ``(u, v)``; all-pairs
            bags only, else ``None``.
        pair_diag_root: ``(P,)`` the pair ``(u, u)`` of each pair ``(u, v)``
            (``root_pair[pair_subgraph]``), or ``None`` when a subgraph lacks its root.
        distance: ``(P,)`` ``uint8`` clamped ``d(root, v)`` (all-pairs bags;
            ``max_distance + 1`` = disconnected), or ``None``.
        max_distance: the clamp of ``distance``, or ``None``.
        policy: how the bag was built: ``"all_pairs"``, ``"node_deleted"``,
            ``"edge_deleted"``, ``"ego_nets"``, ``"ego_nets_plus"`` or ``"custom"``.
        marked: the policy asks models to mark the root (ESAN's ego-nets+ prepends the
            one-hot ``[1, 0]`` to the root's features and ``[0, 1]`` to the others');
            ``is_root`` is there for every policy.
    """

    graph: GraphBatch
    subgraph_graph: Tensor
    subgraph_root: Tensor
    subgraph_ptr: Tensor
    graph_subgraph_ptr: Tensor
    pair_subgraph: Tensor
    pair_node: Tensor
    pair_graph: Tensor
    is_root: Tensor
    root_pair: Tensor
    local: SparseMatrix
    local_edge: Tensor
    node_order: Tensor
    node_pair_ptr: Tensor
    vl: SparseMatrix | None = None
    vl_edge: Tensor | None = None
    pair_diag_node: Tensor | None = None
    pair_diag_root: Tensor | None = None
    distance: Tensor | None = None
    max_distance: int | None = None
    policy: str = "custom"
    marked: bool = False

    # ------------------------------------------------------------------ construction
    @classmethod
    def all_pairs(cls, batch: GraphBatch, *, max_distance: int = 8,
                  distances: Tensor | None = None) -> SubgraphBatch:
        """The SWL bag: subgraph ``u`` for every node ``u``, with every node of ``u``'s graph.

        ``local`` is ``I_{n_g} ⊗ A_g`` per graph and ``vl`` is ``A_g ⊗ I_{n_g}``; both are
        laid out directly from the batch's CSR (``Σ_g n_g · e_g`` entries each), without
        sorting.

        Args:
            batch: the graphs.
            max_distance: clamp of ``distance`` (in ``[0, 254]``).
            distances: the batch's precomputed ``(Σ_g n_g²,)`` ``uint8`` distances
                (:meth:`PairDistances.gather`), computed with this ``max_distance``;
                ``None`` runs :func:`bfs_distances`.

        Raises:
            ValueError: ``max_distance`` out of range, or ``distances`` of the wrong shape,
                dtype or device.

        Examples:
            >>> import torch
            >>> from gnnkit.data import GraphBatch, SubgraphBatch
            >>> from gnnkit.datasets import Graph
            >>> path = Graph(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)  # 0-1-2
            >>> bag = SubgraphBatch.all_pairs(GraphBatch.from_graphs([path]), max_distance=1)
            >>> bag.num_subgraphs, bag.num_pairs, bag.local.nnz
            (3, 9, 12)
            >>> bag.distance.view(3, 3).tolist()  # d(0, 2) = 2 is clamped to 1
            [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
            >>> h = torch.arange(9.).view(9, 1)  # h(u, v) = 3u + v
            >>> bag.local_sum(h).view(3, 3).tolist()  # Σ_{w ∈ N(v)} h(u, w)
            [[1.0, 2.0, 1.0], [4.0, 8.0, 4.0], [7.0, 14.0, 7.0]]
            >>> bag.diag_node(h).view(3, 3).tolist()  # h(v, v)
            [[0.0, 4.0, 8.0], [0.0, 4.0, 8.0], [0.0, 4.0, 8.0]]
        """
        batch = _check_batch(batch)
        max_distance = _check_max_distance(max_distance)
        ptr, batch_vector = batch.ptr, batch.batch
        device = ptr.device
        num_nodes = batch.num_nodes
        sizes, pair_start, total_t = _all_pairs_layout(ptr, batch_vector)
        total = int(total_t) if num_nodes else 0
        if distances is None:
            distance = _bucket(_bfs(batch.adj, ptr, batch_vector, None), max_distance)
        else:
            if not isinstance(distances, Tensor) or distances.dtype != torch.uint8 or (
                distances.shape != (total,) or distances.device != device
            ):
                seen = (f"shape {tuple(distances.shape)}, dtype {distances.dtype}, device "
                        f"{distances.device}" if isinstance(distances, Tensor)
                        else type(distances).__name__)
                raise ValueError(
                    f"distances must be a ({total},) uint8 tensor on {device} (Σ n_g² pairs "
                    f"of this batch, from PairDistances.gather), got {seen}"
                )
            if total and int(distances.max()) > max_distance + 1:
                raise ValueError(
                    f"distances holds {int(distances.max())} > max_distance + 1 = "
                    f"{max_distance + 1}: pass the max_distance they were computed with "
                    "(PairDistances.max_distance)"
                )
            distance = distances
        node_start = ptr[:-1][batch_vector]
        subgraph_ptr = ptr_from_counts(sizes, check=False)
        pair_subgraph = index_from_counts(sizes, total=total, check=False)
        local_ids = torch.arange(num_nodes, device=device) - node_start  # v - ptr[g(v)]
        pair_node = expand_ranges(node_start, sizes, total=total, check=False)
        pair_graph = batch_vector[pair_subgraph]
        root_pair = pair_start + local_ids
        pair_diag_node = root_pair[pair_node]
        pair_diag_root = root_pair[pair_subgraph]

        rowptr, col = batch.adj.rowptr.long(), batch.adj.col.long()
        degree = rowptr[1:] - rowptr[:-1]
        # local: row (u, v) holds the in-edges w → v of v, at column (u, w)
        local_counts = degree[pair_node]
        local_rowptr = ptr_from_counts(local_counts, check=False)
        local_edge = expand_ranges(rowptr[pair_node], local_counts, check=False)
        owner = torch.repeat_interleave(pair_subgraph, local_counts,
                                        output_size=local_edge.numel())
        local_col = pair_start[owner] + (col[local_edge] - node_start[owner])
        local = SparseMatrix(local_rowptr, local_col, None, (total, total), validate=True)
        # vl: row (u, v) holds the in-edges w → u of u, at column (w, v)
        vl_counts = degree[pair_subgraph]
        vl_rowptr = ptr_from_counts(vl_counts, check=False)
        vl_edge = expand_ranges(rowptr[pair_subgraph], vl_counts, check=False)
        node = torch.repeat_interleave(pair_node, vl_counts, output_size=vl_edge.numel())
        vl_col = pair_start[col[vl_edge]] + (node - node_start[node])
        vl = SparseMatrix(vl_rowptr, vl_col, None, (total, total), validate=True)

        node_order, node_pair_ptr = _group_by_node(pair_node, num_nodes)
        return cls(
            graph=batch,
            subgraph_graph=batch_vector,
            subgraph_root=torch.arange(num_nodes, device=device),
            subgraph_ptr=subgraph_ptr,
            graph_subgraph_ptr=ptr,
            pair_subgraph=pair_subgraph,
            pair_node=pair_node,
            pair_graph=pair_graph,
            is_root=pair_diag_root == torch.arange(total, device=device),
            root_pair=root_pair,
            local=local,
            local_edge=local_edge,
            node_order=node_order,
            node_pair_ptr=node_pair_ptr,
            vl=vl,
            vl_edge=vl_edge,
            pair_diag_node=pair_diag_node,
            pair_diag_root=pair_diag_root,
            distance=distance,
            max_distance=max_distance,
            policy="all_pairs",
        )

    @classmethod
    def from_entries(
        cls,
        batch: GraphBatch,
        *,
        subgraph_graph: Tensor,
        subgraph_root: Tensor,
        pair_subgraph: Tensor,
        pair_node: Tensor,
        edge_subgraph: Tensor,
        edge_id: Tensor,
        policy: str = "custom",
        marked: bool = False,
        check: bool = True,
    ) -> SubgraphBatch:
        """A bag from explicit subgraphs, pairs and kept edges (what the policies build).

        Args:
            batch: the graphs.
            subgraph_graph: ``(S,)`` graph of each subgraph, non-decreasing.
            subgraph_root: ``(S,)`` global root node of each subgraph, or ``-1``.
            pair_subgraph: ``(P,)`` subgraph of each pair; pairs sorted by
                ``(subgraph, node)`` without repeats.
            pair_node: ``(P,)`` global node of each pair, in the pair's subgraph's graph.
            edge_subgraph: ``(K,)`` subgraph keeping each listed edge.
            edge_id: ``(K,)`` CSR position in ``batch.adj`` of each kept edge; both of its
                endpoints must be pairs of that subgraph. Repeats stay repeated entries.
            policy: name stored on the result.
            marked: see :attr:`marked`.
            check: verify the sorting, ranges and memberships above (reads the tensors).

        Raises:
            ValueError: an argument that breaks the rules above, named.
        """
        batch = _check_batch(batch)
        device = batch.ptr.device
        num_graphs, num_nodes = batch.num_graphs, batch.num_nodes
        names = ("subgraph_graph", "subgraph_root", "pair_subgraph", "pair_node",
                 "edge_subgraph", "edge_id")
        tensors = (subgraph_graph, subgraph_root, pair_subgraph, pair_node, edge_subgraph,
                   edge_id)
        for name, tensor in zip(names, tensors, strict=True):
            if not isinstance(tensor, Tensor) or tensor.dim() != 1 or (
                tensor.dtype not in (torch.int32, torch.int64)
            ):
                raise TypeError(f"{name} must be a 1-D int32/int64 tensor")
            if tensor.device != device:
                raise ValueError(f"{name} is on {tensor.device} but the batch is on {device}")
        subgraph_graph, subgraph_root = subgraph_graph.long(), subgraph_root.long()
        pair_subgraph, pair_node = pair_subgraph.long(), pair_node.long()
        edge_subgraph, edge_id = edge_subgraph.long(), edge_id.long()
        num_subgraphs, num_pairs = subgraph_graph.numel(), pair_subgraph.numel()
        if subgraph_root.numel() != num_subgraphs:
            raise ValueError(f"subgraph_root has {subgraph_root.numel()} entries but "
                             f"subgraph_graph has {num_subgraphs}")
        if pair_node.numel() != num_pairs:
            raise ValueError(f"pair_node has {pair_node.numel()} entries but pair_subgraph "
                             f"has {num_pairs}")
        if edge_id.numel() != edge_subgraph.numel():
            raise ValueError(f"edge_id has {edge_id.numel()} entries but edge_subgraph has "
                             f"{edge_subgraph.numel()}")
        if check:
            _check_range("subgraph_graph", subgraph_graph, 0, num_graphs)
            _check_range("subgraph_root", subgraph_root, -1, num_nodes)
            _check_range("pair_subgraph", pair_subgraph, 0, num_subgraphs)
            _check_range("pair_node", pair_node, 0, num_nodes)
            _check_range("edge_subgraph", edge_subgraph, 0, num_subgraphs)
            _check_range("edge_id", edge_id, 0, batch.num_edges)
            if num_subgraphs > 1 and bool((subgraph_graph[1:] < subgraph_graph[:-1]).any()):
                raise ValueError("subgraph_graph must be non-decreasing (subgraphs grouped by "
                                 "graph)")
            rooted = subgraph_root >= 0
            if bool((batch.batch[subgraph_root[rooted]] != subgraph_graph[rooted]).any()):
                raise ValueError("subgraph_root holds a node outside its subgraph's graph")
            if bool((batch.batch[pair_node] != subgraph_graph[pair_subgraph]).any()):
                raise ValueError("pair_node holds a node outside its subgraph's graph")
        keys = pair_keys(pair_subgraph, pair_node, num_subgraphs, num_nodes, check=False)
        if check and num_pairs > 1 and bool((keys[1:] <= keys[:-1]).any()):
            raise ValueError("pairs must be sorted by (pair_subgraph, pair_node) without "
                             "repeats")
        # kept edges → pair ids by binary search on the sorted pair keys
        target = batch.adj.row.long()[edge_id]
        source = batch.adj.col.long()[edge_id]
        row, row_ok = _find_pairs(keys, edge_subgraph, target, num_nodes)
        col, col_ok = _find_pairs(keys, edge_subgraph, source, num_nodes)
        if check and not bool((row_ok & col_ok).all()):
            bad = int((~(row_ok & col_ok)).nonzero()[0])
            raise ValueError(
                f"kept edge {bad} (edge_id {int(edge_id[bad])}, subgraph "
                f"{int(edge_subgraph[bad])}) has an endpoint that is not a pair of its subgraph; "
                "list the endpoints' pairs in pair_subgraph/pair_node"
            )
        local, local_edge = _sort_entries(row, col, edge_id, num_pairs)

        subgraph_ptr = ptr_from_index(pair_subgraph, num_subgraphs, dtype=torch.long,
                                      check=False)
        graph_subgraph_ptr = ptr_from_index(subgraph_graph, num_graphs, dtype=torch.long,
                                            check=False)
        root_pair, root_ok = _find_pairs(keys, torch.arange(num_subgraphs, device=device),
                                         subgraph_root, num_nodes)
        root_pair = torch.where(root_ok & (subgraph_root >= 0), root_pair,
                                torch.full_like(root_pair, -1))
        pair_diag_root = root_pair[pair_subgraph]
        if num_pairs and bool((pair_diag_root < 0).any()):
            pair_diag_root = None
        node_order, node_pair_ptr = _group_by_node(pair_node, num_nodes)
        return cls(
            graph=batch,
            subgraph_graph=subgraph_graph,
            subgraph_root=subgraph_root,
            subgraph_ptr=subgraph_ptr,
            graph_subgraph_ptr=graph_subgraph_ptr,
            pair_subgraph=pair_subgraph,
            pair_node=pair_node,
            pair_graph=subgraph_graph[pair_subgraph],
            is_root=pair_node == subgraph_root[pair_subgraph],
            root_pair=root_pair,
            local=local,
            local_edge=local_edge,
            node_order=node_order,
            node_pair_ptr=node_pair_ptr,
            pair_diag_root=pair_diag_root,
            policy=policy,
            marked=marked,
        )

    # ------------------------------------------------------------------ facts
    @property
    def y(self) -> Tensor | None:
        """The graph targets of the underlying batch (``graph.y``), so training loops read a
        bag's targets as a :class:`~gnnkit.data.GraphBatch`'s."""
        return self.graph.y

    @property
    def num_graphs(self) -> int:
        """``G``."""
        return self.graph.num_graphs

    @property
    def num_nodes(self) -> int:
        """``N``, nodes of the underlying batch."""
        return self.graph.num_nodes

    @property
    def num_subgraphs(self) -> int:
        """``S``."""
        return int(self.subgraph_graph.numel())

    @property
    def num_pairs(self) -> int:
        """``P``, the number of ``(subgraph, node)`` pairs (rows of the state)."""
        return int(self.pair_subgraph.numel())

    @property
    def subgraph_counts(self) -> Tensor:
        """``(G,)`` number of subgraphs of each graph."""
        return self.graph_subgraph_ptr[1:] - self.graph_subgraph_ptr[:-1]

    def pair_features(self) -> Tensor | None:
        """``graph.x[pair_node]``: ``(P, *F)`` input features of the pairs, or ``None``."""
        return None if self.graph.x is None else self.graph.x[self.pair_node]

    def local_edge_features(self) -> Tensor | None:
        """``graph.edge_attr[local_edge]``: ``(nnz(local), *D)`` or ``None``."""
        attr = self.graph.edge_attr
        return None if attr is None else attr[self.local_edge]

    # ------------------------------------------------------------------ operators
    def _pairs(self, h: Tensor, name: str = "h") -> Tensor:
        if not isinstance(h, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(h).__name__}")
        if h.dim() == 0 or h.shape[0] != self.num_pairs:
            raise ValueError(
                f"{name} must have one row per (subgraph, node) pair: shape ({self.num_pairs}, "
                f"...), got {tuple(h.shape)}"
            )
        if h.device != self.pair_node.device:
            raise ValueError(f"{name} is on {h.device} but the SubgraphBatch is on "
                             f"{self.pair_node.device}; move one with .to(device)")
        return h

    def _rows(self, x: Tensor, rows: int, what: str, name: str = "x") -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() == 0 or x.shape[0] != rows:
            raise ValueError(f"{name} must have one row per {what}: shape ({rows}, ...), got "
                             f"{tuple(x.shape)}")
        if x.device != self.pair_node.device:
            raise ValueError(f"{name} is on {x.device} but the SubgraphBatch is on "
                             f"{self.pair_node.device}; move one with .to(device)")
        return x

    def local_sum(self, h: Tensor, reduce: str = "sum") -> Tensor:
        r"""uL: message passing inside every subgraph,
        :math:`\mathrm{out}(s, v) = \bigoplus_{w \to v \text{ kept in } s} h(s, w)`.

        ``spmm(local, h, reduce)``; ``h`` is ``(P, F)``, the result ``(P, F)`` (empty
        neighbourhoods give 0). With all pairs this is :math:`(I \otimes A)\,h` of Zhang
        et al. (2023); with a policy, the DS-GNN inner message passing of Bevilacqua et al.
        (2022). Edge-weighted variants: ``spmm(bag.local.with_values(w), h)`` with per-entry
        weights ``w`` (e.g. from :meth:`local_edge_features`).
        """
        return spmm(self.local, self._pairs(h), reduce)

    def root_neighbour_sum(self, h: Tensor, reduce: str = "sum") -> Tensor:
        r"""vL: message passing between roots,
        :math:`\mathrm{out}(u, v) = \bigoplus_{w \in N(u)} h(w, v)`
        (:math:`(A \otimes I)\,h`, Zhang et al., 2023). All-pairs bags only.

        ``h`` is ``(P, F)``; the result ``(P, F)``.
        """
        if self.vl is None:
            raise ValueError(f"root_neighbour_sum needs every (root, node) pair: build the bag "
                             f"with SubgraphBatch.all_pairs (this one is {self.policy!r})")
        return spmm(self.vl, self._pairs(h), reduce)

    def pool_subgraphs(self, h: Tensor, reduce: str = "sum") -> Tensor:
        r"""Per-subgraph readout :math:`\bigoplus_{v \in s} h(s, v)`: ``(P, F)`` →
        ``(S, F)`` (``segment`` on ``subgraph_ptr``; an empty subgraph gives 0)."""
        return segment(self._pairs(h), self.subgraph_ptr, reduce)

    def broadcast_subgraphs(self, x: Tensor) -> Tensor:
        """``x[pair_subgraph]``: ``(S, F)`` → ``(P, F)``, each subgraph's row to its pairs."""
        return self._rows(x, self.num_subgraphs, "subgraph").index_select(0, self.pair_subgraph)

    def subgraph_sum(self, h: Tensor) -> Tensor:
        r"""uG: :math:`\mathrm{out}(u, v) = \sum_w h(u, w)`, the subgraph's sum at each of its
        pairs, ``(P, F)`` → ``(P, F)``."""
        return self.broadcast_subgraphs(self.pool_subgraphs(h, "sum"))

    def subgraph_mean(self, h: Tensor) -> Tensor:
        """uG with the mean over the subgraph's pairs, ``(P, F)`` → ``(P, F)``."""
        return self.broadcast_subgraphs(self.pool_subgraphs(h, "mean"))

    def pool_nodes(self, h: Tensor, reduce: str = "sum") -> Tensor:
        r"""Across the bag, per original node: :math:`\bigoplus_{s \ni v} h(s, v)`,
        ``(P, F)`` → ``(N, F)`` (DSS-GNN's information sharing, Bevilacqua et al., 2022;
        vG's pooled form). A node in no subgraph gets 0."""
        h = self._pairs(h)
        return segment(h.index_select(0, self.node_order), self.node_pair_ptr, reduce)

    def broadcast_nodes(self, x: Tensor) -> Tensor:
        """``x[pair_node]``: ``(N, F)`` → ``(P, F)``, each node's row to its pairs."""
        return self._rows(x, self.num_nodes, "node").index_select(0, self.pair_node)

    def node_sum(self, h: Tensor) -> Tensor:
        r"""vG: :math:`\mathrm{out}(u, v) = \sum_w h(w, v)` (the sum over the subgraphs that
        contain ``v``), ``(P, F)`` → ``(P, F)``."""
        return self.broadcast_nodes(self.pool_nodes(h, "sum"))

    def node_mean(self, h: Tensor) -> Tensor:
        """vG with the mean over the subgraphs that contain ``v``, ``(P, F)`` → ``(P, F)``."""
        return self.broadcast_nodes(self.pool_nodes(h, "mean"))

    def diag_node(self, h: Tensor) -> Tensor:
        r""":math:`\mathrm{out}(u, v) = h(v, v)`, ``(P, F)`` → ``(P, F)``. All-pairs bags."""
        if self.pair_diag_node is None:
            raise ValueError(f"diag_node needs the pair (v, v) of every node: build the bag "
                             f"with SubgraphBatch.all_pairs (this one is {self.policy!r})")
        return self._pairs(h).index_select(0, self.pair_diag_node)

    def diag_root(self, h: Tensor) -> Tensor:
        r""":math:`\mathrm{out}(u, v) = h(u, u)`, ``(P, F)`` → ``(P, F)``: the root's own
        state at every pair of its subgraph (needs every subgraph's root among its nodes)."""
        if self.pair_diag_root is None:
            raise ValueError(f"diag_root needs every subgraph's root among its nodes; this "
                             f"{self.policy!r} bag has subgraphs without (root_pair == -1)")
        return self._pairs(h).index_select(0, self.pair_diag_root)

    def pool_graphs(self, x: Tensor, reduce: str = "mean") -> Tensor:
        """Bag readout over each graph's subgraphs: ``(S, F)`` → ``(G, F)`` (``segment`` on
        ``graph_subgraph_ptr``; a graph without subgraphs gives 0). ESAN's DS/DSS-GNN
        pool pairs to subgraphs (:meth:`pool_subgraphs`), then subgraphs to graphs here."""
        return segment(self._rows(x, self.num_subgraphs, "subgraph"), self.graph_subgraph_ptr,
                       reduce)

    # ------------------------------------------------------------------ derived bags
    def subsample(self, fraction: float, *, generator: torch.Generator) -> SubgraphBatch:
        """A seeded random ``fraction`` of every graph's bag (ESAN's stochastic sampling).

        Graph ``g`` keeps ``ceil(fraction · S_g)`` of its ``S_g`` subgraphs, drawn uniformly
        without replacement (so at least one when ``S_g ≥ 1``, as ESAN's ``Sampler``), in
        their original order; the same ``generator`` state gives the same bag. Operators
        that need every ``(root, node)`` pair (``vl``, ``pair_diag_node``) are dropped;
        ``distance`` and the roots are kept.

        Args:
            fraction: in ``(0, 1]`` (ESAN uses 0.05, 0.2 and 0.5).
            generator: a ``torch.Generator`` on the bag's device (seeded by the caller).

        Raises:
            ValueError: ``fraction`` outside ``(0, 1]``.
        """
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
            raise TypeError(f"fraction must be a float, got {type(fraction).__name__}")
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator (seed it with "
                            f"torch.Generator().manual_seed(seed)), got {type(generator).__name__}")
        device = self.subgraph_graph.device
        counts = self.subgraph_counts
        # ceil(fraction · S_g) in float64, as ESAN's math.ceil on Python floats
        wanted = torch.ceil(counts.double() * float(fraction)).long()
        # a random key per subgraph; sorting by (graph, key) ranks the subgraphs of a graph
        keys = torch.rand(self.num_subgraphs, generator=generator,
                          device=generator.device).to(device)
        order = torch.sort(self.subgraph_graph.double() * 2.0 + keys.double(),
                           stable=True).indices
        rank = torch.empty_like(order)
        rank[order] = torch.arange(self.num_subgraphs, device=device)
        rank = rank - self.graph_subgraph_ptr[:-1][self.subgraph_graph]
        keep = rank < wanted[self.subgraph_graph]
        return self._keep_subgraphs(keep)

    def _keep_subgraphs(self, keep: Tensor) -> SubgraphBatch:
        """The bag restricted to the subgraphs where ``keep`` (S,) is true."""
        new_subgraph = torch.cumsum(keep.long(), 0) - 1
        pair_keep = keep[self.pair_subgraph]
        new_pair = torch.cumsum(pair_keep.long(), 0) - 1
        num_pairs = int(pair_keep.sum())
        # local: an entry lives in the subgraph of its row; the remap is monotone, so the
        # kept entries stay in CSR order
        row = self.local.row.long()
        entry_keep = pair_keep[row]
        kept_rows = new_pair[row[entry_keep]]
        local = SparseMatrix(ptr_from_index(kept_rows, num_pairs, dtype=torch.long, check=False),
                             new_pair[self.local.col.long()[entry_keep]], None,
                             (num_pairs, num_pairs), validate=True)
        pair_subgraph = new_subgraph[self.pair_subgraph[pair_keep]]
        subgraph_graph = self.subgraph_graph[keep]
        pair_node = self.pair_node[pair_keep]
        root_pair = self.root_pair[keep]
        root_pair = torch.where(root_pair >= 0, new_pair[root_pair.clamp(min=0)], root_pair)
        pair_diag_root = None
        if self.pair_diag_root is not None:
            pair_diag_root = root_pair[pair_subgraph]
        node_order, node_pair_ptr = _group_by_node(pair_node, self.num_nodes)
        return SubgraphBatch(
            graph=self.graph,
            subgraph_graph=subgraph_graph,
            subgraph_root=self.subgraph_root[keep],
            subgraph_ptr=ptr_from_index(pair_subgraph, int(keep.sum()), dtype=torch.long,
                                        check=False),
            graph_subgraph_ptr=ptr_from_index(subgraph_graph, self.num_graphs, dtype=torch.long,
                                              check=False),
            pair_subgraph=pair_subgraph,
            pair_node=pair_node,
            pair_graph=self.pair_graph[pair_keep],
            is_root=self.is_root[pair_keep],
            root_pair=root_pair,
            local=local,
            local_edge=self.local_edge[entry_keep],
            node_order=node_order,
            node_pair_ptr=node_pair_ptr,
            pair_diag_root=pair_diag_root,
            distance=None if self.distance is None else self.distance[pair_keep],
            max_distance=self.max_distance,
            policy=self.policy,
            marked=self.marked,
        )

    # ------------------------------------------------------------------ devices
    def _map(self, tensor_fn: Callable[[Tensor], Tensor],
             matrix_fn: Callable[[SparseMatrix], SparseMatrix],
             graph: GraphBatch) -> SubgraphBatch:
        changes: dict[str, Any] = {"graph": graph}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Tensor):
                changes[field.name] = tensor_fn(value)
            elif isinstance(value, SparseMatrix):
                changes[field.name] = matrix_fn(value)
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> SubgraphBatch:
        """A new bag with every tensor (and the graph batch) on ``device``."""
        target = torch.device(device)
        return self._map(lambda t: t.to(target, non_blocking=non_blocking),
                         lambda m: m.to(target, non_blocking=non_blocking),
                         self.graph.to(target, non_blocking=non_blocking))

    def __repr__(self) -> str:
        return (f"SubgraphBatch(policy={self.policy!r}, num_graphs={self.num_graphs}, "
                f"num_subgraphs={self.num_subgraphs}, num_pairs={self.num_pairs}, "
                f"local_nnz={self.local.nnz}"
                + ("" if self.vl is None else f", vl_nnz={self.vl.nnz}")
                + ("" if self.max_distance is None else f", max_distance={self.max_distance}")
                + ")")


# ------------------------------------------------------------------ helpers
def _check_range(name: str, tensor: Tensor, low: int, high: int) -> None:
    if tensor.numel() and (int(tensor.min()) < low or int(tensor.max()) >= high):
        raise ValueError(f"{name} values must lie in [{low}, {high}), found "
                         f"{int(tensor.min())} … {int(tensor.max())}")


def _find_pairs(keys: Tensor, subgraph: Tensor, node: Tensor,
                num_nodes: int) -> tuple[Tensor, Tensor]:
    """Positions of the pairs ``(subgraph[k], node[k])`` among the sorted ``keys`` and
    whether each exists."""
    wanted = subgraph * num_nodes + node
    if keys.numel() == 0:
        return torch.zeros_like(wanted), torch.zeros_like(wanted, dtype=torch.bool)
    position = torch.searchsorted(keys, wanted).clamp(max=keys.numel() - 1)
    return position, keys[position] == wanted


def _group_by_node(pair_node: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """``(order, ptr)``: pairs grouped by node (stable), and the node pointer into it."""
    order = torch.sort(pair_node, stable=True).indices
    return order, ptr_from_index(pair_node, num_nodes, dtype=torch.long, check=False)
