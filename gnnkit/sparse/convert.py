"""Conversions between :class:`SparseMatrix` and other sparse representations.

Matrix-shaped formats (dense, torch sparse COO/CSR/CSC, scipy.sparse, ``torch_sparse``'s
``SparseTensor`` ``adj_t``) already use row = target, so they map entry for entry. Edge lists
(``edge_index``, PyG ``Data``/``EdgeIndex``) use PyG's source → target convention and are
transposed on the way in and out. Optional packages are imported only when used; a missing one
raises an ``ImportError`` that names the package to install.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .index import index_from_ptr
from .matrix import SparseMatrix

__all__ = [
    "from_pyg",
    "from_scipy",
    "from_torch_sparse",
    "from_torch_sparse_tensor",
    "to_dense",
    "to_edge_index",
    "to_scipy",
    "to_torch_sparse",
    "to_torch_sparse_tensor",
]


def _optional(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"this conversion needs the optional package {package!r}: pip install {package}"
        ) from error


def to_edge_index(A: SparseMatrix) -> tuple[Tensor, Tensor | None]:
    """``(edge_index, values)`` in PyG orientation: ``edge_index = [col; row]`` (source; target)."""
    return torch.stack([A.col, A.row]), A.values


def to_dense(A: SparseMatrix) -> Tensor:
    """Dense ``(M, N, *value_shape)`` tensor; duplicate entries are summed; ones if no values."""
    values = A.values
    if values is None:
        values = torch.ones(A.nnz, device=A.device)
    dense = values.new_zeros((A.num_rows, A.num_cols, *values.shape[1:]))
    return dense.index_put((A.row.long(), A.col.long()), values, accumulate=True)


def from_torch_sparse(tensor: Tensor) -> SparseMatrix:
    """From a 2-D torch sparse tensor of layout COO, CSR or CSC (values kept, duplicates kept)."""
    if not isinstance(tensor, Tensor) or tensor.dim() != 2:
        raise ValueError("expected a 2-D torch sparse tensor")
    shape = tuple(tensor.shape)
    if tensor.layout == torch.sparse_coo:
        row, col = tensor._indices()
        return SparseMatrix.from_coo(row, col, tensor._values(), shape)
    if tensor.layout == torch.sparse_csr:
        rowptr, col = tensor.crow_indices(), tensor.col_indices()
        return SparseMatrix(rowptr, col, tensor.values(), shape)
    if tensor.layout == torch.sparse_csc:
        colptr, row = tensor.ccol_indices(), tensor.row_indices()
        col = index_from_ptr(colptr)
        return SparseMatrix.from_coo(row, col, tensor.values(), shape)
    raise ValueError(f"unsupported layout {tensor.layout}; use COO, CSR or CSC")


def to_torch_sparse(A: SparseMatrix, layout: torch.layout = torch.sparse_csr) -> Tensor:
    """A torch sparse tensor (CSR by default; also ``torch.sparse_coo`` / ``sparse_csc``)."""
    values = A.values if A.values is not None else torch.ones(A.nnz, device=A.device)
    if layout == torch.sparse_csr:
        return torch.sparse_csr_tensor(
            A.rowptr, A.col, values, size=(*A.shape, *values.shape[1:]), check_invariants=False
        )
    if layout == torch.sparse_coo:
        indices = torch.stack([A.row, A.col]).long()
        return torch.sparse_coo_tensor(
            indices, values, size=(*A.shape, *values.shape[1:]), check_invariants=False
        )
    if layout == torch.sparse_csc:
        csc = A.csc()
        return torch.sparse_csc_tensor(
            csc.colptr,
            csc.row,
            values.index_select(0, csc.perm),
            size=(*A.shape, *values.shape[1:]),
            check_invariants=False,
        )
    raise ValueError(f"unsupported layout {layout}; use sparse_csr, sparse_coo or sparse_csc")


def from_scipy(matrix: Any) -> SparseMatrix:
    """From any ``scipy.sparse`` matrix or array (converted through COO, duplicates kept)."""
    sparse = _optional("scipy.sparse", "scipy")
    if not sparse.issparse(matrix):
        raise TypeError(f"expected a scipy.sparse matrix, got {type(matrix).__name__}")
    coo = matrix.tocoo()
    row = torch.from_numpy(np.asarray(coo.row, dtype=np.int64))
    col = torch.from_numpy(np.asarray(coo.col, dtype=np.int64))
    values = torch.from_numpy(np.asarray(coo.data))
    if not values.is_floating_point():
        values = values.to(torch.get_default_dtype())
    return SparseMatrix.from_coo(row, col, values, coo.shape)


def to_scipy(A: SparseMatrix, format: str = "csr") -> Any:
    """A ``scipy.sparse`` ``csr_matrix`` (or ``format="coo"``/``"csc"``); scalar values only."""
    sparse = _optional("scipy.sparse", "scipy")
    if A.values is not None and A.values.dim() != 1:
        raise ValueError("scipy conversion needs scalar (nnz,) values")
    values = (
        np.ones(A.nnz, dtype=np.float32) if A.values is None else A.values.detach().cpu().numpy()
    )
    csr = sparse.csr_matrix((values, A.col.cpu().numpy(), A.rowptr.cpu().numpy()), shape=A.shape)
    return csr.asformat(format)


def from_torch_sparse_tensor(tensor: Any) -> SparseMatrix:
    """From a ``torch_sparse.SparseTensor`` (PyG's ``adj_t``: row = target)."""
    rowptr, col, values = tensor.csr()
    return SparseMatrix(rowptr, col, values, tuple(tensor.sparse_sizes()))


def to_torch_sparse_tensor(A: SparseMatrix) -> Any:
    """A ``torch_sparse.SparseTensor`` with the same orientation (usable as PyG's ``adj_t``)."""
    torch_sparse = _optional("torch_sparse", "torch-sparse")
    return torch_sparse.SparseTensor(
        rowptr=A.rowptr.long(),
        col=A.col.long(),
        value=A.values,
        sparse_sizes=A.shape,
        is_sorted=True,
    )


def from_pyg(obj: Any, *, edge_weight: str | None = None) -> SparseMatrix:
    """From a PyG ``Data`` (its ``edge_index`` or ``adj_t``), an ``EdgeIndex`` or ``SparseTensor``.

    ``edge_weight`` names the ``Data`` attribute holding per-edge values (e.g.
    ``"edge_weight"``); by default there are none.
    """
    if type(obj).__name__ == "SparseTensor":
        return from_torch_sparse_tensor(obj)
    if type(obj).__name__ == "EdgeIndex":
        sizes = obj.sparse_size()
        n_src = sizes[0] if sizes[0] is not None else None
        n_dst = sizes[1] if sizes[1] is not None else None
        plain = obj.as_tensor()
        if n_src is None or n_dst is None:
            return SparseMatrix.from_edge_index(plain)
        return SparseMatrix.from_edge_index(plain, shape=(n_dst, n_src))
    adj_t = getattr(obj, "adj_t", None)
    if adj_t is not None:
        return from_torch_sparse_tensor(adj_t)
    edge_index = getattr(obj, "edge_index", None)
    if edge_index is None:
        raise TypeError(
            f"cannot build a SparseMatrix from {type(obj).__name__}: "
            "expected a PyG Data with edge_index/adj_t, an EdgeIndex or SparseTensor"
        )
    values = getattr(obj, edge_weight) if edge_weight is not None else None
    n = obj.num_nodes
    if type(edge_index).__name__ == "EdgeIndex":
        edge_index = edge_index.as_tensor()
    return SparseMatrix.from_edge_index(edge_index, values, shape=n)
