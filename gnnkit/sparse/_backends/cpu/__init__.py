"""The ``cpu`` backend: gnnkit's C++ kernels (OpenMP), compiled on first use.

Implements the kernel contract of :mod:`gnnkit.sparse._backends.reference` with identical
signatures and semantics for CPU tensors of dtype float32, float64, float16 and bfloat16 (half
types accumulate in float32) and int32 or int64 indices. Anything else (other dtypes, mixed
dtypes, shapes outside the contract) is passed to the reference implementation, so every call
is answered.

The first call of :func:`is_available` compiles the extension (see :mod:`.build`; about a
minute once, announced on stderr, then cached); :func:`prepare_backend` triggers it
explicitly, e.g. before a benchmark starts its clock. If that fails, for instance because
no C++ compiler is installed, it emits one :class:`RuntimeWarning` with the reason and
returns ``False`` from then on, and the registry uses the reference backend.

Design (see ``docs/kernels-cpu.md``): every kernel parallelises over its outputs (CSR rows,
edges, pairs or feature columns), each output is reduced by one thread in CSR order, so
results are bit-identical from run to run and no atomics are needed; row blocks are balanced
by nnz; the feature loop is tiled so that the accumulators of a tile stay in vector registers.
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from types import ModuleType

import torch
from torch import Tensor

from .. import reference
from . import build

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
    "is_available",
    "prepare_backend",
    "sample_hop",
    "sample_hop_plan",
    "sample_table",
    "sddmm",
    "segment",
    "spmm",
    "spmm_arg_backward",
    "spmm_sum_backward",
    "supports_device",
]

_FLOAT_TYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_INDEX_TYPES = (torch.int32, torch.int64)
_REDUCTIONS = ("sum", "mean", "max", "min")

_lock = threading.Lock()
# Resolved once per process: {"module": the extension or None}. Environment variables read by
# the build (GNNKIT_BUILD_DIR, GNNKIT_CPU_BUILD_FAIL, ...) therefore count at the first use.
_state: dict[str, ModuleType | None] = {}


def _extension() -> ModuleType | None:
    """The compiled module, building it on the first call; ``None`` if it cannot be built."""
    if "module" in _state:
        return _state["module"]
    with _lock:
        if "module" not in _state:
            try:
                _state["module"] = build.load_extension()
            except Exception as error:  # any failure means: no C++ kernels here
                _state["module"] = None
                warnings.warn(_failure_message(error), RuntimeWarning, stacklevel=3)
    return _state["module"]


def _failure_message(error: BaseException) -> str:
    return (
        "gnnkit could not build its C++ CPU kernels, so the (slower) reference backend is used "
        f"instead. Reason: {_failure_reason(error)}\nInstall a C++ compiler and ninja, then run "
        "`gnnkit build-kernels --verbose` to see the full log."
    )


def _failure_reason(error: BaseException) -> str:
    """The few informative lines of a build log (compiler errors, missing tools), without the
    long compiler command lines."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    informative = [
        line for line in lines
        if len(line) < 400 and re.search(r"error|not found|no such file|cannot|ninja", line, re.I)
    ]
    chosen = list(dict.fromkeys(informative or lines[-5:]))[:8]
    return "\n".join(chosen) if chosen else type(error).__name__


def is_available() -> bool:
    """Whether the C++ kernels could be built and loaded here (compiles on the first call)."""
    return _extension() is not None


def prepare_backend(device: torch.device | str = "cpu") -> str:
    """Get the kernel backend for ``device`` ready now and return its name.

    Call it before any timing starts: on CPU the first use compiles gnnkit's C++ kernels
    (about a minute, once per machine and gnnkit version), which would otherwise be counted
    in the first timed step. Honours :func:`~gnnkit.sparse.use_backend` and
    ``GNNKIT_BACKEND``; if the build fails it warns once and returns ``"reference"``, exactly
    as the first kernel call would. Cheap once done (the result is cached per process).
    Exported as ``gnnkit.sparse.prepare_backend``.
    """
    from .. import resolve_backend  # the registry imports this module lazily

    return resolve_backend(torch.device(device))


