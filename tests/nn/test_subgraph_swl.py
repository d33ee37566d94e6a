"""SWL aggregation blocks and layers (gnnkit.nn.subgraph.swl_*) against dense oracles.

Every graph's pair state is a dense ``(n, n, F)`` tensor ``H[u, v]`` (subgraph ``u``, node
``v``); each aggregation is recomputed here with loops over the graph's edge list in PyG's
``(source, target)`` convention, its edge features taken from the input graph (not from the
batch), and compared with the block, values and gradients, in float64. Graphs include
directed edges, a duplicated edge, self loops, isolated nodes, a single node, an edgeless
graph and a two-component graph.
"""

from __future__ import annotations

import random

import pytest
import torch
from torch.nn import functional as F

from gnnkit.data import GraphBatch, SubgraphBatch
from gnnkit.datasets import Graph
from gnnkit.nn.encoders import LinearEncoder
from gnnkit.nn.subgraph import (
    SWL_AGGREGATIONS,
    SWLDiagonalBlock,
    SWLGlobalBlock,
    SWLLayer,
    SWLLocalBlock,
    SWLRootBlock,
)

WIDTH = 3
EDGE_DIM = 2


def graph_zoo(seed: int) -> list[Graph]:
    rng = random.Random(seed)
    graphs = []
    for _ in range(3):
        n = rng.randint(2, 5)
        pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(1, 7))]
        if rng.random() < 0.5:
            pairs += [(b, a) for a, b in pairs]
        edge_index = torch.tensor(pairs, dtype=torch.long).T
        graphs.append(Graph(edge_index, num_nodes=n,
                            edge_attr=torch.randn(len(pairs), EDGE_DIM, dtype=torch.float64)))
    graphs.append(Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=1,
                        edge_attr=torch.zeros(0, EDGE_DIM, dtype=torch.float64)))
    graphs.append(Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=2,
                        edge_attr=torch.zeros(0, EDGE_DIM, dtype=torch.float64)))
    two = torch.tensor([[0, 1, 0, 2, 3], [1, 0, 1, 3, 2]])  # 0 → 1 twice, and 2 ↔ 3
    graphs.append(Graph(two, num_nodes=5,
                        edge_attr=torch.randn(5, EDGE_DIM, dtype=torch.float64)))
    rng.shuffle(graphs)
    return graphs


def split_pairs(h: torch.Tensor, graphs: list[Graph]) -> list[torch.Tensor]:
    """``(P, F)`` in the all-pairs layout → one ``(n, n, F)`` per graph."""
    out, start = [], 0
    for graph in graphs:
        n = graph.num_nodes
        out.append(h[start:start + n * n].view(n, n, -1))
        start += n * n
    return out


