"""Batches of many graphs for graph-level learning (below the models in gnnkit's layering).

:class:`GraphBatch` is ``G`` graphs as one block-diagonal graph with a node→graph ``batch``
vector and a graph pointer ``ptr``; :func:`collate` builds one and is the ``collate_fn`` of a
``torch.utils.data.DataLoader`` over :class:`gnnkit.datasets.Graph` items. Readouts that reduce
a batch to one row per graph live in :mod:`gnnkit.nn.pool`.
"""

from __future__ import annotations

from .batch import GraphBatch, collate

__all__ = ["GraphBatch", "collate"]
