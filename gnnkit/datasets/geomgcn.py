"""Reader of the geom-gcn files (Pei et al., ICLR 2020) and their ten 60/20/20 splits.

Files (graphdml-uiuc-jlu/geom-gcn, ``new_data/<name>/`` and ``splits/``):

* ``out1_graph_edges.txt``: header ``node_id<TAB>node_id``, then one ``source<TAB>target``
  line per directed edge.
* ``out1_node_feature_label.txt``: header ``node_id<TAB>feature<TAB>label``, then
  ``id<TAB>f_1,f_2,...,f_F<TAB>label``. For ``film`` the feature column instead lists the
  indices of the non-zero entries of a 932-wide binary vector (as PyG's ``Actor`` reads it).
* ``<name>_split_0.6_0.2_<k>.npz``, ``k = 0..9``: ``train_mask``, ``val_mask``, ``test_mask``
  (``bool`` or ``uint8``, length ``N``). Despite the name Cora's and PubMed's are 48/32/20 %.

Semantics follow PyG's ``WebKB``/``WikipediaNetwork(geom_gcn_preprocess=True)``/``Actor``:
the edges are kept *directed* as listed, duplicates merged, self loops kept, sorted by (source,
target). ``undirected=True`` adds the reverse of every edge (self loops still kept), which is
what most heterophily papers (e.g. neural sheaf diffusion) train on. The ten splits become
``(N, 10)`` masks.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gnnkit.datasets._errors import DatasetFileError
from gnnkit.datasets._graph import Graph
from gnnkit.datasets._io import check_index_range, read_table, require_file, unique_sorted
from gnnkit.sparse.index import pair_keys, split_keys

__all__ = [
    "GEOMGCN_NAMES",
    "read_geomgcn",
    "read_geomgcn_features",
    "read_geomgcn_splits",
]

GEOMGCN_NAMES = {
    "texas": "Texas",
    "wisconsin": "Wisconsin",
    "cornell": "Cornell",
    "chameleon": "Chameleon",
    "squirrel": "Squirrel",
    "film": "Film",
}
_FILM_NUM_FEATURES = 932
NUM_GEOMGCN_SPLITS = 10


def split_file(root: str | os.PathLike[str], name: str, k: int) -> Path:
    """Path of ``<name>_split_0.6_0.2_<k>.npz`` under ``root``."""
    return Path(root) / f"{name.lower()}_split_0.6_0.2_{k}.npz"


def _parse_dense_features(path: Path, columns: list[str]) -> np.ndarray:
    """Comma-joined dense rows -> ``(N, F)`` float32, parsed in one numpy call."""
    widths = {column.count(",") + 1 for column in columns}
    if len(widths) != 1:
        raise DatasetFileError(path, f"rows have different feature counts {sorted(widths)}")
    width = widths.pop()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns (not raises) when it stops early
        try:
            values = np.fromstring(" ".join(columns).replace(",", " "), dtype=np.float32, sep=" ")
        except (DeprecationWarning, ValueError) as error:
            raise DatasetFileError(path, f"non-numeric feature value ({error})") from error
    if values.size != width * len(columns):
        raise DatasetFileError(path, "non-numeric or missing feature values")
    return values.reshape(len(columns), width)


def _parse_index_features(path: Path, columns: list[str], width: int) -> np.ndarray:
    """Rows listing non-zero column indices (``film``) -> ``(N, width)`` binary float32."""
    features = np.zeros((len(columns), width), dtype=np.float32)
    for row, column in enumerate(columns):
        try:
            indices = np.array(column.split(","), dtype=np.int64) if column else np.zeros(0, int)
        except ValueError as error:
            raise DatasetFileError(path, f"data row {row + 1}: bad feature index") from error
        check_index_range(path, f"feature index in data row {row + 1}", indices, 0, width)
        features[row, indices] = 1.0
    return features


def read_geomgcn_features(
    path: str | os.PathLike[str], *, index_features: int | None = None
) -> tuple[Tensor, Tensor]:
    """Read ``out1_node_feature_label.txt`` into ``x`` ``(N, F)`` float32 and ``y`` ``(N,)``.

    Rows are placed by their ``node_id`` column, which must be a permutation of ``0..N-1``.
    ``index_features=F`` reads the feature column as non-zero indices of an ``F``-wide vector.
    """
    path = require_file(path, "geom-gcn node features and labels")
    lines = path.read_text().splitlines()
    if not lines or lines[0].split("\t") != ["node_id", "feature", "label"]:
        raise DatasetFileError(path, "missing header 'node_id<TAB>feature<TAB>label'")
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    for number, row in enumerate(rows, start=2):
        if len(row) != 3:
            raise DatasetFileError(path, f"line {number}: expected 3 tab-separated columns, "
                                         f"found {len(row)}")
    try:
        node_ids = np.array([row[0] for row in rows], dtype=np.int64)
        labels = np.array([row[2] for row in rows], dtype=np.int64)
    except ValueError as error:
        raise DatasetFileError(path, f"node id or label is not an integer ({error})") from error
    num_nodes = len(rows)
    if not np.array_equal(np.sort(node_ids), np.arange(num_nodes)):
        raise DatasetFileError(path, f"node ids are not a permutation of 0..{num_nodes - 1}")
    columns = [row[1] for row in rows]
    if index_features is not None:
        features = _parse_index_features(path, columns, index_features)
    else:
        features = _parse_dense_features(path, columns)
    order = np.argsort(node_ids)
    return torch.from_numpy(features[order]), torch.from_numpy(labels[order])


def read_geomgcn_edges(path: str | os.PathLike[str], num_nodes: int) -> np.ndarray:
    """Read ``out1_graph_edges.txt`` into a raw ``(2, E)`` array (file order, unchecked dups)."""
    path = require_file(path, "geom-gcn edge list")
    with open(path) as handle:
        header = handle.readline().split()
    if header != ["node_id", "node_id"]:
        raise DatasetFileError(path, "missing header 'node_id<TAB>node_id'")
    edges = read_table(path, num_columns=2, delimiter="\t", skip_header=1)
    check_index_range(path, "node id", edges, 0, num_nodes)
    return edges.T


def read_geomgcn_splits(
    root: str | os.PathLike[str], name: str, num_nodes: int, *, num_splits: int = 10
) -> dict[str, Tensor]:
    """Read the ``num_splits`` split files of ``name`` into ``(N, num_splits)`` bool masks.

    Returns ``{"train": ..., "val": ..., "test": ...}``. A file whose masks do not have
    length ``num_nodes`` raises :class:`DatasetFileError` naming it.
    """
    masks: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for k in range(num_splits):
        path = require_file(split_file(root, name, k), f"geom-gcn split {k} of {name}")
        try:
            with np.load(path, allow_pickle=False) as arrays:
                for split in masks:
                    mask = arrays[f"{split}_mask"]
                    if mask.shape != (num_nodes,):
                        raise DatasetFileError(
                            path, f"{split}_mask has shape {mask.shape}, expected ({num_nodes},)"
                        )
                    if not np.isin(mask, (0, 1)).all():
                        raise DatasetFileError(path, f"{split}_mask holds values other than 0/1")
                    masks[split].append(mask.astype(bool))
        except KeyError as error:
            raise DatasetFileError(path, f"lacks array {error}") from error
        except (OSError, ValueError) as error:
            if isinstance(error, DatasetFileError):
                raise
            raise DatasetFileError(path, f"not a readable npz file ({error})") from error
    return {split: torch.from_numpy(np.stack(stack, axis=1)) for split, stack in masks.items()}


def coalesce_directed(edges: np.ndarray, num_nodes: int) -> np.ndarray:
    """Unique ``(2, E)`` edges sorted by (source, target); self loops kept."""
    keys = unique_sorted(pair_keys(edges[0], edges[1], num_nodes, num_nodes))
    return np.stack(split_keys(keys, num_nodes))


def read_geomgcn(
    root: str | os.PathLike[str],
    name: str,
    *,
    undirected: bool = False,
    splits: bool = True,
) -> Graph:
    """Read a geom-gcn dataset (``texas``, ``wisconsin``, ``cornell``, ``chameleon``,
    ``squirrel``, ``film``) from ``root`` into a :class:`Graph`.

    Args:
        root: folder with ``out1_*.txt`` and the ten ``<name>_split_0.6_0.2_<k>.npz``.
        name: dataset name (case-insensitive).
        undirected: add reverse edges (default: keep the listed direction, like PyG).
        splits: read the ten split files into ``(N, 10)`` masks.

    Metadata records ``raw_edge_lines``, ``self_loops`` and ``num_classes``.
    """
    key = name.lower()
    root = Path(root)
    x, y = read_geomgcn_features(
        root / "out1_node_feature_label.txt",
        index_features=_FILM_NUM_FEATURES if key == "film" else None,
    )
    num_nodes = int(x.shape[0])
    edges = read_geomgcn_edges(root / "out1_graph_edges.txt", num_nodes)
    raw_lines = int(edges.shape[1])
    if undirected:
        edges = np.concatenate([edges, edges[::-1]], axis=1)
    edge_index = coalesce_directed(edges, num_nodes)
    node_splits = read_geomgcn_splits(root, key, num_nodes) if splits else {}
    metadata = {
        "name": GEOMGCN_NAMES.get(key, name),
        "format": "geom-gcn",
        "source": str(root),
        "num_classes": int(y.max()) + 1 if y.numel() else 0,
        "raw_edge_lines": raw_lines,
        "self_loops": int(np.count_nonzero(edge_index[0] == edge_index[1])),
        "undirected": undirected,
    }
    return Graph(
        edge_index=torch.from_numpy(edge_index),
        num_nodes=num_nodes,
        x=x,
        y=y,
        node_splits=node_splits,
        metadata=metadata,
    )