def supports_device(device: torch.device) -> bool:
    """The C++ kernels handle CPU tensors only."""
    return torch.device(device).type == "cpu"


def _native() -> ModuleType:
    module = _state.get("module")
    if module is not None:
        return module
    module = _extension()
    if module is None:
        raise RuntimeError("the gnnkit cpu backend is unavailable (its build failed)")
    return module


def _is_cpu_float(*tensors: Tensor | None) -> bool:
    present = [t for t in tensors if t is not None]
    dtype = present[0].dtype
    return dtype in _FLOAT_TYPES and all(
        t.dtype == dtype and t.device.type == "cpu" for t in present
    )


def _is_cpu_index(*tensors: Tensor) -> bool:
    dtype = tensors[0].dtype
    return dtype in _INDEX_TYPES and all(
        t.dtype == dtype and t.device.type == "cpu" for t in tensors
    )


def _numel(shape: torch.Size | tuple[int, ...]) -> int:
    return math.prod(shape)


def _contiguous(tensor: Tensor) -> Tensor:
    return tensor if tensor.is_contiguous() else tensor.contiguous()


# ------------------------------------------------------------------------------------ spmm
def _spmm_layout(values: Tensor | None, x: Tensor) -> tuple[Tensor | None, Tensor] | None:
    """``(values, x)`` reshaped to ``values`` ``None``/``(E, H)``/``(E, P, Q)`` and x
    ``(N, H, F)`` (the layout of the C++ max/min backward); ``None`` when the shapes are
    outside the contract."""
    num_src = x.shape[0]
    if values is None or values.dim() == 1:
        if x.dim() < 1:
            return None
        x3 = x.reshape(num_src, 1, _numel(x.shape[1:]))
        vals = None if values is None else values.reshape(-1, 1)
    elif values.dim() == 2:
        if x.dim() != 3 or x.shape[1] != values.shape[1]:
            return None
        x3, vals = x, values
    elif values.dim() == 3:
        if x.dim() != 3 or x.shape[1] != values.shape[2]:
            return None
        x3, vals = x, values
    else:
        return None
    return (None if vals is None else vals.contiguous()), x3.contiguous()


def _spmm_shapes_supported(values: Tensor | None, x: Tensor, reduce: str) -> bool:
    if reduce not in _REDUCTIONS or x.dim() < 1:
        return False
    if values is None or values.dim() == 1:
        return True
    if values.dim() == 2:
        return x.dim() == 3 and x.shape[1] == values.shape[1]
    return (values.dim() == 3 and reduce in ("sum", "mean") and x.dim() == 3
            and x.shape[1] == values.shape[2])


