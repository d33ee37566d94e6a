"""Structural helpers and normalisations against dense computations and PyG."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from sparse_graphs import EdgeList, dense_from_edges, graphs, make_graph

from gnnkit.sparse import (
    SparseMatrix,
    bipartite_normalize,
    block_diag,
    gcn_norm,
    spmm,
)


@settings(max_examples=40, deadline=None)
@given(graph=graphs())
def test_coalesce_sums_duplicates(graph: EdgeList) -> None:
    values = torch.rand(graph.nnz, dtype=torch.float64)
    C = graph.matrix(values).coalesce()
    assert C.is_coalesced()
    pairs = {(int(r), int(c)) for r, c in zip(graph.row, graph.col, strict=True)}
    assert C.nnz == len(pairs)
    torch.testing.assert_close(C.to_dense(), dense_from_edges(graph, values))


def test_coalesce_max_and_gradient_flows_to_values() -> None:
    v = torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64, requires_grad=True)
    A = SparseMatrix.from_coo(torch.tensor([0, 0, 1]), torch.tensor([1, 1, 0]), v, (2, 2))
    C = A.coalesce("max")
    assert C.values.tolist() == [3.0, 2.0]  # type: ignore[union-attr]
    C.values.sum().backward()  # type: ignore[union-attr]
    assert v.grad is not None and v.grad.tolist() == [0.0, 1.0, 1.0]


@settings(max_examples=40, deadline=None)
@given(graph=graphs())
def test_transpose_matches_dense(graph: EdgeList) -> None:
    values = torch.rand(graph.nnz, dtype=torch.float64)
    At = graph.matrix(values).transpose()
    assert At.shape == (graph.num_cols, graph.num_rows)
    torch.testing.assert_close(At.to_dense(), dense_from_edges(graph, values).t())


def test_transpose_blocks_are_transposed() -> None:
    graph = make_graph("uniform", 3, 4, 6, seed=1)
    blocks = torch.randn(graph.nnz, 2, 3, dtype=torch.float64)
    A = graph.matrix(blocks)
    x = torch.randn(3, 2, 5, dtype=torch.float64)
    # ⟨y, A x⟩ = ⟨Aᵀ y, x⟩ for block matrices.
    y = torch.randn(4, 3, 5, dtype=torch.float64)
    lhs = (spmm(A, y) * x).sum()
    rhs = (y * spmm(A.transpose(), x)).sum()
    torch.testing.assert_close(lhs, rhs)


def test_self_loops() -> None:
    graph = make_graph("loops", 5, 5, 6, seed=2)
    A = graph.matrix()
    dense = dense_from_edges(graph)
    torch.testing.assert_close(
        A.add_self_loops().to_dense().double(), dense + torch.eye(5, dtype=torch.float64)
    )
    missing = A.remove_self_loops().add_self_loops(only_missing=True)
    assert torch.equal(missing.to_dense().diagonal(), torch.ones(5))
    removed = A.remove_self_loops()
    assert not bool((removed.row == removed.col).any())
    weighted = A.with_values(torch.full((A.nnz,), 2.0)).add_self_loops(fill_value=0.5)
    torch.testing.assert_close(
        weighted.to_dense().double(), 2 * dense + 0.5 * torch.eye(5, dtype=torch.float64)
    )


def test_to_undirected_is_symmetric_union() -> None:
    graph = make_graph("uniform", 6, 6, 10, seed=3)
    U = graph.matrix().to_undirected()
    dense = dense_from_edges(graph)
    expected = ((dense + dense.t()) > 0).double()
    assert U.is_coalesced()
    assert torch.equal((U.to_dense() > 0).double(), expected)


def test_select_rows_cols_and_induced_subgraph() -> None:
    graph = make_graph("duplicates", 6, 7, 12, seed=4)
    values = torch.rand(graph.nnz, dtype=torch.float64)
    A = graph.matrix(values)
    dense = dense_from_edges(graph, values)
    rows = torch.tensor([4, 0, 4, 2])
    torch.testing.assert_close(A.select_rows(rows).to_dense(), dense[rows])
    cols = torch.tensor([6, 1, 1])
    torch.testing.assert_close(A.select_cols(cols).to_dense(), dense[:, cols])
    square = make_graph("uniform", 6, 6, 15, seed=5)
    sd = dense_from_edges(square)
    nodes = torch.tensor([5, 2, 3])
    torch.testing.assert_close(
        square.matrix().induced_subgraph(nodes).to_dense().double(), sd[nodes][:, nodes]
    )
    with pytest.raises(ValueError, match="duplicates"):
        square.matrix().induced_subgraph(torch.tensor([1, 1]))
    with pytest.raises(ValueError, match=r"index values must lie in \[0, 6\)"):
        A.select_rows(torch.tensor([6]))


def test_remove_edges_removes_every_copy_and_optionally_reverse() -> None:
    # Edges in PyG orientation: 0→1 twice, 1→0, 2→1.
    A = SparseMatrix.from_edge_index(torch.tensor([[0, 0, 1, 2], [1, 1, 0, 1]]), shape=3)
    kept = A.remove_edges(torch.tensor([[0], [1]]))
    assert kept.to_edge_index()[0].tolist() == [[1, 2], [0, 1]]
    both = A.remove_edges(torch.tensor([[0], [1]]), undirected=True)
    assert both.to_edge_index()[0].tolist() == [[2], [1]]


def test_k_hop() -> None:
    # Path 0 - 1 - 2 - 3 (undirected).
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    A = SparseMatrix.from_edge_index(ei)
    assert A.k_hop(torch.tensor([0]), 0).tolist() == [0]
    assert A.k_hop(torch.tensor([0]), 2).tolist() == [0, 1, 2]
    assert A.k_hop(torch.tensor([3]), 5).tolist() == [0, 1, 2, 3]


def test_block_diag() -> None:
    a = make_graph("uniform", 3, 2, 4, seed=6)
    b = make_graph("uniform", 2, 4, 5, seed=7)
    va, vb = torch.rand(a.nnz, dtype=torch.float64), torch.rand(b.nnz, dtype=torch.float64)
    D = block_diag([a.matrix(va), b.matrix(vb)])
    torch.testing.assert_close(
        D.to_dense(), torch.block_diag(dense_from_edges(a, va), dense_from_edges(b, vb))
    )
    with pytest.raises(ValueError, match="all matrices have values or none"):
        block_diag([a.matrix(va), b.matrix()])


def test_normalisations_match_dense_formulas() -> None:
    graph = make_graph("uniform", 7, 7, 16, seed=8)
    A = graph.matrix()
    dense = (dense_from_edges(graph) > 0).double()
    pattern = A.coalesce().with_values(torch.ones(A.coalesce().nnz, dtype=torch.float64))
    rows = dense.sum(1)
    inv = torch.where(rows > 0, 1 / rows, torch.zeros_like(rows))
    torch.testing.assert_close(pattern.row_normalize().to_dense(), inv[:, None] * dense)
    cols = dense.sum(0)
    isq_r = torch.where(rows > 0, rows.rsqrt(), torch.zeros_like(rows))
    isq_c = torch.where(cols > 0, cols.rsqrt(), torch.zeros_like(cols))
    torch.testing.assert_close(
        pattern.sym_normalize().to_dense(), isq_r[:, None] * dense * isq_c[None, :]
    )
    with_loops = dense.clone().fill_diagonal_(1.0)
    deg = with_loops.sum(1)
    torch.testing.assert_close(
        gcn_norm(pattern).to_dense(), deg.rsqrt()[:, None] * with_loops * deg.rsqrt()[None, :]
    )


def test_gcn_norm_matches_pyg() -> None:
    pyg_gcn = pytest.importorskip("torch_geometric.nn.conv.gcn_conv")
    # Some nodes have a (single) stored self loop, others none: PyG keeps the weight of an
    # existing loop and adds fill_value loops elsewhere, as gnnkit does. (With *duplicate*
    # loops PyG keeps one of them, gnnkit all: documented difference, not tested here.)
    graph = make_graph("loops", 8, 8, 20, seed=9)
    pattern = graph.matrix().coalesce()
    keep = (pattern.row != pattern.col) | (pattern.row % 2 == 0)
    edge_index = torch.stack([pattern.col[keep], pattern.row[keep]])  # PyG: source, target
    weights = torch.rand(edge_index.shape[1], dtype=torch.float64)
    ei, w = pyg_gcn.gcn_norm(edge_index, weights, 8, add_self_loops=True)
    expected = torch.zeros(8, 8, dtype=torch.float64).index_put((ei[1], ei[0]), w, accumulate=True)
    ours = SparseMatrix.from_edge_index(edge_index, weights, shape=8).gcn_norm()
    torch.testing.assert_close(ours.to_dense(), expected)


def test_bipartite_normalize_is_lightgcn_adjacency() -> None:
    interactions = torch.tensor([[0, 0, 1, 2, 2], [0, 1, 1, 2, 2]])  # (user, item); one duplicate
    A = bipartite_normalize(interactions, num_users=3, num_items=3)
    R = torch.zeros(3, 3, dtype=torch.float32)
    R[interactions[0], interactions[1]] = 1.0
    full = torch.zeros(6, 6)
    full[:3, 3:] = R
    full[3:, :3] = R.t()
    d = full.sum(1)
    expected = d.rsqrt()[:, None] * full * d.rsqrt()[None, :]
    torch.testing.assert_close(A.to_dense(), expected)
    with pytest.raises(ValueError, match="users"):
        bipartite_normalize(torch.tensor([[3], [0]]), 3, 3)
