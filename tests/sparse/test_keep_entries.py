"""``SparseMatrix.keep_entries``: the sub-matrix of some stored entries, with the parent's
cached structure data (COO rows, coalesced flag, CSC) carried over instead of recomputed.

Oracle: the same entries built from scratch by ``SparseMatrix.from_coo`` (a stable sort), and
the CSC the child computes itself by sorting its columns.
"""

from __future__ import annotations

import pytest
import torch

from gnnkit.nn.linkpred.encoder import drop_entries
from gnnkit.nn.linkpred.target_removal import remove_target_links
from gnnkit.sparse import SparseMatrix, spmm
from gnnkit.sparse._structure import Structure


def _graph(seed: int, rows: int = 30, cols: int = 25, nnz: int = 200, *, values: str = "none",
           index_dtype: torch.dtype = torch.int64) -> SparseMatrix:
    """Random entries with duplicates and empty rows (rows ≥ 20 never drawn)."""
    g = torch.Generator().manual_seed(seed)
    row = torch.randint(0, min(rows, 20), (nnz,), generator=g)
    col = torch.randint(0, cols, (nnz,), generator=g)
    vals = None
    if values == "scalar":
        vals = torch.randn(nnz, generator=g, dtype=torch.float64)
    elif values == "heads":
        vals = torch.randn(nnz, 3, generator=g, dtype=torch.float64)
    return SparseMatrix.from_coo(row.to(index_dtype), col.to(index_dtype), vals, (rows, cols))


