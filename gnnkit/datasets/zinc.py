"""Reader of the ZINC-12k subset (benchmarking-gnns / PyG ``ZINC(subset=True)``) in text form.

Files (fseiffarth/RuleGNN ``Data/.../ZINC/raw/``, see the dataset's SOURCE.txt):

* ``ZINC_Nodes.txt``: ``graph_id node_id atom_type`` per line, graphs in order; within a
  graph the lines may come in any order but the ids are a permutation of ``0..n_g-1``.
* ``ZINC_Edges.txt``: ``graph_id u v bond_type`` per undirected bond, listed once
  (``bond_type`` 1 single, 2 double, 3 triple).
* ``ZINC_Labels.txt``: ``graph_id y`` (the constrained-solubility target, a float32 value).
* ``ZINC_splits.json``: ``[{"test": [...], "model_selection": [{"train": [...],
  "validation": [...]}]}]`` -- graphs 0-9999 train, 10000-10999 val, 11000-11999 test.

The result equals PyG's processed dataset: ``x`` ``(n, 1)`` int64 atom types,
``edge_index`` with both directions sorted by (source, target) within each graph,
``edge_attr`` ``(E,)`` int64 bond types, ``y`` ``(G,)`` float32.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from gnnkit.datasets._errors import DatasetFileError
from gnnkit.datasets._graph import GraphDataset
from gnnkit.datasets._io import check_index_range, read_table, require_file
from gnnkit.sparse.index import ptr_from_counts

__all__ = ["read_zinc"]


def _read_splits(path: Path, num_graphs: int) -> dict[str, torch.Tensor]:
    path = require_file(path, "ZINC split file")
    try:
        content = json.loads(path.read_text())
        first = content[0]
        selection = first["model_selection"][0]
        raw = {"train": selection["train"], "val": selection["validation"], "test": first["test"]}
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise DatasetFileError(path, f"unexpected split layout ({error!r})") from error
    splits = {}
    for name, ids in raw.items():
        try:
            index = np.asarray(ids, dtype=np.int64)
        except (TypeError, ValueError) as error:
            raise DatasetFileError(path, f"split {name!r} holds non-integer ids") from error
        check_index_range(path, f"graph id in split {name!r}", index, 0, num_graphs)
        splits[name] = torch.from_numpy(index)
    return splits


def read_zinc(root: str | os.PathLike[str]) -> GraphDataset:
    """Read the four ZINC-subset text files in ``root`` into a :class:`GraphDataset`.

    Raises:
        MissingDatasetFileError: a file is absent.
        DatasetFileError: graphs out of order, node ids not a permutation, bonds referencing
            nodes outside their molecule, a label count mismatch, or split ids out of range.
    """
    root = Path(root)
    nodes_path = root / "ZINC_Nodes.txt"
    nodes = read_table(nodes_path, num_columns=3, delimiter=None, why="ZINC atoms")
    graph_of_node = nodes[:, 0]
    if graph_of_node.size == 0 or graph_of_node[0] != 0 or np.any(
        (np.diff(graph_of_node) != 0) & (np.diff(graph_of_node) != 1)
    ):
        raise DatasetFileError(nodes_path, "graph ids must run 0, 1, 2, ... in order")
    num_graphs = int(graph_of_node[-1]) + 1
    counts = np.bincount(graph_of_node, minlength=num_graphs)
    node_ptr = ptr_from_counts(counts)
    # lines may list a molecule's atoms in any order: place each by its node id
    local = nodes[:, 1]
    outside = (local < 0) | (local >= counts[graph_of_node])
    if outside.any():
        line = int(np.flatnonzero(outside)[0]) + 1
        raise DatasetFileError(nodes_path, f"line {line}: node id outside 0..n-1 of its graph")
    slot = node_ptr[graph_of_node] + local
    atom_type = np.full(graph_of_node.size, -1, dtype=np.int64)
    atom_type[slot] = nodes[:, 2]
    if np.bincount(slot, minlength=graph_of_node.size).max() > 1:
        raise DatasetFileError(nodes_path, "a node id occurs twice within one graph")

    edges_path = root / "ZINC_Edges.txt"
    bonds = read_table(edges_path, num_columns=4, delimiter=None, why="ZINC bonds")
    graph_of_bond = bonds[:, 0]
    check_index_range(edges_path, "graph id", graph_of_bond, 0, num_graphs)
    if np.any(np.diff(graph_of_bond) < 0):
        raise DatasetFileError(edges_path, "bonds must be grouped by graph in order")
    size_of_owner = counts[graph_of_bond]
    bad = (bonds[:, 1:3] < 0) | (bonds[:, 1:3] >= size_of_owner[:, None])
    if bad.any():
        line = int(np.flatnonzero(bad.any(axis=1))[0]) + 1
        raise DatasetFileError(edges_path, f"line {line}: atom id outside its molecule")
    # both directions, sorted by (graph, source, target) -- PyG's adjacency.nonzero() order
    graph2 = np.concatenate([graph_of_bond, graph_of_bond])
    source = np.concatenate([bonds[:, 1], bonds[:, 2]])
    target = np.concatenate([bonds[:, 2], bonds[:, 1]])
    bond_type = np.concatenate([bonds[:, 3], bonds[:, 3]])
    order = np.lexsort((target, source, graph2))
    edge_counts = np.bincount(graph_of_bond, minlength=num_graphs) * 2

    labels_path = root / "ZINC_Labels.txt"
    labels = read_table(labels_path, num_columns=2, dtype=np.float64, delimiter=None,
                        why="ZINC targets")
    if labels.shape[0] != num_graphs or not np.array_equal(labels[:, 0], np.arange(num_graphs)):
        raise DatasetFileError(labels_path, f"expected one label per graph 0..{num_graphs - 1}")
    splits = _read_splits(root / "ZINC_splits.json", num_graphs)
    return GraphDataset(
        edge_index=torch.from_numpy(np.stack([source[order], target[order]])),
        node_ptr=torch.from_numpy(node_ptr.astype(np.int64)),
        edge_ptr=torch.from_numpy(ptr_from_counts(edge_counts).astype(np.int64)),
        x=torch.from_numpy(atom_type[:, None]),
        edge_attr=torch.from_numpy(bond_type[order]),
        y=torch.from_numpy(labels[:, 1].astype(np.float32)),
        splits=splits,
        metadata={"name": "ZINC-subset", "format": "zinc-text", "source": str(root),
                  "task_type": "regression", "eval_metric": "mae"},
    )
