"""SparseMatrix construction, validation, caching, immutability and the Python protocol."""

from __future__ import annotations

import pickle

import pytest
import torch
from sparse_graphs import csr_order, dense_from_edges, make_graph

from gnnkit.sparse import SparseMatrix


def test_from_edge_index_puts_targets_in_rows() -> None:
    # Edges 0→1 and 2→1 (source → target): row 1 holds sources 0 and 2.
    A = SparseMatrix.from_edge_index(torch.tensor([[0, 2], [1, 1]]), shape=3)
    assert A.rowptr.tolist() == [0, 0, 2, 2]
    assert A.col.tolist() == [0, 2]
    assert A.row.tolist() == [1, 1]
    edge_index, values = A.to_edge_index()
    assert edge_index.tolist() == [[0, 2], [1, 1]] and values is None


def test_from_coo_sorts_stably_and_keeps_duplicates() -> None:
    graph = make_graph("duplicates", 7, 5, 20, seed=1)
    values = torch.arange(graph.nnz, dtype=torch.float64)
    A = graph.matrix(values)
    order = csr_order(graph)
    assert A.nnz == graph.nnz
    assert torch.equal(A.values, values[order])  # type: ignore[arg-type]
    assert torch.equal(A.col, graph.col[order])
    assert torch.equal(A.row, graph.row[order])
    torch.testing.assert_close(A.to_dense(), dense_from_edges(graph, values))


def test_shape_defaults_and_explicit() -> None:
    A = SparseMatrix.from_edge_index(torch.tensor([[0, 4], [1, 2]]))
    assert A.shape == (5, 5)
    B = SparseMatrix.from_edge_index(torch.tensor([[0, 4], [1, 2]]), shape=(3, 6))
    assert B.shape == (3, 6) and (B.num_rows, B.num_cols) == (3, 6)
    E = SparseMatrix.from_edge_index(torch.zeros(2, 0, dtype=torch.long), shape=4)
    assert E.shape == (4, 4) and E.nnz == 0 and E.rowptr.tolist() == [0] * 5


def test_csr_constructor_validates() -> None:
    rowptr, col = torch.tensor([0, 1, 3]), torch.tensor([2, 0, 1])
    A = SparseMatrix(rowptr, col, shape=(2, 3))
    assert A.nnz == 3
    with pytest.raises(ValueError, match="end at nnz=3"):
        SparseMatrix(torch.tensor([0, 1, 2]), col)
    with pytest.raises(ValueError, match="non-decreasing"):
        SparseMatrix(torch.tensor([0, 2, 1, 3]), col)
    with pytest.raises(ValueError, match=r"col indices must lie in \[0, 2\)"):
        SparseMatrix(rowptr, col, shape=(2, 2))
    with pytest.raises(ValueError, match="shape has 3 rows"):
        SparseMatrix(rowptr, col, shape=(3, 3))
    with pytest.raises(TypeError, match="dtypes differ"):
        SparseMatrix(rowptr.int(), col)
    with pytest.raises(TypeError, match="int64 or int32"):
        SparseMatrix(rowptr.float(), col)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="values must have shape"):
        SparseMatrix(rowptr, col, torch.ones(4))
    with pytest.raises(TypeError, match="floating point"):
        SparseMatrix(rowptr, col, torch.ones(3, dtype=torch.long))


