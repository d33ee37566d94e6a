"""Index helpers: segment pointers from counts or indices and back, and ``(row, col)`` keys.

Every CSR-style structure in gnnkit — a matrix's ``rowptr``, a batch's ``node_ptr``, the
member sets of link-prediction pairs — describes ``K`` consecutive *segments* of a flat
array of length ``E`` in one of three equivalent ways:

* ``counts`` ``(K,)``: the length of each segment;
* ``ptr`` ``(K + 1,)``: ``ptr[0] = 0``, ``ptr[k + 1] = ptr[k] + counts[k]``; segment ``k`` is
  ``[ptr[k], ptr[k + 1])``;
* ``index`` ``(E,)``: the segment of each position (non-decreasing for segmented data).

This module converts between them, written once:

* :func:`ptr_from_counts`: counts → ptr (an exclusive prefix sum with a leading 0);
* :func:`ptr_from_index`: index → ptr (the count of each segment, then the prefix sum);
* :func:`index_from_ptr`, :func:`index_from_counts`: back to the segment id of each position;
* :func:`expand_ranges`: ``(starts, counts)`` → ``cat(arange(s, s + c))``, to gather
  variable-length slices;
* :func:`pair_keys` / :func:`split_keys`: ``(row, col)`` ↔ the int64 key
  ``row · num_cols + col`` (sort, ``unique``, ``isin`` and binary search on pairs).

Conventions shared by every function:

* Index arguments are 1-D ``torch.Tensor`` of dtype int32 or int64. NumPy arrays (int32 or
  int64) are accepted too, for the dataset readers: they are viewed as tensors without a copy,
  go through the same code, and come back as NumPy arrays. Do not mix the two in one call.
* Outputs keep the input's index dtype unless ``dtype`` says otherwise; keys are int64.
* Type, dtype, shape and device are always checked (free: no tensor is read), with errors
  that name the argument. Checks that read tensor *contents* — negative counts, indices out
  of range, a ``total`` that disagrees with the counts — cost a host synchronisation on a
  GPU; they run when ``check=True`` (the default) and never while ``torch.compile`` traces.
  Callers on a hot path whose inputs are already known to be valid pass ``check=False``.
* Everything runs under ``torch.compile(fullgraph=True)`` without graph breaks. Give
  ``total`` to the functions that repeat (``index_from_*``, ``expand_ranges``) when it is
  known: the output length is then not data-dependent.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "expand_ranges",
    "index_from_counts",
    "index_from_ptr",
    "pair_keys",
    "ptr_from_counts",
    "ptr_from_index",
    "split_keys",
]

#: A 1-D integer index array: a ``torch.Tensor``, or a ``numpy.ndarray`` returned as one.
IndexArray = TypeVar("IndexArray", Tensor, np.ndarray)

_INDEX_DTYPES = (torch.int32, torch.int64)
_NUMPY_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
_INT64_MAX = torch.iinfo(torch.int64).max
_INT32_MAX = torch.iinfo(torch.int32).max


# ------------------------------------------------------------------ argument checks
def _checking(check: bool) -> bool:
    """Whether to run the checks that read tensor contents (never while compiling)."""
    return check and not torch.compiler.is_compiling()


def _as_index(name: str, value: object) -> tuple[Tensor, bool]:
    """``(tensor, came_from_numpy)`` for a 1-D int32/int64 tensor or NumPy array."""
    from_numpy = isinstance(value, np.ndarray)
    if isinstance(value, np.ndarray):
        if value.dtype not in _NUMPY_INDEX_DTYPES:
            raise TypeError(f"{name} must have dtype int32 or int64, got {value.dtype}")
        # from_numpy shares memory (nothing here writes to it) but warns on read-only arrays
        tensor = torch.from_numpy(value if value.flags.writeable else value.copy())
    elif isinstance(value, Tensor):
        tensor = value
    else:
        raise TypeError(
            f"{name} must be a torch.Tensor or numpy.ndarray, got {type(value).__name__}"
        )
    if tensor.dtype not in _INDEX_DTYPES:
        raise TypeError(f"{name} must have dtype int32 or int64, got {tensor.dtype}")
    if tensor.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(tensor.shape)}")
    return tensor, from_numpy


def _as_pair(names: tuple[str, str], first: object, second: object) -> tuple[Tensor, Tensor, bool]:
    """Two index arrays of one kind (both tensors or both arrays), length and device."""
    a, a_numpy = _as_index(names[0], first)
    b, b_numpy = _as_index(names[1], second)
    if a_numpy != b_numpy:
        raise TypeError(f"{names[0]} and {names[1]} must both be tensors or both NumPy arrays")
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length, got {a.numel()} and {b.numel()}"
        )
    if a.device != b.device:
        raise ValueError(f"{names[0]} is on {a.device} but {names[1]} is on {b.device}")
    return a, b, a_numpy


def _size(name: str, value: object) -> int:
    """A non-negative Python int (NumPy integers accepted; symbolic sizes passed through)."""
    if isinstance(value, torch.SymInt):
        return value  # type: ignore[return-value]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return value


def _out_dtype(name: str, dtype: torch.dtype | None, default: torch.dtype) -> torch.dtype:
    if dtype is None:
        return default
    if dtype not in _INDEX_DTYPES:
        raise TypeError(f"{name} must be torch.int32 or torch.int64, got {dtype}")
    return dtype


def _check_counts(name: str, counts: Tensor) -> None:
    if counts.numel() and bool(counts.min() < 0):
        raise ValueError(f"{name} must be non-negative, found {int(counts.min())}")


def _check_total(name: str, total: int | None, actual: Tensor) -> None:
    if total is not None and int(actual) != total:
        raise ValueError(f"total={total} but the {name} add up to {int(actual)}")


def _out(tensor: Tensor, to_numpy: bool) -> Tensor | np.ndarray:
    return tensor.numpy() if to_numpy else tensor


# ------------------------------------------------------------------ pointers
def _prefix_ptr(counts: Tensor, dtype: torch.dtype, check: bool) -> Tensor:
    """``[0, cumsum(counts)]`` in ``dtype`` (summed in int64, then cast)."""
    sums = torch.cumsum(counts, 0, dtype=torch.int64)
    if check and dtype == torch.int32 and sums.numel() and int(sums[-1]) > _INT32_MAX:
        raise ValueError(f"counts add up to {int(sums[-1])}, too many for an int32 ptr")
    ptr = torch.zeros(counts.numel() + 1, dtype=dtype, device=counts.device)
    ptr[1:] = sums
    return ptr


def ptr_from_counts(
    counts: IndexArray, *, dtype: torch.dtype | None = None, check: bool = True
) -> IndexArray:
    """Segment pointer from segment lengths: ``ptr = [0, c₀, c₀ + c₁, …]``.

    Args:
        counts: ``(K,)`` non-negative lengths.
        dtype: index dtype of the result (default: that of ``counts``). The prefix sum is
            taken in int64 and then cast; with ``check`` an int32 result that would overflow
            raises.
        check: verify that ``counts`` is non-negative (reads it).

    Returns:
        ``(K + 1,)`` non-decreasing, ``ptr[0] = 0`` and ``ptr[-1] = Σ counts``.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import ptr_from_counts
        >>> ptr_from_counts(torch.tensor([2, 0, 3])).tolist()
        [0, 2, 2, 5]
    """
    counts_t, to_numpy = _as_index("counts", counts)
    out_dtype = _out_dtype("dtype", dtype, counts_t.dtype)
    checking = _checking(check)
    if checking:
        _check_counts("counts", counts_t)
    return _out(_prefix_ptr(counts_t, out_dtype, checking), to_numpy)  # type: ignore[return-value]


def ptr_from_index(
    index: IndexArray,
    num_segments: int,
    *,
    dtype: torch.dtype | None = None,
    check: bool = True,
) -> IndexArray:
    """Segment pointer of data grouped by segment id: ``ptr_from_counts(bincount(index))``.

    For a non-decreasing ``index`` (a sorted COO row, the graph of each node of a batch) the
    result is its CSR pointer: ``index[ptr[k]:ptr[k + 1]] == k``. ``index`` need not be
    sorted: the pointer then describes the entries in the order a stable sort by ``index``
    puts them.

    Args:
        index: ``(E,)`` segment ids in ``[0, num_segments)``.
        num_segments: ``K``; segments without entries are empty.
        dtype: index dtype of the result (default: that of ``index``).
        check: verify the range of ``index`` (reads it).

    Returns:
        ``(K + 1,)`` with ``ptr[0] = 0`` and ``ptr[-1] = E``.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import ptr_from_index
        >>> ptr_from_index(torch.tensor([0, 0, 2, 2, 2]), 4).tolist()
        [0, 2, 2, 5, 5]
    """
    index_t, to_numpy = _as_index("index", index)
    num_segments = _size("num_segments", num_segments)
    out_dtype = _out_dtype("dtype", dtype, index_t.dtype)
    if out_dtype == torch.int32 and index_t.numel() > _INT32_MAX:
        raise ValueError(f"index has {index_t.numel()} entries, too many for an int32 ptr")
    if _checking(check) and index_t.numel():
        low, high = int(index_t.min()), int(index_t.max())
        if low < 0 or high >= num_segments:
            raise ValueError(
                f"index values must lie in [0, {num_segments}) (num_segments), found {low} … {high}"
            )
    if torch.compiler.is_compiling():
        # bincount's output length depends on the data (a graph break); count into K slots
        ones = torch.ones(index_t.shape, dtype=torch.int64, device=index_t.device)
        zeros = torch.zeros(num_segments, dtype=torch.int64, device=index_t.device)
        counts = zeros.scatter_add_(0, index_t.long(), ones)
    else:  # the fastest count on CPU, notably for unsorted indices
        counts = torch.bincount(index_t, minlength=num_segments)
    return _out(_prefix_ptr(counts, out_dtype, False), to_numpy)  # type: ignore[return-value]


# ------------------------------------------------------------------ back to positions
def index_from_counts(
    counts: IndexArray,
    *,
    total: int | None = None,
    dtype: torch.dtype | None = None,
    check: bool = True,
) -> IndexArray:
    """Segment id of every position: ``k`` repeated ``counts[k]`` times.

    Args:
        counts: ``(K,)`` non-negative lengths.
        total: ``Σ counts`` if known (saves a synchronisation; needed for a static output
            length under ``torch.compile``).
        dtype: index dtype of the result (default: that of ``counts``).
        check: verify that ``counts`` is non-negative and sums to ``total`` (reads it).

    Returns:
        ``(Σ counts,)`` non-decreasing ids in ``[0, K)``.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import index_from_counts
        >>> index_from_counts(torch.tensor([2, 0, 3])).tolist()
        [0, 0, 2, 2, 2]
    """
    counts_t, to_numpy = _as_index("counts", counts)
    out_dtype = _out_dtype("dtype", dtype, counts_t.dtype)
    if total is not None:
        total = _size("total", total)
    if _checking(check):
        _check_counts("counts", counts_t)
        _check_total("counts", total, counts_t.sum())
    ids = torch.arange(counts_t.numel(), dtype=out_dtype, device=counts_t.device)
    return _out(torch.repeat_interleave(ids, counts_t, output_size=total), to_numpy)  # type: ignore[return-value]


def index_from_ptr(
    ptr: IndexArray,
    *,
    total: int | None = None,
    dtype: torch.dtype | None = None,
    check: bool = True,
) -> IndexArray:
    """Segment id of every position of a CSR layout (the inverse of :func:`ptr_from_index`).

    Args:
        ptr: ``(K + 1,)`` non-decreasing pointer (``ptr[0]`` is usually 0; positions are
            counted from it).
        total: ``ptr[-1] - ptr[0]`` if known (e.g. ``nnz``; needed for a static output length
            under ``torch.compile``).
        dtype: index dtype of the result (default: that of ``ptr``).
        check: verify that ``ptr`` is non-decreasing and spans ``total`` (reads it).

    Returns:
        ``(ptr[-1] - ptr[0],)``: entry ``e`` belongs to segment ``k`` iff
        ``ptr[k] ≤ ptr[0] + e < ptr[k + 1]``.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import index_from_ptr
        >>> index_from_ptr(torch.tensor([0, 2, 2, 5])).tolist()
        [0, 0, 2, 2, 2]
    """
    ptr_t, to_numpy = _as_index("ptr", ptr)
    if ptr_t.numel() == 0:
        raise ValueError("ptr must have at least one element (K + 1 for K segments)")
    out_dtype = _out_dtype("dtype", dtype, ptr_t.dtype)
    if total is not None:
        total = _size("total", total)
    counts = ptr_t[1:] - ptr_t[:-1]
    if _checking(check):
        if counts.numel() and bool((counts < 0).any()):
            raise ValueError("ptr must be non-decreasing")
        _check_total("segment lengths of ptr", total, ptr_t[-1] - ptr_t[0])
    ids = torch.arange(counts.numel(), dtype=out_dtype, device=ptr_t.device)
    return _out(torch.repeat_interleave(ids, counts, output_size=total), to_numpy)  # type: ignore[return-value]


def expand_ranges(
    starts: IndexArray,
    counts: IndexArray,
    *,
    total: int | None = None,
    check: bool = True,
) -> IndexArray:
    """Concatenated ranges ``[s₀, s₀ + c₀) ++ [s₁, s₁ + c₁) ++ …``.

    Gathers variable-length slices in one vectorised step: with ``starts = rowptr[rows]`` and
    ``counts = degree[rows]`` the result is the CSR positions of the entries of ``rows``.

    Args:
        starts: ``(K,)`` first position of each range.
        counts: ``(K,)`` non-negative lengths.
        total: ``Σ counts`` if known.
        check: verify that ``counts`` is non-negative and sums to ``total`` (reads it).

    Returns:
        ``(Σ counts,)`` positions, dtype the promotion of ``starts`` and ``counts``; range
        ``k`` occupies ``[ptr[k], ptr[k + 1])`` with ``ptr = ptr_from_counts(counts)`` (its
        owner is ``index_from_counts(counts)``).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import expand_ranges
        >>> expand_ranges(torch.tensor([10, 0, 4]), torch.tensor([2, 0, 3])).tolist()
        [10, 11, 4, 5, 6]
    """
    starts_t, counts_t, to_numpy = _as_pair(("starts", "counts"), starts, counts)
    if total is not None:
        total = _size("total", total)
    if _checking(check):
        _check_counts("counts", counts_t)
        _check_total("counts", total, counts_t.sum())
    out_dtype = torch.promote_types(starts_t.dtype, counts_t.dtype)
    first = torch.cumsum(counts_t, 0, dtype=out_dtype) - counts_t  # exclusive prefix sum
    shift = torch.repeat_interleave(starts_t.to(out_dtype) - first, counts_t, output_size=total)
    positions = shift + torch.arange(shift.numel(), dtype=out_dtype, device=shift.device)
    return _out(positions, to_numpy)  # type: ignore[return-value]


# ------------------------------------------------------------------ (row, col) keys
def pair_keys(
    row: IndexArray, col: IndexArray, num_rows: int, num_cols: int, *, check: bool = True
) -> IndexArray:
    """Row-major int64 keys ``row · num_cols + col`` of index pairs.

    Keys are unique per pair and sort like ``(row, col)``, so sorting, ``unique``, ``isin``
    and binary search on them work on pairs. :func:`split_keys` inverts them.

    Args:
        row: ``(E,)`` in ``[0, num_rows)``; col: ``(E,)`` in ``[0, num_cols)``.
        num_rows, num_cols: the bounds; ``num_rows · num_cols`` must fit in int64.
        check: verify the ranges of ``row`` and ``col`` (reads them).

    Returns:
        ``(E,)`` int64 keys in ``[0, num_rows · num_cols)``.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import pair_keys
        >>> pair_keys(torch.tensor([0, 2, 1]), torch.tensor([3, 0, 1]), 3, 4).tolist()
        [3, 8, 5]
    """
    row_t, col_t, to_numpy = _as_pair(("row", "col"), row, col)
    num_rows = _size("num_rows", num_rows)
    num_cols = _size("num_cols", num_cols)
    if not torch.compiler.is_compiling() and num_rows * num_cols > _INT64_MAX + 1:
        raise ValueError(
            f"pair_keys: num_rows · num_cols = {num_rows} · {num_cols} does not fit in int64"
        )
    if _checking(check) and row_t.numel():
        for name, index, bound in (("row", row_t, num_rows), ("col", col_t, num_cols)):
            low, high = int(index.min()), int(index.max())
            if low < 0 or high >= bound:
                raise ValueError(f"{name} values must lie in [0, {bound}), found {low} … {high}")
    return _out(row_t.long() * num_cols + col_t.long(), to_numpy)  # type: ignore[return-value]


def split_keys(
    keys: IndexArray, num_cols: int, *, check: bool = True
) -> tuple[IndexArray, IndexArray]:
    """``(row, col)`` of keys made by :func:`pair_keys` with the same ``num_cols``.

    Args:
        keys: ``(E,)`` non-negative keys.
        num_cols: the column bound the keys were made with.
        check: verify that ``keys`` is non-negative (reads it).

    Returns:
        ``row = keys // num_cols`` and ``col = keys % num_cols``, each ``(E,)`` in the dtype
        of ``keys``.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import split_keys
        >>> [t.tolist() for t in split_keys(torch.tensor([3, 8, 5]), 4)]
        [[0, 2, 1], [3, 0, 1]]
    """
    keys_t, to_numpy = _as_index("keys", keys)
    num_cols = _size("num_cols", num_cols)
    if num_cols == 0 and keys_t.numel():
        raise ValueError("keys must be empty when num_cols is 0 (no pair has a column)")
    if _checking(check) and keys_t.numel() and bool(keys_t.min() < 0):
        raise ValueError(f"keys must be non-negative, found {int(keys_t.min())}")
    width = max(num_cols, 1)  # num_cols == 0: keys is empty, avoid dividing by zero
    row = torch.div(keys_t, width, rounding_mode="floor")
    col = keys_t - row * width
    return _out(row, to_numpy), _out(col, to_numpy)  # type: ignore[return-value]
