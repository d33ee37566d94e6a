"""Layers under torch.compile(fullgraph=True): zero graph breaks, eager-equal results.

As documented, the SparseMatrix is built (and ``A.csc()`` called) outside the compiled region;
GAT/GATv2 get a matrix already carrying their self loops and ``add_self_loops=False``.
"""

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
    SoftmaxAggregation,
    with_self_loops,
)
from gnnkit.sparse import SparseMatrix


class _TwoLayers(torch.nn.Module):
    """A layer, a ReLU and the same kind of layer again (as in a model)."""

    def __init__(self, first: torch.nn.Module, second: torch.nn.Module,
                 edge_attr: torch.Tensor | None = None) -> None:
        super().__init__()
        self.first, self.second = first, second
        self.edge_attr = edge_attr

    def forward(self, x: torch.Tensor, A: SparseMatrix) -> torch.Tensor:
        if self.edge_attr is None:
            return self.second(torch.relu(self.first(x, A)), A)
        return self.second(torch.relu(self.first(x, A, self.edge_attr)), A, self.edge_attr)


def _models() -> dict[str, tuple[_TwoLayers, bool]]:
    edge_attr = torch.randn(_matrix(False).nnz, 6)
    return {  # name -> (model, needs GAT self loops)
        "gcn": (_TwoLayers(GCNConv(6, 6), GCNConv(6, 3)), False),
        "gcn-cached": (_TwoLayers(GCNConv(6, 6, cached=True), GCNConv(6, 3, cached=True)),
                       False),
        "sage-mean": (_TwoLayers(SAGEConv(6, 6), SAGEConv(6, 3)), False),
        "sage-max": (_TwoLayers(SAGEConv(6, 6, aggr="max"), SAGEConv(6, 3, aggr="max")), False),
        "sage-softmax": (_TwoLayers(SAGEConv(6, 6, aggr=SoftmaxAggregation(learn=True)),
                                    SAGEConv(6, 3)), False),
        "gin": (_TwoLayers(GINConv(torch.nn.Linear(6, 6), train_eps=True),
                           GINConv(torch.nn.Linear(6, 3))), False),
        "gine": (_TwoLayers(GINEConv(torch.nn.Linear(6, 6)), GINEConv(torch.nn.Linear(6, 3)),
                            edge_attr), False),
        "gat": (_TwoLayers(GATConv(6, 3, heads=2, add_self_loops=False, dropout=0.5),
                           GATConv(6, 3, heads=2, concat=False, add_self_loops=False)), True),
        "gatv2": (_TwoLayers(GATv2Conv(6, 3, heads=2, add_self_loops=False),
                             GATv2Conv(6, 3, add_self_loops=False)), True),
        "lg": (_TwoLayers(LGConv(), LGConv()), False),
    }


def _matrix(gat: bool) -> SparseMatrix:
    graph = random_graph(seed=11)
    A = SparseMatrix.from_edge_index(graph.edge_index, shape=graph.num_nodes)
    if gat:
        A = with_self_loops(A)
    A.csc()  # caches filled outside the compiled region, as a training loop would
    return A


NAMES = sorted(_models())


@pytest.mark.parametrize("name", NAMES)
def test_explain_reports_zero_graph_breaks(name: str) -> None:
    model, gat = _models()[name]
    A = _matrix(gat)
    x = torch.randn(A.num_rows, 6)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(model)(x, A)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize("name", ["gcn", "gat", "gine", "sage-max"])
def test_compiled_forward_and_backward_match_eager(name: str) -> None:
    torch.manual_seed(0)
    model, gat = _models()[name]
    model.eval()
    A = _matrix(gat)
    x = torch.randn(A.num_rows, 6)
    x_eager, x_compiled = x.clone().requires_grad_(), x.clone().requires_grad_()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    expected = model(x_eager, A)
    got = compiled(x_compiled, A)
    torch.testing.assert_close(got, expected)
    expected.square().sum().backward()
    got.square().sum().backward()
    torch.testing.assert_close(x_compiled.grad, x_eager.grad)
