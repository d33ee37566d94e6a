"""``intersect_aggregate``: the fused common-neighbour sum and its gradient, on every backend.

``out[k] = Σ_{c ∈ cols(A, left[k]) ∩ cols(A, right[k])} X[c]`` on A's pattern (a duplicated
entry counts once). Checked against

* a naive Python oracle that sums in the documented order (each pair from 0, common columns
  in increasing order; each gradient row from 0, pairs in increasing order), with
  ``torch.equal`` — this pins the reference backend's summation order;
* an independent dense oracle ``(D[left] * D[right]) @ X`` with ``D`` the dense 0/1 pattern
  built from the raw edge list (float64, tolerance: a matmul sums in its own order);
* :func:`intersect_rows` + :func:`spmm` of the set matrix (the path the op replaces), bit for
  bit;

and every backend (``cpu``, ``triton`` through Triton's interpreter on CPU tensors) against the
reference with ``torch.equal`` on Gaussian data: the kernels reproduce the reference's order,
so no tolerance is needed. Inputs cover empty rows, isolated nodes, duplicated columns, a hub
row (the C++ galloping search, many Triton blocks), no pairs, no edges, ``left == right``,
non-contiguous features and indices, int32/int64 structures and all four float dtypes.
"""

from __future__ import annotations

import os
from types import ModuleType

import pytest
import torch
from sparse_graphs import PAIR_GRAPHS, EdgeList, hub_graph, make_graph
from torch import Tensor

from gnnkit.sparse import (
    SparseMatrix,
    intersect_aggregate,
    intersect_rows,
    spmm,
    use_backend,
)
from gnnkit.sparse._backends import cpu, reference

FLOAT_TYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
INDEX_TYPES = (torch.int32, torch.int64)
ACC = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


pytestmark = pytest.mark.usefixtures("cpu_kernels_single_threaded")


# ----------------------------------------------------------------------------- inputs
GRAPHS = PAIR_GRAPHS


def pairs_for(graph: EdgeList, count: int, seed: int) -> tuple[Tensor, Tensor]:
    """Random pairs plus the adversarial ones: ``left == right``, the hub (row 0) against
    everything, the last row (isolated in ``hub``)."""
    n = graph.num_rows
    if n == 0:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty.clone()
    g = torch.Generator().manual_seed(seed)
    left = torch.randint(0, n, (count,), generator=g)
    right = torch.randint(0, n, (count,), generator=g)
    left[:3] = right[:3]  # left == right: every distinct column of the row
    left[3:6] = 0
    right[6:8] = n - 1
    return left, right


