"""Find an experiment's dataset on disk and prepare it for training.

Reading files is :mod:`gnnkit.datasets`' job; this module only decides *which* reader to call
on *which* folder, and applies the experiment's preprocessing (feature normalisation, split
selection, link splits, and for node classification the graph's direction, self loops and
unlabelled nodes: :class:`NodeDatasetSpec`). Data roots are searched in order: the
``--data-root`` folders, ``$GNNKIT_DATA``, then ``~/.cache/gnnkit``; under each root the
dataset's ``folders`` (e.g. ``planetoid-cora``) and its plain name are tried.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from gnnkit.datasets import (
    Graph,
    MissingDatasetFileError,
    load_bundled,
    read_geomgcn,
    read_geomgcn_splits,
    read_ogb_link_property,
    read_planetoid,
)
from gnnkit.datasets.linksplit import ncn_planetoid_split, random_link_split
from gnnkit.nn.linkpred import LinkSplit
from gnnkit.sparse import SparseMatrix, remove_self_loops, to_undirected

from .schema import DatasetSpec

__all__ = [
    "EDGE_DIRECTIONS",
    "SELF_LOOPS",
    "SPARSE_FEATURE_DENSITY",
    "DatasetUnavailable",
    "LinkData",
    "NodeData",
    "NodeDatasetSpec",
    "data_roots",
    "dataset_not_found",
    "find_folder",
    "link_data",
    "load_link_graph",
    "load_node_data",
    "row_normalize",
]

#: features with at most this fraction of non-zero entries are kept sparse
SPARSE_FEATURE_DENSITY = 0.1


#: ``[dataset] self_loops`` of node classification: ``keep`` the file's ``(i, i)`` edges or
#: ``remove`` them (the models' own normalisation, e.g. GCN's ``A + I``, is not affected)
SELF_LOOPS = ("keep", "remove")
#: ``[dataset] edge_direction``: ``as_listed`` (an edge ``u -> v`` of the file sends ``u``'s
#: message to ``v``: nodes aggregate their in-neighbours, PyG's convention) or ``reversed``
#: (nodes aggregate the nodes they link to, as geom-gcn's and GGCN's ``A @ X`` with
#: ``A[u, v] = 1`` for ``u -> v`` does)
EDGE_DIRECTIONS = ("as_listed", "reversed")


@dataclass(frozen=True)
class NodeDatasetSpec(DatasetSpec):
    """:class:`DatasetSpec` with the graph preprocessing options of node classification.

    Attributes:
        self_loops: one of :data:`SELF_LOOPS` (default ``keep``).
        edge_direction: one of :data:`EDGE_DIRECTIONS` (default ``as_listed``); only for
            directed graphs (``undirected = false``).
        drop_unlabelled: remove the nodes that have no label (Planetoid CiteSeer's padded test
            ids, ``metadata["padded_nodes"]``, and any ``metadata["unlabelled_nodes"]``) from
            every train/val/test mask, as the GGCN and neural sheaf diffusion code do with the
            geom-gcn splits of the Planetoid graphs.
    """

    self_loops: str = "keep"
    edge_direction: str = "as_listed"
    drop_unlabelled: bool = False


class DatasetUnavailable(RuntimeError):
    """The dataset's files were not found under any data root (the message says where)."""


@dataclass(frozen=True)
class NodeData:
    """A node-classification problem ready for training.

    Attributes:
        x: ``(N, F)`` float32 features (preprocessed): a dense tensor, or an ``(N, F)``
            :class:`SparseMatrix` when at most :data:`SPARSE_FEATURE_DENSITY` of the entries are
            non-zero (bag-of-words features; layers then project them with one ``spmm``, as
            the reference implementations of GCN do).
        y: ``(N,)`` int64 labels.
        adjacency: ``N × N`` :class:`SparseMatrix` (row = target), CSC cached.
        train, val, test: bool masks ``(N, K)`` — ``K`` alternative splits (1 for public).
        num_classes: ``C``.
        description: where the data came from (for the report).
    """

    x: Tensor | SparseMatrix
    y: Tensor
    adjacency: SparseMatrix
    train: Tensor
    val: Tensor
    test: Tensor
    num_classes: int
    description: str

    @property
    def num_features(self) -> int:
        return self.x.num_cols if isinstance(self.x, SparseMatrix) else int(self.x.shape[1])

    @property
    def num_splits(self) -> int:
        return int(self.train.shape[1])

    def to(self, device: torch.device | str) -> NodeData:
        return NodeData(self.x.to(device), self.y.to(device), self.adjacency.to(device),
                        self.train.to(device), self.val.to(device), self.test.to(device),
                        self.num_classes, self.description)


