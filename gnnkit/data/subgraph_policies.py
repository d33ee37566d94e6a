"""ESAN's bag-of-subgraphs policies (Bevilacqua et al., 2022) as :class:`SubgraphBatch` values.

Each function takes a :class:`gnnkit.data.GraphBatch` and builds the bag of every graph at
once, vectorised over the batch (no Python loop over graphs, nodes or edges), through
:meth:`SubgraphBatch.from_entries`. The semantics follow the reference implementation
(``beabevi/ESAN``, ``data.py``):

* :func:`node_deleted`: one subgraph per node ``u``, rooted at ``u``, with **every** node of
  the graph and every edge not incident to ``u`` (the deleted node stays as an isolated node,
  as ESAN's ``NodeDeleted`` keeps ``num_nodes`` and ``x``).
* :func:`edge_deleted`: one subgraph per undirected edge ``{a, b}`` (self loops included),
  without a root, with every node and every stored edge except those between ``a`` and ``b``
  (both directions; repeated copies too). A graph without edges gets one subgraph, the graph
  itself, as ESAN's ``EdgeDeleted`` does.
* :func:`ego_nets`: one subgraph per node ``u``, rooted at ``u``, keeping the edges whose two
  endpoints lie within ``k`` hops of ``u`` (PyG's ``k_hop_subgraph``, which ESAN's ``EgoNets``
  calls). ESAN keeps **all** the graph's nodes in each ego-net subgraph (those outside are
  isolated); ``keep_all_nodes=False`` keeps only the ego-net's nodes instead. ``plus=True``
  is ESAN's ego-nets+: the root is marked (``marked=True``; ESAN prepends ``[1, 0]`` to the
  root's features and ``[0, 1]`` to the others', which a model builds from ``is_root``).

Random subsampling of a fraction of each bag is :meth:`SubgraphBatch.subsample`.

Reference:
    Bevilacqua, Frasca, Lim, Srinivasan, Cai, Balamurugan, Bronstein, Maron (2022).
    *Equivariant Subgraph Aggregation Networks.* ICLR.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gnnkit.sparse import expand_ranges, index_from_counts, ptr_from_counts

from .batch import GraphBatch
from .subgraph import SubgraphBatch, _all_pairs_layout, _bfs, _check_batch

__all__ = ["edge_deleted", "ego_nets", "node_deleted"]


def _root_edges(batch: GraphBatch) -> tuple[Tensor, Tensor]:
    """``(root, edge)``: every node paired with every edge (CSR position) of its graph,
    grouped by root: ``Σ_g n_g · e_g`` entries."""
    edge_ptr = batch.edge_ptr
    counts = (edge_ptr[1:] - edge_ptr[:-1])[batch.batch]
    edge = expand_ranges(edge_ptr[:-1][batch.batch], counts, check=False)
    root = torch.repeat_interleave(torch.arange(batch.num_nodes, device=counts.device), counts,
                                   output_size=edge.numel())
    return root, edge


def _every_node(batch: GraphBatch, subgraph_graph: Tensor) -> tuple[Tensor, Tensor]:
    """``(pair_subgraph, pair_node)`` with every node of its graph in each subgraph."""
    sizes = batch.node_counts[subgraph_graph]
    total = int(sizes.sum())
    pair_subgraph = index_from_counts(sizes, total=total, check=False)
    pair_node = expand_ranges(batch.ptr[:-1][subgraph_graph], sizes, total=total, check=False)
    return pair_subgraph, pair_node


def node_deleted(batch: GraphBatch) -> SubgraphBatch:
    """ESAN's node-deleted bag: subgraph ``u`` = the graph without the edges of ``u``.

    ``S = N`` subgraphs (subgraph ``u`` rooted at node ``u``), ``P = Σ_g n_g²`` pairs (the
    deleted node is kept, isolated); ``local`` has ``Σ_g Σ_u (e_g - deg(u))`` entries, where
    ``deg(u)`` counts the stored edges incident to ``u`` (a self loop once).
    """
    batch = _check_batch(batch)
    subgraph_graph = batch.batch
    pair_subgraph, pair_node = _every_node(batch, subgraph_graph)
    root, edge = _root_edges(batch)
    keep = (batch.adj.row.long()[edge] != root) & (batch.adj.col.long()[edge] != root)
    return SubgraphBatch.from_entries(
        batch, subgraph_graph=subgraph_graph,
        subgraph_root=torch.arange(batch.num_nodes, device=subgraph_graph.device),
        pair_subgraph=pair_subgraph, pair_node=pair_node, edge_subgraph=root[keep],
        edge_id=edge[keep], policy="node_deleted", check=False,
    )


def edge_deleted(batch: GraphBatch) -> SubgraphBatch:
    """ESAN's edge-deleted bag: one subgraph per undirected edge ``{a, b}``, without it.

    Graph ``g`` gets one subgraph per distinct unordered pair ``{a, b}`` among its stored
    edges, in increasing ``(min, max)`` order, or a single subgraph (the graph itself) when
    it has no edges. Each subgraph holds every node of the graph and every stored edge except
    the ``a → b`` and ``b → a`` ones. Roots are ``-1``.
    """
    batch = _check_batch(batch)
    device = batch.ptr.device
    num_nodes, num_graphs = batch.num_nodes, batch.num_graphs
    target, source = batch.adj.row.long(), batch.adj.col.long()
    edge_key = torch.minimum(source, target) * num_nodes + torch.maximum(source, target)
    undirected = torch.unique(edge_key)  # sorted: grouped by graph, as node ids are
    per_graph = torch.bincount(batch.batch[undirected // max(num_nodes, 1)],
                               minlength=num_graphs)
    counts = per_graph.clamp(min=1)  # a graph without edges keeps itself
    subgraph_ptr = ptr_from_counts(counts, check=False)
    num_subgraphs = int(subgraph_ptr[-1])
    subgraph_graph = index_from_counts(counts, total=num_subgraphs, check=False)
    deleted = torch.full((num_subgraphs,), -1, dtype=torch.long, device=device)
    has_edges = per_graph > 0
    deleted[expand_ranges(subgraph_ptr[:-1][has_edges], per_graph[has_edges],
                          check=False)] = undirected
    pair_subgraph, pair_node = _every_node(batch, subgraph_graph)
    # every (subgraph, edge of its graph), minus the deleted pair
    edge_ptr = batch.edge_ptr
    edge_counts = (edge_ptr[1:] - edge_ptr[:-1])[subgraph_graph]
    edge = expand_ranges(edge_ptr[:-1][subgraph_graph], edge_counts, check=False)
    owner = torch.repeat_interleave(torch.arange(num_subgraphs, device=device), edge_counts,
                                    output_size=edge.numel())
    keep = edge_key[edge] != deleted[owner]
    return SubgraphBatch.from_entries(
        batch, subgraph_graph=subgraph_graph,
        subgraph_root=torch.full((num_subgraphs,), -1, dtype=torch.long, device=device),
        pair_subgraph=pair_subgraph, pair_node=pair_node, edge_subgraph=owner[keep],
        edge_id=edge[keep], policy="edge_deleted", check=False,
    )


def ego_nets(batch: GraphBatch, k: int, *, plus: bool = False,
             keep_all_nodes: bool = True) -> SubgraphBatch:
    """ESAN's ego-nets (``plus=False``) or ego-nets+ (``plus=True``) bag with ``k`` hops.

    Subgraph ``u`` (rooted at ``u``) keeps the edges ``w → v`` with ``d(u, v) ≤ k`` and
    ``d(u, w) ≤ k``, where ``d(u, v)`` is the length of a shortest directed path
    ``v → … → u`` (the nodes whose messages reach ``u`` in ``k`` steps; PyG's
    ``k_hop_subgraph(u, k)``). Hop counts come from the multi-source breadth-first search
    of :mod:`gnnkit.data.subgraph`, stopped after ``k`` rounds.

    Args:
        batch: the graphs.
        k: number of hops, at least 1.
        plus: ego-nets+: mark the root (``marked=True``).
        keep_all_nodes: ``True`` (ESAN): every node of the graph is a pair of every subgraph,
            those outside the ego-net isolated; ``False``: only the ego-net's nodes.

    Raises:
        ValueError: ``k < 1``.
    """
    batch = _check_batch(batch)
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k (the number of hops of the ego-nets) must be at least 1, got {k}")
    device = batch.ptr.device
    num_nodes = batch.num_nodes
    inside = _bfs(batch.adj, batch.ptr, batch.batch, k) >= 0  # all-pairs layout
    _, pair_start, _ = _all_pairs_layout(batch.ptr, batch.batch)
    node_start = batch.ptr[:-1][batch.batch]
    pair_subgraph, pair_node = _every_node(batch, batch.batch)
    if not keep_all_nodes:
        pair_subgraph, pair_node = pair_subgraph[inside], pair_node[inside]
    root, edge = _root_edges(batch)
    target = batch.adj.row.long()[edge]
    source = batch.adj.col.long()[edge]
    base = pair_start[root] - node_start[root]
    keep = inside[base + target] & inside[base + source]
    return SubgraphBatch.from_entries(
        batch, subgraph_graph=batch.batch,
        subgraph_root=torch.arange(num_nodes, device=device),
        pair_subgraph=pair_subgraph, pair_node=pair_node, edge_subgraph=root[keep],
        edge_id=edge[keep], policy="ego_nets_plus" if plus else "ego_nets", marked=plus,
        check=False,
    )
