"""Triton ``intersect_aggregate``: common-neighbour sums without materialising the sets.

Forward, ``out[k] = Σ_{c ∈ cols(left[k]) ∩ cols(right[k])} x[c]``: program ``(k, j)`` handles
pair ``k`` and the ``j``-th tile of ``BLOCK_F`` features. It walks the *shorter* of the two rows
``BLOCK_E`` columns at a time; for each block a vectorised binary search finds every column's
lower bound in the other row (all lanes search at once, ``⌈log₂⌉`` probes of masked loads,
starting from where the previous block's last column landed), then the block's common columns
are added to a float32/float64 accumulator *one at a time in increasing column order* (each
lane's column and hit flag extracted with a masked reduction, its row of ``x`` read with a
masked load). A tree reduction over the block would be faster but would not reproduce the
reference's summation order; this kernel is bit-identical to it.

Backward, ``grad_x[c] = Σ_{k : c ∈ cols(left[k]) ∩ cols(right[k])} grad[k]``: program ``(g, j)``
owns the rows ``[g·R, (g+1)·R)`` of ``grad_x`` (a range of columns of ``A``) and one feature
tile, and walks *every* pair in increasing order: a four-lane binary search cuts both rows down
to the columns inside its range, the intersection of those pieces is found as in the forward,
and the pair's gradient row is added to the rows of the common columns (read-modify-write of
the program's own rows; distinct columns within a pair, a barrier between pairs). Every element
of ``grad_x`` is therefore written by exactly one program, in increasing pair order: no atomics,
deterministic, bit-identical to the reference. The price is that each pair is visited by every
row range (``O(B · G · log d)`` searches for ``G`` ranges), the trade-off of a deterministic
scatter without a transposed set matrix.

Rows of ``A`` must be sorted; duplicated columns count once (a block lane equal to its
predecessor in the row is skipped).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.language.standard import _elementwise_max, _sum_combine

from ._runtime import TritonKernel, accumulation_dtype

__all__ = ["intersect_aggregate", "intersect_aggregate_backward"]


def _intersect_sum_kernel(
    rowptr_ptr,  # (M + 1,) CSR row pointer, rows sorted
    col_ptr,  # (E,) columns
    left_ptr,  # (B,) first row of each pair
    right_ptr,  # (B,) second row of each pair
    x_ptr,  # (N, F) strided features
    out_ptr,  # (B, F) contiguous output in the accumulation dtype
    stride_x_n,
    stride_x_f,
    num_features,
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
    right_start = tl.load(rowptr_ptr + right).to(tl.int64)
    right_end = tl.load(rowptr_ptr + right + 1).to(tl.int64)
    # Walk the shorter row, search in the longer one (the common set is the same).
    swap = (left_end - left_start) > (right_end - right_start)
    a_start = tl.where(swap, right_start, left_start)
    a_end = tl.where(swap, right_end, left_end)
    b_end = tl.where(swap, left_end, right_end)
    cursor = tl.where(swap, left_start, right_start)

    acc = tl.full([BLOCK_F], 0.0, ACC_DTYPE)
    for start in range(a_start, a_end, BLOCK_E):
        positions = start + lanes.to(tl.int64)
        valid = positions < a_end
        cols = tl.load(col_ptr + positions, mask=valid, other=0).to(tl.int64)
        has_prev = valid & (positions > a_start)
        prev = tl.load(col_ptr + positions - 1, mask=has_prev, other=-1).to(tl.int64)
        distinct = valid & (prev != cols)  # a duplicated column counts once
        # Lower bound of every lane's column in [cursor, b_end): bit_length(length) probes.
        lo = zero_e + cursor
        hi = zero_e + b_end
        remaining = b_end - cursor
        while remaining > 0:
            active = lo < hi
            mid = (lo + hi) >> 1
            probe = tl.load(col_ptr + mid, mask=active, other=0).to(tl.int64)
            go_right = active & (probe < cols)
            lo = tl.where(go_right, mid + 1, lo)
            hi = tl.where(active & (probe >= cols), mid, hi)
            remaining = remaining >> 1
        in_range = distinct & (lo < b_end)
        hit = tl.load(col_ptr + lo, mask=in_range, other=-1).to(tl.int64)
        found = in_range & (hit == cols)
        # Later blocks hold larger columns: their lower bounds are at or after this one's.
        cursor = tl.reduce(tl.where(valid, lo, zero_e + cursor), 0, _elementwise_max)
        # Add the found columns' rows one by one, in increasing column order.
        for i in tl.static_range(BLOCK_E):
            pick = lanes == i
            column = tl.reduce(tl.where(pick, cols, zero_e), 0, _sum_combine)
            take = tl.reduce(tl.where(pick & found, zero_e + 1, zero_e), 0, _sum_combine)
            take_f = (zero_f + take) > 0
            row = tl.load(x_ptr + column * stride_x_n + features * stride_x_f,
                          mask=feature_mask & take_f, other=0.0).to(ACC_DTYPE)
            acc = tl.where(take_f, acc + row, acc)

    tl.store(out_ptr + pair.to(tl.int64) * num_features + features, acc, mask=feature_mask)


def _intersect_scatter_kernel(
    rowptr_ptr,  # (M + 1,) CSR row pointer, rows sorted
    col_ptr,  # (E,) columns
    left_ptr,  # (B,) first row of each pair
    right_ptr,  # (B,) second row of each pair
    grad_ptr,  # (B, F) strided gradient of the output
    grad_x_ptr,  # (N, F) contiguous, zero-filled, accumulation dtype
    stride_g_b,
    stride_g_f,
    num_pairs,
    num_features,
    rows_per_program,
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
        r_lo = tl.reduce(tl.where(quad == 2, lo4, zero_4), 0, _sum_combine)
        r_hi = tl.reduce(tl.where(quad == 3, lo4, zero_4), 0, _sum_combine)
        swap = (l_hi - l_lo) > (r_hi - r_lo)
        a_start = tl.where(swap, r_lo, l_lo)
        a_end = tl.where(swap, r_hi, l_hi)
        b_end = tl.where(swap, l_hi, r_hi)
        cursor = tl.where(swap, l_lo, r_lo)
        row_offset = (zero_f + pair) * stride_g_b  # int64 (pair * stride may pass 2^31)
        grad = tl.load(grad_ptr + row_offset + features * stride_g_f,
                       mask=feature_mask & ((zero_f + a_end) > a_start),
                       other=0.0).to(ACC_DTYPE)
        for start in range(a_start, a_end, BLOCK_E):
            positions = start + lanes.to(tl.int64)
            valid = positions < a_end
            cols = tl.load(col_ptr + positions, mask=valid, other=0).to(tl.int64)
            # The entry before a piece's start holds a smaller column: no duplicate check
            # across the piece boundary is needed.
            has_prev = valid & (positions > a_start)
            prev = tl.load(col_ptr + positions - 1, mask=has_prev, other=-1).to(tl.int64)
            distinct = valid & (prev != cols)
            lo = zero_e + cursor
            hi = zero_e + b_end
            remaining = b_end - cursor
            while remaining > 0:
                active = lo < hi
                mid = (lo + hi) >> 1
                probe = tl.load(col_ptr + mid, mask=active, other=0).to(tl.int64)
                go_right = active & (probe < cols)
                lo = tl.where(go_right, mid + 1, lo)
                hi = tl.where(active & (probe >= cols), mid, hi)
                remaining = remaining >> 1
            in_range = distinct & (lo < b_end)
            hit = tl.load(col_ptr + lo, mask=in_range, other=-1).to(tl.int64)
            found = in_range & (hit == cols)
            cursor = tl.reduce(tl.where(valid, lo, zero_e + cursor), 0, _elementwise_max)
            # Distinct columns within a pair: no two lanes touch the same row.
            mask = found[:, None] & feature_mask[None, :]
            pointers = grad_x_ptr + cols[:, None] * num_features + features[None, :]
            current = tl.load(pointers, mask=mask, other=0.0)
            tl.store(pointers, current + grad[None, :], mask=mask)
            # The next pair may update the same rows from other threads of this program.
            tl.debug_barrier()


def _configs() -> list[triton.Config]:
    """Tiles for feature widths 16–512: ``BLOCK_E`` columns searched at once, ``BLOCK_F``
    features per program."""
    return [
        triton.Config({"BLOCK_E": block_e, "BLOCK_F": block_f}, num_warps=num_warps)
        for block_e in (16, 32)
        for block_f in (32, 64, 128)
        for num_warps in (1, 2, 4)
        if num_warps * 32 <= block_e * block_f // 2
    ]


def _prune(configs: list[triton.Config], named_args: dict, **kwargs: object) -> list[triton.Config]:
    """Drop feature tiles wider than the (power-of-two-rounded) feature width."""
    width = triton.next_power_of_2(max(int(named_args["num_features"]), 1))
    kept = [c for c in configs if c.kwargs["BLOCK_F"] <= max(width, 32)]
    return kept or configs[:1]


INTERSECT_SUM = TritonKernel(
    _intersect_sum_kernel,
    configs=_configs(),
    key=["num_features"],
    interpreter_meta={"BLOCK_E": 4, "BLOCK_F": 16},
    prune=_prune,
)

INTERSECT_SCATTER = TritonKernel(
    _intersect_scatter_kernel,
    configs=_configs(),
    key=["num_features"],
    interpreter_meta={"BLOCK_E": 4, "BLOCK_F": 16},
    prune=_prune,
)

# Rows of grad_x per backward program: compiled, enough programs to fill a GPU; interpreted,
# a few rows so that small test graphs span several ranges.
_COMPILED_MIN_ROWS = 64
_COMPILED_TARGET_RANGES = 1024
_INTERPRETED_ROWS = 5


def _rows_per_program(num_cols: int, device: torch.device) -> int:
    if device.type != "cuda":
        return _INTERPRETED_ROWS
    return max(_COMPILED_MIN_ROWS, triton.cdiv(num_cols, _COMPILED_TARGET_RANGES))


def _acc_torch_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def intersect_aggregate(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor
) -> Tensor:
    """Triton implementation of :func:`gnnkit.sparse._backends.reference.intersect_aggregate`
    (bit-identical: increasing column order per pair, float32 accumulation for half types)."""
    num_pairs, num_sources = left.numel(), x.shape[0]
    width = math.prod(x.shape[1:])
    x2 = x.reshape(num_sources, width)
    out = torch.zeros((num_pairs, width), dtype=_acc_torch_dtype(x.dtype), device=x.device)
    if out.numel() > 0:
        def grid(meta: dict) -> tuple[int, int]:
            return (num_pairs, triton.cdiv(width, meta["BLOCK_F"]))

        INTERSECT_SUM.launch(
            grid, x.device, rowptr, col, left.contiguous(), right.contiguous(), x2, out,
            x2.stride(0), x2.stride(1), width, ACC_DTYPE=accumulation_dtype(x.dtype),
        )
    return out.view(num_pairs, *x.shape[1:]).to(x.dtype)


def intersect_aggregate_backward(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, grad: Tensor, num_cols: int
) -> Tensor:
    """Triton implementation of
    :func:`gnnkit.sparse._backends.reference.intersect_aggregate_backward` (bit-identical:
    every ``grad_x`` row adds its pairs in increasing order; no atomics)."""
    num_pairs = left.numel()
    width = math.prod(grad.shape[1:])
    grad2 = grad.reshape(num_pairs, width)
    grad_x = torch.zeros((num_cols, width), dtype=_acc_torch_dtype(grad.dtype),
                         device=grad.device)
    if grad_x.numel() > 0 and num_pairs > 0:
        rows = _rows_per_program(num_cols, grad.device)

        def grid(meta: dict) -> tuple[int, int]:
            return (triton.cdiv(num_cols, rows), triton.cdiv(width, meta["BLOCK_F"]))

        INTERSECT_SCATTER.launch(
            grid, grad.device, rowptr, col, left.contiguous(), right.contiguous(), grad2,
            grad_x, grad2.stride(0), grad2.stride(1), num_pairs, width, rows,
            ACC_DTYPE=accumulation_dtype(grad.dtype),
        )
    return grad_x.view(num_cols, *grad.shape[1:]).to(grad.dtype)
