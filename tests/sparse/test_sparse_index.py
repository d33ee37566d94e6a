"""gnnkit.sparse.index against brute-force Python loops, round trips, errors and compile."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gnnkit.sparse.index
from gnnkit.sparse import (
    expand_ranges,
    index_from_counts,
    index_from_ptr,
    pair_keys,
    ptr_from_counts,
    ptr_from_index,
    split_keys,
)

DTYPES = (torch.int64, torch.int32)


# ------------------------------------------------------------------ brute-force oracles
def loop_ptr_from_counts(counts: list[int]) -> list[int]:
    ptr = [0]
    for c in counts:
        ptr.append(ptr[-1] + c)
    return ptr


def loop_ptr_from_index(index: list[int], num_segments: int) -> list[int]:
    # ptr[k] = how many entries belong to a segment before k
    return [sum(1 for i in index if i < k) for k in range(num_segments + 1)]


def loop_index_from_ptr(ptr: list[int]) -> list[int]:
    out = []
    for k in range(len(ptr) - 1):
        for _ in range(ptr[k], ptr[k + 1]):
            out.append(k)
    return out


def loop_expand_ranges(starts: list[int], counts: list[int]) -> list[int]:
    out = []
    for s, c in zip(starts, counts, strict=True):
        out.extend(range(s, s + c))
    return out


def _counts_cases() -> list[list[int]]:
    gen = torch.Generator().manual_seed(0)
    random = [torch.randint(0, 5, (n,), generator=gen).tolist() for n in (1, 7, 40)]
    return [
        [],  # no segments at all
        [0],  # one empty segment
        [0, 0, 0],  # only empty segments
        [9],  # everything in one bucket
        [0, 0, 6, 0],  # everything in one inner bucket
        [0, 0, 0, 5],  # everything in the last bucket
        [3, 0, 0, 2, 0],
        *random,
    ]


COUNTS = _counts_cases()


# ------------------------------------------------------------------ pointers
@pytest.mark.parametrize("counts", COUNTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ptr_from_counts_matches_loop(counts: list[int], dtype: torch.dtype) -> None:
    ptr = ptr_from_counts(torch.tensor(counts, dtype=dtype))
    assert ptr.dtype == dtype
    assert ptr.tolist() == loop_ptr_from_counts(counts)


@pytest.mark.parametrize("counts", COUNTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ptr_from_index_matches_loop(counts: list[int], dtype: torch.dtype) -> None:
    index = [k for k, c in enumerate(counts) for _ in range(c)]
    for num_segments in {len(counts), len(counts) + 3}:
        ptr = ptr_from_index(torch.tensor(index, dtype=dtype), num_segments)
        assert ptr.dtype == dtype
        assert ptr.tolist() == loop_ptr_from_index(index, num_segments)


def test_ptr_from_index_unsorted_counts_per_segment() -> None:
    index = torch.tensor([3, 0, 3, 1, 0, 3])
    # the pointer of the stably sorted order 0 0 1 3 3 3
    assert ptr_from_index(index, 5).tolist() == loop_ptr_from_index(index.tolist(), 5)
    assert ptr_from_index(index, 5).tolist() == [0, 2, 3, 3, 6, 6]


@pytest.mark.parametrize("dtype", DTYPES)
def test_ptr_dtype_override(dtype: torch.dtype) -> None:
    other = torch.int32 if dtype == torch.int64 else torch.int64
    assert ptr_from_counts(torch.tensor([2, 1], dtype=dtype), dtype=other).dtype == other
    assert ptr_from_index(torch.tensor([0, 1], dtype=dtype), 2, dtype=other).dtype == other
    assert index_from_ptr(torch.tensor([0, 2], dtype=dtype), dtype=other).dtype == other
    assert index_from_counts(torch.tensor([2], dtype=dtype), dtype=other).dtype == other


# ------------------------------------------------------------------ back to positions
@pytest.mark.parametrize("counts", COUNTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_index_from_ptr_and_counts_match_loop(counts: list[int], dtype: torch.dtype) -> None:
    ptr = loop_ptr_from_counts(counts)
    expected = loop_index_from_ptr(ptr)
    for total in (None, sum(counts)):
        got = index_from_ptr(torch.tensor(ptr, dtype=dtype), total=total)
        assert got.dtype == dtype and got.tolist() == expected
        got = index_from_counts(torch.tensor(counts, dtype=dtype), total=total)
        assert got.dtype == dtype and got.tolist() == expected


def test_index_from_ptr_counts_from_the_first_pointer() -> None:
    # a slice of a pointer: positions are counted from ptr[0]
    assert index_from_ptr(torch.tensor([4, 6, 6, 7])).tolist() == [0, 0, 2]


@pytest.mark.parametrize("counts", COUNTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_expand_ranges_matches_loop(counts: list[int], dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(len(counts))
    starts = torch.randint(0, 100, (len(counts),), generator=gen, dtype=dtype)
    expected = loop_expand_ranges(starts.tolist(), counts)
    got = expand_ranges(starts, torch.tensor(counts, dtype=dtype))
    assert got.dtype == dtype and got.tolist() == expected
    got = expand_ranges(starts, torch.tensor(counts, dtype=dtype), total=sum(counts))
    assert got.tolist() == expected


def test_expand_ranges_gathers_csr_rows() -> None:
    rowptr = torch.tensor([0, 2, 2, 5, 6])
    col = torch.tensor([1, 3, 0, 2, 3, 1])
    rows = torch.tensor([2, 0, 1, 2])
    positions = expand_ranges(rowptr[rows], rowptr[rows + 1] - rowptr[rows])
    assert col[positions].tolist() == [0, 2, 3, 1, 3, 0, 2, 3]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=30), st.booleans())
def test_round_trips(counts: list[int], int32: bool) -> None:
    dtype = torch.int32 if int32 else torch.int64
    counts_t = torch.tensor(counts, dtype=dtype)
    ptr = ptr_from_counts(counts_t)
    index = index_from_ptr(ptr)
    assert torch.equal(index, index_from_counts(counts_t))
    assert torch.equal(ptr_from_index(index, len(counts)), ptr)
    assert torch.equal(ptr[1:] - ptr[:-1], counts_t)
    zeros = torch.zeros(len(counts), dtype=dtype)
    # positions within each segment
    assert torch.equal(
        expand_ranges(zeros, counts_t), torch.arange(index.numel(), dtype=dtype) - ptr[index]
    )


# ------------------------------------------------------------------ keys
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (3, 5), (40, 40), (1, 1000)])
def test_pair_keys_match_loop_and_round_trip(dtype: torch.dtype, shape: tuple[int, int]) -> None:
    num_rows, num_cols = shape
    gen = torch.Generator().manual_seed(num_rows * num_cols)
    row = torch.randint(0, num_rows, (200,), generator=gen, dtype=dtype)
    col = torch.randint(0, num_cols, (200,), generator=gen, dtype=dtype)
    keys = pair_keys(row, col, num_rows, num_cols)
    assert keys.dtype == torch.int64
    pairs = list(zip(row.tolist(), col.tolist(), strict=True))
    assert keys.tolist() == [r * num_cols + c for r, c in pairs]
    # keys order like (row, col) pairs and are unique per pair
    assert [pairs[i] for i in torch.argsort(keys, stable=True).tolist()] == sorted(pairs)
    assert torch.unique(keys).numel() == len(set(pairs))
    back_row, back_col = split_keys(keys, num_cols)
    assert torch.equal(back_row, row.long()) and torch.equal(back_col, col.long())
    assert split_keys(keys.to(dtype) if dtype == torch.int32 else keys, num_cols)[0].dtype == dtype


def test_pair_keys_at_the_int64_limit() -> None:
    big = 2**31  # num_rows · num_cols = 2**62 fits; the largest key is exact
    row, col = torch.tensor([big - 1, 0]), torch.tensor([big - 1, 0])
    keys = pair_keys(row, col, big, big)
    assert keys.tolist() == [(big - 1) * big + big - 1, 0]
    assert [t.tolist() for t in split_keys(keys, big)] == [[big - 1, 0], [big - 1, 0]]
    pair_keys(row[:0], col[:0], 2**32, 2**31)  # exactly 2**63: keys < 2**63 still fit


def test_keys_empty_and_zero_width() -> None:
    empty = torch.zeros(0, dtype=torch.int64)
    assert pair_keys(empty, empty, 0, 0).shape == (0,)
    assert pair_keys(empty, empty, 4, 0).dtype == torch.int64
    row, col = split_keys(empty, 0)
    assert row.shape == col.shape == (0,)


# ------------------------------------------------------------------ NumPy path
@pytest.mark.parametrize("np_dtype", [np.int64, np.int32])
def test_numpy_inputs_give_numpy_outputs(np_dtype: type) -> None:
    counts = np.array([2, 0, 3], dtype=np_dtype)
    ptr = ptr_from_counts(counts)
    assert isinstance(ptr, np.ndarray) and ptr.dtype == np_dtype
    assert ptr.tolist() == [0, 2, 2, 5]
    index = index_from_ptr(ptr)
    assert isinstance(index, np.ndarray) and index.tolist() == [0, 0, 2, 2, 2]
    assert index_from_counts(counts).tolist() == [0, 0, 2, 2, 2]
    assert ptr_from_index(index, 3).tolist() == ptr.tolist()
    assert expand_ranges(np.array([5, 0, 1], dtype=np_dtype), counts).tolist() == [5, 6, 1, 2, 3]
    keys = pair_keys(np.array([1, 0], dtype=np_dtype), np.array([2, 1], dtype=np_dtype), 3, 4)
    assert isinstance(keys, np.ndarray) and keys.dtype == np.int64 and keys.tolist() == [6, 1]
    row, col = split_keys(keys, 4)
    assert row.tolist() == [1, 0] and col.tolist() == [2, 1]


def test_numpy_strided_and_read_only_inputs() -> None:
    table = np.array([[0, 5], [0, 7], [2, 9]])
    assert ptr_from_index(table[:, 0], 3).tolist() == [0, 2, 2, 3]  # a strided column view
    frozen = np.array([1, 2])
    frozen.flags.writeable = False
    with np.testing.assert_no_warnings():
        assert ptr_from_counts(frozen).tolist() == [0, 1, 3]


# ------------------------------------------------------------------ errors
ZERO = torch.tensor([0])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: ptr_from_counts([1, 2]), TypeError, "counts must be a torch.Tensor"),
        (lambda: ptr_from_counts(torch.tensor([1.0])), TypeError, "counts must have dtype"),
        (lambda: ptr_from_counts(torch.tensor([1], dtype=torch.int16)), TypeError, "counts"),
        (lambda: ptr_from_counts(np.array([1], dtype=np.uint8)), TypeError, "counts"),
        (lambda: ptr_from_counts(torch.ones(2, 2, dtype=torch.long)), ValueError, "be 1-D"),
        (lambda: ptr_from_counts(torch.tensor([2, -1])), ValueError, "counts must be non-negative"),
        (lambda: ptr_from_counts(torch.tensor([1]), dtype=torch.float32), TypeError, "dtype"),
        (
            lambda: ptr_from_counts(torch.tensor([2**31 - 1, 1]), dtype=torch.int32),
            ValueError,
            "int32",
        ),
        (lambda: ptr_from_index(torch.tensor([0, 3]), 3), ValueError, r"index values .*\[0, 3\)"),
        (lambda: ptr_from_index(torch.tensor([-1, 0]), 3), ValueError, "index values"),
        (lambda: ptr_from_index(torch.tensor([0]), -1), ValueError, "num_segments"),
        (lambda: ptr_from_index(torch.tensor([0]), 2.0), TypeError, "num_segments must be an int"),
        (lambda: index_from_ptr(torch.zeros(0, dtype=torch.long)), ValueError, "ptr must have"),
        (lambda: index_from_ptr(torch.tensor([0, 3, 2])), ValueError, "ptr must be non-decreasing"),
        (lambda: index_from_ptr(torch.tensor([0, 3]), total=2), ValueError, "total=2"),
        (lambda: index_from_counts(torch.tensor([1, -1])), ValueError, "counts must be non-neg"),
        (lambda: index_from_counts(torch.tensor([1, 1]), total=3), ValueError, "total=3"),
        (lambda: index_from_counts(torch.tensor([1]), total=-1), ValueError, "total"),
        (
            lambda: expand_ranges(torch.tensor([0, 1]), torch.tensor([1])),
            ValueError,
            "starts and counts must have the same length",
        ),
        (
            lambda: expand_ranges(np.array([0]), torch.tensor([1])),
            TypeError,
            "starts and counts must both be",
        ),
        (
            lambda: expand_ranges(torch.tensor([0]), torch.tensor([1], device="meta")),
            ValueError,
            "starts is on cpu but counts is on meta",
        ),
        (lambda: expand_ranges(torch.tensor([0]), torch.tensor([-2])), ValueError, "counts"),
        (lambda: pair_keys(torch.tensor([0]), torch.tensor([3]), 2, 3), ValueError, r"col .*0, 3"),
        (lambda: pair_keys(torch.tensor([-1]), torch.tensor([0]), 2, 3), ValueError, "row values"),
        (lambda: pair_keys(torch.tensor([2]), torch.tensor([0]), 2, 3), ValueError, "row values"),
        (lambda: pair_keys(ZERO, ZERO, 2**32, 2**31 + 1), ValueError, "does not fit in int64"),
        (lambda: pair_keys(torch.tensor([0]), torch.tensor([0]), True, 2), TypeError, "num_rows"),
        (lambda: pair_keys(torch.tensor([0, 1]), torch.tensor([0]), 2, 2), ValueError, "length"),
        (lambda: split_keys(torch.tensor([-4]), 3), ValueError, "keys must be non-negative"),
        (lambda: split_keys(torch.tensor([4]), 0), ValueError, "num_cols is 0"),
        (lambda: split_keys(torch.tensor([4.0]), 3), TypeError, "keys must have dtype"),
    ],
)
def test_errors_name_the_argument(call, error: type[Exception], message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        call()


def test_check_false_skips_reading_contents() -> None:
    # check=False trusts the caller: no range or sign check runs (and none reads the tensor)
    assert pair_keys(torch.tensor([5]), torch.tensor([0]), 2, 3, check=False).tolist() == [15]
    assert split_keys(torch.tensor([-4]), 3, check=False)[0].tolist() == [-2]


def test_metadata_checks_do_not_read_contents() -> None:
    # meta tensors have no data: with check=False the helpers get through on shapes alone
    meta = torch.empty(4, dtype=torch.long, device="meta")
    assert ptr_from_counts(meta, check=False).shape == (5,)
    assert index_from_ptr(meta, total=9, check=False).shape == (9,)
    assert expand_ranges(meta, meta, total=9, check=False).shape == (9,)
    assert pair_keys(meta, meta, 3, 3, check=False).shape == (4,)
    assert [t.shape for t in split_keys(meta, 3, check=False)] == [(4,), (4,)]


# ------------------------------------------------------------------ torch.compile
def _all_helpers(counts: torch.Tensor, row: torch.Tensor, col: torch.Tensor, total: int):
    ptr = ptr_from_counts(counts)
    index = index_from_ptr(ptr, total=total)
    again = ptr_from_index(index, counts.shape[0])
    ranges = expand_ranges(ptr[:-1], counts, total=total)
    keys = pair_keys(row, col, 10, 7)
    r, c = split_keys(keys, 7)
    return ptr, index, again, index_from_counts(counts, total=total), ranges, keys, r, c


def _compile_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    counts = torch.tensor([2, 0, 3, 1])
    return counts, torch.tensor([0, 9, 4]), torch.tensor([6, 0, 3]), 6


def test_compiled_helpers_have_no_graph_break_and_match_eager() -> None:
    args = _compile_inputs()
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(_all_helpers)(*args)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    for dynamic in (False, True):
        torch._dynamo.reset()
        compiled = torch.compile(_all_helpers, fullgraph=True, backend="aot_eager", dynamic=dynamic)
        for got, expected in zip(compiled(*args), _all_helpers(*args), strict=True):
            assert torch.equal(got, expected)


def test_scatter_compiles_without_graph_break() -> None:
    # scatter groups by ptr_from_index: its compiled path counts without bincount
    from gnnkit.sparse import scatter

    def pool(src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return scatter(src, index, 5, "mean")

    src, index = torch.randn(7, 3), torch.tensor([0, 4, 4, 1, 0, 2, 2])
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(pool)(src, index)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    torch._dynamo.reset()
    compiled = torch.compile(pool, fullgraph=True, backend="aot_eager")
    assert torch.equal(compiled(src, index), pool(src, index))


# ------------------------------------------------------------------ documentation
def test_docstring_examples_run() -> None:
    failed, attempted = doctest.testmod(gnnkit.sparse.index, verbose=False)
    assert attempted >= 7 and failed == 0
