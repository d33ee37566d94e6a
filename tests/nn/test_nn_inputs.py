"""Every layer takes a SparseMatrix, an edge_index (+ weights) or a PyG object, identically;
bad inputs raise clear errors; GCN's cache; reset_parameters."""

from __future__ import annotations

import pytest
import torch
from nn_graphs import random_graph

from gnnkit.nn import (
    GATConv,
    GATv2Conv,
    GCNConv,
    GINConv,
    GINEConv,
    LGConv,
    SAGEConv,
    as_sparse_matrix,
    with_self_loops,
)
from gnnkit.sparse import SparseMatrix

LAYERS = {
    "gcn": lambda: GCNConv(5, 3),
    "sage-mean": lambda: SAGEConv(5, 3),
    "sage-max": lambda: SAGEConv(5, 3, aggr="max"),
    "gin": lambda: GINConv(torch.nn.Linear(5, 3)),
    "gat": lambda: GATConv(5, 3, heads=2),
    "gatv2": lambda: GATv2Conv(5, 3, heads=2),
    "lg": lambda: LGConv(),
}


def _graph_and_features() -> tuple[torch.Tensor, int, torch.Tensor]:
    graph = random_graph(seed=7)
    x = torch.randn(graph.num_nodes, 5, generator=torch.Generator().manual_seed(7))
    return graph.edge_index, graph.num_nodes, x


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_sparse_matrix_pyg_data_and_edge_index_give_the_same_output(name: str) -> None:
    from torch_geometric.data import Data

    edge_index, n, x = _graph_and_features()
    torch.manual_seed(0)
    layer = LAYERS[name]().eval()
    expected = layer(x, edge_index)
    matrix = SparseMatrix.from_edge_index(edge_index, shape=n)
    # adj_t orientation (row = target), uncoalesced so duplicate edges stay duplicates
    adj_t = torch.sparse_coo_tensor(edge_index.flip(0), torch.ones(edge_index.shape[1]), (n, n),
                                    check_invariants=True)
    for graph in (matrix, Data(edge_index=edge_index, num_nodes=n), adj_t):
        torch.testing.assert_close(layer(x, graph), expected, atol=1e-6, rtol=1e-6)


def test_edge_index_sorting_keeps_edge_weights_and_attributes_aligned() -> None:
    edge_index = torch.tensor([[2, 0, 1, 0], [0, 1, 0, 1]])
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0])
    attr = torch.arange(8.0).view(4, 2)
    graph = as_sparse_matrix(edge_index, num_nodes=3, edge_weight=weight, edge_attr=attr)
    A = graph.matrix
    # CSR order: target 0 ← sources (1, 2); target 1 ← sources (0, 0) in input order.
    assert A.rowptr.tolist() == [0, 2, 4, 4]
    assert A.col.tolist() == [1, 2, 0, 0]
    assert A.values.tolist() == [3.0, 1.0, 2.0, 4.0]
    assert graph.edge_attr.tolist() == [[4, 5], [0, 1], [2, 3], [6, 7]]


def test_pyg_data_edge_attributes_are_used_by_gine() -> None:
    from torch_geometric.data import Data

    edge_index, n, x = _graph_and_features()
    edge_attr = torch.randn(edge_index.shape[1], 5)
    layer = GINEConv(torch.nn.Linear(5, 2))
    expected = layer(x, edge_index, edge_attr)
    got = layer(x, Data(edge_index=edge_index, edge_attr=edge_attr, num_nodes=n))
    torch.testing.assert_close(got, expected)
    prepared = as_sparse_matrix(edge_index, num_nodes=n, edge_attr=edge_attr)
    torch.testing.assert_close(layer(x, prepared.matrix, prepared.edge_attr), expected)


