"""Triton ``edge_softmax`` and its backward: one program per (row, block of heads).

Forward, for the entries ``e`` of row ``i`` and each head ``h``:

    p[e, h] = exp(s[e, h] - m[i, h]) / Σ_{e' in row i} exp(s[e', h] - m[i, h]),
    m[i, h] = max_{e in row i} s[e, h],

computed in two sweeps over the row: an *online* sweep that keeps the running maximum and the
running sum of exponentials (rescaling the sum whenever the maximum grows), then a sweep that
writes the probabilities. Backward: ``grad_s[e] = p[e] (g[e] - Σ_{e' in row} p[e'] g[e'])``, a
sweep for the row sum and a sweep for the output. Each entry has one writer; no atomics.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.language.standard import _elementwise_max, _sum_combine

from ._runtime import TritonKernel, accumulation_dtype

__all__ = ["edge_softmax", "edge_softmax_backward"]


def _edge_softmax_kernel(
    rowptr_ptr,
    scores_ptr,  # (E, H) strided
    out_ptr,  # (E, H) contiguous
    num_heads,
    stride_score_e,
    stride_score_h,
    ACC_DTYPE: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_H: tl.constexpr,
):
    row = tl.program_id(0)
    heads = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    head_mask = heads < num_heads
    lo = tl.load(rowptr_ptr + row).to(tl.int64)
    hi = tl.load(rowptr_ptr + row + 1).to(tl.int64)
    running_max = tl.full([BLOCK_H], float("-inf"), ACC_DTYPE)
    running_sum = tl.full([BLOCK_H], 0.0, ACC_DTYPE)
    for start in range(lo, hi, BLOCK_E):
        positions = start + tl.arange(0, BLOCK_E).to(tl.int64)
        mask = (positions < hi)[:, None] & head_mask[None, :]
        scores = tl.load(
            scores_ptr + positions[:, None] * stride_score_e + heads[None, :] * stride_score_h,
            mask=mask,
            other=float("-inf"),
        ).to(ACC_DTYPE)
        previous_max = running_max
        running_max = tl.maximum(running_max, tl.reduce(scores, 0, _elementwise_max))
        # Shift by 0 while the maximum is still -inf (only -inf scores so far): exp(-inf - 0)
        # is 0, whereas exp(-inf - (-inf)) would be NaN.
        shift = tl.where(running_max == float("-inf"), 0.0, running_max)
        rescale = tl.exp(previous_max - shift)
        exponentials = tl.exp(scores - shift[None, :])
        running_sum = running_sum * rescale + tl.reduce(exponentials, 0, _sum_combine)
    for start in range(lo, hi, BLOCK_E):
        positions = start + tl.arange(0, BLOCK_E).to(tl.int64)
        mask = (positions < hi)[:, None] & head_mask[None, :]
        scores = tl.load(
            scores_ptr + positions[:, None] * stride_score_e + heads[None, :] * stride_score_h,
            mask=mask,
            other=0.0,
        ).to(ACC_DTYPE)
        probs = tl.exp(scores - running_max[None, :]) / running_sum[None, :]
        tl.store(
            out_ptr + positions[:, None] * num_heads + heads[None, :],
            probs.to(out_ptr.dtype.element_ty),
            mask=mask,
        )


def _edge_softmax_backward_kernel(
    rowptr_ptr,
    probs_ptr,  # (E, H) strided
    grad_ptr,  # (E, H) strided
    out_ptr,  # (E, H) contiguous
    num_heads,
    stride_prob_e,
    stride_prob_h,
    stride_grad_e,
    stride_grad_h,
    ACC_DTYPE: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_H: tl.constexpr,
):
    row = tl.program_id(0)
    heads = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    head_mask = heads < num_heads
    lo = tl.load(rowptr_ptr + row).to(tl.int64)
    hi = tl.load(rowptr_ptr + row + 1).to(tl.int64)
    weighted = tl.full([BLOCK_H], 0.0, ACC_DTYPE)
    for start in range(lo, hi, BLOCK_E):
        positions = start + tl.arange(0, BLOCK_E).to(tl.int64)
        mask = (positions < hi)[:, None] & head_mask[None, :]
        probs = tl.load(
            probs_ptr + positions[:, None] * stride_prob_e + heads[None, :] * stride_prob_h,
            mask=mask,
            other=0.0,
        ).to(ACC_DTYPE)
        grads = tl.load(
            grad_ptr + positions[:, None] * stride_grad_e + heads[None, :] * stride_grad_h,
            mask=mask,
            other=0.0,
        ).to(ACC_DTYPE)
        weighted += tl.reduce(probs * grads, 0, _sum_combine)
    for start in range(lo, hi, BLOCK_E):
        positions = start + tl.arange(0, BLOCK_E).to(tl.int64)
        mask = (positions < hi)[:, None] & head_mask[None, :]
        probs = tl.load(
            probs_ptr + positions[:, None] * stride_prob_e + heads[None, :] * stride_prob_h,
            mask=mask,
            other=0.0,
        ).to(ACC_DTYPE)
        grads = tl.load(
            grad_ptr + positions[:, None] * stride_grad_e + heads[None, :] * stride_grad_h,
            mask=mask,
            other=0.0,
        ).to(ACC_DTYPE)
        result = probs * (grads - weighted[None, :])
        tl.store(
            out_ptr + positions[:, None] * num_heads + heads[None, :],
            result.to(out_ptr.dtype.element_ty),
            mask=mask,
        )


def _configs() -> list[triton.Config]:
    """Candidates for 1–16 heads and mean degrees ~2–1000 (heads are few: tile the entries)."""
    return [
        triton.Config({"BLOCK_E": block_e, "BLOCK_H": block_h}, num_warps=num_warps)
        for block_e in (16, 32, 64, 128, 256)
        for block_h in (1, 2, 4, 8, 16)
        for num_warps in (1, 2, 4)
        if num_warps * 32 <= block_e * block_h
    ]


def _prune(configs: list[triton.Config], named_args: dict, **kwargs: object) -> list[triton.Config]:
    """Keep head tiles that match the (power-of-two-rounded) number of heads."""
    width = triton.next_power_of_2(max(int(named_args["num_heads"]), 1))
    kept = [c for c in configs if c.kwargs["BLOCK_H"] == min(width, 16)]
    return kept or configs[:1]


EDGE_SOFTMAX = TritonKernel(
    _edge_softmax_kernel,
    configs=_configs(),
    key=["num_heads"],
    interpreter_meta={"BLOCK_E": 4, "BLOCK_H": 2},
    prune=_prune,
)
EDGE_SOFTMAX_BACKWARD = TritonKernel(
    _edge_softmax_backward_kernel,
    configs=_configs(),
    key=["num_heads"],
    interpreter_meta={"BLOCK_E": 4, "BLOCK_H": 2},
    prune=_prune,
)


def _as_heads(tensor: Tensor) -> Tensor:
    """View ``(E,)`` or ``(E, *H)`` as ``(E, prod(H))``."""
    return tensor.reshape(tensor.shape[0], math.prod(tensor.shape[1:]))


def _grid(num_rows: int, num_heads: int) -> Callable[[dict], tuple[int, int]]:
    def grid(meta: dict) -> tuple[int, int]:
        return (num_rows, triton.cdiv(num_heads, meta["BLOCK_H"]))

    return grid


def edge_softmax(rowptr: Tensor, scores: Tensor) -> Tensor:
    """Triton implementation of :func:`gnnkit.sparse._backends.reference.edge_softmax`."""
    scores2 = _as_heads(scores)
    num_rows, num_heads = rowptr.numel() - 1, scores2.shape[1]
    out = torch.empty(scores2.shape, dtype=scores.dtype, device=scores.device)
    if out.numel() > 0 and num_rows > 0:
        EDGE_SOFTMAX.launch(
            _grid(num_rows, num_heads),
            scores.device,
            rowptr,
            scores2,
            out,
            num_heads,
            *scores2.stride(),
            ACC_DTYPE=accumulation_dtype(scores.dtype),
        )
    return out.view(scores.shape)


def edge_softmax_backward(rowptr: Tensor, probs: Tensor, grad: Tensor) -> Tensor:
    """Triton implementation of :func:`gnnkit.sparse._backends.reference.edge_softmax_backward`."""
    probs2, grad2 = _as_heads(probs), _as_heads(grad)
    num_rows, num_heads = rowptr.numel() - 1, probs2.shape[1]
    out = torch.empty(probs2.shape, dtype=probs.dtype, device=probs.device)
    if out.numel() > 0 and num_rows > 0:
        EDGE_SOFTMAX_BACKWARD.launch(
            _grid(num_rows, num_heads),
            probs.device,
            rowptr,
            probs2,
            grad2,
            out,
            num_heads,
            *probs2.stride(),
            *grad2.stride(),
            ACC_DTYPE=accumulation_dtype(probs.dtype),
        )
    return out.view(probs.shape)
