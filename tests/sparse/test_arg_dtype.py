"""The dtype of the max/min winners ``arg``: int32 whenever the empty-row sentinel ``nnz`` fits
(``nnz ≤ 2³¹ − 1``), int64 otherwise.

Checked on every backend (reference, C++, Triton through its interpreter), for ``spmm`` and
``segment``, in the fake implementations that ``torch.compile`` traces with, and through the
public ops' gradients; the backward takes either dtype. Changing the dtype must change no
number: outputs, winners and gradients are compared bit for bit across dtypes and backends
(integer-valued data, so every backend's products are exact and ties are frequent).

The int64 path is exercised on small inputs by lowering the threshold that
``reference.arg_dtype`` compares with (every backend and the fake implementations ask it at
call time); ``arg_dtype`` itself is checked at the real boundary, without allocating anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import ModuleType

import pytest
import torch
from sparse_graphs import make_graph
from torch import Tensor

from gnnkit.sparse import SparseMatrix, segment, spmm, use_backend
from gnnkit.sparse import _custom_ops as C
from gnnkit.sparse._backends import cpu, reference

FLOAT_TYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
INDEX_TYPES = (torch.int32, torch.int64)
MODES = ("none", "scalar", "heads")
GRAPHS = {
    "uniform": ("uniform", 30, 20, 200),
    "heavy": ("heavy", 25, 25, 160),
    "duplicates": ("duplicates", 20, 15, 60),
    "mostly_empty": ("uniform", 40, 9, 12),  # most rows empty: the sentinel
    "no_edges": ("empty", 6, 4, 0),
    "no_rows": ("uniform", 0, 5, 10),
}


pytestmark = pytest.mark.usefixtures("cpu_kernels_single_threaded")


@pytest.fixture
def wide_arg(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``wide_arg(n)``: from now on (this test) ``arg`` is int64 for more than ``n`` entries."""

    def set_limit(max_int32_nnz: int) -> None:
        monkeypatch.setattr(reference, "_INT32_ARG_MAX_NNZ", max_int32_nnz)

    return set_limit


def matrix(name: str, index_dtype: torch.dtype = torch.int64, seed: int = 0) -> SparseMatrix:
    kind, rows, cols, nnz = GRAPHS[name]
    A = make_graph(kind, rows, cols, nnz, seed).matrix()
    return A if index_dtype == torch.int64 else A.index_type(index_dtype)


def integers(*shape: int, dtype: torch.dtype, seed: int, low: int = -4, high: int = 5) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, shape, generator=g).to(dtype)


def inputs(mode: str, A: SparseMatrix, width: int, dtype: torch.dtype
           ) -> tuple[Tensor | None, Tensor]:
    """Values (none, scalar or 3 heads) and features of matching shape, small integers."""
    if mode == "heads":
        return (integers(A.nnz, 3, dtype=dtype, seed=1, low=-2, high=3),
                integers(A.num_cols, 3, width, dtype=dtype, seed=2))
    values = None if mode == "none" else integers(A.nnz, dtype=dtype, seed=1, low=-2, high=3)
    return values, integers(A.num_cols, width, dtype=dtype, seed=2)


def assert_identical(actual: Tensor | None, expected: Tensor | None, what: str) -> None:
    if expected is None:
        assert actual is None, what
        return
    assert actual is not None, what
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert torch.equal(actual, expected), what