def test_pyg_data_edge_weights_are_used_by_gcn() -> None:
    from torch_geometric.data import Data

    edge_index, n, x = _graph_and_features()
    weight = torch.rand(edge_index.shape[1])
    layer = GCNConv(5, 3)
    expected = layer(x, edge_index, weight)
    got = layer(x, Data(edge_index=edge_index, edge_weight=weight, num_nodes=n))
    torch.testing.assert_close(got, expected)
    weighted = SparseMatrix.from_edge_index(edge_index, weight, shape=n)
    torch.testing.assert_close(layer(x, weighted), expected)


@pytest.mark.parametrize(
    ("graph", "kwargs", "error", "match"),
    [
        (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), {}, TypeError, "int64 or int32"),
        (torch.tensor([0, 1, 2]), {}, ValueError, r"shape \(2, E\)"),
        (torch.tensor([[0, 9], [1, 0]]), {}, ValueError, r"edge_index\[0\] \(sources\)"),
        (torch.tensor([[0, 1], [1, -1]]), {}, ValueError, r"edge_index\[1\] \(targets\)"),
        (torch.tensor([[0, 1], [1, 0]]), {"edge_weight": torch.ones(3)}, ValueError,
         "edge_weight must have one row per edge"),
        ("not a graph", {}, TypeError, "graph must be"),
    ],
)
def test_bad_graph_inputs_are_named(graph: object, kwargs: dict, error: type, match: str
                                    ) -> None:
    with pytest.raises(error, match=match):
        GCNConv(5, 3)(torch.randn(4, 5), graph, **kwargs)


def test_matrix_of_the_wrong_shape_and_features_of_the_wrong_width_are_rejected() -> None:
    A = SparseMatrix.from_edge_index(torch.tensor([[0, 1], [1, 0]]), shape=3)
    with pytest.raises(ValueError, match="shape"):
        GATConv(5, 3)(torch.randn(4, 5), A)
    with pytest.raises(ValueError, match="expects 5"):
        SAGEConv(5, 3)(torch.randn(3, 4), A)
    with pytest.raises(TypeError, match="floating"):
        GCNConv(5, 3)(torch.ones(3, 5, dtype=torch.long), A)
    with pytest.raises(ValueError, match="edge_weight cannot be combined"):
        GCNConv(5, 3)(torch.randn(3, 5), A, torch.ones(2))


def test_gine_requires_edge_features() -> None:
    with pytest.raises(ValueError, match="edge_attr"):
        GINEConv(torch.nn.Linear(5, 2))(torch.randn(3, 5), torch.tensor([[0, 1], [1, 2]]))


def test_gcn_cache_reuses_the_first_normalisation_until_reset() -> None:
    edge_index, n, x = _graph_and_features()
    layer = GCNConv(5, 3, cached=True)
    first = layer(x, edge_index)
    other_graph = torch.tensor([[0, 1], [1, 0]])
    torch.testing.assert_close(layer(x, other_graph), first)  # cached, graph ignored (as PyG)
    layer.reset_parameters()  # clears the cache
    uncached = GCNConv(5, 3)
    uncached.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer(x, other_graph, num_nodes=n),
                               uncached(x, other_graph, num_nodes=n))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_reset_parameters_reinitialises_weights(name: str) -> None:
    layer = LAYERS[name]()
    before = [p.detach().clone() for p in layer.parameters()]
    torch.manual_seed(123)
    layer.reset_parameters()
    after = list(layer.parameters())
    assert all(a.shape == b.shape for a, b in zip(after, before, strict=True))
    weights = [(a, b) for a, b in zip(after, before, strict=True) if a.dim() > 1]
    assert all(not torch.equal(a, b) for a, b in weights)


def test_with_self_loops_replaces_existing_loops_by_one_per_node() -> None:
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 1, 1, 0]])
    A = with_self_loops(SparseMatrix.from_edge_index(edge_index, shape=4))
    dense = A.to_dense()
    assert torch.equal(dense.diagonal(), torch.ones(4))
    assert dense.sum() == 2 + 4
