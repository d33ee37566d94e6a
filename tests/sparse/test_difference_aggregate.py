"""``difference_rows`` and ``difference_aggregate``: the set difference of row pairs, and the
fused weighted sum over it, with its gradients, on the reference and C++ backends.

``out[k] = Σ_{c ∈ cols(A, left[k]) \\ cols(A, right[k])} W[right[k], c] · X[c]`` on A's pattern
(a duplicated entry counts once; ``W`` all ones without a table). Checked against

* a naive Python oracle over Python sets that sums in the documented order (each pair from 0,
  ``x[c] · w`` rounded then added in increasing column order, float32 for half types; each
  gradient row from 0, pairs in increasing order), with ``torch.equal`` — this pins the
  reference backend's summation order;
* an independent dense oracle ``((D[left] > 0) & ~(D[right] > 0)) * W[right]) @ X`` with ``D``
  the dense pattern built from the raw edge list (float64, tolerance), whose autograd gives
  the expected gradients to ``X`` and to ``W``;
* sorted Python-set differences for :func:`difference_rows`, which with :func:`intersect_rows`
  partitions every left row's distinct columns;

and the C++ kernels against the reference with ``torch.equal`` on Gaussian data (the build
uses ``-ffp-contract=off``, so no tolerance is needed) on the merge, gallop and bitset paths,
at 1, 2 and 3 threads. The Triton kernels have their own module (test_difference_triton.py).
"""

from __future__ import annotations

import pytest
import torch
from sparse_graphs import PAIR_GRAPHS, EdgeList, hub_graph, make_graph
from thread_count import torch_threads
from torch import Tensor

from gnnkit.sparse import (
    SparseMatrix,
    difference_aggregate,
    difference_rows,
    intersect_rows,
    use_backend,
)
from gnnkit.sparse import _custom_ops as C
from gnnkit.sparse._backends import cpu, reference

FLOAT_TYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
INDEX_TYPES = (torch.int32, torch.int64)
BACKENDS = ("reference", "cpu")
ACC = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


pytestmark = pytest.mark.usefixtures("cpu_kernels_single_threaded")


# ----------------------------------------------------------------------------- inputs
GRAPHS = PAIR_GRAPHS


def pairs_for(graph: EdgeList, count: int, seed: int) -> tuple[Tensor, Tensor]:
    """Random pairs plus the adversarial ones: ``left == right`` (empty difference), the hub
    (row 0) minus rows and rows minus the hub, the last row (isolated in ``hub``: empty) on
    the right (the whole left row) and on the left (nothing)."""
    n = graph.num_rows
    g = torch.Generator().manual_seed(seed)
    left = torch.randint(0, n, (count,), generator=g)
    right = torch.randint(0, n, (count,), generator=g)
    left[:3] = right[:3]
    left[3:6] = 0
    right[6:8] = n - 1
    right[8:10] = 0
    left[10] = n - 1
    return left, right


