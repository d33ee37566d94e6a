"""Triton ``difference_aggregate``: weighted sums over set differences of CSR rows.

Forward, ``out[k] = Σ_{c ∈ cols(left[k]) \\ cols(right[k])} w_k(c) · x[c]`` with
``w_k(c) = weight[right[k], c]`` (or 1 without a table): program ``(k, j)`` handles pair ``k``
and the ``j``-th tile of ``BLOCK_F`` features. Unlike the intersection, the difference is not
symmetric, so it always walks the *left* row, ``BLOCK_E`` columns at a time; a vectorised
binary search finds every column's lower bound in the right row (all lanes at once, starting
from where the previous block's last column landed), and the columns the right row lacks are
added to a float32/float64 accumulator *one at a time in increasing column order*: the
product ``x[c] · w`` is rounded, then the sum, as in the reference. A tree reduction over the
block would be faster but would not reproduce the reference's summation order.

Backward, ``grad_x[c] = Σ_{k : c ∈ cols(left[k]) \\ cols(right[k])} w_k(c) · grad[k]``, as the
intersection's: program ``(g, j)`` owns the rows ``[g·R, (g+1)·R)`` of ``grad_x`` and one
feature tile, and walks *every* pair in increasing order; a four-lane binary search cuts both
rows down to the columns inside its range, the left piece's columns absent from the right piece
are found as in the forward, and ``grad[k] · w`` is added to their rows (read-modify-write of
the program's own rows, distinct columns within a pair, a barrier between blocks). Every
element of ``grad_x`` is written by one program only, in increasing pair order: no atomics,
deterministic, bit-identical to the reference.

Compiled launches disable multiply-add fusion (``enable_fp_fusion=False``, set for every kernel
by :meth:`TritonKernel.launch`): ``acc + x · w`` would otherwise be contracted into one fused
multiply-add (a single rounding), which differs from the reference's rounded product followed
by a rounded sum. The interpreter (NumPy) never fuses.

Rows must be sorted (non-decreasing columns); a duplicated left column counts once (a lane equal
to its predecessor in the row is skipped), a column anywhere in the right row is excluded.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.language.standard import _elementwise_max, _sum_combine

from ._runtime import TritonKernel, accumulation_dtype
from .intersect_kernel import _acc_torch_dtype, _configs, _prune, _rows_per_program

__all__ = ["difference_aggregate", "difference_aggregate_backward"]


def _difference_sum_kernel(
    rowptr_ptr,  # (M + 1,) CSR row pointer, rows sorted
    col_ptr,  # (E,) columns
    left_ptr,  # (B,) row whose columns are summed
    right_ptr,  # (B,) row whose columns are excluded (and whose weights are used)
    x_ptr,  # (N, F) strided features
    weight_ptr,  # (M, N) strided weight table (ignored unless HAS_WEIGHT)
    out_ptr,  # (B, F) contiguous output in the accumulation dtype
    stride_x_n,
    stride_x_f,
    stride_w_m,
    stride_w_n,
    num_features,
    HAS_WEIGHT: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
):
    pair = tl.program_id(0)
    tile = tl.program_id(1)
    features = tile * BLOCK_F + tl.arange(0, BLOCK_F)
    feature_mask = features < num_features
    lanes = tl.arange(0, BLOCK_E)
    # Scalars are broadcast to blocks explicitly (``zero_block + scalar``): the interpreter
    # mistypes ``block_bool & scalar_bool`` as an integer mask.
    zero_e = tl.full([BLOCK_E], 0, tl.int64)
    zero_f = tl.full([BLOCK_F], 0, tl.int64)

    left = tl.load(left_ptr + pair).to(tl.int64)
    right = tl.load(right_ptr + pair).to(tl.int64)
    left_start = tl.load(rowptr_ptr + left).to(tl.int64)
    left_end = tl.load(rowptr_ptr + left + 1).to(tl.int64)
    right_end = tl.load(rowptr_ptr + right + 1).to(tl.int64)
    cursor = tl.load(rowptr_ptr + right).to(tl.int64)
    weight_row = right * stride_w_m  # int64: right * stride may pass 2^31

    acc = tl.full([BLOCK_F], 0.0, ACC_DTYPE)
    for start in range(left_start, left_end, BLOCK_E):
        positions = start + lanes.to(tl.int64)
        valid = positions < left_end
        cols = tl.load(col_ptr + positions, mask=valid, other=0).to(tl.int64)
        has_prev = valid & (positions > left_start)
        prev = tl.load(col_ptr + positions - 1, mask=has_prev, other=-1).to(tl.int64)
        distinct = valid & (prev != cols)  # a duplicated column counts once
        # Lower bound of every lane's column in [cursor, right_end): bit_length(length) probes.
        lo = zero_e + cursor
        hi = zero_e + right_end
        remaining = right_end - cursor
        while remaining > 0:
            active = lo < hi
            mid = (lo + hi) >> 1
            probe = tl.load(col_ptr + mid, mask=active, other=0).to(tl.int64)
            go_right = active & (probe < cols)
            lo = tl.where(go_right, mid + 1, lo)
            hi = tl.where(active & (probe >= cols), mid, hi)
            remaining = remaining >> 1
        in_range = valid & (lo < right_end)
        hit = tl.load(col_ptr + lo, mask=in_range, other=-1).to(tl.int64)
        only_left = distinct & ~(in_range & (hit == cols))
        # Later blocks hold larger columns: their lower bounds are at or after this one's.
        cursor = tl.reduce(tl.where(valid, lo, zero_e + cursor), 0, _elementwise_max)
        # Add the kept columns' rows one by one, in increasing column order.
        for i in tl.static_range(BLOCK_E):
            pick = lanes == i
            column = tl.reduce(tl.where(pick, cols, zero_e), 0, _sum_combine)
            take = tl.reduce(tl.where(pick & only_left, zero_e + 1, zero_e), 0, _sum_combine)
            take_f = (zero_f + take) > 0
            row = tl.load(x_ptr + column * stride_x_n + features * stride_x_f,
                          mask=feature_mask & take_f, other=0.0).to(ACC_DTYPE)
            if HAS_WEIGHT:
                # The one weight of this column, broadcast over the tile (one cached address).
                w = tl.load(weight_ptr + weight_row + (zero_f + column) * stride_w_n,
                            mask=take_f, other=0.0).to(ACC_DTYPE)
                row = row * w
            acc = tl.where(take_f, acc + row, acc)

    tl.store(out_ptr + pair.to(tl.int64) * num_features + features, acc, mask=feature_mask)


def _difference_scatter_kernel(
    rowptr_ptr,  # (M + 1,) CSR row pointer, rows sorted
    col_ptr,  # (E,) columns
    left_ptr,  # (B,) row whose columns receive the gradient
    right_ptr,  # (B,) row whose columns are excluded (and whose weights are used)
    grad_ptr,  # (B, F) strided gradient of the output
    weight_ptr,  # (M, N) strided weight table (ignored unless HAS_WEIGHT)
    grad_x_ptr,  # (N, F) contiguous, zero-filled, accumulation dtype
    stride_g_b,
    stride_g_f,
    stride_w_m,
    stride_w_n,
    num_pairs,
    num_features,
    rows_per_program,
    HAS_WEIGHT: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
):
    group = tl.program_id(0)
    tile = tl.program_id(1)
    features = tile * BLOCK_F + tl.arange(0, BLOCK_F)
    feature_mask = features < num_features
    lanes = tl.arange(0, BLOCK_E)
    zero_e = tl.full([BLOCK_E], 0, tl.int64)
    zero_f = tl.full([BLOCK_F], 0, tl.int64)
    quad = tl.arange(0, 4)
    zero_4 = tl.full([4], 0, tl.int64)
    first_col = group.to(tl.int64) * rows_per_program
    last_col = first_col + rows_per_program  # exclusive
    # lanes 0, 1: lower bounds of first_col, last_col in the left row; 2, 3: in the right row
    targets = tl.where((quad % 2) == 0, zero_4 + first_col, zero_4 + last_col)

    for pair in range(0, num_pairs):
        left = tl.load(left_ptr + pair).to(tl.int64)
        right = tl.load(right_ptr + pair).to(tl.int64)
        left_start = tl.load(rowptr_ptr + left).to(tl.int64)
        left_end = tl.load(rowptr_ptr + left + 1).to(tl.int64)
        right_start = tl.load(rowptr_ptr + right).to(tl.int64)
        right_end = tl.load(rowptr_ptr + right + 1).to(tl.int64)
        # The pieces of both rows inside [first_col, last_col): four searches at once.
        lo4 = tl.where(quad < 2, zero_4 + left_start, zero_4 + right_start)
        hi4 = tl.where(quad < 2, zero_4 + left_end, zero_4 + right_end)
        remaining = tl.maximum(left_end - left_start, right_end - right_start)
        while remaining > 0:
            active = lo4 < hi4
            mid = (lo4 + hi4) >> 1
            probe = tl.load(col_ptr + mid, mask=active, other=0).to(tl.int64)
            go_right = active & (probe < targets)
            lo4 = tl.where(go_right, mid + 1, lo4)
            hi4 = tl.where(active & (probe >= targets), mid, hi4)
            remaining = remaining >> 1
        l_lo = tl.reduce(tl.where(quad == 0, lo4, zero_4), 0, _sum_combine)
        l_hi = tl.reduce(tl.where(quad == 1, lo4, zero_4), 0, _sum_combine)
        cursor = tl.reduce(tl.where(quad == 2, lo4, zero_4), 0, _sum_combine)
        r_hi = tl.reduce(tl.where(quad == 3, lo4, zero_4), 0, _sum_combine)
        weight_row = right * stride_w_m  # int64: right * stride may pass 2^31
        row_offset = (zero_f + pair) * stride_g_b  # int64 (pair * stride may pass 2^31)
        grad = tl.load(grad_ptr + row_offset + features * stride_g_f,
                       mask=feature_mask & ((zero_f + l_hi) > l_lo),
                       other=0.0).to(ACC_DTYPE)
        for start in range(l_lo, l_hi, BLOCK_E):
            positions = start + lanes.to(tl.int64)
            valid = positions < l_hi
            cols = tl.load(col_ptr + positions, mask=valid, other=0).to(tl.int64)
            # The entry before the left piece's start holds a smaller column: no duplicate
            # check across the piece boundary is needed. Likewise every copy of a column in
            # range lies inside the right piece, so searching the piece alone is enough.
            has_prev = valid & (positions > l_lo)
            prev = tl.load(col_ptr + positions - 1, mask=has_prev, other=-1).to(tl.int64)
            distinct = valid & (prev != cols)
            lo = zero_e + cursor
            hi = zero_e + r_hi
            remaining = r_hi - cursor
            while remaining > 0:
                active = lo < hi
                mid = (lo + hi) >> 1
                probe = tl.load(col_ptr + mid, mask=active, other=0).to(tl.int64)
                go_right = active & (probe < cols)
                lo = tl.where(go_right, mid + 1, lo)
                hi = tl.where(active & (probe >= cols), mid, hi)
                remaining = remaining >> 1
            in_range = valid & (lo < r_hi)
            hit = tl.load(col_ptr + lo, mask=in_range, other=-1).to(tl.int64)
            only_left = distinct & ~(in_range & (hit == cols))
            cursor = tl.reduce(tl.where(valid, lo, zero_e + cursor), 0, _elementwise_max)
            # Distinct columns within a pair: no two lanes touch the same row.
            mask = only_left[:, None] & feature_mask[None, :]
            pointers = grad_x_ptr + cols[:, None] * num_features + features[None, :]
            current = tl.load(pointers, mask=mask, other=0.0)
            if HAS_WEIGHT:
                w = tl.load(weight_ptr + weight_row + cols * stride_w_n, mask=only_left,
                            other=0.0).to(ACC_DTYPE)
                current = current + grad[None, :] * w[:, None]
            else:
                current = current + grad[None, :]
            tl.store(pointers, current, mask=mask)
            # The next pair may update the same rows from other threads of this program.
            tl.debug_barrier()


DIFFERENCE_SUM = TritonKernel(
    _difference_sum_kernel,
    configs=_configs(),
    key=["num_features"],
    interpreter_meta={"BLOCK_E": 4, "BLOCK_F": 16},
    prune=_prune,
)

DIFFERENCE_SCATTER = TritonKernel(
    _difference_scatter_kernel,
    configs=_configs(),
    key=["num_features"],
    interpreter_meta={"BLOCK_E": 4, "BLOCK_F": 16},
    prune=_prune,
)

def _weight_args(weight: Tensor | None, dummy: Tensor) -> tuple[Tensor, int, int]:
    """The weight table and its strides; without one, a dummy pointer the kernel never reads."""
    if weight is None:
        return dummy, 0, 0
    return weight, weight.stride(0), weight.stride(1)


def difference_aggregate(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor,
    weight: Tensor | None,
) -> Tensor:
    """Triton implementation of :func:`gnnkit.sparse._backends.reference.difference_aggregate`
    (bit-identical: increasing column order per pair, rounded product then rounded sum,
    float32 accumulation for half types)."""
    num_pairs, num_sources = left.numel(), x.shape[0]
    width = math.prod(x.shape[1:])
    x2 = x.reshape(num_sources, width)  # a view with strides when possible
    out = torch.zeros((num_pairs, width), dtype=_acc_torch_dtype(x.dtype), device=x.device)
    if out.numel() > 0:
        table, stride_w_m, stride_w_n = _weight_args(weight, x2)

        def grid(meta: dict) -> tuple[int, int]:
            return (num_pairs, triton.cdiv(width, meta["BLOCK_F"]))

        DIFFERENCE_SUM.launch(
            grid, x.device, rowptr.contiguous(), col.contiguous(), left.contiguous(),
            right.contiguous(), x2, table, out, x2.stride(0), x2.stride(1), stride_w_m,
            stride_w_n, width, HAS_WEIGHT=weight is not None,
            ACC_DTYPE=accumulation_dtype(x.dtype),
        )
    return out.view(num_pairs, *x.shape[1:]).to(x.dtype)


def difference_aggregate_backward(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, grad: Tensor,
    weight: Tensor | None, num_cols: int,
) -> Tensor:
    """Triton implementation of
    :func:`gnnkit.sparse._backends.reference.difference_aggregate_backward` (bit-identical:
    every ``grad_x`` row adds its pairs' ``grad[k] · w`` in increasing pair order; no
    atomics)."""
    num_pairs = left.numel()
    width = math.prod(grad.shape[1:])
    grad2 = grad.reshape(num_pairs, width)
    grad_x = torch.zeros((num_cols, width), dtype=_acc_torch_dtype(grad.dtype),
                         device=grad.device)
    if grad_x.numel() > 0 and num_pairs > 0:
        rows = _rows_per_program(num_cols, grad.device)
        table, stride_w_m, stride_w_n = _weight_args(weight, grad2)

        def grid(meta: dict) -> tuple[int, int]:
            return (triton.cdiv(num_cols, rows), triton.cdiv(width, meta["BLOCK_F"]))

        DIFFERENCE_SCATTER.launch(
            grid, grad.device, rowptr.contiguous(), col.contiguous(), left.contiguous(),
            right.contiguous(), grad2, table, grad_x, grad2.stride(0), grad2.stride(1),
            stride_w_m, stride_w_n, num_pairs, width, rows, HAS_WEIGHT=weight is not None,
            ACC_DTYPE=accumulation_dtype(grad.dtype),
        )
    return grad_x.view(num_cols, *grad.shape[1:]).to(grad.dtype)
