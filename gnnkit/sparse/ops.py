"""Functional sparse ops: validation, then the registered custom ops.

Every function here differentiates through dense features *and* the sparse matrix's values,
runs under ``torch.compile(fullgraph=True)`` without graph breaks, and dispatches to the
fastest available backend for the inputs' device (see :mod:`gnnkit.sparse._backends`).
Inputs are assumed NaN-free: max/min winners among NaNs are unspecified.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils._python_dispatch import _get_current_dispatch_mode

from . import _custom_ops as C
from ._backends import get_kernel
from ._structure import Structure
from .index import ptr_from_index
from .matrix import SparseMatrix

__all__ = [
    "REDUCTIONS",
    "difference_aggregate",
    "difference_rows",
    "edge_softmax",
    "intersect_aggregate",
    "intersect_rows",
    "scatter",
    "sddmm",
    "segment",
    "spmm",
    "spspmm",
]

REDUCTIONS = ("sum", "mean", "max", "min")
SDDMM_OPS = ("dot", "add", "mul")


def _check_matrix(A: object, name: str = "A") -> SparseMatrix:
    if not isinstance(A, SparseMatrix):
        raise TypeError(f"{name} must be a gnnkit.sparse.SparseMatrix, got {type(A).__name__}")
    return A


def _check_features(x: object, name: str, device: torch.device) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {x.dtype} (convert it, e.g. "
                        f"{name}.float())")
    if x.device != device:
        raise ValueError(f"{name} is on {x.device} but the sparse matrix is on {device} "
                         f"(move it with {name}.to({str(device)!r}))")
    return x


def _check_reduce(reduce: str) -> str:
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {', '.join(REDUCTIONS)}; got {reduce!r}")
    return reduce


def _skip_value_checks() -> bool:
    """Checks that read tensor *contents* run eagerly only: under ``torch.compile`` they would
    force a graph break (shapes, dtypes and devices are still checked while tracing)."""
    return torch.compiler.is_compiling()


def _needs_grad(*tensors: Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _direct_call(x: Tensor) -> bool:
    """Whether a kernel may be called without its custom-op wrapper: eagerly, on a plain
    tensor (no functorch transform), with no dispatch or torch-function mode active. Callers
    also require that no gradient is needed. The wrapper exists for autograd,
    ``torch.compile``, ``torch.func`` and dispatch modes; outside them it computes exactly
    the same result but costs ~20 µs of Python dispatch per call, which on small graphs is as
    much as the kernel itself."""
    return not (
        torch.compiler.is_compiling()
        or torch._C._functorch.is_functorch_wrapped_tensor(x)
        or torch._C._is_torch_function_mode_enabled()
        or _get_current_dispatch_mode() is not None
    )


def spmm(A: SparseMatrix, X: Tensor, reduce: str = "sum") -> Tensor:
    """Sparse–dense product ``Y[i] = ⊕_{j ∈ N(i)} A[i, j] · X[j]``.

    Args:
        A: ``(M, N)`` sparse matrix (row = target, column = source). Its values may be
            ``None`` (ones), scalar ``(nnz,)``, multi-head ``(nnz, H)`` or block ``(nnz, P, Q)``.
        X: source features: ``(N, F)`` for ``None``/scalar values (also ``(N,)``),
            ``(N, H, F)`` for multi-head values, ``(N, Q, F)`` or ``(N, Q)`` for blocks.
        reduce: ``"sum"``, ``"mean"`` (divides by the row's stored-entry count), ``"max"`` or
            ``"min"``. Empty rows give 0 for every reduction. Max/min gradients go to one
            winner per output element: the first entry of the row (in CSR order) among ties.
            Block values support sum and mean.

    Returns:
        ``(M, F)``, ``(M, H, F)`` or ``(M, P, F)`` (``(M,)``/``(M, P)`` for vector inputs).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, spmm
        >>> A = SparseMatrix.from_dense(torch.tensor([[0., 1., 2.], [1., 0., 0.], [0., 0., 0.]]))
        >>> X = torch.tensor([[1., 2.], [3., 4.], [5., 6.]])
        >>> spmm(A, X).tolist()  # row 0 = 1·X[1] + 2·X[2]; the empty row 2 gives 0
        [[13.0, 16.0], [1.0, 2.0], [0.0, 0.0]]
        >>> spmm(A, X, reduce="max").tolist()
        [[10.0, 12.0], [1.0, 2.0], [0.0, 0.0]]
    """
    A = _check_matrix(A)
    X = _check_features(X, "X", A.device)
    reduce = _check_reduce(reduce)
    values = A.values
    squeeze = X.dim() == 1 or (values is not None and values.dim() == 3 and X.dim() == 2)
    if squeeze:
        X = X.unsqueeze(-1)
    if X.shape[0] != A.num_cols:
        raise ValueError(
            f"X has {X.shape[0]} rows but A has {A.num_cols} columns (sources); "
            f"A.shape = {A.shape}, X.shape = {tuple(X.shape)}"
        )
    if values is not None:
        if values.dtype != X.dtype:
            raise TypeError(f"A.values dtype {values.dtype} differs from X dtype {X.dtype}")
        if values.dim() == 1 and X.dim() != 2:
            raise ValueError(f"scalar values need X of shape (N, F), got {tuple(X.shape)}")
        if values.dim() == 2 and (X.dim() != 3 or X.shape[1] != values.shape[1]):
            raise ValueError(
                f"multi-head values ({values.shape[1]} heads) need X of shape "
                f"(N, {values.shape[1]}, F), got {tuple(X.shape)}"
            )
        if values.dim() == 3:
            if X.dim() != 3 or X.shape[1] != values.shape[2]:
                raise ValueError(
                    f"block values of shape (nnz, {values.shape[1]}, {values.shape[2]}) need X "
                    f"of shape (N, {values.shape[2]}, F), got {tuple(X.shape)}"
                )
            if reduce not in ("sum", "mean"):
                raise ValueError(f"block values support reduce 'sum' and 'mean', not {reduce!r}")
    structure = A.structure
    needs_grad = _needs_grad(X, values)
    if not needs_grad and _direct_call(X):
        # The winners of max/min are only needed by a backward: none here.
        out = get_kernel("spmm", X.device)(structure.rowptr, structure.col, values, X, reduce,
                                           False)[0]
        return out.squeeze(-1) if squeeze else out
    row = colptr = csc_row = csc_perm = None
    if needs_grad and reduce in ("sum", "mean"):
        # max/min backward needs only the winners (arg); sum/mean the transpose (CSC)
        row = structure.row()
        csc = structure.csc()
        colptr, csc_row, csc_perm = csc.colptr, csc.row, csc.perm
    out, _ = C.spmm_op(
        structure.rowptr, structure.col, values, X, reduce, row, colptr, csc_row, csc_perm,
        needs_grad,
    )
    return out.squeeze(-1) if squeeze else out


def sddmm(A: SparseMatrix, X: Tensor, Y: Tensor, op: str = "dot") -> Tensor:
    """Per-entry ``op(X[i], Y[j])`` for every stored ``(i, j)`` of ``A`` (A's values unused).

    Args:
        A: ``(M, N)`` sparse pattern.
        X: target features ``(M, *S)``; Y: source features ``(N, *S)``, same trailing shape
            ``S`` of one or two dimensions (e.g. ``(F,)`` or ``(H, F)``).
        op: ``"dot"`` (sum over the last dimension → ``(nnz, *S[:-1])``), ``"add"`` or
            ``"mul"`` (elementwise → ``(nnz, *S)``).

    Returns:
        One row per stored entry, in CSR order (use ``A.with_values(result)``).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, sddmm
        >>> A = SparseMatrix.from_dense(torch.tensor([[0, 1, 1], [1, 0, 0], [0, 0, 0]]))
        >>> X = torch.tensor([[1., 2.], [3., 4.], [5., 6.]])
        >>> sddmm(A, X, X).tolist()  # X[i]·X[j] for the entries (0, 1), (0, 2), (1, 0)
        [11.0, 17.0, 11.0]
        >>> sddmm(A, X, X, op="add").tolist()
        [[4.0, 6.0], [6.0, 8.0], [4.0, 6.0]]
    """
    A = _check_matrix(A)
    X = _check_features(X, "X", A.device)
    Y = _check_features(Y, "Y", A.device)
    if op not in SDDMM_OPS:
        raise ValueError(f"op must be one of {', '.join(SDDMM_OPS)}; got {op!r}")
    if X.dtype != Y.dtype:
        raise TypeError(f"X ({X.dtype}) and Y ({Y.dtype}) dtypes differ")
    squeeze = X.dim() == 1 and Y.dim() == 1 and op != "dot"
    if X.dim() == 1 and Y.dim() == 1:
        X, Y = X.unsqueeze(-1), Y.unsqueeze(-1)
    if X.shape[0] != A.num_rows or Y.shape[0] != A.num_cols:
        raise ValueError(
            f"X must have A.num_rows={A.num_rows} rows and Y A.num_cols={A.num_cols} rows; "
            f"got X {tuple(X.shape)}, Y {tuple(Y.shape)}"
        )
    if X.shape[1:] != Y.shape[1:] or X.dim() not in (2, 3):
        raise ValueError(
            f"X and Y need the same trailing shape of 1 or 2 dims, got {tuple(X.shape)} "
            f"and {tuple(Y.shape)}"
        )
    structure = A.structure
    rowptr = colptr = csc_row = csc_perm = None
    if _needs_grad(X, Y):
        csc = structure.csc()
        rowptr, colptr, csc_row, csc_perm = structure.rowptr, csc.colptr, csc.row, csc.perm
    out = C.sddmm_op(structure.row(), structure.col, X, Y, op, rowptr, colptr, csc_row, csc_perm)
    return out.squeeze(-1) if squeeze else out


def edge_softmax(A: SparseMatrix, scores: Tensor) -> Tensor:
    """Softmax of per-entry ``scores`` over each row (the incoming edges of each target).

    ``scores`` is ``(nnz,)`` or ``(nnz, H)`` in A's CSR order. Entries of a row sum to 1;
    empty rows have no entries. Numerically stable for large scores.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, edge_softmax
        >>> A = SparseMatrix.from_dense(torch.tensor([[0, 1, 1], [1, 0, 0], [0, 0, 0]]))
        >>> edge_softmax(A, torch.zeros(3)).tolist()  # row 0 has two entries, row 1 one
        [0.5, 0.5, 1.0]
    """
    A = _check_matrix(A)
    scores = _check_features(scores, "scores", A.device)
    if scores.dim() not in (1, 2) or scores.shape[0] != A.nnz:
        raise ValueError(
            f"scores must have shape (nnz,) or (nnz, H) with nnz={A.nnz}, got {tuple(scores.shape)}"
        )
    return C.edge_softmax_op(A.rowptr, scores)


def _check_ptr(ptr: object, length: int, device: torch.device) -> Tensor:
    if not isinstance(ptr, Tensor) or ptr.dtype not in (torch.int32, torch.int64):
        raise TypeError("ptr must be an int32 or int64 torch.Tensor")
    if ptr.dim() != 1 or ptr.numel() == 0:
        raise ValueError(f"ptr must be 1-D with at least one element, got {tuple(ptr.shape)}")
    if ptr.device != device:
        raise ValueError(f"ptr is on {ptr.device} but src is on {device}")
    if _skip_value_checks():
        return ptr.contiguous()
    if int(ptr[0]) != 0 or int(ptr[-1]) != length:
        raise ValueError(
            f"ptr must start at 0 and end at len(src)={length}, got {int(ptr[0])} … {int(ptr[-1])}"
        )
    if ptr.numel() > 1 and bool((ptr[1:] < ptr[:-1]).any()):
        raise ValueError("ptr must be non-decreasing")
    return ptr.contiguous()


def segment(src: Tensor, ptr: Tensor, reduce: str = "sum") -> Tensor:
    """Reduce consecutive slices: ``out[k] = ⊕ src[ptr[k]:ptr[k+1]]`` along dim 0.

    ``src`` is ``(E, *F)``; ``ptr`` is ``(K+1,)`` non-decreasing from 0 to ``E``. Empty
    segments give 0. Same reductions and tie rule as :func:`spmm`.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, segment
        >>> src = torch.tensor([1., 2., 3., 4.])
        >>> ptr = torch.tensor([0, 3, 3, 4])  # slices [0:3], [3:3] (empty), [3:4]
        >>> segment(src, ptr).tolist()
        [6.0, 0.0, 4.0]
        >>> segment(src, ptr, reduce="max").tolist()
        [3.0, 0.0, 4.0]
    """
    src = _check_features(src, "src", src.device if isinstance(src, Tensor) else None)
    ptr = _check_ptr(ptr, src.shape[0], src.device)
    reduce = _check_reduce(reduce)
    return C.segment_op(src, ptr, reduce)[0]


def scatter(
    src: Tensor, index: Tensor, num_segments: int | None = None, reduce: str = "sum"
) -> Tensor:
    """Reduce rows of ``src`` (E, *F) into ``num_segments`` groups given by ``index`` (E,).

    Deterministic: entries are grouped by a stable sort on ``index`` and reduced with
    :func:`segment`, never with atomics. ``num_segments`` defaults to ``max(index) + 1``.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, scatter
        >>> src = torch.tensor([1., 2., 3., 4.])
        >>> scatter(src, torch.tensor([2, 0, 2, 2])).tolist()
        [2.0, 0.0, 8.0]
        >>> scatter(src, torch.tensor([2, 0, 2, 2]), num_segments=4, reduce="max").tolist()
        [2.0, 0.0, 4.0, 0.0]
    """
    src = _check_features(src, "src", src.device if isinstance(src, Tensor) else None)
    if not isinstance(index, Tensor) or index.dtype not in (torch.int32, torch.int64):
        raise TypeError("index must be an int32 or int64 torch.Tensor")
    if index.dim() != 1 or index.numel() != src.shape[0]:
        raise ValueError(
            f"index must be 1-D with one entry per row of src ({src.shape[0]}), "
            f"got {tuple(index.shape)}"
        )
    if index.device != src.device:
        raise ValueError(f"index is on {index.device} but src is on {src.device}")
    reduce = _check_reduce(reduce)
    if num_segments is None:
        num_segments = int(index.max()) + 1 if index.numel() else 0
    if (
        not _skip_value_checks()
        and index.numel()
        and (int(index.min()) < 0 or int(index.max()) >= num_segments)
    ):
        raise ValueError(
            f"index values must lie in [0, {num_segments}), found "
            f"{int(index.min())} … {int(index.max())}"
        )
    order = torch.sort(index, stable=True).indices
    ptr = ptr_from_index(index, num_segments, dtype=torch.long, check=False)  # checked above
    return C.segment_op(src.index_select(0, order), ptr, reduce)[0]


def _check_row_pairs(A: SparseMatrix, left: object, right: object) -> tuple[Tensor, Tensor]:
    """``left`` and ``right`` as contiguous 1-D integer tensors of equal length indexing rows
    of ``A`` (the range is checked eagerly only)."""
    pairs = []
    for name, index in (("left", left), ("right", right)):
        if not isinstance(index, Tensor) or index.dtype not in (torch.int32, torch.int64):
            got = index.dtype if isinstance(index, Tensor) else type(index).__name__
            raise TypeError(f"{name} must be an int32 or int64 torch.Tensor, got {got}")
        if index.dim() != 1:
            raise ValueError(
                f"{name} must be 1-D, got shape {tuple(index.shape)} (pass one row index per "
                f"pair, e.g. pairs[0] of a (2, B) tensor)"
            )
        if index.device != A.device:
            raise ValueError(
                f"{name} is on {index.device} but A is on {A.device} (move it with "
                f"{name}.to(A.device))"
            )
        if (
            not _skip_value_checks()
            and index.numel()
            and (int(index.min()) < 0 or int(index.max()) >= A.num_rows)
        ):
            raise ValueError(
                f"{name} must index rows of A in [0, {A.num_rows}), found "
                f"{int(index.min())} … {int(index.max())} (A.shape = {A.shape})"
            )
        pairs.append(index.contiguous())
    if pairs[0].numel() != pairs[1].numel():
        raise ValueError(
            f"left has {pairs[0].numel()} entries but right has {pairs[1].numel()}: pair k is "
            "(left[k], right[k]), so both need one entry per pair"
        )
    return pairs[0], pairs[1]


def intersect_rows(A: SparseMatrix, left: Tensor, right: Tensor) -> tuple[Tensor, Tensor]:
    """Common neighbours: the columns shared by rows ``left[k]`` and ``right[k]`` of ``A``.

    Duplicate entries count once. Returns ``(ptr, common)`` in CSR form: the common
    columns of pair ``k`` are ``common[ptr[k]:ptr[k+1]]``, increasing. Costs
    ``O(Σ_k deg(left_k) + deg(right_k))`` — never ``O(B · N)``.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, intersect_rows
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))  # 0-1-2
        >>> ptr, common = intersect_rows(A, torch.tensor([0, 0]), torch.tensor([2, 1]))
        >>> ptr.tolist(), common.tolist()  # (0, 2) share node 1; (0, 1) none
        ([0, 1, 1], [1])
    """
    A = _check_matrix(A)
    pairs = _check_row_pairs(A, left, right)
    if _skip_value_checks():
        # Checking sortedness reads the indices; under torch.compile rely on the cached flag.
        if A.structure._cache.get("coalesced") is not True:
            raise ValueError(
                "intersect_rows under torch.compile needs a matrix known to be "
                "coalesced: call A = A.coalesce() before compiling"
            )
        pattern = A
    else:
        pattern = A if A.is_coalesced() else A.coalesce()
    return C.intersect_rows_op(pattern.rowptr, pattern.col, pairs[0], pairs[1])


def _check_column_features(A: SparseMatrix, X: object) -> Tensor:
    """``X`` as floating features ``(N, *S)`` of ``A``'s ``N`` columns, on ``A``'s device."""
    X = _check_features(X, "X", A.device)
    if X.dim() == 0 or X.shape[0] != A.num_cols:
        raise ValueError(
            f"X must have one row per column of A: X.shape = {tuple(X.shape)} but A.shape = "
            f"{A.shape} (pass the features of all {A.num_cols} column nodes, shape "
            f"({A.num_cols}, F))"
        )
    return X


def intersect_aggregate(A: SparseMatrix, left: Tensor, right: Tensor, X: Tensor) -> Tensor:
    """Sum of ``X`` over the common neighbours of each pair, without building the sets.

    .. math::
        \\mathrm{out}[k] = \\sum_{c \\,\\in\\, \\mathrm{cols}(A, \\mathrm{left}[k]) \\,\\cap\\,
            \\mathrm{cols}(A, \\mathrm{right}[k])} X[c]

    where ``cols(A, i)`` is the *set* of stored columns of row ``i`` (the pattern of ``A``:
    values are ignored, and a duplicated entry counts once — exactly the columns that
    :func:`intersect_rows` returns). It equals ``spmm`` of the ``B × N`` 0/1 matrix of
    :func:`intersect_rows`'s sets with ``X``, fused: one pass intersects each pair's rows and
    adds the matching rows of ``X``; its backward intersects again and adds each pair's
    gradient row to its common columns' rows, so neither the set matrix nor its transpose is
    ever stored. Per pair, the shorter row is merged with or searched in the longer one
    (``O(min(d, d') · log max(d, d'))`` at most for rows of lengths ``d``, ``d'``) and each
    common neighbour's row of ``X`` is read once; memory is only the output.

    Args:
        A: ``(M, N)`` sparse matrix; only its pattern is used. Rows must be sorted by column
            (every gnnkit constructor sorts); a matrix built unsorted is coalesced first.
        left, right: ``(B,)`` int32 or int64 row indices of ``A``; pair ``k`` is
            ``(left[k], right[k])``.
        X: ``(N, *S)`` floating features of the columns (e.g. ``(N, F)``); may require grad.

    Returns:
        ``(B, *S)`` in ``X``'s dtype; pairs without common neighbours give 0.

    Summation order: pair ``k`` starts from 0 and adds ``X[c]`` in increasing column order
    (float32 accumulation for float16/bfloat16, rounded once), the order in which the
    reference and cpu backends' ``spmm`` sum the set matrix; the gradient of ``X[c]`` adds
    the pairs' gradients in increasing pair order. Every backend (Triton included)
    reproduces this bit for bit, at any thread count.
    Under ``torch.compile``, ``A`` must be known to be sorted (built by a gnnkit
    constructor, or coalesced) before tracing.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, intersect_aggregate
        >>> ring = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])  # the cycle 0-1-2-3-0
        >>> A = SparseMatrix.from_edge_index(torch.cat([ring, ring.flip(0)], 1))
        >>> X = torch.tensor([[1.], [2.], [4.], [8.]])
        >>> left, right = torch.tensor([0, 0, 1]), torch.tensor([2, 1, 3])
        >>> intersect_aggregate(A, left, right, X).tolist()  # {1, 3}: 2 + 8; ∅; {0, 2}: 1 + 4
        [[10.0], [0.0], [5.0]]
    """
    A = _check_matrix(A)
    X = _check_column_features(A, X)
    left, right = _check_row_pairs(A, left, right)
    structure = _sorted_structure(A, "intersect_aggregate")
    if not _needs_grad(X) and _direct_call(X):
        return get_kernel("intersect_aggregate", X.device)(
            structure.rowptr, structure.col, left, right, X
        )
    return C.intersect_aggregate_op(structure.rowptr, structure.col, left, right, X)


def _sorted_structure(A: SparseMatrix, op: str) -> Structure:
    """``A``'s structure with rows known sorted (coalesced first if they are not)."""
    structure = A.structure
    if not structure.sorted_rows and structure._cache.get("coalesced") is not True:
        if _skip_value_checks():
            raise ValueError(
                f"{op} under torch.compile needs a matrix known to have sorted rows: build it "
                "with a gnnkit constructor or call A = A.coalesce() before compiling"
            )
        if not structure.is_coalesced():
            structure = A.coalesce().structure
    return structure


