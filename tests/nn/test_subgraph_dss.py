"""ESAN's layers (gnnkit.nn.subgraph: DSConv, DSSConv, DeepSetsReadout) against brute-force
oracles that copy every subgraph explicitly.

The oracle enumerates each graph's subgraphs from the policy's definition (node deleted: the
graph without the edges of ``u``; edge deleted: without both directions of one undirected
edge, the graph itself when it has none; ego-nets: the edges whose endpoints lie within ``k``
hops of the root, hop counts by a dense Floyd–Warshall), runs a GIN / GINE aggregation on
every copy with Python loops over its edge list, and applies the layer's MLP and a hand-written
batch norm to the concatenation of all copies (so the statistics are those of the whole bag).
"""

from __future__ import annotations

import random

import pytest
import torch
from torch import Tensor

from gnnkit.data import GraphBatch, SubgraphBatch
from gnnkit.data.subgraph_policies import edge_deleted, ego_nets, node_deleted
from gnnkit.datasets import Graph
from gnnkit.nn import GINConv, GINEConv
from gnnkit.nn.subgraph import DeepSetsReadout, DSConv, DSSConv

POLICIES = ("node_deleted", "edge_deleted", "ego_nets_1", "ego_nets_2")


# ------------------------------------------------------------------ graphs and bags
def random_undirected(rng: random.Random, n: int, m: int, edge_dim: int) -> Graph:
    pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(m)] if n else []
    pairs = pairs + [(b, a) for a, b in pairs]
    rng.shuffle(pairs)
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
    generator = torch.Generator().manual_seed(rng.randrange(10**6))
    return Graph(edge_index, num_nodes=n,
                 edge_attr=torch.randn(edge_index.shape[1], edge_dim, generator=generator))


def zoo(seed: int, edge_dim: int = 3) -> list[Graph]:
    """Random graphs (self loops, repeated edges, isolated nodes) plus a single node, a graph
    without edges and a path with a doubled edge."""
    rng = random.Random(seed)
    graphs = [random_undirected(rng, rng.randint(2, 6), rng.randint(1, 7), edge_dim)
              for _ in range(4)]
    graphs.append(Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=1,
                        edge_attr=torch.zeros(0, edge_dim)))
    graphs.append(Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=3,
                        edge_attr=torch.zeros(0, edge_dim)))
    path = torch.tensor([[0, 1, 1, 2, 0, 1], [1, 0, 2, 1, 1, 0]])
    graphs.append(Graph(path, num_nodes=4, edge_attr=torch.randn(6, edge_dim)))
    rng.shuffle(graphs)
    return graphs


def build_bag(batch: GraphBatch, policy: str) -> SubgraphBatch:
    if policy == "node_deleted":
        return node_deleted(batch)
    if policy == "edge_deleted":
        return edge_deleted(batch)
    return ego_nets(batch, int(policy.rsplit("_", 1)[1]))


def oracle_subgraphs(graph: Graph, policy: str) -> list[list[int]]:
    """Each subgraph of ``graph`` as the list of kept edge ids (positions in edge_index), in
    the policy's subgraph order; every subgraph holds every node."""
    n = graph.num_nodes
    edges = [(int(s), int(t)) for s, t in graph.edge_index.T.tolist()]
    every = list(range(len(edges)))
    if policy == "node_deleted":
        return [[e for e in every if u not in edges[e]] for u in range(n)]
    if policy == "edge_deleted":
        undirected = sorted({(min(s, t), max(s, t)) for s, t in edges})
        if not undirected:
            return [every]
        return [[e for e in every if (min(edges[e]), max(edges[e])) != pair]
                for pair in undirected]
    k = int(policy.rsplit("_", 1)[1])
    inf = float("inf")
    # dist[a][b]: length of a shortest directed path a -> ... -> b
    dist = [[0.0 if a == b else inf for b in range(n)] for a in range(n)]
    for s, t in edges:
        if s != t:
            dist[s][t] = 1.0
    for m in range(n):
        for a in range(n):
            for b in range(n):
                dist[a][b] = min(dist[a][b], dist[a][m] + dist[m][b])
    # ego-net of u: nodes whose messages reach u within k steps
    return [[e for e in every if dist[edges[e][0]][u] <= k and dist[edges[e][1]][u] <= k]
            for u in range(n)]


