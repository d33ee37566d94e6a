"""Every Triton kernel against the reference backend, on small random and adversarial inputs.

Without a GPU the kernels run on CPU tensors through Triton's interpreter (the backend picks
the interpreter for CPU tensors by itself, whatever ``TRITON_INTERPRET`` says); with one they run
compiled on CUDA tensors. The interpreter is slow, so graphs are tiny but chosen to hit every
code path: empty rows, rows longer than one ``BLOCK_E`` tile, feature widths that are not a
multiple of ``BLOCK_F`` (the interpreter uses ``BLOCK_E=4``, ``BLOCK_F=16``), duplicates and ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

pytest.importorskip("triton", reason="the triton backend needs the optional 'triton' package")

from gnnkit.sparse._backends import reference
from gnnkit.sparse._backends import triton as triton_backend
from gnnkit.sparse._backends.triton import spmm_kernel

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
REDUCTIONS = ("sum", "mean", "max", "min")
SPLIT_POLICY = spmm_kernel.SchedulePolicy(chunk=3)  # tiny pieces: several per row


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Csr:
    """A CSR pattern with its COO rows (row = target, column = source)."""

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

    def to(self, index_dtype: torch.dtype) -> Csr:
        return Csr(self.rowptr.to(index_dtype), self.col.to(index_dtype),
                   self.row.to(index_dtype), self.num_cols)


def csr_from_coo(row: Tensor, col: Tensor, num_rows: int, num_cols: int) -> Csr:
    order = torch.argsort(row, stable=True)
    row, col = row[order], col[order]
    rowptr = torch.zeros(num_rows + 1, dtype=torch.long)
    rowptr[1:] = torch.cumsum(torch.bincount(row, minlength=num_rows), 0)
    return Csr(rowptr.to(DEVICE), col.to(DEVICE), row.to(DEVICE), num_cols)


def make_graph(kind: str, seed: int = 0) -> Csr:
    """``random`` (duplicates and empty rows), ``heavy`` (one row holds most entries),
    ``no_edges``, ``no_rows``, ``one_row`` (every entry in row 0, with repeated columns)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "random":
        row = torch.randint(0, 8, (26,), generator=g)
        row[row == 3] = 4  # row 3 empty
        col = torch.randint(0, 7, (26,), generator=g)
        row, col = torch.cat([row, row[:5]]), torch.cat([col, col[:5]])  # duplicates
        return csr_from_coo(row, col, 9, 7)  # row 8 empty too
    if kind == "heavy":
        row = torch.cat([torch.full((23,), 2), torch.tensor([0, 4, 4, 5])])
        col = torch.randint(0, 6, (27,), generator=g)
        return csr_from_coo(row, col, 6, 6)
    if kind == "no_edges":
        empty = torch.zeros(0, dtype=torch.long)
        return csr_from_coo(empty, empty, 4, 5)
    if kind == "no_rows":
        empty = torch.zeros(0, dtype=torch.long)
        return csr_from_coo(empty, empty, 0, 3)
    if kind == "one_row":
        col = torch.tensor([1, 0, 1, 1, 2, 0, 2, 1, 0])
        return csr_from_coo(torch.zeros(9, dtype=torch.long), col, 1, 3)
    raise ValueError(kind)