def test_from_edge_index_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"shape \(2, E\)"):
        SparseMatrix.from_edge_index(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"row indices must lie in \[0, 3\)"):
        SparseMatrix.from_edge_index(torch.tensor([[0], [3]]), shape=3)
    with pytest.raises(ValueError, match=r"col indices must lie in \[0, 3\)"):
        SparseMatrix.from_edge_index(torch.tensor([[-1], [0]]), shape=3)
    with pytest.raises(TypeError, match="int64 or int32"):
        SparseMatrix.from_edge_index(torch.zeros(2, 3))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        SparseMatrix.from_edge_index([[0, 1], [1, 0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="values must have shape"):
        SparseMatrix.from_edge_index(torch.tensor([[0], [1]]), torch.ones(2))


def test_immutable() -> None:
    A = make_graph("uniform", 3, 3, 4, seed=2).matrix()
    with pytest.raises(AttributeError, match="immutable"):
        A.values = torch.ones(4)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del A._values


def test_caches_are_shared_by_derived_matrices() -> None:
    A = make_graph("uniform", 6, 6, 20, seed=3).matrix()
    B = A.with_values(torch.rand(A.nnz))
    assert B.structure is A.structure
    assert B.csc() is A.csc()  # computed once
    At = A.transpose()
    assert At.transpose().structure is A.structure  # (Aᵀ)ᵀ reuses A's structure and caches
    assert A.gcn_norm(add_self_loops=False).structure is A.structure


def test_degrees_count_duplicates_and_weights() -> None:
    graph = make_graph("duplicates", 5, 4, 10, seed=4)
    A = graph.matrix(torch.rand(graph.nnz, dtype=torch.float64))
    assert A.degree("row").tolist() == torch.bincount(graph.row, minlength=5).tolist()
    assert A.degree("col").tolist() == torch.bincount(graph.col, minlength=4).tolist()
    dense = A.to_dense()
    torch.testing.assert_close(A.degree("row", weighted=True), dense.sum(1))
    with pytest.raises(ValueError, match="dim must be"):
        A.degree("both")


def test_pickle_repr_to_and_index_type() -> None:
    graph = make_graph("uniform", 4, 5, 9, seed=5)
    A = graph.matrix(torch.rand(graph.nnz))
    B = pickle.loads(pickle.dumps(A))
    assert torch.equal(B.to_dense(), A.to_dense()) and B.shape == A.shape
    assert repr(A) == (
        "SparseMatrix(shape=(4, 5), nnz=9, values=(9,) float32, index=int64, device=cpu)"
    )
    assert A.to(dtype=torch.float64).values.dtype == torch.float64  # type: ignore[union-attr]
    assert A.to("cpu").device == torch.device("cpu")
    A32 = A.index_type(torch.int32)
    assert A32.rowptr.dtype == A32.col.dtype == torch.int32
    assert torch.equal(A32.to_dense(), A.to_dense())


def test_int32_edge_index_keeps_int32() -> None:
    A = SparseMatrix.from_edge_index(torch.tensor([[0, 1], [1, 0]], dtype=torch.int32))
    assert A.index_dtype == torch.int32 and A.row.dtype == torch.int32


def test_matmul_operator() -> None:
    graph = make_graph("uniform", 4, 4, 8, seed=6)
    A = graph.matrix(torch.rand(graph.nnz, dtype=torch.float64))
    x = torch.randn(4, 2, dtype=torch.float64)
    torch.testing.assert_close(A @ x, A.to_dense() @ x)
    torch.testing.assert_close((A @ A).to_dense(), A.to_dense() @ A.to_dense())


def test_eye() -> None:
    x = torch.randn(3, 2)
    assert torch.equal(SparseMatrix.eye(3) @ x, x)


def test_shape_accepts_numpy_and_0d_tensor_sizes() -> None:
    import numpy as np

    edge_index = torch.tensor([[0, 1], [1, 2]])
    for shape in (edge_index.max() + 1, np.int64(3), np.array(3), (np.int32(3), torch.tensor(3)),
                  torch.tensor([3, 3]), np.array([3, 3]), [3, 3]):
        assert SparseMatrix.from_edge_index(edge_index, shape=shape).shape == (3, 3)
    row, col = edge_index
    assert SparseMatrix.from_coo(row, col, shape=(np.int64(2), torch.tensor(4))).shape == (2, 4)
    rowptr = torch.tensor([0, 1, 2])
    assert SparseMatrix(rowptr, torch.tensor([0, 1]), shape=torch.tensor(2)).shape == (2, 2)
    assert SparseMatrix.eye(torch.tensor(3)).shape == (3, 3)


@pytest.mark.parametrize("shape", [3.0, True, (3, 2.5), (3, True), "3"])
def test_shape_rejects_floats_and_bools(shape: object) -> None:
    with pytest.raises(TypeError, match="shape entries must be integers"):
        SparseMatrix.from_edge_index(torch.tensor([[0], [1]]), shape=shape)  # type: ignore[arg-type]


def test_shape_rejects_float_tensors_and_numpy_bools() -> None:
    import numpy as np

    for shape in (torch.tensor(3.0), np.float64(3), np.True_, torch.tensor(True)):
        with pytest.raises(TypeError, match="shape entries must be integers"):
            SparseMatrix.from_edge_index(torch.tensor([[0], [1]]), shape=shape)


def test_implausible_inferred_size_asks_for_an_explicit_shape() -> None:
    huge = torch.tensor([[0], [1 << 40]])
    with pytest.raises(ValueError, match=r"implausible .* pass shape= explicitly"):
        SparseMatrix.from_edge_index(huge)
    with pytest.raises(ValueError, match="implausible"):
        SparseMatrix.from_coo(torch.tensor([0]), torch.tensor([1 << 40]))
    # an explicit shape is never refused; large but plausible inferred sizes are accepted
    A = SparseMatrix.from_coo(torch.tensor([0]), torch.tensor([1 << 40]), shape=(1, (1 << 40) + 1))
    assert A.shape == (1, (1 << 40) + 1)
    assert SparseMatrix.from_edge_index(torch.tensor([[0], [999_999]])).shape == (10**6, 10**6)