def data_roots(extra: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """The folders searched for datasets, in order."""
    roots = [Path(p) for p in extra]
    if os.environ.get("GNNKIT_DATA"):
        roots.append(Path(os.environ["GNNKIT_DATA"]))
    roots.append(Path.home() / ".cache" / "gnnkit")
    return roots


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def find_folder(roots: Sequence[Path], folders: Sequence[str], marker: str) -> Path | None:
    """The first ``root/folder`` (roots in order, then folders) containing the file
    ``marker``; every task looks its data up this way."""
    for root in roots:
        for folder in folders:
            candidate = root / folder
            if (candidate / marker).is_file():
                return candidate
    return None


def dataset_not_found(spec: DatasetSpec, what: str, folders: Sequence[str], marker: str,
                      roots: Sequence[Path], hint: str = "") -> DatasetUnavailable:
    """The error of a :func:`find_folder` that found nothing: what was looked for, in which
    folders, under which roots (``hint`` adds a dataset-specific remark)."""
    return DatasetUnavailable(
        f"{what} of dataset {spec.name!r} not found: looked for {marker} in "
        f"{{{', '.join(folders)}}} under {[str(r) for r in roots]}{hint} "
        "(pass --data-root or set GNNKIT_DATA)"
    )


def row_normalize(x: Tensor) -> Tensor:
    """Rows divided by their sums (all-zero rows stay zero), as Kipf's ``preprocess_features``."""
    total = x.sum(dim=1, keepdim=True)
    return x / torch.where(total == 0, torch.ones_like(total), total)


def _masks(graph: Graph) -> tuple[Tensor, Tensor, Tensor]:
    masks = []
    for name in ("train", "val", "test"):
        mask = graph.node_splits.get(name)
        if mask is None:
            raise DatasetUnavailable(f"dataset {graph.name!r} has no {name!r} split")
        masks.append(mask if mask.dim() == 2 else mask.unsqueeze(1))
    return masks[0], masks[1], masks[2]


def _load_graph(spec: DatasetSpec, roots: Sequence[Path]) -> Graph:
    folders = _unique([*spec.folders, spec.name])
    if spec.source == "bundled":
        return load_bundled(spec.name)
    if spec.source == "planetoid":
        marker = f"ind.{spec.name}.graph"
        folder = find_folder(roots, folders, marker)
        if folder is None:
            raise dataset_not_found(spec, "Planetoid files", folders, marker, roots)
        return read_planetoid(folder, spec.name)
    marker = "out1_graph_edges.txt"
    folder = find_folder(roots, folders, marker)
    if folder is None:
        raise dataset_not_found(spec, "geom-gcn files", folders, marker, roots)
    return read_geomgcn(folder, spec.name, undirected=spec.undirected, splits=False)


def _load_any_graph(spec: DatasetSpec, roots: Sequence[Path]) -> Graph:
    if spec.source != "ogb":
        return _load_graph(spec, roots)
    folders = _unique([*spec.folders, spec.name, spec.name.replace("-", "_")])
    marker = "raw/edge.csv.gz"
    folder = find_folder(roots, folders, marker)
    if folder is None:
        raise dataset_not_found(spec, "OGB files", folders, marker, roots)
    return read_ogb_link_property(folder, spec.name)


def _geomgcn_splits(spec: DatasetSpec, roots: Sequence[Path], num_nodes: int
                    ) -> dict[str, Tensor]:
    folders = _unique([*spec.split_folders, *spec.folders, spec.name])
    marker = f"{spec.name}_split_0.6_0.2_0.npz"
    folder = find_folder(roots, folders, marker)
    if folder is None:
        raise dataset_not_found(spec, "geom-gcn split files", folders, marker, roots)
    return read_geomgcn_splits(folder, spec.name, num_nodes)


def _drop_unlabelled(graph: Graph, train: Tensor, val: Tensor, test: Tensor
                     ) -> tuple[Tensor, Tensor, Tensor, int]:
    """The masks without the nodes the reader marks as unlabelled, and how many there are."""
    nodes = sorted({*graph.metadata.get("padded_nodes", ()),
                    *graph.metadata.get("unlabelled_nodes", ())})
    if not nodes:
        return train, val, test, 0
    keep = torch.ones(graph.num_nodes, 1, dtype=torch.bool)
    keep[torch.tensor(nodes, dtype=torch.long)] = False
    return train & keep, val & keep, test & keep, len(nodes)


def load_node_data(spec: DatasetSpec, roots: Sequence[Path] | None = None) -> NodeData:
    """Load, preprocess and split the dataset of ``spec``.

    Raises:
        DatasetUnavailable: files not found under any root (message lists where it looked),
            or a found dataset folder lacks one of its files (an incomplete download).
        gnnkit.datasets.DatasetFileError: a file exists but is malformed.
    """
    roots = data_roots() if roots is None else list(roots)
    try:
        return _load_node_data(spec, roots)
    except MissingDatasetFileError as error:
        raise DatasetUnavailable(f"dataset {spec.name!r} is incomplete: {error}") from error


def _load_node_data(spec: DatasetSpec, roots: list[Path]) -> NodeData:
    graph = _load_graph(spec, roots)
    if graph.x is None or graph.y is None:
        raise DatasetUnavailable(f"dataset {spec.name!r} has no features or labels")
    if spec.split == "geom-gcn":
        splits = _geomgcn_splits(spec, roots, graph.num_nodes)
        train, val, test = splits["train"], splits["val"], splits["test"]
    else:
        train, val, test = _masks(graph)
    x = graph.x.float()
    if spec.features == "row_normalize":
        x = row_normalize(x)
    y = graph.y.long().view(-1)
    num_classes = int(graph.metadata.get("num_classes", int(y.max()) + 1))
    adjacency = SparseMatrix.from_edge_index(graph.edge_index, shape=graph.num_nodes)
    if spec.undirected and spec.source != "geomgcn":  # geom-gcn's reader symmetrises itself
        adjacency = to_undirected(adjacency)
    steps: list[str] = []
    if getattr(spec, "edge_direction", "as_listed") == "reversed":
        adjacency = adjacency.transpose()
        steps.append("edges reversed")
    if getattr(spec, "self_loops", "keep") == "remove":
        loops = adjacency.nnz
        adjacency = remove_self_loops(adjacency)
        steps.append(f"{loops - adjacency.nnz} self loops removed")
    if getattr(spec, "drop_unlabelled", False):
        train, val, test, dropped = _drop_unlabelled(graph, train, val, test)
        steps.append(f"{dropped} unlabelled nodes dropped from the splits")
    adjacency.csc()
    density = float((x != 0).float().mean()) if x.numel() else 0.0
    kind = "sparse" if density <= SPARSE_FEATURE_DENSITY else "dense"
    description = (f"{graph.metadata.get('name', spec.name)} ({graph.metadata.get('source', '')})"
                   f": {graph.num_nodes} nodes, {adjacency.nnz} directed edges, "
                   f"{x.shape[1]} {kind} features ({100 * density:.1f}% non-zero), "
                   f"{num_classes} classes, {train.shape[1]} split(s)"
                   + "".join(f"; {step}" for step in steps))
    features: Tensor | SparseMatrix = x
    if density <= SPARSE_FEATURE_DENSITY:
        features = SparseMatrix.from_dense(x)
    return NodeData(features, y, adjacency, train, val, test, num_classes, description)


# ---------------------------------------------------------------------------- link prediction
@dataclass(frozen=True)
class LinkData:
    """A link-prediction problem ready for training (one run's split).

    Attributes:
        x: ``(N, F)`` float32 node features, or ``(N,)`` int64 node ids when the experiment
            has ``features = "none"`` (the encoder then learns an embedding per node).
        split: positive/negative pairs (:class:`gnnkit.nn.linkpred.LinkSplit`); the
            message-passing graph is ``split.train_graph()``.
        description: where the data came from and the split's sizes (for the report).
    """

    x: Tensor
    split: LinkSplit
    description: str

    @property
    def num_features(self) -> int:
        """``F`` (0 for node ids)."""
        return 0 if self.x.dim() == 1 else int(self.x.shape[1])

    def to(self, device: torch.device | str) -> LinkData:
        return LinkData(self.x.to(device), self.split.to(device), self.description)


def load_link_graph(spec: DatasetSpec, roots: Sequence[Path] | None = None) -> Graph:
    """The graph of a link-prediction experiment, read once per experiment (the split is drawn
    per run by :func:`link_data`).

    Raises:
        DatasetUnavailable: files not found under any root, or a dataset folder is incomplete.
    """
    roots = data_roots() if roots is None else list(roots)
    try:
        graph = _load_any_graph(spec, roots)
    except MissingDatasetFileError as error:
        raise DatasetUnavailable(f"dataset {spec.name!r} is incomplete: {error}") from error
    if spec.split == "ogb" and not graph.edge_splits:
        raise DatasetUnavailable(f"dataset {spec.name!r} has no OGB edge split")
    if spec.features != "none" and graph.x is None:
        raise DatasetUnavailable(f"dataset {spec.name!r} has no node features; use "
                                 "features = \"none\" (learnt node embeddings)")
    return graph


def link_data(graph: Graph, spec: DatasetSpec, seed: int) -> LinkData:
    """Node input and link split of one run: OGB's fixed split, or a random split drawn with
    ``seed`` (85/5/10 with as many negatives as positives, or the official NCN code's
    70/10/20)."""
    if spec.split == "random-85-5-10":
        graph = random_link_split(graph, 0.05, 0.1, seed=seed)
    elif spec.split == "ncn-70-10-20":
        graph = ncn_planetoid_split(graph, seed=seed)
    elif spec.split != "ogb":
        raise ValueError(f"{spec.split!r} is not a link split")
    split = LinkSplit.from_edge_splits(graph.edge_splits, graph.num_nodes)
    if spec.features == "none":
        x = torch.arange(graph.num_nodes)
        kind = "no features (learnt node embeddings)"
    else:
        assert graph.x is not None  # checked by load_link_graph
        x = graph.x.float()
        if spec.features == "row_normalize":
            x = row_normalize(x)
        kind = f"{x.shape[1]} {spec.features} features"
    counts = ", ".join(f"{name} {getattr(split, name).shape[1]}" for name in (
        "train_pos", "val_pos", "val_neg", "test_pos", "test_neg"))
    seeded = "" if spec.split == "ogb" else f" (seed {seed})"
    description = (f"{graph.metadata.get('name', spec.name)}: {graph.num_nodes} nodes, {kind}; "
                   f"split {spec.split}{seeded}: {counts}")
    return LinkData(x, split, description)
