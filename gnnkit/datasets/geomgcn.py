"""Reader of the geom-gcn files (Pei et al., ICLR 2020) and their ten "60/20/20" splits.

Files (graphdml-uiuc-jlu/geom-gcn, ``new_data/<name>/`` and ``splits/``):

* ``out1_graph_edges.txt``: header ``node_id<TAB>node_id``, then one ``source<TAB>target``
  line per directed edge (Film repeats 3372 of its 33391 lines).
* ``out1_node_feature_label.txt`` in one of two formats, told apart by the header:

  - ``node_id<TAB>feature<TAB>label``, then ``id<TAB>f_1,f_2,...,f_F<TAB>label`` (dense
    values: Texas, Wisconsin, Cornell, Chameleon, Squirrel);
  - ``node_id<TAB>feature(feature_amount:K)<TAB>label``, then ``id<TAB>i_1,i_2,...<TAB>label``
    where the ``i`` are the indices (``0..K``) of the ones of a ``K + 1``-wide binary vector
    (Film: ``K = 931``, 932 features, as geom-gcn's ``utils_data.py`` allocates and PyG's
    ``Actor`` infers from the largest index). An index listed twice counts once.

* ``<name>_split_0.6_0.2_<k>.npz``, ``k = 0..9``: ``train_mask``, ``val_mask``, ``test_mask``
  (``bool`` or ``uint8``, length ``N``). Despite the name they are 48/32/20 % splits (Texas
  87/59/37 of 183, Chameleon 1092/729/456 of 2277, Film 3648/2432/1520 of 7600, Cora
  1192/796/497 of 2708); CiteSeer's fold 5 covers only 2120 of its 3327 nodes.

Semantics follow PyG's ``WebKB``/``WikipediaNetwork(geom_gcn_preprocess=True)``/``Actor``:
the edges are kept *directed* as listed, duplicates merged, self loops kept, sorted by (source,
target). ``undirected=True`` adds the reverse of every edge and ``remove_self_loops=True``
drops the loops, which together give the graph the neural sheaf diffusion code trains on.
The ten splits become ``(N, 10)`` masks.
"""

from __future__ import annotations

import os
import re
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


_DENSE_HEADER = ["node_id", "feature", "label"]
_INDEX_HEADER = re.compile(r"feature\(feature_amount:(\d+)\)")
_HEADER_FIX = ("the first line must be 'node_id<TAB>feature<TAB>label' (dense features) or "
               "'node_id<TAB>feature(feature_amount:K)<TAB>label' (indices 0..K of the non-zero "
               "features, Film's format); restore it from the geom-gcn release")


def _parse_header(path: Path, line: str) -> int | None:
    """``None`` for the dense header, the vector width ``K + 1`` for the index header."""
    columns = line.rstrip("\r\n").split("\t")
    if columns == _DENSE_HEADER:
        return None
    if len(columns) == 3 and columns[0] == "node_id" and columns[2] == "label":
        match = _INDEX_HEADER.fullmatch(columns[1])
        if match is not None:
            # Film's header says 931 and its indices run 0..931: the amount is the largest
            # index, and geom-gcn's own loader allocates 932 entries.
            return int(match.group(1)) + 1
    raise DatasetFileError(path, f"line 1: unrecognised header {line.rstrip()!r}; {_HEADER_FIX}")


def _parse_dense_features(path: Path, columns: list[str], lines: list[int]) -> np.ndarray:
    """Comma-joined dense rows -> ``(N, F)`` float32, parsed in one numpy call."""
    widths = [column.count(",") + 1 for column in columns]
    if len(set(widths)) > 1:
        first = widths[0]
        bad = next(i for i, width in enumerate(widths) if width != first)
        raise DatasetFileError(
            path, f"rows have different feature counts {sorted(set(widths))}: line "
                  f"{lines[bad]} has {widths[bad]} values, line {lines[0]} has {first}; every "
                  "row needs the same number of comma-separated values")
    width = widths[0] if widths else 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns (not raises) when it stops early
        try:
            values = np.fromstring(" ".join(columns).replace(",", " "), dtype=np.float32, sep=" ")
        except (DeprecationWarning, ValueError) as error:
            raise DatasetFileError(path, f"non-numeric feature value ({error})") from error
    if values.size != width * len(columns):
        raise DatasetFileError(path, "non-numeric or missing feature values")
    return values.reshape(len(columns), width)


def _parse_index_features(path: Path, columns: list[str], lines: list[int], width: int
                          ) -> np.ndarray:
    """Rows listing the indices of their non-zero entries -> ``(N, width)`` binary float32.

    An index listed twice sets its entry once (ten rows of Film repeat an index)."""
    features = np.zeros((len(columns), width), dtype=np.float32)
    for row, (column, number) in enumerate(zip(columns, lines, strict=True)):
        if not column:
            continue  # a node without any active feature
        try:
            indices = np.array(column.split(","), dtype=np.int64)
        except ValueError as error:
            raise DatasetFileError(
                path, f"line {number}: feature indices {column!r} are not comma-separated "
                      "integers; write the indices of the node's non-zero features, e.g. "
                      "'3,17,251'") from error
        if indices.min() < 0 or indices.max() >= width:
            bad = int(indices.min()) if indices.min() < 0 else int(indices.max())
            raise DatasetFileError(
                path, f"line {number}: feature index {bad} is outside 0..{width - 1} "
                      f"(header 'feature(feature_amount:{width - 1})'); fix the index or "
                      "raise feature_amount in the header to the largest index")
        features[row, indices] = 1.0
    return features