def gaussian(*shape: int, dtype: torch.dtype, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def csr(rows: list[Tensor], index_dtype: torch.dtype = torch.long) -> tuple[Tensor, Tensor]:
    """``(rowptr, col)`` of rows given as sorted column tensors."""
    lengths = [0, *(int(r.numel()) for r in rows)]
    rowptr = torch.tensor(lengths).cumsum(0)
    col = torch.cat([r.long() for r in rows]) if rows else torch.zeros(0, dtype=torch.long)
    return rowptr.to(index_dtype), col.to(index_dtype)


def neighbour_sets(graph: EdgeList) -> list[set[int]]:
    sets: list[set[int]] = [set() for _ in range(graph.num_rows)]
    for r, c in zip(graph.row.tolist(), graph.col.tolist(), strict=True):
        sets[r].add(c)
    return sets


def differences(graph: EdgeList, left: Tensor, right: Tensor) -> list[list[int]]:
    """``sorted(N(left[k]) - N(right[k]))`` per pair, by Python sets."""
    sets = neighbour_sets(graph)
    return [sorted(sets[i] - sets[j]) for i, j in zip(left.tolist(), right.tolist(), strict=True)]


def ordered_oracle(graph: EdgeList, left: Tensor, right: Tensor, x: Tensor, grad: Tensor,
                   weight: Tensor | None) -> tuple[Tensor, Tensor]:
    """Forward and backward by Python loops, in the documented summation order."""
    acc = ACC.get(x.dtype, x.dtype)
    only = differences(graph, left, right)
    out = torch.zeros(left.numel(), *x.shape[1:], dtype=acc)
    grad_x = torch.zeros(graph.num_cols, *x.shape[1:], dtype=acc)
    for k, columns in enumerate(only):  # pairs in increasing order
        r = int(right[k])
        for c in columns:  # columns in increasing order
            term, back = x[c].to(acc), grad[k].to(acc)
            if weight is not None:
                w = weight[r, c].to(acc)
                term, back = term * w, back * w  # the rounded product, then the sum
            out[k] = out[k] + term
            grad_x[c] = grad_x[c] + back
    return out.to(x.dtype), grad_x.to(x.dtype)


def dense_pattern(graph: EdgeList) -> Tensor:
    dense = torch.zeros(graph.num_rows, graph.num_cols, dtype=torch.float64)
    dense[graph.row, graph.col] = 1.0  # duplicates set the same entry: a pattern
    return dense


def dense_oracle(graph: EdgeList, left: Tensor, right: Tensor, x: Tensor,
                 weight: Tensor | None) -> Tensor:
    pattern = dense_pattern(graph)
    mask = ((pattern[left] > 0) & ~(pattern[right] > 0)).to(x.dtype)
    if weight is not None:
        mask = mask * weight[right]
    return mask @ x


# ----------------------------------------------------------------------------- the reference
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("dtype", FLOAT_TYPES)
def test_reference_follows_the_documented_order(name: str, dtype: torch.dtype,
                                                weighted: bool) -> None:
    graph = GRAPHS[name]()
    A = graph.matrix()
    left, right = pairs_for(graph, 25, seed=5)
    x = gaussian(graph.num_cols, 6, dtype=dtype, seed=6)
    grad = gaussian(left.numel(), 6, dtype=dtype, seed=7)
    weight = gaussian(graph.num_rows, graph.num_cols, dtype=dtype, seed=8) if weighted else None
    out = reference.difference_aggregate(A.rowptr, A.col, left, right, x, weight)
    grad_x = reference.difference_aggregate_backward(A.rowptr, A.col, left, right, grad, weight,
                                                     graph.num_cols)
    expected_out, expected_grad = ordered_oracle(graph, left, right, x, grad, weight)
    assert out.dtype == dtype and torch.equal(out, expected_out)
    assert grad_x.dtype == dtype and torch.equal(grad_x, expected_grad)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_dense_oracle_and_gradients(name: str, backend: str, weighted: bool) -> None:
    graph = GRAPHS[name]()
    A = graph.matrix()
    left, right = pairs_for(graph, 30, seed=8)
    x = gaussian(graph.num_cols, 5, dtype=torch.float64, seed=9).requires_grad_()
    weight = (gaussian(graph.num_rows, graph.num_cols, dtype=torch.float64, seed=10)
              .requires_grad_() if weighted else None)
    leaves = (x, weight) if weighted else (x,)
    with use_backend(backend):
        out = difference_aggregate(A, left, right, x, weight)
        grads = torch.autograd.grad(out.square().sum(), leaves)
    expected = dense_oracle(graph, left, right, x, weight)
    expected_grads = torch.autograd.grad(expected.square().sum(), leaves)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, expected_grads, strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- difference_rows
@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("index_dtype", INDEX_TYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_difference_rows_are_the_set_differences(name: str, index_dtype: torch.dtype,
                                                 backend: str) -> None:
    graph = GRAPHS[name]()
    A = graph.matrix().index_type(index_dtype)
    left, right = pairs_for(graph, 40, seed=11)
    with use_backend(backend):
        ptr, only_left = difference_rows(A, left, right)
        common_ptr, common = intersect_rows(A, left, right)
    assert ptr.dtype == index_dtype and only_left.dtype == index_dtype
    assert ptr.shape == (left.numel() + 1,) and int(ptr[0]) == 0
    expected = differences(graph, left, right)
    got = [only_left[ptr[k]:ptr[k + 1]].tolist() for k in range(left.numel())]
    assert got == expected
    assert int(ptr[-1]) == only_left.numel()
    # intersect_rows and difference_rows partition each left row's distinct columns
    sets = neighbour_sets(graph)
    for k, (i, only) in enumerate(zip(left.tolist(), got, strict=True)):
        shared = common[common_ptr[k]:common_ptr[k + 1]].tolist()
        assert not set(shared) & set(only), k
        assert sorted(shared + only) == sorted(sets[i]), k


# ----------------------------------------------------------------------------- cpu backend
def assert_cpu_equals_reference(rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor,
                                x: Tensor, grad: Tensor, weight: Tensor | None,
                                context: object) -> None:
    args = (rowptr, col, left, right)
    num_cols = x.shape[0]
    out = cpu.difference_aggregate(*args, x, weight)
    assert out.dtype == x.dtype, context
    assert torch.equal(out, reference.difference_aggregate(*args, x, weight)), context
    grad_x = cpu.difference_aggregate_backward(*args, grad, weight, num_cols)
    assert grad_x.dtype == x.dtype, context
    assert torch.equal(grad_x, reference.difference_aggregate_backward(*args, grad, weight,
                                                                       num_cols)), context
    ptr, only_left = cpu.difference_rows(*args)
    expected_ptr, expected_only = reference.difference_rows(*args)
    assert ptr.dtype == col.dtype and only_left.dtype == col.dtype, context
    assert torch.equal(ptr, expected_ptr) and torch.equal(only_left, expected_only), context


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("index_dtype", INDEX_TYPES)
@pytest.mark.parametrize("dtype", FLOAT_TYPES)
def test_cpu_kernels_equal_reference(name: str, index_dtype: torch.dtype,
                                     dtype: torch.dtype) -> None:
    graph = GRAPHS[name]()
    A = graph.matrix().index_type(index_dtype)
    left, right = pairs_for(graph, 40, seed=13)
    table = gaussian(graph.num_rows, graph.num_cols, dtype=dtype, seed=14)
    for width in (1, 7, 16, 37, 80):  # remainder, one vector, wide tiles + remainder
        x = gaussian(graph.num_cols, width, dtype=dtype, seed=width)
        grad = gaussian(left.numel(), width, dtype=dtype, seed=width + 1)
        for weight in (None, table):
            assert_cpu_equals_reference(A.rowptr, A.col, left, right, x, grad, weight,
                                        (width, weight is not None))


def test_cpu_hub_row_against_short_rows() -> None:
    """A row ~60x longer than the others: a short row minus the hub takes the C++ galloping
    search, the hub minus a short row the bitset; duplicates on both sides."""
    hub = torch.tensor([c for c in range(400) if c % 5 != 0])  # lacks the multiples of 5
    hub = torch.cat([hub, hub[::7]]).sort().values
    rows = [hub, torch.tensor([3, 3, 5, 7, 7, 399]), torch.tensor([0, 5, 5, 14, 14, 398, 399]),
            torch.tensor([], dtype=torch.long)]
    left = torch.tensor([1, 2, 0, 0, 1, 0, 3, 0])
    right = torch.tensor([0, 0, 1, 2, 2, 0, 0, 3])
    x = gaussian(400, 19, dtype=torch.float32, seed=15)
    grad = gaussian(left.numel(), 19, dtype=torch.float32, seed=16)
    weight = gaussian(4, 400, dtype=torch.float32, seed=17)
    for index_dtype in INDEX_TYPES:
        rowptr, col = csr(rows, index_dtype)
        for w in (None, weight):
            assert_cpu_equals_reference(rowptr, col, left, right, x, grad, w,
                                        (index_dtype, w is not None))
        out = cpu.difference_aggregate(rowptr, col, left, right, x, None)
        torch.testing.assert_close(out[0], x[5])  # {3, 5, 7, 399} \ hub
        torch.testing.assert_close(out[1], x[[0, 5]].sum(0))
        hub_set = sorted(set(hub.tolist()))
        torch.testing.assert_close(out[2], x[sorted(set(hub_set) - {3, 7, 399})].sum(0))
        torch.testing.assert_close(out[5], torch.zeros(19))  # the hub minus itself
        torch.testing.assert_close(out[7], x[hub_set].sum(0))  # the hub minus an empty row
        assert torch.equal(out[6], torch.zeros(19))  # an empty row minus the hub
        weighted = cpu.difference_aggregate(rowptr, col, left, right, x, weight)
        torch.testing.assert_close(weighted[0], weight[0, 5] * x[5])
        ptr, only = cpu.difference_rows(rowptr, col, left, right)
        assert only[ptr[0]:ptr[1]].tolist() == [5]
        assert only[ptr[1]:ptr[2]].tolist() == [0, 5]


def long_rows(num_rows: int, num_cols: int, seed: int) -> list[Tensor]:
    """Rows of up to ~600 entries with duplicates; row 0 empty, row 1 short, row 2 every
    column (twice for some)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(num_rows):
        degree = int(torch.randint(0, 500, (1,), generator=generator))
        members = torch.randint(0, num_cols, (degree,), generator=generator)
        rows.append(torch.cat([members, members[: degree // 5]]).sort().values)
    rows[0] = torch.zeros(0, dtype=torch.long)
    rows[1] = torch.tensor([4, 9, 9, 300])
    rows[2] = torch.cat([torch.arange(num_cols), torch.arange(0, num_cols, 3)]).sort().values
    return rows


@pytest.mark.parametrize("index_dtype", INDEX_TYPES)
def test_cpu_bitset_path_on_long_rows_with_shared_ends(index_dtype: torch.dtype) -> None:
    """Rows of hundreds of entries (the C++ bitset difference, whose marked right row is kept
    across consecutive pairs), in a rectangular matrix (weight rows of N entries): pairs in
    random order, grouped by their right row, grouped by their left row, runs of one right
    row interrupted by short and empty left rows (merge / gallop fallbacks while a row stays
    marked), equal ends and an empty right row. Every case equals the reference bit for bit,
    forward and backward, weighted and not."""
    num_rows, num_cols, count = 120, 700, 300
    rowptr, col = csr(long_rows(num_rows, num_cols, seed=21), index_dtype)
    generator = torch.Generator().manual_seed(22)
    left = torch.randint(0, num_rows, (count,), generator=generator)
    right = torch.randint(0, num_rows, (count,), generator=generator)
    by_right = torch.sort(right, stable=True)
    by_left = torch.sort(left, stable=True)
    interrupted_left = left.clone()
    interrupted_left[::3] = 1  # short left row: na + nb may be < 32, or gallop
    interrupted_left[1::7] = 0  # empty left row
    runs = torch.arange(count) // 10 % num_rows  # runs of 10 pairs per right row
    cases = {
        "unsorted": (left, right),
        "grouped by right": (left[by_right.indices], by_right.values),
        "grouped by left": (by_left.values, right[by_left.indices]),
        "interrupted runs": (interrupted_left, runs),
        "alternating rights": (left, torch.tensor([5, 6]).repeat(count // 2)),
        "equal ends": (left, left),
        "empty right row": (left, torch.zeros_like(left)),
        "hub on the right": (left, torch.full_like(left, 2)),
        "hub on the left": (torch.full_like(left, 2), right),
    }
    table = gaussian(num_rows, num_cols, dtype=torch.float32, seed=23)
    x = gaussian(num_cols, 37, dtype=torch.float32, seed=24)
    grad = gaussian(count, 37, dtype=torch.float32, seed=25)
    for name, (a, b) in cases.items():
        for weight in (None, table):
            assert_cpu_equals_reference(rowptr, col, a.contiguous(), b.contiguous(), x, grad,
                                        weight, (name, weight is not None))
    # and the C++ difference is the Python-set difference
    sets = [set(r.tolist()) for r in long_rows(num_rows, num_cols, seed=21)]
    a, b = cases["interrupted runs"]
    ptr, only = cpu.difference_rows(rowptr, col, a, b)
    for k in range(count):
        assert only[ptr[k]:ptr[k + 1]].tolist() == sorted(sets[int(a[k])] - sets[int(b[k])]), k


def test_cpu_very_wide_matrix_without_the_bitset() -> None:
    """So many columns for so few pairs that the bitset is not worth zeroing: the merge and
    gallop paths on long rows, still equal to the reference."""
    num_cols = 300_000
    generator = torch.Generator().manual_seed(26)
    rows = [torch.randint(0, num_cols, (n,), generator=generator).sort().values
            for n in (600, 500, 40, 0)]
    rowptr, col = csr(rows)
    left, right = torch.tensor([0, 1, 2, 0, 3, 0]), torch.tensor([1, 0, 0, 2, 0, 3])
    x = gaussian(num_cols, 3, dtype=torch.float32, seed=27)
    grad = gaussian(left.numel(), 3, dtype=torch.float32, seed=28)
    weight = gaussian(4, num_cols, dtype=torch.float32, seed=29)
    for w in (None, weight):
        assert_cpu_equals_reference(rowptr, col, left, right, x, grad, w, w is not None)


def test_cpu_results_do_not_depend_on_the_thread_count() -> None:
    """Large enough for several pair blocks (forward, difference_rows) and one range of
    gradient rows per thread (backward), with runs of a shared right row cut by the block
    boundaries: identical to the (single-threaded) reference at 1, 2 and 3 threads (3:
    uneven ranges, maybe more threads than cores)."""
    num_rows, num_cols, count = 300, 400, 2500
    generator = torch.Generator().manual_seed(30)
    rows = []
    for _ in range(num_rows):
        degree = int(torch.randint(60, 140, (1,), generator=generator))
        rows.append(torch.randint(0, num_cols, (degree,), generator=generator).sort().values)
    rowptr, col = csr(rows)
    left = torch.randint(0, num_rows, (count,), generator=generator)
    right = torch.randint(0, num_rows, (count,), generator=generator)
    right[count // 2:] = right[count // 2:].sort().values  # runs of one right row
    args = (rowptr, col, left, right)
    x = gaussian(num_cols, 70, dtype=torch.float32, seed=31)
    grad = gaussian(count, 70, dtype=torch.float32, seed=32)
    weight = gaussian(num_rows, num_cols, dtype=torch.float32, seed=33)
    expected_rows = reference.difference_rows(*args)
    for w in (weight, None):
        expected = reference.difference_aggregate(*args, x, w)
        expected_grad = reference.difference_aggregate_backward(*args, grad, w, num_cols)
        for threads in (1, 2, 3):
            with torch_threads(threads):
                out = cpu.difference_aggregate(*args, x, w)
                grad_x = cpu.difference_aggregate_backward(*args, grad, w, num_cols)
                ptr, only = cpu.difference_rows(*args)
            context = (threads, w is not None)
            assert torch.equal(out, expected), context
            assert torch.equal(grad_x, expected_grad), context
            assert torch.equal(ptr, expected_rows[0]), context
            assert torch.equal(only, expected_rows[1]), context


# ----------------------------------------------------------------------------- inputs of the op
@pytest.mark.parametrize("backend", BACKENDS)
def test_non_contiguous_inputs_and_mixed_index_dtypes(backend: str) -> None:
    graph = hub_graph(30, seed=5)
    A = graph.matrix().index_type(torch.int32)
    left, right = pairs_for(graph, 20, seed=34)
    x = gaussian(8, graph.num_cols, dtype=torch.float32, seed=35).t()  # (N, 8), column-major
    assert not x.is_contiguous()
    wide = gaussian(graph.num_rows, 2 * graph.num_cols, dtype=torch.float32, seed=36)
    sliced = wide[:, ::2]  # (M, N), strided rows
    transposed = wide[:, : graph.num_cols].t().contiguous().t()  # (M, N), column-major
    spread_left = torch.zeros(2 * left.numel(), dtype=torch.int32)
    spread_left[::2] = left.to(torch.int32)
    strided_left = spread_left[::2]  # int32, strided; right stays int64
    assert not strided_left.is_contiguous()
    for weight in (None, sliced, transposed):
        assert weight is None or not weight.is_contiguous()
        dense_weight = None if weight is None else weight.contiguous()
        with use_backend(backend):
            got = difference_aggregate(A, strided_left, right, x, weight)
            expected = difference_aggregate(A.index_type(torch.int64), left, right,
                                            x.contiguous(), dense_weight)
        assert torch.equal(got, expected)
        torch.testing.assert_close(
            got, dense_oracle(graph, left, right, x.double(),
                              None if weight is None else weight.double()).float())
    # features of any trailing shape, and a vector; gradients keep the shapes
    x3 = gaussian(graph.num_cols, 2, 3, dtype=torch.float64, seed=37).requires_grad_()
    w = gaussian(graph.num_rows, graph.num_cols, dtype=torch.float64, seed=38).requires_grad_()
    flat_x, flat_w = x3.detach().reshape(-1, 6).requires_grad_(), w.detach().requires_grad_()
    with use_backend(backend):
        out3 = difference_aggregate(A, left, right, x3, w)
        out_flat = difference_aggregate(A, left, right, flat_x, flat_w)
        out1 = difference_aggregate(A, left, right, x3.detach()[:, 0, 0], w.detach())
        grads3 = torch.autograd.grad(out3.square().sum(), (x3, w))
        grads_flat = torch.autograd.grad(out_flat.square().sum(), (flat_x, flat_w))
    assert out3.shape == (left.numel(), 2, 3)
    assert torch.equal(out3.reshape(left.numel(), 6), out_flat)
    assert out1.shape == (left.numel(),) and torch.equal(out1, out3.detach()[:, 0, 0])
    assert grads3[0].shape == x3.shape and grads3[1].shape == w.shape
    assert torch.equal(grads3[0].reshape(-1, 6), grads_flat[0])
    torch.testing.assert_close(grads3[1], grads_flat[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_pairs_no_edges_no_features(backend: str) -> None:
    A = hub_graph(10).matrix()
    x = torch.randn(10, 4, requires_grad=True)
    weight = torch.randn(10, 10, requires_grad=True)
    none = torch.zeros(0, dtype=torch.long)
    with use_backend(backend):
        out = difference_aggregate(A, none, none, x, weight)
        assert out.shape == (0, 4)
        grad_x, grad_w = torch.autograd.grad(out.sum(), (x, weight))
        assert torch.equal(grad_x, torch.zeros(10, 4))
        assert torch.equal(grad_w, torch.zeros(10, 10))
        ptr, only = difference_rows(A, none, none)
        assert ptr.tolist() == [0] and only.numel() == 0
        # no edges: every difference is empty
        empty = SparseMatrix.from_edge_index(torch.zeros(2, 0, dtype=torch.long), shape=10)
        pairs = torch.tensor([0, 3]), torch.tensor([3, 3])
        assert torch.equal(difference_aggregate(empty, *pairs, x), torch.zeros(2, 4))
        assert torch.equal(difference_aggregate(empty, *pairs, x, weight), torch.zeros(2, 4))
        ptr, only = difference_rows(empty, *pairs)
        assert ptr.tolist() == [0, 0, 0] and only.numel() == 0
        # no features
        no_features = difference_aggregate(A, torch.tensor([1]), torch.tensor([2]),
                                           torch.zeros(10, 0), weight)
        assert no_features.shape == (1, 0)
        (grad_w,) = torch.autograd.grad(no_features.sum(), weight)
        assert torch.equal(grad_w, torch.zeros(10, 10))


@pytest.mark.parametrize("backend", BACKENDS)
def test_equal_ends_give_zeros_and_an_empty_right_row_gives_the_whole_left_row(
        backend: str) -> None:
    graph = hub_graph(20, seed=9)  # node 19 is isolated: row 19 is empty
    A = graph.matrix()
    sets = neighbour_sets(graph)
    assert not sets[19]
    rows = torch.arange(19)
    x = gaussian(20, 5, dtype=torch.float64, seed=39)
    weight = gaussian(20, 20, dtype=torch.float64, seed=40)
    with use_backend(backend):
        same = difference_aggregate(A, rows, rows, x, weight)
        whole = difference_aggregate(A, rows, torch.full_like(rows, 19), x)
        whole_weighted = difference_aggregate(A, rows, torch.full_like(rows, 19), x, weight)
        ptr, only = difference_rows(A, rows, torch.full_like(rows, 19))
    assert torch.equal(same, torch.zeros(19, 5))
    for i in range(19):
        members = sorted(sets[i])
        torch.testing.assert_close(whole[i], x[members].sum(0))
        torch.testing.assert_close(whole_weighted[i], (weight[19, members, None] * x[members])
                                   .sum(0))
        assert only[ptr[i]:ptr[i + 1]].tolist() == members


@pytest.mark.parametrize("validate", [True, False])
def test_unsorted_matrix_is_coalesced_first(validate: bool) -> None:
    """A matrix built from unsorted CSR arrays (with duplicates) gives the pattern's sets."""
    rowptr = torch.tensor([0, 4, 7, 9])
    col = torch.tensor([2, 0, 2, 1, 1, 2, 1, 0, 2])
    A = SparseMatrix(rowptr, col, None, (3, 3), validate=validate)
    assert not A.structure.sorted_rows
    x = torch.tensor([[1.0], [10.0], [100.0]])
    weight = torch.tensor([[2.0, 3.0, 5.0], [7.0, 11.0, 13.0], [17.0, 19.0, 23.0]])
    left, right = torch.tensor([0, 1, 0, 2, 0]), torch.tensor([1, 2, 0, 1, 2])
    for backend in BACKENDS:
        with use_backend(backend):
            out = difference_aggregate(A, left, right, x)
            weighted = difference_aggregate(A, left, right, x, weight)
            ptr, only = difference_rows(A, left, right)
        # N(0) = {0, 1, 2}, N(1) = {1, 2}, N(2) = {0, 2}
        assert out.flatten().tolist() == [1.0, 10.0, 0.0, 1.0, 10.0], backend
        # w[1, 0] · 1, w[2, 1] · 10, 0, w[1, 0] · 1, w[2, 1] · 10
        assert weighted.flatten().tolist() == [7.0, 190.0, 0.0, 7.0, 190.0], backend
        assert ptr.tolist() == [0, 1, 2, 2, 3, 4] and only.tolist() == [0, 1, 0, 1], backend


def test_errors_name_the_argument_and_the_fix() -> None:
    A = make_graph("uniform", 4, 5, 10, seed=22).matrix()
    x = torch.randn(5, 3)
    weight = torch.randn(4, 5)
    pair = torch.tensor([0, 1])
    with pytest.raises(TypeError, match="SparseMatrix"):
        difference_aggregate(torch.eye(4), pair, pair, x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SparseMatrix"):
        difference_rows(torch.eye(4), pair, pair)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"weight must be the dense \(M, N\) = \(4, 5\) table "
                                         r"of A's rows by columns, got shape \(5, 4\)"):
        difference_aggregate(A, pair, pair, x, weight.t())
    with pytest.raises(ValueError, match=r"weight must be .*\(4, 5\).*got shape \(20,\)"):
        difference_aggregate(A, pair, pair, x, weight.flatten())
    with pytest.raises(TypeError, match=r"weight is torch\.float64 but X is torch\.float32 "
                                        r"\(convert it, e\.g\. weight\.to\(X\.dtype\)\)"):
        difference_aggregate(A, pair, pair, x, weight.double())
    with pytest.raises(TypeError, match=r"weight must be a torch\.Tensor or None, got list"):
        difference_aggregate(A, pair, pair, x, weight.tolist())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"weight is on meta but X is on cpu "
                                         r"\(move it with weight\.to\(X\.device\)\)"):
        difference_aggregate(A, pair, pair, x, weight.to("meta"))
    with pytest.raises(ValueError, match=r"X must have one row per column of A: X.shape = "
                                         r"\(4, 3\) but A.shape = \(4, 5\)"):
        difference_aggregate(A, pair, pair, torch.randn(4, 3))
    with pytest.raises(TypeError, match=r"X must be floating point.*X\.float\(\)"):
        difference_aggregate(A, pair, pair, torch.ones(5, 3, dtype=torch.long))
    with pytest.raises(TypeError, match=r"X must be a torch\.Tensor"):
        difference_aggregate(A, pair, pair, [[1.0]] * 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"left must be an int32 or int64 torch\.Tensor, got "
                                        r"torch\.float32"):
        difference_aggregate(A, pair.float(), pair, x)
    with pytest.raises(TypeError, match=r"left must be an int32 or int64 torch\.Tensor, got "
                                        r"torch\.float32"):
        difference_rows(A, pair.float(), pair)
    with pytest.raises(ValueError, match=r"right must index rows of A in \[0, 4\), found "
                                         r"0 … 4"):
        difference_aggregate(A, pair, torch.tensor([0, 4]), x, weight)
    with pytest.raises(ValueError, match=r"right must index rows of A in \[0, 4\), found "
                                         r"0 … 4"):
        difference_rows(A, pair, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"left must index rows of A in \[0, 4\).*-1"):
        difference_aggregate(A, torch.tensor([-1, 0]), pair, x)
    with pytest.raises(ValueError, match=r"right must be 1-D, got shape \(2, 1\).*pairs\[0\]"):
        difference_aggregate(A, pair, pair.view(2, 1), x)
    with pytest.raises(ValueError, match=r"left has 2 entries but right has 1.*one entry per"):
        difference_aggregate(A, pair, torch.tensor([0]), x)


# ----------------------------------------------------------------------------- autograd
@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_and_gradgradcheck(backend: str) -> None:
    graph = hub_graph(12, seed=6)
    A = graph.matrix()
    left, right = pairs_for(graph, 14, seed=41)
    x = gaussian(graph.num_cols, 3, dtype=torch.float64, seed=42).requires_grad_()
    weight = gaussian(graph.num_rows, graph.num_cols, dtype=torch.float64,
                      seed=43).requires_grad_()
    with use_backend(backend):
        assert torch.autograd.gradcheck(
            lambda t, w: difference_aggregate(A, left, right, t, w), (x, weight))
        assert torch.autograd.gradcheck(
            lambda t: difference_aggregate(A, left, right, t), (x,))
        fixed = weight.detach()
        assert torch.autograd.gradgradcheck(
            lambda t: difference_aggregate(A, left, right, t, fixed).square(), (x,))
        assert torch.autograd.gradgradcheck(
            lambda t: difference_aggregate(A, left, right, t).square(), (x,))


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_order_with_respect_to_weight_is_not_implemented(backend: str) -> None:
    graph = hub_graph(12, seed=7)
    A = graph.matrix()
    left, right = pairs_for(graph, 14, seed=44)
    x = gaussian(graph.num_cols, 3, dtype=torch.float64, seed=45).requires_grad_()
    weight = gaussian(graph.num_rows, graph.num_cols, dtype=torch.float64,
                      seed=46).requires_grad_()
    with use_backend(backend):
        out = difference_aggregate(A, left, right, x, weight)
        (grad_x,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
        with pytest.raises(NotImplementedError, match=r"second-order gradients with respect "
                                                      r"to weight.*weight\.detach\(\)"):
            torch.autograd.grad(grad_x.square().sum(), weight)


def test_no_gradient_without_grad_and_detached_under_no_grad() -> None:
    A = hub_graph(10).matrix()
    x, weight = torch.randn(10, 2), torch.randn(10, 10)
    out = difference_aggregate(A, torch.tensor([0]), torch.tensor([1]), x, weight)
    assert not out.requires_grad
    with torch.no_grad():
        out = difference_aggregate(A, torch.tensor([0]), torch.tensor([1]),
                                   x.requires_grad_(), weight.requires_grad_())
    assert not out.requires_grad


# ----------------------------------------------------------------------------- custom ops
def test_custom_ops_pass_opcheck() -> None:
    graph = hub_graph(12, seed=8)
    A = graph.matrix()
    left, right = pairs_for(graph, 14, seed=47)
    right = right.to(torch.int32)  # mixed index dtypes reach the ops
    x = gaussian(graph.num_cols, 3, dtype=torch.float64, seed=48).requires_grad_()
    weight = gaussian(graph.num_rows, graph.num_cols, dtype=torch.float64,
                      seed=49).requires_grad_()
    grad = gaussian(left.numel(), 3, dtype=torch.float64, seed=50).requires_grad_()
    ops = torch.ops.gnnkit
    for backend in BACKENDS:
        with use_backend(backend):
            for index_dtype in INDEX_TYPES:
                B = A.index_type(index_dtype)
                args = (B.rowptr, B.col, left, right)
                torch.library.opcheck(ops.difference_aggregate, (*args, x, weight))
                torch.library.opcheck(ops.difference_aggregate, (*args, x, None))
                torch.library.opcheck(ops.difference_aggregate_backward,
                                      (*args, grad, weight.detach(), graph.num_cols))
                torch.library.opcheck(ops.difference_aggregate_backward,
                                      (*args, grad, None, graph.num_cols))
                torch.library.opcheck(ops.difference_rows, args)
    assert ops.difference_aggregate.default is C.difference_aggregate_op._opoverload


# ----------------------------------------------------------------------------- torch.compile
def _pooled_model(A: SparseMatrix, left: Tensor, right: Tensor, x: Tensor,
                  weight: Tensor, links: Tensor) -> Tensor:
    table = torch.sigmoid(links)
    return difference_aggregate(A, left, right, torch.tanh(x @ weight), table).square().sum(-1)


def test_compiles_fullgraph_with_zero_breaks_and_matches_eager() -> None:
    graph = hub_graph(20, seed=10)
    A = graph.matrix()
    left, right = pairs_for(graph, 15, seed=51)
    x = gaussian(graph.num_cols, 4, dtype=torch.float32, seed=52)
    weight = gaussian(4, 6, dtype=torch.float32, seed=53)
    links = gaussian(graph.num_rows, graph.num_cols, dtype=torch.float32, seed=54)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(_pooled_model)(A, left, right, x, weight, links)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
    torch._dynamo.reset()
    compiled = torch.compile(_pooled_model, fullgraph=True, backend="aot_eager")
    eager_leaves = (weight.clone().requires_grad_(), links.clone().requires_grad_())
    compiled_leaves = (weight.clone().requires_grad_(), links.clone().requires_grad_())
    expected = _pooled_model(A, left, right, x, *eager_leaves)
    got = compiled(A, left, right, x, *compiled_leaves)
    torch.testing.assert_close(got, expected)
    expected.sum().backward()
    got.sum().backward()
    for got_leaf, eager_leaf in zip(compiled_leaves, eager_leaves, strict=True):
        assert eager_leaf.grad is not None and eager_leaf.grad.abs().sum() > 0
        torch.testing.assert_close(got_leaf.grad, eager_leaf.grad)


def test_compile_needs_a_matrix_known_to_be_sorted() -> None:
    A = SparseMatrix(torch.tensor([0, 2, 3]), torch.tensor([1, 0, 1]), None, (2, 2))
    assert not A.structure.sorted_rows
    x = torch.randn(2, 3)
    pair = torch.tensor([0, 1])
    other = torch.tensor([1, 0])

    def pooled(matrix: SparseMatrix) -> Tensor:
        return difference_aggregate(matrix, pair, other, x)

    torch._dynamo.reset()
    with pytest.raises(Exception, match="coalesce"):
        torch.compile(pooled, fullgraph=True, backend="aot_eager")(A)
    torch._dynamo.reset()
    compiled = torch.compile(pooled, fullgraph=True, backend="aot_eager")
    got = compiled(A.coalesce())
    assert torch.equal(got, pooled(A))
    # N(0) = {0, 1}, N(1) = {1}: N(0) \ N(1) = {0}, N(1) \ N(0) = ∅
    assert torch.equal(got, torch.stack([x[0], torch.zeros(3)]))
