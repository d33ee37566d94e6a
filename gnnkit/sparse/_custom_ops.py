"""The torch custom ops behind gnnkit's functional API.

Each op is registered with :func:`torch.library.custom_op` (opaque to ``torch.compile``, so no
graph breaks), a fake implementation (shape propagation for tracing) and an autograd formula.
The real implementation looks up the kernel for the inputs' device in the backend registry at
call time, so forcing a backend with ``use_backend`` also works for compiled code.

Backward passes are written with these same ops (the gradient of an ``spmm`` is an ``spmm`` on
the transpose plus an ``sddmm``), so every backend's forward kernels also speed up training.
These functions do no validation: :mod:`gnnkit.sparse.ops` checks inputs first.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ._backends import get_kernel, reference
from .index import index_from_ptr

_LIB = "gnnkit"


def _spmm_out_shape(num_rows: int, values: Tensor | None, x: Tensor) -> list[int]:
    if values is not None and values.dim() == 3:
        return [num_rows, values.shape[1], *x.shape[2:]]
    return [num_rows, *x.shape[1:]]


def _transposed_values(values: Tensor | None, perm: Tensor) -> Tensor | None:
    """Values of Aᵀ in its CSR order; blocks are transposed too."""
    if values is None:
        return None
    permuted = values.index_select(0, perm)
    return permuted.transpose(1, 2) if values.dim() == 3 else permuted


def _broadcast_rows(counts: Tensor, like: Tensor) -> Tensor:
    return counts.view(-1, *([1] * (like.dim() - 1)))


def _sum_aggregate(
    ptr: Tensor,
    idx: Tensor,
    weights: Tensor | None,
    feats: Tensor,
    backward_info: tuple[Tensor, Tensor, Tensor, Tensor] | None,
) -> Tensor:
    """``spmm`` sum used inside a backward pass. When that backward is itself being
    differentiated (``create_graph=True``), pass the arrays its own backward needs."""
    info = backward_info if torch.is_grad_enabled() else None
    row, colptr, csc_row, csc_perm = info if info is not None else (None, None, None, None)
    return spmm_op(ptr, idx, weights, feats, "sum", row, colptr, csc_row, csc_perm, False)[0]


def _transpose_info(
    rowptr: Tensor, col: Tensor, colptr: Tensor, csc_perm: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Backward arrays of ``Aᵀ`` (whose CSR is A's CSC): its COO rows are A's sorted columns
    and its CSC is A's CSR reached through the inverse permutation. Only built for
    higher-order gradients."""
    if not torch.is_grad_enabled():
        return None  # type: ignore[return-value]
    t_row = index_from_ptr(colptr, total=col.numel(), dtype=col.dtype, check=False)
    inverse = torch.empty_like(csc_perm)
    inverse[csc_perm] = torch.arange(csc_perm.numel(), device=col.device)
    return t_row, rowptr, col, inverse


# --------------------------------------------------------------------------------- spmm
@torch.library.custom_op(f"{_LIB}::spmm", mutates_args=())
def spmm_op(
    rowptr: Tensor,
    col: Tensor,
    values: Tensor | None,
    x: Tensor,
    reduce: str,
    row: Tensor | None,
    colptr: Tensor | None,
    csc_row: Tensor | None,
    csc_perm: Tensor | None,
    with_arg: bool,
) -> tuple[Tensor, Tensor]:
    """``(out, arg)`` of ``spmm``; ``row`` and the CSC arrays are only used by the backward.
    ``arg`` (the max/min winners; int32 unless nnz needs int64, see
    ``reference.arg_dtype``) is only computed ``with_arg``: the backward of max/min needs
    it, a forward without gradient does not."""
    out, arg = get_kernel("spmm", x.device)(rowptr, col, values, x, reduce, with_arg)
    return out, arg


@spmm_op.register_fake
def _(rowptr, col, values, x, reduce, row, colptr, csc_row, csc_perm, with_arg):  # type: ignore[no-untyped-def]
    shape = _spmm_out_shape(rowptr.shape[0] - 1, values, x)
    out = x.new_empty(shape)
    extreme = with_arg and reduce in ("max", "min")
    arg = x.new_empty(shape if extreme else [0], dtype=reference.arg_dtype(col.shape[0]))
    return out, arg


