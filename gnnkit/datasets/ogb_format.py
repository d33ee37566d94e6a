"""Readers of the OGB on-disk layout (node-, link- and graph-property prediction).

An extracted OGB dataset folder (``<root>``) holds:

* ``raw/edge.csv.gz`` -- ``(E, 2)`` ``source,target`` rows; for multi-graph datasets the ids
  are *local* to each graph and the rows of graph ``g`` follow those of graph ``g - 1``.
* ``raw/num-node-list.csv.gz`` / ``raw/num-edge-list.csv.gz`` -- one count per graph.
* ``raw/node-feat.csv.gz`` / ``raw/edge-feat.csv.gz`` -- optional feature rows.
* ``raw/node-label.csv.gz`` (node level) or ``raw/graph-label.csv.gz`` (graph level).
* ``raw/node_<name>.csv.gz`` / ``raw/edge_<name>.csv.gz`` -- additional files named in the
  master table (``node_year``, ``edge_weight`` ...).
* ``split/<split>/{train,valid,test}.csv.gz`` (node/graph ids) or, for link prediction,
  ``split/<split>/{train,valid,test}.pt`` -- legacy ``torch.save`` pickles of dicts of numpy
  arrays, read by :func:`gnnkit.datasets._safe_pickle.load_torch_file` (an allow-list
  unpickler; no arbitrary code runs).
* ``mapping/`` (ids to real-world entities) and ``RELEASE_v1.txt``; not needed for reading.

Semantics match ``ogb.io.read_graph_raw.read_csv_graph_raw`` and the ``ogb`` dataset classes:
with ``add_inverse_edge`` every stored edge ``(u, v)`` is followed by ``(v, u)`` (interleaved,
edge features repeated); integer-only files give ``int64``, others ``float32`` (missing labels
become NaN). OGB's ``valid`` split is gnnkit's ``val``.

Not supported (a clear error says so): heterogeneous datasets (``ogbn-mag``, ``ogbl-biokg``),
the binary ``.npz`` layout (``ogbn-papers100M``, ``ogbl-vessel``) and ``ogbg-code2``'s string
labels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gnnkit._ogb_master import OGBDatasetInfo, ogb_dataset_info
from gnnkit.datasets._errors import DatasetFileError
from gnnkit.datasets._graph import Graph, GraphDataset
from gnnkit.datasets._io import check_index_range, read_auto_table, read_table, require_file
from gnnkit.datasets._safe_pickle import load_torch_file
from gnnkit.sparse.index import ptr_from_counts

__all__ = [
    "read_ogb",
    "read_ogb_graph_property",
    "read_ogb_link_property",
    "read_ogb_link_split",
    "read_ogb_node_property",
    "read_ogb_raw",
]

_OGB_TO_GNNKIT_SPLIT = {"train": "train", "valid": "val", "test": "test"}


def _column(path: Path, why: str) -> np.ndarray:
    """A one-column integer csv(.gz) as a 1-D int64 array."""
    return read_table(path, num_columns=1, why=why)[:, 0]


def _optional_table(path: Path, rows: int, what: str) -> np.ndarray | None:
    if not path.is_file():
        return None
    table = read_auto_table(path, num_columns=None)
    if table.shape[0] != rows:
        raise DatasetFileError(path, f"has {table.shape[0]} rows, expected {rows} ({what})")
    return table


def read_ogb_raw(
    raw_dir: str | os.PathLike[str],
    *,
    add_inverse_edge: bool,
    additional_node_files: tuple[str, ...] = (),
    additional_edge_files: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Read an OGB ``raw/`` folder into collated numpy arrays.

    Returns a dict with ``edge_index`` ``(2, E')`` (local ids; ``E' = 2E`` with inverse
    edges, interleaved), ``node_ptr`` / ``edge_ptr`` ``(G + 1,)`` offsets, ``node_feat``
    ``(N, F)`` or ``None``, ``edge_feat`` ``(E', D)`` or ``None``, and ``node_extra`` /
    ``edge_extra`` dicts of the additional files.

    Raises:
        MissingDatasetFileError: ``edge.csv.gz`` or a count file is absent.
        DatasetFileError: counts disagree with the number of rows, a local id is not below its
            graph's node count, feature rows do not match.
    """
    raw_dir = Path(raw_dir)
    edge_path = raw_dir / "edge.csv.gz"
    edges = read_table(edge_path, num_columns=2, why="OGB edge list").T
    num_node_list = _column(raw_dir / "num-node-list.csv.gz", "OGB per-graph node counts")
    num_edge_list = _column(raw_dir / "num-edge-list.csv.gz", "OGB per-graph edge counts")
    if num_node_list.size != num_edge_list.size:
        raise DatasetFileError(
            raw_dir / "num-edge-list.csv.gz",
            f"{num_edge_list.size} graphs, but num-node-list.csv.gz has {num_node_list.size}",
        )
    for name, counts in (("num-node-list", num_node_list), ("num-edge-list", num_edge_list)):
        if counts.size and counts.min() < 0:
            raise DatasetFileError(raw_dir / f"{name}.csv.gz", "negative count")
    if int(num_edge_list.sum()) != edges.shape[1]:
        raise DatasetFileError(
            raw_dir / "num-edge-list.csv.gz",
            f"counts sum to {int(num_edge_list.sum())} but edge.csv.gz has {edges.shape[1]} rows",
        )
    num_nodes_total = int(num_node_list.sum())
    owner_size = np.repeat(num_node_list, num_edge_list)
    bad = (edges < 0) | (edges >= owner_size)
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        graph = int(np.searchsorted(np.cumsum(num_edge_list), column, side="right"))
        raise DatasetFileError(
            edge_path,
            f"row {column + 1}: node id {edges[:, column].tolist()} out of range for graph "
            f"{graph} with {int(num_node_list[graph])} nodes",
        )
    node_feat = _optional_table(raw_dir / "node-feat.csv.gz", num_nodes_total, "one per node")
    edge_feat = _optional_table(raw_dir / "edge-feat.csv.gz", edges.shape[1], "one per edge")
    node_extra = {}
    for name in additional_node_files:
        path = require_file(raw_dir / f"{name}.csv.gz", f"OGB additional node file {name}")
        node_extra[name] = _optional_table(path, num_nodes_total, "one per node")
    edge_extra = {}
    for name in additional_edge_files:
        path = require_file(raw_dir / f"{name}.csv.gz", f"OGB additional edge file {name}")
        edge_extra[name] = _optional_table(path, edges.shape[1], "one per edge")
    edge_counts = num_edge_list
    if add_inverse_edge:
        doubled = np.repeat(edges, 2, axis=1)
        doubled[0, 1::2], doubled[1, 1::2] = edges[1], edges[0]
        edges = doubled
        edge_counts = num_edge_list * 2
        if edge_feat is not None:
            edge_feat = np.repeat(edge_feat, 2, axis=0)
        edge_extra = {k: np.repeat(v, 2, axis=0) for k, v in edge_extra.items()}
    return {
        "edge_index": edges,
        "node_ptr": ptr_from_counts(num_node_list, dtype=torch.int64),
        "edge_ptr": ptr_from_counts(edge_counts, dtype=torch.int64),
        "node_feat": node_feat,
        "edge_feat": edge_feat,
        "node_extra": node_extra,
        "edge_extra": edge_extra,
    }


