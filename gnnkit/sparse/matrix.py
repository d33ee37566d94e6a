"""``SparseMatrix``: the immutable sparse value every gnnkit op and layer works on."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, Literal, SupportsIndex, TypeAlias, overload

import torch
from torch import Tensor

from ._structure import CSC, Structure
from .index import pair_keys, ptr_from_index

__all__ = ["SparseMatrix"]

_INDEX_DTYPES = (torch.int32, torch.int64)
Shape = tuple[int, int]
#: what a ``shape=`` argument may be: ``n`` for ``(n, n)`` or a pair; ints, NumPy integers or
#: 0-d integer tensors (see :func:`_normalise_shape`)
ShapeLike: TypeAlias = "SupportsIndex | Tensor | Sequence[SupportsIndex | Tensor] | None"


def _check_index_tensor(name: str, tensor: Any, *, dims: int) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype not in _INDEX_DTYPES:
        raise TypeError(f"{name} must have dtype int64 or int32, got {tensor.dtype}")
    if tensor.dim() != dims:
        raise ValueError(f"{name} must have {dims} dimension(s), got shape {tuple(tensor.shape)}")
    return tensor


def _check_values(values: Any, nnz: int, device: torch.device) -> Tensor | None:
    if values is None:
        return None
    if not isinstance(values, Tensor):
        raise TypeError(f"values must be a torch.Tensor or None, got {type(values).__name__}")
    if not (values.is_floating_point() or values.is_complex()):
        raise TypeError(f"values must be floating point, got {values.dtype}")
    if values.dim() not in (1, 2, 3) or values.shape[0] != nnz:
        raise ValueError(
            f"values must have shape (nnz,), (nnz, H) or (nnz, P, Q) with nnz={nnz}, "
            f"got {tuple(values.shape)}"
        )
    if values.device != device:
        raise ValueError(f"values are on {values.device} but the indices are on {device}")
    return values


def _as_dim(value: Any, shape: Any) -> int:
    """One dimension of ``shape``: a Python/NumPy integer or a 0-d integer tensor, as ``int``."""
    if isinstance(value, Tensor):
        if value.dim() != 0 or value.is_floating_point() or value.is_complex() or (
            value.dtype == torch.bool
        ):
            raise TypeError(
                f"shape entries must be integers; got a tensor of dtype {value.dtype} and shape "
                f"{tuple(value.shape)} in shape={shape!r} (use an int, e.g. int(n))"
            )
        return int(value.item())
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):
        raise TypeError(f"shape entries must be integers, got a bool in shape={shape!r}")
    try:
        return operator.index(value)  # int, numpy integer; refuses floats
    except TypeError:
        raise TypeError(
            f"shape entries must be integers, got {type(value).__name__} {value!r} in "
            f"shape={shape!r} (use an int, e.g. int(n))"
        ) from None


def _normalise_shape(shape: ShapeLike, default: Shape) -> Shape:
    """Parse a ``shape`` argument: ``None`` (use ``default``), ``n`` for ``(n, n)``, or a pair.

    ``n`` and each entry of a pair may be a Python int, a NumPy integer or a 0-d integer
    tensor (``shape=edge_index.max() + 1`` works); a 1-D tensor or array of two integers is a
    pair. Floats and bools raise ``TypeError``; negative sizes ``ValueError``. Every
    constructor of :class:`SparseMatrix` parses its ``shape`` here.
    """
    if shape is None:
        return default
    if isinstance(shape, (str, bytes)):
        raise TypeError(f"shape entries must be integers, got a string: shape={shape!r}")
    if getattr(shape, "ndim", None) == 0 or not hasattr(shape, "__len__"):
        rows = cols = _as_dim(shape, shape)
    else:
        if len(shape) != 2:
            raise ValueError(
                f"shape must be an int or a pair (num_rows, num_cols), got {shape!r}"
            )
        rows, cols = (_as_dim(entry, shape) for entry in shape)
    if rows < 0 or cols < 0:
        raise ValueError(f"shape must be non-negative, got {shape!r}")
    return (rows, cols)


#: an inferred (not given) dimension above this many rows/columns is refused when it is also
#: far larger than the number of entries: a CSR ``rowptr`` of 2**27 int64 entries is 1 GiB
_MAX_INFERRED_DIM = 1 << 27
#: ... "far larger": more than this many rows or columns per stored entry
_MAX_INFERRED_PER_ENTRY = 1024


def _check_inferred_dim(what: str, size: int, nnz: int) -> None:
    """Refuse an inferred dimension that is implausible for ``nnz`` entries.

    A dimension is inferred as ``max(index) + 1`` when no ``shape`` is given; a stray huge id
    (a corrupt file, an uninitialised tensor) would make it allocate terabytes. It is refused
    when it exceeds both ``2**27`` and ``1024 * (nnz + 1)``; an explicit ``shape`` is never
    refused.
    """
    if size > _MAX_INFERRED_DIM and size > _MAX_INFERRED_PER_ENTRY * (nnz + 1):
        raise ValueError(
            f"the inferred {what} {size:,} (largest index + 1) is implausible for {nnz:,} "
            "entries: a corrupt or uninitialised index? If the size is intended, pass shape= "
            "explicitly (e.g. shape=num_nodes or shape=(num_rows, num_cols))"
        )


def _sort_coo(row: Tensor, col: Tensor, num_rows: int, num_cols: int) -> Tensor:
    """Stable permutation that orders entries by (row, col), keeping duplicates in order."""
    key = pair_keys(row, col, num_rows, num_cols, check=False)
    return torch.sort(key, stable=True).indices


class SparseMatrix:
    """An immutable ``M × N`` sparse matrix in CSR form, optionally with values.

    **Orientation.** Row = target, column = source: ``spmm(A, X)`` computes
    ``Y[i] = ⊕_j A[i, j] · X[j]``, i.e. it aggregates source features into targets.
    :meth:`from_edge_index` takes PyG's convention (``edge_index[0]`` = source,
    ``edge_index[1]`` = target), so entry ``(edge_index[1, e], edge_index[0, e])`` is stored.

    **Values.** ``None`` means all ones and costs no memory; otherwise ``(nnz,)`` scalars,
    ``(nnz, H)`` multi-head weights (one scalar per head) or ``(nnz, P, Q)`` blocks (e.g. sheaf
    restriction maps). Values may require grad: ops differentiate through them.

    **Indices.** ``rowptr`` (M+1,) and ``col`` (nnz,) share one dtype, int64 or int32.
    Constructors sort entries by column within each row and keep duplicates (use
    :meth:`coalesce` to merge them). CSC, degrees and COO rows are computed once on first use
    and shared by every matrix derived from the same structure (:meth:`with_values`,
    :meth:`transpose`, normalisations that only change values).

    Instances never change; every method returns a new matrix.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1], [1, 2, 2]]))  # 0→1, 0→2, 1→2
        >>> A.shape, A.nnz
        ((3, 3), 3)
        >>> A.rowptr.tolist(), A.col.tolist()  # row = target: node 2 receives from 0 and 1
        ([0, 0, 1, 3], [0, 0, 1])
        >>> A.degree().tolist()  # in-degrees
        [0, 1, 2]
    """

    __slots__ = ("_shape", "_structure", "_values")

    _structure: Structure
    _values: Tensor | None
    _shape: Shape

    def __init__(
        self,
        rowptr: Tensor,
        col: Tensor,
        values: Tensor | None = None,
        shape: ShapeLike = None,
        *,
        validate: bool = True,
    ) -> None:
        """Build from CSR arrays. ``shape`` defaults to ``(len(rowptr) - 1, max(col) + 1)``.

        With ``validate=True`` (the default) the arrays are checked: integer dtypes, matching
        devices, ``rowptr`` non-decreasing from 0 to ``nnz``, columns within ``[0, N)``.
        """
        rowptr = _check_index_tensor("rowptr", rowptr, dims=1)
        col = _check_index_tensor("col", col, dims=1)
        if validate:
            if rowptr.dtype != col.dtype:
                raise TypeError(f"rowptr ({rowptr.dtype}) and col ({col.dtype}) dtypes differ")
            if rowptr.device != col.device:
                raise ValueError(f"rowptr is on {rowptr.device} but col is on {col.device}")
            if rowptr.numel() == 0:
                raise ValueError("rowptr must have at least one element (num_rows + 1)")
            if int(rowptr[0]) != 0 or int(rowptr[-1]) != col.numel():
                raise ValueError(
                    f"rowptr must start at 0 and end at nnz={col.numel()}, "
                    f"got {int(rowptr[0])} … {int(rowptr[-1])}"
                )
            if rowptr.numel() > 1 and bool((rowptr[1:] < rowptr[:-1]).any()):
                raise ValueError("rowptr must be non-decreasing")
        num_cols_default = int(col.max()) + 1 if col.numel() else 0
        rows, cols = _normalise_shape(shape, (rowptr.numel() - 1, num_cols_default))
        if rows != rowptr.numel() - 1:
            raise ValueError(f"shape has {rows} rows but rowptr describes {rowptr.numel() - 1}")
        if validate and col.numel():
            low, high = int(col.min()), int(col.max())
            if low < 0 or high >= cols:
                raise ValueError(f"col indices must lie in [0, {cols}), found {low} … {high}")
        sorted_rows = False
        if validate:
            sorted_rows = Structure(rowptr, col, cols, sorted_rows=False).columns_sorted()
        structure = Structure(rowptr, col, cols, sorted_rows=sorted_rows)
        values = _check_values(values, col.numel(), col.device) if validate else values
        object.__setattr__(self, "_structure", structure)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_shape", (rows, cols))

    # ------------------------------------------------------------------ internal constructor
    @classmethod
    def _from_structure(
        cls, structure: Structure, values: Tensor | None, shape: Shape | None = None
    ) -> SparseMatrix:
        """Wrap an existing structure without checks (internal; shares its caches)."""
        matrix = object.__new__(cls)
        object.__setattr__(matrix, "_structure", structure)
        object.__setattr__(matrix, "_values", values)
        object.__setattr__(matrix, "_shape", shape or (structure.num_rows, structure.num_cols))
        return matrix

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SparseMatrix is immutable; methods return new matrices")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("SparseMatrix is immutable")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_coo(
        cls,
        row: Tensor,
        col: Tensor,
        values: Tensor | None = None,
        shape: ShapeLike = None,
    ) -> SparseMatrix:
        """Build from COO entries ``(row[e], col[e])`` (row = target); duplicates are kept."""
        row = _check_index_tensor("row", row, dims=1)
        col = _check_index_tensor("col", col, dims=1)
        if row.numel() != col.numel():
            raise ValueError(f"row has {row.numel()} entries but col has {col.numel()}")
        if row.device != col.device:
            raise ValueError(f"row is on {row.device} but col is on {col.device}")
        index_dtype = torch.int32 if row.dtype == col.dtype == torch.int32 else torch.int64
        default = (
            int(row.max()) + 1 if row.numel() else 0,
            int(col.max()) + 1 if col.numel() else 0,
        )
        if shape is None:
            _check_inferred_dim("number of rows", default[0], row.numel())
            _check_inferred_dim("number of columns", default[1], row.numel())
        rows, cols = _normalise_shape(shape, default)
        for name, index, bound in (("row", row, rows), ("col", col, cols)):
            if index.numel() and (int(index.min()) < 0 or int(index.max()) >= bound):
                raise ValueError(
                    f"{name} indices must lie in [0, {bound}), found "
                    f"{int(index.min())} … {int(index.max())}"
                )
        values = _check_values(values, row.numel(), row.device)
        perm = _sort_coo(row, col, rows, cols)
        sorted_row, sorted_col = row[perm], col[perm].to(index_dtype)
        rowptr = ptr_from_index(sorted_row, rows, dtype=index_dtype, check=False)
        structure = Structure(rowptr, sorted_col, cols, sorted_rows=True)
        structure._cache["row"] = sorted_row.to(index_dtype)
        return cls._from_structure(
            structure, None if values is None else values[perm], (rows, cols)
        )

    @classmethod
    def from_edge_index(
        cls,
        edge_index: Tensor,
        values: Tensor | None = None,
        *,
        shape: ShapeLike = None,
    ) -> SparseMatrix:
        """Build from a PyG-style ``edge_index`` (2, E): row 0 = source, row 1 = target.

        Edge ``e`` becomes entry ``A[target, source]`` with value ``values[e]``. ``shape`` is
        ``(num_targets, num_sources)`` or an int ``n`` for ``(n, n)``; by default the square
        matrix over ``max(edge_index) + 1`` nodes.
        """
        edge_index = _check_index_tensor("edge_index", edge_index, dims=2)
        if edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
        if shape is None:
            n = int(edge_index.max()) + 1 if edge_index.numel() else 0
            _check_inferred_dim("number of nodes", n, int(edge_index.shape[1]))
            shape = (n, n)
        return cls.from_coo(edge_index[1], edge_index[0], values, shape)

    @classmethod
    def from_dense(cls, dense: Tensor, *, keep_values: bool = True) -> SparseMatrix:
        """The non-zero entries of a dense ``(M, N)`` matrix (``keep_values=False`` drops them)."""
        if not isinstance(dense, Tensor) or dense.dim() != 2:
            raise ValueError("dense must be a 2-D torch.Tensor")
        row, col = dense.nonzero(as_tuple=True)
        values = dense[row, col] if keep_values and dense.is_floating_point() else None
        return cls.from_coo(row, col, values, tuple(dense.shape))

    @classmethod
    def eye(
        cls,
        n: SupportsIndex | Tensor,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.int64,
    ) -> SparseMatrix:
        """The ``n × n`` identity pattern (values ``None`` = ones).

        ``n`` may be an int, a NumPy integer or a 0-d integer tensor (as any ``shape``).
        """
        n = _as_dim(n, n)
        if n < 0:
            raise ValueError(f"n must be non-negative, got {n}")
        rowptr = torch.arange(n + 1, device=device, dtype=dtype)
        col = torch.arange(n, device=device, dtype=dtype)
        return cls._from_structure(Structure(rowptr, col, n, sorted_rows=True), None, (n, n))

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> Shape:
        """``(num_rows, num_cols)`` = ``(targets, sources)``."""
        return self._shape

    @property
    def num_rows(self) -> int:
        return self._shape[0]

    @property
    def num_cols(self) -> int:
        return self._shape[1]

    @property
    def nnz(self) -> int:
        """Number of stored entries (duplicates counted)."""
        return self._structure.nnz

    @property
    def rowptr(self) -> Tensor:
        return self._structure.rowptr

    @property
    def col(self) -> Tensor:
        return self._structure.col

    @property
    def row(self) -> Tensor:
        """COO row (target) of each stored entry; cached."""
        return self._structure.row()

    @property
    def values(self) -> Tensor | None:
        return self._values

    @property
    def device(self) -> torch.device:
        return self._structure.device

    @property
    def index_dtype(self) -> torch.dtype:
        return self._structure.col.dtype

    @property
    def dtype(self) -> torch.dtype | None:
        """dtype of the values, ``None`` when there are none."""
        return None if self._values is None else self._values.dtype

    @property
    def structure(self) -> Structure:
        """The shared index structure (with its caches). Treat as read-only."""
        return self._structure

    def csc(self) -> CSC:
        """Cached CSC form: ``colptr``, ``row``, and ``perm`` with ``values_csc = values[perm]``."""
        return self._structure.csc()

    def is_coalesced(self) -> bool:
        """Whether columns strictly increase within every row (no duplicate entries)."""
        return self._structure.is_coalesced()

    def degree(self, dim: str = "row", *, weighted: bool = False) -> Tensor:
        """Row (in-)degree of targets or column (out-)degree of sources.

        ``dim="row"`` counts entries per row (M,), ``"col"`` per column (N,); duplicates count.
        ``weighted=True`` sums scalar values instead (in the values' dtype).
        """
        if dim not in ("row", "col"):
            raise ValueError(f"dim must be 'row' or 'col', got {dim!r}")
        if weighted and self._values is not None:
            if self._values.dim() != 1:
                raise ValueError("weighted degree needs scalar (nnz,) values")
            size = self.num_rows if dim == "row" else self.num_cols
            index = self.row if dim == "row" else self.col
            out = torch.zeros(size, dtype=self._values.dtype, device=self.device)
            return out.index_add_(0, index.long(), self._values)
        return self._structure.row_counts() if dim == "row" else self._structure.col_counts()

    # ------------------------------------------------------------------ value-level derivation
    def with_values(self, values: Tensor | None) -> SparseMatrix:
        """The same structure (and caches) with other values, in CSR entry order."""
        return SparseMatrix._from_structure(
            self._structure, _check_values(values, self.nnz, self.device), self._shape
        )

    def keep_entries(self, mask: Tensor) -> SparseMatrix:
        """The matrix with only the stored entries where ``mask`` is True.

        Kept entries stay in CSR order with their values. Structure data the
        matrix has already computed carries over in ``O(E)`` instead of being recomputed: its
        COO rows, whether it is coalesced, and its CSC form (no sort). This suits edge dropout
        and target-link removal, which take many sub-patterns of one graph.

        Args:
            mask: ``(E,)`` bool on the matrix's device, one flag per stored entry in CSR
                order.

        Examples:
            >>> import torch
            >>> from gnnkit.sparse import SparseMatrix
            >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 2], [1, 2, 0]]))
            >>> B = A.keep_entries(torch.tensor([True, False, True]))
            >>> B.nnz, B.row.tolist(), B.col.tolist()
            (2, [0, 2], [2, 1])
        """
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
            raise TypeError(f"mask must be a bool tensor with one flag per stored entry, got "
                            f"{got}")
        if mask.shape != (self.nnz,):
            raise ValueError(f"mask must have shape ({self.nnz},) (one flag per stored entry), "
                             f"got {tuple(mask.shape)}")
        if mask.device != self.device:
            raise ValueError(f"mask is on {mask.device} but the matrix is on {self.device}; "
                             "move it with mask.to(A.device)")
        values = None if self._values is None else self._values[mask]
        return SparseMatrix._from_structure(self._structure.keep(mask), values, self._shape)

    def to(
        self,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        non_blocking: bool = False,
    ) -> SparseMatrix:
        """Move indices and values to ``device`` and/or cast the values to ``dtype``."""
        structure = self._structure
        values = self._values
        if device is not None and torch.device(device) != self.device:
            structure = structure.to(device, non_blocking=non_blocking)
            values = None if values is None else values.to(device, non_blocking=non_blocking)
        if dtype is not None and values is not None:
            values = values.to(dtype)
        return SparseMatrix._from_structure(structure, values, self._shape)

    def index_type(self, dtype: torch.dtype) -> SparseMatrix:
        """The same matrix with int32 or int64 indices."""
        if dtype not in _INDEX_DTYPES:
            raise TypeError(f"index dtype must be int32 or int64, got {dtype}")
        if dtype == torch.int32 and max(*self._shape, self.nnz) > torch.iinfo(torch.int32).max:
            raise ValueError("matrix too large for int32 indices")
        s = self._structure
        structure = Structure(
            s.rowptr.to(dtype), s.col.to(dtype), s.num_cols, sorted_rows=s.sorted_rows
        )
        return SparseMatrix._from_structure(structure, self._values, self._shape)

    def pin_memory(self) -> SparseMatrix:
        s = self._structure
        structure = Structure(
            s.rowptr.pin_memory(), s.col.pin_memory(), s.num_cols, sorted_rows=s.sorted_rows
        )
        values = None if self._values is None else self._values.pin_memory()
        return SparseMatrix._from_structure(structure, values, self._shape)

    def detach(self) -> SparseMatrix:
        return self.with_values(None if self._values is None else self._values.detach())

    # ------------------------------------------------------------------ python protocol
    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (self.rowptr, self.col, self._values, self._shape, self._structure.sorted_rows),
        )

    def __repr__(self) -> str:
        if self._values is None:
            values = "None"
        else:
            values = f"{tuple(self._values.shape)} {str(self._values.dtype).replace('torch.', '')}"
        index = str(self.index_dtype).replace("torch.", "")
        return (
            f"SparseMatrix(shape={self._shape}, nnz={self.nnz}, values={values}, "
            f"index={index}, device={self.device})"
        )

    def __matmul__(self, other: Any) -> Any:
        from .ops import spmm, spspmm

        if isinstance(other, SparseMatrix):
            return spspmm(self, other)
        return spmm(self, other)

    # ------------------------------------------------------------------ structural helpers
    # Thin methods over the functions of gnnkit/sparse/structural.py and convert.py (imported
    # lazily: those modules import this one).
    def coalesce(self, reduce: str = "sum") -> SparseMatrix:
        """Merge duplicate entries, combining their values by ``reduce``."""
        from .structural import coalesce

        return coalesce(self, reduce)

    def transpose(self) -> SparseMatrix:
        """``Aᵀ``, reusing the cached CSC form."""
        from .structural import transpose

        return transpose(self)

    @property
    def T(self) -> SparseMatrix:
        return self.transpose()

    def add_self_loops(
        self, fill_value: float | Tensor = 1.0, *, only_missing: bool = False
    ) -> SparseMatrix:
        """Add diagonal entries (see :func:`gnnkit.sparse.structural.add_self_loops`)."""
        from .structural import add_self_loops

        return add_self_loops(self, fill_value, only_missing=only_missing)

    def remove_self_loops(self) -> SparseMatrix:
        from .structural import remove_self_loops

        return remove_self_loops(self)

    def to_undirected(self, reduce: str = "sum") -> SparseMatrix:
        from .structural import to_undirected

        return to_undirected(self, reduce)

    def select_rows(self, index: Tensor) -> SparseMatrix:
        from .structural import select_rows

        return select_rows(self, index)

    def select_cols(self, index: Tensor) -> SparseMatrix:
        from .structural import select_cols

        return select_cols(self, index)

    def remove_edges(self, edge_index: Tensor, *, undirected: bool = False) -> SparseMatrix:
        """Target-link removal (see :func:`gnnkit.sparse.structural.remove_edges`)."""
        from .structural import remove_edges

        return remove_edges(self, edge_index, undirected=undirected)

    def k_hop(self, seeds: Tensor, num_hops: int) -> Tensor:
        from .structural import k_hop

        return k_hop(self, seeds, num_hops)

    @overload
    def induced_subgraph(
        self, nodes: Tensor, *, return_edge_ids: Literal[False] = False
    ) -> SparseMatrix: ...

    @overload
    def induced_subgraph(
        self, nodes: Tensor, *, return_edge_ids: Literal[True]
    ) -> tuple[SparseMatrix, Tensor]: ...

    @overload
    def induced_subgraph(
        self, nodes: Tensor, *, return_edge_ids: bool
    ) -> SparseMatrix | tuple[SparseMatrix, Tensor]: ...

    def induced_subgraph(
        self, nodes: Tensor, *, return_edge_ids: bool = False
    ) -> SparseMatrix | tuple[SparseMatrix, Tensor]:
        """The submatrix on ``nodes``, optionally with its edge ids (see
        :func:`gnnkit.sparse.structural.induced_subgraph`)."""
        from .structural import induced_subgraph

        return induced_subgraph(self, nodes, return_edge_ids=return_edge_ids)

    def gcn_norm(self, *, add_self_loops: bool = True, fill_value: float = 1.0) -> SparseMatrix:
        """``D̂^{-1/2} (A + I) D̂^{-1/2}`` (Kipf & Welling, 2017)."""
        from .structural import gcn_norm

        return gcn_norm(self, add_self_loops=add_self_loops, fill_value=fill_value)

    def row_normalize(self) -> SparseMatrix:
        from .structural import row_normalize

        return row_normalize(self)

    def sym_normalize(self) -> SparseMatrix:
        from .structural import sym_normalize

        return sym_normalize(self)

    # ------------------------------------------------------------------ conversions
    def to_edge_index(self) -> tuple[Tensor, Tensor | None]:
        """``(edge_index, values)`` in PyG orientation (row 0 = source, row 1 = target)."""
        from .convert import to_edge_index

        return to_edge_index(self)

    def to_dense(self) -> Tensor:
        from .convert import to_dense

        return to_dense(self)

    def to_torch_sparse(self, layout: torch.layout = torch.sparse_csr) -> Tensor:
        from .convert import to_torch_sparse

        return to_torch_sparse(self, layout)

    def to_scipy(self, format: str = "csr") -> Any:
        from .convert import to_scipy

        return to_scipy(self, format)

    def to_torch_sparse_tensor(self) -> Any:
        from .convert import to_torch_sparse_tensor

        return to_torch_sparse_tensor(self)

    @classmethod
    def from_torch_sparse(cls, tensor: Tensor) -> SparseMatrix:
        from .convert import from_torch_sparse

        return from_torch_sparse(tensor)

    @classmethod
    def from_scipy(cls, matrix: Any) -> SparseMatrix:
        from .convert import from_scipy

        return from_scipy(matrix)

    @classmethod
    def from_pyg(cls, obj: Any, *, edge_weight: str | None = None) -> SparseMatrix:
        from .convert import from_pyg

        return from_pyg(obj, edge_weight=edge_weight)


def _rebuild(
    rowptr: Tensor, col: Tensor, values: Tensor | None, shape: Shape, sorted_rows: bool
) -> SparseMatrix:
    structure = Structure(rowptr, col, shape[1], sorted_rows=sorted_rows)
    return SparseMatrix._from_structure(structure, values, shape)