def _spmm_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    rowptr, col, values, x, reduce, row, colptr, csc_row, csc_perm, with_arg = inputs
    ctx.reduce = reduce
    ctx.with_arg = with_arg
    ctx.has_values = values is not None
    ctx.save_for_backward(rowptr, col, values, x, row, colptr, csc_row, csc_perm, output[1])


def _spmm_backward(ctx: Any, grad_out: Tensor, grad_arg: Tensor | None) -> tuple[Any, ...]:
    rowptr, col, values, x, row, colptr, csc_row, csc_perm, arg = ctx.saved_tensors
    needs_values = ctx.has_values and ctx.needs_input_grad[2]
    needs_x = ctx.needs_input_grad[3]
    grad_x = grad_values = None
    if ctx.reduce in ("max", "min"):
        if (needs_x or needs_values) and not ctx.with_arg:
            # Only reachable by calling the op directly: gnnkit.sparse.spmm asks for the
            # winners whenever an input requires a gradient.
            raise RuntimeError("spmm max/min ran with_arg=False, so it has no gradient")
        if needs_x or needs_values:
            grad_x, grad_values = spmm_arg_backward_op(col, values, x, grad_out.contiguous(), arg)
            grad_x = grad_x if needs_x else None
            grad_values = grad_values if needs_values else None
    else:
        grad = grad_out
        if ctx.reduce == "mean":
            counts = (rowptr[1:] - rowptr[:-1]).clamp(min=1).to(grad_out.dtype)
            grad = grad_out / _broadcast_rows(counts, grad_out)
        fused = (
            values is None or values.dim() == 1
        ) and not torch.is_grad_enabled()  # create_graph needs differentiable pieces
        if (needs_x or needs_values) and colptr is None:
            raise RuntimeError("spmm backward needs the CSC form: call through gnnkit.sparse.spmm")
        if fused and (needs_x or needs_values):
            # One pass over the CSC computes both gradients (each gathered grad row is used
            # for the feature and the edge-value gradient).
            grad_x, grad_values = spmm_sum_backward_op(
                colptr, csc_row, csc_perm, values, x, grad.contiguous(), needs_x, needs_values
            )
            grad_x = grad_x if needs_x else None
            grad_values = grad_values if needs_values else None
            needs_x = needs_values = False
        if needs_x:
            grad_x = _sum_aggregate(
                colptr,
                csc_row,
                _transposed_values(values, csc_perm),
                grad,
                _transpose_info(rowptr, col, colptr, csc_perm),
            )
        if needs_values:
            op = "outer" if values.dim() == 3 else "dot"
            grad_values = sddmm_op(row, col, grad, x, op, rowptr, colptr, csc_row, csc_perm)
    return None, None, grad_values, grad_x, None, None, None, None, None, None


spmm_op.register_autograd(_spmm_backward, setup_context=_spmm_setup)


@torch.library.custom_op(f"{_LIB}::spmm_sum_backward", mutates_args=())
def spmm_sum_backward_op(
    colptr: Tensor,
    csc_row: Tensor,
    csc_perm: Tensor,
    values: Tensor | None,
    x: Tensor,
    grad: Tensor,
    need_x: bool,
    need_values: bool,
) -> tuple[Tensor, Tensor]:
    """Both gradients of sum ``spmm`` (scalar or no values) in one pass over the CSC; an
    output that was not asked for is empty."""
    grad_x, grad_values = get_kernel("spmm_sum_backward", x.device)(
        colptr, csc_row, csc_perm, values, x, grad, need_x, need_values
    )
    return (
        grad_x if grad_x is not None else x.new_empty(0),
        grad_values if grad_values is not None else x.new_empty(0),
    )


@spmm_sum_backward_op.register_fake
def _(colptr, csc_row, csc_perm, values, x, grad, need_x, need_values):  # type: ignore[no-untyped-def]
    return (
        x.new_empty(x.shape if need_x else [0]),
        x.new_empty(values.shape if need_values else [0]),
    )


@torch.library.custom_op(f"{_LIB}::spmm_arg_backward", mutates_args=())
def spmm_arg_backward_op(
    col: Tensor, values: Tensor | None, x: Tensor, grad_out: Tensor, arg: Tensor
) -> tuple[Tensor, Tensor]:
    """Gradients of max/min ``spmm``; the second output is empty when there are no values."""
    grad_x, grad_values = get_kernel("spmm_arg_backward", x.device)(col, values, x, grad_out, arg)
    if grad_values is None:
        grad_values = x.new_empty(0)
    return grad_x, grad_values