def _tensor(array: np.ndarray | None) -> Tensor | None:
    return None if array is None else torch.from_numpy(np.ascontiguousarray(array))


def _check_supported(info: OGBDatasetInfo) -> None:
    if info.is_hetero or info.binary or info.name == "ogbg-code2":
        kind = "heterogeneous" if info.is_hetero else "binary" if info.binary else "string-label"
        raise ValueError(f"{info.name}: the {kind} OGB layout is not supported by gnnkit yet")


def _lookup(root: Path, name: str | None) -> OGBDatasetInfo:
    """The table row of ``name``, or of the folder's name (``ogbg_molbace`` works too)."""
    if name is not None:
        return ogb_dataset_info(name)
    try:
        return ogb_dataset_info(root.name.replace("_", "-"))
    except ValueError as error:
        raise ValueError(
            f"cannot tell which OGB dataset the folder {str(root)!r} holds from its name; "
            f"pass name='<official OGB name>' ({error})"
        ) from None


def _info(root: Path, name: str | None, level: str) -> OGBDatasetInfo:
    info = _lookup(root, name)
    name = info.name
    if info.level != level:
        raise ValueError(f"{name} is a {info.level}-property dataset, not {level}-property")
    _check_supported(info)
    return info


def _read_index_split(
    root: Path, split_type: str, limit: int, what: str
) -> dict[str, Tensor]:
    out = {}
    for ogb_name, name in _OGB_TO_GNNKIT_SPLIT.items():
        path = root / "split" / split_type / f"{ogb_name}.csv.gz"
        index = _column(path, f"OGB {split_type} split ({ogb_name})")
        check_index_range(path, f"{what} id", index, 0, limit)
        out[name] = torch.from_numpy(index)
    return out


