"""Reader of the Planetoid ``ind.<name>.*`` files (Cora, CiteSeer, PubMed; Yang et al. 2016).

The eight files of a dataset ``name`` (as published in kimiyoung/planetoid ``data/``):

=================  ==========================================================================
``ind.name.x``     features of the labelled training nodes, ``(n_train, F)`` (scipy CSR)
``ind.name.y``     one-hot labels of those nodes, ``(n_train, C)``
``ind.name.allx``  features of every non-test node, ``(n_all, F)``; rows ``0..n_train-1`` are
                   ``x``
``ind.name.ally``  one-hot labels of those nodes, ``(n_all, C)``
``ind.name.tx``    features of the test nodes, ``(n_test, F)``; row ``i`` belongs to node
                   ``test.index[i]``
``ind.name.ty``    one-hot labels of the test nodes
``ind.name.graph`` ``{node: [neighbours]}`` adjacency lists (a ``defaultdict``)
``ind.name.test.index``  one node id per line: the test nodes
=================  ==========================================================================

The pickles are read with :func:`gnnkit.datasets._safe_pickle.load_pickle` (an allow-list
unpickler: no arbitrary code runs, scipy not needed).

Semantics, matching PyG's ``Planetoid(split="public")`` and Kipf & Welling's loader:

* Nodes ``0..n_all-1`` are the ``allx`` rows; the test nodes follow. Node ``test.index[i]``
  gets features ``tx[i]`` and label ``argmax ty[i]``.
* CiteSeer quirk: its test ids do not cover a contiguous range (15 isolated nodes of the
  citation graph were left out of ``tx``). As in PyG and Kipf's code the range
  ``min(test)..max(test)`` is padded: every id in it without a ``tx`` row gets an all-zero
  feature row and label 0 (the argmax of an all-zero row), and belongs to no split. Those ids
  are listed in ``metadata["padded_nodes"]``.
* Public split: train = the first ``n_train`` nodes (20 per class), val = the next 500 nodes,
  test = the ``test.index`` nodes.
* Edges: the adjacency lists hold duplicates and (in PubMed/CiteSeer) self loops. Self loops are
  removed and the edge set is made symmetric (both directions) and coalesced (unique, sorted by
  source then target). PyG removes self loops and coalesces the raw lists without
  symmetrising; the raw lists are symmetric, so both give the same set (asserted in tests;
  ``metadata["raw_asymmetric_entries"]`` counts any entry whose reverse is absent).
"""

from __future__ import annotations

import os
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnnkit.datasets._errors import DatasetFileError
from gnnkit.datasets._graph import Graph
from gnnkit.datasets._io import isin_sorted, read_table, require_file, unique_sorted
from gnnkit.datasets._safe_pickle import PickledSparseMatrix, load_pickle
from gnnkit.sparse.index import pair_keys, split_keys

__all__ = ["PLANETOID_NAMES", "PLANETOID_PARTS", "planetoid_file", "read_planetoid"]

PLANETOID_NAMES = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
PLANETOID_PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
_NUM_VAL_NODES = 500


def planetoid_file(root: str | os.PathLike[str], name: str, part: str) -> Path:
    """Path of ``ind.<name>.<part>`` under ``root`` (name lower-cased, as published)."""
    return Path(root) / f"ind.{name.lower()}.{part}"


def _dense(path: Path, value: Any) -> np.ndarray:
    """A pickled scipy matrix or numpy array as a dense 2-D array."""
    if isinstance(value, PickledSparseMatrix):
        try:
            return value.toarray()
        except (KeyError, ValueError) as error:
            raise DatasetFileError(path, f"malformed sparse matrix: {error}") from error
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return value
    raise DatasetFileError(
        path, f"expected a 2-D matrix, found {type(value).__name__} "
        f"{getattr(value, 'shape', '')}"
    )


