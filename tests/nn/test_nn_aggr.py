"""Aggregations and the MessagePassing base against naive per-node oracles and PyG."""

from __future__ import annotations

import pytest
import torch
from nn_graphs import random_graph

from gnnkit.nn import (
    LCMAggregation,
    MessagePassing,
    SoftmaxAggregation,
    as_sparse_matrix,
    resolve_aggregation,
)
from gnnkit.sparse import SparseMatrix


def _neighbourhoods(edge_index: torch.Tensor, num_nodes: int) -> list[list[int]]:
    """Per target, the list of edge ids in the gnnkit CSR order (sources ascending, stable)."""
    lists: list[list[tuple[int, int]]] = [[] for _ in range(num_nodes)]
    for e in range(edge_index.shape[1]):
        lists[int(edge_index[1, e])].append((int(edge_index[0, e]), e))
    return [[e for _, e in sorted(entries, key=lambda item: item[0])] for entries in lists]


def _naive(reduce: str, messages: list[torch.Tensor], width: int) -> torch.Tensor:
    if not messages:
        return torch.zeros(width)
    stacked = torch.stack(messages)
    if reduce == "sum":
        return stacked.sum(0)
    if reduce == "mean":
        return stacked.mean(0)
    return stacked.amax(0) if reduce == "max" else stacked.amin(0)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("weighted", [False, True])
def test_basic_aggregations_match_a_naive_loop(reduce: str, weighted: bool) -> None:
    graph = random_graph(seed=5)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(graph.num_nodes, 4, generator=g)
    weight = torch.rand(graph.edge_index.shape[1], generator=g) if weighted else None
    A = as_sparse_matrix(graph.edge_index, num_nodes=graph.num_nodes, edge_weight=weight).matrix
    aggregation = resolve_aggregation(reduce)
    expected = torch.stack([
        _naive(reduce, [x[int(graph.edge_index[0, e])] * (1.0 if weight is None else weight[e])
                        for e in edges], 4)
        for edges in _neighbourhoods(graph.edge_index, graph.num_nodes)
    ])
    torch.testing.assert_close(aggregation(A, x), expected)  # fused spmm path
    messages = x.index_select(0, A.col)
    if weight is not None:
        messages = messages * A.values.unsqueeze(-1)
    torch.testing.assert_close(aggregation.reduce(A, messages), expected)  # per-edge path


@pytest.mark.parametrize("learn", [False, True])
def test_softmax_aggregation_matches_pyg(learn: bool) -> None:
    from torch_geometric.nn.aggr import SoftmaxAggregation as PygSoftmax

    graph = random_graph(seed=6)
    x = torch.randn(graph.num_nodes, 3, generator=torch.Generator().manual_seed(6))
    A = SparseMatrix.from_edge_index(graph.edge_index, shape=graph.num_nodes)
    ours = SoftmaxAggregation(t=0.7, learn=learn, channels=3 if learn else 1)
    theirs = PygSoftmax(t=0.7, learn=learn, channels=3 if learn else 1)
    messages = x.index_select(0, A.col)
    expected = theirs(messages, A.row.long(), dim_size=graph.num_nodes)
    torch.testing.assert_close(ours(A, x), expected)


def test_lcm_matches_pyg_when_every_degree_is_the_same_power_of_two() -> None:
    """On a 4-regular in-degree graph PyG pads nothing, so both trees coincide."""
    from torch_geometric.nn.aggr import LCMAggregation as PygLCM

    n, degree = 10, 4
    g = torch.Generator().manual_seed(8)
    target = torch.arange(n).repeat_interleave(degree)
    source = torch.randint(0, n, (n * degree,), generator=g)
    edge_index = torch.stack([source, target])
    x = torch.randn(n, 5, generator=g)
    torch.manual_seed(0)
    theirs = PygLCM(5, 6)
    ours = LCMAggregation(5, 6)
    ours.load_state_dict(theirs.state_dict())
    A = SparseMatrix.from_edge_index(edge_index, shape=n)
    messages = x.index_select(0, A.col)
    expected = theirs(messages, A.row.long(), dim_size=n)
    torch.testing.assert_close(ours.reduce(A, messages), expected, atol=1e-5, rtol=1e-5)


