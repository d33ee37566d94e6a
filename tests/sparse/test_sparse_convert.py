"""Round trips between SparseMatrix and dense, torch sparse, scipy and PyG objects."""

from __future__ import annotations

import pytest
import torch
from sparse_graphs import dense_from_edges, make_graph

from gnnkit.sparse import SparseMatrix


def _matrix() -> tuple[SparseMatrix, torch.Tensor]:
    graph = make_graph("duplicates", 5, 6, 9, seed=1)
    values = torch.rand(graph.nnz, dtype=torch.float64)
    return graph.matrix(values), dense_from_edges(graph, values)


def test_dense_round_trip() -> None:
    A, dense = _matrix()
    torch.testing.assert_close(A.to_dense(), dense)
    B = SparseMatrix.from_dense(dense)
    torch.testing.assert_close(B.to_dense(), dense)
    assert B.is_coalesced()


@pytest.mark.parametrize("layout", [torch.sparse_csr, torch.sparse_coo, torch.sparse_csc])
def test_torch_sparse_round_trip(layout: torch.layout) -> None:
    A, dense = _matrix()
    t = A.to_torch_sparse(layout)
    assert t.layout == layout
    torch.testing.assert_close(t.to_dense(), dense)
    torch.testing.assert_close(SparseMatrix.from_torch_sparse(t).to_dense(), dense)


def test_multihead_dense() -> None:
    graph = make_graph("uniform", 3, 3, 5, seed=2)
    values = torch.rand(graph.nnz, 2, dtype=torch.float64)
    dense = graph.matrix(values).to_dense()
    assert dense.shape == (3, 3, 2)
    for h in range(2):
        torch.testing.assert_close(dense[..., h], dense_from_edges(graph, values[:, h]))


def test_scipy_round_trip() -> None:
    pytest.importorskip("scipy")
    A, dense = _matrix()
    for fmt in ("csr", "coo", "csc"):
        m = A.to_scipy(fmt)
        assert m.format == fmt
        torch.testing.assert_close(torch.from_numpy(m.toarray()), dense)
        torch.testing.assert_close(SparseMatrix.from_scipy(m).to_dense(), dense)
    with pytest.raises(TypeError, match=r"scipy\.sparse"):
        SparseMatrix.from_scipy(dense.numpy())


def test_pyg_data_and_edge_index() -> None:
    pyg_data = pytest.importorskip("torch_geometric.data")
    edge_index = torch.tensor([[0, 1, 2, 2], [1, 2, 0, 1]])  # PyG: source, target
    w = torch.rand(4)
    data = pyg_data.Data(edge_index=edge_index, edge_weight=w, num_nodes=4)
    A = SparseMatrix.from_pyg(data, edge_weight="edge_weight")
    assert A.shape == (4, 4)
    dense = torch.zeros(4, 4)
    dense[edge_index[1], edge_index[0]] = w
    torch.testing.assert_close(A.to_dense(), dense)
    from torch_geometric import EdgeIndex

    ei = EdgeIndex(edge_index, sparse_size=(4, 4))
    torch.testing.assert_close(SparseMatrix.from_pyg(ei).to_dense(), (dense > 0).float())
    with pytest.raises(TypeError, match="cannot build a SparseMatrix"):
        SparseMatrix.from_pyg(object())


def test_pyg_propagation_agrees_with_spmm() -> None:
    """PyG's own sum aggregation over the same edges equals our spmm (orientation check)."""
    utils = pytest.importorskip("torch_geometric.utils")
    edge_index = torch.tensor([[0, 1, 2, 2, 3], [1, 2, 0, 1, 1]])
    x = torch.randn(4, 3)
    expected = utils.scatter(x[edge_index[0]], edge_index[1], dim=0, dim_size=4, reduce="sum")
    A = SparseMatrix.from_edge_index(edge_index, shape=4)
    torch.testing.assert_close(A @ x, expected)


def test_torch_sparse_tensor_round_trip_when_installed() -> None:
    pytest.importorskip("torch_sparse")
    A, dense = _matrix()
    t = A.to_torch_sparse_tensor()
    torch.testing.assert_close(SparseMatrix.from_pyg(t).to_dense(), dense)


def test_missing_optional_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch_sparse", None)
    A, _ = _matrix()
    with pytest.raises(ImportError, match="pip install torch-sparse"):
        A.to_torch_sparse_tensor()