def spmm(
    rowptr: Tensor,
    col: Tensor,
    values: Tensor | None,
    x: Tensor,
    reduce: str,
    with_arg: bool = True,
) -> tuple[Tensor, Tensor]:
    """C++ :func:`reference.spmm`: ``out[i] = ⊕_{e in row i} values[e] · x[col[e]]``.

    Shapes as in the reference: values ``None``/``(E,)``/``(E, H)``/``(E, P, Q)``, x
    ``(N, *S)``/``(N, H, F)``/``(N, Q, F)``; returns ``(out, arg)`` with ``arg`` the CSR
    position of each max/min winner (``E`` for empty rows; int32 unless ``E`` needs int64,
    :func:`reference.arg_dtype`), empty for sum/mean and when ``with_arg`` is false. The C++
    side does all reshaping: on small graphs the per-call overhead is what counts.
    """
    # Plain attribute tests rather than the generic helpers: on small graphs this wrapper's
    # own time is part of every call.
    dtype = x.dtype
    index_dtype = rowptr.dtype
    if (
        x.is_cpu
        and dtype in _FLOAT_TYPES
        and (values is None or (values.dtype == dtype and values.is_cpu))
        and index_dtype in _INDEX_TYPES
        and col.dtype == index_dtype
        and rowptr.is_cpu
        and col.is_cpu
        and _spmm_shapes_supported(values, x, reduce)
    ):
        return _native().spmm(rowptr, col, None if values is None else _contiguous(values),
                              _contiguous(x), reduce, with_arg, reference.arg_dtype(col.numel()))
    return reference.spmm(rowptr, col, values, x, reduce, with_arg)


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
    """C++ :func:`reference.spmm_sum_backward`: the feature and edge-value gradients of sum
    ``spmm`` in one pass over the CSC entries (each gathered ``grad`` row is used for both)."""
    if (
        (values is not None and values.dim() != 1)
        or x.dim() < 1
        or grad.shape[1:] != x.shape[1:]
        or perm.dtype != torch.int64
        or not _is_cpu_float(x, values, grad)
        or not _is_cpu_index(colptr, row)
    ):
        return reference.spmm_sum_backward(colptr, row, perm, values, x, grad, need_x,
                                           need_values)
    width = _numel(x.shape[1:])
    grad_x, grad_values = _native().spmm_sum_backward(
        colptr, row, _contiguous(perm), None if values is None else _contiguous(values),
        x.reshape(x.shape[0], width).contiguous(),
        grad.reshape(grad.shape[0], width).contiguous(), need_x, need_values)
    if grad_x is not None:
        grad_x = grad_x.view(x.shape).to(x.dtype)
    if grad_values is not None:
        grad_values = grad_values.to(x.dtype)
    return grad_x, grad_values


def spmm_arg_backward(
    col: Tensor, values: Tensor | None, x: Tensor, grad_out: Tensor, arg: Tensor
) -> tuple[Tensor, Tensor | None]:
    """C++ :func:`reference.spmm_arg_backward`: gradients through the max/min winners only.

    Returns ``(grad_x, grad_values)`` shaped like ``x`` and ``values`` (``None`` without
    values).
    """
    layout = _spmm_layout(values, x)
    if (
        layout is None
        or (values is not None and values.dim() == 3)
        or grad_out.shape != arg.shape
        or arg.dtype not in _INDEX_TYPES
        or not _is_cpu_float(x, values, grad_out)
        or not _is_cpu_index(col)
    ):
        return reference.spmm_arg_backward(col, values, x, grad_out, arg)
    vals, x3 = layout
    num_rows = grad_out.shape[0]
    shape3 = (num_rows, x3.shape[1], x3.shape[2])
    grad3 = grad_out.reshape(shape3).contiguous()
    arg3 = arg.reshape(shape3).contiguous()
    grad_x, grad_values = _native().spmm_arg_backward(col, vals, x3, grad3, arg3)
    grad_x = grad_x.view(x.shape).to(x.dtype)
    if values is None:
        return grad_x, None
    return grad_x, grad_values.view(values.shape).to(values.dtype)


