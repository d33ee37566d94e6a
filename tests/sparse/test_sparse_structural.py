"""Structural helpers and normalisations against dense computations and PyG."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sparse_graphs import EdgeList, csr_order, dense_from_edges, graphs, make_graph

from gnnkit.sparse import (
    SparseMatrix,
    bipartite_normalize,
    block_diag,
    gcn_norm,
    induced_subgraph,
    select_cols,
    select_rows,
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


def induced_oracle(graph: EdgeList, nodes: list[int]) -> list[tuple[int, int, int]]:
    """(local row, local col, edge id) of every entry between two of ``nodes``, in the
    expected CSR order: by local row, then local column, duplicates in ``A``'s order. The
    edge id of an entry is its CSR position in ``A`` (``csr_order`` maps positions to the raw
    edges)."""
    local = {node: i for i, node in enumerate(nodes)}
    found = []
    for position, e in enumerate(csr_order(graph).tolist()):
        t, s = int(graph.row[e]), int(graph.col[e])
        if t in local and s in local:
            found.append((local[t], local[s], position))
    return sorted(found)


def triples(matrix: SparseMatrix, e_id: torch.Tensor) -> list[tuple[int, int, int]]:
    return list(zip(matrix.row.tolist(), matrix.col.tolist(), e_id.tolist(), strict=True))


def check_induced(graph: EdgeList, nodes: torch.Tensor, values: torch.Tensor | None = None,
                  index_dtype: torch.dtype = torch.int64) -> None:
    A = graph.matrix(values).index_type(index_dtype)
    n = nodes.numel()
    matrix, e_id = induced_subgraph(A, nodes, return_edge_ids=True)
    assert matrix.shape == (n, n) and matrix.index_dtype == index_dtype
    assert e_id.dtype == torch.int64
    assert triples(matrix, e_id) == induced_oracle(graph, nodes.tolist())
    if values is None:
        assert matrix.values is None
    else:
        assert matrix.values is not None and torch.equal(matrix.values, A.values[e_id])  # type: ignore[index]
    if values is None or values.dim() == 1:  # the dense-mask oracle (duplicates summed)
        index = nodes.long()
        expected = dense_from_edges(graph, values)[index][:, index]
        torch.testing.assert_close(matrix.to_dense().double(), expected)
    # without edge ids: the same matrix, identical to select_rows then select_cols
    plain = induced_subgraph(A, nodes)
    for other in (plain, select_cols(select_rows(A, nodes), nodes)):
        assert torch.equal(other.rowptr, matrix.rowptr) and torch.equal(other.col, matrix.col)
        assert (other.values is None) == (matrix.values is None)
        if matrix.values is not None:
            assert torch.equal(other.values, matrix.values)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(graph=graphs(square=True), data=st.data())
def test_induced_subgraph_against_oracles(graph: EdgeList, data: st.DataObject) -> None:
    size = data.draw(st.integers(0, graph.num_rows))
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    nodes = torch.randperm(graph.num_rows, generator=g)[:size]  # unsorted, possibly empty
    value_shape = data.draw(st.sampled_from([None, (), (3,), (2, 2)]))
    values = None if value_shape is None else torch.rand(graph.nnz, *value_shape,
                                                        dtype=torch.float64, generator=g)
    index_dtype = data.draw(st.sampled_from([torch.int64, torch.int32]))
    check_induced(graph, nodes, values, index_dtype)
    check_induced(graph, nodes.int(), values, index_dtype)  # int32 node ids too


def test_induced_subgraph_duplicates_isolated_and_empty() -> None:
    # raw (target, source) entries: 0 ← 1 twice, 1 ← 1 (self-loop), 0 ← 2; node 3 isolated
    graph = EdgeList(4, 4, torch.tensor([1, 1, 1, 0]), torch.tensor([0, 0, 1, 2]))
    A = graph.matrix()
    matrix, e_id = induced_subgraph(A, torch.tensor([1, 0]), return_edge_ids=True)
    assert matrix.to_dense().tolist() == [[1.0, 2.0], [0.0, 0.0]]  # duplicates kept
    # A's CSR entries are (0,2), (1,0), (1,0), (1,1); local row 0 (node 1) holds the self-loop
    # (local column 0) and then both copies of 1 ← 0 (local column 1), in A's order
    assert e_id.tolist() == [3, 1, 2]
    for nodes in ([3, 1, 0, 2], [3], [2, 3], []):
        check_induced(graph, torch.tensor(nodes, dtype=torch.long))
    matrix, e_id = A.induced_subgraph(torch.zeros(0, dtype=torch.long), return_edge_ids=True)
    assert matrix.shape == (0, 0) and matrix.nnz == 0 and e_id.numel() == 0
    matrix, e_id = A.induced_subgraph(torch.tensor([3]), return_edge_ids=True)
    assert matrix.shape == (1, 1) and matrix.nnz == 0 and e_id.numel() == 0
    check_induced(make_graph("empty", 5, 5, 0, seed=0), torch.tensor([4, 0, 2]))


def test_induced_subgraph_larger_graphs_and_gradients() -> None:
    for seed, kind in enumerate(("uniform", "duplicates", "loops", "heavy")):
        graph = make_graph(kind, 40, 40, 200, seed=seed)
        g = torch.Generator().manual_seed(seed)
        for size in (1, 9, 23, 40):
            check_induced(graph, torch.randperm(40, generator=g)[:size])
        check_induced(graph, torch.arange(39, -1, -1), torch.rand(graph.nnz, 2, generator=g))
    values = torch.rand(graph.nnz, dtype=torch.float64, requires_grad=True)
    sub, e_id = graph.matrix(values).induced_subgraph(torch.tensor([7, 3, 30]),
                                                      return_edge_ids=True)
    sub.values.sum().backward()  # type: ignore[union-attr]
    expected = torch.zeros(graph.nnz, dtype=torch.float64)
    expected[csr_order(graph)[e_id]] = 1.0  # A's values are in CSR order: raw edge ↦ position
    assert values.grad is not None and torch.equal(values.grad, expected)


def test_induced_subgraph_reads_no_graph_sized_cache() -> None:
    """The mechanism behind O(T log n): nothing graph-sized is derived from A — no
    transpose, CSC or degree vector (the select_rows/select_cols composition computes them)."""
    A = make_graph("uniform", 50, 50, 300, seed=11).matrix()
    nodes = torch.tensor([4, 17, 3])
    before = set(A.structure._cache)  # what the constructor filled (the COO rows)
    induced_subgraph(A, nodes, return_edge_ids=True)
    assert set(A.structure._cache) == before
    select_cols(select_rows(A, nodes), nodes)
    assert set(A.structure._cache) > before  # the check above can fail


def test_induced_subgraph_bad_inputs() -> None:
    A = make_graph("uniform", 10, 10, 30, seed=0).matrix()
    with pytest.raises(ValueError, match=r"duplicates: node 3 appears more than once.*unique"):
        induced_subgraph(A, torch.tensor([3, 1, 3]))
    with pytest.raises(TypeError, match="int32 or int64"):
        induced_subgraph(A, torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="int32 or int64"):
        induced_subgraph(A, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"1-D.*\(1, 2\)"):
        induced_subgraph(A, torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"\[0, 10\), found 1 … 12"):
        induced_subgraph(A, torch.tensor([1, 12]))
    with pytest.raises(ValueError, match="square"):
        induced_subgraph(make_graph("uniform", 3, 4, 5, seed=0).matrix(), torch.tensor([0]))
    with pytest.raises(TypeError, match="SparseMatrix"):
        induced_subgraph(A.to_dense(), torch.tensor([1]))  # type: ignore[call-overload]


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
