"""Batches of many graphs for graph-level learning (below the models in gnnkit's layering).

:class:`GraphBatch` is ``G`` graphs as one block-diagonal graph with a node→graph ``batch``
vector and a graph pointer ``ptr``; :func:`collate` builds one and is the ``collate_fn`` of a
``torch.utils.data.DataLoader`` over :class:`gnnkit.datasets.Graph` items. Readouts that reduce
a batch to one row per graph live in :mod:`gnnkit.nn.pool`. :mod:`gnnkit.data.wl` is the 1-WL
test (colour refinement) on many graphs at once: which graphs no message-passing network can
tell apart.
"""

from __future__ import annotations

from .batch import GraphBatch, collate
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
    "WLColoring",
    "collate",
    "count_equivalent_pairs",
    "wl_classes",
    "wl_colors",
    "wl_equivalent_pairs",
    "wl_histograms",
    "wl_separates",
]
