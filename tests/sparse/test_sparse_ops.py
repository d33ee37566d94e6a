"""Functional ops against naive oracles, gradcheck, and bad-input errors (reference backend)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sparse_graphs import (
    EdgeList,
    csr_order,
    dense_from_edges,
    graphs,
    make_graph,
    spmm_oracle,
)

from gnnkit.sparse import (
    SparseMatrix,
    edge_softmax,
    intersect_rows,
    scatter,
    sddmm,
    segment,
    spmm,
    spspmm,
    use_backend,
)

REDUCES = ("sum", "mean", "max", "min")


@pytest.fixture(autouse=True)
def _reference_backend():
    with use_backend("reference"):
        yield


def _values(
    kind: str,
    graph: EdgeList,
    heads: int = 3,
    block: tuple[int, int] = (2, 3),
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
) -> torch.Tensor | None:
    g = torch.Generator().manual_seed(seed)
    if kind == "none":
        return None
    if kind == "scalar":
        return torch.rand(graph.nnz, generator=g, dtype=dtype) + 0.5
    if kind == "heads":
        return torch.rand(graph.nnz, heads, generator=g, dtype=dtype) + 0.5
    return torch.randn(graph.nnz, *block, generator=g, dtype=dtype)


def _features(
    kind: str,
    n: int,
    f: int = 4,
    heads: int = 3,
    q: int = 3,
    dtype: torch.dtype = torch.float64,
    seed: int = 1,
) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = {"none": (n, f), "scalar": (n, f), "heads": (n, heads, f), "block": (n, q, f)}[kind]
    return torch.randn(shape, generator=g, dtype=dtype)


# ------------------------------------------------------------------------------ spmm forward
@settings(max_examples=60, deadline=None)
@given(
    graph=graphs(),
    kind=st.sampled_from(["none", "scalar", "heads", "block"]),
    reduce=st.sampled_from(REDUCES),
)
def test_spmm_matches_oracle(graph: EdgeList, kind: str, reduce: str) -> None:
    if kind == "block" and reduce in ("max", "min"):
        reduce = "sum"
    values_raw = _values(kind, graph)
    x = _features(kind, graph.num_cols)
    A = graph.matrix(values_raw)
    expected = spmm_oracle(graph, values_raw, x, reduce)
    torch.testing.assert_close(spmm(A, x, reduce), expected)


@settings(max_examples=40, deadline=None)
@given(graph=graphs())
def test_spmm_sum_matches_dense_matmul(graph: EdgeList) -> None:
    values = torch.rand(graph.nnz, dtype=torch.float64)
    x = torch.randn(graph.num_cols, 5, dtype=torch.float64)
    dense = dense_from_edges(graph, values)
    torch.testing.assert_close(spmm(graph.matrix(values), x), dense @ x)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_low_precision_accumulates_in_float32(dtype: torch.dtype, reduce: str) -> None:
    graph = make_graph("heavy", 20, 30, 200, seed=3)
    values = torch.rand(graph.nnz, dtype=torch.float64)
    x = torch.randn(30, 7, dtype=torch.float64)
    expected = spmm_oracle(graph, values.to(dtype).double(), x.to(dtype).double(), reduce)
    out = spmm(graph.matrix(values.to(dtype)), x.to(dtype), reduce)
    assert out.dtype == dtype
    # One rounding of the float32 accumulator to the output dtype, no error growth with degree.
    tol = {torch.float16: 1e-3, torch.bfloat16: 8e-3, torch.float32: 1e-6}[dtype]
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol * 4)


def test_spmm_non_contiguous_features() -> None:
    graph = make_graph("uniform", 6, 8, 30, seed=4)
    x = torch.randn(5, 8, dtype=torch.float64).t()  # (8, 5), non-contiguous
    assert not x.is_contiguous()
    for reduce in REDUCES:
        torch.testing.assert_close(
            spmm(graph.matrix(), x, reduce), spmm_oracle(graph, None, x, reduce)
        )


def test_spmm_empty_rows_give_zero_for_every_reduce() -> None:
    A = SparseMatrix.from_edge_index(torch.tensor([[1], [0]]), shape=3)  # only row 0 has entries
    x = -torch.ones(3, 2, dtype=torch.float64) * 5
    for reduce in REDUCES:
        out = spmm(A, x, reduce)
        assert torch.equal(out[1:], torch.zeros(2, 2, dtype=torch.float64)), reduce
        assert torch.equal(out[0], x[1])


def test_spmm_mean_divides_by_stored_entry_count_including_duplicates() -> None:
    # Row 0 receives source 1 twice and source 2 once: mean = (2·x1 + x2) / 3.
    A = SparseMatrix.from_coo(torch.tensor([0, 0, 0]), torch.tensor([1, 1, 2]), None, (1, 3))
    x = torch.tensor([[0.0], [3.0], [6.0]], dtype=torch.float64)
    assert spmm(A, x, "mean").item() == pytest.approx(4.0)


def test_spmm_max_tie_gradient_goes_to_first_entry_in_csr_order() -> None:
    A = SparseMatrix.from_coo(torch.tensor([0, 0, 0]), torch.tensor([0, 1, 2]), None, (1, 3))
    x = torch.tensor([[1.0], [5.0], [5.0]], dtype=torch.float64, requires_grad=True)
    spmm(A, x, "max").sum().backward()
    assert x.grad is not None
    assert x.grad.flatten().tolist() == [0.0, 1.0, 0.0]


def test_spmm_vector_features_and_block_vector() -> None:
    graph = make_graph("uniform", 5, 4, 12, seed=5)
    x = torch.randn(4, dtype=torch.float64)
    out = spmm(graph.matrix(), x)
    assert out.shape == (5,)
    torch.testing.assert_close(out, spmm_oracle(graph, None, x.unsqueeze(-1), "sum").squeeze(-1))
    blocks = torch.randn(graph.nnz, 2, 3, dtype=torch.float64)
    xb = torch.randn(4, 3, dtype=torch.float64)
    out = spmm(graph.matrix(blocks), xb)
    assert out.shape == (5, 2)
    torch.testing.assert_close(out, spmm_oracle(graph, blocks, xb.unsqueeze(-1), "sum")[..., 0])


def test_spmm_int32_indices_match_int64() -> None:
    graph = make_graph("duplicates", 9, 7, 25, seed=6)
    A = graph.matrix(torch.rand(graph.nnz, dtype=torch.float64))
    x = torch.randn(7, 3, dtype=torch.float64)
    A32 = A.index_type(torch.int32)
    assert A32.rowptr.dtype == torch.int32
    for reduce in REDUCES:
        torch.testing.assert_close(spmm(A32, x, reduce), spmm(A, x, reduce))


# ------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize(
    ("reduce", "kind"),
    [(r, k) for r in REDUCES for k in ("none", "scalar", "heads")]
    + [("sum", "block"), ("mean", "block")],  # block values support sum and mean only
)
def test_spmm_gradcheck(reduce: str, kind: str) -> None:
    # No duplicate entries without values: duplicated identical messages would be exact ties,
    # where max/min are not differentiable.
    graph = make_graph("loops" if kind != "none" else "uniform", 6, 6, 14, seed=7)
    if kind == "none":
        keys = sorted({(int(r), int(c)) for r, c in zip(graph.row, graph.col, strict=True)})
        graph = EdgeList(
            6, 6, torch.tensor([k[0] for k in keys]), torch.tensor([k[1] for k in keys])
        )
    values = _values(kind, graph)
    x = _features(kind, 6).requires_grad_()
    A = graph.matrix(values)
    if values is None:
        assert torch.autograd.gradcheck(lambda x_: spmm(A, x_, reduce), (x,))
    else:
        v = A.values.detach().clone().requires_grad_()  # type: ignore[union-attr]
        assert torch.autograd.gradcheck(lambda x_, v_: spmm(A.with_values(v_), x_, reduce), (x, v))


@pytest.mark.parametrize("op", ["dot", "add", "mul"])
@pytest.mark.parametrize("trailing", [(4,), (3, 4)])
def test_sddmm_gradcheck(op: str, trailing: tuple[int, ...]) -> None:
    graph = make_graph("duplicates", 5, 6, 10, seed=8)
    A = graph.matrix()
    a = torch.randn(5, *trailing, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, *trailing, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a_, b_: sddmm(A, a_, b_, op), (a, b))


@pytest.mark.parametrize("heads", [None, 3])
def test_edge_softmax_gradcheck(heads: int | None) -> None:
    graph = make_graph("heavy", 6, 6, 20, seed=9)
    A = graph.matrix()
    shape = (A.nnz,) if heads is None else (A.nnz, heads)
    s = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s_: edge_softmax(A, s_), (s,))


@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_and_scatter_gradcheck(reduce: str) -> None:
    src = torch.randn(9, 3, dtype=torch.float64, requires_grad=True)
    ptr = torch.tensor([0, 2, 2, 7, 9])
    assert torch.autograd.gradcheck(lambda s: segment(s, ptr, reduce), (src,))
    index = torch.tensor([3, 0, 3, 1, 0, 0, 3, 1, 1])
    assert torch.autograd.gradcheck(lambda s: scatter(s, index, 5, reduce), (src,))


def test_spspmm_gradcheck_both_values() -> None:
    a_graph = make_graph("duplicates", 5, 4, 8, seed=10)
    b_graph = make_graph("uniform", 4, 6, 10, seed=11)
    va = torch.rand(a_graph.nnz, dtype=torch.float64, requires_grad=True)
    vb = torch.rand(b_graph.nnz, dtype=torch.float64, requires_grad=True)
    A, B = a_graph.matrix(), b_graph.matrix()

    def product(va_: torch.Tensor, vb_: torch.Tensor) -> torch.Tensor:
        return spspmm(A.with_values(va_), B.with_values(vb_)).values  # type: ignore[return-value]

    assert torch.autograd.gradcheck(product, (va, vb))


def test_spmm_double_backward_sum() -> None:
    graph = make_graph("uniform", 5, 5, 12, seed=12)
    v = torch.rand(graph.nnz, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    A = graph.matrix()
    assert torch.autograd.gradgradcheck(lambda x_, v_: spmm(A.with_values(v_), x_), (x, v))


# ------------------------------------------------------------------------------ other ops
@settings(max_examples=40, deadline=None)
@given(graph=graphs(), op=st.sampled_from(["dot", "add", "mul"]))
def test_sddmm_matches_loop(graph: EdgeList, op: str) -> None:
    a = torch.randn(graph.num_rows, 3, dtype=torch.float64)
    b = torch.randn(graph.num_cols, 3, dtype=torch.float64)
    order = csr_order(graph)
    expected = []
    for e in order.tolist():
        left, right = a[int(graph.row[e])], b[int(graph.col[e])]
        expected.append({"dot": (left * right).sum(), "add": left + right, "mul": left * right}[op])
    shape = (0,) if op == "dot" else (0, 3)
    expected_t = torch.stack(expected) if expected else torch.zeros(shape, dtype=torch.float64)
    torch.testing.assert_close(sddmm(graph.matrix(), a, b, op), expected_t)


@settings(max_examples=40, deadline=None)
@given(graph=graphs())
def test_edge_softmax_matches_loop(graph: EdgeList) -> None:
    scores = torch.randn(graph.nnz, 2, dtype=torch.float64) * 30  # large: stability matters
    A = graph.matrix()
    order = csr_order(graph)
    sorted_rows = graph.row[order]
    expected = torch.empty_like(scores)
    for i in range(graph.num_rows):
        members = (sorted_rows == i).nonzero().flatten()
        if members.numel():
            expected[members] = torch.softmax(scores[members], dim=0)
    out = edge_softmax(A, scores)
    torch.testing.assert_close(out, expected)
    assert torch.isfinite(out).all()


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 5), min_size=0, max_size=6), reduce=st.sampled_from(REDUCES))
def test_segment_matches_loop(sizes: list[int], reduce: str) -> None:
    src = torch.randn(sum(sizes), 3, dtype=torch.float64)
    ptr = torch.tensor([0, *torch.tensor(sizes, dtype=torch.long).cumsum(0).tolist()])
    out = segment(src, ptr, reduce)
    for k, size in enumerate(sizes):
        part = src[int(ptr[k]) : int(ptr[k + 1])]
        expected = (
            torch.zeros(3, dtype=torch.float64)
            if size == 0
            else {
                "sum": part.sum(0),
                "mean": part.mean(0),
                "max": part.max(0).values,
                "min": part.min(0).values,
            }[reduce]
        )
        torch.testing.assert_close(out[k], expected)


def test_scatter_matches_torch_scatter_reduce() -> None:
    g = torch.Generator().manual_seed(13)
    src = torch.randn(50, 4, generator=g, dtype=torch.float64)
    index = torch.randint(0, 7, (50,), generator=g)
    for reduce, torch_name in (("sum", "sum"), ("mean", "mean"), ("max", "amax"), ("min", "amin")):
        expected = torch.zeros(9, 4, dtype=torch.float64).scatter_reduce(
            0, index.view(-1, 1).expand(-1, 4), src, torch_name, include_self=False
        )
        torch.testing.assert_close(scatter(src, index, 9, reduce), expected)


@settings(max_examples=40, deadline=None)
@given(graph=graphs(square=True), pairs=st.integers(0, 8), seed=st.integers(0, 1000))
def test_intersect_rows_matches_set_intersection(graph: EdgeList, pairs: int, seed: int) -> None:
    n = graph.num_rows
    if n == 0:
        pairs = 0
    g = torch.Generator().manual_seed(seed)
    left = torch.randint(0, max(n, 1), (pairs,), generator=g)
    right = torch.randint(0, max(n, 1), (pairs,), generator=g)
    ptr, common = intersect_rows(graph.matrix(), left, right)
    neighbours = [set() for _ in range(n)]
    for r, c in zip(graph.row.tolist(), graph.col.tolist(), strict=True):
        neighbours[r].add(c)
    assert ptr.numel() == pairs + 1
    for k in range(pairs):
        expected = sorted(neighbours[int(left[k])] & neighbours[int(right[k])])
        assert common[int(ptr[k]) : int(ptr[k + 1])].tolist() == expected


@settings(max_examples=30, deadline=None)
@given(a=graphs(max_nodes=8), seed=st.integers(0, 1000))
def test_spspmm_matches_dense(a: EdgeList, seed: int) -> None:
    b = make_graph("duplicates", a.num_cols, 5, 12, seed=seed)
    va = torch.rand(a.nnz, dtype=torch.float64)
    vb = torch.rand(b.nnz, dtype=torch.float64)
    C = spspmm(a.matrix(va), b.matrix(vb))
    assert C.is_coalesced()
    dense = torch.zeros(C.shape, dtype=torch.float64)
    dense[C.row, C.col] = C.values  # type: ignore[index]
    torch.testing.assert_close(dense, dense_from_edges(a, va) @ dense_from_edges(b, vb))


# ------------------------------------------------------------------------------ bad input
def test_spmm_rejects_bad_input() -> None:
    A = make_graph("uniform", 4, 5, 10, seed=14).matrix()
    with pytest.raises(ValueError, match="X has 4 rows but A has 5 columns"):
        spmm(A, torch.randn(4, 3))
    with pytest.raises(ValueError, match="reduce must be one of"):
        spmm(A, torch.randn(5, 3), "prod")
    with pytest.raises(TypeError, match="floating point"):
        spmm(A, torch.ones(5, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="SparseMatrix"):
        spmm(torch.eye(5), torch.randn(5, 3))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype"):
        spmm(A.with_values(torch.rand(A.nnz, dtype=torch.float64)), torch.randn(5, 3))
    with pytest.raises(ValueError, match="multi-head"):
        spmm(A.with_values(torch.rand(A.nnz, 2)), torch.randn(5, 3, 4))
    with pytest.raises(ValueError, match="block values support"):
        spmm(A.with_values(torch.rand(A.nnz, 2, 2)), torch.randn(5, 2, 4), "max")
    if torch.device("meta") != A.device:
        with pytest.raises(ValueError, match="is on meta"):
            spmm(A, torch.randn(5, 3, device="meta"))


def test_other_ops_reject_bad_input() -> None:
    A = make_graph("uniform", 4, 5, 10, seed=15).matrix()
    with pytest.raises(ValueError, match="op must be one of"):
        sddmm(A, torch.randn(4, 2), torch.randn(5, 2), "div")
    with pytest.raises(ValueError, match=r"X must have A\.num_rows=4"):
        sddmm(A, torch.randn(5, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match="same trailing shape"):
        sddmm(A, torch.randn(4, 2), torch.randn(5, 3))
    with pytest.raises(ValueError, match="scores must have shape"):
        edge_softmax(A, torch.randn(A.nnz + 1))
    with pytest.raises(ValueError, match="ptr must start at 0 and end at len"):
        segment(torch.randn(4, 2), torch.tensor([0, 2, 3]))
    with pytest.raises(ValueError, match="non-decreasing"):
        segment(torch.randn(4, 2), torch.tensor([0, 3, 1, 4]))
    with pytest.raises(ValueError, match=r"index values must lie in \[0, 3\)"):
        scatter(torch.randn(3, 2), torch.tensor([0, 3, 1]), 3)
    with pytest.raises(ValueError, match=r"index must be 1-D with one entry per row"):
        scatter(torch.randn(3, 2), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match=r"left must index rows of A in \[0, 4\)"):
        intersect_rows(A, torch.tensor([4]), torch.tensor([0]))
    with pytest.raises(ValueError, match="left has 1 entries but right has 2"):
        intersect_rows(A, torch.tensor([1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="do not chain"):
        spspmm(A, A)


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_spmm_max_min_backward_with_no_edges(reduce: str) -> None:
    A = SparseMatrix.from_edge_index(torch.zeros(2, 0, dtype=torch.long), shape=3)
    values = torch.zeros(0, dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    out = spmm(A.with_values(values), x, reduce)
    out.sum().backward()
    assert torch.equal(out, torch.zeros(3, 2, dtype=torch.float64))
    assert x.grad is not None and torch.equal(x.grad, torch.zeros_like(x))
    assert values.grad is not None and values.grad.shape == (0,)


# Backends that run on CPU; each test below forces one (inside the reference fixture).
CPU_BACKENDS = ("reference", "cpu")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("trailing", [(), (3,), (2, 3)])
def test_segment_and_scatter_backward_with_empty_src(
    backend: str, reduce: str, trailing: tuple[int, ...]
) -> None:
    # No rows at all: max/min backward used to fail on ``view(0, -1)``.
    with use_backend(backend):
        for num_segments in (3, 0):
            src = torch.randn(0, *trailing, dtype=torch.float64, requires_grad=True)
            ptr = torch.zeros(num_segments + 1, dtype=torch.long)
            index = torch.zeros(0, dtype=torch.long)
            for out in (segment(src, ptr, reduce), scatter(src, index, num_segments, reduce)):
                assert torch.equal(out, torch.zeros(num_segments, *trailing, dtype=torch.float64))
                src.grad = None
                (out * torch.randn_like(out)).sum().backward()
                assert src.grad is not None and src.grad.shape == src.shape


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("trailing", [(0,), (2, 0)])
def test_segment_and_scatter_backward_with_zero_width_features(
    backend: str, reduce: str, trailing: tuple[int, ...]
) -> None:
    # Rows but no elements: the flattened width of the max/min backward is 0 here.
    src = torch.randn(4, *trailing, dtype=torch.float64, requires_grad=True)
    with use_backend(backend):
        segment(src, torch.tensor([0, 1, 1, 4]), reduce).sum().backward()
        assert src.grad is not None and src.grad.shape == src.shape
        src.grad = None
        scatter(src, torch.tensor([2, 0, 2, 2]), 4, reduce).sum().backward()
        assert src.grad is not None and src.grad.shape == src.shape


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("trailing", [(), (2, 3)])
def test_segment_and_scatter_gradcheck_every_cpu_backend(
    backend: str, reduce: str, trailing: tuple[int, ...]
) -> None:
    # 1-D and multi-dimensional src, with empty segments (their gradient is zero).
    src = torch.randn(7, *trailing, dtype=torch.float64, requires_grad=True)
    ptr = torch.tensor([0, 0, 3, 3, 7, 7])
    index = torch.tensor([4, 1, 4, 0, 1, 1, 4])
    with use_backend(backend):
        assert torch.autograd.gradcheck(lambda s: segment(s, ptr, reduce), (src,))
        assert torch.autograd.gradcheck(lambda s: scatter(s, index, 6, reduce), (src,))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("op", ["dot", "add", "mul"])
@pytest.mark.parametrize("rows", [(3, 4), (0, 4), (3, 0)])
def test_sddmm_backward_with_no_entries(backend: str, op: str, rows: tuple[int, int]) -> None:
    # The "mul" backward flattened with ``reshape(nnz, -1)``, which fails for nnz == 0.
    A = SparseMatrix.from_edge_index(torch.zeros(2, 0, dtype=torch.long), shape=rows)
    a = torch.randn(rows[0], 2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(rows[1], 2, 3, dtype=torch.float64, requires_grad=True)
    with use_backend(backend):
        sddmm(A, a, b, op).sum().backward()
    assert a.grad is not None and torch.equal(a.grad, torch.zeros_like(a))
    assert b.grad is not None and torch.equal(b.grad, torch.zeros_like(b))