def difference_rows(A: SparseMatrix, left: Tensor, right: Tensor) -> tuple[Tensor, Tensor]:
    """The columns of row ``left[k]`` of ``A`` that row ``right[k]`` lacks: ``N(l) \\ N(r)``.

    Duplicate entries count once. Returns ``(ptr, only_left)`` in CSR form (index dtype of
    ``A``): the columns of pair ``k`` are ``only_left[ptr[k]:ptr[k+1]]``, increasing. The
    companion of :func:`intersect_rows`: the two partition each left row's distinct columns.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, difference_rows
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))  # 0-1-2
        >>> ptr, only_left = difference_rows(A, torch.tensor([1, 0]), torch.tensor([0, 2]))
        >>> ptr.tolist(), only_left.tolist()  # N(1) \\ N(0) = {0, 2} \\ {1}; N(0) \\ N(2) = ∅
        ([0, 2, 2], [0, 2])
    """
    A = _check_matrix(A)
    left, right = _check_row_pairs(A, left, right)
    structure = _sorted_structure(A, "difference_rows")
    if _direct_call(left):
        return get_kernel("difference_rows", A.device)(structure.rowptr, structure.col, left,
                                                       right)
    return C.difference_rows_op(structure.rowptr, structure.col, left, right)


def difference_aggregate(A: SparseMatrix, left: Tensor, right: Tensor, X: Tensor,
                         weight: Tensor | None = None) -> Tensor:
    """Weighted sum of ``X`` over the columns of row ``left[k]`` that row ``right[k]`` lacks.

    .. math::
        \\mathrm{out}[k] = \\sum_{c \\,\\in\\, \\mathrm{cols}(A, l_k) \\setminus
            \\mathrm{cols}(A, r_k)} W[r_k, c] \\, X[c]

    with ``W`` the dense ``weight`` table (all ones when ``None``). This is the set-difference
    companion of :func:`intersect_aggregate`: NCNC's completion pools ``N(i) \\ N(j)``
    weighted by the predicted links ``Â[j, u]``, one fused pass per pair, without listing the
    difference or gathering the weights. Set semantics as :func:`difference_rows` (the
    pattern of ``A``; a duplicated entry counts once; values are ignored).

    Args:
        A: ``(M, N)`` sparse matrix; only its pattern is used. Rows must be sorted (every
            gnnkit constructor sorts); a matrix built unsorted is coalesced first.
        left, right: ``(B,)`` int32 or int64 row indices of ``A``.
        X: ``(N, *S)`` floating features of the columns; may require grad.
        weight: optional ``(M, N)`` dense table in ``X``'s dtype and device; entry
            ``weight[r, c]`` weighs column ``c`` for every pair whose right row is ``r``. Only
            the entries of the differences are read. May require grad (first order).

    Returns:
        ``(B, *S)`` in ``X``'s dtype; pairs with an empty difference give 0.

    Summation order: pair ``k`` starts from 0 and adds ``X[c] · W[r_k, c]`` (the product
    rounded, then the sum; no product without a table) in increasing column order
    (float32 accumulation for float16/bfloat16, rounded once). The gradient of ``X[c]`` adds
    the pairs' ``grad[k] · W[r_k, c]`` in increasing pair order. Every backend reproduces
    this bit for bit, at any thread count.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, difference_aggregate
        >>> path = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])  # 0-1-2-3
        >>> A = SparseMatrix.from_edge_index(path)
        >>> X = torch.tensor([[1.], [2.], [4.], [8.]])
        >>> left, right = torch.tensor([2, 1]), torch.tensor([0, 2])
        >>> # N(2) \\ N(0) = {1, 3} \\ {1} = {3}; N(1) \\ N(2) = {0, 2} \\ {1, 3} = {0, 2}
        >>> difference_aggregate(A, left, right, X).tolist()
        [[8.0], [5.0]]
        >>> W = torch.full((4, 4), 0.5)
        >>> difference_aggregate(A, left, right, X, W).tolist()
        [[4.0], [2.5]]
    """
    A = _check_matrix(A)
    X = _check_column_features(A, X)
    left, right = _check_row_pairs(A, left, right)
    if weight is not None:
        if not isinstance(weight, Tensor):
            raise TypeError(f"weight must be a torch.Tensor or None, got {type(weight).__name__}")
        if tuple(weight.shape) != (A.num_rows, A.num_cols):
            raise ValueError(
                f"weight must be the dense (M, N) = {(A.num_rows, A.num_cols)} table of A's "
                f"rows by columns, got shape {tuple(weight.shape)}"
            )
        if weight.dtype != X.dtype:
            raise TypeError(f"weight is {weight.dtype} but X is {X.dtype} (convert it, e.g. "
                            f"weight.to(X.dtype))")
        if weight.device != X.device:
            raise ValueError(f"weight is on {weight.device} but X is on {X.device} (move it "
                             f"with weight.to(X.device))")
    structure = _sorted_structure(A, "difference_aggregate")
    if not _needs_grad(X, weight) and _direct_call(X):
        return get_kernel("difference_aggregate", X.device)(
            structure.rowptr, structure.col, left, right, X, weight
        )
    return C.difference_aggregate_op(structure.rowptr, structure.col, left, right, X, weight)