def aggregate(h: Tensor, graph: Graph, kept: list[int], eps: Tensor,
              edge_feat: Tensor | None) -> Tensor:
    """GIN / GINE aggregation (1 + ε) h_i + Σ_{j→i kept} m_ji on one explicit copy."""
    out = (1 + eps) * h.clone()
    for e in kept:
        j, i = (int(v) for v in graph.edge_index[:, e])
        message = h[j] if edge_feat is None else torch.relu(h[j] + edge_feat[e])
        out[i] = out[i] + message
    return out


def batch_norm(x: Tensor, norm: torch.nn.BatchNorm1d, training: bool) -> Tensor:
    if training:
        mean, var = x.mean(0), x.var(0, unbiased=False)
    else:
        mean, var = norm.running_mean, norm.running_var
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def gin_conv(width: int, out: int, edges: bool, dtype: torch.dtype) -> torch.nn.Module:
    mlp = torch.nn.Sequential(torch.nn.Linear(width, out), torch.nn.BatchNorm1d(out),
                              torch.nn.ReLU(), torch.nn.Linear(out, out))
    conv = GINEConv(mlp, train_eps=True) if edges else GINConv(mlp, train_eps=True)
    with torch.no_grad():
        conv.eps.fill_(0.3)
    return conv.to(dtype)