def join_pairs(dense: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([d.reshape(-1, d.shape[-1]) for d in dense])


def oracle(name: str, H: torch.Tensor, graph: Graph,
           edge_embedding: torch.Tensor | None) -> torch.Tensor:
    """The aggregation ``name`` of one graph's dense state ``H`` (n, n, F), by loops."""
    n = graph.num_nodes
    out = torch.zeros_like(H)
    if name in ("uL", "vL"):
        for e, (source, target) in enumerate(graph.edge_index.T.tolist()):
            emb = 0.0 if edge_embedding is None else edge_embedding[e]
            for other in range(n):
                if name == "uL":  # subgraph `other`, node `target` hears node `source`
                    out[other, target] = out[other, target] + F.relu(H[other, source] + emb)
                else:  # root `target` hears root `source`, at node `other`
                    out[target, other] = out[target, other] + F.relu(H[source, other] + emb)
        return out
    for u in range(n):
        for v in range(n):
            if name == "vv":
                out[u, v] = H[v, v]
            elif name == "uu":
                out[u, v] = H[u, u]
            elif name == "uG":
                out[u, v] = H[u].sum(0)
            elif name == "vG":
                out[u, v] = H[:, v].sum(0)
    return out


def make_block(name: str, edges: bool) -> torch.nn.Module:
    if name == "uL":
        block = SWLLocalBlock(WIDTH, 4, edge_encoder=LinearEncoder(EDGE_DIM, WIDTH)
                              if edges else None)
    elif name == "vL":
        block = SWLRootBlock(WIDTH, 4, edge_encoder=LinearEncoder(EDGE_DIM, WIDTH)
                             if edges else None)
    elif name in ("vv", "uu"):
        block = SWLDiagonalBlock(WIDTH, 4, name)
    else:
        block = SWLGlobalBlock(WIDTH, 4, name)
    with torch.no_grad():
        block.eps.fill_(0.3)  # a non-trivial root weight
    return block.double()


def bag_of(graphs: list[Graph]) -> SubgraphBatch:
    return SubgraphBatch.all_pairs(GraphBatch.from_graphs(graphs), max_distance=3)


CASES = [(name, edges) for name in SWL_AGGREGATIONS for edges in (False, True)
         if edges is False or name in ("uL", "vL")]


@pytest.mark.parametrize(("name", "edges"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_block_matches_dense_oracle(name: str, edges: bool, seed: int) -> None:
    torch.manual_seed(seed)
    graphs = graph_zoo(seed)
    bag = bag_of(graphs)
    block = make_block(name, edges)
    h = torch.randn(bag.num_pairs, WIDTH, dtype=torch.float64, requires_grad=True)
    h_ref = h.detach().clone().requires_grad_(True)
    out = block(bag, h)
    dense = []
    for graph, H in zip(graphs, split_pairs(h_ref, graphs), strict=True):
        emb = None
        if edges:
            emb = block.edge_encoder(graph.edge_attr)
        dense.append((1.0 + block.eps) * H + oracle(name, H, graph, emb))
    expected = block.mlp(join_pairs(dense))
    torch.testing.assert_close(out, expected)
    weight = torch.randn_like(out)
    grads = torch.autograd.grad((out * weight).sum(), [h, *block.parameters()])
    grads_ref = torch.autograd.grad((expected * weight).sum(), [h_ref, *block.parameters()])
    for got, want in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(got, want)
    assert grads[0].abs().sum() > 0


def test_readout_block_has_no_root_term() -> None:
    graphs = graph_zoo(3)
    bag = bag_of(graphs)
    block = SWLGlobalBlock(WIDTH, 2, "uG", root_term=False).double()
    assert block.eps is None
    h = torch.randn(bag.num_pairs, WIDTH, dtype=torch.float64)
    expected = block.mlp(join_pairs([oracle("uG", H, g, None)
                                     for g, H in zip(graphs, split_pairs(h, graphs),
                                                     strict=True)]))
    torch.testing.assert_close(block(bag, h), expected)


def test_layer_sums_blocks_then_norm_and_relu() -> None:
    torch.manual_seed(4)
    graphs = graph_zoo(4)
    bag = bag_of(graphs)
    layer = SWLLayer(WIDTH, 4, ("uL", "vL", "vv"),
                     edge_encoder=lambda: LinearEncoder(EDGE_DIM, WIDTH)).double()
    assert list(layer.blocks) == ["uL", "vL", "vv"]
    assert layer.blocks["uL"].edge_encoder is not layer.blocks["vL"].edge_encoder
    h = torch.randn(bag.num_pairs, WIDTH, dtype=torch.float64)
    out = layer(bag, h)
    total = sum(block(bag, h) for block in layer.blocks.values())
    torch.testing.assert_close(out, F.relu(layer.norm(total)))
    assert (out >= 0).all()


def test_layer_gradcheck_float64() -> None:
    torch.manual_seed(5)
    graphs = [Graph(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3,
                    edge_attr=torch.randn(4, EDGE_DIM, dtype=torch.float64)),
              Graph(torch.tensor([[0, 1], [1, 0]]), num_nodes=2,
                    edge_attr=torch.randn(2, EDGE_DIM, dtype=torch.float64))]
    bag = bag_of(graphs)
    layer = SWLLayer(2, 2, ("uL", "vL", "vv", "uG", "vG", "uu"),
                     edge_encoder=lambda: LinearEncoder(EDGE_DIM, 2)).double()
    layer.eval()  # batch norm with fixed statistics: a smooth function of h
    h = torch.randn(bag.num_pairs, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(bag, x), (h,))


def test_errors_name_the_problem() -> None:
    bag = bag_of(graph_zoo(6))
    block = SWLLocalBlock(WIDTH, 2)
    with pytest.raises(ValueError, match="num_pairs"):
        block(bag, torch.randn(bag.num_pairs + 1, WIDTH))
    with pytest.raises(TypeError, match="SubgraphBatch"):
        block(bag.graph, torch.randn(bag.num_pairs, WIDTH))
    with pytest.raises(ValueError, match="aggregations"):
        SWLLayer(2, 2, ("uL", "uL"))
    with pytest.raises(ValueError, match="aggregations"):
        SWLLayer(2, 2, ("xy",))
    with pytest.raises(ValueError, match="'vv' or 'uu'"):
        SWLDiagonalBlock(2, 2, "uG")
    no_attr = bag_of([Graph(torch.tensor([[0], [1]]), num_nodes=2)])
    encoded = SWLLocalBlock(2, 2, edge_encoder=LinearEncoder(1, 2))
    with pytest.raises(ValueError, match="edge_attr is None"):
        encoded(no_attr, torch.randn(no_attr.num_pairs, 2))
