"""Index data of a sparse matrix and everything derived from it, computed once and shared.

A :class:`Structure` holds the CSR indices of one sparsity pattern. Every derived quantity
(COO rows, the CSC form used by transposes and backward passes, degrees, whether the pattern
is coalesced) is computed on first use and cached on the structure, so all matrices sharing
the pattern — ``A``, ``A.with_values(w)``, ``A.transpose().transpose()`` — share the work.
The cache is an implementation detail: a structure's observable value never changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .index import index_from_ptr, ptr_from_counts


@dataclass(frozen=True)
class CSC:
    """Column-major view of a CSR pattern.

    ``colptr`` (N+1,), ``row`` (E,) sorted by column then row, and ``perm`` (E,) int64 such
    that CSC entry ``k`` is CSR entry ``perm[k]``: ``values_csc = values[perm]``.
    """

    colptr: Tensor
    row: Tensor
    perm: Tensor


class Structure:
    """CSR indices ``rowptr`` (M+1,) and ``col`` (E,) of an ``M × N`` pattern, with caches.

    Entries within a row are kept in the order given; a structure built by gnnkit's
    constructors is sorted by column within each row (duplicates adjacent, not merged).
    """

    __slots__ = ("_cache", "col", "num_cols", "num_rows", "rowptr", "sorted_rows")

    def __init__(self, rowptr: Tensor, col: Tensor, num_cols: int, *, sorted_rows: bool) -> None:
        self.rowptr = rowptr
        self.col = col
        self.num_rows = rowptr.numel() - 1
        self.num_cols = int(num_cols)
        self.sorted_rows = sorted_rows
        self._cache: dict[str, object] = {}

    @property
    def nnz(self) -> int:
        return self.col.numel()

    @property
    def device(self) -> torch.device:
        return self.col.device

    def row(self) -> Tensor:
        """COO row index of each entry, same dtype as ``col``."""
        cached = self._cache.get("row")
        if cached is None:
            cached = index_from_ptr(
                self.rowptr, total=self.nnz, dtype=self.col.dtype, check=False
            )
            self._cache["row"] = cached
        return cached  # type: ignore[return-value]

    def csc(self) -> CSC:
        """The CSC form (computed once by a stable sort on columns)."""
        cached = self._cache.get("csc")
        if cached is None:
            perm = torch.sort(self.col, stable=True).indices
            colptr = ptr_from_counts(self.col_counts(), dtype=self.col.dtype, check=False)
            cached = CSC(colptr=colptr, row=self.row()[perm], perm=perm)
            self._cache["csc"] = cached
        return cached  # type: ignore[return-value]

    def row_counts(self) -> Tensor:
        """Stored entries per row (duplicates counted), int64 (M,)."""
        cached = self._cache.get("row_counts")
        if cached is None:
            cached = (self.rowptr[1:] - self.rowptr[:-1]).long()
            self._cache["row_counts"] = cached
        return cached  # type: ignore[return-value]

    def col_counts(self) -> Tensor:
        """Stored entries per column (duplicates counted), int64 (N,)."""
        cached = self._cache.get("col_counts")
        if cached is None:
            cached = torch.bincount(self.col.long(), minlength=self.num_cols)
            self._cache["col_counts"] = cached
        return cached  # type: ignore[return-value]

    def is_coalesced(self) -> bool:
        """Columns strictly increasing within every row (sorted, no duplicates)."""
        cached = self._cache.get("coalesced")
        if cached is None:
            cached = self._columns_increase(strictly=True)
            self._cache["coalesced"] = cached
        return bool(cached)

    def columns_sorted(self) -> bool:
        """Columns non-decreasing within every row (duplicates allowed)."""
        return self._columns_increase(strictly=False)

    def _columns_increase(self, *, strictly: bool) -> bool:
        if self.nnz < 2:
            return True
        row = self.row()
        same_row = row[1:] == row[:-1]
        step = self.col[1:] > self.col[:-1] if strictly else self.col[1:] >= self.col[:-1]
        return bool(torch.all(step | ~same_row))

    def transposed(self) -> Structure:
        """The pattern of the transpose, sharing caches both ways (CSR of Aᵀ = CSC of A)."""
        cached = self._cache.get("transposed")
        if cached is None:
            csc = self.csc()
            cached = Structure(csc.colptr, csc.row, self.num_rows, sorted_rows=True)
            if self.sorted_rows:  # then (Aᵀ)ᵀ has exactly our entry order: reuse our caches
                cached._cache["transposed"] = self
            self._cache["transposed"] = cached
        return cached  # type: ignore[return-value]

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Structure:
        return Structure(
            self.rowptr.to(device, non_blocking=non_blocking),
            self.col.to(device, non_blocking=non_blocking),
            self.num_cols,
            sorted_rows=self.sorted_rows,
        )