def triton_backend(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The Triton backend running on CPU tensors through its interpreter (else skip)."""
    pytest.importorskip("triton", reason="the triton backend needs the optional 'triton' package")
    if torch.cuda.is_available():
        pytest.skip("interpreter run on CPU tensors only")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    from gnnkit.sparse._backends import triton as backend

    if not backend.supports_device(torch.device("cpu")):
        pytest.skip("the Triton interpreter is not usable here")
    return backend


# ----------------------------------------------------------------------------- the rule
def test_arg_dtype_is_int32_exactly_when_the_sentinel_fits() -> None:
    int32_max = torch.iinfo(torch.int32).max
    for nnz in (0, 1, 1_000_000, int32_max - 1, int32_max):
        assert reference.arg_dtype(nnz) == torch.int32, nnz
    for nnz in (int32_max + 1, 2**32, 2**40):
        assert reference.arg_dtype(nnz) == torch.int64, nnz


@pytest.mark.parametrize("index_dtype", INDEX_TYPES, ids=str)
def test_every_backend_and_fake_follow_the_rule_at_the_threshold(
    index_dtype: torch.dtype, wide_arg: Callable[[int], None]
) -> None:
    """With the threshold at nnz, arg is int32; one below, int64 — for max/min winners, the
    empty arg of sum/mean and of ``with_arg=False``, spmm and segment, real and fake."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    A = matrix("heavy", index_dtype)
    x = integers(A.num_cols, 5, dtype=torch.float32, seed=3)
    ptr = torch.tensor([0, 40, 40, A.nnz], dtype=index_dtype)  # segment over the same count
    for limit, expected in ((A.nnz, torch.int32), (A.nnz - 1, torch.int64)):
        wide_arg(limit)
        for reduce, with_arg in itertools.product(("max", "min", "sum"), (True, False)):
            what = f"limit {limit} {reduce} with_arg={with_arg}"
            for backend in (reference, cpu):
                out, arg = backend.spmm(A.rowptr, A.col, None, x, reduce, with_arg)
                assert arg.dtype == expected, f"{backend.__name__} {what}"
                extreme = with_arg and reduce != "sum"
                assert arg.shape == (out.shape if extreme else (0,)), what
            with FakeTensorMode() as mode:
                fake_args = [mode.from_tensor(t) for t in (A.rowptr, A.col, x)]
                _, fake_arg = C.spmm_op(*fake_args[:2], None, fake_args[2], reduce, None, None,
                                        None, None, with_arg)
            assert fake_arg.dtype == expected, f"fake {what}"
        src = integers(A.nnz, 2, 3, dtype=torch.float64, seed=4)
        for backend in (reference, cpu):
            assert backend.segment(src, ptr, "max")[1].dtype == expected
            assert backend.segment(src, ptr, "sum")[1].dtype == expected
        with FakeTensorMode() as mode:
            fake = C.segment_op(mode.from_tensor(src), mode.from_tensor(ptr), "min")
        assert fake[1].dtype == expected and fake[1].shape == (3, 2, 3)


def test_cpu_kernels_refuse_other_arg_dtypes() -> None:
    """The C++ forward and backward take int32 or int64 winners only."""
    A = matrix("uniform")
    x = integers(A.num_cols, 4, dtype=torch.float32, seed=5)
    out, arg = cpu.spmm(A.rowptr, A.col, None, x, "max")
    with pytest.raises(RuntimeError, match="int32 or int64"):
        cpu._native().spmm(A.rowptr, A.col, None, x, "max", True, torch.int16)
    with pytest.raises(RuntimeError, match="int32 or int64"):
        cpu._native().spmm_arg_backward(A.col, None, x.view(-1, 1, 4), out.view(-1, 1, 4),
                                        arg.view(-1, 1, 4).to(torch.int16))


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
def test_int32_and_int64_winners_and_gradients_are_identical(
    name: str, dtype: torch.dtype, wide_arg: Callable[[int], None]
) -> None:
    """C++ and reference, int32 and int64 arg: the same outputs, the same winner positions
    (empty rows holding the sentinel nnz), and bit-identical gradients from either backward
    fed either dtype; multi-head values and every float dtype and tile width."""
    for index_dtype, mode, width, reduce in itertools.product(
        INDEX_TYPES, MODES, (1, 7, 16, 37, 80), ("max", "min")
    ):
        A = matrix(name, index_dtype)
        values, x = inputs(mode, A, width, dtype)
        what = f"{name} {dtype} {index_dtype} {mode} F={width} {reduce}"
        runs = {}
        for wide in (False, True):
            wide_arg(-1 if wide else torch.iinfo(torch.int32).max)
            for backend in (cpu, reference):
                runs[backend.__name__, wide] = backend.spmm(A.rowptr, A.col, values, x, reduce)
        expected_out, expected_arg = runs[reference.__name__, False]
        assert expected_arg.dtype == torch.int32, what
        for (backend_name, wide), (out, arg) in runs.items():
            assert_identical(out, expected_out, f"{what} {backend_name} wide={wide} out")
            assert arg.dtype == (torch.int64 if wide else torch.int32), what
            assert torch.equal(arg.long(), expected_arg.long()), f"{what} {backend_name} arg"
        empty = (A.rowptr[1:] == A.rowptr[:-1]).nonzero().flatten()
        assert bool((expected_arg[empty] == A.nnz).all()), f"{what}: sentinel"
        if A.nnz and A.num_rows:
            assert bool((expected_arg.index_select(0, (A.rowptr[1:] > A.rowptr[:-1])
                                                   .nonzero().flatten()) < A.nnz).all())
        grad = integers(*expected_out.shape, dtype=dtype, seed=6)
        if A.nnz == 0:
            continue  # nothing wins (test_backend_cpu covers the all-zero gradients)
        expected = reference.spmm_arg_backward(A.col, values, x, grad, expected_arg)
        for backend, arg_type in itertools.product((cpu, reference), INDEX_TYPES):
            got = backend.spmm_arg_backward(A.col, values, x, grad, expected_arg.to(arg_type))
            label = f"{what} {backend.__name__} backward from {arg_type}"
            assert_identical(got[0], expected[0], label + " grad_x")
            assert_identical(got[1], expected[1], label + " grad_values")


@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
def test_segment_int32_and_int64_winners_are_identical(
    dtype: torch.dtype, wide_arg: Callable[[int], None]
) -> None:
    src = integers(50, 3, 7, dtype=dtype, seed=7)
    for index_dtype in INDEX_TYPES:
        ptr = torch.tensor([0, 0, 1, 20, 20, 49, 50, 50], dtype=index_dtype)
        for reduce in ("max", "min"):
            wide_arg(torch.iinfo(torch.int32).max)
            expected_out, expected_arg = reference.segment(src, ptr, reduce)
            assert expected_arg.dtype == torch.int32
            assert bool((expected_arg[[0, 3, 6]] == 50).all())  # empty segments: len(src)
            wide_arg(-1)
            for backend in (cpu, reference):
                out, arg = backend.segment(src, ptr, reduce)
                assert_identical(out, expected_out, f"{backend.__name__} {reduce}")
                assert arg.dtype == torch.int64
                assert torch.equal(arg, expected_arg.long())
            wide_arg(torch.iinfo(torch.int32).max)
            out, arg = cpu.segment(src, ptr, reduce)
            assert_identical(out, expected_out, reduce)
            assert_identical(arg, expected_arg, reduce)


def test_triton_arg_dtype_and_winners_match_the_reference(
    monkeypatch: pytest.MonkeyPatch, wide_arg: Callable[[int], None]
) -> None:
    """Both Triton schedules (rows; split, whose pass 2 reads pass 1's winners through an arg
    of the same dtype) write int32 winners, int64 past the threshold, equal to the reference;
    segment too."""
    backend = triton_backend(monkeypatch)
    from gnnkit.sparse._backends.triton import spmm_kernel

    policy = spmm_kernel.SchedulePolicy(chunk=3)
    for name, mode in itertools.product(("heavy", "mostly_empty", "no_edges"), MODES):
        A = matrix(name)
        values, x = inputs(mode, A, 19, torch.float32)
        heads = 3 if mode == "heads" else 1
        src = x.view(A.num_cols, heads, -1)
        for wide, reduce in itertools.product((False, True), ("max", "min")):
            wide_arg(-1 if wide else torch.iinfo(torch.int32).max)
            expected_out, expected_arg = reference.spmm(A.rowptr, A.col, values, x, reduce)
            assert expected_arg.dtype == (torch.int64 if wide else torch.int32)
            what = f"{name} {mode} {reduce} wide={wide}"
            out, arg = backend.spmm(A.rowptr, A.col, values, x, reduce, True)
            assert_identical(out, expected_out, what)
            assert_identical(arg, expected_arg, what + " arg")
            out, arg = spmm_kernel.gather_reduce(A.rowptr, A.col, values, src, reduce,
                                                 schedule="split", policy=policy)
            assert_identical(out.view_as(expected_out), expected_out, what + " split")
            assert_identical(arg.view_as(expected_arg), expected_arg, what + " split arg")
            assert backend.spmm(A.rowptr, A.col, values, x, reduce, False)[1].dtype == arg.dtype
    src = integers(50, 3, 7, dtype=torch.float32, seed=7)
    ptr = torch.tensor([0, 0, 1, 20, 20, 49, 50, 50])
    for wide in (False, True):
        wide_arg(-1 if wide else torch.iinfo(torch.int32).max)
        expected = reference.segment(src, ptr, "max")
        got = backend.segment(src, ptr, "max")
        assert_identical(got[0], expected[0], f"segment wide={wide}")
        assert_identical(got[1], expected[1], f"segment arg wide={wide}")


# ----------------------------------------------------------------------------- public ops
def _public_gradients(A: SparseMatrix, values: Tensor | None, x: Tensor, reduce: str
                      ) -> list[Tensor]:
    leaves = [t.clone().requires_grad_() for t in (x, values) if t is not None]
    matrix_ = A if values is None else A.with_values(leaves[1])
    out = spmm(matrix_, leaves[0], reduce)
    grad = integers(*out.shape, dtype=out.dtype, seed=8)
    return [out.detach(), *torch.autograd.grad(out, leaves, grad)]


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
def test_public_spmm_gradients_identical_for_either_arg_dtype(
    backend: str, dtype: torch.dtype, wide_arg: Callable[[int], None]
) -> None:
    for name, mode, reduce in itertools.product(("heavy", "mostly_empty"), MODES,
                                                ("max", "min")):
        A = matrix(name)
        values, x = inputs(mode, A, 21, dtype)
        with use_backend(backend):
            wide_arg(torch.iinfo(torch.int32).max)
            narrow = _public_gradients(A, values, x, reduce)
            wide_arg(-1)
            wide = _public_gradients(A, values, x, reduce)
        for a, b in zip(narrow, wide, strict=True):
            assert_identical(a, b, f"{backend} {name} {mode} {reduce} {dtype}")


def test_public_segment_gradient_identical_for_either_arg_dtype(
    wide_arg: Callable[[int], None]
) -> None:
    ptr = torch.tensor([0, 0, 1, 20, 20, 49, 50, 50])
    src = integers(50, 3, 7, dtype=torch.float64, seed=9)
    grads = []
    for backend, limit in itertools.product(("cpu", "reference"),
                                            (torch.iinfo(torch.int32).max, -1)):
        wide_arg(limit)
        leaf = src.clone().requires_grad_()
        with use_backend(backend):
            out = segment(leaf, ptr, "max")
        grads.append(torch.autograd.grad(out, leaf, integers(*out.shape, dtype=out.dtype,
                                                                 seed=10))[0])
    for grad in grads[1:]:
        assert_identical(grad, grads[0], "segment gradient")


@pytest.mark.parametrize("wide", [False, True], ids=["int32", "int64"])
def test_gradcheck_either_arg_dtype(wide: bool, wide_arg: Callable[[int], None]) -> None:
    wide_arg(-1 if wide else torch.iinfo(torch.int32).max)
    A = make_graph("duplicates", 7, 6, 14, seed=0).matrix()
    g = torch.Generator().manual_seed(11)

    def randn(*shape: int) -> Tensor:
        return torch.randn(shape, generator=g, dtype=torch.float64).requires_grad_()

    with use_backend("cpu"):
        for reduce in ("max", "min"):
            v, x = randn(A.nnz), randn(A.num_cols, 5)
            assert torch.autograd.gradcheck(lambda v, x, r=reduce: spmm(A.with_values(v), x, r),
                                            (v, x), eps=1e-6, atol=1e-6)
            v, x = randn(A.nnz, 3), randn(A.num_cols, 3, 4)
            assert torch.autograd.gradcheck(lambda v, x, r=reduce: spmm(A.with_values(v), x, r),
                                            (v, x), eps=1e-6, atol=1e-6)
        assert torch.autograd.gradcheck(lambda s: segment(s, torch.tensor([0, 3, 3, 10]), "max"),
                                        (randn(10, 3),), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("wide", [False, True], ids=["int32", "int64"])
def test_custom_ops_pass_opcheck(wide: bool, wide_arg: Callable[[int], None]) -> None:
    """Fake and real outputs agree in dtype (``opcheck`` compares their metadata), also under
    AOT dispatch with dynamic shapes, where nnz is symbolic."""
    wide_arg(-1 if wide else torch.iinfo(torch.int32).max)
    A = matrix("heavy")
    x = torch.randn(A.num_cols, 5, dtype=torch.float64, requires_grad=True)
    v = torch.randn(A.nnz, dtype=torch.float64, requires_grad=True)
    for reduce, with_arg in itertools.product(("max", "min"), (True, False)):
        xs, vs = (x, v) if with_arg else (x.detach(), v.detach())  # no gradient without arg
        torch.library.opcheck(C.spmm_op, (A.rowptr, A.col, vs, xs, reduce, None, None, None,
                                          None, with_arg))
    src = torch.randn(40, 3, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(C.segment_op, (src, torch.tensor([0, 10, 10, 40]), "max"))


class _Extremes(torch.nn.Module):
    def forward(self, A: SparseMatrix, x: Tensor, heads: Tensor, ptr: Tensor) -> Tensor:
        h = spmm(A, x, "max") - spmm(A.with_values(heads), x.view(-1, 2, 3), "min").flatten(1)
        return segment(h, ptr, "max")


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("wide", [False, True], ids=["int32", "int64"])
def test_compiled_extremes_equal_eager_bit_for_bit(
    dynamic: bool, wide: bool, wide_arg: Callable[[int], None]
) -> None:
    wide_arg(-1 if wide else torch.iinfo(torch.int32).max)
    A = matrix("heavy")
    x = integers(A.num_cols, 6, dtype=torch.float32, seed=12)
    heads = integers(A.nnz, 2, dtype=torch.float32, seed=13, low=-2, high=3)
    ptr = torch.tensor([0, 10, 10, A.num_rows])
    grad = integers(3, 6, dtype=torch.float32, seed=14)
    results = []
    torch._dynamo.reset()
    compiled = torch.compile(_Extremes(), fullgraph=True, backend="aot_eager", dynamic=dynamic)
    for model in (_Extremes(), compiled):
        leaves = (x.clone().requires_grad_(), heads.clone().requires_grad_())
        out = model(A, leaves[0], leaves[1], ptr)
        results.append([out.detach(), *torch.autograd.grad(out, leaves, grad)])
    for got, expected in zip(results[1], results[0], strict=True):
        assert_identical(got, expected, f"compiled dynamic={dynamic} wide={wide}")
