"""Reader of the TU graph-classification format (Morris et al., TUDataset).

Files of a dataset ``DS`` (comma-separated text, 1-based ids, ``n`` nodes, ``m`` edge
entries, ``N`` graphs):

* ``DS_A.txt`` (``m`` lines): ``row, col`` -- one directed entry of the block-diagonal
  adjacency; undirected graphs list both directions.
* ``DS_graph_indicator.txt`` (``n`` lines): graph id of every node.
* ``DS_graph_labels.txt`` (``N`` lines): class label of every graph.
* optional ``DS_node_labels.txt`` (``n``), ``DS_edge_labels.txt`` (``m``),
  ``DS_node_attributes.txt`` (``n`` rows), ``DS_edge_attributes.txt`` (``m`` rows),
  ``DS_graph_attributes.txt`` (``N``, regression targets).

Semantics match PyG's ``TUDataset`` (``torch_geometric.io.read_tu_data``):

* ``x`` = node attributes followed by the one-hot encoding of every node-label column (labels
  shifted so that the smallest is 0); ``edge_attr`` likewise from edge attributes/labels.
* Self loops are removed and the entries coalesced (sorted by source then target; duplicate
  entries merged, their edge features summed, as PyG does).
* ``y`` = graph labels mapped to ``0..C-1`` in sorted order (MUTAG's -1/1 become 0/1; the
  original values are in ``metadata["label_values"]``); with ``graph_attributes`` the float
  targets instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from gnnkit.datasets._errors import DatasetFileError
from gnnkit.datasets._graph import GraphDataset
from gnnkit.datasets._io import read_table, require_file, unique_inverse

__all__ = ["read_tu"]


def _one_hot_columns(path: Path, labels: np.ndarray) -> np.ndarray:
    """``(rows, columns)`` integer labels -> concatenated one-hot blocks, float32."""
    blocks = []
    for column in labels.T:
        shifted = column - column.min()
        block = np.zeros((column.size, int(shifted.max()) + 1), dtype=np.float32)
        block[np.arange(column.size), shifted] = 1.0
        blocks.append(block)
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((labels.shape[0], 0))


def _optional(path: Path, rows: int, dtype: type, what: str) -> np.ndarray | None:
    if not path.is_file():
        return None
    table = read_table(path, num_columns=None, dtype=dtype)
    if table.shape[0] != rows:
        raise DatasetFileError(path, f"has {table.shape[0]} lines, expected {rows} ({what})")
    return table


def read_tu(root: str | os.PathLike[str], name: str) -> GraphDataset:
    """Read the TU dataset ``name`` (file prefix, e.g. ``MUTAG``) from ``root``.

    Returns a :class:`GraphDataset` with local edge ids, ``x`` ``(n, F)`` float32 or
    ``None`` (no node labels/attributes, e.g. IMDB-BINARY), ``edge_attr`` or ``None``, and
    ``y`` ``(N,)`` int64 (or float32 regression targets).

    Raises:
        MissingDatasetFileError: ``A``, ``graph_indicator`` or the graph targets are missing.
        DatasetFileError: wrong line counts, ids out of range, nodes not grouped by graph,
            edges between different graphs.
    """
    root = Path(root)

    def path_of(part: str) -> Path:
        return root / f"{name}_{part}.txt"

    a_path = path_of("A")
    entries = read_table(a_path, num_columns=2, why=f"TU {name} adjacency") - 1
    indicator_path = path_of("graph_indicator")
    graph_of_node = read_table(indicator_path, num_columns=1, why="TU graph indicator")[:, 0] - 1
    num_nodes = graph_of_node.size
    if num_nodes == 0 or graph_of_node.min() != 0:
        raise DatasetFileError(indicator_path, "graph ids must start at 1")
    if np.any(np.diff(graph_of_node) < 0) or np.any(np.diff(graph_of_node) > 1):
        raise DatasetFileError(indicator_path, "nodes must be grouped by graph, ids 1..N in order")
    num_graphs = int(graph_of_node[-1]) + 1
    if entries.size and (entries.min() < 0 or entries.max() >= num_nodes):
        bad = int(entries.min() if entries.min() < 0 else entries.max()) + 1
        raise DatasetFileError(a_path, f"node id {bad} out of range 1..{num_nodes}")
    cross = graph_of_node[entries[:, 0]] != graph_of_node[entries[:, 1]]
    if cross.any():
        line = int(np.flatnonzero(cross)[0]) + 1
        raise DatasetFileError(a_path, f"line {line} joins nodes of different graphs")

    node_labels = _optional(path_of("node_labels"), num_nodes, np.int64, "one per node")
    node_attributes = _optional(path_of("node_attributes"), num_nodes, np.float32, "per node")
    edge_labels = _optional(path_of("edge_labels"), entries.shape[0], np.int64, "one per entry")
    edge_attributes = _optional(path_of("edge_attributes"), entries.shape[0], np.float32,
                                "one per A.txt line")
    node_blocks = [b for b in (node_attributes,
                               None if node_labels is None else
                               _one_hot_columns(path_of("node_labels"), node_labels))
                   if b is not None]
    edge_blocks = [b for b in (edge_attributes,
                               None if edge_labels is None else
                               _one_hot_columns(path_of("edge_labels"), edge_labels))
                   if b is not None]
    x = np.concatenate(node_blocks, axis=1).astype(np.float32) if node_blocks else None
    edge_feat = np.concatenate(edge_blocks, axis=1).astype(np.float32) if edge_blocks else None

    metadata: dict[str, object] = {"name": name, "format": "tu", "source": str(root)}
    graph_attributes = _optional(path_of("graph_attributes"), num_graphs, np.float32,
                                 "one per graph")
    if graph_attributes is not None:
        y = torch.from_numpy(graph_attributes.reshape(num_graphs, -1).squeeze(1))
    else:
        labels_path = require_file(path_of("graph_labels"), f"TU {name} graph labels")
        labels = read_table(labels_path, num_columns=1)[:, 0]
        if labels.size != num_graphs:
            raise DatasetFileError(labels_path, f"{labels.size} labels for {num_graphs} graphs")
        values, inverse = np.unique(labels, return_inverse=True)
        y = torch.from_numpy(inverse.astype(np.int64))
        metadata["label_values"] = values.tolist()
        metadata["num_classes"] = int(values.size)

    # remove self loops, then coalesce (sort + merge duplicates, summing their features)
    keep = entries[:, 0] != entries[:, 1]
    entries = entries[keep]
    keys = entries[:, 0] * num_nodes + entries[:, 1]
    unique_keys, position = unique_inverse(keys)
    if edge_feat is not None:
        merged = np.zeros((unique_keys.size, edge_feat.shape[1]), dtype=np.float32)
        np.add.at(merged, position, edge_feat[keep])
        edge_feat = merged
    sources, targets = unique_keys // num_nodes, unique_keys % num_nodes
    node_ptr = np.concatenate([[0], np.cumsum(np.bincount(graph_of_node, minlength=num_graphs))])
    edge_counts = np.bincount(graph_of_node[sources], minlength=num_graphs)
    offsets = node_ptr[graph_of_node[sources]]
    metadata["raw_entries"] = int(keep.size)
    metadata["raw_self_loops"] = int(np.count_nonzero(~keep))
    return GraphDataset(
        edge_index=torch.from_numpy(np.stack([sources - offsets, targets - offsets])),
        node_ptr=torch.from_numpy(node_ptr.astype(np.int64)),
        edge_ptr=torch.from_numpy(np.concatenate([[0], np.cumsum(edge_counts)]).astype(np.int64)),
        x=None if x is None else torch.from_numpy(x),
        edge_attr=None if edge_feat is None else torch.from_numpy(edge_feat),
        y=y,
        metadata=metadata,
    )
