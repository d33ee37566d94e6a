"""Triton ``sddmm``: per-entry ``op(a[row[e]], b[col[e]])`` for ``op`` in dot, add, mul.

Inputs are viewed as ``a: (M, K, F)`` and ``b: (N, K, F)`` (``K`` = product of the leading
trailing dimensions, ``F`` = the last one). Program ``(t, j)`` handles ``BLOCK_E`` consecutive
entries ``e`` and

* ``dot``: group ``k = j``, looping over the features: ``out[e, k] = Σ_f a[row_e, k, f] ·
  b[col_e, k, f]``;
* ``add``/``mul``: group ``k`` and feature tile from ``j``: ``out[e, k, f] = a[...] ∘ b[...]``.

Every output element has exactly one writer; no atomics. ``outer`` (block-valued ``spmm``'s
gradient) falls back to the reference implementation.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.language.standard import _sum_combine

from .. import reference
from ._runtime import TritonKernel, accumulation_dtype

__all__ = ["sddmm"]

OPS: dict[str, int] = {"dot": 0, "add": 1, "mul": 2}
_DOT = tl.constexpr(0)
_ADD = tl.constexpr(1)


def _sddmm_kernel(
    row_ptr,  # (E,) row of each entry
    col_ptr,  # (E,) column of each entry
    a_ptr,  # (M, K, F) strided
    b_ptr,  # (N, K, F) strided
    out_ptr,  # (E, K) for dot, (E, K, F) otherwise; contiguous
    num_entries,
    num_groups,
    num_features,
    stride_a_m,
    stride_a_k,
    stride_a_f,
    stride_b_n,
    stride_b_k,
    stride_b_f,
    OP: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
):
    entries = tl.program_id(0).to(tl.int64) * BLOCK_E + tl.arange(0, BLOCK_E)
    entry_mask = entries < num_entries
    rows = tl.load(row_ptr + entries, mask=entry_mask, other=0).to(tl.int64)
    cols = tl.load(col_ptr + entries, mask=entry_mask, other=0).to(tl.int64)
    a_rows = a_ptr + rows[:, None] * stride_a_m
    b_rows = b_ptr + cols[:, None] * stride_b_n
    if OP == _DOT:
        group = tl.program_id(1)
        acc = tl.full([BLOCK_E], 0.0, ACC_DTYPE)
        for start in range(0, num_features, BLOCK_F):
            features = start + tl.arange(0, BLOCK_F)
            mask = entry_mask[:, None] & (features < num_features)[None, :]
            left = tl.load(
                a_rows + group * stride_a_k + features[None, :] * stride_a_f, mask=mask, other=0.0
            ).to(ACC_DTYPE)
            right = tl.load(
                b_rows + group * stride_b_k + features[None, :] * stride_b_f, mask=mask, other=0.0
            ).to(ACC_DTYPE)
            acc += tl.reduce(left * right, 1, _sum_combine)
        tl.store(
            out_ptr + entries * num_groups + group,
            acc.to(out_ptr.dtype.element_ty),
            mask=entry_mask,
        )
    else:
        num_feature_tiles = (num_features + BLOCK_F - 1) // BLOCK_F
        group = tl.program_id(1) // num_feature_tiles
        features = (tl.program_id(1) % num_feature_tiles) * BLOCK_F + tl.arange(0, BLOCK_F)
        mask = entry_mask[:, None] & (features < num_features)[None, :]
        left = tl.load(
            a_rows + group * stride_a_k + features[None, :] * stride_a_f, mask=mask, other=0.0
        ).to(ACC_DTYPE)
        right = tl.load(
            b_rows + group * stride_b_k + features[None, :] * stride_b_f, mask=mask, other=0.0
        ).to(ACC_DTYPE)
        result = left + right if OP == _ADD else left * right
        offsets = (entries[:, None] * num_groups + group) * num_features + features[None, :]
        tl.store(out_ptr + offsets, result.to(out_ptr.dtype.element_ty), mask=mask)


def _configs() -> list[triton.Config]:
    """Autotuning candidates for feature widths 16–512."""
    return [
        triton.Config({"BLOCK_E": block_e, "BLOCK_F": block_f}, num_warps=num_warps)
        for block_e in (16, 32, 64, 128)
        for block_f in (16, 32, 64, 128)
        for num_warps in (2, 4, 8)
        if 1024 <= block_e * block_f <= 8192 and num_warps * 32 <= block_e * block_f // 4
    ]


def _prune(configs: list[triton.Config], named_args: dict, **kwargs: object) -> list[triton.Config]:
    """Drop feature tiles wider than the (power-of-two-rounded) feature width."""
    width = max(triton.next_power_of_2(max(int(named_args["num_features"]), 1)), 16)
    kept = [c for c in configs if c.kwargs["BLOCK_F"] <= width]
    return kept or configs[:1]


SDDMM = TritonKernel(
    _sddmm_kernel,
    configs=_configs(),
    key=["num_features", "num_groups", "OP"],
    interpreter_meta={"BLOCK_E": 8, "BLOCK_F": 16},
    prune=_prune,
)


def sddmm(row: Tensor, col: Tensor, a: Tensor, b: Tensor, op: str) -> Tensor:
    """Triton implementation of :func:`gnnkit.sparse._backends.reference.sddmm`."""
    if op == "outer" or (op == "dot" and a.dim() < 2):
        return reference.sddmm(row, col, a, b, op)
    if op not in OPS:
        raise ValueError(f"op must be one of dot, add, mul, outer; got {op!r}")
    trailing = a.shape[1:]
    num_features = trailing[-1] if trailing else 1
    num_groups = math.prod(trailing[:-1])
    a3 = a.reshape(a.shape[0], num_groups, num_features)
    b3 = b.reshape(b.shape[0], num_groups, num_features)
    num_entries = row.numel()
    out_shape = (num_entries, *(trailing[:-1] if op == "dot" else trailing))
    out = torch.empty(out_shape, dtype=a.dtype, device=a.device)
    if out.numel() == 0:
        return out

    def grid(meta: dict) -> tuple[int, int]:
        entry_tiles = triton.cdiv(num_entries, meta["BLOCK_E"])
        if op == "dot":
            return (entry_tiles, num_groups)
        return (entry_tiles, num_groups * triton.cdiv(num_features, meta["BLOCK_F"]))

    SDDMM.launch(
        grid,
        a.device,
        row,
        col,
        a3,
        b3,
        out,
        num_entries,
        num_groups,
        num_features,
        *a3.stride(),
        *b3.stride(),
        OP=OPS[op],
        ACC_DTYPE=accumulation_dtype(a.dtype),
    )
    return out
