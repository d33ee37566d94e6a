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

from .index import index_from_ptr, ptr_from_counts, ptr_from_index


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

    def keep(self, mask: Tensor) -> Structure:
        """The sub-pattern of the entries where ``mask`` (E,) bool is True, in the same order.

        Derived data already cached here carries over in ``O(E)`` instead of being recomputed:
        the COO rows, the coalesced flag (a subset of a coalesced pattern is coalesced) and
        the CSC form. The CSC is filtered rather than re-sorted: within a column the parent's
        CSC lists entries in increasing CSR position, dropping entries keeps that order, and
        renumbering the kept positions keeps it monotone, so the result is exactly the stable
        sort of the kept columns. Every batch of edge dropout or target-link removal from one
        graph thus skips the sort of its columns that its first backward pass would need.
        """
        kept_rows = self.row()[mask]
        rowptr = ptr_from_index(kept_rows, self.num_rows, dtype=self.rowptr.dtype, check=False)
        child = Structure(rowptr, self.col[mask], self.num_cols, sorted_rows=self.sorted_rows)
        if not self.sorted_rows:  # unknown for the parent: the subset may still be sorted
            child.sorted_rows = child.columns_sorted()
        child._cache["row"] = kept_rows
        if self._cache.get("coalesced") is True:
            child._cache["coalesced"] = True
        csc = self._cache.get("csc")
        if isinstance(csc, CSC):
            kept_in_csc = mask[csc.perm]
            # CSR position of every kept entry in the child: a running count of kept entries
            position = torch.cumsum(mask, 0, dtype=torch.int64) - 1
            child_col_counts = torch.bincount(child.col.long(), minlength=self.num_cols)
            child._cache["col_counts"] = child_col_counts
            child._cache["csc"] = CSC(
                colptr=ptr_from_counts(child_col_counts, dtype=self.col.dtype, check=False),
                row=csc.row[kept_in_csc],
                perm=position[csc.perm[kept_in_csc]],
            )
        return child

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Structure:
        return Structure(
            self.rowptr.to(device, non_blocking=non_blocking),
            self.col.to(device, non_blocking=non_blocking),
            self.num_cols,
            sorted_rows=self.sorted_rows,
        )
