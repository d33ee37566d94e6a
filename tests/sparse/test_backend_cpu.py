"""Every C++ kernel of the ``cpu`` backend against the reference backend.

Inputs come from the shared random/adversarial generators (uniform, half of all entries in one
row, duplicates, self loops, no entries) plus zero-row/zero-column and mostly-empty patterns,
with feature widths that hit every code path of the feature tiling (1, 7, 16, 37, 80: the
64- and 16-wide register tiles and the remainder), non-contiguous inputs, all four float
dtypes and both index dtypes.

Features and values are small integers wherever the kernel only adds and multiplies: then
every partial sum is exact in every dtype, so the C++ results must equal the reference
*bit for bit* whatever the summation order, and max/min ties (frequent with small integers)
must be broken identically. Separate tests use Gaussian data with dtype-appropriate tolerances.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import torch
from sparse_graphs import make_graph
from torch import Tensor

from gnnkit.sparse._backends import cpu, reference

FLOAT_TYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
INDEX_TYPES = (torch.int32, torch.int64)
REDUCTIONS = ("sum", "mean", "max", "min")
WIDTHS = (1, 7, 16, 37, 80)
TOLERANCE = {
    torch.float64: {"rtol": 1e-12, "atol": 1e-12},
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
    torch.bfloat16: {"rtol": 1.6e-2, "atol": 1e-2},
    torch.float16: {"rtol": 2e-3, "atol": 2e-3},
}


pytestmark = pytest.mark.usefixtures("cpu_kernels_single_threaded")


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Csr:
    """CSR arrays of a pattern in one index dtype; columns keep their random order in a row
    unless built with ``sort_columns`` (duplicates are kept either way)."""

    rowptr: Tensor
    col: Tensor
    row: Tensor
    num_cols: int

    @property
    def num_rows(self) -> int:
        return self.rowptr.numel() - 1

    @property
    def nnz(self) -> int:
        return self.col.numel()


def build_csr(kind: str, num_rows: int, num_cols: int, nnz: int, seed: int,
              index_dtype: torch.dtype, sort_columns: bool = False) -> Csr:
    graph = make_graph(kind, num_rows, num_cols, nnz, seed)
    key = graph.row * max(num_cols, 1) + graph.col if sort_columns else graph.row
    order = torch.argsort(key, stable=True)
    row, col = graph.row[order], graph.col[order]
    if sort_columns:  # coalesce: intersect_rows needs sorted, unique columns
        keep = torch.ones(row.numel(), dtype=torch.bool)
        keep[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
        row, col = row[keep], col[keep]
    rowptr = torch.zeros(num_rows + 1, dtype=torch.long)
    rowptr[1:] = torch.cumsum(torch.bincount(row, minlength=num_rows), 0)
    return Csr(rowptr.to(index_dtype), col.to(index_dtype), row.to(index_dtype), num_cols)


# (kind, rows, cols, nnz): every adversarial shape the kernels must survive.
GRAPHS = {
    "uniform": ("uniform", 30, 20, 200),
    "heavy": ("heavy", 25, 25, 160),
    "duplicates": ("duplicates", 20, 15, 60),
    "loops": ("loops", 18, 18, 50),
    "no_edges": ("empty", 6, 4, 0),
    "no_rows": ("uniform", 0, 5, 10),
    "no_cols": ("uniform", 7, 0, 10),
    "mostly_empty_rows": ("uniform", 40, 9, 12),
}


def graph(name: str, index_dtype: torch.dtype, seed: int = 0, sort_columns: bool = False) -> Csr:
    kind, rows, cols, nnz = GRAPHS[name]
    return build_csr(kind, rows, cols, nnz, seed, index_dtype, sort_columns)


def integers(*shape: int, dtype: torch.dtype, seed: int, low: int = -4, high: int = 5) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, shape, generator=g).to(dtype)


def gaussian(*shape: int, dtype: torch.dtype, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def strided(x: Tensor) -> Tensor:
    """The same values as ``x`` in a non-contiguous layout (every other column of a wider
    tensor); for 1-D inputs every other element."""
    wide = torch.zeros((*x.shape[:-1], 2 * x.shape[-1]), dtype=x.dtype)
    wide[..., ::2] = x
    view = wide[..., ::2]
    assert not view.is_contiguous() or x.numel() <= 1
    return view


def values_for(mode: str, nnz: int, dtype: torch.dtype, seed: int) -> Tensor | None:
    if mode == "none":
        return None
    if mode == "scalar":
        return integers(nnz, dtype=dtype, seed=seed, low=-2, high=3)
    if mode == "heads":
        return integers(nnz, 3, dtype=dtype, seed=seed, low=-2, high=3)
    return integers(nnz, 2, 3, dtype=dtype, seed=seed, low=-2, high=3)  # block (P=2, Q=3)


def features_for(mode: str, num_cols: int, width: int, dtype: torch.dtype, seed: int) -> Tensor:
    if mode in ("none", "scalar"):
        return integers(num_cols, width, dtype=dtype, seed=seed)
    return integers(num_cols, 3, width, dtype=dtype, seed=seed)  # (N, H=3, F) or (N, Q=3, F)


def assert_identical(actual: Tensor, expected: Tensor, what: str) -> None:
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert torch.equal(actual, expected), f"{what}: max diff " + str(
        (actual.double() - expected.double()).abs().max().item() if actual.numel() else 0
    )


# ----------------------------------------------------------------------------- spmm
@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_spmm_matches_reference_exactly(name: str, dtype: torch.dtype, reduce: str) -> None:
    modes = ("none", "scalar", "heads") + (("block",) if reduce in ("sum", "mean") else ())
    for index_dtype, mode, width in itertools.product(INDEX_TYPES, modes, WIDTHS):
        A = graph(name, index_dtype)
        values = values_for(mode, A.nnz, dtype, seed=1)
        x = features_for(mode, A.num_cols, width, dtype, seed=2)
        what = f"{name} {dtype} {index_dtype} {mode} F={width} {reduce}"
        out, arg = cpu.spmm(A.rowptr, A.col, values, x, reduce)
        expected_out, expected_arg = reference.spmm(A.rowptr, A.col, values, x, reduce)
        assert_identical(out, expected_out, what)
        assert_identical(arg, expected_arg, what + " arg")


@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_spmm_gaussian_data_within_tolerance(dtype: torch.dtype, reduce: str) -> None:
    for index_dtype, mode in itertools.product(INDEX_TYPES, ("none", "scalar", "heads")):
        A = graph("heavy", index_dtype, seed=3)
        values = None if mode == "none" else gaussian(
            *((A.nnz,) if mode == "scalar" else (A.nnz, 3)), dtype=dtype, seed=4)
        shape = (A.num_cols, 67) if mode != "heads" else (A.num_cols, 3, 19)
        x = gaussian(*shape, dtype=dtype, seed=5)
        out, arg = cpu.spmm(A.rowptr, A.col, values, x, reduce)
        expected_out, expected_arg = reference.spmm(A.rowptr, A.col, values, x, reduce)
        torch.testing.assert_close(out, expected_out, **TOLERANCE[dtype])
        assert torch.equal(arg, expected_arg)  # products are exact: same winners


def test_spmm_non_contiguous_inputs_and_extra_feature_dims() -> None:
    A = graph("uniform", torch.int64)
    for reduce in REDUCTIONS:
        x = strided(integers(A.num_cols, 37, dtype=torch.float32, seed=6))
        values = strided(integers(A.nnz, 1, dtype=torch.float32, seed=7, low=-2, high=3))[:, 0]
        assert not values.is_contiguous()
        for vals in (None, values):
            assert_identical(cpu.spmm(A.rowptr, A.col, vals, x, reduce)[0],
                             reference.spmm(A.rowptr, A.col, vals, x, reduce)[0], reduce)
        x4 = integers(A.num_cols, 2, 3, 5, dtype=torch.float64, seed=8)  # (N, *S) trailing dims
        out, arg = cpu.spmm(A.rowptr, A.col, None, x4.transpose(1, 3), reduce)
        ref_out, ref_arg = reference.spmm(A.rowptr, A.col, None, x4.transpose(1, 3), reduce)
        assert_identical(out, ref_out, reduce)
        assert_identical(arg, ref_arg, reduce)
    heads = strided(integers(A.nnz, 3, dtype=torch.float64, seed=9))
    x = integers(A.num_cols, 3, 8, dtype=torch.float64, seed=10).transpose(0, 1).contiguous()
    x = x.transpose(0, 1)  # (N, H, F) with a non-contiguous batch dimension
    assert_identical(cpu.spmm(A.rowptr, A.col, heads, x, "sum")[0],
                     reference.spmm(A.rowptr, A.col, heads, x, "sum")[0], "heads")


def test_spmm_outputs_are_fresh_tensors() -> None:
    A = graph("uniform", torch.int64)
    x = gaussian(A.num_cols, 16, dtype=torch.float32, seed=11)
    out, _ = cpu.spmm(A.rowptr, A.col, None, x, "sum")
    assert out.data_ptr() != x.data_ptr()
    out.add_(1)  # writable, no alias of x
    assert torch.equal(x, gaussian(A.num_cols, 16, dtype=torch.float32, seed=11))


# ----------------------------------------------------------------------------- max/min backward
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("name", ["uniform", "heavy", "duplicates", "no_edges",
                                  "mostly_empty_rows", "no_rows"])
def test_spmm_arg_backward_matches_reference(dtype: torch.dtype, name: str) -> None:
    for index_dtype, mode, width, reduce in itertools.product(
        INDEX_TYPES, ("none", "scalar", "heads"), (1, 7, 37), ("max", "min")
    ):
        A = graph(name, index_dtype)
        values = values_for(mode, A.nnz, dtype, seed=12)
        x = features_for(mode, A.num_cols, width, dtype, seed=13)
        out, arg = reference.spmm(A.rowptr, A.col, values, x, reduce)
        grad = integers(*out.shape, dtype=dtype, seed=14)
        what = f"{name} {dtype} {index_dtype} {mode} F={width} {reduce}"
        grad_x, grad_values = cpu.spmm_arg_backward(A.col, values, x, grad, arg)
        if A.nnz == 0:  # nothing wins; (the reference cannot index an empty col here)
            expected_x = torch.zeros_like(x)
            expected_values = None if values is None else torch.zeros_like(values)
        else:
            expected_x, expected_values = reference.spmm_arg_backward(A.col, values, x, grad,
                                                                      arg)
        assert_identical(grad_x, expected_x, what + " grad_x")
        if values is None:
            assert grad_values is None and expected_values is None
        else:
            assert_identical(grad_values, expected_values, what + " grad_values")


def test_spmm_arg_backward_gaussian_and_non_contiguous_grad() -> None:
    A = graph("heavy", torch.int64)
    values = gaussian(A.nnz, dtype=torch.float32, seed=15)
    x = gaussian(A.num_cols, 40, dtype=torch.float32, seed=16)
    out, arg = cpu.spmm(A.rowptr, A.col, values, x, "max")
    grad = strided(gaussian(*out.shape, dtype=torch.float32, seed=17))
    got = cpu.spmm_arg_backward(A.col, values, x, grad, arg)
    expected = reference.spmm_arg_backward(A.col, values, x, grad, arg)
    torch.testing.assert_close(got[0], expected[0])
    torch.testing.assert_close(got[1], expected[1])


# ----------------------------------------------------------------------------- sddmm
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("op", ["dot", "add", "mul", "outer"])
@pytest.mark.parametrize("name", ["uniform", "heavy", "duplicates", "loops", "no_edges",
                                  "no_rows"])
def test_sddmm_matches_reference_exactly(dtype: torch.dtype, op: str, name: str) -> None:
    for index_dtype, width in itertools.product(INDEX_TYPES, (1, 7, 16, 37, 80)):
        A = graph(name, index_dtype)
        if op == "outer":
            shapes = [((2, width), (3, width))]
        else:
            shapes = [((width,), (width,)), ((3, width), (3, width))]
        for a_tail, b_tail in shapes:
            a = integers(A.num_rows, *a_tail, dtype=dtype, seed=18)
            b = integers(A.num_cols, *b_tail, dtype=dtype, seed=19)
            what = f"{name} {dtype} {index_dtype} {op} {a_tail}"
            assert_identical(cpu.sddmm(A.row, A.col, a, b, op),
                             reference.sddmm(A.row, A.col, a, b, op), what)


@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
def test_sddmm_gaussian_and_non_contiguous(dtype: torch.dtype) -> None:
    A = graph("uniform", torch.int32)
    for op in ("dot", "add", "mul"):
        a = strided(gaussian(A.num_rows, 45, dtype=dtype, seed=20))
        b = gaussian(A.num_cols, 90, dtype=dtype, seed=21)[:, 5:50]
        torch.testing.assert_close(cpu.sddmm(A.row, A.col, a, b, op),
                                   reference.sddmm(A.row, A.col, a, b, op), **TOLERANCE[dtype])
    a = gaussian(A.num_rows, 2, 33, dtype=dtype, seed=22)
    b = gaussian(A.num_cols, 4, 33, dtype=dtype, seed=23)
    torch.testing.assert_close(cpu.sddmm(A.row, A.col, a, b, "outer"),
                               reference.sddmm(A.row, A.col, a, b, "outer"), **TOLERANCE[dtype])


# ----------------------------------------------------------------------------- softmax
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("name", ["uniform", "heavy", "duplicates", "no_edges",
                                  "mostly_empty_rows", "no_rows"])
def test_edge_softmax_forward_and_backward(dtype: torch.dtype, name: str) -> None:
    for index_dtype, heads in itertools.product(INDEX_TYPES, (None, 1, 4)):
        A = graph(name, index_dtype)
        shape = (A.nnz,) if heads is None else (A.nnz, heads)
        # Large scores: a naive exp would overflow, the kernel must subtract the row max.
        scores = gaussian(*shape, dtype=torch.float64, seed=24).mul(300).to(dtype)
        probs = cpu.edge_softmax(A.rowptr, scores)
        torch.testing.assert_close(probs, reference.edge_softmax(A.rowptr, scores),
                                   **TOLERANCE[dtype])
        assert probs.isfinite().all()
        grad = gaussian(*shape, dtype=dtype, seed=25)
        torch.testing.assert_close(cpu.edge_softmax_backward(A.rowptr, probs, grad),
                                   reference.edge_softmax_backward(A.rowptr, probs, grad),
                                   **TOLERANCE[dtype])


def test_edge_softmax_rows_sum_to_one_with_non_contiguous_scores() -> None:
    A = graph("uniform", torch.int64)
    scores = strided(gaussian(A.nnz, 3, dtype=torch.float64, seed=26))
    probs = cpu.edge_softmax(A.rowptr, scores)
    sums = reference.segment(probs, A.rowptr, "sum")[0]
    nonempty = A.rowptr[1:] > A.rowptr[:-1]
    torch.testing.assert_close(sums[nonempty], torch.ones_like(sums[nonempty]))


# ----------------------------------------------------------------------------- segment
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_segment_matches_reference_exactly(dtype: torch.dtype, reduce: str) -> None:
    g = torch.Generator().manual_seed(27)
    for index_dtype, num_src, tail in itertools.product(
        INDEX_TYPES, (0, 1, 50), ((), (1,), (7,), (37,), (3, 5))
    ):
        num_segments = 9
        cuts = torch.sort(torch.randint(0, num_src + 1, (num_segments - 1,), generator=g)).values
        ptr = torch.cat([torch.tensor([0]), cuts, torch.tensor([num_src])]).to(index_dtype)
        src = integers(num_src, *tail, dtype=dtype, seed=28)
        what = f"{dtype} {index_dtype} N={num_src} {tail} {reduce}"
        out, arg = cpu.segment(src, ptr, reduce)
        expected_out, expected_arg = reference.segment(src, ptr, reduce)
        assert_identical(out, expected_out, what)
        assert_identical(arg, expected_arg, what + " arg")
    empty_ptr = torch.zeros(1, dtype=torch.int64)  # no segments at all
    out, _ = cpu.segment(torch.zeros(0, 4, dtype=dtype), empty_ptr, reduce)
    assert out.shape == (0, 4)


def test_segment_non_contiguous_src() -> None:
    src = strided(gaussian(30, 20, dtype=torch.float32, seed=29))
    ptr = torch.tensor([0, 4, 4, 19, 30])
    for reduce in REDUCTIONS:
        out, arg = cpu.segment(src, ptr, reduce)
        expected_out, expected_arg = reference.segment(src, ptr, reduce)
        torch.testing.assert_close(out, expected_out)
        assert torch.equal(arg, expected_arg)


# ----------------------------------------------------------------------------- intersect_rows
@pytest.mark.parametrize("index_dtype", INDEX_TYPES, ids=str)
@pytest.mark.parametrize("name", ["uniform", "heavy", "duplicates", "loops", "no_edges",
                                  "mostly_empty_rows"])
def test_intersect_rows_matches_reference(index_dtype: torch.dtype, name: str) -> None:
    A = graph(name, index_dtype, sort_columns=True)
    g = torch.Generator().manual_seed(30)
    left = torch.randint(0, A.num_rows, (60,), generator=g)
    right = torch.randint(0, A.num_rows, (60,), generator=g)
    right[:5] = left[:5]  # a row with itself
    for pair_dtype in (torch.int64, index_dtype):
        ptr, common = cpu.intersect_rows(A.rowptr, A.col, left.to(pair_dtype),
                                         right.to(pair_dtype))
        expected_ptr, expected_common = reference.intersect_rows(A.rowptr, A.col, left, right)
        assert_identical(ptr, expected_ptr, f"{name} ptr")
        assert_identical(common, expected_common, f"{name} common")


def test_intersect_rows_hub_against_short_rows_and_no_pairs() -> None:
    # Row 0 holds 300 columns, the other rows 1..5 each: the short-vs-long (binary search)
    # path and the merge path must agree with the reference.
    g = torch.Generator().manual_seed(31)
    hub = torch.randperm(1000, generator=g)[:300].sort().values
    rows = [hub] + [torch.randperm(1000, generator=g)[: k + 1].sort().values for k in range(5)]
    rows.append(hub[::40].clone())  # a short row fully inside the hub
    rowptr = torch.tensor([0] + [len(r) for r in rows]).cumsum(0)
    col = torch.cat(rows)
    left = torch.tensor([0, 1, 2, 3, 4, 5, 6, 0, 6, 0])
    right = torch.tensor([1, 0, 0, 0, 0, 0, 0, 6, 0, 0])
    for index_dtype in INDEX_TYPES:
        got = cpu.intersect_rows(rowptr.to(index_dtype), col.to(index_dtype), left, right)
        expected = reference.intersect_rows(rowptr.to(index_dtype), col.to(index_dtype), left,
                                            right)
        assert_identical(got[0], expected[0], "ptr")
        assert_identical(got[1], expected[1], "common")
    no_pairs = torch.zeros(0, dtype=torch.long)
    ptr, common = cpu.intersect_rows(rowptr, col, no_pairs, no_pairs)
    assert ptr.tolist() == [0] and common.numel() == 0


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("dtype", (torch.float32, torch.float64))
def test_weighted_sum_equals_reference_bit_for_bit_on_gaussian_data(
        width: int, dtype: torch.dtype) -> None:
    """The build compiles with -ffp-contract=off, so ``acc + x * w`` is a rounded product and
    a rounded sum, as the reference's ``x * w`` then ``index_add_``: a contracted FMA (one
    rounding) would differ in the last bits on data that is not small integers."""
    A = graph("uniform", torch.int64)
    x = gaussian(A.num_cols, width, dtype=dtype, seed=40)
    values = gaussian(A.nnz, dtype=dtype, seed=41)
    got = cpu.spmm(A.rowptr, A.col, values, x, "sum")[0]
    assert_identical(got, reference.spmm(A.rowptr, A.col, values, x, "sum")[0], "weighted sum")


# ----------------------------------------------------------------------------- random
@pytest.mark.parametrize("seed", range(4))
def test_bernoulli_keep_mask_equals_reference(seed: int) -> None:
    """The fused MT19937 mask kernel against the reference (NumPy's MT19937, then the
    comparisons): same mask, same state after, from every position of a block (an element's
    two words straddle a regeneration at odd offsets), for lengths 0, 1, short and several
    blocks long, and at the threshold's extremes (nothing kept, everything kept, ties)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    key = torch.from_numpy(rng.integers(0, 1 << 32, 624, dtype=np.uint32).view(np.int32).copy())
    thresholds = [0, 1 << 53, (5 << 32) | 7, int(rng.integers(0, 1 << 53))]
    for pos in (0, 1, 311, 623, 624, int(rng.integers(0, 625))):
        for n in (0, 1, 2, 313, 5000):
            for threshold in thresholds:
                high, low = threshold >> 32, threshold & 0xFFFFFFFF
                keep, key_after, pos_after = cpu.bernoulli_keep_mask(key, pos, n, high, low)
                want = reference.bernoulli_keep_mask(key, pos, n, high, low)
                assert torch.equal(keep, want[0]) and keep.dtype == torch.bool
                assert torch.equal(key_after, want[1]) and pos_after == want[2]
    # the noise variant: scale[0] where kept, 0 elsewhere, in scale's dtype (dropout's noise)
    threshold = int(rng.integers(0, 1 << 53))
    high, low = threshold >> 32, threshold & 0xFFFFFFFF
    for dtype in FLOAT_TYPES:
        scale = torch.ones(1, dtype=dtype).div_(0.3)
        noise, key_after, pos_after = cpu.bernoulli_keep_mask(key, 311, 5000, high, low, scale)
        want = reference.bernoulli_keep_mask(key, 311, 5000, high, low, scale)
        assert noise.dtype == dtype and torch.equal(noise, want[0])
        assert torch.equal(key_after, want[1]) and pos_after == want[2]
        mask = cpu.bernoulli_keep_mask(key, 311, 5000, high, low)[0]
        assert torch.equal(noise, mask.to(dtype).div_(0.3))  # F.dropout's own construction
    keep, _, _ = cpu.bernoulli_keep_mask(key, 624, 4000, 0, 0)
    assert not bool(keep.any())  # q = 0
    keep, _, _ = cpu.bernoulli_keep_mask(key, 624, 4000, 1 << 21, 0)
    assert bool(keep.all())  # q = 1
    # a tie on the high word (probability 2^-21 per element, so forced): the threshold's high
    # word is element 0's, and its low word decides, strictly
    bit_generator = np.random.MT19937()
    bit_generator.state = {"bit_generator": "MT19937",
                           "state": {"key": key.numpy().view(np.uint32).copy(), "pos": 624}}
    first, second = (int(w) for w in bit_generator.random_raw(2))
    for low, kept in ((second, False), (second + 1, True)):
        keep, _, _ = cpu.bernoulli_keep_mask(key, 624, 3, first & 0x1FFFFF, low)
        assert bool(keep[0]) is kept
        assert torch.equal(keep, reference.bernoulli_keep_mask(key, 624, 3, first & 0x1FFFFF,
                                                                low)[0])


# ----------------------------------------------------------------------------- fallbacks
def test_unsupported_inputs_are_answered_by_the_reference() -> None:
    A = graph("uniform", torch.int64)
    counts = torch.ones(A.nnz, dtype=torch.int64)  # integer src: not a C++ dtype
    assert torch.equal(cpu.segment(counts, A.rowptr, "sum")[0],
                       reference.segment(counts, A.rowptr, "sum")[0])
    x = gaussian(A.num_cols, 4, dtype=torch.float64, seed=32)
    values = gaussian(A.nnz, dtype=torch.float32, seed=33)  # mixed dtypes
    torch.testing.assert_close(cpu.spmm(A.rowptr, A.col, values, x, "sum")[0],
                               reference.spmm(A.rowptr, A.col, values, x, "sum")[0])