def gaussian(*shape: int, dtype: torch.dtype, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def neighbour_sets(graph: EdgeList) -> list[set[int]]:
    sets: list[set[int]] = [set() for _ in range(graph.num_rows)]
    for r, c in zip(graph.row.tolist(), graph.col.tolist(), strict=True):
        sets[r].add(c)
    return sets


def ordered_oracle(graph: EdgeList, left: Tensor, right: Tensor, x: Tensor, grad: Tensor
                   ) -> tuple[Tensor, Tensor]:
    """Forward and backward by Python loops, in the documented summation order."""
    acc = ACC.get(x.dtype, x.dtype)
    sets = neighbour_sets(graph)
    common = [sorted(sets[int(i)] & sets[int(j)]) for i, j in zip(left, right, strict=True)]
    out = torch.zeros(left.numel(), *x.shape[1:], dtype=acc)
    for k, columns in enumerate(common):
        for c in columns:
            out[k] = out[k] + x[c].to(acc)
    grad_x = torch.zeros(graph.num_cols, *x.shape[1:], dtype=acc)
    for k, columns in enumerate(common):
        for c in columns:
            grad_x[c] = grad_x[c] + grad[k].to(acc)
    return out.to(x.dtype), grad_x.to(x.dtype)


def dense_pattern(graph: EdgeList) -> Tensor:
    dense = torch.zeros(graph.num_rows, graph.num_cols, dtype=torch.float64)
    dense[graph.row, graph.col] = 1.0  # duplicates set the same entry: a pattern
    return dense


# ----------------------------------------------------------------------------- the reference
@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("dtype", FLOAT_TYPES)
def test_reference_follows_the_documented_order(name: str, dtype: torch.dtype) -> None:
    graph = GRAPHS[name]()
    A = graph.matrix()
    left, right = pairs_for(graph, 25, seed=5)
    x = gaussian(graph.num_cols, 6, dtype=dtype, seed=6)
    grad = gaussian(left.numel(), 6, dtype=dtype, seed=7)
    out = reference.intersect_aggregate(A.rowptr, A.col, left, right, x)
    grad_x = reference.intersect_aggregate_backward(A.rowptr, A.col, left, right, grad,
                                                    graph.num_cols)
    expected_out, expected_grad = ordered_oracle(graph, left, right, x, grad)
    assert out.dtype == dtype and torch.equal(out, expected_out)
    assert grad_x.dtype == dtype and torch.equal(grad_x, expected_grad)


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_matches_dense_oracle_and_gradient(name: str, backend: str) -> None:
    graph = GRAPHS[name]()
    A = graph.matrix()
    dense = dense_pattern(graph)
    left, right = pairs_for(graph, 30, seed=8)
    x = gaussian(graph.num_cols, 5, dtype=torch.float64, seed=9).requires_grad_()
    with use_backend(backend):
        out = intersect_aggregate(A, left, right, x)
        (grad_x,) = torch.autograd.grad(out.square().sum(), x)
    expected = (dense[left] * dense[right]) @ x
    (expected_grad,) = torch.autograd.grad(expected.square().sum(), x)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_x, expected_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("dtype", FLOAT_TYPES)
def test_equals_the_set_matrix_path_bit_for_bit(backend: str, dtype: torch.dtype) -> None:
    """Same numbers as ``spmm`` of :func:`intersect_rows`'s set matrix, gradients included."""
    graph = hub_graph(50, seed=3)
    A = graph.matrix()
    left, right = pairs_for(graph, 60, seed=10)
    x = gaussian(graph.num_cols, 21, dtype=dtype, seed=11)
    grad = gaussian(left.numel(), 21, dtype=dtype, seed=12)
    x_fused, x_sets = x.clone().requires_grad_(), x.clone().requires_grad_()
    with use_backend(backend):
        fused = intersect_aggregate(A, left, right, x_fused)
        ptr, common = intersect_rows(A, left, right)
        sets = SparseMatrix(ptr, common, None, (left.numel(), graph.num_cols))
        expected = spmm(sets, x_sets)
        fused.backward(grad)
        expected.backward(grad)
    assert torch.equal(fused, expected)
    assert torch.equal(x_fused.grad, x_sets.grad)


# ----------------------------------------------------------------------------- cpu backend
@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("index_dtype", INDEX_TYPES)
@pytest.mark.parametrize("dtype", FLOAT_TYPES)
def test_cpu_kernels_equal_reference(name: str, index_dtype: torch.dtype,
                                     dtype: torch.dtype) -> None:
    graph = GRAPHS[name]()
    A = graph.matrix().index_type(index_dtype)
    left, right = pairs_for(graph, 40, seed=13)
    for width in (1, 7, 16, 37, 80):  # remainder, one vector, wide tiles + remainder
        x = gaussian(graph.num_cols, width, dtype=dtype, seed=width)
        grad = gaussian(left.numel(), width, dtype=dtype, seed=width + 1)
        args = (A.rowptr, A.col, left, right)
        got = cpu.intersect_aggregate(*args, x)
        assert got.dtype == dtype
        assert torch.equal(got, reference.intersect_aggregate(*args, x)), width
        got_grad = cpu.intersect_aggregate_backward(*args, grad, graph.num_cols)
        assert torch.equal(got_grad,
                           reference.intersect_aggregate_backward(*args, grad, graph.num_cols))


def test_cpu_hub_row_against_short_rows() -> None:
    """A row 100x longer than the others (the C++ galloping search) with duplicates on both
    sides of the intersection."""
    hub = torch.cat([torch.arange(0, 400), torch.arange(0, 400, 7)]).sort().values
    rows = [hub, torch.tensor([3, 3, 7, 7, 399]), torch.tensor([0, 5, 14, 14, 398, 399])]
    rowptr = torch.tensor([0, *torch.tensor([r.numel() for r in rows]).cumsum(0).tolist()])
    col = torch.cat(rows)
    left, right = torch.tensor([0, 1, 0, 2, 1, 0]), torch.tensor([1, 0, 2, 0, 2, 0])
    x = gaussian(400, 19, dtype=torch.float32, seed=14)
    grad = gaussian(6, 19, dtype=torch.float32, seed=15)
    for index_dtype in INDEX_TYPES:
        args = (rowptr.to(index_dtype), col.to(index_dtype), left, right)
        out = cpu.intersect_aggregate(*args, x)
        assert torch.equal(out, reference.intersect_aggregate(*args, x))
        torch.testing.assert_close(out[0], x[[3, 7, 399]].sum(0))
        torch.testing.assert_close(out[5], x.sum(0))  # the hub with itself: 400 columns
        assert torch.equal(cpu.intersect_aggregate_backward(*args, grad, 400),
                           reference.intersect_aggregate_backward(*args, grad, 400))


@pytest.mark.parametrize("index_dtype", INDEX_TYPES)
def test_cpu_bitset_path_on_long_rows_with_shared_ends(index_dtype: torch.dtype) -> None:
    """Rows long enough for the C++ bitset intersection (≥ 32 entries together), with
    duplicated columns on both sides, pairs sorted by their left end (the marked row is kept
    across a run) and unsorted (marked and cleared per pair), a pair with both ends equal, and
    ends that swap roles: every case equals the reference bit for bit, forward and backward."""
    generator = torch.Generator().manual_seed(21)
    num_nodes = 300
    rows = []
    for _ in range(num_nodes):
        degree = int(torch.randint(0, 90, (1,), generator=generator))
        members = torch.randint(0, num_nodes, (degree,), generator=generator)
        repeated = members[: degree // 5]  # duplicates inside the row
        rows.append(torch.cat([members, repeated]).sort().values)
    rowptr = torch.tensor([0, *torch.tensor([r.numel() for r in rows]).cumsum(0).tolist()])
    col = torch.cat(rows)
    left = torch.randint(0, num_nodes, (400,), generator=generator)
    right = torch.randint(0, num_nodes, (400,), generator=generator)
    grouped = torch.sort(left, stable=True)
    cases = {
        "unsorted": (left, right),
        "grouped by left": (grouped.values, right[grouped.indices]),
        "grouped by right": (right[grouped.indices], grouped.values),
        "equal ends": (left, left),
    }
    x = gaussian(num_nodes, 37, dtype=torch.float32, seed=22)
    grad = gaussian(400, 37, dtype=torch.float32, seed=23)
    for name, (a, b) in cases.items():
        args = (rowptr.to(index_dtype), col.to(index_dtype), a.contiguous(), b.contiguous())
        assert torch.equal(cpu.intersect_aggregate(*args, x),
                           reference.intersect_aggregate(*args, x)), name
        assert torch.equal(cpu.intersect_aggregate_backward(*args, grad, num_nodes),
                           reference.intersect_aggregate_backward(*args, grad, num_nodes)), name


def test_cpu_results_do_not_depend_on_the_thread_count() -> None:
    """Large enough for several pair blocks (forward) and one range of gradient rows per
    thread (backward): identical to the reference at 1, 2 and 3 threads (3: uneven ranges,
    more threads than cores here)."""
    graph = hub_graph(300, seed=4)
    A = graph.matrix()
    left, right = pairs_for(graph, 3000, seed=16)
    x = gaussian(graph.num_cols, 70, dtype=torch.float32, seed=17)
    grad = gaussian(left.numel(), 70, dtype=torch.float32, seed=18)
    args = (A.rowptr, A.col, left, right)
    expected = reference.intersect_aggregate(*args, x)
    expected_grad = reference.intersect_aggregate_backward(*args, grad, graph.num_cols)
    for threads in (1, 2, 3):
        torch.set_num_threads(threads)
        try:
            assert torch.equal(cpu.intersect_aggregate(*args, x), expected), threads
            assert torch.equal(cpu.intersect_aggregate_backward(*args, grad, graph.num_cols),
                               expected_grad), threads
        finally:
            torch.set_num_threads(1)


# ----------------------------------------------------------------------------- inputs of the op
@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_non_contiguous_inputs_and_mixed_index_dtypes(backend: str) -> None:
    graph = hub_graph(30, seed=5)
    A = graph.matrix().index_type(torch.int32)
    left, right = pairs_for(graph, 20, seed=19)
    wide = gaussian(8, graph.num_cols, dtype=torch.float32, seed=20)
    x = wide.t()  # (N, 8), column-major
    assert not x.is_contiguous()
    spread_left = torch.zeros(2 * left.numel(), dtype=torch.int32)
    spread_left[::2] = left.to(torch.int32)
    strided_left = spread_left[::2]
    assert not strided_left.is_contiguous()
    with use_backend(backend):
        got = intersect_aggregate(A, strided_left, right, x)
        expected = intersect_aggregate(A.index_type(torch.int64), left, right, x.contiguous())
    assert torch.equal(got, expected)
    # features of any trailing shape, and a vector
    x3 = gaussian(graph.num_cols, 2, 3, dtype=torch.float64, seed=21)
    with use_backend(backend):
        out3 = intersect_aggregate(A, left, right, x3)
        out1 = intersect_aggregate(A, left, right, x3[:, 0, 0])
    assert out3.shape == (left.numel(), 2, 3)
    assert torch.equal(out3.reshape(left.numel(), 6),
                       intersect_aggregate(A, left, right, x3.reshape(-1, 6)))
    assert out1.shape == (left.numel(),) and torch.equal(out1, out3[:, 0, 0])


def test_no_pairs_no_edges_no_features() -> None:
    A = hub_graph(10).matrix()
    x = torch.randn(10, 4, requires_grad=True)
    none = torch.zeros(0, dtype=torch.long)
    for backend in ("reference", "cpu"):
        with use_backend(backend):
            out = intersect_aggregate(A, none, none, x)
            assert out.shape == (0, 4)
            out.sum().backward()
            assert torch.equal(x.grad, torch.zeros(10, 4))
            x.grad = None
            empty = SparseMatrix.from_edge_index(torch.zeros(2, 0, dtype=torch.long), shape=10)
            out = intersect_aggregate(empty, torch.tensor([0, 3]), torch.tensor([3, 3]), x)
            assert torch.equal(out, torch.zeros(2, 4))
            no_features = intersect_aggregate(A, torch.tensor([1]), torch.tensor([2]),
                                              torch.zeros(10, 0))
            assert no_features.shape == (1, 0)


def test_unsorted_matrix_is_coalesced_first() -> None:
    """A matrix built from unsorted CSR arrays (with duplicates) gives the pattern's sets."""
    rowptr = torch.tensor([0, 4, 7, 9])
    col = torch.tensor([2, 0, 2, 1, 1, 2, 1, 0, 2])
    A = SparseMatrix(rowptr, col, None, (3, 3))
    assert not A.structure.sorted_rows
    x = torch.tensor([[1.0], [10.0], [100.0]])
    left, right = torch.tensor([0, 1, 0]), torch.tensor([1, 2, 0])
    for backend in ("reference", "cpu"):
        with use_backend(backend):
            out = intersect_aggregate(A, left, right, x)
        # N(0) = {0, 1, 2}, N(1) = {1, 2}, N(2) = {0, 2}
        assert out.flatten().tolist() == [110.0, 100.0, 111.0]


def test_errors_name_the_argument_and_the_fix() -> None:
    A = make_graph("uniform", 4, 5, 10, seed=22).matrix()
    x = torch.randn(5, 3)
    pair = torch.tensor([0, 1])
    with pytest.raises(TypeError, match="SparseMatrix"):
        intersect_aggregate(torch.eye(4), pair, pair, x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"X must have one row per column of A: X.shape = "
                                         r"\(4, 3\) but A.shape = \(4, 5\)"):
        intersect_aggregate(A, pair, pair, torch.randn(4, 3))
    with pytest.raises(TypeError, match=r"X must be floating point.*X\.float\(\)"):
        intersect_aggregate(A, pair, pair, torch.ones(5, 3, dtype=torch.long))
    with pytest.raises(TypeError, match=r"X must be a torch\.Tensor"):
        intersect_aggregate(A, pair, pair, [[1.0]] * 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="X must have one row per column"):
        intersect_aggregate(A, pair, pair, torch.tensor(1.0))
    with pytest.raises(TypeError, match=r"left must be an int32 or int64 torch\.Tensor, got "
                                        r"torch\.float32"):
        intersect_aggregate(A, pair.float(), pair, x)
    with pytest.raises(ValueError, match=r"right must be 1-D, got shape \(2, 1\).*pairs\[0\]"):
        intersect_aggregate(A, pair, pair.view(2, 1), x)
    with pytest.raises(ValueError, match=r"right must index rows of A in \[0, 4\), found "
                                         r"0 … 4"):
        intersect_aggregate(A, pair, torch.tensor([0, 4]), x)
    with pytest.raises(ValueError, match=r"left must index rows of A in \[0, 4\).*-1"):
        intersect_aggregate(A, torch.tensor([-1, 0]), pair, x)
    with pytest.raises(ValueError, match=r"left has 2 entries but right has 1.*one entry per"):
        intersect_aggregate(A, pair, torch.tensor([0]), x)
    with pytest.raises(ValueError, match=r"X is on meta but the sparse matrix is on cpu "
                                         r"\(move it with X\.to\('cpu'\)\)"):
        intersect_aggregate(A, pair, pair, torch.randn(5, 3, device="meta"))
    with pytest.raises(ValueError, match=r"left is on meta but A is on cpu.*left.to\(A.device\)"):
        intersect_aggregate(A, pair.to("meta"), pair, x)


# ----------------------------------------------------------------------------- autograd
@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_gradcheck_and_gradgradcheck(backend: str) -> None:
    graph = hub_graph(14, seed=6)
    A = graph.matrix()
    left, right = pairs_for(graph, 12, seed=23)
    x = gaussian(graph.num_cols, 3, dtype=torch.float64, seed=24).requires_grad_()
    with use_backend(backend):
        assert torch.autograd.gradcheck(lambda t: intersect_aggregate(A, left, right, t), (x,))
        assert torch.autograd.gradgradcheck(
            lambda t: intersect_aggregate(A, left, right, t).square(), (x,)
        )


def test_no_gradient_to_indices_and_detached_without_grad() -> None:
    A = hub_graph(10).matrix()
    x = torch.randn(10, 2)
    out = intersect_aggregate(A, torch.tensor([0]), torch.tensor([1]), x)
    assert not out.requires_grad
    with torch.no_grad():
        out = intersect_aggregate(A, torch.tensor([0]), torch.tensor([1]),
                                  x.requires_grad_())
    assert not out.requires_grad


# ----------------------------------------------------------------------------- torch.compile
def _pooled_model(A: SparseMatrix, left: Tensor, right: Tensor, x: Tensor,
                  weight: Tensor) -> Tensor:
    return intersect_aggregate(A, left, right, torch.tanh(x @ weight)).square().sum(-1)


def test_compiles_fullgraph_with_zero_breaks_and_matches_eager() -> None:
    graph = hub_graph(20, seed=7)
    A = graph.matrix()
    left, right = pairs_for(graph, 15, seed=25)
    x = gaussian(graph.num_cols, 4, dtype=torch.float32, seed=26)
    weight = gaussian(4, 6, dtype=torch.float32, seed=27)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(_pooled_model)(A, left, right, x, weight)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
    torch._dynamo.reset()
    compiled = torch.compile(_pooled_model, fullgraph=True, backend="aot_eager")
    w_eager, w_compiled = weight.clone().requires_grad_(), weight.clone().requires_grad_()
    expected = _pooled_model(A, left, right, x, w_eager)
    got = compiled(A, left, right, x, w_compiled)
    torch.testing.assert_close(got, expected)
    expected.sum().backward()
    got.sum().backward()
    torch.testing.assert_close(w_compiled.grad, w_eager.grad)


def test_compile_needs_a_matrix_known_to_be_sorted() -> None:
    A = SparseMatrix(torch.tensor([0, 2, 3]), torch.tensor([1, 0, 1]), None, (2, 2))
    assert not A.structure.sorted_rows
    x = torch.randn(2, 3)
    pair = torch.tensor([0, 1])

    def pooled(matrix: SparseMatrix) -> Tensor:
        return intersect_aggregate(matrix, pair, pair, x)

    torch._dynamo.reset()
    with pytest.raises(Exception, match="coalesce"):
        torch.compile(pooled, fullgraph=True, backend="aot_eager")(A)
    torch._dynamo.reset()
    coalesced = A.coalesce()
    compiled = torch.compile(pooled, fullgraph=True, backend="aot_eager")
    assert torch.equal(compiled(coalesced), pooled(A))


# ----------------------------------------------------------------------------- triton
TRITON_CASES = [  # (graph, float dtype, index dtype, width)
    ("hub", torch.float32, torch.int64, 19),
    ("duplicates", torch.float64, torch.int32, 19),
    ("uniform", torch.float16, torch.int64, 5),
    ("loops", torch.bfloat16, torch.int32, 17),
    ("rectangular", torch.float32, torch.int32, 1),
]


@pytest.fixture(scope="module")
def triton_backend() -> ModuleType:
    pytest.importorskip("triton", reason="the triton backend needs the optional 'triton' package")
    from gnnkit.sparse._backends import triton as backend

    return backend


def test_backends_expose_the_reference_signatures(triton_backend: ModuleType) -> None:
    import inspect

    for name in ("intersect_aggregate", "intersect_aggregate_backward"):
        expected = list(inspect.signature(getattr(reference, name)).parameters)
        for backend in (cpu, triton_backend):
            assert list(inspect.signature(getattr(backend, name)).parameters) == expected


@pytest.mark.parametrize(("name", "dtype", "index_dtype", "width"), TRITON_CASES)
def test_triton_kernels_equal_reference(triton_backend: ModuleType, name: str,
                                        dtype: torch.dtype, index_dtype: torch.dtype,
                                        width: int) -> None:
    """Through the interpreter on CPU tensors (``BLOCK_E=4``, ``BLOCK_F=16``: several blocks per
    row and feature tiles with a remainder; 5 ``grad_x`` rows per backward program)."""
    graph = GRAPHS[name]()
    A = graph.matrix().index_type(index_dtype)
    left, right = pairs_for(graph, 14, seed=28)
    x = gaussian(graph.num_cols, width, dtype=dtype, seed=29)
    grad = gaussian(left.numel(), width, dtype=dtype, seed=30)
    args = (A.rowptr, A.col, left, right)
    out = triton_backend.intersect_aggregate(*args, x)
    assert out.dtype == dtype
    assert torch.equal(out, reference.intersect_aggregate(*args, x))
    grad_x = triton_backend.intersect_aggregate_backward(*args, grad, graph.num_cols)
    assert torch.equal(grad_x,
                       reference.intersect_aggregate_backward(*args, grad, graph.num_cols))


def test_triton_adversarial_inputs(triton_backend: ModuleType) -> None:
    """No pairs, no edges, no columns, a hub row against itself and short rows, duplicates on
    both sides, strided features and indices."""
    hub = torch.cat([torch.arange(0, 40), torch.arange(0, 40, 7)]).sort().values
    rows = [hub, torch.tensor([3, 3, 7, 7, 39]), torch.tensor([], dtype=torch.long),
            torch.tensor([0, 5, 14, 14, 38, 39])]
    rowptr = torch.tensor([0, *torch.tensor([r.numel() for r in rows]).cumsum(0).tolist()])
    col = torch.cat(rows)
    spread = torch.tensor([0, 9, 1, 9, 0, 9, 3, 9, 2, 9, 0, 9])
    left = spread[::2]  # [0, 1, 0, 3, 2, 0], strided
    right = torch.tensor([1, 0, 3, 0, 0, 0], dtype=torch.int32)
    x = gaussian(20, 40, dtype=torch.float32, seed=31).t()  # (40, 20), strided
    grad = gaussian(20, 6, dtype=torch.float32, seed=32).t()
    args = (rowptr, col, left, right)
    assert torch.equal(triton_backend.intersect_aggregate(*args, x),
                       reference.intersect_aggregate(*args, x))
    assert torch.equal(triton_backend.intersect_aggregate_backward(*args, grad, 40),
                       reference.intersect_aggregate_backward(*args, grad, 40))
    none = torch.zeros(0, dtype=torch.long)
    assert triton_backend.intersect_aggregate(rowptr, col, none, none, x).shape == (0, 20)
    assert torch.equal(triton_backend.intersect_aggregate_backward(
        rowptr, col, none, none, grad[:0], 40), torch.zeros(40, 20))
    empty_ptr, empty_col = torch.zeros(4, dtype=torch.long), none
    assert torch.equal(triton_backend.intersect_aggregate(
        empty_ptr, empty_col, torch.tensor([0, 2]), torch.tensor([2, 2]), x[:0]),
        torch.zeros(2, 20))
    assert torch.equal(triton_backend.intersect_aggregate_backward(
        empty_ptr, empty_col, torch.tensor([0, 2]), torch.tensor([2, 2]), grad[:2], 0),
        torch.zeros(0, 20))


@pytest.mark.skipif(torch.cuda.is_available(), reason="interpreter run on CPU tensors only")
def test_triton_backend_through_the_op_and_autograd(triton_backend: ModuleType,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.delenv("GNNKIT_BACKEND", raising=False)
    if not triton_backend.supports_device(torch.device("cpu")):
        pytest.skip("the Triton interpreter is not usable here")
    graph = hub_graph(12, seed=8)
    A = graph.matrix()
    left, right = pairs_for(graph, 9, seed=33)
    x = gaussian(graph.num_cols, 3, dtype=torch.float64, seed=34)
    x_triton, x_reference = x.clone().requires_grad_(), x.clone().requires_grad_()
    with use_backend("triton"):
        out = intersect_aggregate(A, left, right, x_triton)
        out.square().sum().backward()
    with use_backend("reference"):
        expected = intersect_aggregate(A, left, right, x_reference)
        expected.square().sum().backward()
    assert torch.equal(out, expected)
    assert torch.equal(x_triton.grad, x_reference.grad)
    assert os.environ["TRITON_INTERPRET"] == "1"


def _nvidia_target() -> object | None:
    try:
        from triton.backends import backends
        from triton.backends.compiler import GPUTarget
    except ImportError:
        return None
    return GPUTarget("cuda", 80, 32) if "nvidia" in backends else None


@pytest.mark.parametrize("which", ["forward", "backward"])
@pytest.mark.parametrize(("dtype", "index"), [("fp16", "i32"), ("fp64", "i64")])
def test_triton_kernels_compile_for_a_gpu(triton_backend: ModuleType, which: str, dtype: str,
                                          index: str) -> None:
    """The compiled path cannot run here, but it must compile to a cubin for sm_80, with no
    atomics (determinism) and, in the backward, a barrier between pairs."""
    import triton
    import triton.language as tl

    from gnnkit.sparse._backends.triton import _runtime, intersect_kernel

    if _nvidia_target() is None:
        pytest.skip("Triton's NVIDIA backend is not installed")
    if not _runtime.compiled_kernels_possible():
        pytest.skip("Triton was imported in interpreter mode (TRITON_INTERPRET=1)")
    from triton.compiler import ASTSource

    acc, acc_name = (tl.float64, "fp64") if dtype == "fp64" else (tl.float32, "fp32")
    if which == "forward":
        kernel = intersect_kernel.INTERSECT_SUM
        pointers = {"x_ptr": f"*{dtype}", "out_ptr": f"*{acc_name}"}
    else:
        kernel = intersect_kernel.INTERSECT_SCATTER
        pointers = {"grad_ptr": f"*{dtype}", "grad_x_ptr": f"*{acc_name}"}
    pointers.update({"rowptr_ptr": f"*{index}", "col_ptr": f"*{index}", "left_ptr": "*i64",
                     "right_ptr": "*i32"})
    fn = kernel.jit_function
    constexprs = {"ACC_DTYPE": acc, "BLOCK_E": 16, "BLOCK_F": 64}
    signature = {name: "i32" for name in fn.arg_names}
    signature.update(pointers)
    signature.update({name: "constexpr" for name in constexprs})
    compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs),
                              target=_nvidia_target(),
                              options={"num_warps": 4, "enable_fp_fusion": True})
    assert compiled.asm["cubin"]
    assert "atom" not in compiled.asm["ptx"]
    if which == "backward":
        assert "bar.sync" in compiled.asm["ptx"] or "barrier" in compiled.asm["ptx"]
