"""Every conv layer on the rectangular per-hop matrices of the neighbour sampler.

Two oracles, both the layer's own square (full-graph) form on an independently built graph:

* fanout ``-1`` on every hop: a two-layer stack run block by block equals the full-graph
  stack at the seeds (GCN and LGConv given the full graph's degrees);
* any fanout: one layer on a block equals the layer on the square graph that holds the
  block's entries on its ``N`` source nodes (rows ``M … N-1`` empty), restricted to the
  ``M`` targets — the meaning the layers document for a block.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from nn_graphs import random_graph
from torch import Tensor

from gnnkit.data.sampling import SampledSubgraph, sample_neighbors, sampling_generator
from gnnkit.nn import GATConv, GATv2Conv, GCNConv, GINConv, GINEConv, LGConv, SAGEConv
from gnnkit.sparse import SparseMatrix
from gnnkit.sparse.structural import gcn_degree

F_IN, HIDDEN, EDGE_DIM = 5, 6, 3
TOL = {"atol": 1e-10, "rtol": 1e-9}


def _mlp(a: int, b: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(a, b), torch.nn.ReLU(), torch.nn.Linear(b, b))


#: name → (layer of width a → b, whether it reads edge weights, edge features, needs degree)
LAYERS: dict[str, Callable[[int, int], torch.nn.Module]] = {
    "gcn": lambda a, b: GCNConv(a, b),
    "gcn-improved": lambda a, b: GCNConv(a, b, improved=True),
    "sage-mean": lambda a, b: SAGEConv(a, b),
    "sage-max": lambda a, b: SAGEConv(a, b, aggr="max"),
    "gin": lambda a, b: GINConv(_mlp(a, b), eps=0.3, train_eps=True),
    "gine": lambda a, b: GINEConv(_mlp(a, b), edge_dim=EDGE_DIM),
    "gat": lambda a, b: GATConv(a, b, heads=2, concat=False),
    "gatv2": lambda a, b: GATv2Conv(a, b, heads=2, concat=False),
    "lg": lambda a, b: LGConv(),
}


def _graph(seed: int) -> tuple[SparseMatrix, Tensor, Tensor]:
    """A graph with self loops, duplicate edges and isolated nodes, positive edge weights
    and edge features, both in CSR order."""
    g = random_graph(30, 110, seed=seed, isolated=3, self_loops=5, duplicates=6)
    gen = torch.Generator().manual_seed(seed)
    weights = torch.rand(g.edge_index.shape[1], generator=gen, dtype=torch.float64) + 0.5
    A = SparseMatrix.from_edge_index(g.edge_index, weights, shape=g.num_nodes)
    edge_attr = torch.randn(A.nnz, EDGE_DIM, generator=gen, dtype=torch.float64)
    x = torch.randn(g.num_nodes, F_IN, generator=gen, dtype=torch.float64)
    return A, edge_attr, x


def _square(name: str, layer: torch.nn.Module, x: Tensor, A: SparseMatrix, edge_attr: Tensor
            ) -> Tensor:
    """The layer's full-graph (square) form."""
    if name == "gine":
        return layer(x, A, edge_attr)
    return layer(x, A)


def _block(name: str, layer: torch.nn.Module, h: Tensor, A: SparseMatrix, edge_attr: Tensor,
           degree: Tensor | None) -> Tensor:
    """The layer on an ``M × N`` block: ``h`` has the ``N`` source rows."""
    M = A.num_rows
    if name == "lg":
        return layer(h, A, degree=degree)
    if name.startswith("gcn"):
        return layer((h, h[:M]), A, degree=degree)
    if name == "gine":
        return layer((h, h[:M]), A, edge_attr)
    return layer((h, h[:M]), A)


def _degree(name: str, A: SparseMatrix) -> Tensor | None:
    if name.startswith("gcn"):
        return gcn_degree(A, fill_value=2.0 if name == "gcn-improved" else 1.0,
                          dtype=torch.float64)
    if name == "lg":
        return A.degree("row", weighted=True)
    return None


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_full_fanout_blocks_equal_the_full_graph(name: str) -> None:
    torch.manual_seed(0)
    width = F_IN if name == "lg" else HIDDEN
    first, second = (LAYERS[name](F_IN, width).double(), LAYERS[name](width, width).double())
    for seed in range(3):
        A, edge_attr, x = _graph(seed)
        seeds = torch.tensor([0, 7, 26, 29, 12])  # 27…29 are isolated
        full = _square(name, second, torch.tanh(_square(name, first, x, A, edge_attr)), A,
                       edge_attr)[seeds]
        sub: SampledSubgraph = sample_neighbors(A, seeds, [-1, -1])
        degree = _degree(name, A)
        h = x[sub.n_id]
        for layer, conv in enumerate((first, second)):
            block = sub.matrices[layer]
            block_degree = None if degree is None else degree[sub.n_id[: block.num_cols]]
            h = _block(name, conv, h, block, edge_attr[sub.edge_ids(layer)], block_degree)
            if layer == 0:
                h = torch.tanh(h)
        assert h.shape == full.shape
        torch.testing.assert_close(h, full, **TOL)


@pytest.mark.parametrize("name", sorted(set(LAYERS) - {"lg"}))
def test_sampled_block_equals_the_layer_on_the_padded_square_graph(name: str) -> None:
    torch.manual_seed(1)
    layer = LAYERS[name](F_IN, HIDDEN).double()
    for seed in range(3):
        A, edge_attr, x = _graph(seed)
        sub = sample_neighbors(A, torch.tensor([3, 9, 28, 14]), [3, 2],
                               generator=sampling_generator(seed))
        h = x[sub.n_id]
        for index, block in enumerate(sub.matrices):
            M, N = block.shape
            attr = edge_attr[sub.edge_ids(index)]
            # independent square graph: the block's COO entries on N nodes
            square = SparseMatrix.from_coo(block.row, block.col, block.values, shape=(N, N))
            expected = _square(name, layer, h[:N], square, attr)[:M]
            got = _block(name, layer, h[:N], block, attr, None)
            torch.testing.assert_close(got, expected, **TOL)


def test_block_gradients_reach_sources() -> None:
    A, _, x = _graph(4)
    sub = sample_neighbors(A, torch.tensor([1, 2]), [-1], generator=sampling_generator(0))
    conv = GCNConv(F_IN, 2).double()
    block = sub.matrices[0]
    degree = gcn_degree(A, dtype=torch.float64)[sub.n_id[: block.num_cols]]

    def run(h: Tensor) -> Tensor:
        return conv((h, h[: block.num_rows]), block, degree=degree)

    torch.autograd.gradcheck(run, (x[sub.n_id].clone().requires_grad_(),))


def test_block_errors() -> None:
    A, _, x = _graph(0)
    sub = sample_neighbors(A, torch.tensor([1, 2]), [-1])
    block = sub.matrices[0]
    h = x[sub.n_id]
    with pytest.raises(ValueError, match="degree"):
        LGConv()(h, block)  # a block needs the degrees of its sources
    with pytest.raises(ValueError, match="degree must be"):
        LGConv()(h, block, degree=torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="degree must be"):
        GCNConv(F_IN, 2).double()((h, h[:2]), block, degree=torch.ones(1))
    with pytest.raises(ValueError, match="x_target"):
        GCNConv(F_IN, 2).double()((h, None), block)
    with pytest.raises(ValueError, match="M <= N"):
        GCNConv(F_IN, 2).double()((h[:2], h), block.transpose())
    with pytest.raises(ValueError, match=r"\(x_source, x_target\)"):
        GCNConv(F_IN, 2).double()(x, A, degree=torch.ones(30))
