"""Parity with PyG: identical weights give identical outputs and gradients (to 1e-5).

Graphs are random, directed, with isolated nodes, distinct self loops and duplicate edges.
Where gnnkit differs from PyG on purpose, a test below states and checks the difference.
"""

from __future__ import annotations

import copy

import pytest
import torch
from nn_graphs import assert_parity, random_graph

from gnnkit.nn import GATConv, GATv2Conv, GCNConv, GINConv, GINEConv, LGConv, SAGEConv
from gnnkit.sparse import SparseMatrix

pyg_nn = pytest.importorskip("torch_geometric.nn")

SEEDS = (0, 1)


def _features(num_nodes: int, channels: int, seed: int) -> torch.Tensor:
    return torch.randn(num_nodes, channels, generator=torch.Generator().manual_seed(100 + seed))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("options", [{}, {"add_self_loops": False}, {"normalize": False},
                                     {"bias": False}])
def test_gcn_matches_pyg(seed: int, options: dict) -> None:
    graph = random_graph(seed=seed)
    torch.manual_seed(seed)
    theirs = pyg_nn.GCNConv(7, 5, **options)
    ours = GCNConv(7, 5, **options)
    assert_parity(ours, theirs, lambda m, x: m(x, graph.edge_index),
                  lambda m, x: m(x, graph.edge_index), _features(graph.num_nodes, 7, seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_gcn_with_edge_weights_matches_pyg_including_weight_gradients(seed: int) -> None:
    graph = random_graph(seed=seed)
    weight = torch.rand(graph.edge_index.shape[1], generator=torch.Generator().manual_seed(seed))
    w_ours, w_theirs = weight.clone().requires_grad_(), weight.clone().requires_grad_()
    torch.manual_seed(seed)
    theirs, ours = pyg_nn.GCNConv(6, 4), GCNConv(6, 4)
    assert_parity(ours, theirs, lambda m, x: m(x, graph.edge_index, w_ours),
                  lambda m, x: m(x, graph.edge_index, w_theirs),
                  _features(graph.num_nodes, 6, seed))
    torch.testing.assert_close(w_ours.grad, w_theirs.grad, atol=1e-5, rtol=1e-5)


def test_gcn_improved_matches_pyg_given_explicit_weights() -> None:
    """``improved=True`` (self-loop weight 2). PyG 2.8.1 ignores ``improved`` when no edge
    weights are passed (its ``gcn_norm`` creates the all-ones weights *after* adding the
    loops, so they get weight 1); gnnkit always applies it. With explicit unit weights the two
    agree; without, PyG's output equals its own ``improved=False`` output."""
    graph = random_graph(seed=3)
    ones = torch.ones(graph.edge_index.shape[1])
    x = _features(graph.num_nodes, 6, 3)
    torch.manual_seed(0)
    theirs, ours = pyg_nn.GCNConv(6, 4, improved=True), GCNConv(6, 4, improved=True)
    assert_parity(ours, theirs, lambda m, x: m(x, graph.edge_index),
                  lambda m, x: m(x, graph.edge_index, ones), x)
    plain = pyg_nn.GCNConv(6, 4)
    plain.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(theirs(x, graph.edge_index), plain(x, graph.edge_index))


def test_gcn_differs_from_pyg_only_for_repeated_self_loops() -> None:
    """PyG keeps one loop of a node with several stored loops; gnnkit keeps all (weights add,
    like gnnkit.sparse.gcn_norm). Nodes away from the repeated loop agree."""
    edge_index = torch.tensor([[0, 1, 2, 2, 2], [1, 2, 0, 2, 2]])  # node 2 has two loops
    x = _features(4, 3, 0)
    torch.manual_seed(0)
    theirs, ours = pyg_nn.GCNConv(3, 3), GCNConv(3, 3)
    ours.load_state_dict(theirs.state_dict())
    out_ours, out_theirs = ours(x, edge_index), theirs(x, edge_index)
    assert not torch.allclose(out_ours[2], out_theirs[2])
    torch.testing.assert_close(out_ours[3], out_theirs[3])  # isolated node: bias + self term


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("aggr", ["mean", "max", "sum"])
@pytest.mark.parametrize("options", [{}, {"normalize": True, "project": True},
                                     {"root_weight": False}])
def test_sage_matches_pyg(seed: int, aggr: str, options: dict) -> None:
    graph = random_graph(seed=seed)
    torch.manual_seed(seed)
    theirs = pyg_nn.SAGEConv(8, 5, aggr=aggr, **options)
    ours = SAGEConv(8, 5, aggr=aggr, **options)
    assert_parity(ours, theirs, lambda m, x: m(x, graph.edge_index),
                  lambda m, x: m(x, graph.edge_index), _features(graph.num_nodes, 8, seed))


def test_sage_bipartite_matches_pyg() -> None:
    g = torch.Generator().manual_seed(3)
    edge_index = torch.stack([torch.randint(0, 9, (30,), generator=g),
                              torch.randint(0, 5, (30,), generator=g)])
    x_source = torch.randn(9, 4, generator=g)
    x_target = torch.randn(6, 3, generator=g)  # target 5 has no edge
    torch.manual_seed(0)
    theirs, ours = pyg_nn.SAGEConv((4, 3), 2), SAGEConv((4, 3), 2)
    ours.load_state_dict(theirs.state_dict(), strict=False)
    expected = theirs((x_source, x_target), edge_index)
    got = ours((x_source, x_target), edge_index)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def _mlp(width_in: int, width_out: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(width_in, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, width_out))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("train_eps", [False, True])
def test_gin_matches_pyg(seed: int, train_eps: bool) -> None:
    graph = random_graph(seed=seed)
    torch.manual_seed(seed)
    mlp = _mlp(6, 4)
    theirs = pyg_nn.GINConv(copy.deepcopy(mlp), eps=0.3, train_eps=train_eps)
    ours = GINConv(copy.deepcopy(mlp), eps=0.3, train_eps=train_eps)
    assert_parity(ours, theirs, lambda m, x: m(x, graph.edge_index),
                  lambda m, x: m(x, graph.edge_index), _features(graph.num_nodes, 6, seed))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("edge_dim", [None, 3])
def test_gine_matches_pyg_including_edge_feature_gradients(seed: int, edge_dim: int | None
                                                           ) -> None:
    graph = random_graph(seed=seed)
    width = 6 if edge_dim is None else edge_dim
    edge_attr = torch.randn(graph.edge_index.shape[1], width,
                            generator=torch.Generator().manual_seed(seed))
    e_ours, e_theirs = edge_attr.clone().requires_grad_(), edge_attr.clone().requires_grad_()
    torch.manual_seed(seed)
    mlp = _mlp(6, 4)
    theirs = pyg_nn.GINEConv(copy.deepcopy(mlp), eps=0.1, train_eps=True, edge_dim=edge_dim)
    ours = GINEConv(copy.deepcopy(mlp), eps=0.1, train_eps=True, edge_dim=edge_dim)
    assert_parity(ours, theirs, lambda m, x: m(x, graph.edge_index, e_ours),
                  lambda m, x: m(x, graph.edge_index, e_theirs),
                  _features(graph.num_nodes, 6, seed))
    torch.testing.assert_close(e_ours.grad, e_theirs.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("options", [{"heads": 3}, {"heads": 2, "concat": False},
                                     {"heads": 1, "add_self_loops": False},
                                     {"heads": 2, "residual": True, "negative_slope": 0.1}])
def test_gat_matches_pyg(seed: int, options: dict) -> None:
    graph = random_graph(seed=seed)
    torch.manual_seed(seed)
    theirs = pyg_nn.GATConv(7, 4, **options)
    ours = GATConv(7, 4, **options)
    assert_parity(ours, theirs, lambda m, x: m(x, graph.edge_index),
                  lambda m, x: m(x, graph.edge_index), _features(graph.num_nodes, 7, seed))


def test_gat_attention_weights_match_pyg() -> None:
    graph = random_graph(seed=4)
    x = _features(graph.num_nodes, 5, 4)
    torch.manual_seed(0)
    theirs, ours = pyg_nn.GATConv(5, 3, heads=2), GATConv(5, 3, heads=2)
    ours.load_state_dict(theirs.state_dict())
    _, (edge_index, alpha) = theirs(x, graph.edge_index, return_attention_weights=True)
    _, attention = ours(x, graph.edge_index, return_attention=True)
    expected = SparseMatrix.from_edge_index(edge_index, alpha, shape=graph.num_nodes)
    assert torch.equal(attention.rowptr, expected.rowptr)
    assert torch.equal(attention.col, expected.col)
    torch.testing.assert_close(attention.values, expected.values)


@pytest.mark.parametrize("layer", ["gat", "gatv2"])
@pytest.mark.parametrize("add_self_loops", [True, False])
def test_pyg_spelling_return_attention_weights_matches_pyg(layer: str, add_self_loops: bool
                                                           ) -> None:
    """``return_attention_weights=True`` (PyG's spelling) gives ``(out, (edge_index, alpha))``
    with PyG's shapes and the same (edge, α) pairs; gnnkit lists edges in CSR order (by
    target), PyG lists the input edges first and the added loops last."""
    graph = random_graph(seed=6)
    x = _features(graph.num_nodes, 5, 6)
    torch.manual_seed(0)
    if layer == "gat":
        theirs = pyg_nn.GATConv(5, 3, heads=2, add_self_loops=add_self_loops)
        ours = GATConv(5, 3, heads=2, add_self_loops=add_self_loops)
    else:
        theirs = pyg_nn.GATv2Conv(5, 3, heads=2, add_self_loops=add_self_loops)
        ours = GATv2Conv(5, 3, heads=2, add_self_loops=add_self_loops)
    ours.load_state_dict(theirs.state_dict())
    out_theirs, (edge_index_theirs, alpha_theirs) = theirs(x, graph.edge_index,
                                                           return_attention_weights=True)
    out_ours, (edge_index_ours, alpha_ours) = ours(x, graph.edge_index,
                                                   return_attention_weights=True)
    torch.testing.assert_close(out_ours, out_theirs, atol=1e-5, rtol=1e-5)
    assert edge_index_ours.shape == edge_index_theirs.shape
    assert alpha_ours.shape == alpha_theirs.shape
    assert edge_index_ours.dtype == edge_index_theirs.dtype
    # Same multiset of (target, source, α): order both by (target, source), stably.
    mine = SparseMatrix.from_edge_index(edge_index_ours, alpha_ours, shape=graph.num_nodes)
    expected = SparseMatrix.from_edge_index(edge_index_theirs, alpha_theirs,
                                            shape=graph.num_nodes)
    assert torch.equal(mine.rowptr, expected.rowptr)
    assert torch.equal(mine.col, expected.col)
    torch.testing.assert_close(mine.values, expected.values, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("options", [{"heads": 3}, {"heads": 2, "concat": False},
                                     {"heads": 2, "share_weights": True},
                                     {"heads": 1, "add_self_loops": False, "bias": False}])
def test_gatv2_matches_pyg(seed: int, options: dict) -> None:
    graph = random_graph(seed=seed)
    torch.manual_seed(seed)
    theirs = pyg_nn.GATv2Conv(7, 4, **options)
    ours = GATv2Conv(7, 4, **options)
    assert_parity(ours, theirs, lambda m, x: m(x, graph.edge_index),
                  lambda m, x: m(x, graph.edge_index), _features(graph.num_nodes, 7, seed))


@pytest.mark.parametrize("layer", ["gat", "gatv2"])
def test_gat_bipartite_matches_pyg(layer: str) -> None:
    g = torch.Generator().manual_seed(5)
    edge_index = torch.stack([torch.randint(0, 8, (25,), generator=g),
                              torch.randint(0, 6, (25,), generator=g)])
    x_source, x_target = torch.randn(8, 4, generator=g), torch.randn(6, 3, generator=g)
    torch.manual_seed(0)
    if layer == "gat":
        theirs, ours = pyg_nn.GATConv((4, 3), 2, heads=2), GATConv((4, 3), 2, heads=2)
    else:
        theirs, ours = pyg_nn.GATv2Conv((4, 3), 2, heads=2), GATv2Conv((4, 3), 2, heads=2)
    ours.load_state_dict(theirs.state_dict(), strict=False)
    torch.testing.assert_close(ours((x_source, x_target), edge_index),
                               theirs((x_source, x_target), edge_index), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_lgconv_matches_pyg(seed: int, weighted: bool) -> None:
    graph = random_graph(seed=seed)
    weight = (torch.rand(graph.edge_index.shape[1], generator=torch.Generator().manual_seed(seed))
              if weighted else None)
    assert_parity(LGConv(), pyg_nn.LGConv(), lambda m, x: m(x, graph.edge_index, weight),
                  lambda m, x: m(x, graph.edge_index, weight),
                  _features(graph.num_nodes, 5, seed))


def test_dropout_is_applied_to_attention_only_in_training() -> None:
    graph = random_graph(seed=2)
    x = _features(graph.num_nodes, 4, 2)
    layer = GATConv(4, 4, heads=2, dropout=0.5)
    layer.eval()
    torch.testing.assert_close(layer(x, graph.edge_index), layer(x, graph.edge_index))
    layer.train()
    torch.manual_seed(0)
    first = layer(x, graph.edge_index)
    torch.manual_seed(1)
    assert not torch.allclose(first, layer(x, graph.edge_index))
