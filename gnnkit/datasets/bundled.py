"""Compact ``.npz`` bundles of node-classification graphs; Cora ships inside the package.

``gnnkit/datasets/_bundled/cora.npz`` is built from the original Planetoid files by
``scripts/build_bundled_cora.py`` (so anyone can rebuild and diff it) and lets the test suite
and the benchmarks run with no network and no data folder.

Bundle layout (``np.savez_compressed``; every array has a fixed, small dtype):

=====================  ==========================================================
``format_version``     ``int64`` scalar, currently 1
``num_nodes``          ``int64`` scalar ``N``
``edge_index``         ``(2, E)`` ``int32`` (widened to ``int64`` on load)
``x_indptr``           ``(N + 1,)`` ``int64`` CSR row pointer of the features
``x_indices``          ``(nnz,)`` ``int32`` CSR column indices
``x_data``             ``(nnz,)`` ``float32`` CSR values
``x_shape``            ``(2,)`` ``int64`` ``(N, F)``
``y``                  ``(N,)`` ``int64`` labels
``split_<name>``       ``int64`` node ids of each node split
``metadata_json``      UTF-8 JSON of the metadata (``str`` array)
=====================  ==========================================================

Loading uses ``np.load(allow_pickle=False)``: a bundle cannot carry code.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from gnnkit.datasets._errors import DatasetFileError
from gnnkit.datasets._graph import Graph
from gnnkit.datasets._io import require_file
from gnnkit.sparse.index import index_from_ptr, ptr_from_index

__all__ = ["BUNDLED_DATASETS", "bundled_path", "load_bundled", "read_bundle", "write_bundle"]

BUNDLE_FORMAT_VERSION = 1
BUNDLED_DATASETS = ("cora",)


def bundled_path(name: str) -> Path:
    """Path of the bundled ``<name>.npz`` inside the installed package."""
    if name.lower() not in BUNDLED_DATASETS:
        raise ValueError(f"no bundled dataset {name!r}; bundled: {list(BUNDLED_DATASETS)}")
    return Path(str(resources.files("gnnkit.datasets") / "_bundled" / f"{name.lower()}.npz"))


def write_bundle(graph: Graph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` (edges, dense ``x``, ``y``, 1-D node splits, metadata) as a bundle.

    Only the fields listed in the module docstring are stored: a graph with ``edge_attr``,
    edge splits or ``(N, K)`` multi-split masks is rejected rather than silently truncated.
    """
    if graph.x is None or graph.y is None:
        raise ValueError("write_bundle needs a graph with x and y")
    if graph.edge_attr is not None or graph.edge_splits:
        raise ValueError("write_bundle does not store edge_attr or edge splits")
    if graph.num_nodes >= 2**31:
        raise ValueError("write_bundle stores node ids as int32; graph too large")
    x = graph.x.numpy()
    rows, cols = np.nonzero(x)
    arrays: dict[str, np.ndarray] = {
        "format_version": np.asarray(BUNDLE_FORMAT_VERSION, dtype=np.int64),
        "num_nodes": np.asarray(graph.num_nodes, dtype=np.int64),
        "edge_index": graph.edge_index.numpy().astype(np.int32),
        "x_indptr": ptr_from_index(rows, x.shape[0]),
        "x_indices": cols.astype(np.int32),
        "x_data": x[rows, cols].astype(np.float32),
        "x_shape": np.asarray(x.shape, dtype=np.int64),
        "y": graph.y.numpy().astype(np.int64),
        "metadata_json": np.asarray(json.dumps(dict(graph.metadata), sort_keys=True)),
    }
    if graph.x.dtype != torch.float32:
        raise ValueError(f"write_bundle stores float32 features, got {graph.x.dtype}")
    for name, mask in graph.node_splits.items():
        if mask.dim() != 1:
            raise ValueError(f"write_bundle stores 1-D splits; split {name!r} is {mask.dim()}-D")
        arrays[f"split_{name}"] = mask.nonzero().view(-1).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return path


def read_bundle(path: str | os.PathLike[str]) -> Graph:
    """Read a bundle written by :func:`write_bundle` back into an identical :class:`Graph`."""
    path = require_file(path, "gnnkit bundle")
    try:
        with np.load(path, allow_pickle=False) as bundle:
            arrays = {key: bundle[key] for key in bundle.files}
    except (OSError, ValueError) as error:
        raise DatasetFileError(path, f"not a readable gnnkit bundle ({error})") from error
    try:
        version = int(arrays["format_version"])
        if version != BUNDLE_FORMAT_VERSION:
            raise DatasetFileError(path, f"bundle format {version}, expected 1")
        num_nodes = int(arrays["num_nodes"])
        num_rows, num_features = (int(v) for v in arrays["x_shape"])
        indptr = arrays["x_indptr"].astype(np.int64)
        x = np.zeros((num_rows, num_features), dtype=np.float32)
        if indptr.shape != (num_rows + 1,):
            raise ValueError(f"x_indptr has {indptr.size} entries for {num_rows} rows")
        row_of_entry = index_from_ptr(indptr)
        x[row_of_entry, arrays["x_indices"].astype(np.int64)] = arrays["x_data"]
        splits = {
            key[len("split_") :]: torch.from_numpy(arrays[key].astype(np.int64))
            for key in arrays
            if key.startswith("split_")
        }
        metadata = json.loads(str(arrays["metadata_json"]))
        return Graph(
            edge_index=torch.from_numpy(arrays["edge_index"].astype(np.int64)),
            num_nodes=num_nodes,
            x=torch.from_numpy(x),
            y=torch.from_numpy(arrays["y"].astype(np.int64)),
            node_splits=splits,
            metadata=metadata,
        )
    except KeyError as error:
        raise DatasetFileError(path, f"bundle lacks array {error}") from error
    except (ValueError, IndexError) as error:
        raise DatasetFileError(path, f"inconsistent bundle ({error})") from error


def load_bundled(name: str = "cora") -> Graph:
    """The bundled copy of ``name`` (only ``cora``): no network, no data folder."""
    graph = read_bundle(bundled_path(name))
    return graph.replace(metadata={**graph.metadata, "source": f"bundled:{name.lower()}.npz"})
