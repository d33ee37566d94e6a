"""Properties of the ``cpu`` backend beyond matching the reference: determinism, gradients
through the public ops (float64 gradcheck with the C++ kernels forced), and torch.compile
without graph breaks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from sparse_graphs import make_graph
from torch import Tensor

from gnnkit.sparse import SparseMatrix, edge_softmax, sddmm, segment, spmm, use_backend
from gnnkit.sparse._backends import cpu

pytestmark = pytest.mark.usefixtures("cpu_kernels_single_threaded")


# ----------------------------------------------------------------------------- determinism
def _skewed_csr(num_rows: int, nnz: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """A pattern whose row lengths follow a power law, so that the nnz-balanced row blocks
    differ a lot from equal row counts; returns (rowptr, col, row)."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.arange(1, num_rows + 1, dtype=torch.float64).pow(-1.2)
    row = torch.multinomial(weights, nnz, replacement=True, generator=g).sort().values
    col = torch.randint(0, num_rows, (nnz,), generator=g)
    rowptr = torch.zeros(num_rows + 1, dtype=torch.long)
    rowptr[1:] = torch.cumsum(torch.bincount(row, minlength=num_rows), 0)
    return rowptr, col, row


def _all_kernels(rowptr: Tensor, col: Tensor, row: Tensor, x: Tensor, v: Tensor) -> list[Tensor]:
    out_max, arg = cpu.spmm(rowptr, col, v, x, "max")
    grad = torch.ones_like(out_max)
    scores = cpu.sddmm(row, col, x, x, "dot")
    probs = cpu.edge_softmax(rowptr, scores)
    return [
        cpu.spmm(rowptr, col, v, x, "sum")[0],
        cpu.spmm(rowptr, col, None, x, "mean")[0],
        out_max,
        arg,
        *[t for t in cpu.spmm_arg_backward(col, v, x, grad, arg) if t is not None],
        scores,
        probs,
        cpu.edge_softmax_backward(rowptr, probs, scores),
        cpu.segment(x, torch.tensor([0, 5, 5, x.shape[0]]), "sum")[0],
    ]


def test_kernels_are_bit_identical_across_runs_and_thread_counts() -> None:
    rowptr, col, row = _skewed_csr(3000, 60000, seed=0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3000, 33, generator=g)
    v = torch.randn(col.numel(), generator=g)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # several row blocks run concurrently, even on one core
        first = _all_kernels(rowptr, col, row, x, v)
        second = _all_kernels(rowptr, col, row, x, v)
        torch.set_num_threads(1)
        single_thread = _all_kernels(rowptr, col, row, x, v)
    finally:
        torch.set_num_threads(threads)
    for a, b, c in zip(first, second, single_thread, strict=True):
        assert torch.equal(a, b)
        assert torch.equal(a, c)


# ----------------------------------------------------------------------------- gradients
def _matrix(seed: int = 0) -> SparseMatrix:
    graph = make_graph("duplicates", 7, 6, 14, seed)
    return graph.matrix()


def _randn(*shape: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).requires_grad_()


def _gradcheck_on_cpu(fn: Callable[..., Tensor], *inputs: Tensor) -> None:
    with use_backend("cpu"):
        assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("mode", ["scalar", "heads"])
def test_spmm_gradcheck(reduce: str, mode: str) -> None:
    A = _matrix()
    if mode == "scalar":
        values, x = _randn(A.nnz, seed=1), _randn(A.num_cols, 5, seed=2)
    else:
        values, x = _randn(A.nnz, 3, seed=1), _randn(A.num_cols, 3, 4, seed=2)
    _gradcheck_on_cpu(lambda v, x: spmm(A.with_values(v), x, reduce), values, x)


def test_spmm_without_values_and_block_gradcheck() -> None:
    A = _matrix(seed=3)
    for reduce in ("sum", "mean", "max", "min"):
        _gradcheck_on_cpu(lambda x, r=reduce: spmm(A, x, r), _randn(A.num_cols, 5, seed=4))
    blocks, x = _randn(A.nnz, 2, 3, seed=5), _randn(A.num_cols, 3, 4, seed=6)
    for reduce in ("sum", "mean"):
        _gradcheck_on_cpu(lambda b, x, r=reduce: spmm(A.with_values(b), x, r), blocks, x)


@pytest.mark.parametrize("op", ["dot", "add", "mul"])
def test_sddmm_gradcheck(op: str) -> None:
    A = _matrix(seed=7)
    for tail in ((5,), (2, 4)):
        a, b = _randn(A.num_rows, *tail, seed=8), _randn(A.num_cols, *tail, seed=9)
        _gradcheck_on_cpu(lambda a, b: sddmm(A, a, b, op), a, b)


def test_edge_softmax_and_segment_gradcheck() -> None:
    A = _matrix(seed=10)
    _gradcheck_on_cpu(lambda s: edge_softmax(A, s), _randn(A.nnz, 2, seed=11))
    _gradcheck_on_cpu(lambda s: edge_softmax(A, s), _randn(A.nnz, seed=12))
    ptr = torch.tensor([0, 3, 3, 9, 10])
    for reduce in ("sum", "mean", "max", "min"):
        _gradcheck_on_cpu(lambda s, r=reduce: segment(s, ptr, r), _randn(10, 3, seed=13))


def test_gradcheck_really_runs_the_cpu_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    for name in ("spmm", "sddmm", "spmm_sum_backward"):
        kernel = getattr(cpu, name)

        def counting(*args: object, _kernel: Callable[..., object] = kernel,
                     _name: str = name) -> object:
            calls.append(_name)
            return _kernel(*args)

        monkeypatch.setattr(cpu, name, counting)
    A = _matrix()
    values, x = _randn(A.nnz, seed=14), _randn(A.num_cols, 3, seed=15)
    with use_backend("cpu"):
        spmm(A.with_values(values), x).sum().backward()
    # the forward, then one fused pass for grad_x and grad_values
    assert calls == ["spmm", "spmm_sum_backward"], calls


# ----------------------------------------------------------------------------- compile
class _Layer(torch.nn.Module):
    def forward(self, A: SparseMatrix, x: Tensor) -> Tensor:
        attention = edge_softmax(A, sddmm(A, x, x, "dot"))
        h = spmm(A.with_values(attention), x) + spmm(A, x, "max") + spmm(A, x, "mean")
        return h + sddmm(A, h, h, "mul").sum()


def test_compile_with_cpu_backend_has_no_graph_breaks() -> None:
    graph = make_graph("heavy", 12, 12, 40, seed=16)
    A = graph.matrix()
    A.csc()  # structure caches filled outside the compiled region
    x = torch.randn(12, 8)
    torch._dynamo.reset()
    with use_backend("cpu"):
        explanation = torch._dynamo.explain(_Layer())(A, x)
        eager = _Layer()(A, x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    with use_backend("reference"):
        torch.testing.assert_close(eager, _Layer()(A, x))
