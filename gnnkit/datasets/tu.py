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

from gnnkit.datasets._errors import DamagedDatasetFileError, DatasetFileError
from gnnkit.datasets._graph import GraphDataset
from gnnkit.datasets._io import read_table, require_file, unique_inverse
from gnnkit.sparse.index import pair_keys, ptr_from_index, split_keys

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


def _remedy(name: str) -> str:
    return (f"re-download it (`gnnkit datasets download {name} --force` for a registered "
            "TU dataset) or replace it with the file from the TU zip")


def _optional(path: Path, rows: int | None, dtype: type, what: str,
              remedy: str) -> np.ndarray | None:
    """The optional table at ``path`` (``None`` if absent); ``rows=None`` skips the count."""
    if not path.is_file():
        return None
    table = read_table(path, num_columns=None, dtype=dtype, final_newline=True, remedy=remedy)
    if rows is not None and table.shape[0] != rows:
        raise DatasetFileError(path, f"has {table.shape[0]} lines, expected {rows} ({what})")
    return table


def _check_node_ids(
    a_path: Path, indicator_path: Path, entries: np.ndarray, graph_of_node: np.ndarray,
    per_node_rows: dict[Path, int], remedy: str,
) -> None:
    """Check that ``A.txt``'s node ids lie in ``1..n`` (``n`` = graph-indicator lines).

    When ``A.txt`` uses ids beyond ``n``, the file to blame is decided from the evidence: if a
    per-node file (node labels/attributes) has enough lines for those ids, or -- with no
    per-node file -- every out-of-range id is joined only to nodes of the last graph, the
    graph indicator is short (truncated) and is named; otherwise ``A.txt`` is.
    """
    num_nodes = graph_of_node.size
    if not entries.size:
        return
    smallest, largest = int(entries.min()) + 1, int(entries.max()) + 1  # 1-based
    if smallest < 1:
        raise DatasetFileError(a_path, f"node id {smallest} out of range 1..{num_nodes}")
    if largest <= num_nodes:
        return
    longer = {path: rows for path, rows in per_node_rows.items() if rows >= largest}
    beyond = entries >= num_nodes
    partners = entries[beyond[:, 0] ^ beyond[:, 1]]
    partners = partners[partners < num_nodes]
    last_graph = int(graph_of_node[-1])
    tail_only = (not per_node_rows and partners.size > 0
                 and bool(np.all(graph_of_node[partners] == last_graph)))
    if longer:
        witness, rows = next(iter(longer.items()))
        raise DamagedDatasetFileError(
            indicator_path,
            f"has {num_nodes} lines but {witness.name} has {rows} and {a_path.name} uses node "
            f"ids up to {largest}: the graph indicator is missing {rows - num_nodes} line(s) "
            "(it needs one line per node)", remedy,
        )
    if tail_only:
        raise DamagedDatasetFileError(
            indicator_path,
            f"has {num_nodes} lines but {a_path.name} uses node ids up to {largest}, joined "
            f"only to nodes of the last graph ({last_graph + 1}): the graph indicator looks "
            f"{largest - num_nodes} line(s) short (it needs one line per node)", remedy,
        )
    raise DatasetFileError(
        a_path, f"node id {largest} out of range 1..{num_nodes} "
                f"({indicator_path.name} has {num_nodes} lines, one per node)",
    )


