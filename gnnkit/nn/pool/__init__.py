"""Readouts (global pooling): one row per graph of a batch, from its node rows.

Every readout takes node features ``x`` ``(N, *F)`` and the batch's graph pointer ``ptr``
``(G + 1,)`` (``gnnkit.data.GraphBatch.ptr``: graph ``g`` owns rows ``ptr[g]:ptr[g+1]``) and
reduces with the core's :func:`gnnkit.sparse.segment` op: deterministic (no atomics),
differentiable, and free of graph breaks under ``torch.compile(fullgraph=True)``.
Graphs without nodes read out as 0.
"""

from __future__ import annotations

from .attention import AttentionalReadout, graph_softmax
from .global_pool import global_add_pool, global_max_pool, global_mean_pool

__all__ = [
    "AttentionalReadout",
    "global_add_pool",
    "global_max_pool",
    "global_mean_pool",
    "graph_softmax",
]