def small_ints(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 1) -> Tensor:
    """Integer-valued floats in [-3, 3]: exact in every dtype, and full of ties for max/min."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-3, 4, shape, generator=g).to(dtype).to(DEVICE)


def normal(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 2) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g).to(dtype).to(DEVICE)


def make_values(
    kind: str, nnz: int, heads: int, dtype: torch.dtype, seed: int = 3
) -> Tensor | None:
    if kind == "none":
        return None
    if kind == "scalar":
        return normal(nnz, dtype=dtype, seed=seed)
    return normal(nnz, heads, dtype=dtype, seed=seed)


def make_features(kind: str, num_cols: int, heads: int, width: int, dtype: torch.dtype,
                  *, integer: bool = False) -> Tensor:
    shape = (num_cols, heads, width) if kind == "multihead" else (num_cols, width)
    return small_ints(*shape, dtype=dtype) if integer else normal(*shape, dtype=dtype)


TOLERANCES = {
    torch.float64: {"rtol": 1e-12, "atol": 1e-12},
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
    torch.float16: {"rtol": 2e-3, "atol": 2e-3},
    # Triton's interpreter casts float32 -> bfloat16 by truncation (GPUs round to nearest):
    # allow one bfloat16 unit in the last place.
    torch.bfloat16: {"rtol": 1.6e-2, "atol": 1.6e-2},
}


def assert_close(actual: Tensor, expected: Tensor) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert actual.device == expected.device
    torch.testing.assert_close(actual, expected, **TOLERANCES[expected.dtype])


def split_run(rowptr: Tensor, index: Tensor | None, values: Tensor | None, src: Tensor,
              reduce: str, schedule: str, out_shape: torch.Size) -> tuple[Tensor, Tensor]:
    """:func:`gather_reduce` with a forced schedule, reshaped like the reference's result."""
    out, arg = spmm_kernel.gather_reduce(rowptr, index, values, src, reduce, schedule=schedule,
                                         policy=SPLIT_POLICY)
    return out.view(out_shape), arg.view(out_shape) if reduce in ("max", "min") else arg


def assert_spmm_matches(got: tuple[Tensor, Tensor], expected: tuple[Tensor, Tensor],
                        reduce: str, *, exact: bool) -> None:
    out, arg = got
    expected_out, expected_arg = expected
    if exact:
        assert out.dtype == expected_out.dtype and out.shape == expected_out.shape
        assert torch.equal(out, expected_out)
    else:
        assert_close(out, expected_out)
    assert arg.dtype == expected_arg.dtype == torch.int32  # reference.arg_dtype(nnz)
    if reduce in ("max", "min"):
        assert torch.equal(arg, expected_arg)
    else:
        assert arg.numel() == 0


# ----------------------------------------------------------------------------- spmm
@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("values_kind", ["none", "scalar", "multihead"])
@pytest.mark.parametrize("schedule", ["rows", "split"])
def test_spmm_random_graph(reduce: str, values_kind: str, schedule: str) -> None:
    graph = make_graph("random")
    heads = 3 if values_kind == "multihead" else 1
    values = make_values(values_kind, graph.nnz, heads, torch.float32)
    x = make_features(values_kind, graph.num_cols, heads, 5, torch.float32, integer=True)
    src = x if values_kind == "multihead" else x.unsqueeze(1)
    expected = reference.spmm(graph.rowptr, graph.col, values, x, reduce)
    got = split_run(graph.rowptr, graph.col, values, src, reduce, schedule, expected[0].shape)
    # Without values every message is an integer: all reductions are exact.
    assert_spmm_matches(got, expected, reduce, exact=values_kind == "none")


@pytest.mark.parametrize("kind", ["heavy", "one_row", "no_edges", "no_rows"])
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_spmm_adversarial_graphs(kind: str, reduce: str) -> None:
    graph = make_graph(kind)
    x = make_features("plain", graph.num_cols, 1, 3, torch.float32, integer=True)
    expected = reference.spmm(graph.rowptr, graph.col, None, x, reduce)
    for schedule in ("rows", "split"):
        got = split_run(graph.rowptr, graph.col, None, x.unsqueeze(1), reduce, schedule,
                        expected[0].shape)
        assert_spmm_matches(got, expected, reduce, exact=True)


