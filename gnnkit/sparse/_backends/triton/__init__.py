"""The ``triton`` backend: gnnkit's GPU kernels, written in Triton.

Kernels (same signatures and semantics as :mod:`gnnkit.sparse._backends.reference`):

* :func:`spmm` — sum/mean/max/min with no, scalar or multi-head values (block values fall back
  to the reference); CSR row-parallel, or split rows with a deterministic second pass for skewed
  degrees (:mod:`.spmm_kernel`);
* :func:`sddmm` — dot/add/mul (``outer`` falls back) (:mod:`.sddmm_kernel`);
* :func:`edge_softmax`, :func:`edge_softmax_backward` (:mod:`.softmax_kernel`);
* :func:`segment` (:mod:`.segment_kernel`);
* :func:`spmm_sum_backward` — composed of the two kernels above (spmm over the CSC, sddmm dot);
* :func:`intersect_aggregate`, :func:`intersect_aggregate_backward` — common-neighbour sums
  and their gradient, bit-identical to the reference (:mod:`.intersect_kernel`);
* :func:`difference_aggregate`, :func:`difference_aggregate_backward` — (weighted) sums over
  the columns one row has and another lacks, and their gradient, bit-identical to the
  reference (:mod:`.difference_kernel`).

``spmm_arg_backward``, ``intersect_rows``, ``difference_rows`` and ``spspmm_expand`` are not
implemented here; the registry falls back to the reference versions (plain PyTorch, which also
runs on CUDA).

Devices: CUDA tensors run the compiled kernels. CPU tensors are accepted only when Triton's
interpreter is switched on (``TRITON_INTERPRET=1``) and no CUDA device exists; they then run the
same kernels through the interpreter, which is how the kernels are tested on machines without a
GPU. Nothing here imports Triton until a kernel is called, so a missing Triton only makes the
backend unavailable.
"""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING

import torch

from ...index import index_from_ptr

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "difference_aggregate",
    "difference_aggregate_backward",
    "edge_softmax",
    "edge_softmax_backward",
    "intersect_aggregate",
    "intersect_aggregate_backward",
    "is_available",
    "sddmm",
    "segment",
    "spmm",
    "spmm_sum_backward",
    "supports_device",
]


def is_available() -> bool:
    """Whether Triton can be imported."""
    try:
        importlib.import_module("triton")
        importlib.import_module("triton.language")
    except ImportError:
        return False
    return True


def supports_device(device: torch.device) -> bool:
    """CUDA tensors when a CUDA device exists; CPU tensors when the interpreter is on and none does.

    A process that imported Triton with ``TRITON_INTERPRET=1`` cannot compile kernels (Triton's
    standard library is then interpreted), so it does not take CUDA tensors either.
    """
    from ._runtime import compiled_kernels_possible, interpreter_enabled

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and compiled_kernels_possible()
    if device.type == "cpu":
        return interpreter_enabled() and not torch.cuda.is_available()
    return False


def spmm(
    rowptr: Tensor,
    col: Tensor,
    values: Tensor | None,
    x: Tensor,
    reduce: str,
    with_arg: bool = True,
) -> tuple[Tensor, Tensor]:
    """See :func:`gnnkit.sparse._backends.reference.spmm`."""
    from .spmm_kernel import spmm as kernel

    return kernel(rowptr, col, values, x, reduce, with_arg)


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
    """See :func:`gnnkit.sparse._backends.reference.spmm_sum_backward`.

    Two launches of this backend's kernels (a row-parallel ``spmm`` over the CSC for the
    features, an ``sddmm`` dot for the values) rather than the C++ backend's single fused
    pass: on a GPU each launch already streams at memory speed, and one program per column
    would need the column-ordered entry list written as a third pass.
    """
    from .sddmm_kernel import sddmm
    from .spmm_kernel import spmm as spmm_kernel

    grad_x = grad_values = None
    if need_x:
        csc_values = None if values is None else values.index_select(0, perm)
        grad_x = spmm_kernel(colptr, row, csc_values, grad, "sum", False)[0]
    if need_values:
        if values is None:
            raise ValueError("need_values=True needs values")
        column = index_from_ptr(colptr, total=row.numel(), dtype=row.dtype, check=False)
        width = math.prod(x.shape[1:])
        dots = sddmm(row, column, grad.reshape(grad.shape[0], width),
                     x.reshape(x.shape[0], width), "dot")
        grad_values = torch.empty_like(values)
        grad_values[perm] = dots.to(values.dtype)
    return grad_x, grad_values


def sddmm(row: Tensor, col: Tensor, a: Tensor, b: Tensor, op: str) -> Tensor:
    """See :func:`gnnkit.sparse._backends.reference.sddmm`."""
    from .sddmm_kernel import sddmm as kernel

    return kernel(row, col, a, b, op)


def edge_softmax(rowptr: Tensor, scores: Tensor) -> Tensor:
    """See :func:`gnnkit.sparse._backends.reference.edge_softmax`."""
    from .softmax_kernel import edge_softmax as kernel

    return kernel(rowptr, scores)


def edge_softmax_backward(rowptr: Tensor, probs: Tensor, grad: Tensor) -> Tensor:
    """See :func:`gnnkit.sparse._backends.reference.edge_softmax_backward`."""
    from .softmax_kernel import edge_softmax_backward as kernel

    return kernel(rowptr, probs, grad)


def segment(src: Tensor, ptr: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    """See :func:`gnnkit.sparse._backends.reference.segment`."""
    from .segment_kernel import segment as kernel

    return kernel(src, ptr, reduce)


def intersect_aggregate(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor
) -> Tensor:
    """See :func:`gnnkit.sparse._backends.reference.intersect_aggregate`."""
    from .intersect_kernel import intersect_aggregate as kernel

    return kernel(rowptr, col, left, right, x)


def intersect_aggregate_backward(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, grad: Tensor, num_cols: int
) -> Tensor:
    """See :func:`gnnkit.sparse._backends.reference.intersect_aggregate_backward`."""
    from .intersect_kernel import intersect_aggregate_backward as kernel

    return kernel(rowptr, col, left, right, grad, num_cols)


def difference_aggregate(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor,
    weight: Tensor | None,
) -> Tensor:
    """See :func:`gnnkit.sparse._backends.reference.difference_aggregate`."""
    from .difference_kernel import difference_aggregate as kernel

    return kernel(rowptr, col, left, right, x, weight)


def difference_aggregate_backward(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, grad: Tensor,
    weight: Tensor | None, num_cols: int,
) -> Tensor:
    """See :func:`gnnkit.sparse._backends.reference.difference_aggregate_backward`."""
    from .difference_kernel import difference_aggregate_backward as kernel

    return kernel(rowptr, col, left, right, grad, weight, num_cols)