# ----------------------------------------------------------------------------------- sddmm
def sddmm(row: Tensor, col: Tensor, a: Tensor, b: Tensor, op: str) -> Tensor:
    """C++ :func:`reference.sddmm`: per-entry ``op(a[row[e]], b[col[e]])``.

    ``"dot"`` sums over the last dimension (``(E, *S[:-1])``), ``"add"``/``"mul"`` are
    elementwise (``(E, *S)``), ``"outer"`` maps ``(M, P, F)``, ``(N, Q, F)`` to ``(E, P, Q)``.
    """
    supported = _is_cpu_float(a, b) and _is_cpu_index(row, col) and a.dim() >= 2
    if op == "outer":
        supported = supported and a.dim() == 3 and b.dim() == 3 and a.shape[2] == b.shape[2]
    elif op in ("dot", "add", "mul"):
        supported = supported and a.shape[1:] == b.shape[1:]
    else:
        supported = False
    if not supported:
        return reference.sddmm(row, col, a, b, op)
    native = _native()
    if op == "outer":
        return native.sddmm(row, col, a.contiguous(), b.contiguous(), op).to(a.dtype)
    if op == "dot":
        inner = a.shape[-1]
        rows = _numel(a.shape[1:-1])
        out = native.sddmm(row, col, a.reshape(a.shape[0], rows, inner).contiguous(),
                           b.reshape(b.shape[0], rows, inner).contiguous(), op)
        return out.view(col.numel(), *a.shape[1:-1]).to(a.dtype)
    width = _numel(a.shape[1:])
    out = native.sddmm(row, col, a.reshape(a.shape[0], width).contiguous(),
                       b.reshape(b.shape[0], width).contiguous(), op)
    return out.view(col.numel(), *a.shape[1:]).to(a.dtype)


# -------------------------------------------------------------------------------- softmax
def edge_softmax(rowptr: Tensor, scores: Tensor) -> Tensor:
    """C++ :func:`reference.edge_softmax`: softmax of ``(E,)``/``(E, H)`` scores per row."""
    if scores.dim() < 1 or not _is_cpu_float(scores) or not _is_cpu_index(rowptr):
        return reference.edge_softmax(rowptr, scores)
    flat = scores.reshape(scores.shape[0], _numel(scores.shape[1:])).contiguous()
    return _native().edge_softmax(rowptr, flat).view(scores.shape).to(scores.dtype)


def edge_softmax_backward(rowptr: Tensor, probs: Tensor, grad: Tensor) -> Tensor:
    """C++ :func:`reference.edge_softmax_backward`: ``p * (g - Σ_row p g)``."""
    if (
        probs.dim() < 1
        or probs.shape != grad.shape
        or not _is_cpu_float(probs, grad)
        or not _is_cpu_index(rowptr)
    ):
        return reference.edge_softmax_backward(rowptr, probs, grad)
    shape2 = (probs.shape[0], _numel(probs.shape[1:]))
    out = _native().edge_softmax_backward(
        rowptr, probs.reshape(shape2).contiguous(), grad.reshape(shape2).contiguous()
    )
    return out.view(probs.shape).to(probs.dtype)


