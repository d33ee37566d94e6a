"""The fused sum backward (``spmm_sum_backward``) and max/min forwards without winners
(``with_arg=False``) on every backend, against dense oracles and the reference backend.

Integer-valued features, values and gradients keep every partial sum exact in every dtype,
so the C++ results must equal the reference bit for bit whatever the summation order; the
Gaussian tests use the tolerances of ``test_backend_cpu.py``. Graphs are the adversarial ones
of ``sparse_graphs.py`` (one row holding half the entries, duplicates, self loops, no entries)
plus zero-row and mostly-empty patterns.
"""

from __future__ import annotations

import itertools
import os

import pytest
import torch
from sparse_graphs import make_graph
from torch import Tensor

from gnnkit.sparse import SparseMatrix, spmm, use_backend
from gnnkit.sparse import _custom_ops as C
from gnnkit.sparse._backends import cpu, reference

FLOAT_TYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
INDEX_TYPES = (torch.int32, torch.int64)
WIDTHS = (1, 7, 16, 37, 80)  # remainder only, 16-wide tile + remainder, wide tiles
GRAPHS = {
    "uniform": ("uniform", 30, 20, 200),
    "heavy": ("heavy", 25, 25, 160),
    "duplicates": ("duplicates", 20, 15, 60),
    "loops": ("loops", 18, 18, 50),
    "no_edges": ("empty", 6, 4, 0),
    "no_rows": ("uniform", 0, 5, 10),
    "no_cols": ("uniform", 7, 0, 10),
    "mostly_empty": ("uniform", 40, 9, 12),
}
TOLERANCE = {
    torch.float64: {"rtol": 1e-12, "atol": 1e-12},
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
    torch.bfloat16: {"rtol": 1.6e-2, "atol": 1e-2},
    torch.float16: {"rtol": 2e-3, "atol": 2e-3},
}


pytestmark = pytest.mark.usefixtures("cpu_kernels_single_threaded")


def matrix(name: str, index_dtype: torch.dtype = torch.int64, seed: int = 0) -> SparseMatrix:
    kind, rows, cols, nnz = GRAPHS[name]
    g = make_graph(kind, rows, cols, nnz, seed)
    A = SparseMatrix.from_coo(g.row, g.col, None, (rows, cols))
    return A if index_dtype == torch.int64 else A.index_type(index_dtype)


def csc_arrays(A: SparseMatrix) -> tuple[Tensor, Tensor, Tensor]:
    csc = A.structure.csc()
    return csc.colptr, csc.row, csc.perm


def integers(*shape: int, dtype: torch.dtype, seed: int, low: int = -4, high: int = 5) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, shape, generator=g).to(dtype)


