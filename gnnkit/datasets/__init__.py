"""Datasets: the :class:`Graph` container, readers of original on-disk formats, downloads.

Quick start::

    from gnnkit import datasets
    cora = datasets.load("cora")          # bundled copy: no network, no data folder
    cora.x, cora.edge_index, cora.train_mask, cora.adj

Readers take a folder with the files as their authors published them (see
``docs/datasets.md`` for every format). Conventions of :class:`Graph`: ``edge_index[0]`` is
the source and ``edge_index[1]`` the target of each edge (PyG's), and ``Graph.adj`` is a
:class:`gnnkit.sparse.SparseMatrix` with row = target, column = source.
"""

from __future__ import annotations

from gnnkit._ogb_master import OGB_DATASETS, OGBDatasetInfo, ogb_dataset_info
from gnnkit.datasets._errors import (
    DamagedDatasetFileError,
    DatasetFileError,
    MissingDatasetFileError,
)
from gnnkit.datasets._graph import EDGE_SPLIT_NAMES, NODE_SPLIT_NAMES, Graph, GraphDataset
from gnnkit.datasets.bundled import load_bundled
from gnnkit.datasets.cache import ChecksumError, DownloadError, data_home
from gnnkit.datasets.expressivity import read_exp, read_graph6
from gnnkit.datasets.geomgcn import read_geomgcn, read_geomgcn_splits
from gnnkit.datasets.lightgcn import Interactions, read_lightgcn
from gnnkit.datasets.ogb_format import (
    read_ogb,
    read_ogb_graph_property,
    read_ogb_link_property,
    read_ogb_node_property,
)
from gnnkit.datasets.planetoid import read_planetoid
from gnnkit.datasets.registry import DATASETS, dataset_status, download, get_spec, load
from gnnkit.datasets.tu import read_tu
from gnnkit.datasets.zinc import read_zinc

__all__ = [
    "DATASETS",
    "EDGE_SPLIT_NAMES",
    "NODE_SPLIT_NAMES",
    "OGB_DATASETS",
    "ChecksumError",
    "DamagedDatasetFileError",
    "DatasetFileError",
    "DownloadError",
    "Graph",
    "GraphDataset",
    "Interactions",
    "MissingDatasetFileError",
    "OGBDatasetInfo",
    "data_home",
    "dataset_status",
    "download",
    "get_spec",
    "load",
    "load_bundled",
    "ogb_dataset_info",
    "read_exp",
    "read_geomgcn",
    "read_geomgcn_splits",
    "read_graph6",
    "read_lightgcn",
    "read_ogb",
    "read_ogb_graph_property",
    "read_ogb_link_property",
    "read_ogb_node_property",
    "read_planetoid",
    "read_tu",
    "read_zinc",
]