def _parse_integers(path: Path, values: list[str], lines: list[int], what: str) -> np.ndarray:
    """Integers of one column; a bad cell is reported with its line."""
    try:
        return np.array(values, dtype=np.int64)
    except ValueError:
        for value, number in zip(values, lines, strict=True):
            try:
                int(value)
            except ValueError:
                raise DatasetFileError(
                    path, f"line {number}: {what} {value!r} is not an integer; the columns "
                          "are node_id<TAB>features<TAB>label with integer node ids "
                          "0..N-1 and integer labels") from None
        raise


def read_geomgcn_features(
    path: str | os.PathLike[str], *, index_features: int | None = None
) -> tuple[Tensor, Tensor]:
    """Read ``out1_node_feature_label.txt`` into ``x`` ``(N, F)`` float32 and ``y`` ``(N,)``.

    The header picks the feature format: ``node_id<TAB>feature<TAB>label`` means dense
    comma-separated values; ``node_id<TAB>feature(feature_amount:K)<TAB>label`` (Film) means
    the comma-separated indices ``0..K`` of the ones of a ``K + 1``-wide binary vector.
    ``index_features=F`` reads a file with the dense header as indices of an ``F``-wide
    vector. Rows are placed by their ``node_id`` column, which must be a permutation of
    ``0..N-1``.
    """
    path = require_file(path, "geom-gcn node features and labels")
    text = path.read_text().splitlines()
    if not text:
        raise DatasetFileError(path, f"line 1: the file is empty; {_HEADER_FIX}")
    width = _parse_header(path, text[0])
    if width is None:
        width = index_features
    rows: list[list[str]] = []
    lines: list[int] = []
    for number, line in enumerate(text[1:], start=2):
        if not line.strip():
            continue
        row = line.rstrip("\r").split("\t")
        if len(row) != 3:
            raise DatasetFileError(path, f"line {number}: expected 3 tab-separated columns "
                                         f"(node_id, features, label), found {len(row)}")
        rows.append(row)
        lines.append(number)
    node_ids = _parse_integers(path, [row[0] for row in rows], lines, "node id")
    labels = _parse_integers(path, [row[2] for row in rows], lines, "label")
    num_nodes = len(rows)
    if not np.array_equal(np.sort(node_ids), np.arange(num_nodes)):
        raise DatasetFileError(path, f"node ids are not a permutation of 0..{num_nodes - 1}")
    columns = [row[1] for row in rows]
    if width is not None:
        features = _parse_index_features(path, columns, lines, width)
    else:
        features = _parse_dense_features(path, columns, lines)
    order = np.argsort(node_ids)
    return torch.from_numpy(features[order]), torch.from_numpy(labels[order])


def read_geomgcn_edges(path: str | os.PathLike[str], num_nodes: int) -> np.ndarray:
    """Read ``out1_graph_edges.txt`` into a raw ``(2, E)`` array (file order, unchecked dups)."""
    path = require_file(path, "geom-gcn edge list")
    with open(path) as handle:
        header = handle.readline().split()
    if header != ["node_id", "node_id"]:
        raise DatasetFileError(path, f"line 1: missing header 'node_id<TAB>node_id' (found "
                                     f"{' '.join(header)!r}); the first line names the two "
                                     "columns, every further line is 'source<TAB>target'")
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
    remove_self_loops: bool = False,
    splits: bool = True,
) -> Graph:
    """Read a geom-gcn dataset (``texas``, ``wisconsin``, ``cornell``, ``chameleon``,
    ``squirrel``, ``film``) from ``root`` into a :class:`Graph`.

    Args:
        root: folder with ``out1_*.txt`` and the ten ``<name>_split_0.6_0.2_<k>.npz``.
        name: dataset name (case-insensitive).
        undirected: add reverse edges (default: keep the listed direction, like PyG).
        remove_self_loops: drop ``(i, i)`` edges (the neural sheaf diffusion code does, PyG's
            geom-gcn datasets do not).
        splits: read the ten split files into ``(N, 10)`` masks.

    The feature format (dense or Film's index lists) is read from the header of
    ``out1_node_feature_label.txt``. Metadata records ``raw_edge_lines``,
    ``duplicate_edge_lines`` (lines repeating an earlier ``source<TAB>target``),
    ``self_loops`` (left in the returned graph) and ``num_classes``.
    """
    key = name.lower()
    root = Path(root)
    x, y = read_geomgcn_features(
        root / "out1_node_feature_label.txt",
        # older copies of Film's file with the dense header still hold index lists
        index_features=_FILM_NUM_FEATURES if key == "film" else None,
    )
    num_nodes = int(x.shape[0])
    edges = read_geomgcn_edges(root / "out1_graph_edges.txt", num_nodes)
    raw_lines = int(edges.shape[1])
    duplicates = raw_lines - int(coalesce_directed(edges, num_nodes).shape[1])
    if undirected:
        edges = np.concatenate([edges, edges[::-1]], axis=1)
    if remove_self_loops:
        edges = edges[:, edges[0] != edges[1]]
    edge_index = coalesce_directed(edges, num_nodes)
    node_splits = read_geomgcn_splits(root, key, num_nodes) if splits else {}
    metadata = {
        "name": GEOMGCN_NAMES.get(key, name),
        "format": "geom-gcn",
        "source": str(root),
        "num_classes": int(y.max()) + 1 if y.numel() else 0,
        "raw_edge_lines": raw_lines,
        "duplicate_edge_lines": duplicates,
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