def spspmm(A: SparseMatrix, B: SparseMatrix) -> SparseMatrix:
    """Sparse–sparse product ``C = A @ B``, coalesced, differentiable in both values.

    Values ``None`` count as ones (so for two patterns ``C[i, k]`` counts the paths
    ``i → j → k``). Scalar values only.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix, spspmm
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 1], [1, 2]]))  # 0→1→2
        >>> spspmm(A, A).to_dense().tolist()  # the one 2-step path: 0 to 2
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    A = _check_matrix(A)
    B = _check_matrix(B, "B")
    if A.num_cols != B.num_rows:
        raise ValueError(f"A.shape {A.shape} and B.shape {B.shape} do not chain (A cols != B rows)")
    if A.device != B.device:
        raise ValueError(f"A is on {A.device} but B is on {B.device}")
    for name, m in (("A", A), ("B", B)):
        if m.values is not None and m.values.dim() != 1:
            raise ValueError(
                f"spspmm needs scalar (nnz,) values; {name}.values is {tuple(m.values.shape)}"
            )
    if A.values is not None and B.values is not None and A.values.dtype != B.values.dtype:
        raise TypeError(f"A.values ({A.values.dtype}) and B.values ({B.values.dtype}) differ")
    b_col = B.col.to(A.index_dtype)
    c_rowptr, c_col, term_to_c, term_a, term_b = C.spspmm_expand_op(
        A.rowptr, A.col, B.rowptr.to(A.index_dtype), b_col, B.num_cols
    )
    dtype = next((m.values.dtype for m in (A, B) if m.values is not None), torch.float32)
    terms = torch.ones(term_a.numel(), dtype=dtype, device=A.device)
    if A.values is not None:
        terms = terms * A.values.index_select(0, term_a)
    if B.values is not None:
        terms = terms * B.values.index_select(0, term_b)
    values = terms.new_zeros(c_col.numel()).index_add(0, term_to_c, terms)
    structure_cls = type(A.structure)
    structure = structure_cls(c_rowptr, c_col, B.num_cols, sorted_rows=True)
    structure._cache["coalesced"] = True
    return SparseMatrix._from_structure(structure, values, (A.num_rows, B.num_cols))