# -------------------------------------------------------------------------------- segment
def segment(src: Tensor, ptr: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    """C++ :func:`reference.segment`: reduce the slices ``src[ptr[k]:ptr[k+1]]``."""
    if (
        src.dim() < 1
        or reduce not in _REDUCTIONS
        or not _is_cpu_float(src)
        or not _is_cpu_index(ptr)
    ):
        return reference.segment(src, ptr, reduce)
    return _native().spmm(ptr, None, None, _contiguous(src), reduce, True,
                          reference.arg_dtype(src.shape[0]))


# ------------------------------------------------------------------------------ structure
def intersect_rows(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor
) -> tuple[Tensor, Tensor]:
    """C++ :func:`reference.intersect_rows`: sorted common columns of rows ``left[k]`` and
    ``right[k]``, as ``(ptr, common)`` in the index dtype of ``col``."""
    if (
        not _is_cpu_index(rowptr, col)
        or left.device.type != "cpu"
        or right.device.type != "cpu"
        or left.shape != right.shape
        or left.dim() != 1
    ):
        return reference.intersect_rows(rowptr, col, left, right)
    return _native().intersect_rows(
        rowptr, col, left.long().contiguous(), right.long().contiguous()
    )


def _pair_arrays_supported(rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor) -> bool:
    return (
        _is_cpu_index(rowptr, col)
        and left.device.type == "cpu"
        and right.device.type == "cpu"
        and left.dim() == 1
        and left.shape == right.shape
    )


def intersect_aggregate(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor
) -> Tensor:
    """C++ :func:`reference.intersect_aggregate`: ``out[k] = Σ x[c]`` over the common columns
    ``c`` of rows ``left[k]`` and ``right[k]`` (increasing ``c``; one thread per pair)."""
    if x.dim() < 1 or not _is_cpu_float(x) or not _pair_arrays_supported(rowptr, col, left,
                                                                          right):
        return reference.intersect_aggregate(rowptr, col, left, right, x)
    width = _numel(x.shape[1:])
    out = _native().intersect_aggregate(rowptr, col, left.long().contiguous(),
                                        right.long().contiguous(),
                                        x.reshape(x.shape[0], width).contiguous())
    return out.view(left.numel(), *x.shape[1:])


def intersect_aggregate_backward(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, grad: Tensor, num_cols: int
) -> Tensor:
    """C++ :func:`reference.intersect_aggregate_backward`: ``grad_x[c] = Σ grad[k]`` over the
    pairs ``k`` sharing column ``c`` (increasing ``k``; parallel over ranges of ``c``)."""
    if (
        grad.dim() < 1
        or grad.shape[0] != left.numel()
        or not _is_cpu_float(grad)
        or not _pair_arrays_supported(rowptr, col, left, right)
    ):
        return reference.intersect_aggregate_backward(rowptr, col, left, right, grad, num_cols)
    width = _numel(grad.shape[1:])
    grad_x = _native().intersect_aggregate_backward(
        rowptr, col, left.long().contiguous(), right.long().contiguous(),
        grad.reshape(grad.shape[0], width).contiguous(), int(num_cols))
    return grad_x.view(int(num_cols), *grad.shape[1:])


def difference_rows(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor
) -> tuple[Tensor, Tensor]:
    """C++ :func:`reference.difference_rows`: the distinct columns of row ``left[k]`` absent
    from row ``right[k]``, increasing, as ``(ptr, only_left)`` in the index dtype of ``col``."""
    if not _pair_arrays_supported(rowptr, col, left, right):
        return reference.difference_rows(rowptr, col, left, right)
    return _native().difference_rows(rowptr, col, left.long().contiguous(),
                                     right.long().contiguous())


def _weight_supported(weight: Tensor | None, x: Tensor) -> bool:
    return weight is None or (weight.device.type == "cpu" and weight.dim() == 2
                              and weight.dtype == x.dtype)


def difference_aggregate(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor, weight: Tensor | None
) -> Tensor:
    """C++ :func:`reference.difference_aggregate`: ``out[k] = Σ w_k(c) · x[c]`` over the
    columns ``c`` of row ``left[k]`` absent from row ``right[k]`` (increasing ``c``; one
    thread per pair; ``w_k(c) = weight[right[k], c]`` or 1)."""
    if (x.dim() < 1 or not _is_cpu_float(x) or not _weight_supported(weight, x)
            or not _pair_arrays_supported(rowptr, col, left, right)):
        return reference.difference_aggregate(rowptr, col, left, right, x, weight)
    width = _numel(x.shape[1:])
    out = _native().difference_aggregate(
        rowptr, col, left.long().contiguous(), right.long().contiguous(),
        x.reshape(x.shape[0], width).contiguous(),
        None if weight is None else weight.contiguous())
    return out.view(left.numel(), *x.shape[1:])


def difference_aggregate_backward(
    rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, grad: Tensor,
    weight: Tensor | None, num_cols: int,
) -> Tensor:
    """C++ :func:`reference.difference_aggregate_backward`: ``grad_x[c] = Σ w_k(c) · grad[k]``
    over the pairs ``k`` whose difference holds ``c`` (increasing ``k``; parallel over ranges
    of ``c``)."""
    if (
        grad.dim() < 1
        or grad.shape[0] != left.numel()
        or not _is_cpu_float(grad)
        or not _weight_supported(weight, grad)
        or not _pair_arrays_supported(rowptr, col, left, right)
    ):
        return reference.difference_aggregate_backward(rowptr, col, left, right, grad, weight,
                                                       num_cols)
    width = _numel(grad.shape[1:])
    grad_x = _native().difference_aggregate_backward(
        rowptr, col, left.long().contiguous(), right.long().contiguous(),
        grad.reshape(grad.shape[0], width).contiguous(),
        None if weight is None else weight.contiguous(), int(num_cols))
    return grad_x.view(int(num_cols), *grad.shape[1:])


# ------------------------------------------------------------------------------- sampling
# One hop of gnnkit.data.sampling.sample_neighbors (which holds the plain-torch equivalent and
# the protocol: the random numbers are drawn there, with the caller's generator, and passed
# in). Not part of the reference kernel contract: the sampler calls these directly when
# resolve_backend picks "cpu".
def sample_table(seeds: Tensor) -> Tensor:
    """The relabelling map of a sample, holding ``seeds[i] → i``: an opaque int64 tensor (an
    open-addressing hash map whose size follows the batch, not the graph) that
    :func:`sample_hop` extends and returns."""
    return _native().sample_table(seeds.long().contiguous())


def sample_hop_plan(rowptr: Tensor, frontier: Tensor, fanout: int, replace: bool
                    ) -> tuple[Tensor, int, int]:
    """``(info, n_first, n_keys)`` of a hop from the rows ``frontier``: ``info`` the ``(2, M)``
    int64 CSR begin and degree of every frontier row, ``n_first`` the uniforms the hop draws
    first (with-replacement or hub draws), ``n_keys`` those it draws next (mid-row keys)."""
    if not _is_cpu_index(rowptr) or frontier.device.type != "cpu":
        raise ValueError("sample_hop_plan needs a CPU int32/int64 rowptr and a CPU frontier")
    return _native().sample_hop_plan(_contiguous(rowptr), frontier.long().contiguous(),
                                     fanout, replace)


def sample_hop(col: Tensor, info: Tensor, fanout: int, replace: bool, u_first: Tensor,
               u_keys: Tensor, u_fallback: Tensor | None, table: Tensor, num_local: int
               ) -> tuple[int, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One hop: ``(fallback, take, e_id, local_col, new_nodes, table)``.

    ``fallback > 0`` means a hub row drew fewer than ``fanout`` distinct entries: draw that
    many more uniforms and call again with them as ``u_fallback`` (the other outputs are then
    empty). Otherwise ``take`` is the ``(M,)`` entries kept per frontier row, ``e_id`` and
    ``local_col`` the kept CSR positions and their sources' local ids (rows in order, sorted
    by local id within a row), ``new_nodes`` the sources not seen before in order of first
    appearance (local ids ``num_local, num_local + 1, …``) and ``table`` the grown map.
    """
    if not _is_cpu_index(col):
        raise ValueError("sample_hop needs a CPU int32/int64 col")
    return _native().sample_hop(_contiguous(col), info, fanout, replace, u_first, u_keys,
                                u_fallback, table, num_local)


# ------------------------------------------------------------------------------ random
def bernoulli_keep_mask(key: Tensor, pos: int, n: int, high: int, low: int,
                        scale: Tensor | None = None) -> tuple[Tensor, Tensor, int]:
    """C++ :func:`reference.bernoulli_keep_mask`: MT19937 words, tempering, the comparison
    and (with ``scale``) the noise values in one pass, without storing the ``2n`` words."""
    if scale is not None and (scale.device.type != "cpu" or scale.numel() != 1
                              or not scale.is_floating_point()):
        return reference.bernoulli_keep_mask(key, pos, n, high, low, scale)
    keep, key_after, pos_after = _native().bernoulli_keep_mask(
        key.to(torch.int32).contiguous(), int(pos), int(n), int(high), int(low), scale)
    return keep, key_after, int(pos_after)

