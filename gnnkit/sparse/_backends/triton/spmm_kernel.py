"""Triton ``spmm``: CSR row-parallel sparse–dense products without atomics.

One kernel, :func:`_gather_reduce_kernel`, does all the work. Program ``(s, j)`` reduces the
*range* ``[lo[s], hi[s])`` of stored entries into output row ``s`` for one head and one tile of
``BLOCK_F`` features (``j`` enumerates head × feature tile):

    out[s, h, f] = ⊕_{e in [lo[s], hi[s])} values[e, h] · src[index[e], h, f]

walking the range ``BLOCK_E`` entries at a time. Each output element is written by exactly one
program, so results are deterministic. Two schedules use it:

* ``"rows"``: one range per CSR row (``lo = rowptr[:-1]``, ``hi = rowptr[1:]``);
* ``"split"``: for skewed degree distributions, every row is cut into *pieces* of at most
  ``chunk`` entries; pass 1 reduces each piece into a float32/float64 partial (with the winning
  position for max/min), pass 2 reduces each row's consecutive pieces in order (``index`` =
  identity, ``arg`` looked up through the partials' winners). The pieces of a row are reduced
  in CSR order and ties keep the earlier piece, so max/min pick the same (first) winner as the
  reference and sums are still deterministic.

:func:`select_schedule` picks between them from the row degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.language.standard import _elementwise_max, _elementwise_min, _sum_combine

from ...index import index_from_ptr, ptr_from_counts
from .. import reference
from ._runtime import TritonKernel, accumulation_dtype

__all__ = [
    "DEFAULT_POLICY",
    "SchedulePolicy",
    "gather_reduce",
    "select_schedule",
    "spmm",
]

REDUCTIONS: dict[str, int] = {"sum": 0, "mean": 1, "max": 2, "min": 3}
_SUM = tl.constexpr(0)
_MEAN = tl.constexpr(1)
_MAX = tl.constexpr(2)
_MIN = tl.constexpr(3)


def _gather_reduce_kernel(
    lo_ptr,  # (S,) first entry of each range
    hi_ptr,  # (S,) one past the last entry of each range
    count_lo_ptr,  # (S,) with count_hi_ptr: the divisor of "mean" is count_hi - count_lo
    count_hi_ptr,
    index_ptr,  # (E,) source row of each entry (ignored unless HAS_INDEX)
    values_ptr,  # (E,) or (E, H) entry values (ignored unless HAS_VALUES)
    src_ptr,  # (N, H, F) strided source rows
    out_ptr,  # (S, H, F) contiguous output
    arg_ptr,  # (S, H, F) contiguous int32/int64 winners (written for max/min if WRITE_ARG)
    argmap_ptr,  # (P, H, F) contiguous, arg's dtype: winners of pass 1 (read if HAS_ARGMAP)
    stride_value_e,
    stride_value_h,
    stride_src_n,
    stride_src_h,
    stride_src_f,
    num_heads,
    num_features,
    empty_arg,  # arg of an empty range: nnz of the original matrix
    degree_hint,  # log2 of the mean range length: an autotuning key only
    REDUCE: tl.constexpr,
    HAS_INDEX: tl.constexpr,
    HAS_VALUES: tl.constexpr,
    HAS_ARGMAP: tl.constexpr,
    WRITE_ARG: tl.constexpr,  # max/min: store the winners (only when a gradient is needed)
    ACC_DTYPE: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
):
    segment = tl.program_id(0)
    tile = tl.program_id(1)
    num_feature_tiles = (num_features + BLOCK_F - 1) // BLOCK_F
    head = tile // num_feature_tiles
    features = (tile % num_feature_tiles) * BLOCK_F + tl.arange(0, BLOCK_F)
    feature_mask = features < num_features
    lo = tl.load(lo_ptr + segment).to(tl.int64)
    hi = tl.load(hi_ptr + segment).to(tl.int64)
    # Scalar conditions are broadcast to feature blocks explicitly (``zero_block + scalar``):
    # the interpreter mistypes ``block_bool & scalar_bool`` as an integer mask.
    zero_block = tl.full([BLOCK_F], 0, tl.int64)
    not_empty = (zero_block + hi) > lo

    if REDUCE == _MAX:
        acc = tl.full([BLOCK_F], float("-inf"), ACC_DTYPE)
    elif REDUCE == _MIN:
        acc = tl.full([BLOCK_F], float("inf"), ACC_DTYPE)
    else:
        acc = tl.full([BLOCK_F], 0.0, ACC_DTYPE)
    winner = tl.full([BLOCK_F], 0, tl.int64)

    for start in range(lo, hi, BLOCK_E):
        positions = start + tl.arange(0, BLOCK_E).to(tl.int64)
        entry_mask = positions < hi
        if HAS_INDEX:
            rows = tl.load(index_ptr + positions, mask=entry_mask, other=0).to(tl.int64)
        else:
            rows = positions
        mask = entry_mask[:, None] & feature_mask[None, :]
        pointers = (
            src_ptr
            + rows[:, None] * stride_src_n
            + head * stride_src_h
            + features[None, :] * stride_src_f
        )
        messages = tl.load(pointers, mask=mask, other=0.0).to(ACC_DTYPE)
        if HAS_VALUES:
            weights = tl.load(
                values_ptr + positions * stride_value_e + head * stride_value_h,
                mask=entry_mask,
                other=0.0,
            ).to(ACC_DTYPE)
            messages = messages * weights[:, None]
        if REDUCE == _SUM or REDUCE == _MEAN:  # noqa: SIM109 - Triton has no `in` on constexprs
            acc += tl.reduce(messages, 0, _sum_combine)
        else:
            if REDUCE == _MAX:
                messages = tl.where(mask, messages, float("-inf"))
                block_best = tl.reduce(messages, 0, _elementwise_max)
                improves = block_best > acc
            else:
                messages = tl.where(mask, messages, float("inf"))
                block_best = tl.reduce(messages, 0, _elementwise_min)
                improves = block_best < acc
            # First position (in CSR order) holding the block's extremum.
            candidates = tl.where(mask & (messages == block_best[None, :]), positions[:, None], hi)
            block_winner = tl.reduce(candidates, 0, _elementwise_min)
            # Strict comparison keeps the earlier block on ties; the first block always counts
            # (its extremum may legitimately be ±inf).
            improves = improves | ((zero_block + start) == lo)
            acc = tl.where(improves, block_best, acc)
            winner = tl.where(improves, block_winner, winner)

    if REDUCE == _MEAN:
        count = tl.load(count_hi_ptr + segment).to(tl.int64) - tl.load(
            count_lo_ptr + segment
        ).to(tl.int64)
        acc = acc / tl.maximum(count, 1).to(ACC_DTYPE)
    out_offsets = (segment * num_heads + head) * num_features + features
    if REDUCE == _MAX or REDUCE == _MIN:  # noqa: SIM109
        acc = tl.where(not_empty, acc, 0.0)
        if WRITE_ARG:
            if HAS_ARGMAP:
                winner = tl.load(
                    argmap_ptr + (winner * num_heads + head) * num_features + features,
                    mask=feature_mask & not_empty,
                    other=0,
                )
            winner = tl.where(not_empty, winner.to(tl.int64), empty_arg)
            # Tracked in int64, stored in arg's dtype (int32 whenever the sentinel fits).
            tl.store(arg_ptr + out_offsets, winner.to(arg_ptr.dtype.element_ty),
                     mask=feature_mask)
    tl.store(out_ptr + out_offsets, acc.to(out_ptr.dtype.element_ty), mask=feature_mask)


def _configs() -> list[triton.Config]:
    """Autotuning candidates for feature widths 16–512 and mean degrees ~2–1000.

    Tiles of 256–4096 elements (``BLOCK_E`` entries × ``BLOCK_F`` features) with 2–8 warps, at
    least four elements per thread.
    """
    return [
        triton.Config({"BLOCK_E": block_e, "BLOCK_F": block_f}, num_warps=num_warps)
        for block_f in (16, 32, 64, 128, 256)
        for block_e in (8, 16, 32, 64)
        for num_warps in (2, 4, 8)
        if 256 <= block_e * block_f <= 4096 and num_warps * 32 * 4 <= block_e * block_f
    ]


def _prune(configs: list[triton.Config], named_args: dict, **kwargs: object) -> list[triton.Config]:
    """Drop tiles wider than the (power-of-two-rounded) feature width or much longer than rows."""
    width = triton.next_power_of_2(max(int(named_args["num_features"]), 1))
    length = 1 << max(int(named_args["degree_hint"]), 0)
    kept = [
        c
        for c in configs
        if c.kwargs["BLOCK_F"] <= max(width, 16) and c.kwargs["BLOCK_E"] <= max(4 * length, 8)
    ]
    return kept or configs[:1]


GATHER_REDUCE = TritonKernel(
    _gather_reduce_kernel,
    configs=_configs(),
    key=["num_features", "num_heads", "degree_hint"],
    interpreter_meta={"BLOCK_E": 4, "BLOCK_F": 16},
    prune=_prune,
)


@dataclass(frozen=True)
class SchedulePolicy:
    """When to split rows, and how finely.

    Rows are split (``"split"``) when the longest row has at least ``min_split_degree`` entries
    *and* either exceeds ``skew_ratio`` times the mean row length (a skewed, power-law-like
    distribution) or there are fewer than ``min_parallel_rows`` rows (too few programs to fill
    the GPU). Split pieces hold at most ``chunk`` entries.
    """

    chunk: int = 256
    min_split_degree: int = 1024
    skew_ratio: float = 8.0
    min_parallel_rows: int = 1024

    def __post_init__(self) -> None:
        if self.chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {self.chunk}")


DEFAULT_POLICY = SchedulePolicy()


def select_schedule(rowptr: Tensor, policy: SchedulePolicy | None = None) -> str:
    """``"rows"`` or ``"split"`` for the ranges of ``rowptr`` (see :class:`SchedulePolicy`).

    ``policy`` defaults to the module's ``DEFAULT_POLICY`` (looked up at call time). Costs one
    reduction over the row lengths and one device-to-host copy.
    """
    policy = DEFAULT_POLICY if policy is None else policy
    num_rows = rowptr.numel() - 1
    if num_rows <= 0:
        return "rows"
    longest, nnz = torch.stack([(rowptr[1:] - rowptr[:-1]).max(), rowptr[-1]]).tolist()
    if longest < policy.min_split_degree:
        return "rows"
    if longest > policy.skew_ratio * nnz / num_rows or num_rows < policy.min_parallel_rows:
        return "split"
    return "rows"


def _degree_hint(nnz: int, num_ranges: int) -> int:
    """Autotuning key: log2 of the mean range length, bucketed."""
    return max(0, round(math.log2(max(nnz / max(num_ranges, 1), 1.0))))


def gather_reduce(
    rowptr: Tensor,
    index: Tensor | None,
    values: Tensor | None,
    src: Tensor,
    reduce: str,
    *,
    schedule: str | None = None,
    policy: SchedulePolicy | None = None,
    with_arg: bool = True,
) -> tuple[Tensor, Tensor]:
    """``out[i, h, f] = ⊕_{e in row i} values[e, h] · src[index[e], h, f]`` for a 3-D ``src``.

    ``src`` is ``(N, H, F)`` (any strides); ``values`` is ``None``, ``(E,)`` (shared by all
    heads; requires ``H == 1``) or ``(E, H)``; ``index`` ``None`` means the identity
    (``segment``). Returns ``(out, arg)`` of shape ``(M, H, F)`` with the conventions of
    :func:`gnnkit.sparse._backends.reference.spmm` (``arg`` of dtype
    :func:`~gnnkit.sparse._backends.reference.arg_dtype`). ``schedule`` forces ``"rows"`` or
    ``"split"``; by default :func:`select_schedule` decides with ``policy`` (default: the
    module's ``DEFAULT_POLICY``), whose ``chunk`` also sizes the split pieces. With
    ``with_arg=False`` max/min store no winners and ``arg`` is empty.
    """
    policy = DEFAULT_POLICY if policy is None else policy
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of sum, mean, max, min; got {reduce!r}")
    if schedule is None:
        schedule = select_schedule(rowptr, policy)
    if schedule not in ("rows", "split"):
        raise ValueError(f"schedule must be 'rows' or 'split', got {schedule!r}")
    num_rows = rowptr.numel() - 1
    num_heads, num_features = src.shape[1], src.shape[2]
    nnz = index.numel() if index is not None else src.shape[0]
    out = torch.empty((num_rows, num_heads, num_features), dtype=src.dtype, device=src.device)
    with_arg = with_arg and reduce in ("max", "min")
    index_dtype = reference.arg_dtype(nnz)
    arg = torch.empty(out.shape if with_arg else (0,), dtype=index_dtype, device=src.device)
    if out.numel() == 0:
        return out, arg
    if schedule == "rows":
        _launch(rowptr[:-1], rowptr[1:], rowptr[:-1], rowptr[1:], index, values, src, out, arg,
                None, reduce, empty_arg=nnz, write_arg=with_arg)
        return out, arg

    lengths = (rowptr[1:] - rowptr[:-1]).long()
    pieces_per_row = torch.div(lengths + policy.chunk - 1, policy.chunk, rounding_mode="floor")
    piece_ptr = ptr_from_counts(pieces_per_row, check=False)
    num_pieces = int(piece_ptr[-1])
    piece_row = index_from_ptr(piece_ptr, total=num_pieces, check=False)
    rank_in_row = torch.arange(num_pieces, device=src.device) - piece_ptr[piece_row]
    row_start = rowptr.long()[piece_row]
    piece_lo = row_start + rank_in_row * policy.chunk
    piece_hi = torch.minimum(piece_lo + policy.chunk, rowptr.long()[piece_row + 1])
    acc_dtype = torch.float64 if src.dtype == torch.float64 else torch.float32
    partial = torch.empty((num_pieces, num_heads, num_features), dtype=acc_dtype,
                          device=src.device)
    partial_arg = torch.empty(partial.shape if with_arg else (0,), dtype=index_dtype,
                              device=src.device)
    if num_pieces > 0:
        first_pass = "sum" if reduce == "mean" else reduce
        _launch(piece_lo, piece_hi, piece_lo, piece_hi, index, values, src, partial, partial_arg,
                None, first_pass, empty_arg=nnz, write_arg=with_arg)
    _launch(piece_ptr[:-1], piece_ptr[1:], rowptr[:-1], rowptr[1:], None, None, partial, out, arg,
            partial_arg if with_arg else None, reduce, empty_arg=nnz, write_arg=with_arg)
    return out, arg


def _launch(
    lo: Tensor,
    hi: Tensor,
    count_lo: Tensor,
    count_hi: Tensor,
    index: Tensor | None,
    values: Tensor | None,
    src: Tensor,
    out: Tensor,
    arg: Tensor,
    argmap: Tensor | None,
    reduce: str,
    *,
    empty_arg: int,
    write_arg: bool,
) -> None:
    num_ranges = lo.numel()
    num_heads, num_features = src.shape[1], src.shape[2]
    if values is None:
        stride_value_e = stride_value_h = 0
    else:
        stride_value_e = values.stride(0)
        stride_value_h = values.stride(1) if values.dim() == 2 else 0
    nnz = index.numel() if index is not None else src.shape[0]

    def grid(meta: dict) -> tuple[int, int]:
        return (num_ranges, num_heads * triton.cdiv(num_features, meta["BLOCK_F"]))

    GATHER_REDUCE.launch(
        grid,
        src.device,
        lo,
        hi,
        count_lo,
        count_hi,
        index if index is not None else lo,  # any valid pointer when unused
        values if values is not None else src,
        src,
        out,
        arg if arg.numel() else out,
        argmap if argmap is not None else out,
        stride_value_e,
        stride_value_h,
        src.stride(0),
        src.stride(1),
        src.stride(2),
        num_heads,
        num_features,
        empty_arg,
        _degree_hint(nnz, num_ranges),
        REDUCE=REDUCTIONS[reduce],
        HAS_INDEX=index is not None,
        HAS_VALUES=values is not None,
        HAS_ARGMAP=argmap is not None,
        WRITE_ARG=write_arg,
        ACC_DTYPE=accumulation_dtype(src.dtype),
    )


def spmm(
    rowptr: Tensor,
    col: Tensor,
    values: Tensor | None,
    x: Tensor,
    reduce: str,
    with_arg: bool = True,
) -> tuple[Tensor, Tensor]:
    """Triton implementation of :func:`gnnkit.sparse._backends.reference.spmm`.

    No values, scalar ``(E,)`` and multi-head ``(E, H)`` values run on Triton; block values
    ``(E, P, Q)`` fall back to the reference implementation.
    """
    if values is not None and values.dim() == 3:
        return reference.spmm(rowptr, col, values, x, reduce, with_arg)
    num_rows, num_sources = rowptr.numel() - 1, x.shape[0]
    if values is not None and values.dim() == 2:
        heads = values.shape[1]
        src = x.reshape(num_sources, heads, math.prod(x.shape[2:]))
    else:
        src = x.reshape(num_sources, 1, math.prod(x.shape[1:]))
    out, arg = gather_reduce(rowptr, col, values, src, reduce, with_arg=with_arg)
    out_shape = (num_rows, *x.shape[1:])
    extreme = with_arg and reduce in ("max", "min")
    return out.view(out_shape), arg.view(out_shape) if extreme else arg