def _metadata(info: OGBDatasetInfo, root: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "format": f"ogb-{info.level}",
        "source": str(root),
        "num_tasks": info.num_tasks,
        "num_classes": info.num_classes,
        "eval_metric": info.eval_metric,
        "task_type": info.task_type,
        "split": info.split,
        **extra,
    }


def read_ogb_graph_property(
    root: str | os.PathLike[str], name: str | None = None, *, split_type: str | None = None
) -> GraphDataset:
    """Read an ``ogbg-*`` folder into a :class:`GraphDataset`.

    ``y`` is ``(G, num_tasks)`` (``int64`` labels, or ``float32`` for regression and for
    labels with missing values); ``splits`` holds ``train``/``val``/``test`` graph ids.
    ``name`` defaults to the folder name (``ogbg_molbace`` is accepted for ``ogbg-molbace``).
    """
    root = Path(root)
    info = _info(root, name, "graph")
    raw = read_ogb_raw(root / "raw", add_inverse_edge=info.add_inverse_edge,
                       additional_node_files=info.additional_node_files,
                       additional_edge_files=info.additional_edge_files)
    num_graphs = raw["node_ptr"].size - 1
    label_path = root / "raw" / "graph-label.csv.gz"
    labels = read_auto_table(label_path, num_columns=info.num_tasks, why="OGB graph labels")
    if labels.shape[0] != num_graphs:
        raise DatasetFileError(label_path, f"{labels.shape[0]} labels for {num_graphs} graphs")
    splits = _read_index_split(root, split_type or info.split, num_graphs, "graph")
    return GraphDataset(
        edge_index=torch.from_numpy(raw["edge_index"]),
        node_ptr=torch.from_numpy(raw["node_ptr"]),
        edge_ptr=torch.from_numpy(raw["edge_ptr"]),
        x=_tensor(raw["node_feat"]),
        edge_attr=_tensor(raw["edge_feat"]),
        y=torch.from_numpy(labels),
        splits=splits,
        metadata=_metadata(info, root, num_graphs=num_graphs),
    )


def _single_graph(raw: dict[str, Any], root: Path) -> None:
    if raw["node_ptr"].size != 2:
        raise DatasetFileError(
            root / "raw" / "num-node-list.csv.gz",
            f"expected one graph, found {raw['node_ptr'].size - 1}",
        )


def read_ogb_node_property(
    root: str | os.PathLike[str], name: str | None = None, *, split_type: str | None = None
) -> Graph:
    """Read an ``ogbn-*`` folder into a :class:`Graph` with ``train``/``val``/``test`` masks.

    ``y`` is ``(N, num_tasks)`` as in OGB; additional node/edge files (``node_year`` ...) are in
    ``metadata["node_extra"]`` / ``metadata["edge_extra"]`` as tensors.
    """
    root = Path(root)
    info = _info(root, name, "node")
    raw = read_ogb_raw(root / "raw", add_inverse_edge=info.add_inverse_edge,
                       additional_node_files=info.additional_node_files,
                       additional_edge_files=info.additional_edge_files)
    _single_graph(raw, root)
    num_nodes = int(raw["node_ptr"][-1])
    label_path = root / "raw" / "node-label.csv.gz"
    labels = read_auto_table(label_path, num_columns=info.num_tasks, why="OGB node labels")
    if labels.shape[0] != num_nodes:
        raise DatasetFileError(label_path, f"{labels.shape[0]} labels for {num_nodes} nodes")
    splits = _read_index_split(root, split_type or info.split, num_nodes, "node")
    return Graph(
        edge_index=torch.from_numpy(raw["edge_index"]),
        num_nodes=num_nodes,
        x=_tensor(raw["node_feat"]),
        edge_attr=_tensor(raw["edge_feat"]),
        y=torch.from_numpy(labels),
        node_splits=splits,
        metadata=_metadata(
            info, root,
            node_extra={k: _tensor(v) for k, v in raw["node_extra"].items()},
            edge_extra={k: _tensor(v) for k, v in raw["edge_extra"].items()},
        ),
    )