def _fresh_csc(structure: Structure) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The CSC as a structure without caches computes it (stable sort of the columns)."""
    bare = Structure(structure.rowptr, structure.col, structure.num_cols,
                     sorted_rows=structure.sorted_rows)
    csc = bare.csc()
    return csc.colptr, csc.row, csc.perm


@pytest.mark.parametrize("values", ["none", "scalar", "heads"])
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("with_csc", [False, True])
@pytest.mark.parametrize("keep_rate", [0.0, 0.3, 0.9, 1.0])
def test_equals_a_fresh_build_and_carries_the_csc(values: str, index_dtype: torch.dtype,
                                                 with_csc: bool, keep_rate: float) -> None:
    A = _graph(1, values=values, index_dtype=index_dtype)
    if with_csc:
        A.structure.csc()  # the parent has paid for its CSC
    g = torch.Generator().manual_seed(2)
    mask = torch.rand(A.nnz, generator=g) < keep_rate
    B = A.keep_entries(mask)

    expected = SparseMatrix.from_coo(A.row[mask], A.col[mask],
                                     None if A.values is None else A.values[mask], A.shape)
    assert B.shape == A.shape
    assert torch.equal(B.rowptr, expected.rowptr) and B.rowptr.dtype == A.rowptr.dtype
    assert torch.equal(B.col, expected.col) and B.col.dtype == A.col.dtype
    assert (B.values is None) == (A.values is None)
    if A.values is not None:
        assert torch.equal(B.values, expected.values)
    assert torch.equal(B.row, expected.row)
    assert B.is_coalesced() == expected.is_coalesced()
    assert ("csc" in B.structure._cache) == with_csc  # carried over only if it existed
    colptr, csc_row, perm = _fresh_csc(B.structure)
    carried = B.structure.csc()
    assert torch.equal(carried.colptr, colptr)
    assert torch.equal(carried.row, csc_row)
    assert torch.equal(carried.perm, perm)
    assert carried.perm.dtype == perm.dtype


def test_the_backward_through_a_carried_csc_matches_a_fresh_matrix() -> None:
    A = _graph(3, rows=20, cols=20, values="scalar")
    A.structure.csc()
    mask = torch.rand(A.nnz, generator=torch.Generator().manual_seed(4)) < 0.6
    B = A.keep_entries(mask)
    C = SparseMatrix.from_coo(B.row, B.col, B.values, B.shape)
    x = torch.randn(20, 5, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(20, 5, dtype=torch.float64)
    (gb,) = torch.autograd.grad(spmm(B, x), x, grad)
    (gc,) = torch.autograd.grad(spmm(C, x), x, grad)
    assert torch.equal(gb, gc)


def test_coalesced_flag_is_inherited_only_when_known() -> None:
    A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 2, 0], [1, 2, 0, 2]]))
    assert A.is_coalesced()
    B = A.keep_entries(torch.tensor([True, False, True, True]))
    assert B.structure._cache.get("coalesced") is True
    assert B.is_coalesced()


def test_unsorted_parent_gets_its_child_checked() -> None:
    # rows given unsorted and unvalidated: the child is sorted once the unsorted entry goes
    rowptr, col = torch.tensor([0, 3]), torch.tensor([2, 0, 1])
    A = SparseMatrix(rowptr, col, None, (1, 3), validate=False)
    assert not A.structure.sorted_rows
    assert A.keep_entries(torch.tensor([False, True, True])).structure.sorted_rows
    assert not A.keep_entries(torch.tensor([True, True, False])).structure.sorted_rows


def test_bad_masks_are_named() -> None:
    A = _graph(5)
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        A.keep_entries(torch.ones(A.nnz, dtype=torch.int64))
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        A.keep_entries([True] * A.nnz)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=rf"shape \({A.nnz},\)"):
        A.keep_entries(torch.ones(A.nnz + 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask is on meta"):
        A.keep_entries(torch.ones(A.nnz, dtype=torch.bool, device="meta"))


def test_link_removal_and_edge_dropout_reuse_the_parent_csc() -> None:
    A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 1, 2, 2, 3, 0, 3],
                                                   [1, 0, 2, 1, 3, 2, 3, 0]]))
    A.structure.csc()
    removed = remove_target_links(A, torch.tensor([[0], [1]]))
    assert removed.nnz == A.nnz - 2 and "csc" in removed.structure._cache
    assert torch.equal(removed.structure.csc().perm, _fresh_csc(removed.structure)[2])
    dropped = drop_entries(A, 0.5, generator=torch.Generator().manual_seed(0))
    assert "csc" in dropped.structure._cache
    assert torch.equal(dropped.structure.csc().row, _fresh_csc(dropped.structure)[1])
    assert torch.allclose(dropped.values, torch.full((dropped.nnz,), 2.0))


def test_target_link_removal_gives_every_training_batch_the_graphs_csc() -> None:
    from gnnkit.nn.linkpred.target_removal import TargetLinkRemoval

    A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 1, 2, 2, 3, 0, 3],
                                                   [1, 0, 2, 1, 3, 2, 3, 0]]))
    removal = TargetLinkRemoval(A)
    with torch.no_grad():  # evaluation: no backward, so no sort is paid for
        assert "csc" not in removal(torch.tensor([[0], [1]])).structure._cache
    batch_graph = removal(torch.tensor([[1], [2]]))
    assert "csc" in A.structure._cache and "csc" in batch_graph.structure._cache
    assert torch.equal(batch_graph.structure.csc().perm, _fresh_csc(batch_graph.structure)[2])


# ----------------------------------------------------------------------------- edge_entries
def _brute_force_entries(A: SparseMatrix, edges: torch.Tensor, undirected: bool) -> torch.Tensor:
    wanted = {(int(t), int(s)) for s, t in edges.t().tolist()}
    if undirected:
        wanted |= {(s, t) for t, s in wanted}
    entries = zip(A.row.tolist(), A.col.tolist(), strict=True)
    return torch.tensor([(r, c) in wanted for r, c in entries], dtype=torch.bool)


@pytest.mark.parametrize("undirected", [False, True])
@pytest.mark.parametrize("sorted_rows", [True, False])
def test_edge_entries_match_a_brute_force_oracle(undirected: bool, sorted_rows: bool) -> None:
    from gnnkit.sparse import edge_entries

    A = _graph(6, rows=20, cols=25, nnz=300)  # duplicates and empty rows; rectangular
    if not sorted_rows:  # the same entries, each row reversed and not validated
        order = torch.argsort(A.row * 100 - A.col, stable=True)
        A = SparseMatrix(A.rowptr, A.col[order], None, A.shape, validate=False)
        assert not A.structure.sorted_rows
    g = torch.Generator().manual_seed(7)
    stored = torch.randint(0, A.nnz, (15,), generator=g)
    edges = torch.cat([torch.stack([A.col[stored], A.row[stored]]),  # stored edges
                       torch.stack([torch.randint(0, 20, (15,), generator=g),
                                    torch.randint(0, 20, (15,), generator=g)])], 1)
    mask = edge_entries(A, edges, undirected=undirected)
    assert torch.equal(mask, _brute_force_entries(A, edges, undirected))
    assert int(mask.sum()) >= 15  # the stored edges, every copy


def test_edge_entries_errors_name_the_argument() -> None:
    from gnnkit.sparse import edge_entries

    A = _graph(8)
    with pytest.raises(ValueError, match="edge_index must be a"):
        edge_entries(A, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="edge_index\\[1\\] \\(targets\\)"):
        edge_entries(A, torch.tensor([[0], [A.num_rows]]))
