"""Message-passing layers, one per module, all on :mod:`gnnkit.sparse`.

Every layer is a :class:`~gnnkit.nn.conv.message_passing.MessagePassing` (message / aggregate
/ update, lowered to fused sparse ops), accepts a :data:`GraphLike` — a
:class:`gnnkit.sparse.SparseMatrix`, an ``edge_index`` (+ weights) or a PyG object (see
:func:`~gnnkit.nn.conv.message_passing.as_sparse_matrix`) — has ``reset_parameters()``, and
states its equation and shapes.
"""

from __future__ import annotations

from .aggr import (
    AGGREGATIONS,
    Aggregation,
    LCMAggregation,
    MaxAggregation,
    MeanAggregation,
    MinAggregation,
    SoftmaxAggregation,
    SumAggregation,
    resolve_aggregation,
)
from .gat import AttentionOutput, GATConv
from .gatv2 import GATv2Conv
from .gcn import GCNConv
from .gin import GINConv, GINEConv
from .lg import LGConv
from .message_passing import (
    GraphCache,
    GraphCacheOwner,
    GraphInput,
    GraphLike,
    MessagePassing,
    as_sparse_matrix,
    with_self_loops,
)
from .sage import SAGEConv

__all__ = [
    "AGGREGATIONS",
    "Aggregation",
    "AttentionOutput",
    "GATConv",
    "GATv2Conv",
    "GCNConv",
    "GINConv",
    "GINEConv",
    "GraphCache",
    "GraphCacheOwner",
    "GraphInput",
    "GraphLike",
    "LCMAggregation",
    "LGConv",
    "MaxAggregation",
    "MeanAggregation",
    "MessagePassing",
    "MinAggregation",
    "SAGEConv",
    "SoftmaxAggregation",
    "SumAggregation",
    "as_sparse_matrix",
    "resolve_aggregation",
    "with_self_loops",
]