def randomise_norms(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial affine parameters and running statistics in every batch norm."""
    generator = torch.Generator().manual_seed(seed)
    for norm in module.modules():
        if isinstance(norm, torch.nn.BatchNorm1d):
            with torch.no_grad():
                shape = norm.weight.shape
                norm.weight.copy_(1 + 0.5 * torch.randn(shape, generator=generator))
                norm.bias.copy_(0.5 * torch.randn(shape, generator=generator))
                norm.running_mean.copy_(0.5 * torch.randn(shape, generator=generator))
                norm.running_var.copy_(0.5 + torch.rand(shape, generator=generator))


def per_graph_states(h: Tensor, graphs: list[Graph], counts: list[int]) -> list[Tensor]:
    """The pair states of each graph as ``(S_g, n_g, F)`` (pairs grouped by graph, subgraph,
    node with every node in every subgraph)."""
    out, start = [], 0
    for graph, count in zip(graphs, counts, strict=True):
        size = count * graph.num_nodes
        out.append(h[start:start + size].reshape(count, graph.num_nodes, -1))
        start += size
    assert start == h.shape[0]
    return out


def oracle_siamese(conv: torch.nn.Module, states: list[Tensor], graphs: list[Graph],
                   subgraphs: list[list[list[int]]], edges: bool) -> Tensor:
    rows = []
    for state, graph, kept_lists in zip(states, graphs, subgraphs, strict=True):
        for s, kept in enumerate(kept_lists):
            feat = graph.edge_attr.to(state.dtype) if edges else None
            rows.append(aggregate(state[s], graph, kept, conv.eps, feat))
    return conv.nn(torch.cat(rows))


# ------------------------------------------------------------------ DSConv
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("edges", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_ds_conv_matches_explicit_subgraph_copies(policy: str, edges: bool,
                                                  training: bool) -> None:
    torch.manual_seed(0)
    graphs = zoo(1)
    batch = GraphBatch.from_graphs(graphs)
    bag = build_bag(batch, policy)
    subgraphs = [oracle_subgraphs(g, policy) for g in graphs]
    counts = [len(s) for s in subgraphs]
    assert bag.subgraph_counts.tolist() == counts
    layer = DSConv(gin_conv(3, 5, edges, torch.float64), 5).double()
    randomise_norms(layer, 2)
    layer.train(training)
    h = torch.randn(bag.num_pairs, 3, dtype=torch.float64)
    out = layer(h, bag, batch.edge_attr.double() if edges else None)

    states = per_graph_states(h, graphs, counts)
    expected = oracle_siamese(layer.conv, states, graphs, subgraphs, edges)
    expected = torch.relu(batch_norm(expected, layer.norm, training))
    torch.testing.assert_close(out, expected)


def test_ds_conv_options_and_errors() -> None:
    graphs = zoo(3)
    batch = GraphBatch.from_graphs(graphs)
    bag = node_deleted(batch)
    conv = gin_conv(2, 4, False, torch.float32)
    layer = DSConv(conv, 4, batch_norm=False, activation=False).eval()
    h = torch.randn(bag.num_pairs, 2)
    # without BN and activation the layer is the conv on the block-diagonal matrix
    torch.testing.assert_close(layer(h, bag), conv(h, bag.local))
    with pytest.raises(ValueError, match="one row per"):
        layer(h[:-1], bag)
    with pytest.raises(ValueError, match=r"edge of bag\.graph\.adj"):
        layer(h, bag, torch.zeros(batch.num_edges + 1, 2))
    with pytest.raises(TypeError, match="SubgraphBatch"):
        layer(h, batch)
    with pytest.raises(ValueError, match="dropout"):
        DSConv(conv, 4, dropout=1.0)


# ------------------------------------------------------------------ DSSConv
def oracle_dss(layer: DSSConv, h: Tensor, graphs: list[Graph],
               subgraphs: list[list[list[int]]], edges: bool, training: bool,
               reduce: str) -> Tensor:
    counts = [len(s) for s in subgraphs]
    states = per_graph_states(h, graphs, counts)
    siamese = batch_norm(oracle_siamese(layer.local_conv, states, graphs, subgraphs, edges),
                         layer.local_norm, training)
    # information sharing: each node's aggregate over the bag, on the whole graph
    shared_rows = []
    for state, graph in zip(states, graphs, strict=True):
        pooled = state.mean(0) if reduce == "mean" else state.sum(0)
        feat = graph.edge_attr.to(h.dtype) if edges else None
        every = list(range(graph.edge_index.shape[1]))
        shared_rows.append(aggregate(pooled, graph, every, layer.graph_conv.eps, feat))
    shared = batch_norm(layer.graph_conv.nn(torch.cat(shared_rows)), layer.graph_norm,
                        training)
    out, start, node_start = [], 0, 0
    for graph, count in zip(graphs, counts, strict=True):
        n = graph.num_nodes
        for _ in range(count):
            out.append(siamese[start:start + n] + shared[node_start:node_start + n])
            start += n
        node_start += n
    return torch.relu(torch.cat(out))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("edges", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_dss_conv_matches_explicit_subgraph_copies(policy: str, edges: bool,
                                                   training: bool) -> None:
    torch.manual_seed(1)
    graphs = zoo(5)
    batch = GraphBatch.from_graphs(graphs)
    bag = build_bag(batch, policy)
    subgraphs = [oracle_subgraphs(g, policy) for g in graphs]
    layer = DSSConv(gin_conv(3, 4, edges, torch.float64), gin_conv(3, 4, edges, torch.float64),
                    4).double()
    with torch.no_grad():
        layer.graph_conv.eps.fill_(-0.2)
    randomise_norms(layer, 7)
    layer.train(training)
    h = torch.randn(bag.num_pairs, 3, dtype=torch.float64)
    edge_attr = batch.edge_attr.double() if edges else None
    out = layer(h, bag, edge_attr, edge_attr)
    torch.testing.assert_close(out, oracle_dss(layer, h, graphs, subgraphs, edges, training,
                                               "mean"))


def test_dss_conv_sum_over_the_bag() -> None:
    torch.manual_seed(2)
    graphs = zoo(6)
    bag = ego_nets(GraphBatch.from_graphs(graphs), 1)
    subgraphs = [oracle_subgraphs(g, "ego_nets_1") for g in graphs]
    layer = DSSConv(gin_conv(2, 3, False, torch.float64), gin_conv(2, 3, False, torch.float64),
                    3, bag_reduce="sum").double().eval()
    randomise_norms(layer, 3)
    h = torch.randn(bag.num_pairs, 2, dtype=torch.float64)
    torch.testing.assert_close(layer(h, bag),
                               oracle_dss(layer, h, graphs, subgraphs, False, False, "sum"))


def test_dss_conv_gradients_and_gradcheck() -> None:
    torch.manual_seed(3)
    graphs = zoo(7, edge_dim=2)[:4]
    batch = GraphBatch.from_graphs(graphs)
    bag = node_deleted(batch)
    layer = DSSConv(gin_conv(2, 3, True, torch.float64), gin_conv(2, 3, True, torch.float64),
                    3).double()
    h = torch.randn(bag.num_pairs, 2, dtype=torch.float64, requires_grad=True)
    local_e = torch.randn(batch.num_edges, 2, dtype=torch.float64, requires_grad=True)
    graph_e = torch.randn(batch.num_edges, 2, dtype=torch.float64, requires_grad=True)
    layer(h, bag, local_e, graph_e).pow(2).sum().backward()
    for name, parameter in layer.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    assert h.grad is not None and h.grad.abs().sum() > 0
    for mode in (True, False):  # batch statistics and running statistics
        layer.train(mode)
        assert torch.autograd.gradcheck(lambda a, b, c: layer(a, bag, b, c),
                                        (h.detach().requires_grad_(),
                                         local_e.detach().requires_grad_(),
                                         graph_e.detach().requires_grad_()))


def test_ds_conv_gradcheck() -> None:
    torch.manual_seed(4)
    graphs = zoo(8, edge_dim=2)[:4]
    batch = GraphBatch.from_graphs(graphs)
    bag = edge_deleted(batch)
    layer = DSConv(gin_conv(2, 3, True, torch.float64), 3).double()
    h = torch.randn(bag.num_pairs, 2, dtype=torch.float64, requires_grad=True)
    e = torch.randn(batch.num_edges, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: layer(a, bag, b), (h, e))


def test_dss_conv_errors() -> None:
    bag = node_deleted(GraphBatch.from_graphs(zoo(9)))
    conv = gin_conv(2, 3, False, torch.float32)
    with pytest.raises(ValueError, match="bag_reduce"):
        DSSConv(conv, conv, 3, bag_reduce="max")
    with pytest.raises(TypeError, match="graph_conv"):
        DSSConv(conv, "gin", 3)  # type: ignore[arg-type]
    layer = DSSConv(conv, gin_conv(2, 3, False, torch.float32), 3)
    with pytest.raises(ValueError, match="graph_edge_attr"):
        layer(torch.randn(bag.num_pairs, 2), bag, None, torch.zeros(1, 2))


# ------------------------------------------------------------------ DeepSetsReadout
@pytest.mark.parametrize("invariant", [True, False])
def test_deep_sets_readout_matches_a_loop_over_graphs(invariant: bool) -> None:
    torch.manual_seed(5)
    graphs = zoo(10)
    bag = edge_deleted(GraphBatch.from_graphs(graphs))
    readout = DeepSetsReadout(4, (6, 5), invariant=invariant).double()
    x = torch.randn(bag.num_subgraphs, 4, dtype=torch.float64)
    out = readout(x, bag)
    elu = torch.nn.functional.elu
    start, expected = 0, []
    for count in bag.subgraph_counts.tolist():
        rows = [x[start + s] for s in range(count)]
        start += count
        if invariant:
            for layer in readout.element:
                rows = [elu(layer(r)) for r in rows]
            g = torch.stack(rows).mean(0)
            for layer in readout.pooled:
                g = elu(layer(g))
        else:
            for element, pooled in zip(readout.element, readout.pooled, strict=True):
                mean = torch.stack(rows).mean(0)
                rows = [elu(element(r) + pooled(mean)) for r in rows]
            g = torch.stack(rows).mean(0)
        expected.append(g)
    torch.testing.assert_close(out, torch.stack(expected))
    assert torch.autograd.gradcheck(lambda a: readout(a, bag),
                                    (x[:, :].clone().requires_grad_(),))


def test_deep_sets_readout_errors() -> None:
    with pytest.raises(ValueError, match="channels"):
        DeepSetsReadout(3, ())
    bag = node_deleted(GraphBatch.from_graphs(zoo(11)))
    with pytest.raises(ValueError, match="one row per subgraph"):
        DeepSetsReadout(3, (4,))(torch.randn(bag.num_subgraphs + 1, 3), bag)