def read_tu(root: str | os.PathLike[str], name: str) -> GraphDataset:
    """Read the TU dataset ``name`` (file prefix, e.g. ``MUTAG``) from ``root``.

    Returns a :class:`GraphDataset` with local edge ids, ``x`` ``(n, F)`` float32 or
    ``None`` (no node labels/attributes, e.g. IMDB-BINARY), ``edge_attr`` or ``None``, and
    ``y`` ``(N,)`` int64 (or float32 regression targets).

    Raises:
        MissingDatasetFileError: ``A``, ``graph_indicator`` or the graph targets are missing.
        DamagedDatasetFileError: a file ends mid-line (truncated), or the graph indicator is
            shorter than ``A.txt`` and the per-node files say (the indicator is named).
        DatasetFileError: wrong line counts, ids out of range, nodes not grouped by graph,
            edges between different graphs.
    """
    root = Path(root)
    remedy = _remedy(name)

    def path_of(part: str) -> Path:
        return root / f"{name}_{part}.txt"

    a_path = path_of("A")
    entries = read_table(a_path, num_columns=2, why=f"TU {name} adjacency",
                         final_newline=True, remedy=remedy) - 1
    indicator_path = path_of("graph_indicator")
    graph_of_node = read_table(indicator_path, num_columns=1, why="TU graph indicator",
                               final_newline=True, remedy=remedy)[:, 0] - 1
    num_nodes = graph_of_node.size
    if num_nodes == 0 or graph_of_node.min() != 0:
        raise DatasetFileError(indicator_path, "graph ids must start at 1")
    if np.any(np.diff(graph_of_node) < 0) or np.any(np.diff(graph_of_node) > 1):
        raise DatasetFileError(indicator_path, "nodes must be grouped by graph, ids 1..N in order")
    num_graphs = int(graph_of_node[-1]) + 1
    node_labels = _optional(path_of("node_labels"), None, np.int64, "", remedy)
    node_attributes = _optional(path_of("node_attributes"), None, np.float32, "", remedy)
    per_node_rows = {path_of(part): table.shape[0]
                     for part, table in (("node_labels", node_labels),
                                         ("node_attributes", node_attributes))
                     if table is not None}
    _check_node_ids(a_path, indicator_path, entries, graph_of_node, per_node_rows, remedy)
    for path, rows in per_node_rows.items():
        if rows != num_nodes:
            raise DatasetFileError(path, f"has {rows} lines, expected {num_nodes} (one per node, "
                                         f"as {indicator_path.name} has)")
    cross = graph_of_node[entries[:, 0]] != graph_of_node[entries[:, 1]]
    if cross.any():
        line = int(np.flatnonzero(cross)[0]) + 1
        raise DatasetFileError(a_path, f"line {line} joins nodes of different graphs")

    edge_labels = _optional(path_of("edge_labels"), entries.shape[0], np.int64,
                            "one per A.txt line", remedy)
    edge_attributes = _optional(path_of("edge_attributes"), entries.shape[0], np.float32,
                                "one per A.txt line", remedy)
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
                                 "one per graph", remedy)
    if graph_attributes is not None:
        y = torch.from_numpy(graph_attributes.reshape(num_graphs, -1).squeeze(1))
    else:
        labels_path = require_file(path_of("graph_labels"), f"TU {name} graph labels")
        labels = read_table(labels_path, num_columns=1, final_newline=True, remedy=remedy)[:, 0]
        if labels.size != num_graphs:
            raise DatasetFileError(labels_path, f"{labels.size} labels for {num_graphs} graphs")
        values, inverse = np.unique(labels, return_inverse=True)
        y = torch.from_numpy(inverse.astype(np.int64))
        metadata["label_values"] = values.tolist()
        metadata["num_classes"] = int(values.size)

    # remove self loops, then coalesce (sort + merge duplicates, summing their features)
    keep = entries[:, 0] != entries[:, 1]
    entries = entries[keep]
    keys = pair_keys(entries[:, 0], entries[:, 1], num_nodes, num_nodes)
    unique_keys, position = unique_inverse(keys)
    if edge_feat is not None:
        merged = np.zeros((unique_keys.size, edge_feat.shape[1]), dtype=np.float32)
        np.add.at(merged, position, edge_feat[keep])
        edge_feat = merged
    sources, targets = split_keys(unique_keys, num_nodes)
    node_ptr = ptr_from_index(graph_of_node, num_graphs)
    owner = graph_of_node[sources]
    offsets = node_ptr[owner]
    metadata["raw_entries"] = int(keep.size)
    metadata["raw_self_loops"] = int(np.count_nonzero(~keep))
    return GraphDataset(
        edge_index=torch.from_numpy(np.stack([sources - offsets, targets - offsets])),
        node_ptr=torch.from_numpy(node_ptr.astype(np.int64)),
        edge_ptr=torch.from_numpy(ptr_from_index(owner, num_graphs).astype(np.int64)),
        x=None if x is None else torch.from_numpy(x),
        edge_attr=None if edge_feat is None else torch.from_numpy(edge_feat),
        y=y,
        metadata=metadata,
    )
