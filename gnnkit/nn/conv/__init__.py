"""Message-passing layers, one per module, all on :mod:`gnnkit.sparse`.

Every layer accepts a :class:`gnnkit.sparse.SparseMatrix`, an ``edge_index`` (+ weights) or a
PyG object (see :func:`~gnnkit.nn.conv.message_passing.as_sparse_matrix`), is a plain
``torch.nn.Module`` with ``reset_parameters()``, and states its equation and shapes.
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
from .gat import GATConv
from .gatv2 import GATv2Conv
from .gcn import GCNConv, gcn_normalize
from .gin import GINConv, GINEConv
from .lg import LGConv
from .message_passing import GraphInput, MessagePassing, as_sparse_matrix, with_self_loops
from .sage import SAGEConv

__all__ = [
    "AGGREGATIONS",
    "Aggregation",
    "GATConv",
    "GATv2Conv",
    "GCNConv",
    "GINConv",
    "GINEConv",
    "GraphInput",
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
    "gcn_normalize",
    "resolve_aggregation",
    "with_self_loops",
]