@spmm_arg_backward_op.register_fake
def _(col, values, x, grad_out, arg):  # type: ignore[no-untyped-def]
    return x.new_empty(x.shape), (
        x.new_empty(values.shape) if values is not None else x.new_empty(0)
    )


# --------------------------------------------------------------------------------- sddmm
def _sddmm_out_shape(num_entries: int, a: Tensor, b: Tensor, op: str) -> list[int]:
    if op == "dot":
        return [num_entries, *a.shape[1:-1]]
    if op == "outer":
        return [num_entries, a.shape[1], b.shape[1]]
    return [num_entries, *a.shape[1:]]


@torch.library.custom_op(f"{_LIB}::sddmm", mutates_args=())
def sddmm_op(
    row: Tensor,
    col: Tensor,
    a: Tensor,
    b: Tensor,
    op: str,
    rowptr: Tensor | None,
    colptr: Tensor | None,
    csc_row: Tensor | None,
    csc_perm: Tensor | None,
) -> Tensor:
    """Per-entry ``op(a[row], b[col])``; CSR/CSC arrays are only used by the backward."""
    return get_kernel("sddmm", a.device)(row, col, a, b, op)


@sddmm_op.register_fake
def _(row, col, a, b, op, rowptr, colptr, csc_row, csc_perm):  # type: ignore[no-untyped-def]
    return a.new_empty(_sddmm_out_shape(col.shape[0], a, b, op))


def _sddmm_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    row, col, a, b, op, rowptr, colptr, csc_row, csc_perm = inputs
    ctx.op = op
    ctx.save_for_backward(row, col, a, b, rowptr, colptr, csc_row, csc_perm)


def _sddmm_backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
    row, col, a, b, rowptr, colptr, csc_row, csc_perm = ctx.saved_tensors
    if rowptr is None or colptr is None:
        raise RuntimeError("sddmm backward needs CSR and CSC forms: call gnnkit.sparse.sddmm")
    grad = grad.contiguous()
    perm = csc_perm
    grad_a = grad_b = None
    need_a, need_b = ctx.needs_input_grad[2], ctx.needs_input_grad[3]

    forward_info = (row, colptr, csc_row, perm)
    transpose_info = _transpose_info(rowptr, col, colptr, perm)

    def aggregate(ptr: Tensor, idx: Tensor, weights: Tensor | None, feats: Tensor) -> Tensor:
        info = forward_info if ptr is rowptr else transpose_info
        return _sum_aggregate(ptr, idx, weights, feats, info)

    if ctx.op == "dot":
        # d/da[i] = Σ_e∈row i grad_e · b[col_e];  d/db[j] = Σ_e∈col j grad_e · a[row_e]
        if need_a:
            grad_a = aggregate(rowptr, col, grad, b)
        if need_b:
            grad_b = aggregate(colptr, csc_row, grad.index_select(0, perm), a)
    elif ctx.op == "add":
        if need_a:
            grad_a = segment_op(grad, rowptr, "sum")[0]
        if need_b:
            grad_b = segment_op(grad.index_select(0, perm), colptr, "sum")[0]
    elif ctx.op == "mul":
        # Elementwise weights act as one "head" per feature: values (E, K), features (·, K, 1).
        # Width from the shape, not ``-1``: with no entries (or no rows) ``-1`` is ambiguous.
        width = math.prod(grad.shape[1:])
        flat = grad.reshape(grad.shape[0], width)
        if need_a:
            grad_a = aggregate(rowptr, col, flat, b.reshape(b.shape[0], width, 1)).view(a.shape)
        if need_b:
            grad_b = aggregate(
                colptr, csc_row, flat.index_select(0, perm), a.reshape(a.shape[0], width, 1)
            ).view(b.shape)
    else:  # outer: grad (E, P, Q); a (M, P, F); b (N, Q, F)
        if need_a:
            grad_a = aggregate(rowptr, col, grad, b)
        if need_b:
            grad_b = aggregate(colptr, csc_row, _transposed_values(grad, perm), a)
    return None, None, grad_a, grad_b, None, None, None, None, None