def read_ogb_link_split(
    root: str | os.PathLike[str], split_type: str, num_nodes: int
) -> dict[str, dict[str, Tensor]]:
    """Read ``split/<split_type>/{train,valid,test}.pt`` as OGB's ``get_edge_split()`` dict.

    Every array becomes an ``int64``/``float`` tensor; node ids in ``edge``, ``edge_neg``,
    ``source_node``, ``target_node`` and ``target_node_neg`` are checked against
    ``num_nodes`` (a split that references unknown nodes raises :class:`DatasetFileError`).
    """
    out: dict[str, dict[str, Tensor]] = {}
    for ogb_name in _OGB_TO_GNNKIT_SPLIT:
        path = Path(root) / "split" / split_type / f"{ogb_name}.pt"
        content = load_torch_file(path, f"OGB {split_type} link split ({ogb_name})")
        if not isinstance(content, dict):
            raise DatasetFileError(path, f"expected a dict of arrays, found {type(content)}")
        split = {}
        for key, value in content.items():
            array = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
            if array.dtype == object:
                raise DatasetFileError(path, f"entry {key!r} is not a numeric array")
            if key in ("edge", "edge_neg") and (array.ndim != 2 or array.shape[1] != 2):
                raise DatasetFileError(path, f"{key!r} has shape {array.shape}, expected (K, 2)")
            if key in ("edge", "edge_neg", "source_node", "target_node", "target_node_neg"):
                check_index_range(path, f"node id in {key!r}", array, 0, num_nodes)
            split[key] = torch.from_numpy(np.ascontiguousarray(array))
        out[ogb_name] = split
    return out


def _edge_splits_from_ogb(split_edge: dict[str, dict[str, Tensor]]) -> dict[str, Tensor]:
    """OGB's dict -> gnnkit edge splits ``(2, K)``; citation2's per-source negatives are
    flattened row-major (pair ``j * M + m`` is ``(source_j, target_neg[j, m])``)."""
    out = {}
    for ogb_name, split in split_edge.items():
        name = _OGB_TO_GNNKIT_SPLIT[ogb_name]
        if "edge" in split:
            out[f"{name}_pos"] = split["edge"].t().long()
        if "edge_neg" in split:
            out[f"{name}_neg"] = split["edge_neg"].t().long()
        if "source_node" in split and "target_node" in split:
            out[f"{name}_pos"] = torch.stack([split["source_node"], split["target_node"]]).long()
            if "target_node_neg" in split:
                negatives = split["target_node_neg"].long()
                sources = split["source_node"].long().repeat_interleave(negatives.shape[1])
                out[f"{name}_neg"] = torch.stack([sources, negatives.reshape(-1)])
    return out


def read_ogb_link_property(
    root: str | os.PathLike[str], name: str | None = None, *, split_type: str | None = None,
    with_splits: bool = True,
) -> Graph:
    """Read an ``ogbl-*`` folder into a :class:`Graph` whose ``edge_index`` is the training
    graph (``raw/edge.csv.gz``, plus inverse edges when OGB adds them) and whose
    ``edge_splits`` hold ``train_pos``/``val_pos``/``val_neg``/``test_pos``/``test_neg``.

    ``graph.ogb_split_edge()`` returns the splits in OGB's own ``(K, 2)`` dictionary form.
    """
    root = Path(root)
    info = _info(root, name, "link")
    raw = read_ogb_raw(root / "raw", add_inverse_edge=info.add_inverse_edge,
                       additional_node_files=info.additional_node_files,
                       additional_edge_files=info.additional_edge_files)
    _single_graph(raw, root)
    num_nodes = int(raw["node_ptr"][-1])
    edge_splits = {}
    if with_splits:
        edge_splits = _edge_splits_from_ogb(
            read_ogb_link_split(root, split_type or info.split, num_nodes)
        )
    return Graph(
        edge_index=torch.from_numpy(raw["edge_index"]),
        num_nodes=num_nodes,
        x=_tensor(raw["node_feat"]),
        edge_attr=_tensor(raw["edge_feat"]),
        edge_splits=edge_splits,
        metadata=_metadata(
            info, root,
            node_extra={k: _tensor(v) for k, v in raw["node_extra"].items()},
            edge_extra={k: _tensor(v) for k, v in raw["edge_extra"].items()},
        ),
    )


def read_ogb(root: str | os.PathLike[str], name: str | None = None) -> Graph | GraphDataset:
    """Read any supported OGB folder, dispatching on the dataset's level."""
    root = Path(root)
    info = _lookup(root, name)
    reader = {
        "node": read_ogb_node_property,
        "link": read_ogb_link_property,
        "graph": read_ogb_graph_property,
    }[info.level]
    return reader(root, info.name)
