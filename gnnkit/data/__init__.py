"""Batches of many graphs for graph-level learning (below the models in gnnkit's layering).

:class:`GraphBatch` is ``G`` graphs as one block-diagonal graph with a node→graph ``batch``
vector and a graph pointer ``ptr``; :func:`collate` builds one and is the ``collate_fn`` of a
``torch.utils.data.DataLoader`` over :class:`gnnkit.datasets.Graph` items. Readouts that reduce
a batch to one row per graph live in :mod:`gnnkit.nn.pool`. :mod:`gnnkit.data.wl` is the 1-WL
test (colour refinement) on many graphs at once: which graphs no message-passing network can
tell apart. :mod:`gnnkit.data.subgraph` is the bag-of-subgraphs structure of subgraph GNNs
(:class:`SubgraphBatch`: ``(subgraph, node)`` pairs with their sparse operators and root
distances), and :mod:`gnnkit.data.subgraph_policies` builds ESAN's bags.
:mod:`gnnkit.data.sampling` samples neighbourhoods for mini-batch training
(:func:`sample_neighbors`) and :mod:`gnnkit.data.loader` iterates over batches of seed nodes
(:class:`NeighborLoader`); :mod:`gnnkit.data.link_sampling` and :mod:`gnnkit.data.link_loader`
do the same for batches of seed pairs in link prediction (:func:`sample_links`,
:class:`LinkNeighborLoader`, and :func:`remove_sampled_target_links` for target-link removal
on a sampled batch).
"""

from __future__ import annotations

from .batch import GraphBatch, collate
from .link_loader import LinkNeighborLoader
from .link_sampling import LinkSample, remove_sampled_target_links, sample_links
from .loader import NeighborLoader
from .sampling import SampledSubgraph, sample_neighbors, sampling_generator
from .subgraph import PairDistances, SubgraphBatch, bfs_distances, pair_distances
from .subgraph_policies import edge_deleted, ego_nets, node_deleted
from .wl import (
    WLColoring,
    count_equivalent_pairs,
    wl_classes,
    wl_colors,
    wl_equivalent_pairs,
    wl_histograms,
    wl_separates,
)

__all__ = [
    "GraphBatch",
    "LinkNeighborLoader",
    "LinkSample",
    "NeighborLoader",
    "PairDistances",
    "SampledSubgraph",
    "SubgraphBatch",
    "WLColoring",
    "bfs_distances",
    "collate",
    "count_equivalent_pairs",
    "edge_deleted",
    "ego_nets",
    "node_deleted",
    "pair_distances",
    "remove_sampled_target_links",
    "sample_links",
    "sample_neighbors",
    "sampling_generator",
    "wl_classes",
    "wl_colors",
    "wl_equivalent_pairs",
    "wl_histograms",
    "wl_separates",
]