sddmm_op.register_autograd(_sddmm_backward, setup_context=_sddmm_setup)


# --------------------------------------------------------------------------------- softmax
@torch.library.custom_op(f"{_LIB}::edge_softmax", mutates_args=())
def edge_softmax_op(rowptr: Tensor, scores: Tensor) -> Tensor:
    return get_kernel("edge_softmax", scores.device)(rowptr, scores)


@edge_softmax_op.register_fake
def _(rowptr, scores):  # type: ignore[no-untyped-def]
    return torch.empty_like(scores)


@torch.library.custom_op(f"{_LIB}::edge_softmax_backward", mutates_args=())
def edge_softmax_backward_op(rowptr: Tensor, probs: Tensor, grad: Tensor) -> Tensor:
    return get_kernel("edge_softmax_backward", probs.device)(rowptr, probs, grad)


@edge_softmax_backward_op.register_fake
def _(rowptr, probs, grad):  # type: ignore[no-untyped-def]
    return torch.empty_like(probs)


def _edge_softmax_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.save_for_backward(inputs[0], output)


def _edge_softmax_backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
    rowptr, probs = ctx.saved_tensors
    return None, edge_softmax_backward_op(rowptr, probs, grad.contiguous())


edge_softmax_op.register_autograd(_edge_softmax_backward, setup_context=_edge_softmax_setup)


# --------------------------------------------------------------------------------- segment
@torch.library.custom_op(f"{_LIB}::segment", mutates_args=())
def segment_op(src: Tensor, ptr: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    return get_kernel("segment", src.device)(src, ptr, reduce)


@segment_op.register_fake
def _(src, ptr, reduce):  # type: ignore[no-untyped-def]
    shape = [ptr.shape[0] - 1, *src.shape[1:]]
    arg_shape = shape if reduce in ("max", "min") else [0]
    arg = src.new_empty(arg_shape, dtype=reference.arg_dtype(src.shape[0]))
    return src.new_empty(shape), arg


def _segment_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    src, ptr, reduce = inputs
    ctx.reduce = reduce
    ctx.num_src = src.shape[0]
    ctx.save_for_backward(ptr, output[1])


def _segment_backward(ctx: Any, grad_out: Tensor, grad_arg: Tensor | None) -> tuple[Any, ...]:
    ptr, arg = ctx.saved_tensors
    counts = (ptr[1:] - ptr[:-1]).long()
    if ctx.reduce in ("sum", "mean"):
        grad = grad_out
        if ctx.reduce == "mean":
            grad = grad_out / _broadcast_rows(counts.clamp(min=1).to(grad_out.dtype), grad_out)
        segment_of = index_from_ptr(ptr, total=ctx.num_src, dtype=torch.long, check=False)
        return grad.index_select(0, segment_of), None, None
    # max/min: the gradient goes to the winning position of each output element.
    grad_src = grad_out.new_zeros((ctx.num_src, *grad_out.shape[1:]))
    if ctx.num_src == 0:
        # Every segment is empty (arg is the sentinel); scatter_add_ would still bounds-check
        # the placeholder index 0 against zero rows.
        return grad_src, None, None
    valid = arg < ctx.num_src
    # The trailing width comes from the shape, not from ``-1``, which is ambiguous (and
    # raises) for a tensor without elements whenever another listed size is 0.
    width = math.prod(grad_out.shape[1:])
    flat_grad = grad_src.view(ctx.num_src, width)
    # scatter_add_ takes int64 indices only (arg is int32 whenever len(src) fits).
    flat_arg = torch.where(valid, arg, torch.zeros_like(arg)).long().view(arg.shape[0], width)
    flat_contribution = torch.where(valid, grad_out, torch.zeros_like(grad_out))
    flat_grad.scatter_add_(0, flat_arg, flat_contribution.reshape(flat_arg.shape))
    return grad_src, None, None


segment_op.register_autograd(_segment_backward, setup_context=_segment_setup)


# --------------------------------------------------------------------------------- structure
@torch.library.custom_op(f"{_LIB}::intersect_rows", mutates_args=())
def intersect_rows_op(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor
) -> tuple[Tensor, Tensor]:
    return get_kernel("intersect_rows", col.device)(rowptr, col, left, right)


@intersect_rows_op.register_fake
def _(rowptr, col, left, right):  # type: ignore[no-untyped-def]
    num_common = torch.library.get_ctx().new_dynamic_size()
    return col.new_empty(left.shape[0] + 1), col.new_empty(num_common)


@torch.library.custom_op(f"{_LIB}::intersect_aggregate", mutates_args=())
def intersect_aggregate_op(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor
) -> Tensor:
    """``out[k] = Σ_{c ∈ cols(left[k]) ∩ cols(right[k])} x[c]`` (rows sorted)."""
    return get_kernel("intersect_aggregate", x.device)(rowptr, col, left, right, x)


@intersect_aggregate_op.register_fake
def _(rowptr, col, left, right, x):  # type: ignore[no-untyped-def]
    return x.new_empty([left.shape[0], *x.shape[1:]])


def _intersect_aggregate_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    rowptr, col, left, right, x = inputs
    ctx.num_cols = x.shape[0]
    ctx.save_for_backward(rowptr, col, left, right)


def _intersect_aggregate_backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
    rowptr, col, left, right = ctx.saved_tensors
    grad_x = None
    if ctx.needs_input_grad[4]:
        grad_x = intersect_aggregate_backward_op(rowptr, col, left, right, grad.contiguous(),
                                                 ctx.num_cols)
    return None, None, None, None, grad_x


intersect_aggregate_op.register_autograd(
    _intersect_aggregate_backward, setup_context=_intersect_aggregate_setup
)


@torch.library.custom_op(f"{_LIB}::intersect_aggregate_backward", mutates_args=())
def intersect_aggregate_backward_op(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, grad: Tensor, num_cols: int
) -> Tensor:
    """``grad_x[c] = Σ_{k : c ∈ cols(left[k]) ∩ cols(right[k])} grad[k]``, one pass over the
    same intersections (no transposed set matrix)."""
    return get_kernel("intersect_aggregate_backward", grad.device)(
        rowptr, col, left, right, grad, num_cols
    )


@intersect_aggregate_backward_op.register_fake
def _(rowptr, col, left, right, grad, num_cols):  # type: ignore[no-untyped-def]
    return grad.new_empty([num_cols, *grad.shape[1:]])


def _intersect_aggregate_backward_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor
                                        ) -> None:
    rowptr, col, left, right, _grad, _num_cols = inputs
    ctx.save_for_backward(rowptr, col, left, right)