@pytest.mark.parametrize("width", [1, 16, 33])
@pytest.mark.parametrize("reduce", ["sum", "max"])
def test_spmm_feature_widths(width: int, reduce: str) -> None:
    """F = 1, exactly one tile, and three tiles with a ragged last one."""
    graph = make_graph("random", seed=4)
    values = make_values("scalar", graph.nnz, 1, torch.float32)
    x = normal(graph.num_cols, width)
    assert_spmm_matches(triton_backend.spmm(graph.rowptr, graph.col, values, x, reduce),
                        reference.spmm(graph.rowptr, graph.col, values, x, reduce), reduce,
                        exact=False)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_spmm_dtypes(dtype: torch.dtype, index_dtype: torch.dtype, reduce: str) -> None:
    graph = make_graph("random", seed=5).to(index_dtype)
    values = make_values("scalar", graph.nnz, 1, dtype)
    x = normal(graph.num_cols, 6, dtype=dtype)
    got = triton_backend.spmm(graph.rowptr, graph.col, values, x, reduce)
    expected = reference.spmm(graph.rowptr, graph.col, values, x, reduce)
    assert_spmm_matches(got, expected, reduce, exact=False)


def test_spmm_non_contiguous_inputs() -> None:
    graph = make_graph("random", seed=6)
    x = normal(6, graph.num_cols).t()  # (N, 6) with strides (1, N)
    values = normal(graph.nnz, 2)[:, 1]  # stride 2
    got = triton_backend.spmm(graph.rowptr, graph.col, values, x, "sum")
    assert_spmm_matches(got, reference.spmm(graph.rowptr, graph.col, values, x, "sum"), "sum",
                        exact=False)


def test_spmm_ties_across_split_pieces_pick_first_entry() -> None:
    """All messages equal: the winner must be the row's first entry, even across pieces."""
    graph = make_graph("heavy")
    x = torch.ones(graph.num_cols, 2, device=DEVICE)
    for reduce in ("max", "min"):
        expected = reference.spmm(graph.rowptr, graph.col, None, x, reduce)
        got = split_run(graph.rowptr, graph.col, None, x.unsqueeze(1), reduce, "split",
                        expected[0].shape)
        assert_spmm_matches(got, expected, reduce, exact=True)


def test_spmm_infinite_messages() -> None:
    """A row whose only messages are -inf has max -inf (not 0) and a valid winner."""
    graph = make_graph("random", seed=7)
    x = normal(graph.num_cols, 2)
    x[:, 0] = float("-inf")
    for reduce in ("max", "min"):
        got = triton_backend.spmm(graph.rowptr, graph.col, None, x, reduce)
        assert_spmm_matches(got, reference.spmm(graph.rowptr, graph.col, None, x, reduce),
                            reduce, exact=True)


def test_spmm_block_values_fall_back_to_reference() -> None:
    graph = make_graph("random", seed=8)
    values = normal(graph.nnz, 2, 3)
    x = normal(graph.num_cols, 3, 4)
    got = triton_backend.spmm(graph.rowptr, graph.col, values, x, "sum")
    assert_spmm_matches(got, reference.spmm(graph.rowptr, graph.col, values, x, "sum"), "sum",
                        exact=False)