def _tree(combine, elements: list[torch.Tensor]) -> torch.Tensor:  # type: ignore[no-untyped-def]
    while len(elements) > 1:
        paired = [combine(elements[k].unsqueeze(0), elements[k + 1].unsqueeze(0))[0]
                  for k in range(0, len(elements) - 1, 2)]
        if len(elements) % 2:
            paired.append(elements[-1])
        elements = paired
    return elements[0]


def test_lcm_reduces_each_neighbourhood_as_its_own_balanced_tree() -> None:
    graph = random_graph(seed=9, duplicates=10)
    x = torch.randn(graph.num_nodes, 4, generator=torch.Generator().manual_seed(9))
    torch.manual_seed(0)
    lcm = LCMAggregation(4, 4, project=False)
    A = SparseMatrix.from_edge_index(graph.edge_index, shape=graph.num_nodes)
    got = lcm(A, x)
    assert int(A.degree().max()) >= 5  # several tree levels and odd counts are exercised
    for node, edges in enumerate(_neighbourhoods(graph.edge_index, graph.num_nodes)):
        if not edges:
            assert torch.equal(got[node], torch.zeros(4))
            continue
        leaves = [x[int(graph.edge_index[0, e])] for e in edges]
        torch.testing.assert_close(got[node], _tree(lcm.combine, leaves), atol=1e-6, rtol=1e-6)


def test_lcm_operator_is_commutative_and_penalty_measures_associativity() -> None:
    torch.manual_seed(0)
    lcm = LCMAggregation(3, 3, project=False)
    a, b, c = torch.randn(3, 7, 3).unbind(0)
    torch.testing.assert_close(lcm.combine(a, b), lcm.combine(b, a))
    penalty = lcm.associativity_penalty(a, b, c)
    assert penalty.item() > 0
    penalty.backward()
    assert lcm.gru_cell.weight_hh.grad is not None


def test_lcm_validates_channels() -> None:
    with pytest.raises(ValueError, match="project=True"):
        LCMAggregation(3, 4, project=False)


def test_unknown_aggregation_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="aggr must be one of"):
        resolve_aggregation("median")


class _EdgeMLP(MessagePassing):
    """A nonlinear message ``tanh(x_i - x_j)`` exercises the gathered (non-fused) path."""

    message_uses_target = True

    def message(self, x_j, x_i, edge_attr, edge_weight):  # type: ignore[no-untyped-def]
        return torch.tanh(x_i - x_j)


@pytest.mark.parametrize("aggr", ["sum", "max"])
def test_message_passing_gathers_nonlinear_messages(aggr: str) -> None:
    graph = random_graph(seed=10)
    x = torch.randn(graph.num_nodes, 3, generator=torch.Generator().manual_seed(10))
    A = SparseMatrix.from_edge_index(graph.edge_index, shape=graph.num_nodes)
    got = _EdgeMLP(aggr).propagate(A, x, x)
    expected = torch.stack([
        _naive(aggr, [torch.tanh(x[node] - x[int(graph.edge_index[0, e])]) for e in edges], 3)
        for node, edges in enumerate(_neighbourhoods(graph.edge_index, graph.num_nodes))
    ])
    torch.testing.assert_close(got, expected)


def test_message_passing_default_message_is_the_fused_weighted_sum() -> None:
    graph = random_graph(seed=12)
    x = torch.randn(graph.num_nodes, 3)
    weight = torch.rand(graph.edge_index.shape[1])
    A = as_sparse_matrix(graph.edge_index, num_nodes=graph.num_nodes, edge_weight=weight).matrix
    dense = torch.zeros(graph.num_nodes, graph.num_nodes).index_put(
        (graph.edge_index[1], graph.edge_index[0]), weight, accumulate=True)
    torch.testing.assert_close(MessagePassing("sum").propagate(A, x), dense @ x)