def _intersect_aggregate_double_backward(ctx: Any, grad_grad_x: Tensor) -> tuple[Any, ...]:
    # The backward is linear in ``grad``, and its adjoint is the forward op.
    rowptr, col, left, right = ctx.saved_tensors
    grad_grad = None
    if ctx.needs_input_grad[4]:
        grad_grad = intersect_aggregate_op(rowptr, col, left, right, grad_grad_x.contiguous())
    return None, None, None, None, grad_grad, None


intersect_aggregate_backward_op.register_autograd(
    _intersect_aggregate_double_backward, setup_context=_intersect_aggregate_backward_setup
)


@torch.library.custom_op(f"{_LIB}::difference_rows", mutates_args=())
def difference_rows_op(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor
) -> tuple[Tensor, Tensor]:
    return get_kernel("difference_rows", col.device)(rowptr, col, left, right)


@difference_rows_op.register_fake
def _(rowptr, col, left, right):  # type: ignore[no-untyped-def]
    num_entries = torch.library.get_ctx().new_dynamic_size()
    return col.new_empty(left.shape[0] + 1), col.new_empty(num_entries)


@torch.library.custom_op(f"{_LIB}::difference_aggregate", mutates_args=())
def difference_aggregate_op(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor, weight: Tensor | None
) -> Tensor:
    """``out[k] = Σ_{c ∈ cols(left[k]) \\ cols(right[k])} weight[right[k], c] · x[c]``."""
    return get_kernel("difference_aggregate", x.device)(rowptr, col, left, right, x, weight)


@difference_aggregate_op.register_fake
def _(rowptr, col, left, right, x, weight):  # type: ignore[no-untyped-def]
    return x.new_empty([left.shape[0], *x.shape[1:]])


def _difference_aggregate_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    rowptr, col, left, right, x, weight = inputs
    ctx.num_cols = x.shape[0]
    ctx.save_for_backward(rowptr, col, left, right, x, weight)