@settings(max_examples=8, deadline=None)
@given(
    num_rows=st.integers(0, 6),
    num_cols=st.integers(1, 5),
    nnz=st.integers(0, 14),
    width=st.integers(1, 18),
    reduce=st.sampled_from(REDUCTIONS),
    schedule=st.sampled_from(["rows", "split"]),
    seed=st.integers(0, 2**16),
)
def test_spmm_property(num_rows: int, num_cols: int, nnz: int, width: int, reduce: str,
                       schedule: str, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    nnz = nnz if num_rows else 0
    graph = csr_from_coo(torch.randint(0, max(num_rows, 1), (nnz,), generator=g),
                         torch.randint(0, num_cols, (nnz,), generator=g), num_rows, num_cols)
    x = small_ints(num_cols, width, seed=seed)
    expected = reference.spmm(graph.rowptr, graph.col, None, x, reduce)
    got = split_run(graph.rowptr, graph.col, None, x.unsqueeze(1), reduce, schedule,
                    expected[0].shape)
    assert_spmm_matches(got, expected, reduce, exact=True)


# ----------------------------------------------------------------------------- segment
@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("schedule", ["rows", "split"])
def test_segment_matches_reference(reduce: str, schedule: str) -> None:
    src = small_ints(11, 2, 3)  # trailing shape (2, 3) is flattened and restored
    ptr = torch.tensor([0, 0, 7, 7, 8, 11], device=DEVICE)  # empty first/middle segments
    expected = reference.segment(src, ptr, reduce)
    if schedule == "rows":
        got = triton_backend.segment(src, ptr, reduce)
    else:
        got = split_run(ptr, None, None, src.reshape(11, 1, 6), reduce, "split", expected[0].shape)
    assert_spmm_matches(got, expected, reduce, exact=True)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_segment_one_dimensional_and_dtypes(dtype: torch.dtype) -> None:
    src = normal(9, dtype=dtype)
    ptr = torch.tensor([0, 4, 4, 9], dtype=torch.int32, device=DEVICE)
    for reduce in ("sum", "min"):
        assert_spmm_matches(triton_backend.segment(src, ptr, reduce),
                            reference.segment(src, ptr, reduce), reduce, exact=False)


def test_segment_empty_source() -> None:
    src = normal(0, 4)
    ptr = torch.zeros(3, dtype=torch.long, device=DEVICE)
    for reduce in REDUCTIONS:
        assert_spmm_matches(triton_backend.segment(src, ptr, reduce),
                            reference.segment(src, ptr, reduce), reduce, exact=True)


# ----------------------------------------------------------------------------- sddmm
@pytest.mark.parametrize("op", ["dot", "add", "mul"])
@pytest.mark.parametrize("trailing", [(5,), (3, 17), (1,)])
def test_sddmm_matches_reference(op: str, trailing: tuple[int, ...]) -> None:
    graph = make_graph("random", seed=9)
    a = normal(graph.num_rows, *trailing, seed=10)
    b = normal(graph.num_cols, *trailing, seed=11)
    assert_close(triton_backend.sddmm(graph.row, graph.col, a, b, op),
                 reference.sddmm(graph.row, graph.col, a, b, op))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
def test_sddmm_dtypes(dtype: torch.dtype, index_dtype: torch.dtype) -> None:
    graph = make_graph("random", seed=12).to(index_dtype)
    a = normal(graph.num_rows, 2, 7, dtype=dtype)
    b = normal(graph.num_cols, 2, 7, dtype=dtype)
    for op in ("dot", "mul"):
        assert_close(triton_backend.sddmm(graph.row, graph.col, a, b, op),
                     reference.sddmm(graph.row, graph.col, a, b, op))


def test_sddmm_edge_cases() -> None:
    empty = make_graph("no_edges")
    a, b = normal(empty.num_rows, 4), normal(empty.num_cols, 4)
    for op in ("dot", "add"):
        assert_close(triton_backend.sddmm(empty.row, empty.col, a, b, op),
                     reference.sddmm(empty.row, empty.col, a, b, op))
    graph = make_graph("random", seed=13)
    # Non-contiguous operands, one-dimensional operands for add, and zero features for dot.
    a, b = normal(4, graph.num_rows).t(), normal(graph.num_cols, 8)[:, ::2]
    assert_close(triton_backend.sddmm(graph.row, graph.col, a, b, "dot"),
                 reference.sddmm(graph.row, graph.col, a, b, "dot"))
    a1, b1 = normal(graph.num_rows), normal(graph.num_cols)
    assert_close(triton_backend.sddmm(graph.row, graph.col, a1, b1, "add"),
                 reference.sddmm(graph.row, graph.col, a1, b1, "add"))
    a0, b0 = normal(graph.num_rows, 0), normal(graph.num_cols, 0)
    assert_close(triton_backend.sddmm(graph.row, graph.col, a0, b0, "dot"),
                 reference.sddmm(graph.row, graph.col, a0, b0, "dot"))


def test_sddmm_outer_falls_back_to_reference() -> None:
    graph = make_graph("random", seed=14)
    a, b = normal(graph.num_rows, 2, 3), normal(graph.num_cols, 4, 3)
    assert_close(triton_backend.sddmm(graph.row, graph.col, a, b, "outer"),
                 reference.sddmm(graph.row, graph.col, a, b, "outer"))


# ----------------------------------------------------------------------------- softmax
@pytest.mark.parametrize("kind", ["random", "heavy", "no_edges"])
@pytest.mark.parametrize("heads", [None, 1, 3])
def test_edge_softmax_forward_and_backward(kind: str, heads: int | None) -> None:
    graph = make_graph(kind, seed=15)
    shape = (graph.nnz,) if heads is None else (graph.nnz, heads)
    scores = 4 * normal(*shape, seed=16)
    grad = normal(*shape, seed=17)
    probs = triton_backend.edge_softmax(graph.rowptr, scores)
    assert_close(probs, reference.edge_softmax(graph.rowptr, scores))
    reference_probs = reference.edge_softmax(graph.rowptr, scores)
    assert_close(triton_backend.edge_softmax_backward(graph.rowptr, reference_probs, grad),
                 reference.edge_softmax_backward(graph.rowptr, reference_probs, grad))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
def test_edge_softmax_dtypes(dtype: torch.dtype, index_dtype: torch.dtype) -> None:
    graph = make_graph("random", seed=18).to(index_dtype)
    scores = normal(graph.nnz, 2, dtype=dtype)
    grad = normal(graph.nnz, 2, dtype=dtype, seed=19)
    probs = reference.edge_softmax(graph.rowptr, scores)
    assert_close(triton_backend.edge_softmax(graph.rowptr, scores), probs)
    assert_close(triton_backend.edge_softmax_backward(graph.rowptr, probs, grad),
                 reference.edge_softmax_backward(graph.rowptr, probs, grad))


def test_edge_softmax_extreme_scores() -> None:
    """Large scores (overflow without the max shift), -inf entries, non-contiguous input."""
    graph = make_graph("random", seed=20)
    scores = (500 * normal(2, graph.nnz)).t()  # (E, 2), strides (1, E)
    scores[::4, 0] = float("-inf")  # rows whose scores are all -inf give NaN in both
    torch.testing.assert_close(triton_backend.edge_softmax(graph.rowptr, scores),
                               reference.edge_softmax(graph.rowptr, scores), equal_nan=True)


# ----------------------------------------------------------------------------- backward
def test_spmm_gradients_through_triton_kernels_match_autograd() -> None:
    """The backward of sum-``spmm`` is an ``spmm`` with Aᵀ (for x) and an SDDMM (for values).

    Both run on Triton here and are compared with autograd through the reference forward.
    """
    graph = make_graph("random", seed=21)
    values = normal(graph.nnz, seed=22).requires_grad_()
    x = normal(graph.num_cols, 5, seed=23).requires_grad_()
    grad_out = normal(graph.num_rows, 5, seed=24)
    out, _ = reference.spmm(graph.rowptr, graph.col, values, x, "sum")
    expected_grad_values, expected_grad_x = torch.autograd.grad(out, (values, x), grad_out)

    order = torch.argsort(graph.col, stable=True)  # CSC = CSR of the transpose
    colptr = torch.zeros(graph.num_cols + 1, dtype=torch.long, device=DEVICE)
    colptr[1:] = torch.cumsum(torch.bincount(graph.col, minlength=graph.num_cols), 0)
    grad_x, _ = triton_backend.spmm(colptr, graph.row[order], values.detach()[order], grad_out,
                                    "sum")
    grad_values = triton_backend.sddmm(graph.row, graph.col, grad_out, x.detach(), "dot")
    assert_close(grad_x, expected_grad_x)
    assert_close(grad_values, expected_grad_values)
