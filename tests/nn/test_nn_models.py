"""Sparse node features in GCNConv/GATConv, feature dropout, and the reference models."""

from __future__ import annotations

import pytest
import torch
from nn_graphs import random_graph

from gnnkit.models import GAT, GCN
from gnnkit.models._dropout import feature_dropout
from gnnkit.nn import GATConv, GCNConv
from gnnkit.sparse import SparseMatrix


def _sparse_features(num_nodes: int, width: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    dense = torch.rand(num_nodes, width, generator=g)
    return dense * (torch.rand(num_nodes, width, generator=g) < 0.2)


@pytest.mark.parametrize("layer", ["gcn", "gat"])
def test_sparse_features_give_the_dense_result_and_gradients(layer: str) -> None:
    graph = random_graph(seed=3)
    dense = _sparse_features(graph.num_nodes, 9, 3)
    torch.manual_seed(0)
    conv = GCNConv(9, 4) if layer == "gcn" else GATConv(9, 2, heads=3, residual=True)
    values = SparseMatrix.from_dense(dense)
    sparse = values.with_values(values.values.clone().requires_grad_())
    dense_input = dense.clone().requires_grad_()
    expected = conv(dense_input, graph.edge_index)
    expected.square().sum().backward()
    dense_grads = [p.grad.clone() for p in conv.parameters()]
    conv.zero_grad()
    got = conv(sparse, graph.edge_index)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    got.square().sum().backward()
    for p, g in zip(conv.parameters(), dense_grads, strict=True):
        torch.testing.assert_close(p.grad, g, atol=1e-5, rtol=1e-5)
    # gradient of the stored feature values = the dense input gradient at those entries
    torch.testing.assert_close(sparse.values.grad, dense_input.grad[sparse.row, sparse.col],
                               atol=1e-5, rtol=1e-5)


def test_sparse_features_of_the_wrong_width_are_rejected() -> None:
    features = SparseMatrix.from_dense(torch.eye(4, 3))
    with pytest.raises(ValueError, match="3 feature columns but the layer expects 5"):
        GCNConv(5, 2)(features, torch.tensor([[0, 1], [1, 0]]))


def test_feature_dropout_touches_stored_entries_only() -> None:
    features = SparseMatrix.from_dense(torch.tensor([[0.0, 2.0], [4.0, 0.0]]))
    assert feature_dropout(features, 0.5, training=False) is features
    torch.manual_seed(0)
    dropped = feature_dropout(features, 0.5, training=True)
    assert dropped.nnz == 2 and torch.equal(dropped.col, features.col)
    assert set(dropped.values.tolist()) <= {0.0, 4.0, 8.0}  # kept entries scaled by 1/(1-p)
    dense = torch.ones(3, 3)
    assert torch.equal(feature_dropout(dense, 0.5, training=False), dense)


@pytest.mark.parametrize("model_name", ["gcn", "gat"])
def test_reference_models_match_the_same_stack_of_pyg_layers(model_name: str) -> None:
    pyg_nn = pytest.importorskip("torch_geometric.nn")
    graph = random_graph(seed=4)
    x = torch.randn(graph.num_nodes, 6)
    torch.manual_seed(0)
    if model_name == "gcn":
        ours = GCN(6, 5, 3, num_layers=3)
        layers = [pyg_nn.GCNConv(6, 5), pyg_nn.GCNConv(5, 5), pyg_nn.GCNConv(5, 3)]
        for k, layer in enumerate(layers):
            layer.load_state_dict(ours.convs[k].state_dict())

        def theirs(h: torch.Tensor) -> torch.Tensor:
            for k, layer in enumerate(layers):
                h = layer(h, graph.edge_index)
                h = torch.relu(h) if k < 2 else h
            return h
    else:
        ours = GAT(6, 4, 3, heads=2, output_heads=2)
        first = pyg_nn.GATConv(6, 4, heads=2)
        second = pyg_nn.GATConv(8, 3, heads=2, concat=False)
        first.load_state_dict(ours.conv1.state_dict())
        second.load_state_dict(ours.conv2.state_dict())

        def theirs(h: torch.Tensor) -> torch.Tensor:
            return second(torch.nn.functional.elu(first(h, graph.edge_index)), graph.edge_index)
    ours.eval()
    torch.testing.assert_close(ours(x, graph.edge_index), theirs(x), atol=1e-5, rtol=1e-5)
    assert sum(1 for _ in ours.first_layer_parameters()) >= 2