def _difference_aggregate_backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
    rowptr, col, left, right, x, weight = ctx.saved_tensors
    grad = grad.contiguous()
    grad_x = grad_weight = None
    if ctx.needs_input_grad[4]:
        grad_x = difference_aggregate_backward_op(rowptr, col, left, right, grad, weight,
                                                  ctx.num_cols)
    if ctx.needs_input_grad[5]:
        # d out[k] / d weight[right[k], c] = x[c] for every c of pair k's difference: one
        # dot product per entry, added into the dense table (plain differentiable ops)
        ptr, columns = difference_rows_op(rowptr, col, left, right)
        pair = index_from_ptr(ptr, total=columns.numel(), dtype=torch.long, check=False)
        columns = columns.long()
        width = weight.shape[1]
        width_x = math.prod(x.shape[1:])  # explicit: -1 is ambiguous for empty tensors
        dots = (x.reshape(x.shape[0], width_x).index_select(0, columns)
                * grad.reshape(grad.shape[0], width_x).index_select(0, pair)).sum(-1)
        flat = right.long().index_select(0, pair) * width + columns
        grad_weight = dots.new_zeros(weight.numel()).index_add(0, flat, dots)
        grad_weight = grad_weight.view(weight.shape).to(weight.dtype)
    return None, None, None, None, grad_x, grad_weight


difference_aggregate_op.register_autograd(
    _difference_aggregate_backward, setup_context=_difference_aggregate_setup
)


@torch.library.custom_op(f"{_LIB}::difference_aggregate_backward", mutates_args=())
def difference_aggregate_backward_op(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, grad: Tensor,
    weight: Tensor | None, num_cols: int,
) -> Tensor:
    """``grad_x[c] = Σ_{k : c ∈ cols(left[k]) \\ cols(right[k])} weight[right[k], c] ·
    grad[k]``."""
    return get_kernel("difference_aggregate_backward", grad.device)(
        rowptr, col, left, right, grad, weight, num_cols
    )


@difference_aggregate_backward_op.register_fake
def _(rowptr, col, left, right, grad, weight, num_cols):  # type: ignore[no-untyped-def]
    return grad.new_empty([num_cols, *grad.shape[1:]])


def _difference_aggregate_backward_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor
                                         ) -> None:
    rowptr, col, left, right, _grad, weight, _num_cols = inputs
    ctx.save_for_backward(rowptr, col, left, right, weight)


def _difference_aggregate_double_backward(ctx: Any, grad_grad_x: Tensor) -> tuple[Any, ...]:
    # Linear in ``grad``, whose adjoint is the forward op with the same weights.
    rowptr, col, left, right, weight = ctx.saved_tensors
    if ctx.needs_input_grad[5]:
        raise NotImplementedError(
            "difference_aggregate: second-order gradients with respect to weight are not "
            "implemented (first-order ones are; pass weight.detach() to the op if the table "
            "needs no gradient)"
        )
    grad_grad = None
    if ctx.needs_input_grad[4]:
        grad_grad = difference_aggregate_op(rowptr, col, left, right, grad_grad_x.contiguous(),
                                            weight)
    return None, None, None, None, grad_grad, None, None


difference_aggregate_backward_op.register_autograd(
    _difference_aggregate_double_backward, setup_context=_difference_aggregate_backward_setup
)


@torch.library.custom_op(f"{_LIB}::spspmm_expand", mutates_args=())
def spspmm_expand_op(
    a_rowptr: Tensor, a_col: Tensor, b_rowptr: Tensor, b_col: Tensor, num_cols: int
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    return get_kernel("spspmm_expand", a_col.device)(a_rowptr, a_col, b_rowptr, b_col, num_cols)


@spspmm_expand_op.register_fake
def _(a_rowptr, a_col, b_rowptr, b_col, num_cols):  # type: ignore[no-untyped-def]
    ctx = torch.library.get_ctx()
    num_c, num_terms = ctx.new_dynamic_size(), ctx.new_dynamic_size()
    long = torch.long
    return (
        a_col.new_empty(a_rowptr.shape[0]),
        a_col.new_empty(num_c),
        a_col.new_empty(num_terms, dtype=long),
        a_col.new_empty(num_terms, dtype=long),
        a_col.new_empty(num_terms, dtype=long),
    )