def gaussian(*shape: int, dtype: torch.dtype, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def dense_oracle(A: SparseMatrix, values: Tensor | None, x: Tensor, grad: Tensor
                 ) -> tuple[Tensor, Tensor | None]:
    """Independent float64 oracle: grad_x = Dᵀ grad with D the dense matrix (duplicates
    added), grad_values[e] = <grad[row e], x[col e]>."""
    row, col = A.row.long(), A.col.long()
    w = torch.ones(A.nnz, dtype=torch.float64) if values is None else values.double()
    dense = torch.zeros(A.num_rows, A.num_cols, dtype=torch.float64)
    dense.index_put_((row, col), w, accumulate=True)
    width = x[0].numel() if x.shape[0] else (grad[0].numel() if grad.shape[0] else 0)
    g2 = grad.double().reshape(A.num_rows, width)
    x2 = x.double().reshape(A.num_cols, width)
    grad_x = (dense.T @ g2).reshape(x.shape)
    grad_values = None if values is None else (g2[row] * x2[col]).sum(-1)
    return grad_x, grad_values


def assert_identical(actual: Tensor | None, expected: Tensor | None, what: str) -> None:
    assert (actual is None) == (expected is None), what
    if actual is None or expected is None:
        return
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert torch.equal(actual, expected), f"{what}: max diff " + str(
        (actual.double() - expected.double()).abs().max().item() if actual.numel() else 0)


# ----------------------------------------------------------------------------- fused backward
def test_reference_fused_backward_matches_a_dense_oracle() -> None:
    for name, width, with_values in itertools.product(GRAPHS, (1, 5), (False, True)):
        A = matrix(name)
        values = gaussian(A.nnz, dtype=torch.float64, seed=1) if with_values else None
        x = gaussian(A.num_cols, width, dtype=torch.float64, seed=2)
        grad = gaussian(A.num_rows, width, dtype=torch.float64, seed=3)
        grad_x, grad_values = reference.spmm_sum_backward(
            *csc_arrays(A), values, x, grad, True, with_values)
        expected_x, expected_values = dense_oracle(A, values, x, grad)
        torch.testing.assert_close(grad_x, expected_x, rtol=1e-12, atol=1e-12)
        if with_values:
            torch.testing.assert_close(grad_values, expected_values, rtol=1e-12, atol=1e-12)
        else:
            assert grad_values is None


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
def test_cpu_fused_backward_matches_reference_exactly(name: str, dtype: torch.dtype) -> None:
    for index_dtype, width, with_values, need in itertools.product(
        INDEX_TYPES, WIDTHS, (False, True), ((True, True), (True, False), (False, True))
    ):
        need_x, need_values = need
        if need_values and not with_values:
            continue
        A = matrix(name, index_dtype)
        values = integers(A.nnz, dtype=dtype, seed=1, low=-2, high=3) if with_values else None
        x = integers(A.num_cols, width, dtype=dtype, seed=2)
        grad = integers(A.num_rows, width, dtype=dtype, seed=3)
        args = (*csc_arrays(A), values, x, grad, need_x, need_values)
        got, expected = cpu.spmm_sum_backward(*args), reference.spmm_sum_backward(*args)
        what = f"{name} {dtype} {index_dtype} F={width} values={with_values} need={need}"
        assert_identical(got[0], expected[0], what + " grad_x")
        assert_identical(got[1], expected[1], what + " grad_values")


@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
def test_cpu_fused_backward_gaussian_non_contiguous_and_extra_dims(dtype: torch.dtype) -> None:
    A = matrix("heavy")
    values = gaussian(2 * A.nnz, dtype=dtype, seed=1)[::2]  # non-contiguous
    for shape in ((16,), (37,), (2, 3)):
        x = gaussian(A.num_cols, *shape, 2, dtype=dtype, seed=2)[..., 0]  # non-contiguous
        grad = gaussian(A.num_rows, *shape, 2, dtype=dtype, seed=3)[..., 1]
        args = (*csc_arrays(A), values, x, grad, True, True)
        got, expected = cpu.spmm_sum_backward(*args), reference.spmm_sum_backward(*args)
        for a, b in zip(got, expected, strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype
            torch.testing.assert_close(a, b, **TOLERANCE[dtype])


def test_cpu_fused_backward_parallel_is_deterministic() -> None:
    """Many threads, one hub column: bit-identical to the single-threaded result."""
    g = torch.Generator().manual_seed(0)
    row = torch.randint(0, 3000, (40_000,), generator=g)
    col = torch.cat([torch.zeros(20_000, dtype=torch.long),
                     torch.randint(0, 3000, (20_000,), generator=g)])
    A = SparseMatrix.from_coo(row, col, None, (3000, 3000))
    values = gaussian(A.nnz, dtype=torch.float32, seed=1)
    x = gaussian(3000, 48, dtype=torch.float32, seed=2)
    grad = gaussian(3000, 48, dtype=torch.float32, seed=3)
    args = (*csc_arrays(A), values, x, grad, True, True)
    serial = cpu.spmm_sum_backward(*args)
    threads = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        parallel = cpu.spmm_sum_backward(*args)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(serial[0], parallel[0]) and torch.equal(serial[1], parallel[1])
    expected = reference.spmm_sum_backward(*args)
    torch.testing.assert_close(serial[0], expected[0], **TOLERANCE[torch.float32])
    torch.testing.assert_close(serial[1], expected[1], **TOLERANCE[torch.float32])


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_public_spmm_gradients_through_the_fused_backward(backend: str, reduce: str) -> None:
    """gradcheck in float64 (fused path), the result against the dense oracle, and
    gradgradcheck (create_graph takes the differentiable two-op path)."""
    for name in ("heavy", "duplicates", "no_edges", "mostly_empty"):
        A = matrix(name)
        x = gaussian(A.num_cols, 3, dtype=torch.float64, seed=2).requires_grad_()
        values = gaussian(A.nnz, dtype=torch.float64, seed=1).requires_grad_()

        def f(x: Tensor, v: Tensor, A: SparseMatrix = A) -> Tensor:
            with use_backend(backend):
                return spmm(A.with_values(v), x, reduce)

        assert torch.autograd.gradcheck(f, (x, values))
        grad = gaussian(A.num_rows, 3, dtype=torch.float64, seed=3)
        gx, gv = torch.autograd.grad(f(x, values), (x, values), grad)
        scale = (A.rowptr[1:] - A.rowptr[:-1]).clamp(min=1).double().unsqueeze(-1)
        expected_x, expected_v = dense_oracle(
            A, values.detach(), x.detach(), grad / scale if reduce == "mean" else grad)
        torch.testing.assert_close(gx, expected_x)
        torch.testing.assert_close(gv, expected_v)
        if A.nnz:
            assert torch.autograd.gradgradcheck(f, (x, values))
        # features only (values without grad), and values only
        x2 = x.detach().requires_grad_()
        (gx_only,) = torch.autograd.grad(f(x2, values.detach()), (x2,), grad)
        torch.testing.assert_close(gx_only, gx)
        v2 = values.detach().requires_grad_()
        (gv_only,) = torch.autograd.grad(f(x.detach(), v2), (v2,), grad)
        torch.testing.assert_close(gv_only, gv)


def test_fused_backward_without_values_and_with_vector_features() -> None:
    A = matrix("duplicates")
    x = gaussian(A.num_cols, dtype=torch.float64, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: spmm(A, x), (x,))


# ----------------------------------------------------------------------------- no winners
@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
def test_extreme_without_arg_same_output_empty_arg(name: str, dtype: torch.dtype) -> None:
    for index_dtype, reduce, width, mode in itertools.product(
        INDEX_TYPES, ("max", "min"), WIDTHS, ("none", "scalar", "heads")
    ):
        A = matrix(name, index_dtype)
        rowptr, col = A.rowptr, A.col
        if mode == "heads":
            values = integers(A.nnz, 3, dtype=dtype, seed=1, low=-2, high=3)
            x = integers(A.num_cols, 3, width, dtype=dtype, seed=2)
        else:
            values = (None if mode == "none"
                      else integers(A.nnz, dtype=dtype, seed=1, low=-2, high=3))
            x = integers(A.num_cols, width, dtype=dtype, seed=2)
        expected, _ = reference.spmm(rowptr, col, values, x, reduce)
        for backend in (cpu, reference):
            out, arg = backend.spmm(rowptr, col, values, x, reduce, False)
            what = f"{backend.__name__} {name} {reduce} {mode} F={width} {index_dtype}"
            assert_identical(out, expected, what)
            assert arg.numel() == 0 and arg.dtype == torch.int32, what  # arg_dtype(nnz)


def test_public_max_gradient_still_goes_to_the_first_winner() -> None:
    """Ties (many with small integers) go to the first entry in CSR order, so the gradient
    of max lands on one source per output element; no_grad forwards give the same output."""
    A = matrix("duplicates")
    x = integers(A.num_cols, 5, dtype=torch.float64, seed=2).requires_grad_()
    with torch.no_grad():
        no_grad_out = spmm(A, x, "max")
    out = spmm(A, x, "max")
    assert torch.equal(out.detach(), no_grad_out)
    (grad_x,) = torch.autograd.grad(out.sum(), (x,))
    # oracle: for each row and feature, the first entry (CSR order) with the maximum
    expected = torch.zeros_like(x)
    for i in range(A.num_rows):
        lo, hi = int(A.rowptr[i]), int(A.rowptr[i + 1])
        for f in range(5):
            if hi > lo:
                cols = A.col[lo:hi].long()
                msgs = x.detach()[cols, f]
                first = int(torch.nonzero(msgs == msgs.max())[0])
                expected[cols[first], f] += 1
    assert torch.equal(grad_x, expected)


def test_custom_op_without_arg_refuses_a_max_gradient() -> None:
    A = matrix("uniform")
    x = gaussian(A.num_cols, 4, dtype=torch.float64, seed=2).requires_grad_()
    out, arg = C.spmm_op(A.rowptr, A.col, None, x, "max", None, None, None, None, False)
    assert arg.numel() == 0
    with pytest.raises(RuntimeError, match="with_arg=False"):
        out.sum().backward()


# ----------------------------------------------------------------------------- triton
@pytest.mark.skipif(torch.cuda.is_available(), reason="interpreter run on CPU tensors only")
def test_triton_mirrors_the_new_contract_in_the_interpreter(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    pytest.importorskip("triton", reason="the triton backend needs the optional 'triton' package")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    import inspect

    from gnnkit.sparse._backends import triton as triton_backend
    from gnnkit.sparse._backends.triton import spmm_kernel

    for fn in ("spmm", "spmm_sum_backward"):
        assert list(inspect.signature(getattr(triton_backend, fn)).parameters) == list(
            inspect.signature(getattr(reference, fn)).parameters), fn
    if not triton_backend.supports_device(torch.device("cpu")):
        pytest.skip("the Triton interpreter is not usable here")
    for name in ("heavy", "duplicates", "no_edges"):
        A = matrix(name)
        values = integers(A.nnz, dtype=torch.float32, seed=1, low=-2, high=3)
        x = integers(A.num_cols, 19, dtype=torch.float32, seed=2)
        grad = integers(A.num_rows, 19, dtype=torch.float32, seed=3)
        for reduce in ("max", "min"):
            expected, _ = reference.spmm(A.rowptr, A.col, values, x, reduce)
            out, arg = triton_backend.spmm(A.rowptr, A.col, values, x, reduce, False)
            assert torch.equal(out, expected) and arg.numel() == 0
            # the split schedule (several pieces per row) skips the winners too
            out3, arg3 = spmm_kernel.gather_reduce(
                A.rowptr, A.col, values, x.view(A.num_cols, 1, 19), reduce, schedule="split",
                policy=spmm_kernel.SchedulePolicy(chunk=3), with_arg=False)
            assert torch.equal(out3.view_as(expected), expected) and arg3.numel() == 0
        args = (*csc_arrays(A), values, x, grad, True, True)
        got, want = triton_backend.spmm_sum_backward(*args), reference.spmm_sum_backward(*args)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert os.environ["TRITON_INTERPRET"] == "1"


# ----------------------------------------------------------------------------- large sources
@pytest.mark.parametrize("with_values", [False, True])
def test_large_sources_match_reference_exactly(with_values: bool) -> None:
    """Sources larger than the caches (20 MB), wide rows (two wide tiles, a 16-wide tile and a
    remainder) and a hub row: sum/mean forward and the fused backward equal the reference bit
    for bit (integer data)."""
    num_nodes, width, nnz = 33_000, 150, 6_000  # x: 19.8 MB float32
    g = torch.Generator().manual_seed(5)
    row = torch.cat([torch.zeros(2_000, dtype=torch.long),
                     torch.randint(0, num_nodes, (nnz - 2_000,), generator=g)])
    col = torch.randint(0, num_nodes, (nnz,), generator=g)
    A = SparseMatrix.from_coo(row, col, None, (num_nodes, num_nodes))
    values = integers(A.nnz, dtype=torch.float32, seed=1, low=-2, high=3) if with_values else None
    x = integers(num_nodes, width, dtype=torch.float32, seed=2)
    for reduce in ("sum", "mean"):
        got = cpu.spmm(A.rowptr, A.col, values, x, reduce)[0]
        expected = reference.spmm(A.rowptr, A.col, values, x, reduce)[0]
        if reduce == "sum":
            assert_identical(got, expected, f"forward {reduce}")
        else:  # the division rounds the same exact sums the same way
            torch.testing.assert_close(got, expected, rtol=0, atol=0)
    grad = integers(num_nodes, width, dtype=torch.float32, seed=3)
    args = (*csc_arrays(A), values, x, grad, True, with_values)
    got_b, expected_b = cpu.spmm_sum_backward(*args), reference.spmm_sum_backward(*args)
    assert_identical(got_b[0], expected_b[0], "grad_x")
    assert_identical(got_b[1], expected_b[1], "grad_values")