def _adjacency_arrays(path: Path, graph: Any, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ``{node: [neighbours]}`` into (source, target) arrays, validating ids."""
    if not isinstance(graph, dict):
        raise DatasetFileError(path, f"expected a dict of adjacency lists, got {type(graph)}")
    try:
        keys = np.fromiter(graph.keys(), dtype=np.int64, count=len(graph))
        counts = np.fromiter((len(v) for v in graph.values()), dtype=np.int64, count=len(graph))
        targets = np.fromiter(chain.from_iterable(graph.values()), dtype=np.int64,
                              count=int(counts.sum()))
    except (TypeError, ValueError) as error:
        raise DatasetFileError(path, f"adjacency lists must hold integer ids ({error})") from error
    sources = np.repeat(keys, counts)
    for what, ids in (("node key", keys), ("neighbour id", targets)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_nodes):
            bad = int(ids.min() if ids.min() < 0 else ids.max())
            raise DatasetFileError(
                path, f"{what} {bad} out of range for {num_nodes} nodes (ids 0..{num_nodes - 1})"
            )
    return sources, targets


def undirected_coalesced(sources: np.ndarray, targets: np.ndarray, num_nodes: int) -> np.ndarray:
    """``(2, E)`` unique, symmetric, self-loop-free edges sorted by (source, target)."""
    keep = sources != targets
    src = np.concatenate([sources[keep], targets[keep]])
    dst = np.concatenate([targets[keep], sources[keep]])
    keys = unique_sorted(pair_keys(src, dst, num_nodes, num_nodes))
    return np.stack(split_keys(keys, num_nodes))


def read_planetoid(root: str | os.PathLike[str], name: str) -> Graph:
    """Read ``ind.<name>.*`` from ``root`` into a :class:`Graph` with the public split.

    Args:
        root: folder holding the eight ``ind.<name>.*`` files.
        name: ``cora``, ``citeseer`` or ``pubmed`` (case-insensitive); other Planetoid-format
            names are read with the same rules.

    Returns:
        A :class:`Graph` with ``x`` ``(N, F)`` float32, ``y`` ``(N,)`` int64, masks
        ``train``/``val``/``test``, undirected coalesced ``edge_index``, and ``metadata``
        (``name``, ``num_classes``, ``source``, raw-file statistics).

    Raises:
        MissingDatasetFileError: one of the eight files is absent (the first one is named).
        DatasetFileError: inconsistent shapes, ids out of range, unsafe pickle content.
    """
    key = name.lower()
    paths = {part: planetoid_file(root, key, part) for part in PLANETOID_PARTS}
    for part, path in paths.items():
        require_file(path, f"Planetoid {PLANETOID_NAMES.get(key, name)} needs ind.{key}.{part}")

    x = _dense(paths["x"], load_pickle(paths["x"]))
    tx = _dense(paths["tx"], load_pickle(paths["tx"]))
    allx = _dense(paths["allx"], load_pickle(paths["allx"]))
    y = _dense(paths["y"], load_pickle(paths["y"]))
    ty = _dense(paths["ty"], load_pickle(paths["ty"]))
    ally = _dense(paths["ally"], load_pickle(paths["ally"]))
    graph = load_pickle(paths["graph"])
    test_index = read_table(paths["test.index"], num_columns=1, delimiter=None)[:, 0]

    num_features = allx.shape[1]
    for part, matrix in (("x", x), ("tx", tx)):
        if matrix.shape[1] != num_features:
            raise DatasetFileError(
                paths[part], f"has {matrix.shape[1]} feature columns, allx has {num_features}"
            )
    num_classes = ally.shape[1]
    for part, matrix in (("y", y), ("ty", ty)):
        if matrix.shape[1] != num_classes:
            raise DatasetFileError(
                paths[part], f"has {matrix.shape[1]} label columns, ally has {num_classes}"
            )
    if x.shape[0] != y.shape[0]:
        raise DatasetFileError(paths["y"], f"{y.shape[0]} label rows for {x.shape[0]} x rows")
    if allx.shape[0] != ally.shape[0]:
        raise DatasetFileError(
            paths["ally"], f"{ally.shape[0]} label rows for {allx.shape[0]} allx rows"
        )
    if not (tx.shape[0] == ty.shape[0] == test_index.size):
        raise DatasetFileError(
            paths["test.index"],
            f"{test_index.size} test ids but tx has {tx.shape[0]} rows and ty {ty.shape[0]}",
        )
    num_train, num_known = x.shape[0], allx.shape[0]
    if num_train + _NUM_VAL_NODES > num_known:
        raise DatasetFileError(
            paths["allx"], f"{num_known} rows cannot hold {num_train} train + 500 val nodes"
        )
    if test_index.size and test_index.min() < num_known:
        raise DatasetFileError(
            paths["test.index"],
            f"test id {int(test_index.min())} overlaps the {num_known} allx nodes",
        )
    if np.unique(test_index).size != test_index.size:
        raise DatasetFileError(paths["test.index"], "test ids are not unique")

    last_test_id = int(test_index.max()) if test_index.size else -1
    num_nodes = max(num_known + test_index.size, last_test_id + 1)
    features = np.zeros((num_nodes, num_features), dtype=np.float32)
    features[:num_known] = allx
    features[test_index] = tx
    one_hot = np.zeros((num_nodes, num_classes), dtype=ally.dtype)
    one_hot[:num_known] = ally
    one_hot[test_index] = ty
    labels = one_hot.argmax(axis=1)  # all-zero rows (padded CiteSeer nodes) give 0, as in PyG
    padded = np.setdiff1d(np.arange(num_known, num_nodes), test_index)

    sources, targets = _adjacency_arrays(paths["graph"], graph, num_nodes)
    raw_pairs = unique_sorted(pair_keys(sources, targets, num_nodes, num_nodes))
    reverse = pair_keys(targets, sources, num_nodes, num_nodes)
    asymmetric = int(np.count_nonzero(~isin_sorted(reverse, raw_pairs)))
    edge_index = undirected_coalesced(sources, targets, num_nodes)

    masks = {
        "train": torch.zeros(num_nodes, dtype=torch.bool),
        "val": torch.zeros(num_nodes, dtype=torch.bool),
        "test": torch.zeros(num_nodes, dtype=torch.bool),
    }
    masks["train"][:num_train] = True
    masks["val"][num_train : num_train + _NUM_VAL_NODES] = True
    masks["test"][torch.from_numpy(test_index)] = True
    metadata = {
        "name": PLANETOID_NAMES.get(key, name),
        "format": "planetoid",
        "source": str(Path(root)),
        "split": "public",
        "num_classes": int(num_classes),
        "raw_adjacency_entries": int(sources.size),
        "raw_self_loops": int(np.count_nonzero(sources == targets)),
        "raw_asymmetric_entries": asymmetric,
        "padded_nodes": padded.tolist(),
    }
    return Graph(
        edge_index=torch.from_numpy(edge_index),
        num_nodes=num_nodes,
        x=torch.from_numpy(features),
        y=torch.from_numpy(labels.astype(np.int64)),
        node_splits=masks,
        metadata=metadata,
    )
