"""The reference backend: plain PyTorch, always available, the oracle of every kernel test.

This module *is* the kernel contract. Every backend (``cpu`` C++, ``triton`` GPU) implements
some or all of the functions below with exactly these signatures and semantics; a backend that
lacks a function falls back to the one here. The functions take and return plain tensors: all
validation happens above them in :mod:`gnnkit.sparse.ops`, so a kernel may assume that

* index tensors are contiguous, of one dtype (``int32`` or ``int64``) and within range;
* ``rowptr`` is non-decreasing with ``rowptr[0] == 0`` and ``rowptr[-1] == nnz``;
* floating tensors share one dtype and one device with each other and with the indices;
* inputs are *not* necessarily contiguous unless stated.

Outputs are always freshly allocated (never an alias of an input): they are returned from
``torch.library`` custom ops, which forbid aliasing. Half and bfloat16 inputs are accumulated
in float32 and the result is cast back to the input dtype.

Shapes (``M`` rows = targets, ``N`` columns = sources, ``E`` = nnz):

* ``values`` is ``None`` (all ones), ``(E,)`` scalar, ``(E, H)`` multi-head or
  ``(E, P, Q)`` block;
* ``x`` is ``(N, F)`` for ``None``/scalar values, ``(N, H, F)`` for multi-head values and
  ``(N, Q, F)`` for block values; the output is ``(M, F)``, ``(M, H, F)``, ``(M, P, F)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..index import (
    expand_ranges,
    index_from_counts,
    index_from_ptr,
    pair_keys,
    ptr_from_index,
    split_keys,
)

__all__ = [
    "bernoulli_keep_mask",
    "difference_aggregate",
    "difference_aggregate_backward",
    "difference_rows",
    "edge_softmax",
    "edge_softmax_backward",
    "intersect_aggregate",
    "intersect_aggregate_backward",
    "intersect_rows",
    "sddmm",
    "segment",
    "spmm",
    "spmm_arg_backward",
    "spmm_sum_backward",
    "spspmm_expand",
]

_HALF_TYPES = (torch.float16, torch.bfloat16)
# Largest nnz whose max/min winners are int32: the sentinel ``nnz`` itself must fit.
_INT32_ARG_MAX_NNZ = 2**31 - 1


def is_available() -> bool:
    return True


def supports_device(device: torch.device) -> bool:
    return True


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in _HALF_TYPES else dtype


def _row_of_edges(rowptr: Tensor) -> Tensor:
    """COO row index of each stored entry, int64, from a CSR row pointer."""
    return index_from_ptr(rowptr, dtype=torch.long, check=False)


def _messages(col: Tensor, values: Tensor | None, x: Tensor) -> Tensor:
    """Per-edge messages ``values[e] * x[col[e]]`` in the accumulation dtype, shape (E, ...)."""
    gathered = x.index_select(0, col.long()).to(_accumulation_dtype(x.dtype))
    if values is None:
        return gathered
    vals = values.to(gathered.dtype)
    if vals.dim() == 1:  # scalar: (E,) * (E, F)
        return gathered * vals.unsqueeze(-1)
    if vals.dim() == 2:  # multi-head: (E, H) * (E, H, F)
        return gathered * vals.unsqueeze(-1)
    return torch.bmm(vals, gathered)  # block: (E, P, Q) @ (E, Q, F)


def arg_dtype(nnz: int) -> torch.dtype:
    """dtype of the max/min winners ``arg`` of a reduction over ``nnz`` entries: ``int32``
    whenever the empty-row sentinel ``nnz`` fits in it (``nnz ≤ 2³¹ − 1``), else ``int64``.

    Part of the kernel contract: every backend, and the fake (tracing) implementation of the
    custom ops, allocate ``arg`` with this dtype (also when it is empty), so int32 halves the
    tensor a max/min forward keeps for its backward and the bytes it writes. Backends call it
    from here at each call, so the tests can lower ``_INT32_ARG_MAX_NNZ`` to run the int64
    path on small inputs.
    """
    return torch.int32 if nnz <= _INT32_ARG_MAX_NNZ else torch.int64


def _output_shape(num_rows: int, values: Tensor | None, x: Tensor) -> tuple[int, ...]:
    if values is not None and values.dim() == 3:
        return (num_rows, values.shape[1], *x.shape[2:])
    return (num_rows, *x.shape[1:])


def spmm(
    rowptr: Tensor,
    col: Tensor,
    values: Tensor | None,
    x: Tensor,
    reduce: str,
    with_arg: bool = True,
) -> tuple[Tensor, Tensor]:
    """Sparse-dense product ``out[i] = ⊕_{e in row i} values[e] · x[col[e]]``.

    ``reduce`` is ``"sum"``, ``"mean"`` (sum divided by the row's stored-entry count),
    ``"max"`` or ``"min"``. Rows without entries give 0 for every reduction.

    Returns ``(out, arg)``. For ``max``/``min``, ``arg`` has the shape of ``out``, dtype
    :func:`arg_dtype` ``(E)`` (int32 whenever ``E ≤ 2³¹ − 1``, else int64), and holds the CSR
    position ``e`` of the winning entry of each output element (the first entry of the row in
    CSR order among ties), or ``E`` (one past the end) for empty rows. For ``sum``/``mean``
    ``arg`` is an empty tensor of that dtype. Block values support sum and mean only. With
    ``with_arg=False`` (no gradient will be asked for) ``arg`` is an empty tensor of that
    dtype for every reduction, which spares max/min an integer tensor of the output's shape.
    """
    num_rows = rowptr.numel() - 1
    nnz = col.numel()
    acc = _accumulation_dtype(x.dtype)
    out_shape = _output_shape(num_rows, values, x)
    msgs = _messages(col, values, x)
    row = _row_of_edges(rowptr)
    index_dtype = arg_dtype(nnz)
    empty_arg = torch.empty(0, dtype=index_dtype, device=x.device)
    if reduce in ("sum", "mean"):
        out = torch.zeros(out_shape, dtype=acc, device=x.device)
        out.index_add_(0, row, msgs)
        if reduce == "mean":
            counts = (rowptr[1:] - rowptr[:-1]).clamp(min=1).to(acc)
            out = out / counts.view(-1, *([1] * (out.dim() - 1)))
        return out.to(x.dtype), empty_arg
    if reduce not in ("max", "min"):
        raise ValueError(f"reduce must be one of sum, mean, max, min; got {reduce!r}")
    out = torch.zeros(out_shape, dtype=acc, device=x.device)
    index = row.view(-1, *([1] * (msgs.dim() - 1))).expand_as(msgs)
    out.scatter_reduce_(0, index, msgs, "amax" if reduce == "max" else "amin", include_self=False)
    if not with_arg:
        return out.to(x.dtype), empty_arg
    # The winner is the first entry (lowest CSR position) whose message equals the extremum.
    positions = torch.arange(nnz, dtype=index_dtype, device=x.device)
    positions = positions.view(-1, *([1] * (msgs.dim() - 1))).expand_as(msgs)
    is_winner = msgs == out.index_select(0, row)
    candidate = torch.where(is_winner, positions, torch.full_like(positions, nnz))
    arg = torch.full(out_shape, nnz, dtype=index_dtype, device=x.device)
    arg.scatter_reduce_(0, index, candidate, "amin", include_self=True)
    return out.to(x.dtype), arg


def spmm_arg_backward(
    col: Tensor, values: Tensor | None, x: Tensor, grad_out: Tensor, arg: Tensor
) -> tuple[Tensor, Tensor | None]:
    """Backward of ``spmm`` with ``max``/``min``: gradients flow only through the winners.

    With ``m = values[arg] * x[col[arg]]`` the chosen message of each output element,
    ``grad_x[col[arg]] += values[arg] * grad_out`` and ``grad_values[arg] += x[col[arg]] *
    grad_out`` (summed over the feature dimension). Elements with ``arg == E`` (empty rows)
    contribute nothing. ``arg`` may be int32 or int64 (whatever :func:`spmm` returned).
    Returns ``(grad_x, grad_values)``; ``grad_values`` is ``None`` when ``values`` is
    ``None``. Shapes as ``x`` and ``values``.
    """
    nnz = col.numel()
    if nnz == 0:  # no entry can have won: both gradients are zero
        grad_values = None if values is None else torch.zeros_like(values)
        return torch.zeros_like(x), grad_values
    acc = _accumulation_dtype(x.dtype)
    valid = arg < nnz
    safe_arg = torch.where(valid, arg, torch.zeros_like(arg))
    grad = torch.where(valid, grad_out.to(acc), torch.zeros((), dtype=acc, device=x.device))
    source = col.long().index_select(0, safe_arg.reshape(-1)).view_as(arg)
    grad_x = torch.zeros(x.shape, dtype=acc, device=x.device)
    grad_values = None
    if values is None:
        contribution = grad
    else:
        vals = values.to(acc)
        if vals.dim() == 1:
            chosen_values = vals[safe_arg]
        else:  # multi-head (E, H); arg is (M, H, F)
            head = torch.arange(vals.shape[1], device=x.device).view(1, -1, 1).expand_as(arg)
            chosen_values = vals[safe_arg, head]
        contribution = grad * chosen_values
        chosen_x = _gather_source_features(x.to(acc), source, arg)
        grad_values_flat = torch.zeros(values.shape, dtype=acc, device=x.device)
        if vals.dim() == 1:
            grad_values_flat.index_add_(0, safe_arg.reshape(-1), (grad * chosen_x).reshape(-1))
        else:
            flat_index = safe_arg.long() * vals.shape[1] + head  # E·H may exceed int32
            grad_values_flat.view(-1).index_add_(
                0, flat_index.reshape(-1), (grad * chosen_x).reshape(-1)
            )
        grad_values = grad_values_flat.to(values.dtype)
    _scatter_to_sources(grad_x, source, contribution)
    return grad_x.to(x.dtype), grad_values


def spmm_sum_backward(
    colptr: Tensor,
    row: Tensor,
    perm: Tensor,
    values: Tensor | None,
    x: Tensor,
    grad: Tensor,
    need_x: bool,
    need_values: bool,
) -> tuple[Tensor | None, Tensor | None]:
    """Backward of a sum ``spmm`` with no or scalar ``(E,)`` values, from A's CSC form.

    ``colptr`` (N+1,), ``row`` (E,) and ``perm`` (E,) int64 describe the CSC of A: entry ``k``
    of column ``j`` is CSR entry ``perm[k]`` and has row ``row[k]``. ``values`` is in CSR
    order; ``x`` is ``(N, *S)`` and ``grad`` (the gradient of the output) ``(M, *S)``.
    Returns ``(grad_x, grad_values)``:

    * ``grad_x[j] = Σ_{k in column j} values[perm[k]] · grad[row[k]]`` (the product with Aᵀ),
      shaped like ``x``;
    * ``grad_values[perm[k]] = <grad[row[k]], x[j]>`` summed over ``S``, shaped ``(E,)``;

    each ``None`` unless ``need_x`` / ``need_values`` (``need_values`` needs ``values``).
    Backends may compute both in one pass over the CSC entries.
    """
    acc = _accumulation_dtype(x.dtype)
    num_cols = colptr.numel() - 1
    width = math.prod(x.shape[1:])
    g2 = grad.reshape(grad.shape[0], width).to(acc)
    gathered = g2.index_select(0, row.long())  # (E, K) in CSC order
    grad_x = grad_values = None
    if need_x:
        csc_values = None if values is None else values.index_select(0, perm).to(acc)
        messages = gathered if csc_values is None else gathered * csc_values.unsqueeze(-1)
        column = index_from_ptr(colptr, dtype=torch.long, check=False)
        flat = torch.zeros(num_cols, width, dtype=acc, device=x.device)
        flat.index_add_(0, column, messages)
        grad_x = flat.view(x.shape).to(x.dtype)
    if need_values:
        if values is None:
            raise ValueError("need_values=True needs values")
        column = index_from_ptr(colptr, dtype=torch.long, check=False)
        x2 = x.reshape(num_cols, width).to(acc)
        dots = (gathered * x2.index_select(0, column)).sum(-1)
        out = torch.empty(values.shape, dtype=acc, device=x.device)
        out[perm] = dots
        grad_values = out.to(values.dtype)
    return grad_x, grad_values


def _gather_source_features(x: Tensor, source: Tensor, arg: Tensor) -> Tensor:
    """``x[source[i, ..., f], ..., f]`` for every output element: shape of ``arg``."""
    flat_x = x.reshape(x.shape[0], -1)  # (N, K) where K = prod(feature dims)
    flat_source = source.reshape(arg.shape[0], -1)  # (M, K)
    feature = torch.arange(flat_x.shape[1], device=x.device).expand_as(flat_source)
    return flat_x[flat_source, feature].view_as(arg)


def _scatter_to_sources(grad_x: Tensor, source: Tensor, contribution: Tensor) -> None:
    flat = grad_x.view(grad_x.shape[0], -1)
    flat_source = source.reshape(source.shape[0], -1)
    flat.scatter_add_(0, flat_source, contribution.reshape(flat_source.shape))


def sddmm(row: Tensor, col: Tensor, a: Tensor, b: Tensor, op: str) -> Tensor:
    """Per-entry ``op(a[row[e]], b[col[e]])``.

    ``a`` is ``(M, *S)`` and ``b`` is ``(N, *S)`` with the same trailing shape ``S``:

    * ``"dot"``: sum over the last dimension, output ``(E, *S[:-1])``;
    * ``"add"``, ``"mul"``: elementwise, output ``(E, *S)``;
    * ``"outer"``: ``a[row] @ b[col]^T`` over the last dimension, for ``a`` ``(M, P, F)`` and
      ``b`` ``(N, Q, F)``, output ``(E, P, Q)`` (the gradient of block-valued ``spmm``).
    """
    acc = _accumulation_dtype(a.dtype)
    left = a.index_select(0, row.long()).to(acc)
    right = b.index_select(0, col.long()).to(acc)
    if op == "dot":
        out = (left * right).sum(-1)
    elif op == "add":
        out = left + right
    elif op == "mul":
        out = left * right
    elif op == "outer":
        out = torch.bmm(left, right.transpose(1, 2))
    else:
        raise ValueError(f"op must be one of dot, add, mul, outer; got {op!r}")
    return out.to(a.dtype)


def edge_softmax(rowptr: Tensor, scores: Tensor) -> Tensor:
    """Softmax of ``scores`` (``(E,)`` or ``(E, H)``) over the entries of each row.

    Numerically stable (the row maximum is subtracted first).
    """
    acc = _accumulation_dtype(scores.dtype)
    row = _row_of_edges(rowptr)
    s = scores.to(acc)
    num_rows = rowptr.numel() - 1
    index = row.view(-1, *([1] * (s.dim() - 1))).expand_as(s)
    row_max = torch.full((num_rows, *s.shape[1:]), float("-inf"), dtype=acc, device=s.device)
    row_max.scatter_reduce_(0, index, s, "amax", include_self=True)
    exp = torch.exp(s - row_max.index_select(0, row))
    denom = torch.zeros((num_rows, *s.shape[1:]), dtype=acc, device=s.device)
    denom.index_add_(0, row, exp)
    return (exp / denom.index_select(0, row)).to(scores.dtype)


def edge_softmax_backward(rowptr: Tensor, probs: Tensor, grad: Tensor) -> Tensor:
    """Gradient of :func:`edge_softmax`: ``p * (g - Σ_{row} p g)``."""
    acc = _accumulation_dtype(probs.dtype)
    row = _row_of_edges(rowptr)
    p = probs.to(acc)
    g = grad.to(acc)
    weighted = torch.zeros((rowptr.numel() - 1, *p.shape[1:]), dtype=acc, device=p.device)
    weighted.index_add_(0, row, p * g)
    return (p * (g - weighted.index_select(0, row))).to(probs.dtype)


def segment(src: Tensor, ptr: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    """Reduce consecutive slices ``src[ptr[k]:ptr[k+1]]`` along dim 0.

    Same reductions, empty-segment and ``arg`` conventions as :func:`spmm` (``arg`` holds the
    position in ``src`` of the winner, ``len(src)`` for empty segments).
    """
    return spmm(
        ptr, torch.arange(src.shape[0], device=src.device, dtype=ptr.dtype), None, src, reduce
    )


def intersect_rows(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor
) -> tuple[Tensor, Tensor]:
    """Common column indices of rows ``left[k]`` and ``right[k]`` for each pair ``k``.

    Requires each row's column indices to be sorted and unique (a coalesced matrix). Returns
    ``(ptr, common)`` in CSR form: the common columns of pair ``k`` are
    ``common[ptr[k]:ptr[k+1]]`` in increasing order. Cost ``O(Σ_k deg(left_k) + deg(right_k))``.
    """
    # the shared walk below; on unique columns its keep-the-first-copy rule is a no-op
    pair, common = _common_entries(rowptr, col, left, right)
    ptr = ptr_from_index(pair, left.numel(), dtype=col.dtype, check=False)
    return ptr, common.to(col.dtype)


def _common_entries(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor
) -> tuple[Tensor, Tensor]:
    """``(pair, common)``, int64: one entry per distinct column shared by rows ``left[k]``
    and ``right[k]``, ordered by pair, then by increasing column.

    Rows must be sorted (non-decreasing columns); duplicates are allowed and count once.
    """
    return _left_entries(rowptr, col, left, right, shared=True)


def _difference_entries(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor
) -> tuple[Tensor, Tensor]:
    """``(pair, only_left)``, int64: one entry per distinct column of row ``left[k]`` that
    row ``right[k]`` lacks, ordered by pair, then by increasing column (sorted rows,
    duplicates count once)."""
    return _left_entries(rowptr, col, left, right, shared=False)


def _left_entries(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, *, shared: bool
) -> tuple[Tensor, Tensor]:
    """The distinct columns of each row ``left[k]`` that row ``right[k]`` has (``shared``)
    or lacks (not ``shared``), as ``(pair, column)`` int64, by pair then increasing column."""
    left = left.long()
    right = right.long()
    start_l, end_l = rowptr[left].long(), rowptr[left + 1].long()
    start_r, end_r = rowptr[right].long(), rowptr[right + 1].long()
    len_l, len_r = end_l - start_l, end_r - start_r
    pair_l = index_from_counts(len_l, check=False)
    pair_r = index_from_counts(len_r, check=False)
    cols_l = col[expand_ranges(start_l, len_l, total=pair_l.numel(), check=False)].long()
    cols_r = col[expand_ranges(start_r, len_r, total=pair_r.numel(), check=False)].long()
    # A duplicated column of a left row counts once: keep the first copy only.
    first = torch.ones_like(cols_l, dtype=torch.bool)
    if cols_l.numel() > 1:
        first[1:] = (cols_l[1:] != cols_l[:-1]) | (pair_l[1:] != pair_l[:-1])
    width = 1 + max(int(c.max()) if c.numel() else 0 for c in (cols_l, cols_r))
    key_l = pair_keys(pair_l, cols_l, left.numel(), width, check=False)
    key_r = pair_keys(pair_r, cols_r, right.numel(), width, check=False)
    if key_r.numel() == 0:
        found = torch.zeros_like(key_l, dtype=torch.bool)
    else:  # keys are sorted (pairs consecutive, rows sorted); duplicates on the right are fine
        position = torch.searchsorted(key_r, key_l).clamp(max=key_r.numel() - 1)
        found = key_r[position] == key_l
    keep = (found if shared else ~found) & first
    return pair_l[keep], cols_l[keep]


def intersect_aggregate(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor
) -> Tensor:
    """Sum of ``x`` over the common columns of rows ``left[k]`` and ``right[k]``.

    ``out[k] = Σ_{c ∈ cols(left[k]) ∩ cols(right[k])} x[c]`` for ``k < B``: ``left``,
    ``right`` ``(B,)`` (int32 or int64, any mix), ``x`` ``(N, *S)`` → ``out`` ``(B, *S)``.
    Rows must have non-decreasing columns; a duplicated column counts once (the set
    intersection of the patterns, as :func:`intersect_rows` on the coalesced matrix).

    Summation order (the contract every backend reproduces bit for bit): each pair starts
    from 0 and adds its common columns' rows in increasing column order, in the accumulation
    dtype (float32 for half types), rounding to ``x``'s dtype once at the end.
    """
    pair, common = _common_entries(rowptr, col, left, right)
    acc = _accumulation_dtype(x.dtype)
    width = math.prod(x.shape[1:])
    out = torch.zeros(left.numel(), width, dtype=acc, device=x.device)
    gathered = x.reshape(x.shape[0], width).index_select(0, common).to(acc)
    out.index_add_(0, pair, gathered)  # sequential over entries: increasing column per pair
    return out.view(left.numel(), *x.shape[1:]).to(x.dtype)


def intersect_aggregate_backward(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, grad: Tensor, num_cols: int
) -> Tensor:
    """Gradient of :func:`intersect_aggregate` with respect to ``x``: every pair's gradient
    row added to the rows of its common columns,

    ``grad_x[c] = Σ_{k : c ∈ cols(left[k]) ∩ cols(right[k])} grad[k]``, ``grad`` ``(B, *S)``
    → ``(num_cols, *S)``.

    Summation order: each ``grad_x`` row starts from 0 and adds its pairs' rows in
    increasing pair order, in the accumulation dtype, rounded once.
    """
    pair, common = _common_entries(rowptr, col, left, right)
    acc = _accumulation_dtype(grad.dtype)
    width = math.prod(grad.shape[1:])
    out = torch.zeros(num_cols, width, dtype=acc, device=grad.device)
    gathered = grad.reshape(grad.shape[0], width).index_select(0, pair).to(acc)
    out.index_add_(0, common, gathered)  # entries in pair order: increasing pair per row
    return out.view(num_cols, *grad.shape[1:]).to(grad.dtype)


def difference_rows(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor
) -> tuple[Tensor, Tensor]:
    """Columns of row ``left[k]`` absent from row ``right[k]``, for each pair ``k``.

    Rows must have non-decreasing columns; a duplicated column counts once. Returns
    ``(ptr, only_left)`` in CSR form (index dtype of ``col``): pair ``k``'s columns are
    ``only_left[ptr[k]:ptr[k+1]]``, in increasing order.
    """
    pair, only_left = _difference_entries(rowptr, col, left, right)
    ptr = ptr_from_index(pair, left.numel(), dtype=col.dtype, check=False)
    return ptr, only_left.to(col.dtype)


def _difference_weights(
    pair: Tensor, columns: Tensor, right: Tensor, weight: Tensor | None, dtype: torch.dtype
) -> Tensor | None:
    """``weight[right[pair], columns]`` in ``dtype`` (``None`` without a table)."""
    if weight is None:
        return None
    flat = right.long().index_select(0, pair) * weight.shape[1] + columns
    return weight.reshape(-1).index_select(0, flat).to(dtype)


def difference_aggregate(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor,
    weight: Tensor | None,
) -> Tensor:
    """Weighted sum of ``x`` over the columns of row ``left[k]`` that row ``right[k]`` lacks.

    ``out[k] = Σ_{c ∈ cols(left[k]) \\ cols(right[k])} w_k(c) · x[c]`` with
    ``w_k(c) = weight[right[k], c]`` (a dense ``(M, N)`` table) or 1 when ``weight`` is
    ``None``; ``x`` ``(N, *S)`` → ``out`` ``(B, *S)``. Rows must have non-decreasing columns;
    a duplicated column counts once.

    Summation order (the contract every backend reproduces bit for bit): each pair starts
    from 0 and adds ``x[c] · w_k(c)`` (one rounded product, then one rounded sum; no product
    without a table) in increasing column order, in the accumulation dtype (float32 for half
    types, the weight converted to it), rounding to ``x``'s dtype once at the end.
    """
    pair, only_left = _difference_entries(rowptr, col, left, right)
    acc = _accumulation_dtype(x.dtype)
    width = math.prod(x.shape[1:])
    out = torch.zeros(left.numel(), width, dtype=acc, device=x.device)
    gathered = x.reshape(x.shape[0], width).index_select(0, only_left).to(acc)
    w = _difference_weights(pair, only_left, right, weight, acc)
    if w is not None:
        gathered = gathered * w.unsqueeze(-1)
    out.index_add_(0, pair, gathered)  # sequential over entries: increasing column per pair
    return out.view(left.numel(), *x.shape[1:]).to(x.dtype)


def difference_aggregate_backward(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, grad: Tensor,
    weight: Tensor | None, num_cols: int,
) -> Tensor:
    """Gradient of :func:`difference_aggregate` with respect to ``x``:

    ``grad_x[c] = Σ_{k : c ∈ cols(left[k]) \\ cols(right[k])} w_k(c) · grad[k]``, ``grad``
    ``(B, *S)`` → ``(num_cols, *S)``.

    Summation order: each ``grad_x`` row starts from 0 and adds ``grad[k] · w_k(c)`` in
    increasing pair order, in the accumulation dtype, rounded once.
    """
    pair, only_left = _difference_entries(rowptr, col, left, right)
    acc = _accumulation_dtype(grad.dtype)
    width = math.prod(grad.shape[1:])
    out = torch.zeros(num_cols, width, dtype=acc, device=grad.device)
    gathered = grad.reshape(grad.shape[0], width).index_select(0, pair).to(acc)
    w = _difference_weights(pair, only_left, right, weight, acc)
    if w is not None:
        gathered = gathered * w.unsqueeze(-1)
    out.index_add_(0, only_left, gathered)  # entries in pair order: increasing pair per row
    return out.view(num_cols, *grad.shape[1:]).to(grad.dtype)


def spspmm_expand(
    a_rowptr: Tensor, a_col: Tensor, b_rowptr: Tensor, b_col: Tensor, num_cols: int
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Structure of ``C = A @ B`` by expansion–sort–compression.

    Every product ``A[i, j] · B[j, k]`` is one *term*. Returns
    ``(c_rowptr, c_col, term_to_c, term_a, term_b)``: the CSR structure of ``C`` (columns
    sorted and unique within each row; ``num_cols`` is ``B``'s column count) and, for each term,
    the position of its output entry in ``C`` and the positions of its factors in ``A`` and
    ``B``. Values are then ``C.values = segment_sum(A.values[term_a] * B.values[term_b])`` by
    ``term_to_c``, which plain autograd differentiates.
    """
    index_dtype = a_col.dtype
    num_rows = a_rowptr.numel() - 1
    a_row = _row_of_edges(a_rowptr)
    mid = a_col.long()
    b_len = (b_rowptr[1:] - b_rowptr[:-1]).long()
    terms_per_a = b_len[mid]
    term_a = index_from_counts(terms_per_a, check=False)
    term_b = expand_ranges(b_rowptr[mid].long(), terms_per_a, total=term_a.numel(), check=False)
    term_row = a_row[term_a]
    term_col = b_col.long()[term_b]
    key = pair_keys(term_row, term_col, num_rows, num_cols, check=False)
    unique_key, term_to_c = torch.unique(key, sorted=True, return_inverse=True)
    c_row, c_col = split_keys(unique_key, num_cols, check=False)
    c_rowptr = ptr_from_index(c_row, num_rows, dtype=index_dtype, check=False)
    return c_rowptr, c_col.to(index_dtype), term_to_c, term_a, term_b


def bernoulli_keep_mask(key: Tensor, pos: int, n: int, high: int, low: int,
                        scale: Tensor | None = None) -> tuple[Tensor, Tensor, int]:
    """The keep-mask torch's CPU ``bernoulli_(q)`` draws for ``n`` elements, from an MT19937
    state, and the state after it.

    ``key`` is the ``(624,)`` int32 tensor of the generator's words (their bits), ``pos`` the
    index of its next word (624: regenerate first), NumPy's layout of the state. Element ``e``
    uses the next two tempered words ``w_{2e}``, ``w_{2e+1}`` and is kept when
    ``(w_{2e} mod 2^21, w_{2e+1}) < (high, low)``, the two words of ``ceil(q · 2^53)``: that is
    ``u_e < q`` for ``u_e = ((2^32 w_{2e} + w_{2e+1}) mod 2^53) · 2^-53``, bernoulli_'s rule
    (:mod:`gnnkit.nn.linkpred.dropout`). Returns ``(keep (n,) bool, key after, pos after)``;
    with ``scale`` (a one-element floating tensor) ``keep`` is dropout's noise instead:
    ``scale[0]`` where kept, 0 elsewhere, in ``scale``'s dtype.

    Drawn with NumPy's MT19937 (the same recurrence), then compared.
    """
    import numpy as np

    bit_generator = np.random.MT19937()
    bit_generator.state = {"bit_generator": "MT19937",
                           "state": {"key": key.numpy().view(np.uint32).copy(), "pos": int(pos)}}
    drawn = np.random.Generator(bit_generator).integers(0, 1 << 32, size=2 * n,
                                                        dtype=np.uint32)
    high_bits = np.bitwise_and(drawn[0::2], 0x1FFFFF)  # the bits of w_2e kept mod 2^53
    keep = np.less(high_bits, high)
    tie = np.flatnonzero(high_bits == high)
    if tie.size:  # probability ~2^-21 per element: the low word decides
        keep[tie] = drawn[2 * tie + 1] < low
    after = bit_generator.state["state"]
    key_after = torch.from_numpy(np.asarray(after["key"], dtype=np.uint32).view(np.int32).copy())
    mask = torch.from_numpy(keep)
    if scale is not None:
        mask = torch.where(mask, scale.reshape(()), torch.zeros((), dtype=scale.dtype))
    return mask, key_after, int(after["pos"])

